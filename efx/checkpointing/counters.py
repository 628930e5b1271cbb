"""Counters of a checkpointed pass: what one forward and backward pass held and ran.

:class:`ChainCounts` is what :class:`~efx.checkpointing.Checkpointed` reports after each
backward pass; :class:`Tally` keeps the reference counts and the peak behind its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class ChainCounts:
    """What one forward and backward pass through a :class:`Checkpointed` chain did.

    Attributes:
        strategy: the strategy's name.
        forward_calls: forward calls of each module, module 0 first (advances and recordings).
        peak_stored: the maximum number of chain states held for the backward pass at once: checkpoints and
            the inputs of recorded modules whose backward has not run (the cost model of
            :mod:`efx.checkpointing.schedule`); 0 when nothing needed a gradient.
        peak_stored_bytes: the maximum bytes of those states at once (``numel * element_size``
            of each state, a view counted like any other state).
        peak_saved_bytes: with ``track_saved=True``, the maximum bytes of distinct storages held
            at once by checkpoints and by the tensors autograd saved inside live recordings,
            parameters and buffers excluded; else None.
        cuda_max_allocated: on CUDA, ``torch.cuda.max_memory_allocated`` of the input's device
            after the backward pass (the device's peak since its last reset); else None.
    """

    strategy: str
    forward_calls: tuple[int, ...]
    peak_stored: int
    peak_stored_bytes: int
    peak_saved_bytes: int | None = None
    cuda_max_allocated: int | None = None

    @property
    def total_forward_calls(self) -> int:
        """Return the forward calls of all modules together."""
        return sum(self.forward_calls)


def state_bytes(tensor: torch.Tensor) -> int:
    """Return the bytes of a tensor's elements (``numel * element_size``), views included."""
    return tensor.nelement() * tensor.element_size()


def storage_key(tensor: torch.Tensor) -> tuple[str, int]:
    """Return ``(device, address)`` of a tensor's storage, unique among storages alive together."""
    return str(tensor.device), tensor.untyped_storage().data_ptr()


class Tally:
    """Reference-counted items with sizes, and the peak of their total size."""

    def __init__(self) -> None:
        self.references: dict[Any, int] = {}
        self.sizes: dict[Any, int] = {}
        self.total = 0
        self.peak = 0
        self.peak_items = 0

    def add(self, key: Any, size: int) -> None:
        if key in self.references:
            self.references[key] += 1
            return
        self.references[key] = 1
        self.sizes[key] = size
        self.total += size
        self.peak = max(self.peak, self.total)
        self.peak_items = max(self.peak_items, len(self.references))

    def remove(self, key: Any) -> None:
        self.references[key] -= 1
        if self.references[key] == 0:
            del self.references[key]
            self.total -= self.sizes.pop(key)
