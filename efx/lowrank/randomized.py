"""Randomized truncated SVD: a range finder with oversampling and power iterations, then a small SVD.

The method (Halko, Martinsson and Tropp, "Finding structure with randomness", SIAM Review
53(2), 2011) multiplies ``W`` (``m x n``) by a Gaussian test matrix ``Omega`` (``n x l``,
``l = k + oversample``), so ``Y = W Omega`` samples the range of ``W``. Each power iteration
multiplies by ``W W^T`` once more, which scales the component along ``u_i`` by ``sigma_i^2``
and so damps the tail relative to the top ``k`` directions. With ``Q`` an orthonormal basis of
the final sample, ``Q [Q^T W]_k`` is the best rank-k approximation of ``W`` whose columns lie
in ``range(Q)``. Its SVD comes from the SVD of the small ``l x n`` matrix ``Q^T W``.

Note on re-orthonormalisation: forming ``(W W^T)^q W Omega`` directly squeezes every column
towards ``u_1``. A direction whose weight ``(sigma_i / sigma_1)^(2q+1)`` falls below the unit
roundoff is lost to rounding (float32: ``u = 2^-24``, about 6e-8), and the truncation then
misses part of the top k. This module orthonormalises (QR) after every product with ``W`` or
``W^T``, so each product acts on an orthonormal basis and only ratios within one product count.
"""

from __future__ import annotations

from typing import NoReturn

import torch

from efx.errors import invalid_argument
from efx.lowrank._checks import all_finite, check_finite, check_matrix, check_rank
from efx.lowrank.truncation import TruncatedSVD


def _orthonormal_basis(Y: torch.Tensor) -> torch.Tensor:
    Q: torch.Tensor = torch.linalg.qr(Y, mode="reduced").Q
    return Q


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid_argument(
            name, value, "must be an int >= 0", f"pass {name}=0 or a small positive integer"
        )
    return value


def _check_test_matrix(test_matrix: object, W: torch.Tensor, k: int) -> torch.Tensor:
    n = W.shape[1]
    if not isinstance(test_matrix, torch.Tensor) or test_matrix.ndim != 2:
        raise invalid_argument(
            "test_matrix",
            test_matrix,
            "must be a 2-D torch.Tensor",
            f"pass an n x l matrix, n = {n}",
        )
    if test_matrix.shape[0] != n or test_matrix.shape[1] < k:
        raise invalid_argument(
            "test_matrix",
            tuple(test_matrix.shape),
            f"must have W.shape[1] = {n} rows and at least k = {k} columns",
            f"pass torch.randn({n}, k + oversample)",
        )
    if test_matrix.dtype != W.dtype or test_matrix.device != W.device:
        raise invalid_argument(
            "test_matrix",
            f"{test_matrix.dtype} on {test_matrix.device}",
            f"must have W's dtype and device ({W.dtype} on {W.device})",
            "convert it with .to(W)",
        )
    if not all_finite(test_matrix):
        raise invalid_argument(
            "test_matrix",
            "a matrix with NaN or infinite entries",
            "must be finite",
            "draw it again",
        )
    return test_matrix


def randomized_svd(
    W: torch.Tensor,
    k: int,
    *,
    oversample: int = 10,
    power_iterations: int = 2,
    generator: torch.Generator | None = None,
    test_matrix: torch.Tensor | None = None,
) -> TruncatedSVD:
    """Approximate the leading ``k`` singular triplets of ``W`` by a randomized range finder.

    Cost: ``2 q + 2`` products of ``W`` (or ``W^T``) with an ``l``-column matrix, ``2 q + 1``
    QR factorisations of ``m x l`` or ``n x l`` matrices and one SVD of an ``l x n`` matrix,
    where ``q = power_iterations`` and ``l = min(k + oversample, m, n)``. With ``l = min(m, n)``
    the basis spans the whole column space (for a test matrix of full rank) and the result is
    the exact truncated SVD up to rounding.

    The error is never below the Eckart-Young optimum. For a spectrum with a gap after
    ``sigma_k`` it approaches the optimum quickly in ``q``: in exact arithmetic,
    ``||W - W_hat||_F^2 <= sum_{i>k} sigma_i^2 + (sigma_{k+1}/sigma_k)^{4q}
    ||Sigma_2 Omega_2 Omega_1^+||_F^2`` whenever ``Omega_1 = V_k^T Omega`` has full row rank.

    Args:
        W: a finite 2-D float32 or float64 tensor, ``m x n``.
        k: the rank, ``1 <= k <= min(m, n)``.
        oversample: extra sample columns beyond ``k`` (10 is a common choice; at least 2
            makes large errors unlikely for a Gaussian test matrix).
        power_iterations: ``q``, the number of multiplications by ``W W^T``, each followed by
            re-orthonormalisation. More iterations help when the spectrum decays slowly.
        generator: the random generator for the Gaussian test matrix, on ``W``'s device;
            ``None`` uses torch's global generator.
        test_matrix: an ``n x l`` test matrix to use instead of a Gaussian draw (then
            ``oversample`` and ``generator`` are ignored and ``l`` is its column count).

    Returns:
        ``TruncatedSVD(U, S, Vh)`` with shapes ``(m, k)``, ``(k,)``, ``(k, n)``.

    Raises:
        InvalidArgumentError: on a bad ``W`` or ``k``, a negative ``oversample`` or
            ``power_iterations``, a generator on another device, or a test matrix of the
            wrong shape, dtype or device.

    >>> W = torch.diag(torch.tensor([5.0, 3.0, 1.0, 0.5], dtype=torch.float64))
    >>> approx = randomized_svd(W, 2, generator=torch.Generator().manual_seed(0))
    >>> [round(value, 9) for value in approx.S.tolist()]
    [5.0, 3.0]
    """
    # W's finiteness is checked on the small outputs below, not up front: a full pass over W
    # would cost about as much as one of the products.
    check_matrix("W", W, finite=False)
    check_rank(k, W)
    _check_count("oversample", oversample)
    _check_count("power_iterations", power_iterations)
    m, n = W.shape

    if test_matrix is None:
        if generator is not None and generator.device.type != W.device.type:
            raise invalid_argument(
                "generator",
                f"a generator on {generator.device}",
                f"must be on W's device ({W.device})",
                f"create it with torch.Generator(device='{W.device.type}')",
            )
        sample_size = min(k + oversample, m, n)
        Omega = torch.randn(n, sample_size, generator=generator, dtype=W.dtype, device=W.device)
    else:
        Omega = _check_test_matrix(test_matrix, W, k)

    try:
        result = _range_finder_svd(W, k, Omega, power_iterations)
    except torch.linalg.LinAlgError as error:  # type: ignore[attr-defined]  # not re-exported in the stubs
        _reject_non_finite_result(W, error)
    if not (all_finite(result.U) and all_finite(result.S) and all_finite(result.Vh)):
        _reject_non_finite_result(W)
    return result


def _range_finder_svd(
    W: torch.Tensor, k: int, Omega: torch.Tensor, power_iterations: int
) -> TruncatedSVD:
    # Range finder: an orthonormal basis after each product keeps the small directions.
    Q = _orthonormal_basis(W @ Omega)
    for _ in range(power_iterations):
        Q = _orthonormal_basis(W.mT @ Q)
        Q = _orthonormal_basis(W @ Q)

    # Project onto the basis and take the SVD of the small matrix.
    Ub, S, Vh = torch.linalg.svd(Q.mT @ W, full_matrices=False)
    return TruncatedSVD(Q @ Ub[:, :k], S[:k], Vh[:k, :])


def _reject_non_finite_result(W: torch.Tensor, cause: Exception | None = None) -> NoReturn:
    # Every entry of W enters Q^T W, and 0 * inf is NaN, so a NaN or infinite entry of W always
    # reaches the outputs; finite outputs therefore prove W finite. Non-finite outputs from a
    # finite W mean that a product overflowed.
    check_finite("W", W)
    raise invalid_argument(
        "W",
        f"a {tuple(W.shape)} {W.dtype} matrix with largest entry {float(W.abs().max()):.3g}",
        "must be small enough that products with W do not overflow",
        "scale W down (the factors scale back by the same factor) or use float64",
    ) from cause
