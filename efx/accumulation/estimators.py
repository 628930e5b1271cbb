"""Exact estimators of a window's mean loss and clipped gradient, for worked examples.

Each function takes the losses of a window's sections (micro-batches) as numbers. It returns
exact rationals (:class:`fractions.Fraction`) or exact sympy vectors, so that a page or a
check can show the full-batch value next to the common mistakes without rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import sympy

from efx.errors import invalid_argument

Number = int | Fraction


def _check_sections(sections: Sequence[Sequence[Number]]) -> list[list[Fraction]]:
    if not sections or any(len(section) == 0 for section in sections):
        raise invalid_argument(
            "sections",
            sections,
            "must hold at least one section, each with at least one loss",
            "drop empty sections",
        )
    return [[Fraction(x) for x in section] for section in sections]


def full_batch_mean(sections: Sequence[Sequence[Number]]) -> Fraction:
    """Return the mean over every loss of every section: the full-batch mean.

    >>> full_batch_mean([[1, 2, 3], [10, 20]])
    Fraction(36, 5)
    """
    exact = _check_sections(sections)
    return sum((sum(s, Fraction(0)) for s in exact), Fraction(0)) / Fraction(
        sum(len(s) for s in exact)
    )


def mean_of_section_means(
    sections: Sequence[Sequence[Number]], divisor: Number | None = None
) -> Fraction:
    """Return ``(1/divisor) * sum_j mean(section j)``; ``divisor`` defaults to the number of sections.

    >>> mean_of_section_means([[1, 2, 3], [10, 20]], divisor=4)
    Fraction(17, 4)
    """
    exact = _check_sections(sections)
    divide_by = Fraction(len(exact) if divisor is None else divisor)
    if divide_by <= 0:
        raise invalid_argument(
            "divisor", divisor, "must be positive", "pass the number of sections"
        )
    return sum((sum(s, Fraction(0)) / len(s) for s in exact), Fraction(0)) / divide_by


def sum_over_count(sections: Sequence[Sequence[Number]], divisor: Number) -> Fraction:
    """Return ``(1/divisor) * sum of every loss``: summed section losses over a count.

    >>> sum_over_count([[1, 2, 3], [10, 20]], divisor=4)
    Fraction(9, 1)
    """
    exact = _check_sections(sections)
    if Fraction(divisor) <= 0:
        raise invalid_argument("divisor", divisor, "must be positive", "pass the window's count")
    return sum((sum(s) for s in exact), Fraction(0)) / Fraction(divisor)


def norm(vector: sympy.Matrix) -> sympy.Expr:
    """Return the exact Euclidean norm of a sympy vector."""
    return sympy.sqrt(sum((x**2 for x in vector), sympy.Integer(0)))


def _clip(vector: sympy.Matrix, max_norm: sympy.Expr) -> sympy.Matrix:
    length = norm(vector)
    return vector if length <= max_norm else vector * (max_norm / length)


def clipping_strategies(
    micro_gradients: Sequence[Sequence[Number]], max_norm: Number
) -> dict[str, sympy.Matrix]:
    """Return, exactly, three ways of clipping an accumulated gradient of ``m`` micro-gradients.

    - ``"once"``: clip the accumulated mean ``(1/m) sum_j g_j`` once: the full-batch step;
    - ``"running"``: add ``g_j / m`` to a buffer and clip the buffer after every micro-step;
    - ``"each"``: clip every ``g_j / m`` and sum the clipped pieces.

    >>> clipping_strategies([[3, 0], [0, 1]], 1)["each"].T
    Matrix([[1, 1/2]])
    """
    if not micro_gradients:
        raise invalid_argument(
            "micro_gradients", micro_gradients, "must hold at least one gradient", "pass g_1..g_m"
        )
    limit = sympy.nsimplify(max_norm)
    if not limit > 0:
        raise invalid_argument(
            "max_norm", max_norm, "must be positive", "pass the clipping threshold"
        )
    m = len(micro_gradients)
    shares = [sympy.Matrix([sympy.nsimplify(x) for x in g]) / m for g in micro_gradients]
    if len({share.shape for share in shares}) != 1:
        raise invalid_argument(
            "micro_gradients",
            micro_gradients,
            "must all have the same length",
            "pass equal-length vectors",
        )
    running = sympy.zeros(*shares[0].shape)
    for share in shares:
        running = _clip(running + share, limit)
    total = sum(shares, sympy.zeros(*shares[0].shape))
    each = sum((_clip(share, limit) for share in shares), sympy.zeros(*shares[0].shape))
    return {"once": _clip(total, limit), "running": running, "each": each}
