"""The reference implementation that ``verify/`` checks by default.

``pytest verify/ --impl MODULE`` checks another module instead: it defines some of the
names below, with the same signatures and meaning; checks that need a name the module
lacks are skipped with a reason. Each section lists the functions of one topic.
"""

from __future__ import annotations

# Gradient accumulation (efx.accumulation)

# BatchNorm under accumulation (efx.normalization)

# Gradient checkpointing (efx.checkpointing)

# Low rank and truncated SVD (efx.lowrank)

# LoRA (efx.lora)
