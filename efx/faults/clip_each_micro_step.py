"""Fault: the accumulator clips the running gradient after every micro-step.

What is wrong: :meth:`GradientAccumulator.backward` clips ``.grad`` to ``max_norm`` after
each micro-batch's backward pass, and :meth:`~GradientAccumulator.step` clips once more.
Clipping is not linear, so the result is not the clipped full-batch gradient: a large first
micro-batch is shrunk before the others are added, and the direction of the step changes.

Seen in practice: ``clip_grad_norm_`` placed inside the micro-batch loop, next to
``loss.backward()``, instead of just before ``optimizer.step()``.

Caught by: ``ga.clip-once`` (the accumulator's clipped gradient against the full-batch
gradient clipped once, in ``verify/test_faults_extra.py``).
"""

from __future__ import annotations

import torch

from efx.accumulation import GradientAccumulator as CorrectAccumulator
from efx.accumulation import clip_gradients_
from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401


class GradientAccumulator(CorrectAccumulator):
    """The accumulator with a clip after every backward pass (wrong: clip once per window)."""

    def backward(self, losses: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Backpropagate one micro-batch, then clip the running gradient (the fault)."""
        super().backward(losses, mask)
        if self.max_norm is not None:
            clip_gradients_(self.parameters, self.max_norm)
