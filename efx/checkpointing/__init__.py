"""Gradient checkpointing for a chain of modules: strategies as schedules, exact gradients, exact counts.

- :class:`Checkpointed`: train a chain (``nn.Sequential`` or a list of modules) under a
  strategy. Gradients equal those without checkpointing, random numbers are replayed and
  buffers are updated once. :attr:`Checkpointed.last_counts` reports forward calls per module
  and the peak memory held for the backward pass.
- Strategies: :class:`StoreAll`, :class:`MemoryPoor`, :class:`Segments` (sqrt(n) by default),
  :class:`Binomial` (Revolve, optimal for a number of slots), and :class:`TorchSequential`
  (torch's ``checkpoint_sequential`` split, for comparison).
- :func:`count`: the exact cost of a schedule without running a model, under the cost model
  stated in :mod:`efx.checkpointing.schedule`.

>>> count(Segments().schedule(16)).peak_stored, count(MemoryPoor().schedule(16)).total_forward_calls
(7, 136)
"""

from efx.checkpointing.chain import Checkpointed, RecomputeMismatchError
from efx.checkpointing.counters import ChainCounts
from efx.checkpointing.revolve import (
    Binomial,
    binomial_advances,
    binomial_capacity,
    optimal_advances,
    optimal_split,
    repetition_number,
)
from efx.checkpointing.schedule import Action, Op, Schedule, ScheduleCounts, ScheduleError, count
from efx.checkpointing.strategies import (
    MemoryPoor,
    Segments,
    StoreAll,
    Strategy,
    TorchSequential,
    balanced_lengths,
    segment_schedule,
    sqrt_segment_count,
    torch_sequential_lengths,
)

__all__ = [
    "Action",
    "Binomial",
    "ChainCounts",
    "Checkpointed",
    "MemoryPoor",
    "Op",
    "RecomputeMismatchError",
    "Schedule",
    "ScheduleCounts",
    "ScheduleError",
    "Segments",
    "StoreAll",
    "Strategy",
    "TorchSequential",
    "balanced_lengths",
    "binomial_advances",
    "binomial_capacity",
    "count",
    "optimal_advances",
    "optimal_split",
    "repetition_number",
    "segment_schedule",
    "sqrt_segment_count",
    "torch_sequential_lengths",
]
