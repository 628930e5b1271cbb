"""Behaviour of efx's core modules that no other test pinned down, found by mutation testing.

``mutmut`` (see docs/mutation.md) changes one operator, constant or argument at a time in
efx.accumulation, efx.checkpointing, efx.lowrank and efx.lora, and runs the tests that reach
the changed function. A change that no test notices is a *surviving mutant*. Each test here
pins the behaviour that let one or more mutants survive: defaults, results of helpers that
only the pages use, state after a call, and edge cases of input checks. Mutants that no input
can tell apart from the original are listed with the reason in docs/mutation.md instead.
"""

from __future__ import annotations

import inspect
from fractions import Fraction

import pytest
import sympy
import torch
from torch import nn

from efx.accumulation import section_mean_gradients
from efx.accumulation.estimators import (
    clipping_strategies,
    full_batch_mean,
    mean_of_section_means,
    sum_over_count,
)
from efx.checkpointing import Binomial, MemoryPoor, Segments, StoreAll, TorchSequential
from efx.lora import LoRALinear
from efx.lowrank import (
    error_ratio_to_optimum,
    randomized_svd,
    relative_frobenius_error_from_spectrum,
    relative_spectral_error_from_spectrum,
    truncated_svd,
)
from efx.tolerance import gamma

F64 = torch.float64


def _matrix(rows: int = 6, cols: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=F64)


# efx.accumulation: the 1/m baseline and the exact estimators the pages print.


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return ((outputs - targets) ** 2).mean(dim=-1)


def _naive_gradients(
    model: nn.Module, window: list[tuple[torch.Tensor, ...]], divisor: float
) -> list[torch.Tensor]:
    """Return the gradient of (1/divisor) sum_j mean_j, computed in one autograd call."""
    means = []
    for batch in window:
        losses = _mse(model(batch[0]), batch[1])
        if len(batch) == 3:
            losses = losses[batch[2].bool()]
        means.append(losses.mean())
    return list(torch.autograd.grad(sum(means) / divisor, list(model.parameters())))


@pytest.mark.parametrize("divisor", [None, 1.0, 4.0])
def test_section_mean_gradients_match_definition(divisor):
    torch.manual_seed(0)
    model = nn.Linear(3, 2).to(F64)
    x, y = torch.randn(5, 3, dtype=F64), torch.randn(5, 2, dtype=F64)
    window = [(x[:3], y[:3]), (x[3:], y[3:])]

    result = section_mean_gradients(model, _mse, window, divisor=divisor)

    expected = _naive_gradients(model, window, 2.0 if divisor is None else divisor)
    for (name, got), want in zip(result.items(), expected, strict=True):
        # Two sums of at most 3 per-sample terms, each a handful of roundings.
        assert torch.allclose(got, want, rtol=0, atol=gamma(16, F64) * float(want.abs().max()))
        assert name in dict(model.named_parameters())


def test_section_mean_gradients_single_valid_token():
    # A micro-batch with exactly one valid token has a mean: it must not be rejected.
    torch.manual_seed(1)
    model = nn.Linear(3, 1).to(F64)
    x, y = torch.randn(2, 2, 3, dtype=F64), torch.randn(2, 2, 1, dtype=F64)
    mask = torch.tensor([[True, False], [True, True]])
    window = [(x[:1], y[:1], mask[:1]), (x[1:], y[1:], mask[1:])]

    result = section_mean_gradients(model, _mse, window, "tokens")

    expected = _naive_gradients(model, window, 2.0)
    for got, want in zip(result.values(), expected, strict=True):
        assert torch.allclose(got, want, rtol=0, atol=gamma(16, F64) * float(want.abs().max()))


def test_estimators_accept_divisor_one():
    sections = [[1, 2, 3], [10, 20]]

    assert mean_of_section_means(sections, divisor=1) == Fraction(17, 1)
    assert sum_over_count(sections, divisor=1) == 36


def test_clipping_strategies_single_gradient():
    # One micro-gradient: all three strategies clip the same vector once.
    result = clipping_strategies([[3, 4]], 1)

    expected = sympy.Matrix([sympy.Rational(3, 5), sympy.Rational(4, 5)])
    assert result["once"] == expected
    assert result["running"] == expected
    assert result["each"] == expected
    assert full_batch_mean([[1, 2]]) == Fraction(3, 2)


# efx.lowrank: the error ratio, the spectrum ratios, randomized defaults.


def test_error_ratio_fields_match_definitions():
    W = _matrix()
    S = torch.linalg.svdvals(W)
    approximation = truncated_svd(W, 2).reconstruct() + 0.01 * _matrix(seed=1)

    ratio = error_ratio_to_optimum(W, approximation, 2)
    given = error_ratio_to_optimum(W, approximation, 2, singular_values=S.float())

    difference = W - approximation
    frobenius = float(torch.linalg.matrix_norm(difference))
    spectral = float(torch.linalg.matrix_norm(difference, ord=2))
    assert ratio.frobenius_error == pytest.approx(frobenius, rel=1e-12)
    assert ratio.spectral_error == pytest.approx(spectral, rel=1e-12)
    assert ratio.optimal_frobenius == pytest.approx(float(S[2:].norm()), rel=1e-12)
    assert ratio.optimal_spectral == pytest.approx(float(S[2]), rel=1e-12)
    assert ratio.frobenius == pytest.approx(frobenius / float(S[2:].norm()), rel=1e-12)
    assert ratio.spectral == pytest.approx(spectral / float(S[2]), rel=1e-12)
    # Singular values given in float32 are used, converted to float64: within float32 rounding.
    assert given.optimal_spectral == pytest.approx(float(S[2]), rel=4 * 2.0**-24)
    assert given.frobenius_error == ratio.frobenius_error


def test_relative_errors_with_zero_tail():
    # sigma_1 != 0 and sigma_2 = 0 is a valid spectrum: the ratios exist and are 0 at k = 1.
    S = torch.tensor([2.0, 0.0], dtype=F64)

    assert float(relative_spectral_error_from_spectrum(S, 1)) == 0.0
    assert float(relative_frobenius_error_from_spectrum(S, 1)) == 0.0
    assert float(relative_spectral_error_from_spectrum(S, 0)) == 1.0


def test_randomized_svd_defaults():
    parameters = inspect.signature(randomized_svd).parameters
    W = _matrix(30, 28)

    default = randomized_svd(W, 2, generator=torch.Generator().manual_seed(5))
    explicit = randomized_svd(
        W, 2, oversample=10, power_iterations=2, generator=torch.Generator().manual_seed(5)
    )
    other = randomized_svd(
        W, 2, oversample=11, power_iterations=3, generator=torch.Generator().manual_seed(5)
    )

    assert parameters["oversample"].default == 10
    assert parameters["power_iterations"].default == 2
    assert torch.equal(default.S, explicit.S)
    assert not torch.equal(default.S, other.S)


# efx.checkpointing: names that tables and messages print.


@pytest.mark.parametrize(
    ("strategy", "text", "name"),
    [
        (StoreAll(), "StoreAll()", "store-all"),
        (MemoryPoor(), "MemoryPoor()", "memory-poor"),
        (Segments(3), "Segments(count=3, check=True)", "segments(3)"),
        (Segments(), "Segments(count=None, check=True)", "sqrt(n)"),
        (Binomial(2), "Binomial(slots=2)", "binomial(2)"),
        (TorchSequential(2), "TorchSequential(segments=2, check=True)", "torch-sequential(2)"),
    ],
)
def test_strategy_repr_and_schedule_name(strategy, text, name):
    schedule = strategy.schedule(4)

    assert repr(strategy) == text
    assert strategy.name == name
    assert schedule.strategy == name


# efx.lora: state after unmerge.


def test_unmerge_clears_merged_state():
    torch.manual_seed(2)
    layer = LoRALinear(nn.Linear(4, 3).to(F64), 2, 4.0).eval()
    with torch.no_grad():
        layer.lora_B.normal_()

    layer.merge()
    layer.unmerge()

    assert layer.merged is False
    layer.merge()  # a merge after an unmerge is allowed
    assert layer.merged is True
