"""Fault: the accumulator divides each micro-batch's mean loss by the number of micro-batches.

What is wrong: :meth:`GradientAccumulator.backward` backpropagates ``losses.mean() / m``,
with ``m`` the number of micro-batches given to :meth:`~GradientAccumulator.begin`, instead
of the summed losses over the window's count ``N``. Micro-batches of unequal size (a short
last one) or with different numbers of valid tokens then get the wrong weights.

Seen in practice: training loops that call ``(loss / accumulation_steps).backward()`` with a
mean-reduced loss, and data-parallel set-ups that also average over ranks whose shards hold
different numbers of tokens.

Caught by: ``ga.partial-window`` (a window of 3 and 2 samples against the full-batch
gradient) and ``ga.data-parallel`` (two ranks with different token counts).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from efx.accumulation import GradientAccumulator as CorrectAccumulator
from efx.accumulation import MicroBatch
from efx.errors import invalid_argument
from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401


class GradientAccumulator(CorrectAccumulator):
    """The accumulator with ``mean / m`` in place of ``sum / N`` (wrong for unequal micro-batches)."""

    micro_steps = 1

    def begin(
        self,
        micro_batches: Sequence[MicroBatch | tuple[torch.Tensor, ...]] | None = None,
        *,
        total: int | None = None,
    ) -> int:
        """Start a window and remember its number of micro-batches."""
        self.micro_steps = 1 if micro_batches is None else len(micro_batches)
        return super().begin(micro_batches, total=total)

    def backward(self, losses: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Backpropagate the micro-batch's mean loss over the number of micro-batches."""
        if self.total is None:
            raise invalid_argument(
                "begin", "not called", "must be called before backward()", "call begin() first"
            )
        counted = losses if mask is None else losses[mask.bool()]
        # The fault: the micro-batch's own mean, over the number of micro-batches.
        torch.autograd.backward(counted.mean() / self.micro_steps)
        self.counted += counted.numel()
