"""Fault: reentrant checkpointing leaves parameters without gradients.

What is wrong: torch's reentrant checkpoint is an autograd function whose only tensor
inputs are the segment's inputs. When the chain's input does not require a gradient (token
ids, images), no input of the first segments does, so their outputs do not require one
either: the backward pass never reaches those segments, and their parameters keep
``grad is None``. Training silently freezes the first layers.

Seen in practice: ``torch.utils.checkpoint.checkpoint_sequential(..., use_reentrant=True)``
or ``checkpoint(..., use_reentrant=True)`` on the first blocks of a model fed with data
tensors (torch 2.13.0 only warns "None of the inputs have requires_grad=True").

Caught by: ``ckpt.no-grad-input`` (which parameters receive a gradient, against the plain
chain, for an input without gradient).
"""

from __future__ import annotations

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401
from efx.faults._torch_checkpoint import TorchCheckpointChain


class Checkpointed(TorchCheckpointChain):
    """Segments under torch's reentrant checkpoint; like ``checkpoint_sequential``, the last runs plainly."""

    use_reentrant = True
    checkpoint_last_segment = False
