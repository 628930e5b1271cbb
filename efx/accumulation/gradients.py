"""Accumulated gradients as pure functions: the correct estimator and the common biased one.

The full-batch mean loss of a window is ``L = (1/N) sum_i l_i``, with ``N`` the window's
samples or valid tokens. Its gradient is the sum over micro-batches of the gradients of
``(1/N) sum_{i in j} l_i``: each micro-batch's *summed* loss divided by the one window count.
:func:`accumulated_gradients` computes exactly that. :func:`section_mean_gradients` computes
what many training loops do, the mean of each micro-batch divided by a micro-batch count,
which equals ``L``'s gradient only when every micro-batch has the same count.

Both use :func:`torch.autograd.grad`, so they leave the parameters' ``.grad`` untouched.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from efx.accumulation.window import (
    MicroBatch,
    Normalise,
    as_micro_batches,
    check_normalise,
    count,
    window_normaliser,
)
from efx.errors import invalid_argument

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss_fn(outputs, targets)`` returning unreduced losses: shape ``(samples,)``, or the mask's
shape ``(samples, positions)`` for token losses (``reduction="none"`` in torch's losses)."""


def summed_loss(
    losses: torch.Tensor, batch: MicroBatch, normalise: Normalise, where: str
) -> torch.Tensor:
    """Return the sum of a micro-batch's per-sample losses, or of its valid tokens' losses.

    Raises:
        InvalidArgumentError: if ``losses`` has the wrong shape (for example a reduced scalar)
            or a counted loss is not finite.
    """
    samples = batch.inputs.shape[0]
    expected = (samples,) if normalise == "samples" else tuple(batch.mask.shape)  # type: ignore[union-attr]
    if tuple(losses.shape) != expected:
        raise invalid_argument(
            where,
            f"a tensor of shape {tuple(losses.shape)}",
            f"must hold one loss per {'sample' if normalise == 'samples' else 'token'}, shape {expected}",
            "compute the loss with reduction='none' (and average over any feature dimensions per sample)",
        )
    counted = losses if batch.mask is None or normalise == "samples" else losses[batch.mask.bool()]
    if not bool(torch.isfinite(counted.detach()).all()):
        bad = counted.detach()[~torch.isfinite(counted.detach())].flatten()[:4].tolist()
        raise invalid_argument(
            where,
            f"losses containing {bad}",
            "must be finite, because one inf or nan makes every accumulated gradient inf or nan",
            "find the sample that overflows (lower the learning rate, check the inputs)",
        )
    return counted.sum()


def _parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise invalid_argument(
            "model",
            type(model).__name__,
            "must have parameters that require gradients",
            "pass a trainable model",
        )
    return named


def _gradients(
    model: nn.Module,
    loss_fn: LossFn,
    batches: tuple[MicroBatch, ...],
    normalise: Normalise,
    scales: Sequence[float],
) -> dict[str, torch.Tensor]:
    named = _parameters(model)
    totals = [torch.zeros_like(p) for _, p in named]
    with _buffers_restored_on_error(model):
        for index, (batch, scale) in enumerate(zip(batches, scales, strict=True)):
            losses = loss_fn(model(batch.inputs), batch.targets)
            where = f"loss_fn(...) on micro_batches[{index}]"
            loss = summed_loss(losses, batch, normalise, where) * scale
            grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
            for total, grad in zip(totals, grads, strict=True):
                if grad is not None:
                    total += grad
    return {name: total for (name, _), total in zip(named, totals, strict=True)}


@contextlib.contextmanager
def _buffers_restored_on_error(model: nn.Module) -> Iterator[None]:
    """Put the model's buffers back as they were if the block raises.

    Forward passes in training mode update buffers (BatchNorm's running statistics and batch
    counter), so a loss rejected on a later micro-batch would otherwise leave the updates of
    the earlier ones behind.
    """
    saved = [(buffer, buffer.clone()) for buffer in model.buffers()]
    try:
        yield
    except BaseException:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)
        raise


def accumulated_gradients(
    model: nn.Module,
    loss_fn: LossFn,
    micro_batches: Sequence[MicroBatch | tuple[torch.Tensor, ...]],
    normalise: Normalise = "samples",
    *,
    normaliser: int | None = None,
) -> dict[str, torch.Tensor]:
    """Accumulate gradients over a window so that they equal the full-batch mean-loss gradient.

    Each micro-batch's summed loss is divided by the window's total count ``N`` (samples, or
    valid tokens) before its backward pass, and the gradients are summed. The loss must be a
    sum of per-sample terms and the model must have no batch-coupled layers (no BatchNorm in
    training mode). Then the result is the gradient of the mean over the concatenated window,
    whatever the micro-batch sizes and however the padding falls.

    Args:
        model: the model; its parameters that require gradients get one entry each.
        loss_fn: ``loss_fn(outputs, targets)`` returning unreduced losses (see :data:`LossFn`).
        micro_batches: the window, each ``(inputs, targets[, mask])``.
        normalise: ``"samples"`` or ``"tokens"`` (then each micro-batch needs a mask).
        normaliser: the count to divide by; default :func:`window_normaliser` of this window.
            Pass the count over all data-parallel ranks when gradients are summed across ranks.

    Returns:
        The gradients, keyed by parameter name (zeros for parameters the loss does not use).

    Raises:
        InvalidArgumentError: on an empty window, mismatched shapes, no valid token, a reduced
            or non-finite loss, or a non-positive ``normaliser``.

    >>> torch.manual_seed(0) and None
    >>> model = nn.Linear(2, 1, dtype=torch.float64)
    >>> x, y = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    >>> mse = lambda out, t: (out.squeeze(-1) - t) ** 2
    >>> parts = accumulated_gradients(model, mse, [(x[:3], y[:3]), (x[3:], y[3:])])
    >>> whole = accumulated_gradients(model, mse, [(x, y)])
    >>> all(torch.allclose(parts[k], whole[k]) for k in whole)
    True
    """
    batches = as_micro_batches(micro_batches, check_normalise(normalise))
    total = window_normaliser(batches, normalise) if normaliser is None else normaliser
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise invalid_argument(
            "normaliser",
            normaliser,
            "must be a positive integer count",
            "pass the window's samples or valid tokens",
        )
    return _gradients(model, loss_fn, batches, normalise, [1.0 / total] * len(batches))


def section_mean_gradients(
    model: nn.Module,
    loss_fn: LossFn,
    micro_batches: Sequence[MicroBatch | tuple[torch.Tensor, ...]],
    normalise: Normalise = "samples",
    *,
    divisor: float | None = None,
) -> dict[str, torch.Tensor]:
    """Return the gradient of ``(1/divisor) * sum_j mean_j``: each micro-batch's mean loss over a count.

    This is the estimator of a training loop that calls ``(loss.mean() / m).backward()`` on
    every micro-batch. With ``m`` micro-batches of equal counts and ``divisor = m`` it equals
    the full-batch gradient. With unequal counts (a short last micro-batch, padding) it
    weights micro-batch ``j`` by ``N / (divisor * n_j)`` relative to the full batch. It is
    kept as the baseline that the pages and checks compare against.

    Args:
        model, loss_fn, micro_batches, normalise: as in :func:`accumulated_gradients`.
        divisor: what the summed micro-batch means are divided by; default the number of
            micro-batches. A training loop with a configured accumulation count passes it here.

    Raises:
        InvalidArgumentError: as :func:`accumulated_gradients`, and on a non-positive
            ``divisor`` or a micro-batch without any valid token.
    """
    batches = as_micro_batches(micro_batches, check_normalise(normalise))
    divide_by = float(len(batches)) if divisor is None else divisor
    if not math.isfinite(divide_by) or divide_by <= 0:
        raise invalid_argument(
            "divisor",
            divisor,
            "must be a positive finite number",
            "pass the number of micro-batches",
        )
    counts = [count(batch, normalise) for batch in batches]
    if 0 in counts:
        raise invalid_argument(
            "micro_batches",
            f"counts {counts}",
            "must hold a valid token in every micro-batch, because a micro-batch mean over no tokens is undefined",
            "drop empty micro-batches",
        )
    return _gradients(model, loss_fn, batches, normalise, [1.0 / (divide_by * c) for c in counts])
