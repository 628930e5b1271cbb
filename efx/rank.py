"""Numerical rank: the number of singular values above a stated tolerance.

In exact arithmetic the rank of a matrix is the number of its nonzero singular values. A
computed SVD returns the exact singular values of a nearby matrix, so values that are zero in
exact arithmetic come back as rounding noise of order ``eps * sigma_1``, and usually not as
zero. A rank computed in floating point therefore counts the singular values above a
tolerance, and the result depends on that tolerance.

The default tolerance is the rule that ``numpy.linalg.matrix_rank`` (numpy 2.4) and
``torch.linalg.matrix_rank`` (torch 2.13) both document: ``sigma_1 * max(m, n) * eps``, with
``eps`` the machine epsilon of the matrix's dtype, and a value counts when it is strictly
greater than the tolerance.

:func:`svd_error_bound` bounds the rounding error of a computed SVD, so that checks can set a
tolerance from the dtype and the shape. The LAPACK Users' Guide (3rd ed., section 4.9) states
that LAPACK's SVD is backward stable with a "modestly growing" factor ``p(m, n)`` that it does
not give. The factor used here is our estimate, explained where it is set.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch

from efx.errors import EfxWarning, invalid_argument
from efx.tolerance import gamma, unit_roundoff

SVD_DTYPES = (torch.float32, torch.float64)
"""The dtypes :func:`numerical_rank` accepts: the real dtypes that torch's SVD supports on CPU."""

HOUSEHOLDER_CONSTANT = 4
"""Roundings per entry and per Householder reflection assumed by :func:`svd_error_bound`.

NOTE: an estimate, not a proven constant. Rounding-error analyses of Householder reflections
give a bound proportional to the vector length times a small constant that they leave
unspecified. With 4, the bound exceeded every reconstruction error that we measured with torch
2.13 on CPU, over 6,000 matrices from ``matrix_from_spectrum`` of sizes up to 8 x 8 in float32
and float64. The largest error, 98 u * sigma_1 for a 3 x 5 float64 matrix, met a bound of
166 u * sigma_1.
"""


def _check_size(name: str, size: object, minimum: int = 0) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < minimum:
        raise invalid_argument(
            name,
            size,
            f"must be an integer >= {minimum}",
            "pass a count, for example the matrix's shape",
        )
    return size


def _check_dtype(dtype: object) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise invalid_argument(
            "dtype",
            dtype,
            "must be a floating-point torch dtype",
            "pass W.dtype, for example torch.float32",
        )
    return dtype


def _check_scale(
    name: str, value: object, fix: str = "pass a norm or a singular value as a float"
) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise invalid_argument(name, value, "must be a finite real number >= 0", fix)
    return float(value)


def _check_matrix(W: object) -> torch.Tensor:
    if not isinstance(W, torch.Tensor):
        raise invalid_argument(
            "W",
            W,
            "must be a torch.Tensor",
            "convert it with torch.as_tensor(W, dtype=torch.float64)",
        )
    if W.ndim != 2:
        raise invalid_argument(
            "W",
            tuple(W.shape),
            "must be a 2-D matrix",
            "pass one matrix; loop over a batch yourself",
        )
    if W.dtype not in SVD_DTYPES:
        raise invalid_argument(
            "W.dtype",
            W.dtype,
            "must be torch.float32 or torch.float64",
            "convert it with W.double()",
        )
    if not bool(torch.isfinite(W).all()):
        raise invalid_argument(
            "W", W.tolist(), "must hold only finite values", "remove NaN and infinite entries first"
        )
    return W


def default_rank_tolerance(sigma_max: float, rows: int, cols: int, dtype: torch.dtype) -> float:
    """Return numpy's and torch's default rank tolerance ``sigma_max * max(rows, cols) * eps``.

    ``eps`` is the machine epsilon of ``dtype`` (twice the unit roundoff). The rule scales
    with ``sigma_max`` because rounding errors of the SVD scale with the matrix's norm.

    Args:
        sigma_max: the largest singular value, ``>= 0``.
        rows, cols: the matrix's shape.
        dtype: the dtype the singular values were computed in.

    Returns:
        The threshold: singular values strictly greater than it count towards the rank.

    Raises:
        InvalidArgumentError: if ``sigma_max`` is negative or not finite, a size is negative,
            or ``dtype`` is not a floating-point dtype.

    >>> default_rank_tolerance(1.0, 3, 5, torch.float64) == 5 * torch.finfo(torch.float64).eps
    True
    """
    sigma_max = _check_scale("sigma_max", sigma_max)
    _check_size("rows", rows)
    _check_size("cols", cols)
    _check_dtype(dtype)
    return sigma_max * max(rows, cols) * torch.finfo(dtype).eps


def numerical_rank(W: torch.Tensor, tol: float | None = None) -> int:
    """Count the singular values of ``W`` that are strictly greater than ``tol``.

    With ``tol=None`` the threshold is :func:`default_rank_tolerance`, the rule of numpy and
    torch. An explicit ``tol`` is an absolute threshold. It should exceed the rounding noise
    on the zero singular values and lie below the smallest singular value that counts.

    Args:
        W: a 2-D float32 or float64 tensor with finite entries, on any device.
        tol: the absolute threshold, ``>= 0``, or None for the default.

    Returns:
        The numerical rank, between 0 and ``min(rows, cols)``.

    Raises:
        InvalidArgumentError: if ``W`` is not a finite 2-D float32 or float64 tensor, or
            ``tol`` is negative, NaN or infinite.

    Warns:
        EfxWarning: when ``tol`` is 0, because every computed singular value that is not
            exactly zero then counts, rounding noise included.

    >>> numerical_rank(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64))
    2
    """
    W = _check_matrix(W)
    threshold = None
    if tol is not None:
        threshold = _check_scale(
            "tol", tol, "pass an absolute threshold on the singular values, or None for the default"
        )
    if threshold == 0.0:
        warnings.warn(
            "numerical_rank(tol=0) counts every computed singular value that is not exactly zero, "
            "so rounding noise counts as rank; pass tol=None for the default tolerance, or a "
            "bound on the rounding error",
            EfxWarning,
            stacklevel=2,
        )
    singular_values = torch.linalg.svdvals(W)
    if singular_values.numel() == 0:
        return 0
    if threshold is None:
        rows, cols = W.shape
        threshold = default_rank_tolerance(float(singular_values[0]), rows, cols, W.dtype)
    return int((singular_values > threshold).sum())


def svd_error_bound(rows: int, cols: int, dtype: torch.dtype) -> float:
    """Return ``rho``, a bound on a computed SVD's rounding error relative to ``sigma_1``.

    A backward-stable SVD computes factors within ``rho`` of orthogonal that form the exact SVD
    of a nearby matrix ``W + E`` with ``||E||_2 <= rho * sigma_1``. So each computed singular
    value lies within ``rho * sigma_1`` of the exact one (Weyl's inequality), the reconstruction
    ``U diag(S) Vh`` lies within about ``rho * sigma_1`` of ``W``, and ``||U^T U - I||_2`` is at
    most about ``2 rho``.

    The count: Householder bidiagonalisation applies ``p = min(rows, cols)`` reflections from
    the left (length ``rows``) and ``p`` from the right (length ``cols``). Each reflection
    adds at most ``HOUSEHOLDER_CONSTANT * length`` roundings relative to the column norm. That
    makes ``k = HOUSEHOLDER_CONSTANT * p * (rows + cols)`` roundings, and ``gamma(k)`` bounds
    their effect. The Frobenius norm bounds the 2-norm and is at most ``sqrt(p) * sigma_1``,
    which gives the factor ``sqrt(p)``.

    Args:
        rows, cols: the matrix's shape.
        dtype: the dtype the SVD runs in.

    Returns:
        ``gamma(k, dtype) * sqrt(p)``, 0 for an empty matrix.

    Raises:
        InvalidArgumentError: if a size is negative, ``dtype`` is not floating point, or the
            matrix is so large that ``k * u >= 1`` (no bound of this form exists).

    >>> svd_error_bound(8, 8, torch.float32) < 1e-4
    True
    """
    _check_size("rows", rows)
    _check_size("cols", cols)
    _check_dtype(dtype)
    p = min(rows, cols)
    roundings = HOUSEHOLDER_CONSTANT * p * (rows + cols)
    u = unit_roundoff(dtype)
    if roundings * u >= 1:
        raise invalid_argument(
            "(rows, cols)",
            (rows, cols),
            f"must satisfy {HOUSEHOLDER_CONSTANT} * min(rows, cols) * (rows + cols) * u < 1 with u = {u:g}",
            "use a wider dtype, or bound the error of so large an SVD another way",
        )
    return gamma(roundings, dtype) * math.sqrt(p)


def product_error_bound(inner: int, entries: int, scale: float, dtype: torch.dtype) -> float:
    """Return a bound on the 2-norm rounding error of a computed matrix or vector product.

    Each entry of the product is an inner product of length ``inner``: ``inner`` roundings on
    the longest chain (one multiplication, then the additions), so it errs by at most
    ``gamma(inner)`` times the sum of the absolute terms. By Cauchy-Schwarz that sum is at
    most the product of the two vectors' norms, which the caller bounds by ``scale``. The
    2-norm of a matrix or vector with ``entries`` entries is at most ``sqrt(entries)`` times
    its largest entry.

    Args:
        inner: the length of each inner product, ``>= 0``; add one for each extra rounding of
            an entry (a scaling or a subtraction).
        entries: the number of entries of the result, ``>= 0``.
        scale: a bound on the product of the norms of the two vectors behind each entry.
        dtype: the dtype the product is computed in.

    >>> product_error_bound(2, 4, 1.0, torch.float64) == 2 * gamma(2, torch.float64)
    True
    """
    _check_size("inner", inner)
    _check_size("entries", entries)
    scale = _check_scale("scale", scale)
    _check_dtype(dtype)
    return math.sqrt(entries) * gamma(inner, dtype) * scale
