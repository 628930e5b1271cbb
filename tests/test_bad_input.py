"""Every public function and method of efx's library rejects bad input the same way.

One table row per public function, class constructor and method: a call with an invalid
argument. Each call must raise :class:`efx.errors.InvalidArgumentError` whose message shows
the argument's name and value (``name=value is invalid: ...``). Rows that take a model or
parameters also compare every watched module's ``state_dict`` and gradients before and
after the call: a rejected call leaves nothing half-changed.

``test_table_covers_public_api`` lists the public callables of the library's modules and
fails for any that has neither a row nor a stated reason to be exempt, so a new public
function needs a row.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from efx import accumulation as ga
from efx import checkpointing as ckpt
from efx import lora as lora_module
from efx import (
    lora_init,
    lora_model,
    lowrank,
    measure,
    normalization,
    normalization_bounds,
    normalization_running,
    rank,
    tolerance,
)
from efx.accumulation import estimators
from efx.data import load_digits
from efx.errors import InvalidArgumentError
from efx.faults import fault

F64 = torch.float64

MODULES = (
    "efx.accumulation",
    "efx.accumulation.estimators",
    "efx.checkpointing",
    "efx.measure",
    "efx.lowrank",
    "efx.rank",
    "efx.normalization",
    "efx.normalization_running",
    "efx.normalization_bounds",
    "efx.lora",
    "efx.lora_init",
    "efx.lora_model",
    "efx.tolerance",
    "efx.data",
    "efx.faults",
)
"""The library's modules whose public functions and classes the table must cover."""


@dataclass
class BadCall:
    """A call with one invalid argument, the text its message must show, and what it must not change.

    Attributes:
        target: the qualified name of the function or method called.
        expected: ``name=value`` as the message must show it.
        call: the call itself.
        watched: modules whose parameters, buffers and gradients must be unchanged.
        tensors: tensors whose values must be unchanged.
        gap: for a call that efx does not reject yet, what is missing. The row is then a
            strict expected failure, so it turns red once efx rejects the call.
        message: the whole message, where a row pins the rule's and the fix's wording too.
    """

    target: str
    expected: str
    call: Callable[[], object]
    watched: list[nn.Module] = field(default_factory=list)
    tensors: list[torch.Tensor] = field(default_factory=list)
    gap: str | None = None
    message: str | None = None


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 1)).to(F64)


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return ((outputs - targets) ** 2).mean(dim=-1)


def _window() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(5, 3, generator=generator, dtype=F64)
    y = torch.randn(5, 1, generator=generator, dtype=F64)
    return [(x[:3], y[:3]), (x[3:], y[3:])]


def _with_grads(model: nn.Module) -> nn.Module:
    """Give every parameter a nonzero gradient, so a partial clip or reset would show."""
    for index, parameter in enumerate(model.parameters()):
        parameter.grad = torch.full_like(parameter, float(index + 1))
    return model


def _accumulation_rows() -> Iterator[BadCall]:
    model = _mlp()
    yield BadCall(
        "efx.accumulation.accumulated_gradients",
        "normaliser=0",
        lambda: ga.accumulated_gradients(model, _mse, _window(), normaliser=0),
        [model],
    )
    # A loss reduced to a scalar: the message names the micro-batch it came from.
    yield BadCall(
        "efx.accumulation.accumulated_gradients",
        "loss_fn(...) on micro_batches[0]='a tensor of shape ()'",
        lambda: ga.accumulated_gradients(model, lambda o, t: _mse(o, t).mean(), _window()),
        [model],
    )

    yield BadCall(
        "efx.accumulation.section_mean_gradients",
        "divisor=-1.0",
        lambda: ga.section_mean_gradients(model, _mse, _window(), divisor=-1.0),
        [model],
    )

    yield BadCall(
        "efx.accumulation.section_mean_gradients",
        "divisor=0.0",
        lambda: ga.section_mean_gradients(model, _mse, _window(), divisor=0.0),
        [model],
    )

    yield BadCall(
        "efx.accumulation.window_normaliser",
        "normalise='rows'",
        lambda: ga.window_normaliser(_window(), "rows"),  # type: ignore[arg-type]
    )

    yield BadCall(
        "efx.accumulation.window_normaliser",
        "micro_batches[0].targets=(1,)",
        lambda: ga.window_normaliser([(torch.tensor(1.0), torch.zeros(1))]),
    )

    yield BadCall(
        "efx.accumulation.window_normaliser",
        "micro_batches[0].targets=()",
        lambda: ga.window_normaliser([(torch.zeros(2, 1), torch.tensor(1.0))]),
    )

    yield BadCall(
        "efx.accumulation.accumulated_gradients",
        "normaliser=2.5",
        lambda: ga.accumulated_gradients(model, _mse, _window(), normaliser=2.5),  # type: ignore[arg-type]
        [model],
    )

    yield BadCall("efx.accumulation.global_count", "local=-1", lambda: ga.global_count(-1))
    yield BadCall(
        "efx.accumulation.global_count",
        "local=2.5",
        lambda: ga.global_count(2.5),  # type: ignore[arg-type]
    )
    losses = torch.ones(3, dtype=F64)
    batch = ga.MicroBatch(torch.zeros(2, 3), torch.zeros(2))
    yield BadCall(
        "efx.accumulation.summed_loss",
        "losses='a tensor of shape (3,)'",
        lambda: ga.summed_loss(losses, batch, "samples", "losses"),
        tensors=[losses],
    )

    # Five infinite losses: the message shows the first four.
    overflowing = torch.tensor([math.inf] * 5 + [1.0])
    yield BadCall(
        "efx.accumulation.summed_loss",
        "losses='losses containing [inf, inf, inf, inf]'",
        lambda: ga.summed_loss(
            overflowing, ga.MicroBatch(torch.zeros(6, 1), torch.zeros(6)), "samples", "losses"
        ),
        tensors=[overflowing],
    )

    yield BadCall("efx.accumulation.total_norm", "gradients=[]", lambda: ga.total_norm([]))

    yield BadCall(
        "efx.accumulation.clip_coefficient",
        "max_norm=0.0",
        lambda: ga.clip_coefficient(torch.tensor(2.0), 0.0),
    )
    yield BadCall(
        "efx.accumulation.clip_coefficient",
        "max_norm='1.0'",
        lambda: ga.clip_coefficient(torch.tensor(2.0), "1.0"),  # type: ignore[arg-type]
    )
    yield BadCall(
        "efx.accumulation.clip_coefficient",
        "norm=-1.0",
        lambda: ga.clip_coefficient(torch.tensor(-1.0), 1.0),
    )
    yield BadCall(
        "efx.accumulation.clip_coefficient",
        "norm=nan",
        lambda: ga.clip_coefficient(torch.tensor(math.nan), 1.0),
    )
    gradients = {"w": torch.tensor([3.0, 4.0])}
    yield BadCall(
        "efx.accumulation.clip_accumulated",
        "max_norm=nan",
        lambda: ga.clip_accumulated(gradients, float("nan")),
        tensors=list(gradients.values()),
    )
    clipped = _with_grads(_mlp())
    yield BadCall(
        "efx.accumulation.clip_gradients_",
        "max_norm=-2.0",
        lambda: ga.clip_gradients_(clipped.parameters(), -2.0),
        [clipped],
    )
    summed = _with_grads(_mlp())
    yield BadCall(
        "efx.accumulation.sum_gradients_across_ranks_",
        "parameters='no process group'",
        lambda: ga.sum_gradients_across_ranks_(summed.parameters()),
        [summed],
    )
    averaged = _with_grads(_mlp())
    yield BadCall(
        "efx.accumulation.undo_rank_average_",
        "parameters='no process group'",
        lambda: ga.undo_rank_average_(averaged.parameters()),
        [averaged],
    )

    yield from _accumulator_rows()
    yield from _estimator_rows()


def _estimator_rows() -> Iterator[BadCall]:
    yield BadCall(
        "efx.accumulation.estimators.full_batch_mean",
        "sections=[[1], []]",
        lambda: estimators.full_batch_mean([[1], []]),
    )

    yield BadCall(
        "efx.accumulation.estimators.mean_of_section_means",
        "divisor=0",
        lambda: estimators.mean_of_section_means([[1, 2]], divisor=0),
    )

    yield BadCall(
        "efx.accumulation.estimators.sum_over_count",
        "divisor=0",
        lambda: estimators.sum_over_count([[1, 2]], divisor=0),
    )

    yield BadCall(
        "efx.accumulation.estimators.clipping_strategies",
        "max_norm=0",
        lambda: estimators.clipping_strategies([[3, 4]], 0),
    )


def _accumulator_rows() -> Iterator[BadCall]:
    model = _mlp()
    yield BadCall(
        "efx.accumulation.GradientAccumulator.__init__",
        "data_parallel='all'",
        lambda: ga.GradientAccumulator(model.parameters(), data_parallel="all"),  # type: ignore[arg-type]
        [model],
    )
    begun = _with_grads(_mlp())
    accumulator = ga.GradientAccumulator(begun.parameters())
    yield BadCall(
        "efx.accumulation.GradientAccumulator.begin",
        "total=0",
        lambda: accumulator.begin(total=0),
        [begun],
    )
    backward_model = _mlp()
    waiting = ga.GradientAccumulator(backward_model.parameters())
    waiting.begin(total=5)
    x, y = _window()[0]
    # The forward pass runs here, before the snapshot: it updates BatchNorm's buffers itself.
    reduced = _mse(backward_model(x), y).mean()
    yield BadCall(
        "efx.accumulation.GradientAccumulator.backward",
        "losses='a scalar",
        lambda: waiting.backward(reduced),
        [backward_model],
    )

    per_output = _mse(backward_model(x), y).unsqueeze(-1).expand(3, 2)
    yield BadCall(
        "efx.accumulation.GradientAccumulator.backward",
        "losses='a tensor of shape (3, 2)'",
        lambda: waiting.backward(per_output),
        [backward_model],
    )

    yield BadCall(
        "efx.accumulation.GradientAccumulator.begin",
        "total=2.5",
        lambda: accumulator.begin(total=2.5),  # type: ignore[arg-type]
        [begun],
    )
    stepped = _with_grads(_mlp())
    fresh = ga.GradientAccumulator(stepped.parameters(), torch.optim.SGD(stepped.parameters()))
    yield BadCall(
        "efx.accumulation.GradientAccumulator.step",
        "begin='not called'",
        fresh.step,
        [stepped],
    )


def _checkpointing_rows() -> Iterator[BadCall]:
    yield BadCall("efx.checkpointing.Binomial.__init__", "slots=0", lambda: ckpt.Binomial(0))

    yield BadCall(
        "efx.checkpointing.Binomial.__init__",
        "slots=1.5",
        lambda: ckpt.Binomial(1.5),  # type: ignore[arg-type]
        message="slots=1.5 is invalid: it must be an integer >= 1. "
        "Fix: pass at least one slot; the chain's input takes one.",
    )

    yield BadCall(
        "efx.checkpointing.Binomial.schedule",
        "length=0",
        lambda: ckpt.Binomial(2).schedule(0),
        message="length=0 is invalid: it must be an integer >= 1. Fix: pass a chain with modules.",
    )

    yield BadCall(
        "efx.checkpointing.MemoryPoor.schedule", "length=-3", lambda: ckpt.MemoryPoor().schedule(-3)
    )

    yield BadCall(
        "efx.checkpointing.StoreAll.schedule", "length=True", lambda: ckpt.StoreAll().schedule(True)
    )

    yield BadCall(
        "efx.checkpointing.Segments.__init__",
        "count=0",
        lambda: ckpt.Segments(0),
        message="count=0 is invalid: it must be an integer >= 1 or None. "
        "Fix: pass a number of segments, or None for sqrt(n).",
    )

    yield BadCall(
        "efx.checkpointing.StoreAll.schedule",
        "length=1.5",
        lambda: ckpt.StoreAll().schedule(1.5),  # type: ignore[arg-type]
    )

    yield BadCall(
        "efx.checkpointing.Schedule.__init__",
        "length=1.5",
        lambda: ckpt.Schedule(1.5, "scripted", lambda: iter(())),  # type: ignore[arg-type]
    )

    yield BadCall(
        "efx.checkpointing.segment_schedule",
        "lengths=(2.5,)",
        lambda: ckpt.segment_schedule([2.5], "scripted"),  # type: ignore[list-item]
    )

    yield BadCall(
        "efx.checkpointing.Segments.lengths", "length=0", lambda: ckpt.Segments(2).lengths(0)
    )

    yield BadCall(
        "efx.checkpointing.Segments.schedule", "length=0", lambda: ckpt.Segments().schedule(0)
    )

    yield BadCall(
        "efx.checkpointing.TorchSequential.__init__",
        "segments=0",
        lambda: ckpt.TorchSequential(0),
        message="segments=0 is invalid: it must be an integer >= 1. "
        "Fix: pass the number of segments.",
    )

    yield BadCall(
        "efx.checkpointing.TorchSequential.lengths",
        "length=0",
        lambda: ckpt.TorchSequential(2).lengths(0),
    )

    yield BadCall(
        "efx.checkpointing.TorchSequential.schedule",
        "length=0",
        lambda: ckpt.TorchSequential(2).schedule(0),
    )

    yield BadCall(
        "efx.checkpointing.balanced_lengths",
        "segments=0",
        lambda: ckpt.balanced_lengths(4, 0),
        message="segments=0 is invalid: it must be an integer >= 1. "
        "Fix: pass the number of segments.",
    )

    yield BadCall(
        "efx.checkpointing.torch_sequential_lengths",
        "segments=5",
        lambda: ckpt.torch_sequential_lengths(4, 5),
    )

    yield BadCall(
        "efx.checkpointing.torch_sequential_lengths",
        "segments=0",
        lambda: ckpt.torch_sequential_lengths(4, 0),
        message="segments=0 is invalid: it must be an integer >= 1. "
        "Fix: pass the number of segments.",
    )

    yield BadCall(
        "efx.checkpointing.sqrt_segment_count", "length=0", lambda: ckpt.sqrt_segment_count(0)
    )
    yield BadCall(
        "efx.checkpointing.sqrt_segment_count",
        "length=2.5",
        lambda: ckpt.sqrt_segment_count(2.5),  # type: ignore[arg-type]
    )

    yield BadCall(
        "efx.checkpointing.segment_schedule",
        "lengths=()",
        lambda: ckpt.segment_schedule((), "empty"),
    )

    yield BadCall(
        "efx.checkpointing.binomial_capacity",
        "slots=-1",
        lambda: ckpt.binomial_capacity(-1, 2),
        message="slots=-1 is invalid: it must be an integer >= 0. "
        "Fix: pass the number of checkpoint slots.",
    )

    yield BadCall(
        "efx.checkpointing.binomial_capacity",
        "repetitions=-1",
        lambda: ckpt.binomial_capacity(2, -1),
        message="repetitions=-1 is invalid: it must be an integer >= 0. "
        "Fix: pass the repetition number.",
    )

    yield BadCall(
        "efx.checkpointing.binomial_advances",
        "length=0",
        lambda: ckpt.binomial_advances(0, 2),
    )

    yield BadCall(
        "efx.checkpointing.repetition_number",
        "slots=0",
        lambda: ckpt.repetition_number(4, 0),
        message="slots=0 is invalid: it must be an integer >= 1. "
        "Fix: pass at least one slot, for the chain's input.",
    )

    yield BadCall(
        "efx.checkpointing.repetition_number",
        "length=0",
        lambda: ckpt.repetition_number(0, 1),
        message="length=0 is invalid: it must be an integer >= 1. Fix: pass the number of modules.",
    )

    yield BadCall(
        "efx.checkpointing.optimal_split",
        "slots=0",
        lambda: ckpt.optimal_split(4, 0),
        message="slots=0 is invalid: it must be an integer >= 1. Fix: pass at least one slot.",
    )

    yield BadCall(
        "efx.checkpointing.optimal_split",
        "length=1",
        lambda: ckpt.optimal_split(1, 2),
        message="length=1 is invalid: it must be an integer >= 2. "
        "Fix: a split needs at least two modules.",
    )

    yield BadCall(
        "efx.checkpointing.count",
        "length=None",
        lambda: ckpt.count(list(ckpt.StoreAll().schedule(2))),
    )

    for length in (-1, True, 1.5):
        yield BadCall(
            "efx.checkpointing.count",
            f"length={length!r}",
            lambda n=length: ckpt.count([], n),
        )
    yield BadCall(
        "efx.checkpointing.Schedule.__init__",
        "length=0",
        lambda: ckpt.Schedule(0, "empty", lambda: iter(())),
    )

    chain = _mlp()
    yield BadCall(
        "efx.checkpointing.Checkpointed.__init__",
        "strategy='sqrt'",
        lambda: ckpt.Checkpointed(chain, "sqrt"),  # type: ignore[arg-type]
        [chain],
    )
    wrapped = ckpt.Checkpointed(_mlp(), ckpt.Segments(2))
    yield BadCall(
        "efx.checkpointing.Checkpointed.forward",
        "x=[[1.0, 2.0, 3.0]]",
        lambda: wrapped([[1.0, 2.0, 3.0]]),  # type: ignore[arg-type]
        [wrapped],
    )

    yield BadCall(
        "efx.checkpointing.Checkpointed.trainable_parameters",
        "first=-1",
        lambda: wrapped.trainable_parameters(-1),
        [wrapped],
    )
    yield BadCall(
        "efx.checkpointing.Checkpointed.trainable_parameters",
        "first=1.5",
        lambda: wrapped.trainable_parameters(1.5),  # type: ignore[arg-type]
        [wrapped],
    )
    yield BadCall(
        "efx.checkpointing.Checkpointed.trainable_parameters",
        "stop=99",
        lambda: wrapped.trainable_parameters(0, 99),
        [wrapped],
    )
    yield BadCall(
        "efx.checkpointing.Checkpointed.trainable_parameters",
        "first=3",
        lambda: wrapped.trainable_parameters(3, 1),
        [wrapped],
    )

    yield BadCall(
        "efx.checkpointing.count",
        "length=0",
        lambda: ckpt.count(ckpt.StoreAll().schedule(2), 0),
    )


def _measure_rows() -> Iterator[BadCall]:
    yield BadCall(
        "efx.measure.peak_memory", "device='tpu'", lambda: measure.peak_memory(lambda: 1, "tpu")
    )

    yield BadCall(
        "efx.measure.saved_for_backward",
        "fn=3",
        lambda: measure.saved_for_backward(3),  # type: ignore[arg-type]
    )


def _lowrank_rows() -> Iterator[BadCall]:
    W = torch.randn(4, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    S = torch.tensor([3.0, 2.0, 1.0], dtype=F64)
    yield BadCall(
        "efx.lowrank.truncated_svd", "k=4", lambda: lowrank.truncated_svd(W, 4), tensors=[W]
    )

    yield BadCall(
        "efx.lowrank.low_rank_factors",
        "split='middle'",
        lambda: lowrank.low_rank_factors(W, 2, "middle"),  # type: ignore[arg-type]
        tensors=[W],
    )

    yield BadCall(
        "efx.lowrank.randomized_svd",
        "W=(3,)",
        lambda: lowrank.randomized_svd(torch.ones(3, dtype=F64), 1),
    )

    nan_matrix = W.clone()
    nan_matrix[1, 2] = math.nan
    yield BadCall(
        "efx.lowrank.randomized_svd",
        "W='a (4, 3) matrix with 1 NaN or infinite entries'",
        lambda: lowrank.randomized_svd(nan_matrix, 2, generator=torch.Generator().manual_seed(0)),
        tensors=[nan_matrix],
    )

    yield BadCall(
        "efx.lowrank.randomized_svd",
        "power_iterations=-1",
        lambda: lowrank.randomized_svd(W, 2, power_iterations=-1),
        tensors=[W],
    )

    yield BadCall(
        "efx.lowrank.TruncatedSVD.factors",
        "split='top'",
        lambda: lowrank.truncated_svd(W, 2).factors("top"),  # type: ignore[arg-type]
        tensors=[W],
    )

    yield BadCall(
        "efx.lowrank.error_ratio_to_optimum",
        "approximation=(3, 4)",
        lambda: lowrank.error_ratio_to_optimum(W, W.mT, 1),
        tensors=[W],
    )
    for name in (
        "frobenius_error_from_spectrum",
        "spectral_error_from_spectrum",
        "relative_frobenius_error_from_spectrum",
        "relative_spectral_error_from_spectrum",
    ):
        function = getattr(lowrank, name)
        yield BadCall(f"efx.lowrank.{name}", "k=-1", lambda f=function: f(S, -1), tensors=[S])
    for name in (
        "frobenius_error_curve",
        "relative_frobenius_error_from_spectrum",
        "relative_spectral_error_from_spectrum",
    ):
        function = getattr(lowrank, name)
        unsorted = torch.tensor([3.0, 1.0, 2.0], dtype=F64)
        yield BadCall(
            f"efx.lowrank.{name}",
            "S=[3.0, 1.0, 2.0]",
            lambda f=function, u=unsorted: f(u) if f is lowrank.frobenius_error_curve else f(u, 1),
            tensors=[unsorted],
        )

        if name != "frobenius_error_curve":  # the curve takes no k
            yield BadCall(f"efx.lowrank.{name}", "k=2.5", lambda f=function: f(S, 2.5), tensors=[S])

    yield BadCall(
        "efx.lowrank.error_ratio_to_optimum",
        "W=[[1, 2], [3, 4]]",
        lambda: lowrank.error_ratio_to_optimum([[1, 2], [3, 4]], W, 1),
        tensors=[W],
    )

    yield BadCall(
        "efx.lowrank.error_ratio_to_optimum",
        "singular_values=[1.0, 2.0, 3.0]",
        lambda: lowrank.error_ratio_to_optimum(
            W, W, 1, singular_values=torch.tensor([1.0, 2.0, 3.0])
        ),
        tensors=[W],
    )

    yield BadCall(
        "efx.lowrank.max_relative_frobenius_error",
        "p=4.0",
        lambda: lowrank.max_relative_frobenius_error(4.0, 1),
    )

    yield BadCall(
        "efx.lowrank.max_relative_frobenius_error",
        "k=1.0",
        lambda: lowrank.max_relative_frobenius_error(4, 1.0),
    )

    yield BadCall(
        "efx.lowrank.max_relative_frobenius_error",
        "k=5",
        lambda: lowrank.max_relative_frobenius_error(4, 5),
    )

    yield BadCall(
        "efx.lowrank.svd_backward_error",
        "norm=-1.0",
        lambda: lowrank.svd_backward_error(-1.0, (3, 3), F64),
    )

    yield BadCall(
        "efx.lowrank.truncation_error_tolerance",
        "k=1.5",
        lambda: lowrank.truncation_error_tolerance(1.0, (3, 3), 1.5, F64),  # type: ignore[arg-type]
    )

    with_nan = W.clone()
    with_nan[0, 0] = math.nan
    yield BadCall(
        "efx.lowrank.truncated_svd",
        "W='a (4, 3) matrix with 1 NaN or infinite entries'",
        lambda: lowrank.truncated_svd(with_nan, 1),
        tensors=[with_nan],
    )

    yield BadCall(
        "efx.lowrank.truncation_error_tolerance",
        "norm=-1.0",
        lambda: lowrank.truncation_error_tolerance(-1.0, (3, 3), 1, F64),
    )

    yield BadCall(
        "efx.rank.default_rank_tolerance",
        "dtype=torch.int64",
        lambda: rank.default_rank_tolerance(1.0, 3, 3, torch.int64),
    )

    yield BadCall(
        "efx.rank.numerical_rank", "tol=-1.0", lambda: rank.numerical_rank(W, -1.0), tensors=[W]
    )

    yield BadCall("efx.rank.svd_error_bound", "rows=-1", lambda: rank.svd_error_bound(-1, 3, F64))

    yield BadCall(
        "efx.rank.product_error_bound",
        "scale=-1.0",
        lambda: rank.product_error_bound(3, 9, -1.0, F64),
    )


def _normalization_rows() -> Iterator[BadCall]:
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(3), dtype=F64)
    g = torch.ones_like(x)
    yield BadCall(
        "efx.normalization.check_sizes",
        "sizes=[2, 1]",
        lambda: normalization.check_sizes([2, 1], 4),
    )

    yield BadCall(
        "efx.normalization.validate_arguments",
        "eps=0.0",
        lambda: normalization.validate_arguments(x, eps=0.0),
        tensors=[x],
    )

    yield BadCall(
        "efx.normalization.section_statistics",
        "sizes=[5]",
        lambda: normalization.section_statistics(x, [5]),
        tensors=[x],
    )

    yield BadCall(
        "efx.normalization.batch_norm_train",
        "eps=-1.0",
        lambda: normalization.batch_norm_train(x, eps=-1.0),
        tensors=[x],
    )

    yield BadCall(
        "efx.normalization.batch_norm_backward",
        "grad_output=None",
        lambda: normalization.batch_norm_backward(x, None),  # type: ignore[arg-type]
        tensors=[x],
    )
    running_mean = torch.zeros(2, dtype=F64)
    yield BadCall(
        "efx.normalization_running.running_statistics",
        "momentum=1.5",
        lambda: normalization_running.running_statistics(x, [2, 2], running_mean, momentum=1.5),
        tensors=[x, running_mean],
    )

    yield BadCall(
        "efx.normalization_bounds.output_error_bound",
        "dtype=torch.int32",
        lambda: normalization_bounds.output_error_bound(x, dtype=torch.int32),
        tensors=[x],
    )

    yield BadCall(
        "efx.normalization_bounds.gradient_error_bound",
        "sizes=[3, 3]",
        lambda: normalization_bounds.gradient_error_bound(x, g, [3, 3]),
        tensors=[x, g],
    )


def _lora_rows() -> Iterator[BadCall]:
    base = nn.Linear(4, 3).to(F64)
    yield BadCall(
        "efx.lora.LoRALinear.__init__",
        "alpha=0.0",
        lambda: lora_module.LoRALinear(base, 2, 0.0),
        [base],
    )
    yield BadCall(
        "efx.lora.LoRALinear.__init__",
        "dropout='0.1'",
        lambda: lora_module.LoRALinear(base, 2, 4.0, dropout="0.1"),  # type: ignore[arg-type]
        [base],
    )

    layer = lora_module.LoRALinear(nn.Linear(4, 3).to(F64), 2, 4.0)
    yield BadCall(
        "efx.lora.LoRALinear.forward",
        "x=(2, 5)",
        lambda: layer(torch.ones(2, 5, dtype=F64)),
        [layer],
    )

    yield BadCall(
        "efx.lora.LoRALinear.forward",
        "x=()",
        lambda: layer(torch.tensor(1.0, dtype=F64)),
        [layer],
    )

    yield BadCall("efx.lora.lora_scale", "r=0", lambda: lora_module.lora_scale(1.0, 0))

    yield BadCall(
        "efx.lora.lora_parameter_count", "r=0", lambda: lora_module.lora_parameter_count(4, 3, 0)
    )
    A = torch.zeros(2, 4, dtype=F64)
    B = torch.zeros(3, 2, dtype=F64)
    yield BadCall(
        "efx.lora_init.init_factors_randomly",
        "kind='uniform'",
        lambda: lora_init.init_factors_randomly(A, B, "uniform"),
        tensors=[A, B],
    )
    weight = torch.ones(3, 4, dtype=F64)
    yield BadCall(
        "efx.lora_init.init_factors_from_svd",
        "scale=0.0",
        lambda: lora_init.init_factors_from_svd(weight, A, B, 0.0),
        tensors=[weight, A, B],
    )
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).to(F64)
    yield BadCall(
        "efx.lora_model.wrap_linear_layers",
        "names='5'",
        lambda: lora_model.wrap_linear_layers(model, ["0", "5"], r=1, alpha=1.0),
        [model],
    )


def _other_rows() -> Iterator[BadCall]:
    yield BadCall(
        "efx.tolerance.unit_roundoff",
        "dtype=torch.int64",
        lambda: tolerance.unit_roundoff(torch.int64),
    )

    yield BadCall("efx.tolerance.gamma", "k=-1", lambda: tolerance.gamma(-1, F64))

    yield BadCall(
        "efx.tolerance.summation_bound", "terms=0", lambda: tolerance.summation_bound(1.0, 0, F64)
    )

    yield BadCall("efx.data.load_digits", "dtype=torch.int64", lambda: load_digits(torch.int64))

    yield BadCall("efx.faults.fault", "name='off_by_one'", lambda: fault("off_by_one"))


def rows() -> list[BadCall]:
    """Build every row of the table (fresh models and tensors for each test run)."""
    return [
        *_accumulation_rows(),
        *_checkpointing_rows(),
        *_measure_rows(),
        *_lowrank_rows(),
        *_normalization_rows(),
        *_lora_rows(),
        *_other_rows(),
    ]


EXEMPT = {
    "efx.accumulation.estimators.norm": "takes any sympy vector; sympy rejects what has no norm",
    "efx.accumulation.MicroBatch": "a NamedTuple of tensors; as_micro_batches validates it where it is used",
    "efx.checkpointing.Action": "a NamedTuple that schedules yield; count() rejects bad actions with ScheduleError",
    "efx.checkpointing.Op": "an enum",
    "efx.checkpointing.ScheduleCounts": "a result record that count() returns",
    "efx.checkpointing.ChainCounts": "a result record that Checkpointed returns",
    "efx.checkpointing.Strategy": "a Protocol, not called",
    "efx.checkpointing.StoreAll.__init__": "takes no argument",
    "efx.checkpointing.MemoryPoor.__init__": "takes no argument",
    "efx.measure.MemoryPeak": "a result record that peak_memory returns",
    "efx.measure.SavedTensor": "a result record that saved_for_backward returns",
    "efx.measure.SavedForBackward": "a result record that saved_for_backward returns",
    "efx.lowrank.ErrorRatio": "a result record that error_ratio_to_optimum returns",
    "efx.lowrank.TruncatedSVD.__init__": "a NamedTuple that truncated_svd and randomized_svd return",
    "efx.lowrank.TruncatedSVD.reconstruct": "takes no argument",
    "efx.normalization.SectionStatistics": "a result record that section_statistics returns",
    "efx.normalization.BatchNormGradients": "a result record that batch_norm_backward returns",
    "efx.normalization.ValidArguments": "the result record of validate_arguments",
    "efx.normalization_running.RunningStatistics": "a result record that running_statistics returns",
    "efx.lora.LoRALinear.delta_weight": "takes no argument",
    "efx.lora.LoRALinear.merge": "takes no argument; a second merge raises LoRAStateError (verify/test_lora.py)",
    "efx.lora.LoRALinear.unmerge": "takes no argument; unmerge before merge raises LoRAStateError (verify/test_lora.py)",
    "efx.lora.LoRALinear.extra_repr": "takes no argument",
    "efx.faults.Fault": "a frozen record of the catalogue",
    "efx.faults.Fault.load": "takes no argument",
    "efx.faults.Fault.pytest_args": "takes no argument",
}
"""Public callables without a bad-input row, each with the reason."""


def public_callables() -> set[str]:
    """Return the qualified names of the public functions, classes and methods of MODULES."""
    names: set[str] = set()
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None) or [n for n in vars(module) if n[0] != "_"]
        # mutmut adds each function's mutants to its module as "x_<name>__mutmut_<N>".
        for name in (n for n in exported if "__mutmut_" not in n):
            obj = getattr(module, name)
            home = getattr(obj, "__module__", "") or ""
            if not home.startswith("efx") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue
            if home != module_name and not home.startswith(module_name + "."):
                continue  # re-exported from another module, which lists it
            qualified = f"{module_name}.{name}"
            if inspect.isfunction(obj):
                names.add(qualified)
                continue
            if qualified in EXEMPT:
                names.add(qualified)
                continue
            names.add(f"{qualified}.__init__")
            for attribute, value in vars(obj).items():
                # mutmut adds each method's mutants as class attributes named "xǁ...__mutmut_N".
                if (
                    attribute[0] != "_"
                    and "__mutmut_" not in attribute
                    and inspect.isfunction(value)
                ):
                    names.add(f"{qualified}.{attribute}")
    return names


def _snapshot(row: BadCall) -> list[dict[str, torch.Tensor]]:
    states = []
    for module in row.watched:
        state = {name: value.detach().clone() for name, value in module.state_dict().items()}
        for name, parameter in module.named_parameters():
            state[f"{name}.grad"] = (
                torch.empty(0) if parameter.grad is None else parameter.grad.detach().clone()
            )
            state[f"{name}.requires_grad"] = torch.tensor(parameter.requires_grad)
        states.append(state)
    states.append({str(index): t.detach().clone() for index, t in enumerate(row.tensors)})
    return states


def _assert_same(
    before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], where: str
) -> None:
    assert before.keys() == after.keys(), f"{where}: entries changed"
    for name, value in before.items():
        other = after[name]
        assert value.shape == other.shape, f"{where}: {name} changed shape"
        assert value.dtype == other.dtype, f"{where}: {name} changed dtype"
        # NaN entries (rows that pass NaN on purpose) count as unchanged when still NaN.
        same = torch.equal(value, other) or (
            value.is_floating_point()
            and torch.allclose(value, other, rtol=0, atol=0, equal_nan=True)
        )
        assert same, f"{where}: {name} changed"


ROWS = rows()


def _row_id(row: BadCall) -> str:
    return f"{row.target.removeprefix('efx.')}[{row.expected}]"


def _parameters() -> list[object]:
    params: list[object] = []
    for index, row in enumerate(ROWS):
        marks = [pytest.mark.xfail(strict=True, reason=row.gap)] if row.gap else []
        params.append(pytest.param(index, id=_row_id(row), marks=marks))
    return params


def test_table_covers_public_api() -> None:
    covered = {row.target for row in ROWS} | set(EXEMPT)
    missing = public_callables() - covered
    assert not missing, f"public callables without a bad-input row: {sorted(missing)}"
    unknown = {row.target for row in ROWS} - public_callables()
    assert not unknown, f"rows for names that are not public: {sorted(unknown)}"


@pytest.mark.parametrize("index", _parameters())
def test_bad_input_raises_and_changes_nothing(index: int) -> None:
    row = rows()[index]  # fresh models and tensors for this run
    before = _snapshot(row)

    with pytest.raises(InvalidArgumentError) as raised:
        row.call()

    message = str(raised.value)
    assert row.expected in message, f"message does not show {row.expected!r}: {message}"
    if row.message is not None:
        assert message == row.message
    assert " is invalid: it " in message, message
    assert "Fix: " in message, message
    after = _snapshot(row)
    for index, (old, new) in enumerate(zip(before, after, strict=True)):
        _assert_same(old, new, f"{row.target} watched object {index}")


def test_rejected_accumulator_backward_leaves_window_open() -> None:
    # After a rejected backward the accumulator still expects the whole window.
    model = _mlp()
    accumulator = ga.GradientAccumulator(model.parameters())
    window = _window()
    accumulator.begin(window)
    with pytest.raises(InvalidArgumentError):
        accumulator.backward(torch.ones((), dtype=F64))
    for x, y in window:
        accumulator.backward(_mse(model(x), y))

    assert accumulator.counted == 5
    assert accumulator.total == 5
