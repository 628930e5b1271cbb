"""Fault: each micro-batch's mean loss divided by the number of micro-batches.

What is wrong: :func:`accumulated_gradients` backpropagates ``loss.mean() / m`` for each of
the ``m`` micro-batches. Sample ``i`` of micro-batch ``j`` then weighs ``1 / (m n_j)``
instead of ``1 / N``. The two agree only when every micro-batch has the same count, so a
short last micro-batch or padded tokens bias the gradient.

Seen in practice: the usual training loop, ``(criterion(model(x), y) / accumulation_steps)
.backward()`` with ``reduction="mean"``, with a last micro-batch that is shorter or with
per-token losses averaged per micro-batch.

Caught by: ``ga.unequal-sections`` and ``ga.token-normaliser`` (the accumulated gradient is
compared with the full-batch gradient over drawn partitions and padding masks).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from efx.accumulation import LossFn, MicroBatch, Normalise
from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401


def accumulated_gradients(
    model: nn.Module,
    loss_fn: LossFn,
    micro_batches: Sequence[MicroBatch | tuple[torch.Tensor, ...]],
    normalise: Normalise = "samples",
    *,
    normaliser: int | None = None,
) -> dict[str, torch.Tensor]:
    """Sum the gradients of ``mean_j / m`` over the micro-batches (wrong: ignores ``N``)."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    totals = {name: torch.zeros_like(p) for name, p in named}
    for entry in micro_batches:
        batch = MicroBatch(*entry)
        losses = loss_fn(model(batch.inputs), batch.targets)
        if normalise == "tokens" and batch.mask is not None:
            losses = losses[batch.mask.bool()]
        # The fault: the micro-batch's own mean, over the number of micro-batches.
        loss = losses.mean() / len(micro_batches)
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
        for (name, _), grad in zip(named, grads, strict=True):
            if grad is not None:
                totals[name] += grad
    return totals
