"""Claims for the linear algebra under LoRA: rank, the SVD, orthogonal factors, full and low rank.

Questions ``lr-rank``, ``lr-svd``, ``lr-orthogonal``, ``lr-full-rank`` and
``lr-low-rank``. Throughout, ``W`` is a real ``m x n`` matrix with SVD
``W = U Sigma V^T`` and ``p = min(m, n)``; the rubrics are in
:mod:`efx.claims.lr_linear_algebra_rubrics`.
"""

from __future__ import annotations

from efx.claims.lr_linear_algebra_rubrics import RUBRICS
from efx.claims.model import CheckKind, Claim
from efx.proofs import lr_linear_algebra as rank_proofs
from efx.proofs import lr_linear_algebra_orthogonal as orthogonal_proofs
from efx.proofs import lr_linear_algebra_svd as svd_proofs

__all__ = ["CLAIMS", "RUBRICS"]

TORCH_SEEN = "2.13.0"

_EXACT = "Exact in real arithmetic."
_SVD_FLOATS = (
    "A computed SVD is the exact SVD of $W + E$ with $\\lVert E\\rVert_2 \\le \\rho\\,\\sigma_1$ and factors "
    "$\\rho$ from orthogonal, where $\\rho$ = `efx.rank.svd_error_bound(m, n, dtype)`; the checks compare "
    "singular values, reconstructions and projectors within bounds built from $\\rho$, never raw singular vectors."
)

_RANK = (
    Claim(
        id="la.rank-definition",
        question="lr-rank",
        title="Rank is the dimension of the column space",
        statement=(
            r"For $W \in \mathbb{R}^{m \times n}$ with columns $w_1, \dots, w_n$, the rank is "
            r"$\operatorname{rank}(W) = \dim \operatorname{col}(W)$, where "
            r"$\operatorname{col}(W) = \{Wx : x \in \mathbb{R}^n\} = \operatorname{span}(w_1, \dots, w_n)$. "
            "It equals the largest number of linearly independent columns."
        ),
        checks=(CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            _EXACT
            + " In floats the check builds $W$ of exact rank $r$ and finds that its columns lie within the "
            "rounding bound of the span of $r$ computed left singular vectors and fill all $r$ directions of it."
        ),
        derivations=(rank_proofs.rank_definition_instances,),
    ),
    Claim(
        id="la.row-rank-equals-column-rank",
        question="lr-rank",
        title="Row rank equals column rank",
        statement=(
            r"For every $W \in \mathbb{R}^{m \times n}$, $\operatorname{rank}(W^{\top}) = \operatorname{rank}(W)$: "
            "the largest number of linearly independent rows equals the largest number of linearly independent columns."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            _EXACT
            + " In floats the transpose is exact, and the numerical ranks of $W$ and $W^{\\top}$ at a tolerance "
            "above the rounding noise agree whenever no singular value lies within that noise of the tolerance."
        ),
        derivations=(rank_proofs.row_rank_equals_column_rank, rank_proofs.row_rank_instances),
    ),
    Claim(
        id="la.rank-nonzero-singular-values",
        question="lr-rank",
        title="Rank is the number of nonzero singular values",
        statement=(
            r"Let $W = U\Sigma V^{\top} \in \mathbb{R}^{m \times n}$ have singular values "
            r"$\sigma_1 \ge \dots \ge \sigma_p \ge 0$, $p = \min(m, n)$. Then "
            r"$\operatorname{rank}(W) = \#\{i : \sigma_i > 0\}$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            _EXACT
            + " In floats each computed $\\hat\\sigma_i$ lies within a noise bound $e$ of $\\sigma_i$ "
            "(construction and SVD rounding, Weyl's inequality), so counting $\\hat\\sigma_i > 2e$ returns at least "
            "$\\#\\{\\sigma_i > 3e\\}$ and at most $\\#\\{\\sigma_i > e\\}$: the exact rank whenever $\\sigma_r > 3e$."
        ),
        derivations=(
            rank_proofs.rank_equals_nonzero_singular_values,
            rank_proofs.rank_singular_values_instances,
        ),
    ),
    Claim(
        id="la.rank-not-distinct-rows",
        question="lr-rank",
        title="Rank is not the number of distinct rows",
        statement=(
            r"The rows $(1, 0), (0, 1), (1, 1)$ are distinct but $\operatorname{rank} = 2$; the rows $(1, 1), (2, 2), (3, 3)$ "
            r"are distinct but $\operatorname{rank} = 1$. In general, appending to $W$ a linear combination of its "
            "rows leaves the rank unchanged, even when the new row differs from every row of $W$."
        ),
        checks=(CheckKind.EXACT_EXAMPLE, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            _EXACT
            + " The float check appends the sum of two rows (one rounding per entry) and recomputes the "
            "numerical rank at a tolerance above the rounding noise."
        ),
        derivations=(rank_proofs.distinct_rows_counterexamples,),
    ),
    Claim(
        id="la.rounding-hides-rank",
        question="lr-rank",
        title="Rounding turns zero singular values into small nonzero ones",
        statement=(
            r"Let $W \in \mathbb{R}^{m \times n}$ have exact rank $r < \min(m, n)$. The computed singular values "
            r"$\hat\sigma_{r+1}, \dots, \hat\sigma_p$ are rounding noise, at most $e$, where $e$ bounds the rounding in "
            r"forming and storing $W$ plus the SVD's backward error ($\rho\,\sigma_1$); they are usually not exactly 0. "
            r"Example: $W = AB$ with the integer matrices $A \in \mathbb{Z}^{6 \times 2}$, $B \in \mathbb{Z}^{2 \times 4}$ "
            r"of the page has exact rank 2, yet `torch.linalg.svdvals` on CPU returns 4 nonzero values in float64 and "
            "float32. So counting nonzero computed singular values overstates the rank: a numerical rank needs a tolerance."
        ),
        checks=(
            CheckKind.EXACT_EXAMPLE,
            CheckKind.SYMBOLIC_INSTANCES,
            CheckKind.TORCH_BEHAVIOUR,
            CheckKind.PROPERTY,
        ),
        arithmetic=(
            "In real arithmetic the trailing singular values are exactly 0. The bound $e$ holds in floats; "
            "whether a trailing value comes out exactly 0 depends on the matrix and the library "
            "(for the all-ones matrix torch returns exact zeros), which is why the example names torch's version."
        ),
        derivations=(rank_proofs.rounding_witness_rank,),
        torch_seen=TORCH_SEEN,
    ),
    Claim(
        id="la.default-rank-tolerance",
        question="lr-rank",
        title="The default numerical-rank tolerance of numpy and torch",
        statement=(
            r"`torch.linalg.matrix_rank(W)` and `numpy.linalg.matrix_rank(W)` count the computed singular values "
            r"strictly greater than $\tau = \hat\sigma_1 \max(m, n)\, \varepsilon$, where $\varepsilon$ is the machine "
            r"epsilon of $W$'s dtype ($2^{-52}$ for float64, $2^{-23}$ for float32). `efx.rank.numerical_rank(W)` uses the "
            "same rule when no tolerance is passed."
        ),
        checks=(CheckKind.TORCH_BEHAVIOUR, CheckKind.PROPERTY),
        arithmetic=(
            "A statement about floats. The tolerance is a convention: singular values below it are treated as noise, "
            "so a genuinely tiny singular value is dropped as well, and noise above it (large or badly scaled "
            "matrices) would be counted."
        ),
        torch_seen=TORCH_SEEN,
        references=(
            "torch.linalg.matrix_rank documentation (atol, rtol), torch 2.13",
            "numpy.linalg.matrix_rank documentation, numpy 2.4",
        ),
    ),
)

_SVD = (
    Claim(
        id="la.svd-exists-shapes",
        question="lr-svd",
        title="The three factors of the SVD and their shapes",
        statement=(
            r"Every $W \in \mathbb{R}^{m \times n}$ factors as $W = U\Sigma V^{\top}$ with $U \in \mathbb{R}^{m \times m}$ "
            r"and $V \in \mathbb{R}^{n \times n}$ orthogonal ($U^{\top}U = I_m$, $V^{\top}V = I_n$) and "
            r"$\Sigma \in \mathbb{R}^{m \times n}$ diagonal, with diagonal $\sigma_1 \ge \dots \ge \sigma_p \ge 0$, "
            r"$p = \min(m, n)$: the full SVD. Keeping the first $p$ columns of $U$ and $V$ gives the thin SVD "
            r"$W = U_p \Sigma_p V_p^{\top}$ with $U_p \in \mathbb{R}^{m \times p}$, $\Sigma_p \in \mathbb{R}^{p \times p}$, "
            r"$V_p \in \mathbb{R}^{n \times p}$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_EXACT + " " + _SVD_FLOATS,
        derivations=(svd_proofs.left_singular_vectors_orthonormal,),
        references=(
            "LAPACK Users' Guide, 3rd ed., section 4.9: error bounds for the singular value decomposition",
        ),
    ),
    Claim(
        id="la.singular-vector-relations",
        question="lr-svd",
        title="Singular vectors come in pairs",
        statement=(
            r"With $W = U\Sigma V^{\top}$, the columns $u_i$ of $U$ (left singular vectors) and $v_i$ of $V$ (right "
            r"singular vectors) satisfy $Wv_i = \sigma_i u_i$ and $W^{\top}u_i = \sigma_i v_i$ for $i \le p$; the "
            r"remaining columns satisfy $Wv_i = 0$ ($p < i \le n$) and $W^{\top}u_i = 0$ ($p < i \le m$)."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_EXACT + " " + _SVD_FLOATS,
        derivations=(
            svd_proofs.right_singular_vector_relation,
            svd_proofs.left_singular_vector_relation,
        ),
    ),
    Claim(
        id="la.svd-outer-product",
        question="lr-svd",
        title="The SVD as a sum of rank-one terms",
        statement=(
            r"$U\Sigma V^{\top} = \sum_{i=1}^{p} \sigma_i u_i v_i^{\top}$: $W$ is a sum of $p$ rank-one matrices, "
            r"weighted by the singular values, and the terms with $\sigma_i = 0$ contribute nothing."
        ),
        checks=(CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=_EXACT
        + " In floats the sum of the computed terms is the reconstruction, within its bound.",
        derivations=(svd_proofs.outer_product_instances,),
    ),
    Claim(
        id="la.singular-vectors-not-unique",
        question="lr-svd",
        title="Singular vectors are unique only up to sign, or rotation in a repeated value",
        statement=(
            r"If $W = U\Sigma V^{\top}$, then flipping the signs of $u_i$ and $v_i$ together gives another SVD; if "
            r"$\sigma_k = \sigma_{k+1}$, rotating the pairs $(u_k, u_{k+1})$ and $(v_k, v_{k+1})$ by the same angle "
            r"$\theta$ gives another SVD, whose projector $U_kU_k^{\top}$ onto the first $k$ left singular vectors differs "
            r"by $\lvert\sin\theta\rvert$ in the 2-norm. When $\sigma_k > \sigma_{k+1}$ the projector $U_kU_k^{\top}$ is "
            "the same for every SVD. So only singular values, reconstructions and projectors across a gap can be compared."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=(
            _EXACT + " In floats, projectors from two SVD implementations agree within about "
            "$2\\rho\\sigma_1 / \\text{gap}$ (the LAPACK subspace bound); without a gap they need not agree at all."
        ),
        derivations=(
            svd_proofs.sign_flip,
            svd_proofs.rotation_in_repeated_value,
            svd_proofs.rotated_projector_differs,
        ),
        references=(
            "LAPACK Users' Guide, 3rd ed., section 4.9.1: error bounds for singular vectors and subspaces",
        ),
    ),
    Claim(
        id="la.torch-svd-returns-vh",
        question="lr-svd",
        title="torch.linalg.svd returns U, S and Vh = V^T",
        statement=(
            r"`U, S, Vh = torch.linalg.svd(W)` returns $U$ ($m \times m$), the singular values as a 1-D tensor `S` "
            r"of length $p$ in descending order (not the matrix $\Sigma$), and `Vh` $= V^{\top}$ ($n \times n$), "
            r"whose rows are the right singular vectors; $W$ is `U[:, :p] @ diag(S) @ Vh[:p]`. "
            r"With `full_matrices=False`, $U$ is $m \times p$ and `Vh` is $p \times n$. Using `Vh` where $V$ is meant "
            "reconstructs a different matrix unless $V$ is symmetric."
        ),
        checks=(CheckKind.TORCH_BEHAVIOUR, CheckKind.PROPERTY),
        arithmetic=_SVD_FLOATS,
        torch_seen=TORCH_SEEN,
        references=("torch.linalg.svd documentation, torch 2.13",),
    ),
)

_ORTHOGONAL = (
    Claim(
        id="la.left-inverse-is-right-inverse",
        question="lr-orthogonal",
        title="A left inverse of a square matrix is its right inverse",
        statement=r"For square $A, B \in \mathbb{R}^{n \times n}$, $BA = I_n$ implies $AB = I_n$.",
        checks=(CheckKind.SYMBOLIC_GENERAL,),
        arithmetic=_EXACT,
        derivations=(orthogonal_proofs.left_inverse_is_right_inverse,),
    ),
    Claim(
        id="la.orthogonal-square-both-sides",
        question="lr-orthogonal",
        title="Orthonormal columns of a square matrix make its rows orthonormal",
        statement=(
            r"An orthogonal matrix is a square $U \in \mathbb{R}^{n \times n}$ with orthonormal columns, $U^{\top}U = I_n$. "
            r"Because $U$ is square, $U^{\top}$ is then also a right inverse: $UU^{\top} = I_n$. The same holds for $V$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            _EXACT + " The $U$ and $V$ of a computed full SVD satisfy both identities within "
            "$\\rho$ plus the rounding of the product."
        ),
        derivations=(
            orthogonal_proofs.orthogonal_square_both_sides,
            orthogonal_proofs.orthogonal_ideal_instances,
            orthogonal_proofs.rotation_reflection_instances,
        ),
    ),
    Claim(
        id="la.thin-projector",
        question="lr-orthogonal",
        title="A thin U_k has U_k^T U_k = I_k but U_k U_k^T is a projector, not I",
        statement=(
            r"Let $U_k \in \mathbb{R}^{n \times k}$, $k < n$, have orthonormal columns, $U_k^{\top}U_k = I_k$ (for example "
            r"the first $k$ columns of $U$). Then $P = U_kU_k^{\top}$ satisfies $P^2 = P = P^{\top}$ and "
            r"$\operatorname{tr}(P) = k$, so $P \ne I_n$; in fact $\lVert I_n - P\rVert_2 = 1$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_EXACT
        + " In floats each identity holds within $\\rho$ plus the rounding of the products.",
        derivations=(
            orthogonal_proofs.thin_projector_is_projector,
            orthogonal_proofs.thin_projector_is_not_identity,
        ),
    ),
)

_FULL_RANK = (
    Claim(
        id="la.full-rank-means-rank-n",
        question="lr-full-rank",
        title="A full-rank n x n matrix has rank n",
        statement=(
            r"Every $W \in \mathbb{R}^{m \times n}$ has $\operatorname{rank}(W) \le \min(m, n)$; $W$ has full rank when "
            r"$\operatorname{rank}(W) = \min(m, n)$. So a full-rank $W \in \mathbb{R}^{n \times n}$ has rank $n$, and both "
            "its row rank and its column rank are $n$ (they are always equal)."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=_EXACT
        + " The numerical rank never exceeds $\\min(m, n)$ either, since there are only $p$ singular values.",
        derivations=(rank_proofs.full_rank_is_rank_n, rank_proofs.full_rank_instances),
    ),
    Claim(
        id="la.full-rank-equivalences",
        question="lr-full-rank",
        title="Conditions equivalent to full rank for a square matrix",
        statement=(
            r"For $W \in \mathbb{R}^{n \times n}$ the following are equivalent: $\operatorname{rank}(W) = n$; "
            r"all singular values are positive ($\sigma_n > 0$); $\det W \ne 0$ (indeed $\lvert\det W\rvert = \sigma_1 \cdots \sigma_n$); "
            r"$W$ is invertible; the null space is $\{0\}$; the columns are linearly independent (and so are the rows)."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            _EXACT
            + " In floats the check tests them against the numerical rank at a tolerance above the "
            "rounding noise: full rank goes with a smallest computed singular value above it and no null vector, "
            "rank deficiency with a right singular vector that $W$ maps to within the noise of 0."
        ),
        derivations=(
            rank_proofs.full_rank_equivalences,
            rank_proofs.full_rank_equivalences_instances,
        ),
    ),
)

_LOW_RANK = (
    Claim(
        id="la.low-rank-spectrum",
        question="lr-low-rank",
        title="The singular value matrix of a rank-r matrix",
        statement=(
            r"$\Sigma$ is diagonal for every matrix. $W \in \mathbb{R}^{n \times n}$ has rank $r < n$ exactly when "
            r"$\Sigma = \operatorname{diag}(\sigma_1, \dots, \sigma_r, 0, \dots, 0)$ with "
            r"$\sigma_1 \ge \dots \ge \sigma_r > 0$: $r$ positive singular values followed by $n - r$ exact zeros."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=(
            _EXACT + " In floats the $n - r$ zeros come out as values at most the noise bound $e$ "
            "(see la.rounding-hides-rank) and the first $r$ within $e$ of the exact ones."
        ),
        derivations=(rank_proofs.low_rank_spectrum, rank_proofs.low_rank_spectrum_instances),
    ),
    Claim(
        id="la.sigma-identity-iff-orthogonal",
        question="lr-low-rank",
        title="Sigma is the identity exactly when W is orthogonal",
        statement=(
            r"For $W \in \mathbb{R}^{n \times n}$, $\Sigma = I_n$ if and only if $W^{\top}W = I_n$; more precisely "
            r"$\lVert W^{\top}W - I_n\rVert_2 = \max_i \lvert\sigma_i^2 - 1\rvert$. A full-rank matrix need not have "
            r"$\Sigma = I_n$, and a low-rank one never has."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_EXACT
        + " In floats both sides of the norm identity agree within the rounding of $W^{\\top}W$ and of the SVD.",
        derivations=(svd_proofs.sigma_identity_iff_orthogonal,),
    ),
    Claim(
        id="la.numerical-low-rank",
        question="lr-low-rank",
        title="Near-zero singular values mean numerical low rank",
        statement=(
            r"Let $W_k = \sum_{i \le k} \sigma_i u_i v_i^{\top}$ keep the first $k$ terms of the outer-product form. It "
            r"has rank at most $k$ and $\lVert W - W_k\rVert_2 = \sigma_{k+1}$ ($\sigma_{p+1} := 0$). So if "
            r"$\sigma_{k+1}, \dots, \sigma_p$ are small but not zero, $W$ has full rank yet lies within $\sigma_{k+1}$ "
            r"of a rank-$k$ matrix, and its numerical rank at a tolerance $\tau$ with $\sigma_{k+1} \le \tau < \sigma_k$ is $k$."
        ),
        checks=(CheckKind.PROPERTY,),
        arithmetic=(
            "The norm identity is exact in real arithmetic; in floats $\\lVert W - W_k\\rVert_2$ is within the "
            "rounding bound of $\\hat\\sigma_{k+1}$, and the numerical rank at the midpoint of a gap wider than the "
            "noise is $k$."
        ),
    ),
)

CLAIMS: tuple[Claim, ...] = _RANK + _SVD + _ORTHOGONAL + _FULL_RANK + _LOW_RANK
