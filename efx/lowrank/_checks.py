"""Input checks shared by efx.lowrank: each raises efx's invalid-argument error before any work."""

from __future__ import annotations

import torch

from efx.errors import invalid_argument

SUPPORTED_DTYPES = (torch.float32, torch.float64)


def check_matrix(name: str, W: object, finite: bool = True) -> torch.Tensor:
    """Return ``W`` if it is a 2-D float32 or float64 tensor, finite unless ``finite`` is False; raise otherwise.

    ``finite=False`` leaves the finiteness check to the caller, for a fast path that checks
    its small outputs instead (see :func:`check_finite`).
    """
    if not isinstance(W, torch.Tensor):
        raise invalid_argument(
            name, W, "must be a torch.Tensor", f"pass torch.as_tensor({name}, dtype=torch.float64)"
        )
    if W.ndim != 2:
        raise invalid_argument(
            name,
            tuple(W.shape),
            f"must be a 2-D matrix, but it has {W.ndim} dimension(s)",
            "pass one matrix; loop over a batch, or reshape a vector with .reshape(1, -1)",
        )
    if W.dtype not in SUPPORTED_DTYPES:
        raise invalid_argument(
            f"{name}.dtype",
            W.dtype,
            "must be torch.float32 or torch.float64 (torch.linalg.svd needs one of them)",
            f"convert first, for example {name}.to(torch.float64)",
        )
    if W.numel() == 0:
        raise invalid_argument(
            name,
            tuple(W.shape),
            "must have at least one row and one column",
            "pass a non-empty matrix",
        )
    if finite:
        check_finite(name, W)
    return W


def check_finite(name: str, W: torch.Tensor) -> torch.Tensor:
    """Return ``W`` if every entry is finite; raise an invalid-argument error counting the bad entries."""
    if not all_finite(W):
        bad = int((~torch.isfinite(W)).sum())
        raise invalid_argument(
            name,
            f"a {tuple(W.shape)} matrix with {bad} NaN or infinite entries",
            "must be finite",
            "replace or drop the non-finite entries before decomposing",
        )
    return W


def all_finite(X: torch.Tensor) -> bool:
    """Return True if every entry of ``X`` is finite, usually with one reduction instead of a full mask.

    A NaN or infinite entry makes the sum NaN or infinite, so a finite sum proves every entry
    finite. A non-finite sum can also come from overflow of finite entries, so only then does
    the check test entry by entry (a full pass costs about as much as one product with W).
    """
    if bool(torch.isfinite(X.sum())):
        return True
    return bool(torch.isfinite(X).all())


def check_rank(k: object, W: torch.Tensor, name: str = "k") -> int:
    """Return ``k`` if it is an int with ``1 <= k <= min(W.shape)``; raise otherwise."""
    limit = min(W.shape)
    if isinstance(k, bool) or not isinstance(k, int):
        raise invalid_argument(
            name, k, "must be an int", f"pass an integer between 1 and min(W.shape) = {limit}"
        )
    if not 1 <= k <= limit:
        raise invalid_argument(
            name,
            k,
            f"must satisfy 1 <= {name} <= min(W.shape) = {limit} for a {tuple(W.shape)} matrix",
            f"pass a rank between 1 and {limit}",
        )
    return k


def check_spectrum(name: str, S: object) -> torch.Tensor:
    """Return ``S`` if it is a finite, non-negative, non-increasing 1-D float tensor; raise otherwise."""
    if not isinstance(S, torch.Tensor):
        raise invalid_argument(
            name, S, "must be a torch.Tensor of singular values", "pass torch.linalg.svdvals(W)"
        )
    if S.ndim != 1 or S.numel() == 0:
        raise invalid_argument(
            name,
            tuple(S.shape),
            "must be a non-empty 1-D tensor of singular values",
            "pass torch.linalg.svdvals(W)",
        )
    if S.dtype not in SUPPORTED_DTYPES:
        raise invalid_argument(
            f"{name}.dtype",
            S.dtype,
            "must be torch.float32 or torch.float64",
            f"pass {name}.double()",
        )
    if not bool(torch.isfinite(S).all()):
        raise invalid_argument(
            name, S.tolist(), "must be finite", "compute the singular values of a finite matrix"
        )
    if bool((S < 0).any()):
        raise invalid_argument(
            name, S.tolist(), "must be non-negative, as singular values are", "pass absolute values"
        )
    if S.numel() > 1 and bool((S[1:] > S[:-1]).any()):
        raise invalid_argument(
            name,
            S.tolist(),
            "must be in non-increasing order (sigma_1 >= sigma_2 >= ...)",
            f"sort first: torch.sort({name}, descending=True).values",
        )
    return S


def check_spectrum_rank(k: object, S: torch.Tensor, name: str = "k") -> int:
    """Return ``k`` if it is an int with ``0 <= k <= len(S)``; raise otherwise (k = 0 means W_0 = 0)."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise invalid_argument(
            name, k, "must be an int", f"pass an integer between 0 and len(S) = {S.numel()}"
        )
    if not 0 <= k <= S.numel():
        raise invalid_argument(
            name,
            k,
            f"must satisfy 0 <= {name} <= len(S) = {S.numel()}",
            f"pass a rank between 0 and {S.numel()}",
        )
    return k
