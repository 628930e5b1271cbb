"""Fault: recomputation draws new dropout masks instead of replaying the original ones.

What is wrong: :class:`Checkpointed` does not restore the random number generator's state
when it recomputes a segment, so every dropout layer in a recomputed segment draws a new
mask. The backward pass then differentiates a different network from the one whose output
produced the loss, and the gradients are wrong (not merely rounded differently).

Seen in practice: ``torch.utils.checkpoint.checkpoint(..., preserve_rng_state=False)`` set
for speed on a model with dropout, and hand-written recomputation that calls the module
again without saving the generator state.

Caught by: ``ckpt.dropout-replay`` (gradients of a checkpointed chain with dropout against
the plain chain, bit for bit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from efx.checkpointing import Checkpointed as CorrectCheckpointed
from efx.checkpointing import Strategy
from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401


class Checkpointed(CorrectCheckpointed):
    """The checkpointed chain with random-state replay switched off, whatever the caller asks."""

    def __init__(
        self,
        modules: nn.Sequential | Sequence[nn.Module],
        strategy: Strategy | None = None,
        *,
        preserve_rng: bool = True,
        **options: Any,
    ) -> None:
        # The fault: the generator state is never restored, whatever preserve_rng says.
        super().__init__(modules, strategy, preserve_rng=False, **options)
