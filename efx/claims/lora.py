"""Claims about LoRA (``efx.lora``): initialisation, gradients, rank, parameters, scale, merge, SVD init.

They belong to question ``lr-factors``: LoRA is the low-rank factorisation of that question
put to work in training. The rubric of ``lr-factors`` is written with that question's other
claims and cites these where it needs them, so this module defines no rubric.

Common symbols: a batch ``X`` (``N x d_in``), the frozen weight ``W_0`` (``d_out x d_in``) and
bias ``b``, the trainable factors ``A`` (``r x d_in``) and ``B`` (``d_out x r``), the scale
``s = alpha / r`` (``alpha / sqrt(r)`` for rsLoRA) and the layer output
``Y = X W_0^T + 1 b + s dropout(X) A^T B^T``.
"""

from __future__ import annotations

from efx.claims.model import CheckKind, Claim, Rubric
from efx.proofs import lora as proofs
from efx.proofs import lora_gradients as gradients
from efx.proofs import lora_rounding as rounding

_LAYER = (
    r"Let a LoRA layer wrap a linear layer with frozen weight $W_0 \in \mathbb{R}^{d_{out} \times d_{in}}$ and bias "
    r"row $b \in \mathbb{R}^{1 \times d_{out}}$, with trainable $A \in \mathbb{R}^{r \times d_{in}}$, "
    r"$B \in \mathbb{R}^{d_{out} \times r}$ and scale $s > 0$, and compute "
    r"$Y = X W_0^{\top} + \mathbf{1} b + s\, \operatorname{dropout}(X) A^{\top} B^{\top}$ for a batch "
    r"$X \in \mathbb{R}^{N \times d_{in}}$ (dropout acts in training mode only)."
)
_HU = "Hu et al., LoRA: Low-Rank Adaptation of Large Language Models, 2021, arXiv:2106.09685"
_HIGHAM = "Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM 2002, Lemma 3.1"
_PISSA = (
    "Meng, Wang and Zhang, PiSSA: Principal Singular Values and Singular Vectors Adaptation of Large "
    "Language Models, 2024, arXiv:2404.02948"
)
_LAPACK = (
    "LAPACK Users' Guide, 3rd ed., section 4.9: error bounds for the singular value decomposition"
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="lora.init-identity",
        question="lr-factors",
        title="At initialisation the LoRA layer computes the base layer's output exactly",
        statement=(
            _LAYER
            + r" Initialise $A$ at random and $B = 0$. Then, for every finite input $X$ with $X A^{\top}$ "
            r"finite, in training mode (any dropout rate) and in eval mode, the computed output equals the base "
            r"layer's computed output $\operatorname{fl}(X W_0^{\top} + \mathbf{1} b)$ entry for entry."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in floating point as well: the adapter path computes products with the exact zeros of B, which "
            "are signed zeros, and adding a signed zero to the base output returns it. The values are equal; "
            "the bit patterns differ only where the base output is -0.0 and the adapter's zero is +0.0."
        ),
        derivations=(proofs.init_output,),
        references=(_HU,),
    ),
    Claim(
        id="lora.init-gradients",
        question="lr-factors",
        title="At B = 0 the gradient of B is nonzero and the gradient of A is exactly zero",
        statement=(
            _LAYER
            + r" For a differentiable loss $L(Y)$ with upstream gradient $G = \partial L / \partial Y$ "
            r"and $X$ the adapter's input (after dropout), $\partial L/\partial B = s\, G^{\top} X A^{\top}$ and "
            r"$\partial L/\partial A = s\, B^{\top} G^{\top} X$. At $B = 0$ therefore $\partial L/\partial A = 0$ "
            r"exactly, by design, and $\partial L/\partial B = s\, G^{\top} X A^{\top}$, which for one sample is "
            r"the outer product $s\, g\, (A x)^{\top}$: nonzero whenever $g \ne 0$ and $A x \ne 0$, which holds with "
            r"probability 1 for $x \ne 0$ and $A$ drawn from a continuous distribution. So the first step moves "
            r"$B$, and $A$ starts to move once $B \ne 0$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            "The formulas are exact in real arithmetic. In floats the gradient of A at B = 0 is exactly zero "
            "(every term has a factor 0), and the computed gradient of B is within "
            "gamma_{d_in + N + 2} s |G|^T |X| |A|^T of the formula."
        ),
        derivations=(gradients.gradients, gradients.gradients_instances),
        references=(_HU,),
    ),
    Claim(
        id="lora.update-rank",
        question="lr-factors",
        title="The update s B A has rank at most r",
        statement=(
            r"For $B \in \mathbb{R}^{d_{out} \times r}$, $A \in \mathbb{R}^{r \times d_{in}}$ and $s > 0$, the "
            r"update $\Delta W = s\, BA$ satisfies $\operatorname{rank}(\Delta W) \le \min(\operatorname{rank} B, "
            r"\operatorname{rank} A) \le \min(r, d_{out}, d_{in})$, with equality "
            r"$\operatorname{rank}(\Delta W) = \min(r, d_{out}, d_{in})$ for all factors outside a set of measure zero. "
            r"So training $A$ and $B$ explores only updates of rank at most $r$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in real arithmetic. A computed update (or the difference of merged and original weights) is "
            "the exact rank-r matrix plus rounding errors, so its singular values beyond the r-th are not zero "
            "but at most the Frobenius norm of the rounding error (Weyl's inequality)."
        ),
        derivations=(proofs.update_rank, proofs.update_rank_instances),
        references=(_HU,),
    ),
    Claim(
        id="lora.parameter-count",
        question="lr-factors",
        title="A rank-r adapter trains r (d_in + d_out) parameters instead of d_in d_out",
        statement=(
            r"A LoRA adapter of rank $r$ on a $d_{out} \times d_{in}$ weight has $r\,(d_{in} + d_{out})$ trainable "
            r"parameters ($r\,d_{in}$ in $A$, $d_{out}\, r$ in $B$) while the weight has $d_{in} d_{out}$: a ratio "
            r"of $r (d_{in} + d_{out}) / (d_{in} d_{out})$, which is $2r/n$ for a square $n \times n$ weight. The "
            r"adapter is smaller exactly when $r < d_{in} d_{out} / (d_{in} + d_{out})$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic="Integer counts: exact.",
        derivations=(proofs.parameter_count,),
        references=(_HU,),
    ),
    Claim(
        id="lora.scale",
        question="lr-factors",
        title="The adapter's output is scaled by alpha / r (alpha / sqrt(r) for rsLoRA)",
        statement=(
            _LAYER
            + r" With scaling numerator $\alpha > 0$ and rank $r$, the scale is $s = \alpha / r$, or "
            r"$s = \alpha / \sqrt{r}$ with rank-stabilised scaling (rsLoRA). The layer's output equals "
            r"$X W_0^{\top} + \mathbf{1} b + s\, X A^{\top} B^{\top}$ in eval mode for any $A$ and $B$, "
            r"and the check distinguishes $s$ from the wrong scales $\alpha$, $1$ and the other rule's scale: it "
            r"draws $r \ge 2$ and $\alpha \notin \{r, \sqrt{r}\}$."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic=(
            "Compared with a float64 reference computed from the same parameters: the layer's output meets at most "
            "d_in + r + 3 roundings per term (one of them for storing s in the dtype), so the two agree within "
            "(gamma_{d_in + r + 3} + gamma^{(64)}_{d_in + r + 2}) M."
        ),
        references=(
            _HU,
            "Kalajdzievski, A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA, 2023, arXiv:2312.03732",
        ),
    ),
    Claim(
        id="lora.merge-equivalence",
        question="lr-factors",
        title="Merging s B A into the weight keeps the eval-mode outputs, within a derived bound",
        statement=(
            _LAYER + r" Merging replaces $W_0$ by $\operatorname{fl}(W_0 + \operatorname{fl}(s\cdot"
            r"\operatorname{fl}(BA)))$ and drops the adapter path. In eval mode the merged and unmerged outputs are "
            r"equal in real arithmetic, and their computed values differ by at most $2\gamma_{d_{in}+r+3}\, M$ "
            r"entrywise, with $M = \lvert X\rvert (\lvert W_0\rvert + s\lvert B\rvert\lvert A\rvert)^{\top} + "
            r"\mathbf{1}\lvert b\rvert$ and $\gamma_k = ku/(1-ku)$. In training mode with dropout rate "
            r"$p > 0$ they differ, because the merged layer applies no dropout to the adapter's share of the "
            r"weight: merge only in eval mode."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in real arithmetic (in eval mode). In floats the two outputs are different roundings of the "
            "same real output, within the bound above; u is the unit roundoff of the weights' dtype."
        ),
        derivations=(proofs.merge_identity, rounding.merge_rounding),
        references=(_HU, _HIGHAM),
    ),
    Claim(
        id="lora.unmerge-restores",
        question="lr-factors",
        title="Unmerging restores the frozen weight within two roundings per entry",
        statement=(
            r"Let merge compute $\hat W = \operatorname{fl}(W_0 + D)$ and unmerge $\hat W_0' = "
            r"\operatorname{fl}(\hat W - D)$, where $D = \operatorname{fl}(s \cdot \operatorname{fl}(BA))$ is "
            r"recomputed bit for bit (same factors, same device, deterministic kernels). Then "
            r"$\lvert \hat W_0' - W_0\rvert \le \gamma_2 (\lvert W_0\rvert + \lvert D\rvert)$ entrywise, with "
            r"$\lvert D\rvert \le (1 + \gamma_{r+1})\, s \lvert B\rvert\lvert A\rvert$; the bias, $A$ and $B$ are "
            r"unchanged."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in real arithmetic. In floats the round trip is not the identity in general: adding D rounds "
            "away low bits of W_0 that subtracting D cannot bring back."
        ),
        derivations=(rounding.unmerge_rounding,),
        references=(_HIGHAM,),
    ),
    Claim(
        id="lora.merge-state",
        question="lr-factors",
        title="Merging a merged layer or unmerging an unmerged one raises and changes nothing",
        statement=(
            r"A LoRA layer tracks whether $s\,BA$ is folded into its weight. Calling merge on a merged layer would "
            r"add $s\,BA$ twice, and calling unmerge on an unmerged one would subtract it from $W_0$; both raise "
            r"an error (in efx, ``LoRAStateError``) and leave the weight, the bias and the factors bit for bit "
            r"as they were."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic="A state check: no arithmetic happens when it raises.",
    ),
    Claim(
        id="lora.svd-init",
        question="lr-factors",
        title="SVD initialisation trains the principal part and leaves the output unchanged",
        statement=(
            _LAYER
            + r" Let $W_0 = U \Sigma V^{\top}$ with singular values $\sigma_1 \ge \dots \ge \sigma_p \ge 0$, "
            r"$p = \min(d_{out}, d_{in})$ and $r \le p$. The SVD initialisation (PiSSA) sets "
            r"$B = U_r \Sigma_r^{1/2} / \sqrt{s}$ and $A = \Sigma_r^{1/2} V_r^{\top} / \sqrt{s}$, so "
            r"$s\,BA = U_r \Sigma_r V_r^{\top}$, and freezes the residual $\hat W_{res} = "
            r"\operatorname{fl}(W_0 - \operatorname{fl}(s\cdot\operatorname{fl}(BA)))$ as the base weight. Then "
            r"$s\,BA$ has singular values $\sigma_1, \dots, \sigma_r$ and the residual has "
            r"$\sigma_{r+1}, \dots, \sigma_p$, up to the SVD's error; and the layer's computed output differs "
            r"from the original layer's by at most $\gamma_{2(d_{in}+r+2)} \big(\lvert X\rvert (\lvert W_0\rvert + "
            r"\lvert \hat W_{res}\rvert + s\lvert B\rvert\lvert A\rvert)^{\top} + \mathbf{1}\lvert b\rvert\big)$ "
            r"entrywise, whatever the SVD's accuracy."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=(
            "The output identity is exact in real arithmetic, and in floats it holds within the bound above, because "
            "the residual is formed from the rounded factors. The spectra match within the SVD's backward error, "
            "p(m, n) eps sigma_1 by LAPACK's analysis, where p is a modestly growing function without a stated "
            "constant; the check assumes p(m, n) = m n."
        ),
        derivations=(proofs.svd_init_identity, rounding.svd_init_rounding),
        references=(_PISSA, _LAPACK, _HIGHAM),
    ),
)

RUBRICS: tuple[Rubric, ...] = ()
