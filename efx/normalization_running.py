"""BatchNorm's running statistics after one update per section, in closed form.

In training mode torch's ``BatchNorm1d/2d/3d`` (seen on torch 2.13) updates its buffers once per
forward call, from the statistics of the group it normalised::

    running_mean        <- (1 - alpha) * running_mean + alpha * mu_G
    running_var         <- (1 - alpha) * running_var  + alpha * sigma_G^2 * N_G / (N_G - 1)
    num_batches_tracked <- num_batches_tracked + 1

``alpha`` is ``momentum``, or ``1 / num_batches_tracked`` (after the increment) when ``momentum``
is ``None``, which makes the buffers cumulative averages. ``sigma_G^2`` is the biased variance
and ``N_G`` the number of values per channel in the group, so the buffer receives the unbiased
variance. Gradient accumulation with ``m`` sections runs ``m`` such updates per optimizer step,
each on one section's statistics ``z_1, ..., z_m``. Unrolled, the buffer ``r`` becomes::

    r_m = (1 - alpha)^m r_0 + alpha * sum_j (1 - alpha)^(m - j) z_j       (momentum alpha)
    r_m = (t_0 r_0 + sum_j z_j) / (t_0 + m)                                (momentum None)

with ``t_0`` the counter before the step. :func:`running_statistics` evaluates these closed
forms directly, so a check can compare them with the buffers torch's loop leaves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from efx.errors import invalid_argument
from efx.normalization import check_sizes, section_statistics

__all__ = ["RunningStatistics", "running_statistics"]


@dataclass(frozen=True)
class RunningStatistics:
    """BatchNorm's buffers after the updates of one optimizer step.

    Attributes:
        mean: ``running_mean``, shape ``(C,)``.
        variance: ``running_var``, shape ``(C,)``.
        num_batches_tracked: the update counter.
    """

    mean: torch.Tensor
    variance: torch.Tensor
    num_batches_tracked: int


def _check_momentum(momentum: float | None) -> float | None:
    if momentum is None:
        return None
    if (
        isinstance(momentum, bool)
        or not isinstance(momentum, (int, float))
        or not math.isfinite(momentum)
        or not 0 <= momentum <= 1
    ):
        raise invalid_argument(
            "momentum",
            momentum,
            "must be a number in [0, 1] or None",
            "pass torch's default 0.1, or None for a cumulative average",
        )
    return float(momentum)


def _check_buffer(
    value: torch.Tensor | None, name: str, fill: float, x: torch.Tensor
) -> torch.Tensor:
    channels = x.shape[1]
    if value is None:
        return torch.full((channels,), fill, dtype=x.dtype, device=x.device)
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise invalid_argument(
            name, value, "must be a floating-point tensor or None", "pass the module's buffer"
        )
    if value.shape != (channels,):
        raise invalid_argument(
            name,
            tuple(value.shape),
            f"must have shape (C,) = ({channels},)",
            "pass one value per channel",
        )
    if value.device != x.device:
        raise invalid_argument(
            name,
            value.device,
            f"must be on x's device {x.device}",
            f"move it with {name}.to(x.device)",
        )
    return value


def _unrolled_updates(
    initial: torch.Tensor, values: torch.Tensor, momentum: float | None, tracked: int
) -> torch.Tensor:
    # values has shape (m, C): the statistic each of the m updates feeds in, oldest first.
    m = values.shape[0]
    if momentum is None:
        return (tracked * initial + values.sum(dim=0)) / (tracked + m)
    decay = 1.0 - momentum
    exponents = torch.arange(m - 1, -1, -1, dtype=values.dtype, device=values.device)
    weights = momentum * decay**exponents
    return decay**m * initial + (weights[:, None] * values).sum(dim=0)


def running_statistics(
    x: torch.Tensor,
    sizes: Sequence[int] | None = None,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    num_batches_tracked: int = 0,
    momentum: float | None = 0.1,
) -> RunningStatistics:
    """Compute BatchNorm's buffers after one train-mode update per section, from the closed form.

    Section ``j`` feeds its mean ``mu_j`` into ``running_mean`` and its unbiased variance
    ``sigma_j^2 N_j / (N_j - 1)`` into ``running_var``; the counter advances once per section.
    ``sizes=None`` is one update with the full batch, as without accumulation.

    Args:
        x: the batch, shape ``(N, C)`` or ``(N, C, *spatial)``.
        sizes: section sizes adding up to ``N``, in the order the sections run.
        running_mean: the buffer before the step; ``None`` is torch's initial zeros.
        running_var: the buffer before the step; ``None`` is torch's initial ones.
        num_batches_tracked: the counter before the step, >= 0.
        momentum: ``alpha`` in ``[0, 1]``, or ``None`` for a cumulative average.

    Returns:
        The buffers after the step, in the dtype of ``x``.

    Raises:
        InvalidArgumentError: if an argument is invalid. A section with one value per channel is
            invalid too, because its unbiased variance divides by zero (torch raises ValueError).

    >>> x = torch.tensor([[1.0], [2.0], [3.0], [10.0]], dtype=torch.float64)
    >>> one = running_statistics(x)
    >>> one.mean.item(), round(one.variance.item(), 4), one.num_batches_tracked
    (0.4, 2.5667, 1)
    >>> two = running_statistics(x, [2, 2])
    >>> round(two.mean.item(), 4), round(two.variance.item(), 4), two.num_batches_tracked
    (0.785, 3.305, 2)
    """
    stats = section_statistics(x, sizes)
    sizes = check_sizes(sizes, x.shape[0])
    running_mean = _check_buffer(running_mean, "running_mean", 0.0, x)
    running_var = _check_buffer(running_var, "running_var", 1.0, x)
    momentum = _check_momentum(momentum)
    if (
        isinstance(num_batches_tracked, bool)
        or not isinstance(num_batches_tracked, int)
        or num_batches_tracked < 0
    ):
        raise invalid_argument(
            "num_batches_tracked",
            num_batches_tracked,
            "must be an integer >= 0",
            "pass the module's counter",
        )
    if min(stats.counts) < 2:
        raise invalid_argument(
            "sizes",
            sizes,
            f"must give every section at least two values per channel, but the counts are {list(stats.counts)}",
            "use larger sections; a single value has no unbiased variance",
        )

    counts = torch.tensor(stats.counts, dtype=x.dtype, device=x.device)
    unbiased = stats.variance * (counts / (counts - 1))[:, None]
    mean = _unrolled_updates(running_mean.to(x.dtype), stats.mean, momentum, num_batches_tracked)
    variance = _unrolled_updates(running_var.to(x.dtype), unbiased, momentum, num_batches_tracked)
    return RunningStatistics(mean, variance, num_batches_tracked + len(sizes))
