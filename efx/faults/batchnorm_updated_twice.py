"""Fault: recomputation updates BatchNorm's running statistics a second time.

What is wrong: :class:`Checkpointed` recomputes each segment by calling its modules again in
training mode. A ``BatchNorm`` layer updates ``running_mean``, ``running_var`` and
``num_batches_tracked`` on every training-mode call, so each recomputation applies the
momentum update once more. The evaluation-mode model then normalises with statistics that
differ from those of the same training run without checkpointing.

Seen in practice: ``torch.utils.checkpoint.checkpoint`` around blocks that contain
BatchNorm (torch 2.13.0 recomputes the block with its buffers live, so
``num_batches_tracked`` ends at 2 after one step).

Caught by: ``ckpt.batchnorm-state`` (buffers of a checkpointed chain against the plain
chain after one training step).
"""

from __future__ import annotations

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401
from efx.faults._torch_checkpoint import TorchCheckpointChain


class Checkpointed(TorchCheckpointChain):
    """Every segment under torch's non-reentrant checkpoint, BatchNorm buffers left live."""

    use_reentrant = False
    checkpoint_last_segment = True
