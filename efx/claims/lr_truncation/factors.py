"""Claims for ``lr-factors``: the factors A and B of a truncated SVD, how good A B is, and computing it fast."""

from __future__ import annotations

import math

from efx.claims.model import CheckKind, Claim
from efx.proofs.lr_truncation import optimality, randomized, structure

SMALL_TAIL_EXAMPLE = {"p": 1000, "k": 10, "head": 1.0, "tail": 0.1}
"""A spectrum with 'large' leading values and 'near zero' others that still approximates poorly."""


def small_tail_example_error() -> float:
    """Return the relative Frobenius error of :data:`SMALL_TAIL_EXAMPLE`, from the closed form."""
    p, k, head, tail = (SMALL_TAIL_EXAMPLE[key] for key in ("p", "k", "head", "tail"))
    discarded = (p - k) * tail**2
    return math.sqrt(discarded / (k * head**2 + discarded))


NAIVE_POWER_EXAMPLE = {
    "n": 40,
    "k": 8,
    "oversample": 10,
    "power": 2.0,
    "iterations": {"float32": 2, "float64": 6},
}
"""The measured example of tsvd.power-iteration-rounding: sigma_i = i^-2 on a random 40 x 40 matrix."""

NAIVE_RATIO_ABOVE = 1.2
"""The unorthonormalised sample's Frobenius error exceeds the optimum by more than this factor."""

ORTHONORMALISED_RATIO_BELOW = 1.001
"""Re-orthonormalising keeps the Frobenius error within this factor of the optimum."""

_TOLERANCE_NOTE = (
    "Exact in real arithmetic. In floats, measured errors match the exact values within "
    "efx.lowrank.truncation_error_tolerance (a backward-stable SVD)."
)
_p = SMALL_TAIL_EXAMPLE

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="tsvd.factors",
        question="lr-factors",
        title="W_k = A B with A = U_k and B = Sigma_k V_k^T, a matrix product",
        statement=(
            r"Let $W = U \Sigma V^\top \in \mathbb{R}^{m \times n}$ and $1 \le k \le p = \min(m, n)$. The tall "
            r"$A = U_k \in \mathbb{R}^{m \times k}$ (the first $k$ columns of $U$) and the wide "
            r"$B = \Sigma_k V_k^\top \in \mathbb{R}^{k \times n}$ (the first $k$ rows of $\Sigma V^\top$) satisfy "
            r"$AB = W_k$ as a matrix product; so do the balanced split $A = U_k \Sigma_k^{1/2}$, "
            r"$B = \Sigma_k^{1/2} V_k^\top$ (then $A^\top A = B B^\top = \Sigma_k$) and the right split "
            r"$A = U_k \Sigma_k$, $B = V_k^\top$. With `U, S, Vh = torch.linalg.svd(W)` and 0-based slices: "
            r"`A = U[:, :k]`, `B = S[:k, None] * Vh[:k, :]` (scaling row $i$ of `Vh` by `S[i]`, the same as "
            r"`torch.diag(S[:k]) @ Vh[:k, :]`), and `A @ B` is $W_k$. The 0-based slice `U[:, 1:k]` has $k - 1$ "
            r"columns and drops $u_1$; with it the error is at least $\sqrt{\sigma_1^2 + \sum_{i>k}\sigma_i^2}$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_TOLERANCE_NOTE,
        derivations=(structure.factor_product,),
    ),
    Claim(
        id="tsvd.exact-iff-tail-zero",
        question="lr-factors",
        title="A B = W exactly if and only if the discarded singular values are zero",
        statement=(
            r"With $A$, $B$ from tsvd.factors: $\lVert W - AB\rVert_F = \sqrt{\sum_{i>k}\sigma_i^2}$, so "
            r"$AB = W$ if and only if $\sigma_{k+1} = \dots = \sigma_p = 0$, that is $\operatorname{rank} W \le k$. "
            r"Near-zero (not zero) discarded values give $W \approx AB$, never $W = AB$; and no factors of shapes "
            r"$m \times k$ and $k \times n$ reproduce a $W$ of rank above $k$, since $\operatorname{rank}(AB) \le k$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_TOLERANCE_NOTE,
        derivations=(structure.exact_iff_tail_zero,),
    ),
    Claim(
        id="tsvd.eckart-young",
        question="lr-factors",
        title="Eckart-Young-Mirsky: W_k is a best rank-k approximation",
        statement=(
            r"For every $X \in \mathbb{R}^{m \times n}$ with $\operatorname{rank} X \le k$: "
            r"$\lVert W - X\rVert_2 \ge \sigma_{k+1} = \lVert W - W_k\rVert_2$ and "
            r"$\lVert W - X\rVert_F \ge \sqrt{\sum_{i>k}\sigma_i^2} = \lVert W - W_k\rVert_F$. So the truncated SVD "
            r"is a best rank-$k$ approximation in both norms, and no method (randomized, iterative, trained) "
            r"can have a smaller error at the same rank."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in real arithmetic. In floats a competitor's measured error can fall below the optimum only by "
            "rounding, which the checks bound with efx.lowrank.truncation_error_tolerance."
        ),
        derivations=(optimality.eckart_young_spectral, optimality.eckart_young_frobenius),
        references=optimality.EYM_REFERENCES,
    ),
    Claim(
        id="tsvd.small-tail",
        question="lr-factors",
        title="How good W ~ AB is: the relative error, and why 'near zero' needs a number",
        statement=(
            r"The quality of $W \approx AB = W_k$ is the relative error "
            r"$\rho_k = \lVert W - W_k\rVert_F / \lVert W\rVert_F = \sqrt{\sum_{i>k}\sigma_i^2 / \sum_{i}\sigma_i^2}$ "
            r"(and $\sigma_{k+1}/\sigma_1$ in the spectral norm). If every discarded value is at most $\delta$, then "
            r"$\lVert W - W_k\rVert_2 \le \delta$ and $\lVert W - W_k\rVert_F \le \sqrt{p - k}\,\delta$: small "
            r"discarded values mean a good approximation only when $\sqrt{p-k}\,\delta$ is small against "
            rf"$\lVert W\rVert_F$. Example: $p = {_p['p']}$, $\sigma_1 = \dots = \sigma_{{{_p['k']}}} = {_p['head']:g}$ and "
            rf"the other ${_p['p'] - _p['k']}$ values ${_p['tail']:g}$ give $\rho_{{{_p['k']}}} = "
            rf"{small_tail_example_error():.3f}$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_TOLERANCE_NOTE
        + " The example's value is computed from the closed form and checked to 3 decimals.",
        derivations=(optimality.small_tail_bound,),
    ),
    Claim(
        id="tsvd.lora-notation",
        question="lr-factors",
        title="Name clash: the question's A is LoRA's B",
        statement=(
            r"The question writes $W \approx AB$ with $A \in \mathbb{R}^{n \times k}$ tall and "
            r"$B \in \mathbb{R}^{k \times n}$ wide. LoRA (Hu et al.) writes the update of a weight "
            r"$W_0 \in \mathbb{R}^{d \times k}$ as $\Delta W = BA$ with $B \in \mathbb{R}^{d \times r}$ tall (set to "
            r"zero at initialisation) and $A \in \mathbb{R}^{r \times k}$ wide, where $r$ is the rank and $k$ the "
            r"input size. The letters swap: the question's $A$ is in LoRA's $B$ position and its $B$ in LoRA's "
            r"$A$ position. For `torch.nn.Linear(in_features, out_features)`, whose weight has shape "
            r"`(out_features, in_features)`, the tall factor has `out_features` rows and an input $x$ meets the "
            r"wide factor first: $\Delta W x = B_{\text{LoRA}}(A_{\text{LoRA}}\, x)$."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic="Shapes are exact; the forward-path identity holds within the rounding of two matrix products.",
        references=(
            "E. J. Hu, Y. Shen, P. Wallis, Z. Allen-Zhu, Y. Li, S. Wang, L. Wang and W. Chen, LoRA: Low-Rank "
            "Adaptation of Large Language Models, ICLR 2022, arXiv:2106.09685",
        ),
    ),
    Claim(
        id="tsvd.randomized-bound",
        question="lr-factors",
        title="The randomized SVD is near-optimal when the spectrum has a gap",
        statement=(
            r"Let $1 \le k < p$ with $\sigma_k > 0$, $\Omega \in \mathbb{R}^{n \times l}$ ($l \ge k$), $q \ge 0$, "
            r"$Q$ an orthonormal basis of $\operatorname{range}((WW^\top)^q W \Omega)$ and "
            r"$\widehat W_k = Q\,[Q^\top W]_k$, which `efx.lowrank.randomized_svd` computes. If "
            r"$\Omega_1 = V_k^\top \Omega$ has full row rank, then $\lVert W - \widehat W_k\rVert_F^2 \le "
            r"\sum_{i>k}\sigma_i^2 + (\sigma_{k+1}/\sigma_k)^{4q}\,\lVert \Sigma_r \Omega_2 \Omega_1^+\rVert_F^2$, "
            r"where $\Omega_2 = V_r^\top\Omega$ and $\Sigma_r$ holds $\sigma_{k+1}, \dots, \sigma_p$. For a Gaussian "
            r"$\Omega$ with $l = k + s$, $s \ge 2$, $\mathbb{E}\lVert\Sigma_r\Omega_2\Omega_1^+\rVert_F^2 = "
            r"\frac{k}{s-1}\sum_{i>k}\sigma_i^2$, so with probability at least $1 - 1/t$ the ratio to the "
            r"Eckart-Young optimum is $\lVert W - \widehat W_k\rVert_F / \lVert W - W_k\rVert_F \le "
            r"\sqrt{1 + t\,(\sigma_{k+1}/\sigma_k)^{4q}\,k/(s-1)}$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=(
            "Exact-arithmetic bounds. The checks add, per product with W and per QR, the backward error of "
            "efx.lowrank.svd_backward_error; re-orthonormalising after every product keeps the computed basis "
            "close to the exact one (see tsvd.power-iteration-rounding for what happens without it)."
        ),
        derivations=(
            randomized.sample_structure,
            randomized.error_bound,
            randomized.gaussian_expectation,
        ),
        references=(
            "N. Halko, P.-G. Martinsson and J. A. Tropp, Finding structure with randomness: probabilistic "
            "algorithms for constructing approximate matrix decompositions, SIAM Review 53(2), 217-288, 2011",
        ),
    ),
    Claim(
        id="tsvd.power-iteration-rounding",
        question="lr-factors",
        title="Power iterations without re-orthonormalisation lose the tail to rounding",
        statement=(
            r"Forming $Y = (WW^\top)^q W\Omega$ with no orthonormalisation between products scales the component "
            r"of $Y$ along $u_i$ by $\sigma_i^{2q+1}$; once $(\sigma_k/\sigma_1)^{2q+1}$ is far below the unit "
            r"roundoff $u$, the directions $u_k, \dots$ drown in the rounding of the $u_1$ component and "
            rf"$Q[Q^\top W]_k$ misses part of the top $k$. Measured with $\sigma_i = i^{{-2}}$ on random "
            rf"${NAIVE_POWER_EXAMPLE['n']} \times {NAIVE_POWER_EXAMPLE['n']}$ matrices, "
            rf"$k = {NAIVE_POWER_EXAMPLE['k']}$, $l = k + {NAIVE_POWER_EXAMPLE['oversample']}$: with $q = 2$ in "
            rf"float32 and $q = 6$ in float64 the Frobenius error exceeds the optimum by a factor above "
            rf"${NAIVE_RATIO_ABOVE}$, while re-orthonormalising after every product stays below "
            rf"${ORTHONORMALISED_RATIO_BELOW}$."
        ),
        checks=(CheckKind.MEASURED,),
        arithmetic=(
            "A floating-point effect: in exact arithmetic both versions span the same subspace and have the same "
            "error. The check measures both on five seeded matrices per dtype."
        ),
        references=(
            "N. Halko, P.-G. Martinsson and J. A. Tropp, SIAM Review 53(2), 2011 (their subspace iteration "
            "orthonormalises between applications of W and W^T)",
        ),
    ),
)
