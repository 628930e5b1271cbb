"""A chain checkpointed with ``torch.utils.checkpoint``, the base of two checkpointing faults.

The chain is cut into the segments that the strategy's ``lengths`` gives (one module per
segment for strategies without segments) and each segment runs under
:func:`torch.utils.checkpoint.checkpoint`. Subclasses choose torch's reentrant or
non-reentrant variant and whether the last segment is checkpointed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from efx.checkpointing import StoreAll, Strategy


class TorchCheckpointChain(nn.Module):
    """A chain whose segments run under ``torch.utils.checkpoint.checkpoint``."""

    use_reentrant = False
    checkpoint_last_segment = True

    def __init__(
        self,
        modules: nn.Sequential | Sequence[nn.Module],
        strategy: Strategy | None = None,
        *,
        preserve_rng: bool = True,
        **options: Any,
    ) -> None:
        # Other options of efx's Checkpointed (counters, recompute checks) do not apply here.
        super().__init__()
        self.chain = nn.ModuleList(list(modules))
        self.strategy = StoreAll() if strategy is None else strategy
        self.preserve_rng = preserve_rng

    def segments(self) -> list[nn.Sequential]:
        """Return the chain cut into the strategy's segments."""
        modules = list(self.chain)
        lengths = getattr(self.strategy, "lengths", None)
        sizes = lengths(len(modules)) if callable(lengths) else (1,) * len(modules)
        parts, start = [], 0
        for size in sizes:
            parts.append(nn.Sequential(*modules[start : start + size]))
            start += size
        return parts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run every segment under torch's checkpoint (the last one plainly if so configured)."""
        parts = self.segments()
        for position, part in enumerate(parts):
            last = position == len(parts) - 1
            if last and not self.checkpoint_last_segment:
                x = part(x)
                continue
            with warnings.catch_warnings():
                # torch warns that no input requires grad; a training script that silences
                # warnings never sees it, and the parameters' gradients are silently lost.
                warnings.simplefilter("ignore", UserWarning)
                x = checkpoint(
                    part,
                    x,
                    use_reentrant=self.use_reentrant,
                    preserve_rng_state=self.preserve_rng,
                )
        return x
