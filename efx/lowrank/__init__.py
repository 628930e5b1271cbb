"""Truncated SVD, exact and randomized, with the closed forms of its error.

For ``W`` (``m x n``) with singular values ``sigma_1 >= ... >= sigma_p`` (``p = min(m, n)``),
the truncated SVD ``W_k = U_k Sigma_k V_k^T`` is a best rank-k approximation in the spectral
and Frobenius norms (Eckart and Young 1936; Mirsky 1960), with errors ``sigma_{k+1}`` and
``sqrt(sum_{i>k} sigma_i^2)``.

- :func:`truncated_svd`, :func:`low_rank_factors`: the exact truncation (one full SVD) and
  its factors ``A`` (``m x k``), ``B`` (``k x n``) with ``A B = W_k``;
- :func:`randomized_svd`: the same rank-k triplets from a randomized range finder with
  oversampling and power iterations, re-orthonormalised after every product;
- :func:`frobenius_error_from_spectrum` and its siblings: the errors from the singular values,
  and :func:`frobenius_error_curve` for every k at once;
- :func:`max_relative_frobenius_error`: ``sqrt(1 - k/p)``, reached only by flat spectra;
- :func:`error_ratio_to_optimum`: an approximation's errors over the Eckart-Young optimum;
- :func:`truncation_error_tolerance`: how far computed errors may be from the exact ones.
"""

from efx.lowrank.optimality import ErrorRatio, error_ratio_to_optimum
from efx.lowrank.randomized import randomized_svd
from efx.lowrank.rounding import svd_backward_error, truncation_error_tolerance
from efx.lowrank.spectrum import (
    frobenius_error_curve,
    frobenius_error_from_spectrum,
    max_relative_frobenius_error,
    relative_frobenius_error_from_spectrum,
    relative_spectral_error_from_spectrum,
    spectral_error_from_spectrum,
)
from efx.lowrank.truncation import SPLITS, Split, TruncatedSVD, low_rank_factors, truncated_svd

__all__ = [
    "SPLITS",
    "ErrorRatio",
    "Split",
    "TruncatedSVD",
    "error_ratio_to_optimum",
    "frobenius_error_curve",
    "frobenius_error_from_spectrum",
    "low_rank_factors",
    "max_relative_frobenius_error",
    "randomized_svd",
    "relative_frobenius_error_from_spectrum",
    "relative_spectral_error_from_spectrum",
    "spectral_error_from_spectrum",
    "svd_backward_error",
    "truncated_svd",
    "truncation_error_tolerance",
]
