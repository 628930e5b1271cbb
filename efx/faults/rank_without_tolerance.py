"""Fault: the numerical rank counts every singular value that is not exactly zero.

What is wrong: :func:`numerical_rank` returns the number of computed singular values above
``0`` instead of above a tolerance. Rounding leaves singular values of about
``u sigma_1 max(m, n)`` where the exact ones are zero, so a rank-deficient matrix almost
always comes out as full rank.

Seen in practice: ``(torch.linalg.svdvals(W) > 0).sum()`` or ``count_nonzero`` of the
singular values, used as the rank in place of ``torch.linalg.matrix_rank``.

Caught by: ``la.rounding-hides-rank`` and ``la.default-rank-tolerance`` (the default rule
on matrices whose exact rank is known, including one whose computed singular values are
all nonzero). The ``la.rank-nonzero-singular-values`` checks pass an explicit ``tol``, so
they do not see this fault.
"""

from __future__ import annotations

import torch

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401


def numerical_rank(W: torch.Tensor, tol: float | None = None) -> int:
    """Count the singular values above ``tol``, and above 0 when no ``tol`` is given (wrong)."""
    threshold = 0.0 if tol is None else tol
    return int((torch.linalg.svdvals(W) > threshold).sum())
