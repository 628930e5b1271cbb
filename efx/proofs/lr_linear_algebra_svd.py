"""Derivations for the SVD's factors (question ``lr-svd``) and for ``Sigma = I`` (question ``lr-low-rank``).

Symbols follow the notation page and :mod:`efx.proofs.lr_linear_algebra`: ``W = U Sigma V^T``
with ``U^T U = I_m``, ``V^T V = I_n``, ``p = min(m, n)``. Matrix symbols carry the algebra, and
sympy checks each rewrite. Orthogonality is substituted explicitly, because sympy does not know
that a symbol is orthogonal. Explicit 2 x 2 matrices with a symbolic angle show the rotation
freedom inside a repeated singular value.
"""

from __future__ import annotations

import functools
import itertools

import sympy

from efx.proofs.derivation import (
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
from efx.proofs.lr_linear_algebra import (
    SVD_SYMBOLS,
    Sigma,
    U,
    V,
    holds,
    m,
    n,
    vanishes_for_every_angle,
)

i, j = sympy.symbols("i j", integer=True, positive=True)
theta = sympy.Symbol("theta", real=True)


@functools.cache
def left_singular_vectors_orthonormal() -> Derivation:
    """Derive that ``u_i = W v_i / sigma_i`` are orthonormal: the step that builds an SVD from ``W^T W``."""
    W = sympy.MatrixSymbol("W", m, n)
    v_i, v_j = sympy.MatrixSymbol("v_i", n, 1), sympy.MatrixSymbol("v_j", n, 1)
    s_i, s_j, lam_j = sympy.symbols("sigma_i sigma_j lambda_j", positive=True)
    sigma = sympy.Function("sigma", positive=True)
    delta = sympy.KroneckerDelta(i, j)

    def eigenvector_substitution() -> bool:
        gram = ((W * v_i / s_i).T * (W * v_j / s_j)).doit()
        substituted = gram.subs(W.T * W * v_j, lam_j * v_j)
        return bool(substituted == lam_j * v_i.T * v_j / (s_i * s_j))

    def delta_collapses() -> bool:
        ratio = delta * sigma(j) / sigma(i)
        return bool(ratio.subs(j, i) == 1 and ratio.subs({i: 1, j: 2}) == 0)

    steps = (
        Step(
            r"u_i^{\top}u_j = \frac{v_i^{\top}W^{\top}W v_j}{\sigma_i\sigma_j}",
            definition(r"$u_i = W v_i / \sigma_i$ for $\sigma_i > 0$"),
        ),
        Step(
            r"\frac{\lambda_j\, v_i^{\top}v_j}{\sigma_i\sigma_j}",
            lemma(
                r"spectral theorem: the symmetric $W^{\top}W$ has orthonormal eigenvectors $v_j$, $W^{\top}Wv_j = \lambda_j v_j$"
            ),
            check=holds(eigenvector_substitution),
        ),
        Step(
            r"\frac{\sigma_j^2\, \delta_{ij}}{\sigma_i\sigma_j}",
            assumption(
                r"$v_i^{\top}v_j = \delta_{ij}$ and $\lambda_j = \sigma_j^2$ (the $\lambda_j = \lVert Wv_j\rVert^2 \ge 0$)"
            ),
            check=holds(
                lambda: (lam_j * delta / (s_i * s_j)).subs(lam_j, s_j**2) == s_j * delta / s_i
            ),
        ),
        Step(
            r"\delta_{ij}",
            algebra(r"$\delta_{ij} = 0$ unless $i = j$, where $\sigma_j / \sigma_i = 1$"),
            check=holds(delta_collapses),
        ),
        Step(
            r"W = U\Sigma V^{\top}",
            lemma(r"complete the $u_i$ to an orthonormal basis of $\mathbb{R}^m$"),
            relation=Relation.IMPLIES,
            prose=r"Then $WV = U\Sigma$ column by column ($Wv_i = \sigma_i u_i$, and $Wv_i = 0$ when $\sigma_i = 0$), and $V^{-1} = V^{\top}$.",
        ),
    )
    return Derivation(
        claim="la.svd-exists-shapes",
        title="An SVD built from the eigenvectors of W^T W",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (r"W \in \mathbb{R}^{m \times n}", "any real matrix"),
            (
                r"v_1, \dots, v_n",
                r"orthonormal eigenvectors of $W^{\top}W$, eigenvalues $\lambda_1 \ge \dots \ge \lambda_n \ge 0$",
            ),
            (r"\sigma_i = \sqrt{\lambda_i}", "the singular values"),
        ),
        conclusion="Every real matrix has an SVD: orthogonal U (m x m) and V (n x n), and Sigma (m x n) diagonal with the sorted non-negative sigma_i.",
    )


@functools.cache
def right_singular_vector_relation() -> Derivation:
    """Derive ``W v_i = sigma_i u_i`` from ``W V = U Sigma``."""
    steps = (
        Step(r"WV = U\Sigma V^{\top}V", definition(r"$W = U\Sigma V^{\top}$")),
        Step(
            r"U\Sigma",
            assumption(r"$V^{\top}V = I_n$"),
            check=holds(
                lambda: sympy.MatMul(U, Sigma, V.T, V).subs(V.T * V, sympy.Identity(n)) == U * Sigma
            ),
        ),
        Step(
            r"Wv_i = \sigma_i u_i \ (i \le p), \qquad Wv_i = 0 \ (p < i \le n)",
            definition(r"column $i$ of $U\Sigma$ is $\sigma_i u_i$ for $i \le p$ and $0$ beyond"),
            relation=Relation.IFF,
            prose="Two matrices are equal exactly when their columns are.",
        ),
    )
    return Derivation(
        claim="la.singular-vector-relations",
        title="Right singular vectors map to scaled left singular vectors",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SVD_SYMBOLS,
        conclusion="W maps the right singular vector v_i to sigma_i times the left singular vector u_i.",
    )


@functools.cache
def left_singular_vector_relation() -> Derivation:
    """Derive ``W^T u_i = sigma_i v_i`` from ``W^T U = V Sigma^T``."""
    W = U * Sigma * V.T
    steps = (
        Step(
            r"W^{\top}U = V\Sigma^{\top}U^{\top}U",
            definition(r"$W^{\top} = V\Sigma^{\top}U^{\top}$"),
            check=holds(lambda: sympy.MatMul(V, Sigma.T, U.T, U) == W.T * U),
        ),
        Step(
            r"V\Sigma^{\top}",
            assumption(r"$U^{\top}U = I_m$"),
            check=holds(
                lambda: (
                    sympy.MatMul(V, Sigma.T, U.T, U).subs(U.T * U, sympy.Identity(m)) == V * Sigma.T
                )
            ),
        ),
        Step(
            r"W^{\top}u_i = \sigma_i v_i \ (i \le p), \qquad W^{\top}u_i = 0 \ (p < i \le m)",
            definition(
                r"column $i$ of $V\Sigma^{\top}$ is $\sigma_i v_i$ for $i \le p$ and $0$ beyond"
            ),
            relation=Relation.IFF,
            prose="Two matrices are equal exactly when their columns are.",
        ),
    )
    return Derivation(
        claim="la.singular-vector-relations",
        title="Left singular vectors map back to scaled right singular vectors",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SVD_SYMBOLS,
        conclusion="W^T maps u_i to sigma_i v_i: the pair (u_i, v_i) belongs to sigma_i.",
    )


OUTER_PRODUCT_BOUND = 3
"""The outer-product expansion is checked for every m, n <= OUTER_PRODUCT_BOUND."""


def _outer_product_identity_holds(bound: int) -> bool:
    for rows, cols in itertools.product(range(1, bound + 1), repeat=2):
        p = min(rows, cols)
        left = sympy.Matrix(rows, rows, sympy.symbols(f"u1:{rows * rows + 1}"))
        right = sympy.Matrix(cols, cols, sympy.symbols(f"v1:{cols * cols + 1}"))
        sigmas = sympy.symbols(f"s1:{p + 1}")
        middle = sympy.zeros(rows, cols)
        for index in range(p):
            middle[index, index] = sigmas[index]
        expansion = sympy.zeros(rows, cols)
        for index in range(p):
            expansion += sigmas[index] * left[:, index] * right[:, index].T
        if (left * middle * right.T - expansion).expand() != sympy.zeros(rows, cols):
            return False
    return True


@functools.cache
def outer_product_instances() -> Derivation:
    """Check ``U Sigma V^T = sum_i sigma_i u_i v_i^T`` with symbolic entries for every m, n up to a bound."""
    return Derivation(
        claim="la.svd-outer-product",
        title="The outer-product form, entries as free symbols",
        scope=Scope.INSTANCES,
        bound=f"every m, n <= {OUTER_PRODUCT_BOUND}, every entry of U, V and every sigma_i a free symbol",
        steps=(
            Step(
                r"U\Sigma V^{\top} - \sum_{i=1}^{p} \sigma_i u_i v_i^{\top} \equiv 0",
                computation("sympy expands the difference to the zero matrix"),
                check=holds(lambda: _outer_product_identity_holds(OUTER_PRODUCT_BOUND)),
            ),
        ),
        conclusion=(
            "The identity is block multiplication and needs no orthogonality; it holds for every listed size. "
            "For general sizes it is the column-times-row expansion of a product."
        ),
    )


@functools.cache
def sign_flip() -> Derivation:
    """Show that flipping the signs of ``u_i`` and ``v_i`` together leaves ``W`` unchanged."""
    u = sympy.MatrixSymbol("u_i", m, 1)
    v = sympy.MatrixSymbol("v_i", n, 1)
    s = sympy.Symbol("sigma_i", nonnegative=True)
    steps = (
        Step(
            r"(-u_i)\,\sigma_i\,(-v_i)^{\top}",
            definition("the i-th term of the outer-product form after the flip"),
        ),
        Step(
            r"\sigma_i\, u_i v_i^{\top}",
            algebra("(-1)(-1) = 1"),
            check=holds(lambda: (-u) * s * (-v).T == s * u * v.T),
        ),
    )
    return Derivation(
        claim="la.singular-vectors-not-unique",
        title="Flipping the signs of a pair of singular vectors",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=((r"u_i, v_i", r"the $i$-th left and right singular vectors"),),
        conclusion="Every term, hence W, is unchanged: (U D, Sigma, V D) with D = diag(+-1) is another SVD of W.",
    )


def rotation(angle: sympy.Expr) -> sympy.Matrix:
    """Return the 2 x 2 rotation by ``angle``."""
    return sympy.Matrix(
        [[sympy.cos(angle), -sympy.sin(angle)], [sympy.sin(angle), sympy.cos(angle)]]
    )


@functools.cache
def rotation_in_repeated_value() -> Derivation:
    """Show that rotating two singular-vector pairs that share ``sigma`` gives another SVD of the same ``W``."""
    G = rotation(theta)
    s = sympy.Symbol("sigma", positive=True)
    U2 = sympy.MatrixSymbol("U_2", m, 2)
    V2 = sympy.MatrixSymbol("V_2", n, 2)
    Gs = sympy.MatrixSymbol("G", 2, 2)

    def block_unchanged() -> bool:
        rotated = (U2 * Gs) * (s * sympy.Identity(2)) * (V2 * Gs).T
        return bool(rotated.subs(Gs * Gs.T, sympy.Identity(2)) == s * U2 * V2.T)

    steps = (
        Step(
            r"G\,(\sigma I_2)\,G^{\top} = \sigma I_2, \quad G^{\top}G = I_2",
            algebra(r"$\cos^2\theta + \sin^2\theta = 1$"),
            check=holds(
                lambda: (
                    vanishes_for_every_angle(G * s * G.T - s * sympy.eye(2), theta)
                    and vanishes_for_every_angle(G.T * G - sympy.eye(2), theta)
                )
            ),
        ),
        Step(
            r"(U_2 G)\,(\sigma I_2)\,(V_2 G)^{\top} = \sigma\, U_2 V_2^{\top}",
            algebra(r"associativity and $GG^{\top} = I_2$"),
            relation=Relation.IMPLIES,
            check=holds(block_unchanged),
        ),
    )
    return Derivation(
        claim="la.singular-vectors-not-unique",
        title="Any rotation inside a repeated singular value",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (
                r"U_2 = [u_k\ u_{k+1}],\ V_2 = [v_k\ v_{k+1}]",
                r"two singular-vector pairs with $\sigma_k = \sigma_{k+1} = \sigma$",
            ),
            (r"G", r"the rotation by an angle $\theta$"),
        ),
        conclusion="Replacing the two pairs by U_2 G and V_2 G keeps W and the orthonormality: the singular vectors of a repeated value are not unique.",
    )


@functools.cache
def rotated_projector_differs() -> Derivation:
    """Compute how far the projector onto the first rotated vector moves: ``|sin theta|``."""
    G = rotation(theta)
    e1 = sympy.Matrix([1, 0])
    difference = sympy.Matrix(
        [
            [-(sympy.sin(theta) ** 2), sympy.sin(theta) * sympy.cos(theta)],
            [sympy.sin(theta) * sympy.cos(theta), sympy.sin(theta) ** 2],
        ]
    )
    steps = (
        Step(
            rf"D = (Ge_1)(Ge_1)^{{\top}} - e_1e_1^{{\top}} = {sympy.latex(difference)}",
            computation(r"polynomial division by $\cos^2\theta + \sin^2\theta - 1$"),
            check=holds(
                lambda: vanishes_for_every_angle(
                    (G * e1) * (G * e1).T - e1 * e1.T - difference, theta
                )
            ),
        ),
        Step(
            r"D^2 = \sin^2\theta\, I_2",
            algebra("multiply out and use cos^2 + sin^2 = 1"),
            relation=Relation.IMPLIES,
            check=holds(
                lambda: vanishes_for_every_angle(
                    difference * difference - sympy.sin(theta) ** 2 * sympy.eye(2), theta
                )
            ),
        ),
        Step(
            r"\lVert D \rVert_2 = \lvert\sin\theta\rvert",
            lemma("the 2-norm of a symmetric matrix is its largest absolute eigenvalue"),
            relation=Relation.IMPLIES,
            prose=r"Every eigenvalue $\mu$ of $D$ satisfies $\mu^2 = \sin^2\theta$.",
        ),
    )
    return Derivation(
        claim="la.singular-vectors-not-unique",
        title="The projector onto the first vector of a rotated pair",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (
                r"e_1",
                r"the first unit vector of $\mathbb{R}^2$: the coordinates of $u_k$ in the pair",
            ),
        ),
        conclusion="Two valid SVDs give top-k projectors |sin theta| apart when sigma_k = sigma_{k+1}: compare projectors only across a gap.",
    )


@functools.cache
def sigma_identity_iff_orthogonal() -> Derivation:
    """Derive ``Sigma = I_n`` exactly when the square ``W`` is orthogonal."""
    Us, Ss, Vs = (sympy.MatrixSymbol(name, n, n) for name in ("U", "Sigma", "V"))
    W = Us * Ss * Vs.T
    identity = sympy.Identity(n)
    s = sympy.Symbol("sigma_i", real=True)

    def conjugate_by_v() -> bool:
        gram = (Vs.T * (Vs * Ss.T * Ss * Vs.T) * Vs).subs(Vs.T * Vs, identity)
        return bool(
            gram == Ss.T * Ss and (Vs.T * identity * Vs).subs(Vs.T * Vs, identity) == identity
        )

    steps = (
        Step(r"W^{\top}W = I_n", assumption("W in R^{n x n} is orthogonal")),
        Step(
            r"V\Sigma^{\top}\Sigma V^{\top} = I_n",
            algebra(r"$W^{\top}W = V\Sigma^{\top}U^{\top}U\Sigma V^{\top}$ and $U^{\top}U = I_n$"),
            relation=Relation.IFF,
            check=holds(lambda: (W.T * W).subs(Us.T * Us, identity) == Vs * Ss.T * Ss * Vs.T),
        ),
        Step(
            r"\Sigma^{\top}\Sigma = V^{\top} I_n V = I_n",
            algebra(r"multiply by $V^{\top}$ on the left and $V$ on the right; $V^{\top}V = I_n$"),
            relation=Relation.IFF,
            check=holds(conjugate_by_v),
        ),
        Step(
            r"\sigma_i^2 = 1 \quad (i = 1, \dots, n)",
            definition(
                r"$\Sigma^{\top}\Sigma = \operatorname{diag}(\sigma_1^2, \dots, \sigma_n^2)$"
            ),
            relation=Relation.IFF,
            prose="Two diagonal matrices are equal exactly when their diagonals are.",
        ),
        Step(
            r"\sigma_i = 1 \quad (i = 1, \dots, n), \text{ that is } \Sigma = I_n",
            algebra(r"$\sigma_i \ge 0$"),
            relation=Relation.IFF,
            check=holds(
                lambda: (
                    sympy.solveset(s**2 - 1, s, sympy.Interval(0, sympy.oo)) == sympy.FiniteSet(1)
                )
            ),
        ),
    )
    return Derivation(
        claim="la.sigma-identity-iff-orthogonal",
        title="Sigma is the identity exactly for orthogonal W",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (
                r"W = U\Sigma V^{\top} \in \mathbb{R}^{n \times n}",
                "a square matrix and an SVD of it",
            ),
        ),
        conclusion="Sigma = I_n only when W is orthogonal; any other matrix, of full rank or not, has some sigma_i != 1.",
    )
