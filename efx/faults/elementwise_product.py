"""Fault: the factor ``B = Sigma_k V_k^T`` is formed with ``*`` instead of a matrix product.

What is wrong: :func:`low_rank_factors` builds ``Sigma = diag(S)`` and multiplies it with
``Vh`` elementwise. Where the shapes broadcast (``k = n``) the result is a diagonal matrix
that keeps only ``sigma_i (V^T)_{ii}``, so ``A @ B`` is far from ``W_k``. Where they do not
broadcast (``k < n``, ``k > 1``) it raises. With ``k = 1`` it happens to be right, so a
test with rank-1 examples alone passes.

Seen in practice: NumPy and torch code that writes the matrix product of the formula
``U Sigma V^T`` as ``U * Sigma * Vh`` (``*`` is elementwise on arrays and tensors).

Caught by: ``tsvd.factors`` (shapes and the product ``A B`` of each split against the
truncation's error).
"""

from __future__ import annotations

import torch

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401
from efx.lowrank import Split, truncated_svd


def low_rank_factors(
    W: torch.Tensor, k: int, split: Split = "left"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``A`` and ``B`` with ``diag(S) * Vh`` in place of ``diag(S) @ Vh`` (wrong)."""
    U, S, Vh = truncated_svd(W, k)
    if split == "left":
        # The fault: an elementwise product where the formula has a matrix product.
        return U, torch.diag(S) * Vh
    if split == "balanced":
        root = torch.diag(S.sqrt())
        return U * S.sqrt(), root * Vh
    return U * S, Vh
