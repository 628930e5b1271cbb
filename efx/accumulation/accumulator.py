"""A gradient accumulator for training loops: count the window, scale each backward, step once.

The accumulator reproduces the full-batch step of a window of micro-batches:

1. :meth:`GradientAccumulator.begin` fixes the window's count ``N`` (samples or valid tokens,
   summed over data-parallel ranks when asked) before the first backward pass;
2. :meth:`GradientAccumulator.backward` sums a micro-batch's unreduced losses, divides by
   ``N`` and calls ``backward``, so ``.grad`` accumulates the full-batch gradient;
3. :meth:`GradientAccumulator.step` sums across ranks if asked, clips once, steps the
   optimizer and clears the gradients.

A short last window needs no special case: its count is simply smaller.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
import torch.distributed as dist

from efx.accumulation.clipping import _check_max_norm, clip_gradients_
from efx.accumulation.distributed import sum_gradients_across_ranks_, undo_rank_average_
from efx.accumulation.gradients import summed_loss
from efx.accumulation.window import MicroBatch, Normalise, check_normalise, window_normaliser
from efx.errors import EfxWarning, invalid_argument

DataParallel = Literal["none", "sum", "mean"]
DATA_PARALLEL_MODES: tuple[DataParallel, ...] = ("none", "sum", "mean")


class GradientAccumulator:
    """Accumulate micro-batch gradients into the full-batch gradient of a window, then step once.

    Args:
        parameters: the parameters the optimizer updates.
        optimizer: the optimizer to step and clear. With ``None`` the accumulator only
            accumulates and clips, and the window's gradient stays in ``.grad`` for the caller,
            who clears it before the next window.
        max_norm: clip the window's gradient to this total norm once, in :meth:`step`;
            ``None`` for no clipping.
        normalise: ``"samples"`` divides by the window's samples; ``"tokens"`` by its valid tokens.
        data_parallel: ``"none"`` for one process; ``"sum"`` to count over all ranks and sum the
            gradients across ranks in :meth:`step`; ``"mean"`` when a wrapper such as
            ``DistributedDataParallel`` already averaged them (they are multiplied by the world size).
        group: the process group for ``"sum"`` and ``"mean"``; ``None`` is the default group.

    Raises:
        InvalidArgumentError: on an empty parameter list, an unknown mode or a bad ``max_norm``.

    >>> from torch import nn
    >>> torch.manual_seed(0) and None
    >>> model = nn.Linear(3, 1)
    >>> accumulator = GradientAccumulator(model.parameters(), torch.optim.SGD(model.parameters(), lr=0.1), max_norm=1.0)
    >>> window = [(torch.randn(4, 3), torch.randn(4)), (torch.randn(1, 3), torch.randn(1))]
    >>> accumulator.begin(window)
    5
    >>> for inputs, targets in window:
    ...     accumulator.backward((model(inputs).squeeze(-1) - targets) ** 2)
    >>> norm = accumulator.step()
    >>> accumulator.counted, all(p.grad is None for p in model.parameters())
    (0, True)
    """

    def __init__(
        self,
        parameters: Iterable[torch.nn.Parameter],
        optimizer: torch.optim.Optimizer | None = None,
        *,
        max_norm: float | None = None,
        normalise: Normalise = "samples",
        data_parallel: DataParallel = "none",
        group: dist.ProcessGroup | None = None,
    ) -> None:
        self.parameters = [p for p in parameters if p.requires_grad]
        if not self.parameters:
            raise invalid_argument(
                "parameters",
                [],
                "must hold a parameter that requires grad",
                "pass model.parameters()",
            )
        if max_norm is not None:
            _check_max_norm(max_norm)
        if data_parallel not in DATA_PARALLEL_MODES:
            raise invalid_argument(
                "data_parallel",
                data_parallel,
                f"must be one of {DATA_PARALLEL_MODES}",
                "pick 'none' on one process",
            )
        self.optimizer = optimizer
        self.max_norm = max_norm
        self.normalise = check_normalise(normalise)
        self.data_parallel = data_parallel
        self.group = group
        self.total: int | None = None
        self.counted = 0

    def begin(
        self,
        micro_batches: Sequence[MicroBatch | tuple[torch.Tensor, ...]] | None = None,
        *,
        total: int | None = None,
    ) -> int:
        """Start a window: fix the count every micro-batch's summed loss is divided by.

        Args:
            micro_batches: the window's micro-batches, counted with
                :func:`~efx.accumulation.window.window_normaliser` (over all ranks for
                ``data_parallel`` other than ``"none"``).
            total: the count, when it is known without the micro-batches (it must then
                already cover all ranks). Give exactly one of the two.

        Returns:
            The count ``N`` of the window.

        Raises:
            InvalidArgumentError: if both or neither argument is given, the count is not a
                positive integer, or the micro-batches are invalid.
        """
        if (micro_batches is None) == (total is None):
            raise invalid_argument(
                "micro_batches",
                micro_batches,
                "must be given exactly when total is not",
                "pass one of the two",
            )
        if micro_batches is not None:
            count = window_normaliser(
                micro_batches,
                self.normalise,
                across_ranks=self.data_parallel != "none",
                group=self.group,
            )
        else:
            if isinstance(total, bool) or not isinstance(total, int) or total < 1:
                raise invalid_argument(
                    "total", total, "must be a positive integer", "pass the window's count"
                )
            count = total
        if self.counted:
            warnings.warn(
                f"begin() called after {self.counted} samples or tokens were accumulated without step(); "
                "their gradients stay in .grad and join this window",
                EfxWarning,
                stacklevel=2,
            )
        self.total = count
        return count

    def backward(self, losses: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Backpropagate one micro-batch: its summed unreduced losses divided by the window count.

        Args:
            losses: per-sample losses, shape ``(samples,)``, or per-token losses, shape of ``mask``.
            mask: for ``normalise="tokens"``, which tokens count.

        Raises:
            InvalidArgumentError: if :meth:`begin` was not called, ``losses`` is reduced or
                misshaped, a counted loss is not finite, or the window's count is exceeded.
        """
        if self.total is None:
            raise invalid_argument(
                "begin",
                "not called",
                "must be called before backward()",
                "call begin(window) first",
            )
        if losses.dim() == 0:
            raise invalid_argument(
                "losses",
                f"a scalar {losses.item()}",
                "must be unreduced (one loss per sample or token)",
                "compute the loss with reduction='none'",
            )
        batch = MicroBatch(inputs=losses.detach(), targets=losses.detach(), mask=mask)
        if self.normalise == "tokens" and mask is None:
            raise invalid_argument(
                "mask", None, "must be given when normalise='tokens'", "pass the padding mask"
            )
        summed = summed_loss(losses, batch, self.normalise, "losses")
        seen = losses.shape[0] if self.normalise == "samples" else int(mask.count_nonzero().item())  # type: ignore[union-attr]
        if self.data_parallel == "none" and self.counted + seen > self.total:
            raise invalid_argument(
                "losses",
                f"{seen} more samples or tokens",
                f"must not exceed the window's count {self.total} "
                f"({self.counted} already accumulated)",
                "count the whole window in begin()",
            )
        torch.autograd.backward(summed / self.total)
        self.counted += seen

    def step(self) -> float | None:
        """End the window: sum across ranks if asked, clip once, step the optimizer, clear gradients.

        Returns:
            The total gradient norm before clipping, or ``None`` without ``max_norm``.

        Raises:
            InvalidArgumentError: if :meth:`begin` was not called, or the norm is not finite.
        """
        if self.total is None:
            raise invalid_argument(
                "begin", "not called", "must be called before step()", "call begin(window) first"
            )
        if self.data_parallel == "none" and self.counted != self.total:
            warnings.warn(
                f"the window was counted as {self.total} but backward() saw {self.counted}; "
                f"the gradient is {self.counted}/{self.total} of the full-batch gradient's scale",
                EfxWarning,
                stacklevel=2,
            )
        if self.data_parallel == "sum":
            sum_gradients_across_ranks_(self.parameters, self.group)
        elif self.data_parallel == "mean":
            undo_rank_average_(self.parameters, self.group)
        norm = (
            clip_gradients_(self.parameters, self.max_norm) if self.max_norm is not None else None
        )
        if self.optimizer is not None:
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.total = None
        self.counted = 0
        return norm
