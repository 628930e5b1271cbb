"""Data-parallel accumulation: one gradient sum across ranks after the window's last micro-step.

Each rank divides its micro-batches' summed losses by the *global* count (samples or valid
tokens over all ranks and all micro-steps, :func:`~efx.accumulation.window.global_count`).
Its accumulated gradient is then its share of the full-batch gradient, and the shares add up:
one all-reduce with ``SUM`` after the last micro-step gives every rank the full-batch
gradient. A wrapper that averages instead (``DistributedDataParallel`` divides the sum by the
world size) leaves the gradient ``world_size`` times too small, which
:func:`undo_rank_average_` corrects.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist

from efx.errors import invalid_argument


def _require_process_group(name: str) -> None:
    if not (dist.is_available() and dist.is_initialized()):
        raise invalid_argument(
            name,
            "no process group",
            "needs an initialised torch.distributed process group",
            "call torch.distributed.init_process_group first, or use data_parallel='none'",
        )


def sum_gradients_across_ranks_(
    parameters: Iterable[torch.nn.Parameter], group: dist.ProcessGroup | None = None
) -> None:
    """Replace every parameter's ``.grad`` by its sum over the ranks of ``group``, in place.

    Every rank must call it with the same parameters in the same order. A parameter without
    a gradient takes part as zeros, so the ranks' collectives stay matched.

    Raises:
        InvalidArgumentError: if torch.distributed is not initialised.
    """
    _require_process_group("parameters")
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM, group=group)


def undo_rank_average_(
    parameters: Iterable[torch.nn.Parameter], group: dist.ProcessGroup | None = None
) -> None:
    """Multiply every ``.grad`` by the world size, turning a rank average into the rank sum.

    Raises:
        InvalidArgumentError: if torch.distributed is not initialised.
    """
    _require_process_group("parameters")
    world = dist.get_world_size(group)
    for p in parameters:
        if p.grad is not None:
            p.grad.mul_(world)
