"""Derivations for orthogonal and thin orthonormal factors (question ``lr-orthogonal``).

An orthogonal matrix is a square ``U`` with orthonormal columns, ``U^T U = I_n``. That
``U U^T = I_n`` follows is a theorem about square matrices, not part of the definition: a left
inverse of a square matrix is also its right inverse. The general derivation goes through
the determinant. Two instance checks back it up for 2 x 2 matrices: a Groebner-basis test that
every entry of ``U U^T - I`` is a polynomial combination of the entries of ``U^T U - I``, and
the rotation and reflection families. The same Groebner test for 3 x 3 takes over a second and
runs among the slow checks (:func:`orthogonal_ideal_instances` with ``size=3``).

A thin ``U_k`` (``n x k``, ``k < n``) has ``U_k^T U_k = I_k`` but ``U_k U_k^T`` is the orthogonal
projector onto its column space, of trace ``k``, so it is not ``I_n``.
"""

from __future__ import annotations

import functools

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
from efx.proofs.lr_linear_algebra import holds, k, n, vanishes_for_every_angle

A = sympy.MatrixSymbol("A", n, n)
B = sympy.MatrixSymbol("B", n, n)
U_k = sympy.MatrixSymbol("U_k", n, k)
identity = sympy.Identity(n)


@functools.cache
def left_inverse_is_right_inverse() -> Derivation:
    """Derive ``AB = I_n`` from ``BA = I_n`` for square ``A, B`` through ``det(A) != 0``."""
    det_a, det_b = sympy.symbols(r"\det(A) \det(B)")
    det = sympy.Determinant

    def determinant_of_product() -> bool:
        return bool(det(B * A).doit() == det(A) * det(B) and det(identity).doit() == 1)

    def inverse_cancels() -> bool:
        left = sympy.MatMul(B, A, A.I, evaluate=False)
        return bool(left.doit() == B and left.subs(B * A, identity).doit() == A.I)

    steps = (
        Step(r"BA = I_n", assumption("B is a left inverse of the square matrix A")),
        Step(
            r"\det(B)\det(A) = 1",
            lemma(r"$\det(BA) = \det(B)\det(A)$ and $\det(I_n) = 1$"),
            relation=Relation.IMPLIES,
            check=holds(determinant_of_product),
        ),
        Step(
            r"\det(A) \ne 0",
            algebra("a product equal to 1 has no zero factor"),
            relation=Relation.IMPLIES,
            check=holds(lambda: (det_b * det_a).subs(det_a, 0) != 1),
        ),
        Step(
            r"A^{-1} \text{ exists}",
            lemma(
                r"a square matrix with nonzero determinant is invertible: $A^{-1} = \operatorname{adj}(A)/\det(A)$"
            ),
            relation=Relation.IMPLIES,
            prose="This is where squareness is used: the determinant exists only for square matrices.",
        ),
        Step(
            r"B = B(AA^{-1}) = (BA)A^{-1} = A^{-1}",
            algebra("associativity, then BA = I_n"),
            relation=Relation.IMPLIES,
            check=holds(inverse_cancels),
        ),
        Step(
            r"AB = AA^{-1} = I_n",
            algebra("substitute B = A^{-1}"),
            relation=Relation.IMPLIES,
            check=holds(lambda: identity == A * A.I),
        ),
    )
    return Derivation(
        claim="la.left-inverse-is-right-inverse",
        title="A left inverse of a square matrix is its right inverse",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=((r"A, B \in \mathbb{R}^{n \times n}", "square matrices"),),
        conclusion="For square matrices, BA = I_n implies AB = I_n.",
    )


@functools.cache
def orthogonal_square_both_sides() -> Derivation:
    """Derive ``U U^T = I_n`` from ``U^T U = I_n`` for a square ``U``."""
    Un = sympy.MatrixSymbol("U", n, n)
    steps = (
        Step(
            r"U^{\top}U = I_n",
            definition("U in R^{n x n} is orthogonal: its columns are orthonormal"),
        ),
        Step(
            r"BA = I_n \text{ with } B = U^{\top},\ A = U",
            definition("name the factors"),
            relation=Relation.IFF,
            check=holds(lambda: (B * A).subs({B: Un.T, A: Un}) == Un.T * Un),
        ),
        Step(
            r"AB = UU^{\top} = I_n",
            lemma(
                "a left inverse of a square matrix is its right inverse (la.left-inverse-is-right-inverse)"
            ),
            relation=Relation.IMPLIES,
            prose="Both factors are n x n, so the lemma applies.",
        ),
    )
    return Derivation(
        claim="la.orthogonal-square-both-sides",
        title="Orthonormal columns of a square matrix give orthonormal rows",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (
                r"U \in \mathbb{R}^{n \times n}",
                r"square, with $U^{\top}U = I_n$; the same holds for $V$",
            ),
        ),
        conclusion="U U^T = I_n because U is square and U^T is its left inverse; the rows of U are orthonormal too.",
    )


def _orthogonality_ideal_contains(size: int) -> bool:
    entries = sympy.symbols(f"x1:{size * size + 1}", real=True)
    M = sympy.Matrix(size, size, entries)
    generators = [
        sympy.expand((M.T * M - sympy.eye(size))[r, c]) for r in range(size) for c in range(r, size)
    ]
    basis = sympy.groebner(generators, *entries, order="grevlex")
    targets = [
        sympy.expand((M * M.T - sympy.eye(size))[r, c]) for r in range(size) for c in range(r, size)
    ]
    return all(basis.reduce(target)[1] == 0 for target in targets)


@functools.cache
def orthogonal_ideal_instances(size: int = 2) -> Derivation:
    """Check by a Groebner basis that ``U^T U = I`` forces ``U U^T = I`` for every ``size x size`` matrix.

    Each entry of ``U U^T - I`` reduces to 0 modulo a Groebner basis of the ideal generated by
    the entries of ``U^T U - I``, so it is a polynomial combination of them: wherever they all
    vanish, so does it. ``size=2`` takes about 0.05 s, ``size=3`` about 1.2 s (sympy 1.14).
    """
    return Derivation(
        claim="la.orthogonal-square-both-sides",
        title=f"Ideal membership for {size} x {size} matrices",
        scope=Scope.INSTANCES,
        bound=f"n = {size}: every {size} x {size} matrix, its {size * size} entries free symbols",
        steps=(
            Step(
                r"(UU^{\top} - I)_{rc} \in \bigl\langle (U^{\top}U - I)_{ab} \bigr\rangle \text{ for all } r, c",
                computation(
                    "Groebner basis (grevlex) of the generators; each target reduces to remainder 0"
                ),
                check=holds(lambda: _orthogonality_ideal_contains(size)),
            ),
        ),
        conclusion=f"For every {size} x {size} matrix, U^T U = I implies U U^T = I; an instance of the general lemma.",
    )


@functools.cache
def rotation_reflection_instances() -> Derivation:
    """Check ``U^T U = U U^T = I_2`` for the 2 x 2 rotations and reflections with a symbolic angle."""
    theta = sympy.Symbol("theta", real=True)
    c, s = sympy.cos(theta), sympy.sin(theta)
    rotation = sympy.Matrix([[c, -s], [s, c]])
    reflection = sympy.Matrix([[c, s], [s, -c]])

    def both_sides() -> bool:
        return all(
            vanishes_for_every_angle(product - sympy.eye(2), theta)
            for Q in (rotation, reflection)
            for product in (Q.T * Q, Q * Q.T)
        )

    return Derivation(
        claim="la.orthogonal-square-both-sides",
        title="Rotations and reflections of the plane",
        scope=Scope.INSTANCES,
        bound="the 2 x 2 rotation and reflection families, symbolic angle theta",
        steps=(
            Step(
                rf"Q \in \Bigl\{{{sympy.latex(rotation)}, {sympy.latex(reflection)}\Bigr\}}: \quad Q^{{\top}}Q = QQ^{{\top}} = I_2",
                computation(r"polynomial division by $\cos^2\theta + \sin^2\theta - 1$"),
                check=holds(both_sides),
            ),
        ),
        conclusion="Both families are orthogonal from both sides for every angle; every 2 x 2 orthogonal matrix is one of them.",
    )


@functools.cache
def thin_projector_is_projector() -> Derivation:
    """Derive ``P^2 = P = P^T`` for ``P = U_k U_k^T`` with ``U_k^T U_k = I_k``."""
    I_k = sympy.Identity(k)
    steps = (
        Step(r"P^2 = U_kU_k^{\top}U_kU_k^{\top}", definition(r"$P = U_kU_k^{\top}$")),
        Step(
            r"U_k I_k U_k^{\top} = U_kU_k^{\top} = P",
            assumption(r"$U_k^{\top}U_k = I_k$"),
            check=holds(
                lambda: sympy.MatMul(U_k, U_k.T, U_k, U_k.T).subs(U_k.T * U_k, I_k) == U_k * U_k.T
            ),
        ),
        Step(
            r"P^{\top}",
            algebra("(U_k U_k^T)^T = U_k U_k^T"),
            check=holds(lambda: U_k * U_k.T == (U_k * U_k.T).T),
        ),
    )
    return Derivation(
        claim="la.thin-projector",
        title="U_k U_k^T is an orthogonal projector",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (
                r"U_k \in \mathbb{R}^{n \times k}",
                r"orthonormal columns, $U_k^{\top}U_k = I_k$, $k < n$",
            ),
        ),
        conclusion="P is idempotent and symmetric: the orthogonal projector onto the span of the k columns.",
    )


@functools.cache
def thin_projector_is_not_identity() -> Derivation:
    """Derive ``trace(U_k U_k^T) = k < n = trace(I_n)``, so ``U_k U_k^T != I_n``."""
    gap = sympy.Symbol("d", integer=True, positive=True)
    steps = (
        Step(r"\operatorname{tr}(U_kU_k^{\top})", definition("the trace of P")),
        Step(
            r"\operatorname{tr}(U_k^{\top}U_k)",
            lemma("tr(XY) = tr(YX) for X n x k and Y k x n"),
            prose="Both traces equal $\\sum_{a,b} X_{ab}Y_{ba}$.",
        ),
        Step(
            r"\operatorname{tr}(I_k) = k",
            assumption(r"$U_k^{\top}U_k = I_k$"),
            check=holds(
                lambda: sympy.Trace(U_k.T * U_k).subs(U_k.T * U_k, sympy.Identity(k)).doit() == k
            ),
        ),
        Step(
            r"n = \operatorname{tr}(I_n)",
            assumption("k < n: write n = k + d with d >= 1"),
            relation=Relation.LT,
            check=holds(
                lambda: sympy.Trace(sympy.Identity(k + gap)).doit() - k == gap and gap.is_positive
            ),
        ),
        Step(
            r"U_kU_k^{\top} \ne I_n, \quad \lVert I_n - U_kU_k^{\top} \rVert_2 = 1",
            lemma(
                "matrices with different traces differ; I_n - P projects onto the (n-k)-dimensional complement"
            ),
            relation=Relation.IMPLIES,
            prose="A nonzero orthogonal projector maps a unit vector of its range to itself and never lengthens a vector, so its 2-norm is 1.",
        ),
    )
    return Derivation(
        claim="la.thin-projector",
        title="The thin projector has trace k, so it is not the identity",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=((r"U_k \in \mathbb{R}^{n \times k}", r"orthonormal columns, $k < n$"),),
        conclusion="U_k^T U_k = I_k does not give U_k U_k^T = I_n: the missing n - k directions are projected away.",
    )
