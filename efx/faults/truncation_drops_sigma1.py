"""Fault: the truncation keeps triplets ``2..k+1`` and drops the largest singular value.

What is wrong: :func:`truncated_svd` slices ``U[:, 1:k + 1]``, ``S[1:k + 1]`` and
``Vh[1:k + 1, :]``, reading the 1-based notation ``u_1 .. u_k`` as Python indices. The
result skips ``sigma_1``, the direction that carries the most energy, so its error is at
least ``sigma_1`` instead of ``sigma_{k+1}``, and at ``k = min(m, n)`` it has one triplet
too few.

Seen in practice: translating ``W_k = sum_{i=1}^{k} sigma_i u_i v_i^T`` from a textbook into
NumPy or torch slices, also as ``U[:, 1:k]`` (which drops ``sigma_1`` and keeps ``k - 1``).

Caught by: ``tsvd.factors`` and ``tsvd.error-closed-form`` (shapes and errors of the
truncation against the drawn spectrum).
"""

from __future__ import annotations

import torch

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401
from efx.lowrank import Split, TruncatedSVD


def truncated_svd(W: torch.Tensor, k: int) -> TruncatedSVD:
    """Return triplets ``2..k+1`` of ``W`` (wrong: the first ``k`` are ``0..k-1``)."""
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    # The fault: 1-based indices used as 0-based slices.
    return TruncatedSVD(U[:, 1 : k + 1], S[1 : k + 1], Vh[1 : k + 1, :])


def low_rank_factors(
    W: torch.Tensor, k: int, split: Split = "left"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the factors of the faulty truncation above."""
    return truncated_svd(W, k).factors(split)
