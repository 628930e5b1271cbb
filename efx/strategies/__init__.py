"""Hypothesis strategies that ``verify/`` uses and that users can reuse in their own tests.

- :func:`section_sizes`: partitions of a batch into sections of unequal sizes;
- :func:`spectra`, :func:`spectral_matrices`: matrices with a prescribed singular spectrum
  (decaying, flat, repeated, with exact zeros, or a chosen condition number).
"""

from efx.strategies.batches import section_sizes
from efx.strategies.matrices import (
    SPECTRUM_KINDS,
    SpectralMatrix,
    matrix_from_spectrum,
    random_orthogonal,
    spectra,
    spectral_matrices,
)

__all__ = [
    "SPECTRUM_KINDS",
    "SpectralMatrix",
    "matrix_from_spectrum",
    "random_orthogonal",
    "section_sizes",
    "spectra",
    "spectral_matrices",
]
