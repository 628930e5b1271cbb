"""Rubrics for ``lr-rank``, ``lr-svd``, ``lr-orthogonal``, ``lr-full-rank`` and ``lr-low-rank``.

Each rubric lists the minimal full-credit answer, weighted key points tied to the claims of
:mod:`efx.claims.lr_linear_algebra`, and common mistakes. A mistake marked ``in_submitted``
appears in the submitted answer set that the graders mark; its correction is the claim it cites.
Every number in a counterexample is asserted by that claim's checks.
"""

from __future__ import annotations

from efx.claims.model import KeyPoint, Mistake, Rubric

_RANK = Rubric(
    question="lr-rank",
    answer=(
        r"The rank of $W \in \mathbb{R}^{m \times n}$ is the dimension of its column space "
        r"$\operatorname{col}(W) = \{Wx\}$: the largest number of linearly independent columns. It also equals the "
        r"largest number of linearly independent rows, because row rank equals column rank, and the number of nonzero "
        r"singular values. It is not the number of distinct rows: $(1, 0), (0, 1), (1, 1)$ are distinct and the rank is 2. "
        r"In floating point, rounding turns zero singular values into small nonzero ones, so a computed rank counts the "
        r"singular values above a stated tolerance, by default $\hat\sigma_1 \max(m, n)\,\varepsilon$ in numpy and torch."
    ),
    key_points=(
        KeyPoint(
            "Dimension of the column space: the largest number of linearly independent columns.",
            3,
            ("la.rank-definition",),
            ("dimension of the range (image) of $W$", "number of pivots after row reduction"),
        ),
        KeyPoint(
            "Row rank equals column rank, so counting independent rows gives the same number.",
            2,
            ("la.row-rank-equals-column-rank",),
            (r"$\operatorname{rank}(W) = \operatorname{rank}(W^{\top})$",),
        ),
        KeyPoint(
            "It equals the number of nonzero singular values.",
            2,
            ("la.rank-nonzero-singular-values",),
            (r"the number of nonzero eigenvalues of $W^{\top}W$",),
        ),
        KeyPoint(
            "Independence, not distinctness, is what counts.",
            1,
            ("la.rank-not-distinct-rows",),
        ),
        KeyPoint(
            "A rank computed in floating point needs a tolerance on the singular values.",
            2,
            ("la.rounding-hides-rank", "la.default-rank-tolerance"),
            (
                r"numerical rank $= \#\{i : \hat\sigma_i > \tau\}$",
                "`matrix_rank` counts singular values above a threshold",
            ),
        ),
    ),
    mistakes=(
        Mistake(
            wrong="Rank is the number of unique (distinct) rows or columns.",
            why="Distinct rows can be linearly dependent: a row that is a sum or multiple of others is distinct but adds no dimension.",
            claim="la.rank-not-distinct-rows",
            counterexample=r"The rows $(1, 0), (0, 1), (1, 1)$ are distinct and the rank is 2; the rows $(1, 1), (2, 2), (3, 3)$ are distinct and the rank is 1.",
            in_submitted=True,
        ),
        Mistake(
            wrong="Rank is 'the maximum number of linearly independent rows or columns', with no reason why the two counts agree.",
            why="The 'or' is only well defined because row rank equals column rank, a theorem the answer needs to state.",
            claim="la.row-rank-equals-column-rank",
            counterexample=r"The $3 \times 2$ matrix with rows $(1, 0), (0, 1), (1, 1)$ has three rows and two columns, and both counts of independent ones are 2.",
            in_submitted=True,
        ),
        Mistake(
            wrong="Rank is the number of nonzero eigenvalues of $W$.",
            why="Eigenvalues do not count dimensions for non-symmetric matrices, and a non-square matrix has none; the singular values do.",
            claim="la.rank-nonzero-singular-values",
            counterexample=r"$\begin{bmatrix} 0 & 1 \\ 0 & 0 \end{bmatrix}$ has rank 1 and both eigenvalues 0; its singular values are 1 and 0.",
        ),
        Mistake(
            wrong="In code, the rank is the number of nonzero computed singular values.",
            why="Rounding leaves values of order $\\varepsilon\\,\\sigma_1$ in place of the exact zeros, so the count overstates the rank.",
            claim="la.rounding-hides-rank",
            counterexample="The integer matrix $W = AB$ of the page has exact rank 2, and `torch.linalg.svdvals(W)` returns 4 nonzero values.",
        ),
    ),
)

_SVD = Rubric(
    question="lr-svd",
    answer=(
        r"$W = U\Sigma V^{\top}$ for $W \in \mathbb{R}^{m \times n}$, with $p = \min(m, n)$: "
        r"$U \in \mathbb{R}^{m \times m}$ is orthogonal and its columns $u_i$ are the left singular vectors; "
        r"$\Sigma \in \mathbb{R}^{m \times n}$ is diagonal with the singular values $\sigma_1 \ge \dots \ge \sigma_p \ge 0$; "
        r"$V \in \mathbb{R}^{n \times n}$ is orthogonal and its columns $v_i$ (the rows of $V^{\top}$) are the right singular "
        r"vectors. They satisfy $Wv_i = \sigma_i u_i$ and $W^{\top}u_i = \sigma_i v_i$, so "
        r"$W = \sum_{i} \sigma_i u_i v_i^{\top}$. The thin SVD keeps $U_p$ ($m \times p$), $\Sigma_p$ ($p \times p$) and "
        r"$V_p$ ($n \times p$). Singular vectors are unique only up to sign, and up to rotation within a repeated "
        r"singular value. `torch.linalg.svd` returns `U`, the vector `S` and `Vh` $= V^{\top}$."
    ),
    key_points=(
        KeyPoint(
            r"$U$: $m \times m$ orthogonal, columns are the left singular vectors.",
            2,
            ("la.svd-exists-shapes", "la.singular-vector-relations"),
            ("eigenvectors of $WW^{\\top}$ as the columns of $U$",),
        ),
        KeyPoint(
            r"$\Sigma$: $m \times n$ diagonal, singular values non-negative and sorted in decreasing order.",
            2,
            ("la.svd-exists-shapes",),
            (r"square roots of the eigenvalues of $W^{\top}W$ on the diagonal",),
        ),
        KeyPoint(
            r"$V$: $n \times n$ orthogonal, columns are the right singular vectors; the factor in the product is $V^{\top}$.",
            2,
            ("la.svd-exists-shapes", "la.singular-vector-relations"),
            ("eigenvectors of $W^{\\top}W$ as the columns of $V$",),
        ),
        KeyPoint(
            r"How the factors relate to $W$: $Wv_i = \sigma_i u_i$, or the sum of rank-one terms $\sigma_i u_i v_i^{\top}$.",
            1,
            ("la.singular-vector-relations", "la.svd-outer-product"),
        ),
        KeyPoint(
            r"The thin form and its shapes, with $p = \min(m, n)$.", 1, ("la.svd-exists-shapes",)
        ),
        KeyPoint(
            "Singular vectors are not unique (sign, rotation in a repeated value).",
            1,
            ("la.singular-vectors-not-unique",),
        ),
        KeyPoint(
            "torch returns `Vh` $= V^{\\top}$ and the singular values as a vector.",
            1,
            ("la.torch-svd-returns-vh",),
        ),
    ),
    mistakes=(
        Mistake(
            wrong=r"$U$ is 'the left singular vector' and $V^{\top}$ 'the right singular vector'.",
            why="U and V are matrices; each column of U is a left singular vector and each column of V a right singular vector, one pair per singular value.",
            claim="la.singular-vector-relations",
            counterexample=r"$W = \operatorname{diag}(2, 1)$ has $U = V = I_2$: two left and two right singular vectors, with $We_i = \sigma_i e_i$.",
            in_submitted=True,
        ),
        Mistake(
            wrong=r"$V^{\top}$ holds the right singular vectors as its columns (or torch's `Vh` is $V$).",
            why=r"The right singular vectors are the columns of $V$, so the rows of $V^{\top}$; torch returns `Vh` $= V^{\top}$.",
            claim="la.torch-svd-returns-vh",
            counterexample=r"For $W = \begin{bmatrix} 2 & 1 \\ 0 & 1 \end{bmatrix}$, `U @ diag(S) @ Vh` rebuilds $W$ and `U @ diag(S) @ Vh.T` does not.",
            in_submitted=True,
        ),
        Mistake(
            wrong=r"$\Sigma$ is described only as 'a diagonal matrix of the singular values'.",
            why=r"The answer omits that $\Sigma$ is $m \times n$ (not square unless $m = n$), and that its entries are non-negative and sorted in decreasing order.",
            claim="la.svd-exists-shapes",
            counterexample=r"For $W \in \mathbb{R}^{2 \times 3}$, $\Sigma = \begin{bmatrix} \sigma_1 & 0 & 0 \\ 0 & \sigma_2 & 0 \end{bmatrix}$.",
            in_submitted=True,
        ),
        Mistake(
            wrong=r"$U$ and $V^{\top}$ are described by their uses ('a new basis', 'dimensionality reduction') with no shapes and no orthogonality.",
            why="A product of three matrices with a diagonal middle is an SVD only when the outer factors are orthogonal; the shapes say which factor is which.",
            claim="la.svd-exists-shapes",
            counterexample=r"$W = W \cdot I_n \cdot I_n$ has a diagonal middle factor, but it is not an SVD unless $W$ is orthogonal.",
            in_submitted=True,
        ),
        Mistake(
            wrong="The singular vectors are unique, so two libraries return the same U and V.",
            why="Flipping the signs of u_i and v_i together, or rotating pairs inside a repeated singular value, gives another valid SVD.",
            claim="la.singular-vectors-not-unique",
            counterexample=r"$(-u_1)\,\sigma_1(-v_1)^{\top} = \sigma_1 u_1 v_1^{\top}$, so negating the first columns of $U$ and $V$ changes neither $W$ nor $\Sigma$.",
        ),
    ),
)

_ORTHOGONAL = Rubric(
    question="lr-orthogonal",
    answer=(
        r"An orthogonal matrix is a square $U \in \mathbb{R}^{n \times n}$ with orthonormal columns: $U^{\top}U = I_n$. "
        r"For square matrices a left inverse is also a right inverse: $BA = I_n$ gives $\det B \det A = 1$, so "
        r"$\det A \ne 0$, $A^{-1}$ exists and $B = B(AA^{-1}) = (BA)A^{-1} = A^{-1}$, hence $AB = I_n$. With "
        r"$B = U^{\top}$ and $A = U$ this gives $UU^{\top} = I_n$; the same argument gives $VV^{\top} = I_n$. "
        r"Squareness is essential: the first $k < n$ columns $U_k$ still satisfy $U_k^{\top}U_k = I_k$, but "
        r"$U_kU_k^{\top}$ is the projector onto their span, of trace $k$, not $I_n$."
    ),
    key_points=(
        KeyPoint(
            r"The definition: $U$ is square and $U^{\top}U = I_n$ (orthonormal columns).",
            2,
            ("la.orthogonal-square-both-sides",),
            (r"$U^{\top} = U^{-1}$ stated as a consequence, with $U$ square",),
        ),
        KeyPoint(
            "A left inverse of a square matrix is a right inverse, with a reason (determinant, rank or dimension).",
            4,
            ("la.left-inverse-is-right-inverse",),
            (
                r"$U^{\top}U = I$ makes the columns independent, so the square $U$ is invertible and $U^{-1} = U^{\top}$",
                r"$U^{\top}U = I \Rightarrow \det(U)^2 = 1 \Rightarrow U$ invertible",
            ),
        ),
        KeyPoint(
            r"Hence $UU^{\top} = I$, and the same for $V$.", 2, ("la.orthogonal-square-both-sides",)
        ),
        KeyPoint(
            r"It fails without squareness: $U_kU_k^{\top}$ is a rank-$k$ projector.",
            2,
            ("la.thin-projector",),
            (r"$UU^{\top} = I$ needs $U$ square",),
        ),
    ),
    mistakes=(
        Mistake(
            wrong="An orthogonal matrix is defined as one whose product with its transpose is I, so UU^T = I by definition.",
            why=(
                r"This assumes the conclusion. The definition gives one product, $U^{\top}U = I_n$; the other follows only "
                "because U is square, which the answer never uses."
            ),
            claim="la.left-inverse-is-right-inverse",
            counterexample=r"$U_k = (1, 0)^{\top}$ has $U_k^{\top}U_k = I_1$ but $U_kU_k^{\top} = \operatorname{diag}(1, 0) \ne I_2$.",
            in_submitted=True,
        ),
        Mistake(
            wrong="'Multiplied by its transpose' without saying on which side.",
            why=r"For a non-square factor the two products differ even in size ($k \times k$ against $n \times n$), and only one is the identity.",
            claim="la.thin-projector",
            counterexample=r"$U_k = (1, 0)^{\top}$: $U_k^{\top}U_k$ is $1 \times 1$, $U_kU_k^{\top}$ is $2 \times 2$.",
            in_submitted=True,
        ),
        Mistake(
            wrong=r"$U_kU_k^{\top} = I$ for the first $k$ columns of $U$, as used in truncated SVD.",
            why="U_k U_k^T is the orthogonal projector onto the span of the k columns; its trace is k < n.",
            claim="la.thin-projector",
            counterexample=r"$\operatorname{tr}(U_kU_k^{\top}) = k$ while $\operatorname{tr}(I_n) = n$.",
        ),
        Mistake(
            wrong=r"Orthogonal means symmetric, $U^{\top} = U$.",
            why="Orthogonal means U^T = U^{-1}; rotations are orthogonal and not symmetric.",
            claim="la.orthogonal-square-both-sides",
            counterexample=r"The rotation $\begin{bmatrix} \cos\theta & -\sin\theta \\ \sin\theta & \cos\theta \end{bmatrix}$ is orthogonal for every $\theta$ and symmetric only when $\sin\theta = 0$.",
        ),
    ),
)

_FULL_RANK = Rubric(
    question="lr-full-rank",
    answer=(
        r"Its rank is $n$. Every $W \in \mathbb{R}^{m \times n}$ has $\operatorname{rank}(W) \le \min(m, n)$, and full rank "
        r"means the bound is reached; for a square $W$ that is $n$, and row rank and column rank are both $n$ because they "
        r"are always equal. Equivalently: all $n$ singular values are positive, $\det W \ne 0$, $W$ is invertible, the null "
        r"space is $\{0\}$, and the columns (and rows) are linearly independent."
    ),
    key_points=(
        KeyPoint(r"$\operatorname{rank}(W) = n$.", 5, ("la.full-rank-means-rank-n",)),
        KeyPoint(
            r"Full rank means the largest possible rank, $\min(m, n)$.",
            2,
            ("la.full-rank-means-rank-n",),
            (r"rank $n$ because an $n \times n$ matrix has at most $n$ independent columns",),
        ),
        KeyPoint(
            r"At least two equivalent conditions: invertible, $\det W \ne 0$, $\sigma_n > 0$, trivial null space, independent columns.",
            3,
            ("la.full-rank-equivalences",),
        ),
    ),
    mistakes=(
        Mistake(
            wrong="Says that row rank and column rank are both n, without saying that the two are always equal.",
            why="Row rank always equals column rank, so 'both' reads as two conditions where there is one number, n.",
            claim="la.row-rank-equals-column-rank",
            counterexample=r"No matrix has row rank different from column rank; $\operatorname{rank}(W^{\top}) = \operatorname{rank}(W)$ for every $W$.",
            in_submitted=True,
        ),
        Mistake(
            wrong="Gives the rank without saying what full rank means for W (invertible, all singular values positive).",
            why="Full rank is the maximum rank min(m, n), and for a square matrix it is the same condition as invertibility; the answer leaves this out.",
            claim="la.full-rank-equivalences",
            counterexample=r"$\operatorname{diag}(1, 0)$ has rank 1 < 2: $\det = 0$, $\sigma_2 = 0$, and $e_2$ spans its null space.",
            in_submitted=True,
        ),
        Mistake(
            wrong=r"A full-rank $m \times n$ matrix has rank $\max(m, n)$, or rank $n$ whatever $m$ is.",
            why="The rank is at most min(m, n): the column space lies in R^m and is spanned by n columns.",
            claim="la.full-rank-means-rank-n",
            counterexample=r"A $2 \times 3$ matrix has rank at most 2.",
        ),
        Mistake(
            wrong=r"Full rank means $\det W = 1$, or that no entry is zero.",
            why="Full rank means det W != 0, of any size; zero entries are irrelevant.",
            claim="la.full-rank-equivalences",
            counterexample=r"$2I_2$ has full rank and $\det = 4$; $\begin{bmatrix} 1 & 1 \\ 1 & 1 \end{bmatrix}$ has no zero entry and rank 1.",
        ),
    ),
)

_LOW_RANK = Rubric(
    question="lr-low-rank",
    answer=(
        r"$\Sigma$ is still diagonal: it is diagonal for every matrix. If $\operatorname{rank}(W) = r < n$, exactly $r$ "
        r"singular values are positive and the other $n - r$ are exactly zero: "
        r"$\Sigma = \operatorname{diag}(\sigma_1, \dots, \sigma_r, 0, \dots, 0)$ with $\sigma_1 \ge \dots \ge \sigma_r > 0$. "
        r"Low rank has nothing to do with $\Sigma$ being the identity: $\Sigma = I_n$ only for orthogonal $W$. "
        r"If the trailing singular values are small but not zero, $W$ has full rank but is numerically of low rank: it lies "
        r"within $\sigma_{k+1}$ of the rank-$k$ matrix $W_k$, and its rank at a tolerance between $\sigma_{k+1}$ and "
        r"$\sigma_k$ is $k$."
    ),
    key_points=(
        KeyPoint(
            r"$\Sigma$ is diagonal whatever the rank.",
            2,
            ("la.low-rank-spectrum", "la.svd-exists-shapes"),
        ),
        KeyPoint(
            r"Exactly $r$ positive singular values first, then $n - r$ exact zeros.",
            4,
            ("la.low-rank-spectrum",),
            (r"the number of nonzero diagonal entries of $\Sigma$ is the rank",),
        ),
        KeyPoint(
            r"$\Sigma = I$ only for orthogonal $W$; it is not what low rank changes.",
            2,
            ("la.sigma-identity-iff-orthogonal",),
        ),
        KeyPoint(
            "Small but nonzero singular values mean numerical low rank, judged against a tolerance.",
            2,
            ("la.numerical-low-rank", "la.rounding-hides-rank"),
            (r"$\lVert W - W_k\rVert_2 = \sigma_{k+1}$",),
        ),
    ),
    mistakes=(
        Mistake(
            wrong="For a low-rank W the singular value matrix is 'not a perfect diagonal identity matrix'.",
            why=(
                r"$\Sigma$ is diagonal for every matrix, and it is the identity only for orthogonal matrices; the statement "
                r"suggests that a full-rank matrix has $\Sigma = I$ and that low rank spoils the diagonal."
            ),
            claim="la.sigma-identity-iff-orthogonal",
            counterexample=r"$\operatorname{diag}(2, 1)$ has full rank and $\Sigma = \operatorname{diag}(2, 1) \ne I_2$; a rank-1 matrix $ab^{\top}$ has $\Sigma = \operatorname{diag}(\lVert a\rVert\lVert b\rVert, 0, \dots, 0)$, still diagonal.",
            in_submitted=True,
        ),
        Mistake(
            wrong="The remaining singular values are 'very close to or equal to zero'.",
            why=(
                "For a matrix of exact rank r they are exactly zero. Values that are only close to zero leave W of full rank; "
                "calling it low rank then needs a tolerance, which the answer does not give."
            ),
            claim="la.low-rank-spectrum",
            counterexample=r"$\operatorname{diag}(1, \delta)$ has rank 2 for every $\delta > 0$, however small.",
            in_submitted=True,
        ),
        Mistake(
            wrong="'Not full rank' and 'low rank' are used as the same thing.",
            why="Rank-deficient means r < n; low rank usually means r much smaller than n, the case that makes a factorisation cheap. The number of zeros, n - r, says which.",
            claim="la.low-rank-spectrum",
            counterexample=r"$\operatorname{diag}(1, 1, 0)$ is not full rank but has only one zero singular value.",
            in_submitted=True,
        ),
        Mistake(
            wrong="Σ has 'a limited number' of nonzero singular values, without saying how many or where.",
            why="The number of nonzero singular values is the rank r, and sorting puts them first.",
            claim="la.low-rank-spectrum",
            counterexample=r"A rank-2 matrix in $\mathbb{R}^{3 \times 3}$ has $\Sigma = \operatorname{diag}(\sigma_1, \sigma_2, 0)$ with $\sigma_2 > 0$.",
            in_submitted=True,
        ),
    ),
)

RUBRICS: tuple[Rubric, ...] = (_RANK, _SVD, _ORTHOGONAL, _FULL_RANK, _LOW_RANK)
