"""How far floating-point truncation errors can be from the exact ones: tolerances for checks.

LAPACK's SVD is backward stable: the computed SVD in a dtype with unit roundoff ``u`` is nearly
the exact SVD of ``W + E`` with ``||E||_2 <= p(m, n) u ||W||_2`` (LAPACK Users' Guide, 3rd ed.,
section 4.9). The guide calls ``p(m, n)`` a modestly growing function of the shape and gives no
formula. This module charges ``gamma(SVD_ROUNDINGS * max(m, n)) * ||W||_F`` with the standard
factor ``gamma(j) = j u / (1 - j u)`` of :mod:`efx.tolerance`.

NOTE: ``SVD_ROUNDINGS * max(m, n)`` is an assumed ``p(m, n)``, generous against the operation
counts of the Householder reductions and consistent with the property checks, not a proven bound.

Two facts turn a backward error into a bound on computed truncation errors: singular values
move by at most ``||E||`` (Weyl for each value, Mirsky for the vector in the Frobenius norm),
so the optimal errors of ``W`` and ``W + E`` differ by at most ``||E||_F``; and the error of
an approximation of ``W + E`` differs from its error as an approximation of ``W`` by at most
``||E||_F``. Rebuilding ``U diag(S) V^T`` from ``k`` triplets adds inner products of length
``k``, bounded by ``gamma(k) * k * ||W||_F``.
"""

from __future__ import annotations

import torch

from efx.errors import invalid_argument
from efx.tolerance import gamma

SVD_ROUNDINGS = 10
"""Roundings per entry charged to a dense SVD, times max(m, n): a generous p(m, n)."""


def svd_backward_error(norm: float, shape: tuple[int, int], dtype: torch.dtype) -> float:
    """Return the bound ``gamma(SVD_ROUNDINGS * max(m, n)) * norm`` on a computed SVD's backward error.

    Args:
        norm: ``||W||_F`` (or another norm bounding the one the caller compares in).
        shape: ``(m, n)``.
        dtype: the dtype the SVD runs in.
    """
    if norm < 0:
        raise invalid_argument("norm", norm, "must be >= 0", "pass ||W||_F")
    return gamma(SVD_ROUNDINGS * max(shape), dtype) * norm


def truncation_error_tolerance(
    norm: float, shape: tuple[int, int], k: int, dtype: torch.dtype
) -> float:
    """Return a bound on ``|computed ||W - W_k|| - exact ||W - W_k|||`` for a truncation computed in ``dtype``.

    The bound adds four terms. The backward error counts twice, once for the changed singular
    values and once for measuring against ``W`` instead of ``W + E``. The reconstruction adds
    its inner products of length ``k``, and storing ``W`` in ``dtype`` adds one rounding per
    entry. The bound holds for the spectral and the Frobenius norm, because the Frobenius
    bounds cover both.

    >>> f"{truncation_error_tolerance(1.0, (4, 4), 2, torch.float64):.1e}"
    '9.4e-15'
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise invalid_argument("k", k, "must be an int >= 0", "pass the truncation rank")
    backward = svd_backward_error(norm, shape, dtype)
    reconstruction = gamma(max(k, 1), dtype) * max(k, 1) * norm
    storage = gamma(1, dtype) * norm
    return 2 * backward + reconstruction + storage
