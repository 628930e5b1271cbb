"""Fault: singular vectors forced to a sign convention on ``U`` alone.

What is wrong: :func:`truncated_svd` compares each left singular vector with a sign
convention (its largest entry positive) and flips the columns of ``U`` that break it, but
not the matching rows of ``Vh``. Singular vectors are unique only up to a joint sign of
``(u_i, v_i)``: flipping ``u_i`` alone turns ``sigma_i u_i v_i^T`` into its negative, so
the reconstruction is wrong for every flipped column.

Seen in practice: code that compares singular vectors entrywise with stored ones (across
runs, libraries or devices), sees opposite signs and "fixes" them on one side only. The
correct fix flips ``u_i`` and ``v_i`` together, or compares invariants such as
``U diag(S) V^T`` or projectors.

Caught by: ``tsvd.error-closed-form`` and ``tsvd.factors`` (reconstruction errors against
the drawn spectrum).
"""

from __future__ import annotations

import torch

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401
from efx.lowrank import Split, TruncatedSVD


def truncated_svd(W: torch.Tensor, k: int) -> TruncatedSVD:
    """Return the first ``k`` triplets with each ``u_i``'s largest entry made positive (wrong)."""
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    U, S, Vh = U[:, :k], S[:k], Vh[:k, :]
    largest = U.abs().argmax(dim=0)
    signs = torch.sign(U[largest, torch.arange(k, device=U.device)])
    # The fault: the sign flip reaches U's columns but not Vh's rows.
    return TruncatedSVD(U * signs, S, Vh)


def low_rank_factors(
    W: torch.Tensor, k: int, split: Split = "left"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the factors of the faulty truncation above."""
    return truncated_svd(W, k).factors(split)
