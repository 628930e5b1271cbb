"""The reference implementation that ``verify/`` checks by default.

``pytest verify/ --impl MODULE`` checks another module instead: it defines some of the
names below, with the same signatures and meaning; checks that need a name the module
lacks are skipped with a reason. Each section lists the functions of one topic.
"""

from __future__ import annotations

# Gradient accumulation (efx.accumulation)
from efx.accumulation import GradientAccumulator as GradientAccumulator
from efx.accumulation import accumulated_gradients as accumulated_gradients
from efx.accumulation import clip_accumulated as clip_accumulated
from efx.accumulation import sum_gradients_across_ranks_ as sum_gradients_across_ranks_
from efx.accumulation import window_normaliser as window_normaliser

# BatchNorm under accumulation (efx.normalization)

# Gradient checkpointing (efx.checkpointing)
from efx.checkpointing import Binomial as Binomial
from efx.checkpointing import Checkpointed as Checkpointed
from efx.checkpointing import MemoryPoor as MemoryPoor
from efx.checkpointing import RecomputeMismatchError as RecomputeMismatchError
from efx.checkpointing import Segments as Segments
from efx.checkpointing import StoreAll as StoreAll

# Low rank and truncated SVD (efx.lowrank)

# LoRA (efx.lora)
