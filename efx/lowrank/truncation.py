"""Exact truncated SVD: the rank-k approximation ``W_k = U_k Sigma_k V_k^T`` and its two factors.

``torch.linalg.svd`` returns ``U, S, Vh`` with ``W = U diag(S) Vh``, ``S`` in non-increasing
order. The truncation ``W_k`` keeps the first ``k`` of each: ``U[:, :k]``, ``S[:k]`` and
``Vh[:k, :]``. These are 0-based slices, so they are columns and rows ``1..k`` in the 1-based
notation of the pages. ``W_k`` is a best rank-k approximation in the spectral and Frobenius
norms (Eckart and Young 1936, Mirsky 1960), and :mod:`efx.lowrank.spectrum` gives its error in
closed form.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import torch

from efx.errors import invalid_argument
from efx.lowrank._checks import check_matrix, check_rank

Split = Literal["left", "balanced", "right"]
SPLITS: tuple[str, ...] = get_args(Split)


class TruncatedSVD(NamedTuple):
    """The leading ``k`` singular triplets of a matrix, in ``torch.linalg.svd``'s convention.

    Attributes:
        U: ``m x k``, orthonormal columns (the first k left singular vectors).
        S: ``k`` singular values, non-increasing.
        Vh: ``k x n``, orthonormal rows (the first k right singular vectors, transposed).
    """

    U: torch.Tensor
    S: torch.Tensor
    Vh: torch.Tensor

    @property
    def rank(self) -> int:
        """The number ``k`` of kept singular triplets."""
        return int(self.S.numel())

    def reconstruct(self) -> torch.Tensor:
        """Return ``U diag(S) Vh``, the ``m x n`` rank-k approximation.

        Scaling the columns of ``U`` by ``S`` (a broadcast) is the matrix product with
        ``diag(S)``, without forming the diagonal matrix.
        """
        return (self.U * self.S) @ self.Vh

    def factors(self, split: Split = "left") -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(A, B)`` with ``A @ B == U diag(S) Vh``: ``A`` is ``m x k``, ``B`` is ``k x n``.

        Args:
            split: where the singular values go. ``"left"``: ``A = U_k`` (orthonormal
                columns), ``B = Sigma_k V_k^T``. ``"balanced"``: ``A = U_k Sigma_k^{1/2}``,
                ``B = Sigma_k^{1/2} V_k^T``, both factors with the same column and row norms.
                ``"right"``: ``A = U_k Sigma_k``, ``B = V_k^T`` (orthonormal rows).

        Raises:
            InvalidArgumentError: if ``split`` is not one of these.
        """
        if split == "left":
            return self.U, self.S[:, None] * self.Vh
        if split == "balanced":
            root = self.S.sqrt()
            return self.U * root, root[:, None] * self.Vh
        if split == "right":
            return self.U * self.S, self.Vh
        raise invalid_argument(
            "split", split, f"must be one of {SPLITS}", "pass 'left', 'balanced' or 'right'"
        )


def truncated_svd(W: torch.Tensor, k: int) -> TruncatedSVD:
    """Compute the leading ``k`` singular triplets of ``W`` with a full (exact) SVD.

    Cost: one ``torch.linalg.svd(W, full_matrices=False)``, ``O(m n min(m, n))``. For small
    ``k`` and large matrices :func:`efx.lowrank.randomized_svd` is much cheaper.

    Args:
        W: a finite 2-D float32 or float64 tensor, ``m x n``, on any device.
        k: the rank to keep, ``1 <= k <= min(m, n)``.

    Returns:
        ``TruncatedSVD(U, S, Vh)`` with shapes ``(m, k)``, ``(k,)``, ``(k, n)``.

    Raises:
        InvalidArgumentError: if ``W`` is not a finite float32/float64 matrix or ``k`` is out of range.

    >>> W = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    >>> truncated_svd(W, 1).reconstruct()
    tensor([[3., 0.],
            [0., 0.]], dtype=torch.float64)
    """
    check_matrix("W", W)
    check_rank(k, W)
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    return TruncatedSVD(U[:, :k], S[:k], Vh[:k, :])


def low_rank_factors(
    W: torch.Tensor, k: int, split: Split = "left"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return factors ``A`` (``m x k``) and ``B`` (``k x n``) with ``A @ B = W_k``, the truncated SVD.

    ``A @ B`` equals ``W`` exactly (in real arithmetic) if and only if the discarded singular
    values ``sigma_{k+1}, ...`` are all zero, that is ``rank(W) <= k``.

    Args:
        W: a finite 2-D float32 or float64 tensor, ``m x n``.
        k: the rank, ``1 <= k <= min(m, n)``.
        split: ``"left"`` (``A = U_k``, ``B = Sigma_k V_k^T``), ``"balanced"`` (the square
            root of ``Sigma_k`` on each side) or ``"right"`` (``A = U_k Sigma_k``, ``B = V_k^T``).

    Raises:
        InvalidArgumentError: on a bad ``W``, ``k`` or ``split``.

    >>> W = torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    >>> A, B = low_rank_factors(W, 1)
    >>> (tuple(A.shape), tuple(B.shape), bool(torch.equal(A @ B, W)))
    ((2, 1), (1, 2), True)
    """
    if split not in SPLITS:
        raise invalid_argument(
            "split", split, f"must be one of {SPLITS}", "pass 'left', 'balanced' or 'right'"
        )
    return truncated_svd(W, k).factors(split)
