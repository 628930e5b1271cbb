"""Replay a module's forward exactly: the random numbers it drew and the buffers it saw.

A recomputed forward must produce the same tensors as the original one. Two kinds of hidden
state make it differ:

- random numbers (dropout): the schedule records the generator state with each checkpoint and
  sets it again when it restarts from that checkpoint, so the modules after it draw the same
  numbers in the same order;
- buffers that a forward call updates (BatchNorm's ``running_mean``, ``running_var`` and
  ``num_batches_tracked``): a recomputation runs on copies of the buffers as they were before
  the original call, while the module keeps its own buffers. So each module updates its state
  once per forward pass, as without checkpointing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class RngState:
    """The CPU generator's state and, for a CUDA device, that device's generator state."""

    cpu: torch.Tensor
    cuda: torch.Tensor | None
    device: torch.device


def capture_rng(device: torch.device) -> RngState:
    """Return the current state of the default generators that a forward on ``device`` draws from."""
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return RngState(cpu=torch.get_rng_state(), cuda=cuda, device=device)


def restore_rng(state: RngState) -> None:
    """Set the default generators to a captured state."""
    torch.set_rng_state(state.cpu)
    if state.cuda is not None:
        torch.cuda.set_rng_state(state.cuda, state.device)


def buffer_values(module: nn.Module) -> dict[str, torch.Tensor]:
    """Return detached copies of the module's buffers (its submodules' included), by name."""
    return {name: buffer.detach().clone() for name, buffer in module.named_buffers()}


def call_with_buffers(
    module: nn.Module, values: dict[str, torch.Tensor], state: torch.Tensor
) -> Any:
    """Call ``module(state)`` with its buffers replaced by fresh copies of ``values``, then put them back.

    ``torch.func.functional_call`` swaps the tensors in for the call and the originals back
    afterwards, even when the call raises. Copying the values in place instead would bump the
    buffers' version counters, and autograd then rejects graphs that saved them. A forward
    that updates its buffers (BatchNorm in training) updates the fresh copies, not ``values``
    or the module's own buffers.
    """
    fresh = {name: value.clone() for name, value in values.items()}
    return torch.func.functional_call(module, fresh, (state,), strict=False)
