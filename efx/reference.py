"""The reference implementation that ``verify/`` checks by default.

``pytest verify/ --impl MODULE`` checks another module instead: it defines some of the
names below, with the same signatures and meaning; checks that need a name the module
lacks are skipped with a reason. Each section lists the functions of one topic.
"""

# Imports are grouped by topic, not sorted, so each section reads as one interface.
# ruff: noqa: I001

from __future__ import annotations

# Gradient accumulation (efx.accumulation)
from efx.accumulation import GradientAccumulator as GradientAccumulator
from efx.accumulation import accumulated_gradients as accumulated_gradients
from efx.accumulation import clip_accumulated as clip_accumulated
from efx.accumulation import sum_gradients_across_ranks_ as sum_gradients_across_ranks_
from efx.accumulation import window_normaliser as window_normaliser

# BatchNorm under accumulation (efx.normalization)
from efx.normalization import batch_norm_backward as batch_norm_backward
from efx.normalization import batch_norm_train as batch_norm_train
from efx.normalization import section_statistics as section_statistics
from efx.normalization_running import running_statistics as running_statistics

# Gradient checkpointing (efx.checkpointing)
from efx.checkpointing import Binomial as Binomial
from efx.checkpointing import Checkpointed as Checkpointed
from efx.checkpointing import MemoryPoor as MemoryPoor
from efx.checkpointing import RecomputeMismatchError as RecomputeMismatchError
from efx.checkpointing import Segments as Segments
from efx.checkpointing import StoreAll as StoreAll
from efx.measure import peak_memory as peak_memory
from efx.measure import saved_for_backward as saved_for_backward

# Low rank and truncated SVD (efx.lowrank)
from efx.lowrank import error_ratio_to_optimum as error_ratio_to_optimum
from efx.lowrank import frobenius_error_curve as frobenius_error_curve
from efx.lowrank import frobenius_error_from_spectrum as frobenius_error_from_spectrum
from efx.lowrank import low_rank_factors as low_rank_factors
from efx.lowrank import max_relative_frobenius_error as max_relative_frobenius_error
from efx.lowrank import randomized_svd as randomized_svd
from efx.lowrank import (
    relative_frobenius_error_from_spectrum as relative_frobenius_error_from_spectrum,
)
from efx.lowrank import (
    relative_spectral_error_from_spectrum as relative_spectral_error_from_spectrum,
)
from efx.lowrank import spectral_error_from_spectrum as spectral_error_from_spectrum
from efx.lowrank import truncated_svd as truncated_svd

# Rank (efx.rank)
from efx.rank import default_rank_tolerance as default_rank_tolerance
from efx.rank import numerical_rank as numerical_rank

# LoRA (efx.lora). verify/test_lora.py builds LoRALinear(base, r, alpha, dropout=, rslora=, init=)
# and reads its base, lora_A and lora_B; merge() and unmerge() raise LoRAStateError on misuse.
from efx.lora import LoRALinear as LoRALinear
from efx.lora import LoRAStateError as LoRAStateError
from efx.lora import lora_parameter_count as lora_parameter_count
from efx.lora_model import wrap_linear_layers as wrap_linear_layers
