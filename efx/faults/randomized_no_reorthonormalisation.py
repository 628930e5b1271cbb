"""Fault: the randomized SVD's power iterations run without re-orthonormalisation.

What is wrong: :func:`randomized_svd` forms ``Y = (W W^T)^q W Omega`` with plain products and
orthonormalises only at the end. Every product scales the component along ``u_i`` by
``sigma_i``, so after ``2q + 1`` products the columns of ``Y`` all point almost along ``u_1``.
Directions whose relative weight ``(sigma_i / sigma_1)^(2q + 1)`` falls below the unit
roundoff are lost to rounding, and the final QR cannot recover them: the result misses part
of the top ``k`` and its error stays well above the optimum.

Seen in practice: the textbook one-line power scheme ``Q = qr((A @ A.T) ** q @ A @ Omega)``
in float32, with a slowly decaying spectrum and several iterations.

Caught by: ``tsvd.power-iteration-rounding`` (error ratio to the optimum on a spectrum
where plain power iterations lose the tail).
"""

from __future__ import annotations

import torch

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401
from efx.lowrank import TruncatedSVD


def randomized_svd(
    W: torch.Tensor,
    k: int,
    *,
    oversample: int = 10,
    power_iterations: int = 2,
    generator: torch.Generator | None = None,
    test_matrix: torch.Tensor | None = None,
) -> TruncatedSVD:
    """Approximate the top ``k`` triplets with power iterations and a single QR at the end."""
    m, n = W.shape
    if test_matrix is None:
        columns = min(k + oversample, m, n)
        test_matrix = torch.randn(n, columns, generator=generator, dtype=W.dtype, device=W.device)
    Y = W @ test_matrix
    for _ in range(power_iterations):
        # The fault: no QR between the products, so rounding erases the smaller directions.
        Y = W @ (W.mT @ Y)
    Q = torch.linalg.qr(Y, mode="reduced").Q
    Ub, S, Vh = torch.linalg.svd(Q.mT @ W, full_matrices=False)
    return TruncatedSVD(Q @ Ub[:, :k], S[:k], Vh[:k, :])
