"""Gradient accumulation that reproduces the full-batch gradient of a window.

The full-batch mean loss divides the window's summed losses by its number of samples (or
valid tokens) ``N``. Accumulation reproduces it exactly, for every split into micro-batches,
when each micro-batch's *summed* loss is divided by that one ``N``: not by the number of
micro-batches, not by a configured count, and not by the micro-batch's own size. Clipping
then acts once, on the accumulated gradient, and data-parallel ranks count ``N`` over all
ranks and sum their gradients once.

- :class:`GradientAccumulator`: the training-loop object (begin, backward, step);
- :func:`accumulated_gradients`: the same as a pure function returning the gradients;
- :func:`section_mean_gradients`: the common ``mean / m`` estimator, kept for comparison;
- :func:`window_normaliser`, :func:`global_count`: the count ``N``;
- :func:`clip_accumulated`, :func:`clip_gradients_`: clipping once, by the total norm;
- :func:`sum_gradients_across_ranks_`, :func:`undo_rank_average_`: data-parallel sums.
"""

from efx.accumulation.accumulator import DATA_PARALLEL_MODES, DataParallel, GradientAccumulator
from efx.accumulation.clipping import (
    clip_accumulated,
    clip_coefficient,
    clip_gradients_,
    total_norm,
)
from efx.accumulation.distributed import sum_gradients_across_ranks_, undo_rank_average_
from efx.accumulation.gradients import (
    LossFn,
    accumulated_gradients,
    section_mean_gradients,
    summed_loss,
)
from efx.accumulation.window import (
    NORMALISE_MODES,
    MicroBatch,
    Normalise,
    global_count,
    window_normaliser,
)

__all__ = [
    "DATA_PARALLEL_MODES",
    "NORMALISE_MODES",
    "DataParallel",
    "GradientAccumulator",
    "LossFn",
    "MicroBatch",
    "Normalise",
    "accumulated_gradients",
    "clip_accumulated",
    "clip_coefficient",
    "clip_gradients_",
    "global_count",
    "section_mean_gradients",
    "sum_gradients_across_ranks_",
    "summed_loss",
    "total_norm",
    "undo_rank_average_",
    "window_normaliser",
]
