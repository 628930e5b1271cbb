"""Closed-form errors of the truncated SVD, computed from the singular values alone.

For ``W`` with singular values ``sigma_1 >= ... >= sigma_p >= 0`` (``p = min(m, n)``) and its
truncated SVD ``W_k``:

- ``||W - W_k||_F = sqrt(sigma_{k+1}^2 + ... + sigma_p^2)``;
- ``||W - W_k||_2 = sigma_{k+1}`` (0 when ``k = p``);
- relative Frobenius error ``sqrt(sum_{i>k} sigma_i^2 / sum_i sigma_i^2) <= sqrt(1 - k/p)``,
  with equality exactly when all ``sigma_i`` are equal (a flat spectrum).

By the Eckart-Young-Mirsky theorem no matrix of rank at most ``k`` has a smaller error in
either norm, so these are also the optimal errors a rank-k model can reach. ``k = 0`` is
allowed here and means ``W_0 = 0``.
"""

from __future__ import annotations

import math

import torch

from efx.errors import invalid_argument
from efx.lowrank._checks import check_spectrum, check_spectrum_rank


def frobenius_error_from_spectrum(S: torch.Tensor, k: int) -> torch.Tensor:
    """Return ``||W - W_k||_F = sqrt(sum_{i>k} sigma_i^2)`` from the singular values ``S`` of ``W``.

    ``torch.linalg.vector_norm`` scales before squaring, so tiny or huge singular values
    neither underflow nor overflow.

    Args:
        S: singular values of ``W``, non-increasing (``torch.linalg.svdvals(W)``).
        k: the truncation rank, ``0 <= k <= len(S)``.

    Returns:
        A 0-dim tensor in ``S``'s dtype and device.

    Raises:
        InvalidArgumentError: if ``S`` is not a non-increasing, non-negative finite 1-D tensor
            or ``k`` is out of range.

    >>> frobenius_error_from_spectrum(torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64), 1) ** 2
    tensor(5.0000, dtype=torch.float64)
    """
    check_spectrum("S", S)
    check_spectrum_rank(k, S)
    error: torch.Tensor = torch.linalg.vector_norm(S[k:])
    return error


def frobenius_error_curve(S: torch.Tensor) -> torch.Tensor:
    """Return ``||W - W_k||_F`` for every ``k = 0, 1, ..., len(S)`` at once (``len(S) + 1`` values).

    The discarded energies are cumulative sums from the smallest singular value up, so small
    terms are added first; dividing by ``sigma_1`` before squaring avoids overflow.

    Raises:
        InvalidArgumentError: if ``S`` is not a non-increasing, non-negative finite 1-D tensor.

    >>> curve = frobenius_error_curve(torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64))
    >>> [round(value**2, 12) for value in curve.tolist()]
    [21.0, 5.0, 1.0, 0.0]
    """
    check_spectrum("S", S)
    scale = S[0] if bool(S[0] > 0) else S.new_ones(())
    tails = torch.flip(torch.cumsum(torch.flip((S / scale) ** 2, [0]), 0), [0])
    curve: torch.Tensor = torch.cat([tails, tails.new_zeros(1)]).sqrt() * scale
    return curve


def spectral_error_from_spectrum(S: torch.Tensor, k: int) -> torch.Tensor:
    """Return ``||W - W_k||_2 = sigma_{k+1}`` (0 when ``k = len(S)``) from the singular values ``S``.

    >>> spectral_error_from_spectrum(torch.tensor([4.0, 2.0, 1.0]), 1)
    tensor(2.)
    """
    check_spectrum("S", S)
    check_spectrum_rank(k, S)
    if k == S.numel():
        return S.new_zeros(())
    tail: torch.Tensor = S[k]
    return tail


def relative_frobenius_error_from_spectrum(S: torch.Tensor, k: int) -> torch.Tensor:
    """Return ``||W - W_k||_F / ||W||_F = sqrt(sum_{i>k} sigma_i^2 / sum_i sigma_i^2)``.

    This number measures how good a rank-k approximation is: ``0`` means exact, and ``1``
    means no better than the zero matrix.

    Raises:
        InvalidArgumentError: if every singular value is zero (``W = 0``: the ratio is 0/0),
            or on the conditions of :func:`frobenius_error_from_spectrum`.

    >>> relative_frobenius_error_from_spectrum(torch.ones(4, dtype=torch.float64), 1)
    tensor(0.8660, dtype=torch.float64)
    """
    check_spectrum("S", S)
    check_spectrum_rank(k, S)
    total = torch.linalg.vector_norm(S)
    if bool(total == 0):
        raise invalid_argument(
            "S",
            S.tolist(),
            "must hold a nonzero singular value: the relative error of the zero matrix is 0/0",
            "use frobenius_error_from_spectrum, which is 0 for the zero matrix",
        )
    relative: torch.Tensor = torch.linalg.vector_norm(S[k:]) / total
    return relative


def relative_spectral_error_from_spectrum(S: torch.Tensor, k: int) -> torch.Tensor:
    """Return ``||W - W_k||_2 / ||W||_2 = sigma_{k+1} / sigma_1`` (0 when ``k = len(S)``).

    Raises:
        InvalidArgumentError: if every singular value is zero, or ``S`` or ``k`` is invalid.
    """
    check_spectrum("S", S)
    check_spectrum_rank(k, S)
    if bool(S[0] == 0):
        raise invalid_argument(
            "S",
            S.tolist(),
            "must hold a nonzero singular value: the relative error of the zero matrix is 0/0",
            "use spectral_error_from_spectrum, which is 0 for the zero matrix",
        )
    return spectral_error_from_spectrum(S, k) / S[0]


def max_relative_frobenius_error(p: int, k: int) -> float:
    """Return ``sqrt(1 - k/p)``: the largest relative Frobenius error of a rank-k truncation.

    Every matrix with ``p = min(m, n)`` singular values (not all zero) has
    ``||W - W_k||_F / ||W||_F <= sqrt(1 - k/p)``, with equality exactly for a flat spectrum,
    for example an orthogonal matrix. Because the discarded values are the smallest, their
    share of ``sum sigma_i^2`` is at most ``(p - k) / p``.

    Args:
        p: the number of singular values, ``min(m, n) >= 1``.
        k: the truncation rank, ``0 <= k <= p``.

    >>> max_relative_frobenius_error(4, 3)
    0.5
    """
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise invalid_argument("p", p, "must be an int >= 1", "pass min(W.shape)")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= p:
        raise invalid_argument(
            "k", k, f"must be an int with 0 <= k <= p = {p}", f"pass a rank between 0 and {p}"
        )
    return math.sqrt(1 - k / p)
