"""The photograph of the lr-image page, and the exact computation of its rank.

``skimage.data.camera()`` is a 512 x 512 grey-level photograph (integers 0..255) shipped
inside the scikit-image wheel, so it loads without a download. Its rank is computed exactly
by Gaussian elimination modulo a prime: a nonzero minor modulo ``P`` is nonzero over the
integers, so rank modulo ``P`` is a lower bound on the rank over the rationals, and 512
proves the matrix is full rank.
"""

from __future__ import annotations

from typing import Any

import numpy
import torch

from efx.errors import invalid_argument

PRIME = 65521
"""The largest prime below 2^16: products of two residues stay far below 2^63 in int64."""


def camera_pixels() -> Any:
    """Return the camera photograph as a 512 x 512 numpy array of uint8 grey levels."""
    # A docs and dev dependency, imported only when the photograph is needed.
    import skimage.data

    return skimage.data.camera()  # type: ignore[no-untyped-call]


def camera_matrix(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Return the camera photograph as a float tensor of grey levels 0..255 (exact in float32 and float64)."""
    return torch.from_numpy(camera_pixels().astype(numpy.float64)).to(dtype)


def rank_mod_prime(matrix: Any, prime: int = PRIME) -> int:
    """Return the rank of an integer matrix over the field of integers modulo ``prime``.

    The rank over the rationals is at least this value, because a minor that is nonzero
    modulo ``prime`` is a nonzero integer.

    >>> rank_mod_prime(numpy.array([[1, 2], [2, 4]]))
    1
    """
    values = numpy.asarray(matrix)
    if values.ndim != 2 or not numpy.issubdtype(values.dtype, numpy.integer):
        raise invalid_argument(
            "matrix", values.shape, "must be a 2-D integer array", "pass the integer pixel values"
        )
    if prime < 2 or prime >= 2**31:
        raise invalid_argument(
            "prime", prime, "must be a prime in [2, 2^31)", "use the default PRIME"
        )
    reduced = numpy.mod(values.astype(numpy.int64), prime)
    rows, cols = reduced.shape
    rank = 0
    for col in range(cols):
        candidates = numpy.nonzero(reduced[rank:, col])[0]
        if candidates.size == 0:
            continue
        pivot = rank + int(candidates[0])
        reduced[[rank, pivot]] = reduced[[pivot, rank]]
        inverse = pow(int(reduced[rank, col]), prime - 2, prime)  # Fermat: a^(P-2) = a^-1 mod P
        reduced[rank] = (reduced[rank] * inverse) % prime
        below = numpy.nonzero(reduced[rank + 1 :, col])[0] + rank + 1
        if below.size:
            factors = reduced[below, col][:, None]
            reduced[below] = (reduced[below] - (factors * reduced[rank][None, :]) % prime) % prime
        rank += 1
        if rank == rows:
            break
    return rank


def numerical_rank(S: torch.Tensor, shape: tuple[int, int], dtype: torch.dtype) -> int:
    """Return how many singular values exceed ``max(m, n) * eps(dtype) * sigma_1``.

    This is the default threshold of ``torch.linalg.matrix_rank`` (and of NumPy's): values
    below it are indistinguishable from rounding errors of a matrix stored in ``dtype``.
    """
    threshold = max(shape) * torch.finfo(dtype).eps * float(S.max())
    return int((threshold < S).sum())
