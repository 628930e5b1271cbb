"""Micro-batches and the count that normalises a whole accumulation window.

The full-batch mean loss of a window divides the summed per-sample (or per-token) losses by
the number of samples (or valid tokens) in the *whole* window. Accumulation reproduces it
only when every micro-batch's summed loss is divided by that one count, so the count has to
be known before the first backward pass. This module validates micro-batches and computes
the count: per window, and across data-parallel ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.distributed as dist

from efx.errors import invalid_argument

Normalise = Literal["samples", "tokens"]
NORMALISE_MODES: tuple[Normalise, ...] = ("samples", "tokens")


class MicroBatch(NamedTuple):
    """One micro-batch of a window.

    Attributes:
        inputs: model inputs; the first dimension indexes samples.
        targets: targets; the first dimension indexes samples. With ``mask``, its first two
            dimensions are the mask's shape (samples, positions).
        mask: for token losses, ``True`` (or 1) where a token counts and ``False`` (or 0) on
            padding, shape ``(samples, positions)``; ``None`` for per-sample losses.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor | None = None


def check_normalise(normalise: str) -> Normalise:
    """Return ``normalise`` if it is ``"samples"`` or ``"tokens"``; raise otherwise."""
    if normalise not in NORMALISE_MODES:
        raise invalid_argument(
            "normalise",
            normalise,
            f"must be one of {NORMALISE_MODES}",
            "pass 'samples' for per-sample losses or 'tokens' for per-token losses with a mask",
        )
    return normalise


def as_micro_batches(
    micro_batches: Sequence[MicroBatch | tuple[torch.Tensor, ...]], normalise: Normalise
) -> tuple[MicroBatch, ...]:
    """Validate micro-batches and return them as :class:`MicroBatch` tuples.

    Raises:
        InvalidArgumentError: if there is no micro-batch, an entry is not ``(inputs, targets)``
            or ``(inputs, targets, mask)``, leading dimensions disagree, or token counting
            lacks a mask.
    """
    check_normalise(normalise)
    if len(micro_batches) == 0:
        raise invalid_argument(
            "micro_batches",
            micro_batches,
            "must hold at least one micro-batch",
            "pass the window's micro-batches",
        )
    checked = []
    for index, entry in enumerate(micro_batches):
        if not isinstance(entry, tuple) or len(entry) not in (2, 3):
            raise invalid_argument(
                f"micro_batches[{index}]",
                entry,
                "must be a tuple (inputs, targets) or (inputs, targets, mask)",
                "wrap each micro-batch in efx.accumulation.MicroBatch",
            )
        batch = MicroBatch(*entry)
        _check_shapes(batch, index, normalise)
        checked.append(batch)
    return tuple(checked)


def _check_shapes(batch: MicroBatch, index: int, normalise: Normalise) -> None:
    name = f"micro_batches[{index}]"
    samples = batch.inputs.shape[0] if batch.inputs.dim() > 0 else None
    if samples is None or batch.targets.dim() == 0 or batch.targets.shape[0] != samples:
        raise invalid_argument(
            f"{name}.targets",
            tuple(batch.targets.shape),
            f"must have the inputs' number of samples {samples} as its first dimension "
            f"(inputs have shape {tuple(batch.inputs.shape)})",
            "pass one target per input sample",
        )
    if normalise == "tokens" and batch.mask is None:
        raise invalid_argument(
            f"{name}.mask",
            None,
            "must be given when normalise='tokens', because it says which tokens count",
            "pass a (samples, positions) mask, torch.ones(...) if every token counts",
        )
    if batch.mask is None:
        return
    if batch.mask.dim() != 2 or tuple(batch.targets.shape[:2]) != tuple(batch.mask.shape):
        raise invalid_argument(
            f"{name}.mask",
            tuple(batch.mask.shape),
            f"must have shape (samples, positions) equal to the targets' first two dimensions "
            f"{tuple(batch.targets.shape[:2])}",
            "build the mask from the same padded targets",
        )


def count(batch: MicroBatch, normalise: Normalise) -> int:
    """Return the number of samples (``"samples"``) or valid tokens (``"tokens"``) in a micro-batch."""
    if normalise == "samples":
        return int(batch.inputs.shape[0])
    if batch.mask is None:
        raise invalid_argument(
            "mask", None, "must be given to count tokens", "pass the padding mask"
        )
    return int(batch.mask.count_nonzero().item())


def window_normaliser(
    micro_batches: Sequence[MicroBatch | tuple[torch.Tensor, ...]],
    normalise: Normalise = "samples",
    *,
    across_ranks: bool = False,
    group: dist.ProcessGroup | None = None,
) -> int:
    """Return the count that every micro-batch's summed loss is divided by: the window's total.

    The total covers every micro-batch of the window, including a short last one, and with
    ``across_ranks`` every data-parallel rank's window too (one all-reduce of an integer).

    Args:
        micro_batches: the window's micro-batches, each ``(inputs, targets[, mask])``.
        normalise: ``"samples"`` counts samples; ``"tokens"`` counts the masks' valid tokens.
        across_ranks: sum the count over the ranks of ``group`` (needs torch.distributed).
        group: the process group; ``None`` is the default group.

    Returns:
        The number of samples or valid tokens in the window (over all ranks if asked), >= 1.

    Raises:
        InvalidArgumentError: on an empty window, mismatched shapes, a missing mask, a window
            without any valid token, or ``across_ranks`` without an initialised process group.

    >>> x, y = torch.zeros(3, 2), torch.zeros(3)
    >>> window_normaliser([(x, y), (x[:1], y[:1])])
    4
    >>> mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    >>> window_normaliser([(x[:2], torch.zeros(2, 3), mask)], "tokens")
    3
    """
    batches = as_micro_batches(micro_batches, check_normalise(normalise))
    local = sum(count(batch, normalise) for batch in batches)
    total = global_count(local, group) if across_ranks else local
    if total == 0:
        raise invalid_argument(
            "micro_batches",
            f"{len(batches)} micro-batches with 0 valid tokens",
            "must hold at least one valid token, because the mean over no tokens is undefined",
            "skip this window, or check that the mask marks valid tokens with True",
        )
    return total


def _count_device(backend: str) -> torch.device:
    """Return the device a count must be on for ``backend`` to reduce it.

    NCCL reduces only tensors on the rank's current GPU. Every other backend gets a CPU
    tensor, which gloo needs.
    """
    if backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def global_count(local: int, group: dist.ProcessGroup | None = None) -> int:
    """Return the sum of ``local`` over the ranks of ``group`` (one all-reduce of an integer).

    Raises:
        InvalidArgumentError: if ``local`` is not an integer >= 0 or torch.distributed is not
            initialised.
    """
    if isinstance(local, bool) or not isinstance(local, int) or local < 0:
        raise invalid_argument(
            "local",
            local,
            "must be an integer >= 0",
            "pass this rank's number of samples or tokens",
        )
    if not (dist.is_available() and dist.is_initialized()):
        raise invalid_argument(
            "across_ranks",
            True,
            "needs an initialised torch.distributed process group",
            "call torch.distributed.init_process_group first, or count on one process",
        )
    device = _count_device(dist.get_backend(group))
    total = torch.tensor([local], dtype=torch.int64, device=device)
    dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
    return int(total.item())
