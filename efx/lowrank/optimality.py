"""Compare an approximation's error with the Eckart-Young optimum of its rank.

No matrix of rank at most ``k`` approximates ``W`` better than the truncated SVD ``W_k``, in
the Frobenius norm (optimum ``sqrt(sum_{i>k} sigma_i^2)``) and in the spectral norm (optimum
``sigma_{k+1}``). The ratio of an approximation's error to that optimum is therefore at
least 1 for every rank-k approximation, and it measures how far from best a method is: 1.01
means 1% more error than the truncated SVD.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from efx.errors import invalid_argument
from efx.lowrank._checks import check_matrix, check_rank, check_spectrum
from efx.lowrank.spectrum import frobenius_error_from_spectrum, spectral_error_from_spectrum


@dataclass(frozen=True)
class ErrorRatio:
    """An approximation's errors next to the Eckart-Young optimum of its rank.

    Attributes:
        frobenius: ``||W - approximation||_F / sqrt(sum_{i>k} sigma_i^2)``, at least 1 up to rounding.
        spectral: ``||W - approximation||_2 / sigma_{k+1}``, at least 1 up to rounding.
        frobenius_error, spectral_error: the approximation's errors.
        optimal_frobenius, optimal_spectral: the truncated SVD's errors.
    """

    frobenius: float
    spectral: float
    frobenius_error: float
    spectral_error: float
    optimal_frobenius: float
    optimal_spectral: float


def error_ratio_to_optimum(
    W: torch.Tensor,
    approximation: torch.Tensor,
    k: int,
    singular_values: torch.Tensor | None = None,
) -> ErrorRatio:
    """Return the errors of ``approximation`` relative to the best rank-k errors of ``W``.

    Everything is computed in float64: the errors of ``W - approximation`` and, unless
    ``singular_values`` is given, the singular values of ``W`` (one full SVD each, so this
    is a measurement tool, not part of a fast path).

    Args:
        W: the matrix, ``m x n``, finite float32 or float64.
        approximation: the ``m x n`` approximation, same device; its rank is not checked.
        k: the rank whose optimum is the reference, ``1 <= k < min(m, n)``.
        singular_values: the singular values of ``W`` if already known (non-increasing).

    Raises:
        InvalidArgumentError: on bad inputs, mismatched shapes, or when ``sigma_{k+1} = 0``
            (then ``rank(W) <= k``, the optimum is 0 and no ratio exists).

    >>> W = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64))
    >>> ratio = error_ratio_to_optimum(W, torch.zeros(3, 3, dtype=torch.float64), 1)
    >>> round(ratio.frobenius, 5), ratio.spectral
    (1.67332, 1.5)
    """
    check_matrix("W", W)
    check_matrix("approximation", approximation)
    check_rank(k, W)
    if approximation.shape != W.shape:
        raise invalid_argument(
            "approximation",
            tuple(approximation.shape),
            f"must have W's shape {tuple(W.shape)}",
            "pass the reconstructed matrix U diag(S) Vh, not its factors",
        )
    if singular_values is None:
        singular_values = torch.linalg.svdvals(W.double())
    else:
        check_spectrum("singular_values", singular_values)
        if singular_values.numel() != min(W.shape):
            raise invalid_argument(
                "singular_values",
                tuple(singular_values.shape),
                f"must hold min(W.shape) = {min(W.shape)} values",
                "pass torch.linalg.svdvals(W)",
            )
        singular_values = singular_values.double()

    optimal_frobenius = float(frobenius_error_from_spectrum(singular_values, k))
    optimal_spectral = float(spectral_error_from_spectrum(singular_values, k))
    if optimal_spectral == 0.0:
        raise invalid_argument(
            "k",
            k,
            f"must be below the rank of W, but sigma_{k + 1} = 0: the optimal error is 0 and no ratio exists",
            "compare the absolute errors instead, or pass a smaller k",
        )
    difference = W.double() - approximation.double()
    frobenius_error = float(torch.linalg.matrix_norm(difference, ord="fro"))
    spectral_error = float(torch.linalg.matrix_norm(difference, ord=2))
    return ErrorRatio(
        frobenius=frobenius_error / optimal_frobenius,
        spectral=spectral_error / optimal_spectral,
        frobenius_error=frobenius_error,
        spectral_error=spectral_error,
        optimal_frobenius=optimal_frobenius,
        optimal_spectral=optimal_spectral,
    )
