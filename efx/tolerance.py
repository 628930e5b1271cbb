"""Floating-point tolerances derived from the dtype's unit roundoff and the size of the computation.

The bounds follow the standard rounding-error analysis of summation and inner products
(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., chapters 3 and 4):
with unit roundoff ``u = eps / 2``, recursive summation of ``k`` terms satisfies

    |fl(sum x_i) - sum x_i| <= gamma(k - 1) * sum |x_i|,   gamma(k) = k u / (1 - k u).

A check that compares two float computations of the same real quantity allows the sum of
both bounds. Every tolerance in ``verify/`` is built from these functions, with the
operation count and the magnitude it uses written where it is set.
"""

from __future__ import annotations

import torch

from efx.errors import invalid_argument


def unit_roundoff(dtype: torch.dtype) -> float:
    """Return ``u = eps / 2`` of a floating dtype: the largest relative error of one rounding.

    >>> unit_roundoff(torch.float64)
    1.1102230246251565e-16
    """
    if not dtype.is_floating_point:
        raise invalid_argument(
            "dtype", dtype, "must be a floating-point dtype", "pass float32 or float64"
        )
    return torch.finfo(dtype).eps / 2


def gamma(k: int, dtype: torch.dtype) -> float:
    """Return Higham's ``gamma_k = k u / (1 - k u)``, the error factor of ``k`` chained roundings.

    Raises:
        InvalidArgumentError: if ``k`` is negative or ``k u >= 1`` (no bound exists).
    """
    u = unit_roundoff(dtype)
    if k < 0:
        raise invalid_argument("k", k, "must be >= 0", "pass the number of roundings")
    if k * u >= 1:
        raise invalid_argument("k", k, f"must satisfy k * u < 1 (u = {u:g})", "use a wider dtype")
    return k * u / (1 - k * u)


def summation_bound(abs_sum: float, terms: int, dtype: torch.dtype) -> float:
    """Return the worst-case error of summing ``terms`` numbers whose absolute values add to ``abs_sum``.

    The bound holds for any summation order, so it covers blocked and pairwise kernels too.

    >>> summation_bound(10.0, 1, torch.float32)
    0.0
    """
    if terms < 1:
        raise invalid_argument("terms", terms, "must be >= 1", "pass the number of summed terms")
    return gamma(terms - 1, dtype) * abs_sum
