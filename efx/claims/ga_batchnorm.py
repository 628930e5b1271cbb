"""Claims and rubric for ``ga-batchnorm``: why train-mode BatchNorm breaks gradient accumulation.

The mechanism is not that "the section means differ": with equal sizes the mean of the
section means is the batch mean. In training mode BatchNorm couples the samples of a
normalisation group, and under accumulation each section is its own group, so the
accumulated loss is a different function of the parameters.
"""

from __future__ import annotations

from efx.claims.model import CheckKind, Claim, KeyPoint, Mistake, Rubric
from efx.proofs import ga_batchnorm as statistics
from efx.proofs import ga_batchnorm_backward as backward
from efx.proofs import ga_batchnorm_forward as forward
from efx.proofs import ga_batchnorm_running as running

SIGN_FLIP_EPS = 1e-5
"""The eps at which the rounded numbers of ``bn.sign-flip`` are computed (torch's default)."""
SIGN_FLIP_FULL_OUTPUTS = (-0.849, -0.566, -0.283, 1.697)
SIGN_FLIP_SECTION_OUTPUTS = (-1.0, 1.0, -1.0, 1.0)
SIGN_FLIP_GRADIENTS = (-0.212, 0.625, 1.75)
"""dL/dw rounded to 3 decimals: full batch, accumulation, and either run without BatchNorm."""
SECTION_MEANS = ("3/2", "13/2")
"""For x = (1, 2 | 3, 10): the mean of the first two values, and section 2's mean."""


def _numbers(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:g}" for v in values)


_SETTING = (
    r"One channel of a batch contains $n$ values (samples times spatial positions, so $N \times H \times W$ for "
    r"images), split into $m$ consecutive sections; section $j$ contains $q_j \ge 1$ of them, $n = \sum_j q_j$. "
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="bn.section-mean",
        question="ga-batchnorm",
        title="The batch mean is the weighted mean of the section means",
        statement=(
            _SETTING + r"With $\mu$ the batch mean and $\mu_j$ section $j$'s mean, "
            r"$\mu = \sum_{j=1}^{m} \frac{q_j}{n}\mu_j$. With equal sizes $q_j = q$ ($n = mq$) this is "
            r"$\mu = \frac{1}{m}\sum_{j=1}^{m}\mu_j$: the mean of the section means *is* the batch mean. With unequal "
            r"sizes the plain mean $\frac{1}{m}\sum_j \mu_j$ can differ from $\mu$: for $x = (0 \mid 2, 4)$ it is "
            r"$\frac{3}{2}$ while $\mu = 2$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in real arithmetic. In floats the weighted mean and the batch mean are two summation orders "
            "of the same values, equal within efx.tolerance's summation bound."
        ),
        derivations=(statistics.section_mean_identity, statistics.unequal_sizes_example),
    ),
    Claim(
        id="bn.section-variance",
        question="ga-batchnorm",
        title="Law of total variance: the mean section variance never exceeds the batch variance",
        statement=(
            _SETTING
            + r"With biased variances $\sigma^2 = \frac{1}{n}\sum (x - \mu)^2$ over the batch and "
            r"$\sigma^2_j = \frac{1}{q_j}\sum_{x \in S_j}(x - \mu_j)^2$ over section $S_j$: "
            r"$\sigma^2 = \sum_j \frac{q_j}{n}\sigma^2_j + \sum_j \frac{q_j}{n}(\mu_j - \mu)^2$, for every $m$ and all "
            r"sizes; with equal sizes $\sigma^2 = \frac{1}{m}\sum_j \sigma^2_j + \frac{1}{m}\sum_j (\mu_j - \mu)^2$. "
            r"Hence $\sum_j \frac{q_j}{n}\sigma^2_j \le \sigma^2$, with equality exactly when every $\mu_j = \mu$. "
            r"A single section's variance can be smaller or larger than the batch's: for $x = (0, 0 \mid -1, 1)$, "
            r"$\sigma^2 = \frac{1}{2}$, $\sigma^2_1 = 0$ and $\sigma^2_2 = 1$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in real arithmetic. In floats both sides are two-pass variance computations of the same values, "
            "equal within a bound of gamma(k) times the mean of (|x| + |mu|)^2."
        ),
        derivations=(
            statistics.total_variance,
            statistics.mean_section_variance_bound,
            statistics.section_variance_examples,
        ),
    ),
    Claim(
        id="bn.group-dependence",
        question="ga-batchnorm",
        title="Train-mode BatchNorm couples the samples of a group, so the accumulated loss is another function",
        statement=(
            r"In training mode BatchNorm maps value $x_i$ of a channel in normalisation group $G$ (the batch, or under "
            r"accumulation the sample's section) to $y_i = \gamma \frac{x_i - \mu_G}{\sqrt{\sigma^2_G + \epsilon}} + \beta$, "
            r"with the mean $\mu_G$ and biased variance $\sigma^2_G$ of the channel's $N$ values in $G$ (over samples and "
            r"spatial positions), $\epsilon > 0$ and per-channel affine parameters $\gamma$, $\beta$. With "
            r"$s_G = \sqrt{\sigma^2_G + \epsilon}$ and $\hat{x} = (x - \mu_G)/s_G$, for $i, k \in G$: "
            r"$\frac{\partial y_i}{\partial x_k} = \frac{\gamma}{s_G}\left(\delta_{ik} - \frac{1}{N} - \frac{\hat{x}_i\hat{x}_k}{N}\right)$, "
            r"which for $k \ne i$ is $-\frac{\gamma}{N s_G}(1 + \hat{x}_i\hat{x}_k)$, nonzero unless $\hat{x}_i\hat{x}_k = -1$; "
            r"for $k \notin G$ it is 0. So a sample's output and loss are functions of its whole group. The accumulation "
            r"identity [[ga.loss-identity]] regroups a sum of per-sample losses that do not depend on the grouping; with "
            r"train-mode BatchNorm sample $i$'s loss is computed from its section under accumulation and from the batch "
            r"without it, so the accumulated loss $\sum_j \frac{q_j}{n} L_j$ is a different function of the parameters "
            r"than the full-batch loss, and its gradient differs in general ([[bn.sign-flip]] gives one case)."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=(
            "The Jacobian is exact in real arithmetic; the torch checks compare autograd's Jacobian with it within "
            "a derived bound, and find inputs whose gradients differ by more than that bound."
        ),
        derivations=(backward.jacobian,),
    ),
    Claim(
        id="bn.forward-match",
        question="ga-batchnorm",
        title="Outputs match the full batch exactly when every section has the batch's mean and variance",
        statement=(
            r"Per channel, with $\epsilon > 0$ and $\gamma \ne 0$: train-mode BatchNorm applied to each section $S_j$ "
            r"gives the same output as on the full batch for every sample if and only if every section has the batch's "
            r"mean and biased variance, $\mu_j = \mu$ and $\sigma^2_j = \sigma^2$ for every $j$ (a constant batch "
            r"included). A constant section (all its values equal, for example a single value) outputs $\beta$ whatever "
            r"its value, so matching $\mu$ and $\sigma^2$ only in the non-constant sections is not enough: for "
            r"$x = (-1, 1 \mid 1, 1 \mid -1, -1)$ section 1 has $\mu_1 = \mu = 0$ and $\sigma^2_1 = \sigma^2 = 1$, yet "
            r"sections 2 and 3 output 0 instead of $\pm 1/\sqrt{1 + \epsilon}$. With $\gamma = 0$ every output is "
            r"$\beta$ and the outputs agree trivially."
        ),
        checks=(
            CheckKind.SYMBOLIC_GENERAL,
            CheckKind.SYMBOLIC_INSTANCES,
            CheckKind.EXACT_EXAMPLE,
            CheckKind.PROPERTY,
        ),
        arithmetic=(
            "Exact in real arithmetic. In floats, inputs built to satisfy the condition give outputs equal within a "
            "derived bound, and a perturbed section leaves that bound."
        ),
        derivations=(
            forward.forward_match,
            forward.forward_match_instances,
            forward.degenerate_sections_example,
        ),
    ),
    Claim(
        id="bn.backward-formula",
        question="ga-batchnorm",
        title="BatchNorm's backward pass centres the upstream gradient on the group",
        statement=(
            r"For one channel of a group $G$ of $N$ values, with $s_G$, $\hat{x}$ as in [[bn.group-dependence]] and "
            r"upstream gradient $g_i = \partial L/\partial y_i$: "
            r"$\frac{\partial L}{\partial x_i} = \frac{\gamma}{s_G}\left(g_i - \frac{1}{N}\sum_{k \in G} g_k - "
            r"\hat{x}_i \frac{1}{N}\sum_{k \in G} g_k\hat{x}_k\right)$, "
            r"$\frac{\partial L}{\partial \gamma} = \sum_{i \in G} g_i\hat{x}_i$ and "
            r"$\frac{\partial L}{\partial \beta} = \sum_{i \in G} g_i$, summed over every group of the batch. "
            r"The two group means make the input gradient depend on the grouping."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in real arithmetic (the derivation covers the input gradient; the gamma and beta gradients follow "
            "from $y = \\gamma\\hat{x} + \\beta$). The torch check compares all three with autograd within a derived bound."
        ),
        derivations=(backward.backward_formula,),
    ),
    Claim(
        id="bn.backward-differs",
        question="ga-batchnorm",
        title="Equal forward outputs still give different input gradients",
        statement=(
            r"Let every section have the batch's statistics, so the outputs agree ([[bn.forward-match]]), let everything "
            r"after the BatchNorm act per sample, and weight each section's mean loss by $q_j/n$. Then the upstream "
            r"gradients $g_i$ agree, and so do $\partial L/\partial\gamma$ and $\partial L/\partial\beta$, but the input "
            r"gradient of a sample in $S_j$ uses the means of $g$ and $g\hat{x}$ over $S_j$ instead of over the batch "
            r"([[bn.backward-formula]]); in a non-constant section it agrees for every sample only if both section means "
            r"equal the batch means. Example, exact for every $\epsilon > 0$: $x = (-1, 1 \mid 1, -1)$, $\gamma = 1$, "
            r"$\beta = 0$, $L = \frac{1}{4}\sum_i c_i y_i$ with $c = (1, 2, -1, \frac{1}{2})$. Both groupings output "
            r"$x/\sqrt{1+\epsilon}$, but $\partial L/\partial x_1$ is $\frac{2 + 3\epsilon}{32(1+\epsilon)^{3/2}} > 0$ for "
            r"the full batch and $-\frac{\epsilon}{8(1+\epsilon)^{3/2}} < 0$ with accumulation. So layers before the "
            r"BatchNorm can receive different gradients even when every forward output agrees."
        ),
        checks=(CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic=(
            "The example is exact in sympy with eps symbolic. The torch checks run it with eps = 1e-5, and check on "
            "inputs built to satisfy the condition that the gradient difference equals the formula's."
        ),
        derivations=(backward.equal_forward_example, backward.backward_difference_example),
    ),
    Claim(
        id="bn.tiny-sections",
        question="ga-batchnorm",
        title="Sections with one or two values per channel",
        statement=(
            r"If a section contains a single value of a channel ($q_j H W = 1$, for example one sample of a "
            r"`BatchNorm1d` input), then $x - \mu_G = 0$ and $\sigma^2_G = 0$, so the output is $\beta$ whatever the "
            r"value, and torch's train-mode BatchNorm raises `ValueError` (\"Expected more than 1 value per channel "
            r"when training\"). A section of two values $a \ne b$ gives $a$ the normalised value "
            r"$\operatorname{sign}(a - b)/\sqrt{1 + 4\epsilon/(a-b)^2}$ and $b$ its negative: within "
            r"$2\epsilon/(a-b)^2$ of $\pm 1$ whatever the values. Two equal values both give $\beta$. torch also "
            r"raises `ValueError` for $\epsilon = 0$ in training."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.TORCH_BEHAVIOUR, CheckKind.PROPERTY),
        arithmetic="Exact in real arithmetic; the torch check compares within a derived bound.",
        derivations=(forward.two_values, forward.two_values_bound),
        torch_seen="2.13.0",
    ),
    Claim(
        id="bn.sign-flip",
        question="ga-batchnorm",
        title="A worked example: accumulation flips the sign of a gradient",
        statement=(
            r"One channel, $x = (1, 2, 3, 10)$ split into $(1, 2 \mid 3, 10)$, BatchNorm with $\gamma = 1$, $\beta = 0$, "
            r"then a linear head $w\,\hat{x}_i$ and the loss $L = \frac{1}{4}\sum_i c_i\, w\,\hat{x}_i$ with "
            r"$c = (1, 2, -1, \frac{1}{2})$; each section's mean loss is weighted by $\frac{1}{2}$. The full batch gives "
            r"$\partial L/\partial w = -\frac{3}{4\sqrt{25/2 + \epsilon}} < 0$ and accumulation "
            r"$\frac{1}{8\sqrt{1/4 + \epsilon}} + \frac{21}{16\sqrt{49/4 + \epsilon}} > 0$, for every $\epsilon > 0$. "
            rf"At $\epsilon = 10^{{-5}}$, rounded: $\hat{{x}} = ({_numbers(SIGN_FLIP_FULL_OUTPUTS)})$ for the full batch, "
            rf"$({_numbers(SIGN_FLIP_SECTION_OUTPUTS)})$ with accumulation, and $\partial L/\partial w$ is "
            rf"${SIGN_FLIP_GRADIENTS[0]:g}$ against ${SIGN_FLIP_GRADIENTS[1]:g}$. Without BatchNorm both runs give "
            rf"${SIGN_FLIP_GRADIENTS[2]:g} = \frac{{7}}{{4}}$."
        ),
        checks=(CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in sympy with eps symbolic; the rounded numbers are torch's BatchNorm1d in float64 and float32, "
            "checked against the exact values."
        ),
        derivations=(forward.sign_flip, forward.sign_flip_without_normalisation),
    ),
    Claim(
        id="bn.running-stats",
        question="ga-batchnorm",
        title="Running statistics: m updates on section statistics per optimizer step",
        statement=(
            r"In training mode torch's BatchNorm updates its buffers once per forward call: "
            r"$r \leftarrow (1-\alpha) r + \alpha z$ with momentum $\alpha$ (default $0.1$), where $z = \mu_G$ for "
            r"`running_mean` and $z = \sigma^2_G \frac{N_G}{N_G - 1}$ (unbiased) for `running_var`, $N_G$ the values per "
            r"channel in the group, and `num_batches_tracked` grows by 1. Accumulating over $m$ sections makes $m$ "
            r"updates per optimizer step with section statistics $z_1, \dots, z_m$: "
            r"$r_m = (1-\alpha)^m r_0 + \alpha\sum_{j=1}^{m}(1-\alpha)^{m-j} z_j$, where the full batch makes one, "
            r"$(1-\alpha) r_0 + \alpha z_B$. Even if every section fed the batch's value $z$, the buffers would differ by "
            r"$((1-\alpha)^m - (1-\alpha))(r_0 - z) \ne 0$ for $m \ge 2$, $0 < \alpha < 1$, $r_0 \ne z$. The variance "
            r"factor is $N_j/(N_j - 1)$ ($\frac{q}{q-1}$ for equal sections of $q$ values) instead of $\frac{n}{n-1}$, "
            r"and `num_batches_tracked` advances by $m$ per optimizer step. With `momentum=None` the buffers are "
            r"cumulative averages, $r = (t_0 r_0 + \sum_j z_j)/(t_0 + m)$ with $t_0$ the counter before the step."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.TORCH_BEHAVIOUR, CheckKind.PROPERTY),
        arithmetic=(
            "The closed forms are exact in real arithmetic; torch's buffers after its update loop equal them within "
            "a derived bound, and the counter exactly."
        ),
        derivations=(
            running.running_closed_form,
            running.running_difference,
            running.cumulative_closed_form,
        ),
        torch_seen="2.13.0",
    ),
    Claim(
        id="bn.exact-alternatives",
        question="ga-batchnorm",
        title="Per-sample normalisation keeps accumulation exact",
        statement=(
            r"LayerNorm, GroupNorm and InstanceNorm take their statistics from one sample alone, and BatchNorm in eval "
            r"mode uses fixed running statistics, so each sample's output depends only on that sample and the "
            r"parameters. The loss is then a sum of per-sample terms, [[ga.loss-identity]] applies, and accumulation "
            r"with each section's mean loss weighted by $q_j/n$ gives exactly the full-batch gradient, for any sizes. "
            r"Eval-mode BatchNorm also leaves its running buffers unchanged."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic=(
            "Exact in real arithmetic. In floats the two gradients sum the same per-sample terms in different orders; "
            "the check bounds the difference by gamma(k) times the summed absolute terms."
        ),
    ),
    Claim(
        id="bn.ghost-equivalence",
        question="ga-batchnorm",
        title="Accumulation with train-mode BatchNorm trains ghost batch normalisation",
        statement=(
            r"With train-mode BatchNorm, the accumulated gradient (each section's mean loss weighted by $q_j/n$) "
            r"equals the full-batch gradient of the same model in which BatchNorm normalises each section $S_j$ with "
            r"$S_j$'s own statistics (ghost batch normalisation with the sections as groups). Accumulation therefore "
            r"trains that model exactly, not the full-batch one."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic=(
            "Exact in real arithmetic; the check compares within gamma(k) times the summed absolute section terms."
        ),
    ),
)

RUBRICS: tuple[Rubric, ...] = (
    Rubric(
        question="ga-batchnorm",
        answer=r"""
In training mode BatchNorm normalises each channel with the statistics of its normalisation group $G$:
$y_i = \gamma \frac{x_i - \mu_G}{\sqrt{\sigma^2_G + \epsilon}} + \beta$, where $\mu_G$ and the biased $\sigma^2_G$ are taken
over the channel's values in $G$ (samples times spatial positions, $N \times H \times W$ for images), $\epsilon > 0$,
and $\gamma, \beta$ are learned per channel. Gradient accumulation is exact when the loss is a sum of per-sample terms
that do not depend on how the batch is split. BatchNorm breaks that: $\frac{\partial y_i}{\partial x_k} =
\frac{\gamma}{s_G}(\delta_{ik} - \frac{1}{N} - \frac{\hat x_i \hat x_k}{N}) \ne 0$ for other samples $k$ of the group, and
under accumulation the group is the section, not the batch. The accumulated loss is therefore a different function
of the parameters (the loss of ghost BatchNorm over the sections), and its gradient differs.
The section statistics run over the section's own samples $i = (j-1)q+1, \dots, jq$. With equal sizes the mean of the
section means *is* the batch mean, and $\sigma^2 = \frac{1}{m}\sum_j \sigma_j^2 + \frac{1}{m}\sum_j(\mu_j - \mu)^2$, so the
mean section variance is at most the batch variance. Differing statistics are not the cause: the outputs agree exactly
when every section has the batch's mean and variance, and even then the input gradients differ, because the backward
pass subtracts the group means of $g$ and $g\hat x$. In addition, the running statistics receive $m$ momentum updates
per step from section statistics (variance factor $N_j/(N_j-1)$, counter $+m$). LayerNorm, GroupNorm, InstanceNorm and
eval-mode (frozen) BatchNorm keep accumulation exact.
""",
        key_points=(
            KeyPoint(
                text=r"BatchNorm in training mode: $y = \gamma\frac{x - \mu_G}{\sqrt{\sigma^2_G + \epsilon}} + \beta$ per channel, statistics over the group's samples and spatial positions, $\epsilon > 0$, learned $\gamma$, $\beta$.",
                weight=2,
                claims=("bn.group-dependence", "bn.tiny-sections"),
                accepted=(
                    r"the same formula written with $\hat x$ and a separate affine step",
                    "statistics over the (N, H, W) dimensions for each channel",
                ),
            ),
            KeyPoint(
                text="The mechanism: accumulation needs a sum of per-sample losses; BatchNorm makes each output depend on its whole group, and under accumulation the group is the section, so the accumulated loss is another function of the parameters.",
                weight=3,
                claims=("bn.group-dependence", "bn.ghost-equivalence", "bn.sign-flip"),
                accepted=(
                    "samples are no longer independent, so the loss does not decompose over sections",
                    "accumulation trains ghost BatchNorm with groups of q samples",
                    "a concrete example where the accumulated gradient differs",
                ),
            ),
            KeyPoint(
                text=r"Statistics stated correctly: section sums over the section's own samples; with equal sizes the mean of the section means equals the batch mean; law of total variance; so the difference is not that the mean changes.",
                weight=2,
                claims=("bn.section-mean", "bn.section-variance"),
                accepted=("weighted forms with q_j / n for unequal sizes",),
            ),
            KeyPoint(
                text="Outputs agree exactly when every section has the batch's mean and variance, and even then the input gradients differ (the backward pass centres on the group).",
                weight=1,
                claims=("bn.forward-match", "bn.backward-formula", "bn.backward-differs"),
            ),
            KeyPoint(
                text="Running statistics: m momentum updates per optimizer step on section statistics, unbiased with N_j / (N_j - 1), num_batches_tracked advancing by m.",
                weight=1,
                claims=("bn.running-stats",),
            ),
            KeyPoint(
                text="What keeps accumulation exact: LayerNorm, GroupNorm, InstanceNorm, or BatchNorm with frozen statistics (eval mode).",
                weight=1,
                claims=("bn.exact-alternatives",),
            ),
        ),
        mistakes=(
            Mistake(
                wrong=r"$\mu_{batch} \ne \mu_{GA}$: the section means differ from the batch mean, stated as always true.",
                why=(
                    "With equal sizes the mean of the section means is the batch mean, and single sections can have "
                    "exactly the batch's mean. The inequality is not a law, and it is not what breaks accumulation."
                ),
                claim="bn.section-mean",
                counterexample=r"$x = (-1, 1 \mid 1, -1)$: both section means are 0, the batch mean.",
                in_submitted=True,
            ),
            Mistake(
                wrong=r"$\sigma^2_{batch} \ne \sigma^2_{GA}$ for every section.",
                why=(
                    "A section can have exactly the batch's variance, or a smaller or larger one. Only the size-weighted "
                    "mean of the section variances is bounded: it is at most the batch variance, short by the spread "
                    "of the section means."
                ),
                claim="bn.section-variance",
                counterexample=(
                    r"$x = (-1, 1 \mid 1, -1)$: $\sigma^2_1 = \sigma^2_2 = \sigma^2 = 1$. "
                    r"$x = (0, 0 \mid -1, 1)$: $\sigma^2_1 = 0 < \sigma^2 = \frac{1}{2} < \sigma^2_2 = 1$."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong="Accumulation gives different results because the section statistics differ from the batch statistics.",
                why=(
                    "BatchNorm couples the samples of a group, so the accumulated loss is another function of the "
                    "parameters. Different statistics are not needed for a different result: with every section at "
                    "the batch's mean and variance the outputs agree, yet the input gradients differ."
                ),
                claim="bn.backward-differs",
                counterexample=(
                    r"$x = (-1, 1 \mid 1, -1)$, $L = \frac{1}{4}\sum_i c_i y_i$, $c = (1, 2, -1, \frac{1}{2})$: equal outputs, "
                    r"but $\partial L/\partial x_1 = \frac{2 + 3\epsilon}{32(1+\epsilon)^{3/2}}$ for the full batch and "
                    r"$-\frac{\epsilon}{8(1+\epsilon)^{3/2}}$ with accumulation."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong=r"Section $j$'s statistics are $\frac{1}{q}\sum_{i=1}^{q} x_i$ and $\frac{1}{q}\sum_{i=1}^{q}(x_i - \mu_{GA})^2$.",
                why=(
                    r"These sums run over the first $q$ samples for every section. Section $j$'s statistics run over "
                    r"its own samples, $i = (j-1)q+1, \dots, jq$."
                ),
                claim="bn.section-mean",
                counterexample=rf"$x = (1, 2 \mid 3, 10)$: the formula gives ${SECTION_MEANS[0]}$ for both sections; section 2's mean is ${SECTION_MEANS[1]}$.",
                in_submitted=True,
            ),
            Mistake(
                wrong=r"$x_{BN} = (x - \mu)/\sigma$.",
                why=(
                    r"BatchNorm divides by $\sqrt{\sigma^2 + \epsilon}$ with $\epsilon > 0$; torch rejects $\epsilon = 0$ "
                    r"in training. Without $\epsilon$ a constant group (one value per channel, or two equal values) "
                    r"divides 0 by 0, and the two-value output $\pm 1/\sqrt{1 + 4\epsilon/(a-b)^2}$ depends on $\epsilon$."
                ),
                claim="bn.tiny-sections",
                counterexample="A section of one sample of a BatchNorm1d input has variance 0 in every channel.",
                in_submitted=True,
            ),
            Mistake(
                wrong=r"The normalised value is the layer's output (no $\gamma$, $\beta$).",
                why=(
                    r"The output is $\gamma\hat{x} + \beta$ with learned per-channel $\gamma$, $\beta$; their gradients "
                    r"$\sum_i g_i\hat{x}_i$ and $\sum_i g_i$ are part of what accumulation must reproduce."
                ),
                claim="bn.backward-formula",
                counterexample=(
                    r"With $\gamma = 0$ every output is $\beta$, so both runs agree whatever the sections "
                    r"([[bn.forward-match]]); a formula without $\gamma$ and $\beta$ cannot express that."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong="The running statistics are not affected (left out).",
                why=(
                    "Each train-mode forward call updates running_mean and running_var. Accumulation makes m updates per "
                    "optimizer step from section statistics, with the variance factor N_j / (N_j - 1), and "
                    "num_batches_tracked advances by m, so the model used in eval mode changes too."
                ),
                claim="bn.running-stats",
                counterexample=(
                    r"$x = (1, 3 \mid 3, 1)$, every section at the batch's mean 2, momentum 0.1, running_mean starting at 0: "
                    r"two section updates leave it $((1-\alpha)^2 - (1-\alpha))(0 - 2) = 0.18$ above one full-batch update."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong=r"The statistics of an image batch are taken per image, $\mu = \frac{1}{n}\sum_{i=1}^{n} x_i$ over the $n$ images.",
                why=(
                    "BatchNorm normalises every channel separately, over all samples and spatial positions of the group "
                    "(N x H x W values), so a section of q images gives each channel q x H x W values."
                ),
                claim="bn.group-dependence",
                counterexample=(
                    f"A batch of 4 images of 8 x 8 pixels gives each channel {4 * 8 * 8} values, and a section of "
                    f"2 of those images {2 * 8 * 8}, not 4 and 2."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong="With equal section sizes, accumulation with BatchNorm is exact.",
                why="Equal sizes make the mean of the section means equal the batch mean, but each sample is still normalised with its own section's statistics.",
                claim="bn.sign-flip",
                counterexample=(
                    rf"$x = (1, 2 \mid 3, 10)$, $c = (1, 2, -1, \frac{{1}}{{2}})$: $\partial L/\partial w = {SIGN_FLIP_GRADIENTS[0]:g}$ "
                    rf"for the full batch and ${SIGN_FLIP_GRADIENTS[1]:g}$ with accumulation at $\epsilon = 10^{{-5}}$."
                ),
            ),
            Mistake(
                wrong="If every section with more than one distinct value has the batch's mean and variance, the outputs agree.",
                why="A constant section normalises to beta whatever its value; only a constant batch allows constant sections.",
                claim="bn.forward-match",
                counterexample=r"$x = (-1, 1 \mid 1, 1 \mid -1, -1)$: sections 2 and 3 output 0 instead of $\pm 1/\sqrt{1+\epsilon}$.",
            ),
            Mistake(
                wrong="Freezing the statistics (eval mode, or batch statistics from a first pass) reproduces train-mode BatchNorm under accumulation.",
                why=(
                    r"It makes accumulation exact for another model, BatchNorm with constant statistics, whose input "
                    r"gradient is $\frac{\gamma}{s} g_i$, without the two centring terms of the train-mode backward pass."
                ),
                claim="bn.backward-formula",
                counterexample=(
                    r"$x = (-1, 1 \mid 1, -1)$, $L = \frac{1}{4}\sum_i c_i y_i$, $c = (1, 2, -1, \frac{1}{2})$: the batch's "
                    r"statistics held fixed give $\partial L/\partial x_1 = \frac{1}{4\sqrt{1+\epsilon}}$, train-mode "
                    r"BatchNorm on the full batch $\frac{2 + 3\epsilon}{32(1+\epsilon)^{3/2}}$."
                ),
            ),
        ),
    ),
)
