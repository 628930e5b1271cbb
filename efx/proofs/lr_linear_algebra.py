"""Derivations for rank, full rank and low rank (questions ``lr-rank``, ``lr-full-rank``, ``lr-low-rank``).

Symbols follow the notation page: ``W`` is a real ``m x n`` matrix with SVD ``W = U Sigma V^T``,
``p = min(m, n)`` and singular values ``sigma_1 >= ... >= sigma_p >= 0``.

Rank has no closed form that sympy can manipulate for symbolic sizes, so the general
derivations check their algebraic steps with matrix symbols and argue the lemmas of linear
algebra in prose. An exhaustive exact computation cross-checks each of them. It covers every
small matrix with entries in ``{-1, 0, 1}`` and every 3 x 3 matrix with entries in ``{0, 1}``,
and it computes each side of a claim by its own method: the rank by row reduction, the largest
independent set of columns or rows by Gram determinants, and the nonzero singular values from
the principal minors of ``W^T W`` (the coefficients of its characteristic polynomial).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import sympy
from sympy import QQ
from sympy.polys.matrices import DomainMatrix
from sympy.polys.matrices.exceptions import DMNonInvertibleMatrixError

from efx.proofs.derivation import (
    Check,
    Derivation,
    Relation,
    Scope,
    Step,
    algebra,
    assumption,
    computation,
    definition,
    lemma,
)

m, n, k = sympy.symbols("m n k", integer=True, positive=True)
U = sympy.MatrixSymbol("U", m, m)
Sigma = sympy.MatrixSymbol("Sigma", m, n)
V = sympy.MatrixSymbol("V", n, n)

SVD_SYMBOLS = (
    (r"W \in \mathbb{R}^{m \times n}", "the matrix"),
    (r"W = U\Sigma V^{\top}", r"an SVD: $U^{\top}U = I_m$, $V^{\top}V = I_n$, $\Sigma$ diagonal"),
    ("p = \\min(m, n)", "the number of singular values"),
    (r"\sigma_1 \ge \dots \ge \sigma_p \ge 0", r"the diagonal of $\Sigma$"),
)


def holds(fact: Callable[[], object]) -> Check:
    """Wrap a sympy fact as a step check that ignores the steps' LaTeX and returns ``bool(fact())``."""
    return lambda _previous, _current: bool(fact())


def vanishes_for_every_angle(matrix: sympy.Matrix, angle: sympy.Symbol) -> bool:
    """Check that every entry, a polynomial in ``cos(angle)`` and ``sin(angle)``, is 0 for every angle.

    With ``c = cos(angle)`` and ``s = sin(angle)`` each entry becomes a polynomial in ``c, s``.
    It vanishes on the whole unit circle exactly when ``c^2 + s^2 - 1`` divides it, that is
    when its remainder modulo that single polynomial (a Groebner basis on its own) is 0.
    Polynomial division is much faster than ``sympy.simplify`` on trigonometric expressions.
    """
    c, s = sympy.symbols("c s", real=True)
    circle = c**2 + s**2 - 1
    for entry in matrix:
        polynomial = sympy.expand(entry.subs({sympy.cos(angle): c, sympy.sin(angle): s}))
        if polynomial.has(angle) or sympy.reduced(polynomial, [circle], s, c)[1] != 0:
            return False
    return True


# Exhaustive cross-check over small integer matrices.

ENTRY_VALUES = (-1, 0, 1)
BINARY_VALUES = (0, 1)


Rows = list[list[int]]


@dataclass(frozen=True)
class MatrixFacts:
    """Exact facts about one small integer matrix, each computed by its own method.

    Attributes:
        shape: ``(m, n)``.
        rank: rank by Gaussian elimination over the rationals (:func:`eliminated_rank`).
        rank_transpose: the same for ``W^T``.
        independent_columns: size of the largest set of columns with a nonzero Gram determinant.
        independent_rows: the same for rows.
        nonzero_singular_values: the number of nonzero eigenvalues of ``W^T W`` (the
            ``sigma_i^2``): the largest ``k`` whose elementary symmetric function of the
            eigenvalues, the sum of the principal ``k x k`` minors, is not zero.
        nullity: dimension of the null space, from a basis that sympy computes, for square
            matrices; None otherwise.
        determinant: the determinant for square matrices, else None.
        invertible: whether sympy's exact inversion succeeds, for square matrices, else None.
        distinct_rows: the number of different rows.
    """

    shape: tuple[int, int]
    rank: int
    rank_transpose: int
    independent_columns: int
    independent_rows: int
    nonzero_singular_values: int
    nullity: int | None
    determinant: int | None
    invertible: bool | None
    distinct_rows: int


def eliminated_rank(rows: Rows) -> int:
    """Return the rank of an integer matrix by Gaussian elimination over the rationals."""
    matrix = [[Fraction(x) for x in row] for row in rows]
    rank = 0
    for column in range(len(matrix[0]) if matrix else 0):
        pivot = next((r for r in range(rank, len(matrix)) if matrix[r][column] != 0), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for r in range(len(matrix)):
            if r != rank and matrix[r][column] != 0:
                factor = matrix[r][column] / matrix[rank][column]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[rank], strict=True)]
        rank += 1
    return rank


def determinant(matrix: Rows) -> int:
    """Return the determinant of a small square integer matrix by cofactor expansion."""
    if not matrix:
        return 1
    return sum(
        (-1) ** j * matrix[0][j] * determinant([row[:j] + row[j + 1 :] for row in matrix[1:]])
        for j in range(len(matrix))
    )


def _gram(vectors: Rows) -> Rows:
    return [[sum(a * b for a, b in zip(x, y, strict=True)) for y in vectors] for x in vectors]


def _largest_independent_set(vectors: Rows) -> int:
    for size in range(len(vectors), 0, -1):
        for subset in itertools.combinations(vectors, size):
            if determinant(_gram(list(subset))) != 0:
                return size
    return 0


def _nonzero_eigenvalue_count(gram: Rows) -> int:
    # The coefficient of lambda^(n-k) in det(lambda I - G) is (-1)^k e_k, and e_k, the sum of
    # the principal k x k minors, is the k-th elementary symmetric function of the eigenvalues.
    # For the symmetric positive semi-definite G the largest k with e_k != 0 counts the
    # nonzero eigenvalues.
    size = len(gram)
    count = 0
    for order in range(1, size + 1):
        minors = sum(
            determinant([[gram[a][b] for b in subset] for a in subset])
            for subset in itertools.combinations(range(size), order)
        )
        if minors != 0:
            count = order
    return count


def _facts(entries: tuple[int, ...], rows: int, cols: int) -> MatrixFacts:
    W = [list(entries[i * cols : (i + 1) * cols]) for i in range(rows)]
    columns = [list(column) for column in zip(*W, strict=True)]

    nullity: int | None = None
    det: int | None = None
    invertible: bool | None = None
    if rows == cols:
        exact = DomainMatrix([[QQ(x) for x in row] for row in W], (rows, cols), QQ)
        nullity = exact.nullspace().shape[0]
        det = determinant(W)
        try:
            exact.inv()
            invertible = True
        except DMNonInvertibleMatrixError:
            invertible = False

    return MatrixFacts(
        shape=(rows, cols),
        rank=eliminated_rank(W),
        rank_transpose=eliminated_rank(columns),
        independent_columns=_largest_independent_set(columns),
        independent_rows=_largest_independent_set(W),
        nonzero_singular_values=_nonzero_eigenvalue_count(_gram(columns)),
        nullity=nullity,
        determinant=det,
        invertible=invertible,
        distinct_rows=len({tuple(row) for row in W}),
    )


def _enumerated_shapes() -> list[tuple[tuple[int, int], tuple[int, ...]]]:
    shapes = [(r, c) for r in (1, 2, 3) for c in (1, 2, 3) if r * c <= 6]
    return [(shape, ENTRY_VALUES) for shape in shapes] + [((3, 3), BINARY_VALUES)]


@functools.cache
def small_matrix_facts() -> tuple[MatrixFacts, ...]:
    """Compute :class:`MatrixFacts` for every enumerated small matrix (cached)."""
    facts = []
    for (rows, cols), values in _enumerated_shapes():
        for entries in itertools.product(values, repeat=rows * cols):
            facts.append(_facts(entries, rows, cols))
    return tuple(facts)


def enumeration_bound() -> str:
    """Describe the enumerated matrices, with their count, for an INSTANCES derivation."""
    ternary = sum(3 ** (r * c) for (r, c), values in _enumerated_shapes() if values == ENTRY_VALUES)
    return (
        f"every matrix with m, n <= 3 and at most 6 entries, each in {{-1, 0, 1}} ({ternary} matrices), "
        f"and every 3 x 3 matrix with entries in {{0, 1}} ({2**9} matrices)"
    )


def _all(predicate: Callable[[MatrixFacts], bool]) -> Check:
    return holds(lambda: all(predicate(f) for f in small_matrix_facts()))


def _instances(
    claim: str, title: str, statement: str, predicate: Callable[[MatrixFacts], bool]
) -> Derivation:
    return Derivation(
        claim=claim,
        title=title,
        scope=Scope.INSTANCES,
        bound=enumeration_bound(),
        steps=(
            Step(
                statement,
                computation("exact arithmetic over the rationals, every listed matrix"),
                check=_all(predicate),
            ),
        ),
        conclusion="The statement holds for every listed matrix; this cross-checks the general argument, it does not replace it.",
    )


# Rank: definition, row rank = column rank, nonzero singular values.


@functools.cache
def rank_definition_instances() -> Derivation:
    """Cross-check: rank by row reduction equals the largest number of linearly independent columns."""
    return _instances(
        "la.rank-definition",
        "Row reduction and the largest independent set of columns give the same number",
        r"\operatorname{rank}(W) = \max\{\lvert S\rvert : \text{the columns } w_j,\ j \in S, \text{ are linearly independent}\}",
        lambda f: f.rank == f.independent_columns,
    )


@functools.cache
def row_rank_equals_column_rank() -> Derivation:
    """Derive ``rank(W^T) = rank(W)`` from the SVD of ``W^T``."""
    W = U * Sigma * V.T
    steps = (
        Step(
            r"\operatorname{rank}(W^{\top})",
            definition("the row rank of W is the column rank of W^T"),
        ),
        Step(
            r"\operatorname{rank}(V\Sigma^{\top}U^{\top})",
            algebra("the transpose of a product is the product of the transposes in reverse order"),
            check=holds(lambda: W.T == V * Sigma.T * U.T),
        ),
        Step(
            r"\#\{i \le p : \sigma_i \ne 0\}",
            lemma(
                "rank equals the number of nonzero singular values (la.rank-nonzero-singular-values)"
            ),
            prose=r"$V\Sigma^{\top}U^{\top}$ is an SVD of $W^{\top}$: $V$ and $U$ are orthogonal and $\Sigma^{\top}$ has the same diagonal as $\Sigma$.",
        ),
        Step(
            r"\operatorname{rank}(W)",
            lemma("the same lemma applied to the SVD of W"),
            prose="Both ranks count the same singular values.",
        ),
    )
    return Derivation(
        claim="la.row-rank-equals-column-rank",
        title="Row rank equals column rank",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SVD_SYMBOLS,
        conclusion="For every real matrix the largest number of independent rows equals the largest number of independent columns.",
    )


@functools.cache
def row_rank_instances() -> Derivation:
    """Cross-check ``rank(W^T) = rank(W)`` by counting independent rows and columns directly."""
    return _instances(
        "la.row-rank-equals-column-rank",
        "Independent rows and independent columns counted separately",
        r"\max \#\{\text{independent rows}\} = \max \#\{\text{independent columns}\}, \quad \operatorname{rank}(W^{\top}) = \operatorname{rank}(W)",
        lambda f: f.independent_rows == f.independent_columns and f.rank_transpose == f.rank,
    )


@functools.cache
def rank_equals_nonzero_singular_values() -> Derivation:
    """Derive ``rank(W) = #{i : sigma_i != 0}`` through ``W^T W = V Sigma^T Sigma V^T``."""
    W = U * Sigma * V.T
    sigma = sympy.Symbol("sigma", real=True)
    steps = (
        Step(r"\operatorname{rank}(W)", definition("rank: the dimension of the column space")),
        Step(
            r"\operatorname{rank}(W^{\top}W)",
            lemma("W and W^T W have the same null space"),
            prose=(
                r"$Wx = 0$ gives $W^{\top}Wx = 0$; $W^{\top}Wx = 0$ gives $\lVert Wx\rVert^2 = x^{\top}W^{\top}Wx = 0$. "
                "Equal null spaces in $\\mathbb{R}^n$ give equal ranks by rank-nullity."
            ),
        ),
        Step(
            r"\operatorname{rank}(V\Sigma^{\top}\Sigma V^{\top})",
            algebra(r"$W^{\top}W = V\Sigma^{\top}U^{\top}U\Sigma V^{\top}$ and $U^{\top}U = I_m$"),
            check=holds(
                lambda: (W.T * W).subs(U.T * U, sympy.Identity(m)) == V * Sigma.T * Sigma * V.T
            ),
        ),
        Step(
            r"\operatorname{rank}(\Sigma^{\top}\Sigma)",
            lemma("multiplying by invertible matrices keeps the rank; V^{-1} = V^T"),
            prose="An invertible factor maps the column space one-to-one onto another space of the same dimension.",
        ),
        Step(
            r"\#\{i \le p : \sigma_i^2 \ne 0\}",
            definition(
                r"$\Sigma^{\top}\Sigma = \operatorname{diag}(\sigma_1^2, \dots, \sigma_p^2, 0, \dots, 0) \in \mathbb{R}^{n \times n}$"
            ),
            prose="A diagonal matrix's nonzero diagonal entries pick out independent unit columns, so its rank is their number.",
        ),
        Step(
            r"\#\{i \le p : \sigma_i \ne 0\}",
            algebra(r"$\sigma_i^2 = 0 \iff \sigma_i = 0$ for real $\sigma_i$"),
            check=holds(
                lambda: sympy.solveset(sigma**2, sigma, sympy.S.Reals) == sympy.FiniteSet(0)
            ),
        ),
    )
    return Derivation(
        claim="la.rank-nonzero-singular-values",
        title="Rank is the number of nonzero singular values",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SVD_SYMBOLS,
        conclusion="In exact arithmetic the rank of W is the number of its nonzero singular values.",
    )


@functools.cache
def rank_singular_values_instances() -> Derivation:
    """Cross-check ``rank = #{nonzero sigma}`` against the characteristic polynomial of ``W^T W``."""
    return _instances(
        "la.rank-nonzero-singular-values",
        "Row-reduction rank against the nonzero eigenvalues of W^T W",
        r"\operatorname{rank}(W) = n - \operatorname{mult}_0\bigl(\det(\lambda I_n - W^{\top}W)\bigr) = \#\{i : \sigma_i \ne 0\}",
        lambda f: f.rank == f.nonzero_singular_values,
    )


DISTINCT_ROWS_FULL = sympy.Matrix([[1, 0], [0, 1], [1, 1]])
"""Three distinct rows, rank 2: distinct rows need not be independent."""

DISTINCT_ROWS_RANK_ONE = sympy.Matrix([[1, 1], [2, 2], [3, 3]])
"""Three distinct rows, rank 1: every row is a multiple of the first."""


def distinct_row_count(W: sympy.Matrix) -> int:
    """Return the number of different rows of an exact matrix."""
    return len({tuple(W.row(i)) for i in range(W.rows)})


@functools.cache
def distinct_rows_counterexamples() -> Derivation:
    """Show two matrices whose number of distinct rows is not their rank."""
    first, second = DISTINCT_ROWS_FULL, DISTINCT_ROWS_RANK_ONE
    statement = (
        rf"\#\text{{distinct rows}}\Bigl({sympy.latex(first)}\Bigr) = 3 \ne 2 = \operatorname{{rank}}, \qquad "
        rf"\#\text{{distinct rows}}\Bigl({sympy.latex(second)}\Bigr) = 3 \ne 1 = \operatorname{{rank}}"
    )
    return Derivation(
        claim="la.rank-not-distinct-rows",
        title="Two counterexamples to 'rank counts the distinct rows'",
        scope=Scope.INSTANCES,
        bound="the two 3 x 2 matrices shown",
        steps=(
            Step(
                statement,
                computation("sympy's exact rank and a count of distinct rows"),
                check=holds(
                    lambda: (
                        (
                            distinct_row_count(first),
                            first.rank(),
                            distinct_row_count(second),
                            second.rank(),
                        )
                        == (3, 2, 3, 1)
                    )
                ),
            ),
        ),
        conclusion="Distinct rows can still be dependent, so counting them overstates the rank.",
    )


ROUNDING_FACTOR_A = sympy.Matrix([[1, 2], [3, 4], [5, 6], [7, 8], [1, 0], [0, 1]])
ROUNDING_FACTOR_B = sympy.Matrix([[1, 0, 2, 1], [0, 1, 1, 3]])
ROUNDING_WITNESS = ROUNDING_FACTOR_A * ROUNDING_FACTOR_B
"""A 6 x 4 integer matrix of exact rank 2, stored exactly in float32 and float64."""


@functools.cache
def rounding_witness_rank() -> Derivation:
    """Compute the exact rank of the integer witness ``AB`` used by ``la.rounding-hides-rank``."""
    return Derivation(
        claim="la.rounding-hides-rank",
        title="The witness matrix has exact rank 2",
        scope=Scope.INSTANCES,
        bound="the 6 x 4 integer matrix W = AB shown on the page",
        steps=(
            Step(
                rf"\operatorname{{rank}}\Bigl({sympy.latex(ROUNDING_WITNESS)}\Bigr) = 2",
                computation("sympy row reduction over the rationals"),
                check=holds(lambda: ROUNDING_WITNESS.rank() == 2),
            ),
        ),
        conclusion="In exact arithmetic two singular values of W are nonzero and two are zero.",
    )


# Full rank.


@functools.cache
def full_rank_is_rank_n() -> Derivation:
    """Derive ``rank(W) <= min(m, n)``, so a full-rank ``n x n`` matrix has rank ``n``."""
    steps = (
        Step(
            r"\operatorname{rank}(W) = \dim \operatorname{col}(W)",
            definition("rank: the dimension of the column space"),
        ),
        Step(
            r"\min(m, n)",
            lemma("col(W) lies in R^m and is spanned by the n columns"),
            relation=Relation.LE,
            prose="A subspace of $\\mathbb{R}^m$ has dimension at most $m$; a space spanned by $n$ vectors has dimension at most $n$.",
        ),
        Step(
            "n",
            assumption("W is square, m = n; full rank means the bound min(m, n) is reached"),
            check=holds(lambda: sympy.Min(m, n).subs(m, n) == n),
        ),
    )
    return Derivation(
        claim="la.full-rank-means-rank-n",
        title="The largest possible rank, reached by a full-rank matrix",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=((r"W \in \mathbb{R}^{m \times n}", "the matrix"),),
        conclusion="An m x n matrix has rank at most min(m, n); full rank means rank min(m, n), which is n for W in R^{n x n}.",
    )


@functools.cache
def full_rank_instances() -> Derivation:
    """Cross-check ``rank <= min(m, n)`` and that every shape reaches it."""

    def bound_reached() -> bool:
        facts = small_matrix_facts()
        within = all(f.rank <= min(f.shape) for f in facts)
        reached = {
            shape: max(f.rank for f in facts if f.shape == shape)
            for shape in {f.shape for f in facts}
        }
        return within and all(rank == min(shape) for shape, rank in reached.items())

    return Derivation(
        claim="la.full-rank-means-rank-n",
        title="Every listed matrix has rank at most min(m, n), and each shape reaches it",
        scope=Scope.INSTANCES,
        bound=enumeration_bound(),
        steps=(
            Step(
                r"\operatorname{rank}(W) \le \min(m, n) \text{ for each listed } W, \text{ with equality for some } W \text{ of each shape}",
                computation("exact row reduction of every listed matrix"),
                check=holds(bound_reached),
            ),
        ),
        conclusion="The bound holds and is attained for every listed shape; a cross-check of the general argument.",
    )


@functools.cache
def full_rank_equivalences() -> Derivation:
    """Chain the conditions equivalent to ``rank(W) = n`` for a square ``W``."""
    Us, Ss, Vs = (sympy.MatrixSymbol(name, n, n) for name in ("U", "Sigma", "V"))
    det = sympy.Determinant

    def determinant_factors() -> bool:
        # The first doit() splits the product; the second turns det(V^T) into det(V).
        product = det(Us * Ss * Vs.T).doit().doit() == det(Us) * det(Ss) * det(Vs)
        unit = det(Us.T * Us).doit().doit() == det(Us) ** 2 and det(sympy.Identity(n)).doit() == 1
        return bool(product and unit)

    steps = (
        Step(r"\operatorname{rank}(W) = n", assumption("W is a full-rank n x n matrix")),
        Step(
            r"\sigma_n > 0",
            lemma(
                "rank counts the nonzero singular values (la.rank-nonzero-singular-values); sigma_n is the smallest"
            ),
            relation=Relation.IFF,
            prose="All $n$ singular values are nonzero exactly when the smallest is.",
        ),
        Step(
            r"\lvert\det W\rvert = \sigma_1 \sigma_2 \cdots \sigma_n \ne 0",
            algebra(
                r"$\det(U\Sigma V^{\top}) = \det U \det\Sigma \det V$ and $\det(U)^2 = \det(U^{\top}U) = 1$"
            ),
            relation=Relation.IFF,
            check=holds(determinant_factors),
            prose=r"sympy checks the factorisations; $\det \Sigma = \sigma_1 \cdots \sigma_n$ because $\Sigma$ is diagonal.",
        ),
        Step(
            r"W \text{ is invertible}",
            lemma("a square matrix is invertible exactly when its determinant is nonzero"),
            relation=Relation.IFF,
            prose=r"If $\det W \ne 0$ then $W^{-1} = \operatorname{adj}(W)/\det W$; if $W^{-1}$ exists then $\det W \det W^{-1} = 1$.",
        ),
        Step(
            r"\operatorname{null}(W) = \{0\}",
            lemma("rank-nullity: dim null(W) = n - rank(W)"),
            relation=Relation.IFF,
            prose="An invertible W maps only 0 to 0; a trivial null space gives rank n, which closes the chain.",
        ),
        Step(
            r"\text{the columns } w_1, \dots, w_n \text{ are linearly independent}",
            definition("Wx = x_1 w_1 + ... + x_n w_n"),
            relation=Relation.IFF,
            prose="A nonzero $x$ with $Wx = 0$ is exactly a linear dependence among the columns.",
        ),
    )
    return Derivation(
        claim="la.full-rank-equivalences",
        title="Equivalent conditions for a square matrix to have full rank",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (
                r"W = U\Sigma V^{\top} \in \mathbb{R}^{n \times n}",
                "a square matrix and an SVD of it",
            ),
        ),
        conclusion="For W in R^{n x n}: rank n, sigma_n > 0, det W != 0, invertible, trivial null space and independent columns are the same condition.",
    )


@functools.cache
def full_rank_equivalences_instances() -> Derivation:
    """Cross-check the equivalences on every listed square matrix, each condition computed separately."""

    def agree(f: MatrixFacts) -> bool:
        rows, cols = f.shape
        if rows != cols:
            return True
        conditions = {
            f.rank == cols,
            f.nonzero_singular_values == cols,
            f.determinant != 0,
            bool(f.invertible),
            f.nullity == 0,
            f.independent_columns == cols,
        }
        return len(conditions) == 1

    return _instances(
        "la.full-rank-equivalences",
        "Each condition computed separately on every listed square matrix",
        r"\operatorname{rank} W = n \iff \#\{\sigma_i \ne 0\} = n \iff \det W \ne 0 \iff W^{-1} \text{ exists} \iff \operatorname{null} W = \{0\} \iff \text{columns independent}",
        agree,
    )


# Low rank.

LOW_RANK_EXAMPLES = (
    sympy.Matrix([[2, 1, 2], [4, 2, 4], [4, 2, 4]]),
    sympy.Matrix([[1, 0, 1], [0, 1, 1], [1, 1, 2]]),
)
"""Two 3 x 3 integer matrices of rank 1 and 2: the outer product (1, 2, 2)(2, 1, 2)^T, and a
matrix whose third column is the sum of the first two."""


def exact_singular_values(W: sympy.Matrix) -> list[sympy.Expr]:
    """Return the exact singular values of ``W`` in decreasing order (square roots of the eigenvalues of ``W^T W``)."""
    eigenvalues = (W.T * W).eigenvals(multiple=True)
    return sorted(
        (sympy.sqrtdenest(sympy.sqrt(value)) for value in eigenvalues), key=lambda s: -float(s)
    )


@functools.cache
def low_rank_spectrum() -> Derivation:
    """Derive the shape of Sigma for a rank-r matrix: r positive values, then exact zeros."""
    steps = (
        Step(r"\operatorname{rank}(W) = r < n", assumption("W in R^{n x n} has rank r")),
        Step(
            r"\#\{i : \sigma_i \ne 0\} = r",
            lemma("rank counts the nonzero singular values (la.rank-nonzero-singular-values)"),
            relation=Relation.IFF,
            prose="The two counts are the same number.",
        ),
        Step(
            r"\sigma_1 \ge \dots \ge \sigma_r > 0 = \sigma_{r+1} = \dots = \sigma_n",
            definition("singular values are non-negative and sorted in decreasing order"),
            relation=Relation.IFF,
            prose="Sorted non-negative values with exactly $r$ nonzero ones have those $r$ first.",
        ),
        Step(
            r"\Sigma = \operatorname{diag}(\sigma_1, \dots, \sigma_r, 0, \dots, 0)",
            definition("Sigma is the diagonal matrix of the singular values, whatever the rank"),
            relation=Relation.IFF,
            prose="The rank decides how many diagonal entries are zero, not whether $\\Sigma$ is diagonal.",
        ),
    )
    return Derivation(
        claim="la.low-rank-spectrum",
        title="The singular value matrix of a rank-r matrix",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (r"W = U\Sigma V^{\top} \in \mathbb{R}^{n \times n}", "the matrix and an SVD of it"),
            ("r", "its rank"),
        ),
        conclusion="A rank-r matrix has exactly r positive singular values, followed by n - r exact zeros on the diagonal of Sigma.",
    )


@functools.cache
def low_rank_spectrum_instances() -> Derivation:
    """Compute the exact singular values of two low-rank 3 x 3 matrices."""
    first, second = LOW_RANK_EXAMPLES

    def spectra_match() -> bool:
        for W in LOW_RANK_EXAMPLES:
            values = exact_singular_values(W)
            rank = W.rank()
            if not (all(v != 0 for v in values[:rank]) and all(v == 0 for v in values[rank:])):
                return False
        return True

    statement = (
        rf"\Sigma\Bigl({sympy.latex(first)}\Bigr) = \operatorname{{diag}}({', '.join(sympy.latex(v) for v in exact_singular_values(first))}), \quad "
        rf"\Sigma\Bigl({sympy.latex(second)}\Bigr) = \operatorname{{diag}}({', '.join(sympy.latex(v) for v in exact_singular_values(second))})"
    )
    return Derivation(
        claim="la.low-rank-spectrum",
        title="Exact singular values of a rank-1 and a rank-2 matrix",
        scope=Scope.INSTANCES,
        bound="the two 3 x 3 integer matrices shown",
        steps=(
            Step(
                statement,
                computation("sympy eigenvalues of W^T W, exact square roots, and exact rank"),
                check=holds(spectra_match),
            ),
        ),
        conclusion="Each has exactly rank-many nonzero singular values and exact zeros after them.",
    )
