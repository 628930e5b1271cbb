"""Claims for ``lr-image``: what a truncated SVD of an image looks like and how its error behaves in k."""

from __future__ import annotations

from efx.claims.model import CheckKind, Claim
from efx.proofs.lr_truncation import errors, examples, structure
from efx.proofs.lr_truncation.photograph import PRIME

_TOLERANCE_NOTE = (
    "A computed truncation in float32 or float64 is the exact truncation of $W + E$ with $\\lVert E\\rVert_F$ a "
    "small multiple of $u \\lVert W\\rVert_F$ ($u$ the unit roundoff), so measured errors match the exact "
    "values within efx.lowrank.truncation_error_tolerance."
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="tsvd.error-closed-form",
        question="lr-image",
        title="The truncation error in closed form",
        statement=(
            r"Let $W \in \mathbb{R}^{m \times n}$ have the SVD $W = U \Sigma V^\top$ with singular values "
            r"$\sigma_1 \ge \dots \ge \sigma_p \ge 0$, $p = \min(m, n)$, and for $0 \le k \le p$ let "
            r"$W_k = U_k \Sigma_k V_k^\top = \sum_{i=1}^{k} \sigma_i u_i v_i^\top$ keep the first $k$ singular "
            r"triplets ($W_0 = 0$). Then $\lVert W - W_k \rVert_F = \sqrt{\sum_{i=k+1}^{p} \sigma_i^2}$ and "
            r"$\lVert W - W_k \rVert_2 = \sigma_{k+1}$, with $\sigma_{p+1} := 0$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic="Exact in real arithmetic. " + _TOLERANCE_NOTE,
        derivations=(
            errors.frobenius_closed_form,
            errors.spectral_closed_form,
            errors.closed_forms_instances,
        ),
    ),
    Claim(
        id="tsvd.error-monotone",
        question="lr-image",
        title="The error never grows with k and is zero from the rank on",
        statement=(
            r"With $W$, $\sigma_i$ and $W_k$ as in tsvd.error-closed-form and $0 \le k < p$: "
            r"$\lVert W - W_k\rVert_F^2 - \lVert W - W_{k+1}\rVert_F^2 = \sigma_{k+1}^2 \ge 0$ and "
            r"$\lVert W - W_k\rVert_2 = \sigma_{k+1} \ge \sigma_{k+2} = \lVert W - W_{k+1}\rVert_2$. Both errors are "
            r"$0$ for every $k \ge r = \operatorname{rank} W$ and positive for $k < r$. A full-rank $n \times n$ "
            r"image is therefore reproduced exactly at $k = n$, and not at any smaller $k$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic="Exact in real arithmetic. " + _TOLERANCE_NOTE,
        derivations=(errors.error_decreases, errors.error_zero_at_rank),
    ),
    Claim(
        id="tsvd.image-full-rank",
        question="lr-image",
        title="The photograph is exactly full rank",
        statement=(
            r"The $512 \times 512$ matrix $W$ of grey levels (integers $0, \dots, 255$) of the photograph "
            r"`skimage.data.camera()` has rank $512$: Gaussian elimination modulo the prime "
            rf"${PRIME}$ finds $512$ pivots, and a minor that is nonzero modulo a prime is a nonzero integer. "
            r"Numerically, torch's default rank threshold $\max(m, n)\,\varepsilon\,\sigma_1$ is exceeded by all "
            r"$512$ singular values in float64 ($\varepsilon = 2^{-52}$) but not in float32 ($\varepsilon = 2^{-23}$): "
            r"the numerical rank depends on the dtype, the rank does not."
        ),
        checks=(CheckKind.EXACT_EXAMPLE, CheckKind.MEASURED),
        arithmetic=(
            "The rank is exact (integer arithmetic modulo a prime). The numerical ranks compare computed "
            "singular values with a threshold; the check asserts them for the float32 and float64 SVDs."
        ),
    ),
    Claim(
        id="tsvd.pixel-error",
        question="lr-image",
        title="One pixel's error can grow with k",
        statement=(
            r"The error of a single entry, $\lvert (W - W_k)_{ab} \rvert$, need not decrease with $k$, although "
            r"$\lVert W - W_k\rVert_F$ never increases. Example: $U = \frac{1}{3}\begin{pmatrix}1&2&2\\2&1&-2\\"
            r"2&-2&1\end{pmatrix}$ is orthogonal and $W = U \operatorname{diag}(3, 2, 1)\, U^\top = \frac{1}{3}"
            r"\begin{pmatrix}5&2&0\\2&6&2\\0&2&7\end{pmatrix}$; entry $(1, 2)$ has error $\frac{2}{3}, 0, "
            r"-\frac{4}{9}, 0$ at $k = 0, 1, 2, 3$, exact at $k = 1$ and wrong at $k = 2$, while "
            r"$\lVert W - W_k\rVert_F^2 = 14, 5, 1, 0$."
        ),
        checks=(CheckKind.EXACT_EXAMPLE, CheckKind.PROPERTY),
        arithmetic=(
            "Exact in rational arithmetic. In floats the entry's error at k = 1 is zero up to rounding and its "
            "error at k = 2 is -4/9 up to rounding; the check separates the two by more than the tolerance."
        ),
        derivations=(examples.pixel_example_check,),
    ),
    Claim(
        id="tsvd.rank-one-stripes",
        question="lr-image",
        title="A rank-one reconstruction is an outer product: bands, no diagonal detail",
        statement=(
            r"$W_1 = \sigma_1 u_1 v_1^\top$ has entries $(W_1)_{ab} = \sigma_1 u_a v_b$ ($u = u_1$, $v = v_1$): "
            r"row $a$ is $\sigma_1 u_a v^\top$, so every row is a multiple of the same row vector and every column "
            r"a multiple of $u$, and every $2 \times 2$ minor $(W_1)_{ab}(W_1)_{cd} - (W_1)_{ad}(W_1)_{cb}$ is zero. "
            r"An image reconstructed at $k = 1$ is one column profile times one row profile: horizontal and "
            r"vertical bands. At rank $k$ it is a sum of $k$ such products."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic="Exact in real arithmetic; in floats the minors of a computed W_1 are zero within the rounding of its entries.",
        derivations=(structure.rank_one_minors,),
    ),
    Claim(
        id="tsvd.sharpness-grows",
        question="lr-image",
        title="Edges come back gradually as k grows",
        statement=(
            r"For any $D \in \mathbb{R}^{m \times m}$, for example the vertical differences "
            r"$(DW)_{ab} = W_{a+1,b} - W_{ab}$, $\lVert D W_k\rVert_F^2 = \sum_{i=1}^{k} \sigma_i^2 \lVert D u_i\rVert^2$: "
            r"non-decreasing in $k$ and equal to $\lVert D W\rVert_F^2$ at $k = p$ (likewise "
            r"$\lVert W_k D'^\top\rVert_F^2 = \sum_{i \le k} \sigma_i^2 \lVert D' v_i\rVert^2$ for horizontal "
            r"differences). For the photograph of tsvd.image-full-rank at $k = 20$, $W_k$ keeps a smaller share of "
            r"the edge energy $\lVert DW\rVert_F^2 + \lVert WD'^\top\rVert_F^2$ than of the intensity energy "
            r"$\lVert W\rVert_F^2$: the low-rank image is blurred, not just dimmed."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY, CheckKind.MEASURED),
        arithmetic="Exact in real arithmetic; measured energies on the photograph use float64.",
        derivations=(structure.sharpness_grows,),
    ),
)
