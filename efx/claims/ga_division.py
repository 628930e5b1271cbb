"""Claims and rubric for ``ga-division``: why dividing each section's loss by m reproduces the batch."""

from __future__ import annotations

from efx.claims.model import CheckKind, Claim, KeyPoint, Mistake, Rubric
from efx.proofs import ga_division as proofs
from efx.proofs import ga_updates as updates

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="ga.loss-identity",
        question="ga-division",
        title="Accumulated loss equals the full-batch loss",
        statement=(
            r"Let a batch of $n = mq$ samples with per-sample losses $\ell_1, \dots, \ell_n$ be split into "
            r"$m$ sections of $q$ consecutive samples, section $j$ holding samples $(j-1)q+1, \dots, jq$. "
            r"Then $\frac{1}{m}\sum_{j=1}^{m} \frac{1}{q}\sum_{i=(j-1)q+1}^{jq} \ell_i "
            r"= \frac{1}{n}\sum_{i=1}^{n} \ell_i$ for all integers $m, q \ge 1$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.EXACT_EXAMPLE),
        arithmetic=(
            "Exact in real arithmetic. In floats the two sides are different summation orders of the "
            "same numbers, equal within the summation bound of efx.tolerance."
        ),
        derivations=(proofs.loss_identity, proofs.loss_identity_instances),
    ),
    Claim(
        id="ga.gradient-identity",
        question="ga-division",
        title="Equal losses give equal gradients, hence equal updates",
        statement=(
            r"Let $\ell_i(\theta)$ be differentiable per-sample losses of a model without batch-coupled layers, "
            r"and let sections $j = 1..m$ of sizes $q_j$ split the batch of $n=\sum_j q_j$ samples. Then "
            r"$\nabla_\theta \sum_j \frac{q_j}{n} L_j(\theta) = \nabla_\theta \frac{1}{n}\sum_i \ell_i(\theta)$, "
            r"with $L_j$ the mean loss of section $j$; for $q_j = q$ the weights are $\frac{1}{m}$. "
            r"For the linear model $\hat y = Xw + b\mathbf{1}$ with MSE and residual $r = y - \hat y$: "
            r"$\nabla_w L = -\frac{2}{n}X^\top r = -\frac{2}{n}\sum_j X_j^\top r_j$ and "
            r"$\nabla_b L = -\frac{2}{n}\mathbf{1}^\top r$, where $X_j$, $r_j$ are section $j$'s rows. "
            r"From the same parameters and optimizer state, one optimizer step then makes the same update."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in real arithmetic. In floats the accumulated gradient is another summation order of the "
            "per-sample gradient terms; the checks bound the difference by gamma(k) times the summed absolute terms."
        ),
        derivations=(updates.mse_gradient, updates.mse_gradient_blocks, proofs.gradient_linearity),
    ),
    Claim(
        id="ga.division-scale",
        question="ga-division",
        title="Without the division the gradient is m times too large",
        statement=(
            r"Summing the gradients of the $m$ section means without dividing by $m$ gives $m\,g$, with $g$ the "
            r"full-batch gradient (equal sections). For plain SGD this is the full-batch step with learning rate "
            r"$m\eta$. With weight decay $\lambda\theta$ added to the gradient it is not: the update differs from "
            r"SGD with rate $m\eta$ by $(m-1)\eta\lambda\theta$. Adam is unchanged by a gradient scale $c>0$ "
            r"except through $\epsilon$ (it acts as $\epsilon/c$) and coupled weight decay; a clipping threshold "
            r"$C$ acts as $C/m$ on the true gradient."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic="Exact in real arithmetic; the torch checks compare float64 updates within a derived bound.",
        derivations=(
            updates.sgd_scale,
            updates.coupled_decay_scale,
            updates.adam_scale,
            updates.clip_scale,
        ),
    ),
    Claim(
        id="ga.unequal-sections",
        question="ga-division",
        title="Unequal sections need weights q_j / n, not 1/m",
        statement=(
            r"Let sections $j=1..m$ hold $q_j \ge 1$ samples, $n = \sum_j q_j$, and let $\mu_j$ be section $j$'s "
            r"mean loss. The mean of section means is off by "
            r"$\frac{1}{m}\sum_j \mu_j - \frac{1}{n}\sum_i \ell_i = \sum_j \left(\frac{1}{m} - \frac{q_j}{n}\right)\mu_j$, "
            r"which vanishes for all losses exactly when every $q_j = n/m$. Weights $q_j/n$ "
            r"(sum each section's losses, divide once by $n$) give the full-batch mean for any sizes."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic="Exact in real arithmetic; the property checks run float64 and float32 with derived tolerances.",
        derivations=(proofs.weighted_sections, proofs.naive_error),
    ),
    Claim(
        id="ga.reduction",
        question="ga-division",
        title="The loss must be a mean of per-sample terms, normalised once",
        statement=(
            r"The division by $m$ is right only for a *mean*-reduced loss that is a sum of per-sample terms. "
            r"(i) With reduction `sum`, $\frac{1}{m}\sum_j\sum_{i \in j}\ell_i = \frac{n}{m}\cdot\frac{1}{n}\sum_i\ell_i$: "
            r"the gradient is $n/m$ times too large, so divide the summed losses by $n$. "
            r"(ii) A loss that does not split into per-sample terms does not decompose: for the squared batch-mean "
            r"residual $L = (\frac{1}{n}\sum_i r_i)^2$ with $r = (1, 1, -1, -1)$ and $m = 2$ sections, the "
            r"mean of the section losses is 1 while $L = 0$; BatchNorm's batch statistics break the identity the same way."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.EXACT_EXAMPLE),
        arithmetic="Exact in real arithmetic; the counterexample is computed in rationals and in float64.",
        derivations=(proofs.sum_reduction,),
    ),
    Claim(
        id="ga.fixed-state",
        question="ga-division",
        title="Parameters and buffers stay fixed during the window",
        statement=(
            r"The identity compares gradients at one parameter value $\theta$. If the parameters, or buffers the "
            r"forward pass reads, change between micro-steps (an optimizer step inside the window, a buffer updated "
            r"by each forward pass), the micro-gradients are taken at different points and their sum is not the "
            r"full-batch gradient. Example: $\ell_i(w) = (w x_i - y_i)^2$, $x = (1, 2)$, $y = (0, 0)$, $w_0 = 1$, "
            r"one micro-batch per sample, an SGD step with $\eta = \frac{1}{10}$ after each micro-step ends at "
            r"$w = \frac{27}{50}$ instead of the full-batch step's $\frac{1}{2}$."
        ),
        checks=(CheckKind.EXACT_EXAMPLE,),
        arithmetic="Exact in rationals; the torch check runs float64.",
    ),
    Claim(
        id="ga.float-order",
        question="ga-division",
        title="In floats the results are close, not identical",
        statement=(
            r"In floating-point arithmetic the accumulated and full-batch losses and gradients are different "
            r"summation orders of the same terms, so they need not be bitwise identical; they differ by at most the "
            r"summation bound $\gamma_{k}\sum\lvert\text{terms}\rvert$ with $\gamma_k = ku/(1-ku)$. Example in "
            r"float32: losses $(1, 0.1, 0.2, 0.3)$, $m = 2$, give a mean of section means that differs from the "
            r"full-batch mean in the last bit."
        ),
        checks=(CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic="This claim is about float32 and float64 rounding; the bound is Higham's summation bound.",
    ),
    Claim(
        id="ga.token-normaliser",
        question="ga-division",
        title="Padded token losses: divide by the window's valid tokens",
        statement=(
            r"For a loss averaged over valid (non-padding) tokens, section $j$'s count $q_j$ is its number of valid "
            r"tokens, so the mean of micro-batch token means has the error of ga.unequal-sections. Dividing the "
            r"window's summed token losses by the window's total valid tokens gives the full-batch token mean. "
            r"Example: one sample per micro-batch, sample 1 with 10 valid tokens of loss 2, sample 2 with 100 "
            r"valid tokens of loss 1: the mean of micro-batch means is $\frac{3}{2}$, the full-batch token mean "
            r"$\frac{12}{11} \approx 1.0909$."
        ),
        checks=(CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic="Exact in rationals; the property checks run float64 and float32 with derived tolerances.",
    ),
    Claim(
        id="ga.partial-window",
        question="ga-division",
        title="A partial last window: divide by the samples present",
        statement=(
            r"A last window with sections of losses $\{1, 2, 3\}$ and $\{10, 20\}$, under a configured count of 4 "
            r"sections: section means divided by 4 give $\frac{17}{4} = 4.25$, by the 2 sections present "
            r"$\frac{17}{2} = 8.5$, summed losses divided by 4 give 9; only dividing the summed losses by the "
            r"5 samples present gives the full-batch mean $\frac{36}{5} = 7.2$."
        ),
        checks=(CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic="Exact in rationals; the gradient check runs float64.",
    ),
    Claim(
        id="ga.clip-once",
        question="ga-division",
        title="Clip once, the accumulated gradient",
        statement=(
            r"Norm clipping is not linear, so it must act once on the accumulated gradient. With micro-gradients "
            r"$g_1 = (3, 0)$, $g_2 = (0, 1)$, $m = 2$ and maximum norm 1: clipping the mean once gives "
            r"$(3, 1)/\sqrt{10} \approx (0.949, 0.316)$; clipping the running buffer after each micro-step gives "
            r"$(2, 1)/\sqrt{5} \approx (0.894, 0.447)$; clipping each $g_j/m$ and summing gives $(1, \frac{1}{2})$, "
            r"whose norm $\frac{\sqrt{5}}{2} \approx 1.118$ exceeds the maximum."
        ),
        checks=(CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic="Exact in sympy (square roots kept symbolic); the torch check runs float64.",
    ),
    Claim(
        id="ga.data-parallel",
        question="ga-division",
        title="Data-parallel ranks: global count, one sum after the last micro-step",
        statement=(
            r"With $R$ ranks, rank $k$ holding $N_k$ valid tokens over its micro-steps and $N = \sum_k N_k$: "
            r"if every rank divides its micro-batches' summed losses by $N$ and the ranks' gradients are summed "
            r"once after the last micro-step (or averaged, then multiplied by $R$), every rank holds the "
            r"full-batch gradient. Dividing by the local $N_k$ and averaging weights rank $k$'s tokens by "
            r"$N/(R N_k)$ instead of 1, wrong unless all $N_k$ are equal."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic="Exact in real arithmetic; the check runs float64 on two gloo processes and compares within a derived bound.",
    ),
)

RUBRICS: tuple[Rubric, ...] = (
    Rubric(
        question="ga-division",
        answer=r"""
Take the linear model $\hat y = Xw + b\mathbf{1}$ with per-sample losses $\ell_i(w, b) = (y_i - x_i^\top w - b)^2$
and the full-batch loss $L = \frac{1}{n}\sum_{i=1}^{n}\ell_i$. Split the batch into $m$ sections of $q$ samples
($n = mq$), section $j$ holding samples $(j-1)q+1, \dots, jq$, with section loss $L_j = \frac{1}{q}\sum_{i=(j-1)q+1}^{jq}\ell_i$.
Then $\frac{1}{m}\sum_j L_j = \frac{1}{mq}\sum_{i=1}^{n}\ell_i = L$, because the sections partition $1..n$.
This holds for every value of $w, b$, and the gradient is linear, so
$\sum_j \nabla \frac{L_j}{m} = \nabla L$: for MSE, $\nabla_w L = -\frac{2}{n}X^\top r = -\frac{2}{n}\sum_j X_j^\top r_j$ and
$\nabla_b L = -\frac{2}{n}\mathbf{1}^\top r$ with $r = y - \hat y$. The summed gradient is the full-batch gradient, so
from the same parameters and optimizer state one step makes the same update. The $1/m$ turns a sum of $m$ section
means into their mean; without it the gradient is $m$ times larger (an $m$-times learning rate for plain SGD, but
not with weight decay, Adam's $\epsilon$ or clipping). Conditions: equal section sizes (otherwise weight section $j$
by $q_j/n$: sum the losses, divide once by $n$, also for a short last batch and padded tokens), a mean of per-sample
terms (no `sum` reduction, no batch-coupled layers such as BatchNorm), parameters and buffers fixed during the
window, clipping once after accumulation. In floating point the two results agree up to rounding, not bit for bit.
""",
        key_points=(
            KeyPoint(
                text=r"Correct loss identity with sections $(j-1)q+1 \dots jq$ that partition $1..n$; $n = mq$ stated.",
                weight=2,
                claims=("ga.loss-identity",),
                accepted=(
                    "0-based sections jq ... (j+1)q - 1",
                    "the identity by grouping a double sum, without index formulas, if the sections are said to be disjoint and to cover the batch",
                ),
            ),
            KeyPoint(
                text=r"From losses to gradients: the identity holds for all parameters and the gradient is linear, so the summed gradients equal $\nabla L$; for the linear model $\nabla_w L = -\frac{2}{n}X^\top r = -\frac{2}{n}\sum_j X_j^\top r_j$, $\nabla_b L = -\frac{2}{n}\mathbf{1}^\top r$.",
                weight=3,
                claims=("ga.gradient-identity",),
                accepted=(
                    r"the gradient written per sample, $-\frac{2}{n}\sum_i (y_i - \hat y_i) x_i$",
                    "the argument that the accumulated objective is the same function of the parameters",
                ),
            ),
            KeyPoint(
                text="Same gradient from the same parameters and optimizer state gives the same optimizer step.",
                weight=1,
                claims=("ga.gradient-identity",),
            ),
            KeyPoint(
                text=r"The role of $1/m$: without it the gradient is $m$ times larger; for plain SGD that is an $m$-times learning rate, but not with coupled weight decay, Adam's $\epsilon$ or a clipping threshold.",
                weight=2,
                claims=("ga.division-scale",),
                accepted=("dividing the learning rate by m instead, for plain SGD only",),
            ),
            KeyPoint(
                text=r"Equal section sizes are needed for the $1/m$ weights; otherwise weight by $q_j/n$ (sum, then divide by $n$): short last batch, padded tokens.",
                weight=2,
                claims=("ga.unequal-sections", "ga.partial-window", "ga.token-normaliser"),
                accepted=("each section's loss multiplied by q_j / n",),
            ),
            KeyPoint(
                text="The loss is a mean of per-sample terms (mean reduction, no batch coupling); parameters and buffers stay fixed during the window; clip once after accumulating.",
                weight=1,
                claims=("ga.reduction", "ga.fixed-state", "ga.clip-once"),
            ),
            KeyPoint(
                text="In floating point the results agree up to rounding (different summation order), not bit for bit.",
                weight=1,
                claims=("ga.float-order",),
                accepted=("identical in exact arithmetic, equal to within rounding in floats",),
            ),
        ),
        mistakes=(
            Mistake(
                wrong=r"Section $j$ runs from $i = (j-1)q$ to $(j-1)q + q$.",
                why=(
                    r"That range has $q+1$ indices, starts at a sample 0 that does not exist, and shares sample $jq$ with "
                    r"section $j+1$, so the next equality (to $\frac{1}{mq}\sum_{i=1}^{mq}$) does not follow."
                ),
                claim="ga.loss-identity",
                counterexample=(
                    r"$m = q = 2$: the ranges are $\{0, 1, 2\}$ and $\{2, 3, 4\}$; the mean of section sums over $q$ is "
                    r"$L + \ell_0/4 + \ell_2/4$, not $L$."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong="Equal losses alone show that accumulation gives identical results.",
                why=(
                    "Training uses gradients, and losses that agree at one parameter value can have different "
                    "gradients. The argument needs the identity for every parameter value and the linearity of the "
                    "gradient. Equal gradients and equal optimizer state then give equal updates."
                ),
                claim="ga.gradient-identity",
                counterexample=r"$f(\theta) = \theta$ and $g(\theta) = \theta^2$ agree at $\theta = 1$, with derivatives 1 and 2.",
                in_submitted=True,
            ),
            Mistake(
                wrong="The linear model's gradient need not be written down.",
                why=(
                    r"The question asks about a linear model with MSE: its gradient $-\frac{2}{n}X^\top r$ splits over "
                    r"the sections' rows as $-\frac{2}{n}\sum_j X_j^\top r_j$, which is the identity for updates."
                ),
                claim="ga.gradient-identity",
                counterexample=(
                    r"$\theta$ and $\theta^2$ agree at $\theta = 1$, yet their derivatives there are 1 and 2: "
                    "equal losses at one parameter value say nothing about gradients. The identity holds "
                    "for every parameter value, which is what makes the gradients equal."
                ),
                in_submitted=True,
            ),
            Mistake(
                wrong=r"Every section holds $q = n/m$ samples, without saying so, so dividing by $m$ always works.",
                why=(
                    r"With unequal sizes the mean of section means is off by $\sum_j (1/m - q_j/n)\mu_j$; a short last "
                    r"micro-batch or padding makes sizes unequal."
                ),
                claim="ga.unequal-sections",
                counterexample=r"sizes $(1, 3)$ with losses $(4 \mid 0, 0, 0)$: mean of section means 2, full-batch mean 1.",
                in_submitted=True,
            ),
            Mistake(
                wrong="Results are identical.",
                why=(
                    "Only in exact arithmetic. In floats the accumulated and full-batch sums add the same terms in "
                    "different orders and can differ in the last bits (within the summation bound)."
                ),
                claim="ga.float-order",
                counterexample=r"float32 losses $(1, 0.1, 0.2, 0.3)$, $m = 2$: the two means differ in the last bit.",
                in_submitted=True,
            ),
            Mistake(
                wrong="Any loss works, with any reduction.",
                why=(
                    r"The identity needs a mean of per-sample terms. With `sum` reduction, dividing by $m$ leaves a factor "
                    r"$n/m$; a loss coupling samples (batch statistics, BatchNorm) does not split over sections."
                ),
                claim="ga.reduction",
                counterexample=r"$L = (\text{mean residual})^2$, $r = (1, 1, -1, -1)$, $m = 2$: mean of section losses 1, $L = 0$.",
                in_submitted=True,
            ),
            Mistake(
                wrong="The parameters may change between micro-steps (nothing is said about it).",
                why="The identity compares gradients at one parameter value; a step or a buffer update inside the window breaks it.",
                claim="ga.fixed-state",
                counterexample=r"$\ell_i = (w x_i)^2$, $x = (1, 2)$, $w_0 = 1$, $\eta = 1/10$: stepping per micro-batch ends at $27/50$, the full step at $1/2$.",
                in_submitted=True,
            ),
            Mistake(
                wrong="Dropping the 1/m only rescales the learning rate.",
                why="True for plain SGD only: coupled weight decay, Adam's epsilon and clipping thresholds do not scale with it.",
                claim="ga.division-scale",
                counterexample=(
                    r"SGD with weight decay $\lambda$ added to the gradient: the undivided gradient at rate $\eta$ "
                    r"and the correct one at rate $m\eta$ differ by $(m-1)\eta\lambda\theta$, which is "
                    r"$0.1\,\theta$ for $m = 3$, $\eta = 0.1$, $\lambda = 0.5$."
                ),
            ),
            Mistake(
                wrong="On a short last window, divide by the configured accumulation count (or by the sections present).",
                why="The full-batch mean divides the summed losses by the samples present.",
                claim="ga.partial-window",
                counterexample=r"sections $\{1,2,3\}$, $\{10,20\}$, count 4: 4.25, 8.5 or 9 instead of 7.2.",
            ),
            Mistake(
                wrong="For padded sequences, average each micro-batch's token mean over micro-batches.",
                why="Micro-batches hold different numbers of valid tokens; divide the window's summed token losses by its valid tokens.",
                claim="ga.token-normaliser",
                counterexample=r"10 tokens of loss 2 and 100 of loss 1: $3/2$ instead of $12/11$.",
            ),
            Mistake(
                wrong="Clip the gradient at every micro-step.",
                why="Clipping is not linear; clip the accumulated gradient once.",
                claim="ga.clip-once",
                counterexample=r"$g_1 = (3, 0)$, $g_2 = (0, 1)$, max norm 1: once $(3,1)/\sqrt{10}$; running $(2,1)/\sqrt{5}$; each $(1, 1/2)$ with norm $\sqrt{5}/2 > 1$.",
            ),
            Mistake(
                wrong="With data parallelism, each rank divides by its own count and the ranks average.",
                why="Ranks with different counts then get different weights; use the global count and sum once.",
                claim="ga.data-parallel",
                counterexample=(
                    "Rank 1 holds 10 valid tokens of loss 2.0, rank 2 holds 100 of loss 1.0: averaging the "
                    "ranks' own means gives 1.5, the full-batch token mean is 120/110 = 1.0909."
                ),
            ),
        ),
    ),
)
