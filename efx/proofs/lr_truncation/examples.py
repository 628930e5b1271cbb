"""Exact examples for the truncated-SVD claims: rational orthogonal matrices and a pixel whose error grows.

A Cayley transform ``Q = (I - S)(I + S)^{-1}`` of a rational skew-symmetric ``S`` is an
orthogonal matrix with rational entries, so products with it stay exact in sympy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from efx.errors import invalid_argument
from efx.proofs.derivation import Derivation, Scope, Step, computation

PIXEL_SINGULAR_VALUES = (3, 2, 1)
"""The singular values of the exact pixel example; sigma_2 = 2 sigma_3 makes one entry exact at k = 1."""

PIXEL_BASIS = ((1, 2, 2), (2, 1, -2), (2, -2, 1))
"""Three times an orthogonal matrix with rational entries (columns are the singular vectors)."""


def cayley_orthogonal(size: int, seed: int) -> sympy.Matrix:
    """Return a ``size x size`` rational orthogonal matrix, the Cayley transform of a fixed skew matrix.

    The skew-symmetric matrix has entries ``S[a, b] = (a + 2b + seed) / (a + b + seed + 2)``
    above the diagonal (a deterministic choice with no zeros), so every call returns the same
    matrix and different seeds give different matrices.
    """
    if size < 1:
        raise invalid_argument("size", size, "must be >= 1", "pass the matrix size")
    S = sympy.zeros(size, size)
    for a in range(size):
        for b in range(a + 1, size):
            S[a, b] = sympy.Rational(a + 2 * b + seed, a + b + seed + 2)
            S[b, a] = -S[a, b]
    identity = sympy.eye(size)
    return (identity - S) * (identity + S).inv()


@dataclass(frozen=True)
class PixelExample:
    """A matrix, one of its entries, and the exact errors of that entry at ranks 0..n.

    Attributes:
        W: the exact matrix ``U diag(sigma) V^T``.
        U, V: its rational orthogonal singular vectors (columns).
        singular_values: ``sigma``, distinct and decreasing, so the SVD is unique up to signs.
        row, col: the entry (0-based) whose error grows.
        errors: ``(W - W_k)[row, col]`` for ``k = 0, 1, ..., n``, exact rationals.
        frobenius_squared: ``||W - W_k||_F^2`` for the same k.
    """

    W: sympy.Matrix
    U: sympy.Matrix
    V: sympy.Matrix
    singular_values: tuple[int, ...]
    row: int
    col: int
    errors: tuple[sympy.Rational, ...]
    frobenius_squared: tuple[sympy.Rational, ...]


@functools.cache
def pixel_example() -> PixelExample:
    """Return the 3 x 3 example where entry (0, 1) is exact at k = 1 and wrong at k = 2.

    ``W = U diag(3, 2, 1) U^T`` with ``U = PIXEL_BASIS / 3``. The error of entry ``(0, 1)`` is
    ``sigma_2 u_01 u_11 + sigma_3 u_02 u_12 = (2 * 2 - 4 * 1) / 9 = 0`` at ``k = 1`` and
    ``sigma_3 u_02 u_12 = -4/9`` at ``k = 2``.
    """
    U = sympy.Matrix(PIXEL_BASIS) / 3
    V = U
    values = PIXEL_SINGULAR_VALUES
    W = U * sympy.diag(*values) * V.T
    size = len(values)
    errors, frobenius = [], []
    for rank in range(size + 1):
        W_k = (
            U[:, :rank] * sympy.diag(*values[:rank]) * V[:, :rank].T
            if rank
            else sympy.zeros(size, size)
        )
        E = W - W_k
        errors.append(sympy.nsimplify(E[0, 1]))
        frobenius.append(sympy.nsimplify(sum(entry**2 for entry in E)))
    return PixelExample(W, U, V, values, 0, 1, tuple(errors), tuple(frobenius))


PIXEL_MATRIX_TIMES_3 = ((5, 2, 0), (2, 6, 2), (0, 2, 7))
"""Three times the example matrix, as the claim states it."""

PIXEL_ERRORS = (sympy.Rational(2, 3), sympy.Integer(0), sympy.Rational(-4, 9), sympy.Integer(0))
"""The stated errors of entry (1, 2) (1-based) at k = 0, 1, 2, 3."""

PIXEL_FROBENIUS_SQUARED = (14, 5, 1, 0)
"""The stated squared Frobenius errors at k = 0, 1, 2, 3: 1 + 4 + 9, then 4 + 1, 1, 0."""


def _pixel_example_holds() -> bool:
    example = pixel_example()
    orthogonal = sympy.eye(3) == example.U.T * example.U
    stated = sympy.Matrix(PIXEL_MATRIX_TIMES_3) / 3 == example.W
    errors = example.errors == PIXEL_ERRORS
    frobenius = example.frobenius_squared == tuple(
        sympy.Integer(v) for v in PIXEL_FROBENIUS_SQUARED
    )
    grows = abs(example.errors[2]) > abs(example.errors[1])
    return bool(orthogonal and stated and errors and frobenius and grows)


@functools.cache
def pixel_example_check() -> Derivation:
    """Check the stated 3 x 3 example exactly: one entry's error grows from k = 1 to k = 2."""
    statement = (
        r"W = U \operatorname{diag}(3, 2, 1) U^\top = \tfrac{1}{3}\begin{pmatrix}5&2&0\\2&6&2\\0&2&7\end{pmatrix},\ "
        r"U = \tfrac{1}{3}\begin{pmatrix}1&2&2\\2&1&-2\\2&-2&1\end{pmatrix}:\quad "
        r"(W - W_k)_{12} = \tfrac{2}{3},\ 0,\ -\tfrac{4}{9},\ 0;\quad "
        r"\lVert W - W_k\rVert_F^2 = 14,\ 5,\ 1,\ 0 \quad (k = 0, 1, 2, 3)"
    )
    return Derivation(
        claim="tsvd.pixel-error",
        title="Exact example: an entry exact at k = 1 and wrong at k = 2",
        scope=Scope.INSTANCES,
        bound="one 3 x 3 example in rational arithmetic",
        steps=(
            Step(
                statement,
                computation("sympy rational arithmetic: $U^\\top U = I$, then every listed value"),
                check=lambda _p, _c: _pixel_example_holds(),
            ),
        ),
        conclusion="The total squared error falls 14, 5, 1, 0 while entry (1, 2) goes from exact to off by 4/9.",
    )
