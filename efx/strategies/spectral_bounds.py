"""Rounding-error bounds for matrices built by :func:`efx.strategies.matrix_from_spectrum`.

``matrix_from_spectrum(sigma, rows, cols, seed, dtype)`` forms ``U diag(sigma) V^T`` in float64
from orthogonal factors that QR computes, then casts the product to ``dtype``. The stored
matrix is therefore not exactly the one with singular values ``sigma``. By Weyl's inequality
each of its exact singular values lies within :func:`construction_error_bound` of the drawn
``sigma_i``, so a check that compares computed singular values with ``sigma`` must allow
this bound on top of the SVD's own error (:func:`efx.rank.svd_error_bound`).
"""

from __future__ import annotations

import math
import numbers

import torch

from efx.errors import invalid_argument
from efx.rank import svd_error_bound
from efx.tolerance import gamma, unit_roundoff


def construction_error_bound(rows: int, cols: int, sigma_max: float, dtype: torch.dtype) -> float:
    """Return a bound on ``||W - U diag(sigma) V^T||_2`` for ``W`` from ``matrix_from_spectrum``.

    ``U`` and ``V`` here are exactly orthogonal matrices next to the computed QR factors.
    The bound adds three first-order terms, each proportional to ``sigma_max``:

    - the computed QR factors are at most ``rho`` from orthogonal, with ``rho`` from
      :func:`efx.rank.svd_error_bound` for a square matrix: Householder QR of an ``n x n``
      matrix applies ``n`` reflections, half of the count behind that bound;
    - each entry of the float64 product sums ``p`` terms after one scaling. Its error is at
      most ``gamma(p + 1) * sigma_max`` times the norms of a row of each factor, about 1. The
      Frobenius norm over the ``rows * cols`` entries bounds the 2-norm;
    - the cast to ``dtype`` rounds each entry once, which adds at most ``u * ||W||_F``, and
      ``||W||_F <= sqrt(min(rows, cols)) * ||W||_2``.

    The factor ``(1 + rho_rows + rho_cols)^2`` covers the higher-order terms: the product of
    the two factors' errors, and the row norms of the factors, which may exceed 1 by ``rho``.

    Args:
        rows, cols: the shape of the matrix, at least 1 each.
        sigma_max: the largest drawn singular value, ``>= 0``.
        dtype: the dtype the matrix was cast to.

    Raises:
        InvalidArgumentError: if a size is below 1 or ``sigma_max`` is negative or not finite.
    """
    for name, size in (("rows", rows), ("cols", cols)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise invalid_argument(name, size, "must be an integer >= 1", "pass the matrix's shape")
    if (
        isinstance(sigma_max, bool)
        or not isinstance(sigma_max, numbers.Real)
        or not math.isfinite(sigma_max)
        or sigma_max < 0
    ):
        raise invalid_argument(
            "sigma_max",
            sigma_max,
            "must be a finite real number >= 0",
            "pass the largest drawn singular value",
        )
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise invalid_argument(
            "dtype",
            dtype,
            "must be a floating-point torch dtype",
            "pass the dtype the matrix was cast to",
        )
    p = min(rows, cols)
    factors = svd_error_bound(rows, rows, torch.float64) + svd_error_bound(
        cols, cols, torch.float64
    )
    product = math.sqrt(rows * cols) * gamma(p + 1, torch.float64)
    float64_error = (factors + product) * (1 + factors) ** 2 * sigma_max
    cast = (
        0.0
        if dtype == torch.float64
        else unit_roundoff(dtype) * math.sqrt(p) * (sigma_max + float64_error)
    )
    return float64_error + cast


def singular_value_noise(rows: int, cols: int, sigma_max: float, dtype: torch.dtype) -> float:
    """Return ``e``: each computed singular value of a ``matrix_from_spectrum`` matrix lies within ``e`` of ``sigma_i``.

    Weyl's inequality moves each singular value by at most the 2-norm of a perturbation. Two
    perturbations separate the drawn ``sigma`` from the computed ``S``: the construction error
    (:func:`construction_error_bound`) and the SVD's backward error, at most
    ``svd_error_bound(rows, cols, dtype)`` times the stored matrix's norm.

    Args:
        rows, cols: the shape of the matrix, at least 1 each.
        sigma_max: the largest drawn singular value, ``>= 0``.
        dtype: the dtype of the matrix and of its SVD.
    """
    construction = construction_error_bound(rows, cols, sigma_max, dtype)
    return construction + svd_error_bound(rows, cols, dtype) * (sigma_max + construction)
