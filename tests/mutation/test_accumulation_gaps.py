"""efx.accumulation behaviour that mutation testing found unpinned: the 1/m baseline,
the exact estimators the pages print, clipping and window edge cases.

See docs/mutation.md for how mutants are made and which ones are left as equivalent.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import sympy
import torch
import torch.distributed as dist
from torch import nn

from efx.accumulation import (
    GradientAccumulator,
    accumulated_gradients,
    clip_accumulated,
    clip_coefficient,
    global_count,
    section_mean_gradients,
)
from efx.accumulation.estimators import (
    clipping_strategies,
    full_batch_mean,
    mean_of_section_means,
    sum_over_count,
)
from efx.accumulation.window import _count_device
from efx.tolerance import gamma

F64 = torch.float64


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


def _token_window() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(3, 3, 3, generator=generator, dtype=F64)
    y = torch.randn(3, 3, 2, generator=generator, dtype=F64)
    mask = torch.tensor([[True, True, False], [True, False, False], [True, True, True]])
    return [(x[:2], y[:2], mask[:2]), (x[2:], y[2:], mask[2:])]


def test_samples_mode_ignores_mask():
    torch.manual_seed(5)
    model = nn.Linear(3, 2).to(F64)
    window = _token_window()

    def sample_losses(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ((outputs - targets) ** 2).mean(dim=(-2, -1))

    with_mask = accumulated_gradients(model, sample_losses, window, "samples")
    without = accumulated_gradients(model, sample_losses, [(x, y) for x, y, _ in window])

    for name, got in with_mask.items():
        assert torch.equal(got, without[name])


def test_accumulator_counts_tokens_in_one_process():
    # normalise="tokens": begin() counts the masks' valid tokens, backward() adds each
    # micro-batch's count, and step() finds the window complete (no EfxWarning).
    torch.manual_seed(6)
    model = nn.Linear(3, 2).to(F64)
    window = _token_window()
    expected = accumulated_gradients(model, _mse, window, "tokens")

    accumulator = GradientAccumulator(model.parameters(), normalise="tokens")
    assert accumulator.begin(window) == 6  # 2 + 1 valid tokens, then 3
    for x, y, mask in window:
        accumulator.backward(_mse(model(x), y), mask)
    assert accumulator.counted == 6
    accumulator.step()

    for name, parameter in model.named_parameters():
        # Both sum the same 6 token terms in the same micro-batch order.
        assert torch.allclose(
            parameter.grad,
            expected[name],
            rtol=0,
            atol=gamma(16, F64) * float(expected[name].abs().max()),
        )


def test_accumulator_window_of_one():
    model = nn.Linear(3, 1).to(F64)
    accumulator = GradientAccumulator(model.parameters())

    assert accumulator.begin(total=1) == 1


def test_clip_zero_gradient():
    zero = {"w": torch.zeros(3, dtype=F64)}

    clipped, norm = clip_accumulated(zero, 1.0)

    assert float(clip_coefficient(torch.tensor(0.0, dtype=F64), 1.0)) == 1.0
    assert norm == 0.0
    assert torch.equal(clipped["w"], zero["w"])


def test_clip_coefficient_of_negative_zero_norm():
    # -0.0 is a valid zero norm: the coefficient is 1, not max_norm / -0.0 = -inf.
    coefficient = clip_coefficient(torch.tensor(-0.0, dtype=F64), 1.0)

    assert float(coefficient) == 1.0


def test_count_device_follows_backend(monkeypatch):
    # torch.device("cuda", 3) is only a description, so this runs on a CPU-only build too.
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)

    assert _count_device("nccl") == torch.device("cuda", 3)
    assert _count_device("gloo") == torch.device("cpu")


def test_global_count_ignores_default_device():
    # One gloo rank in this process, its store in memory: no socket is opened. The count is
    # created on the device the backend needs, even under a default device gloo cannot reduce.
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        with torch.device("meta"):
            total = global_count(5)
    finally:
        dist.destroy_process_group()

    assert total == 5


def test_clip_accumulated_keeps_each_dtype():
    # The total norm of float64 [3] and bfloat16 [4] is 5; each clipped gradient keeps its dtype.
    gradients = {
        "a": torch.tensor([3.0], dtype=F64),
        "b": torch.tensor([4.0], dtype=torch.bfloat16),
    }

    clipped, norm = clip_accumulated(gradients, 1.0)

    assert norm == 5.0
    assert clipped["a"].dtype == F64
    assert clipped["b"].dtype == torch.bfloat16
    # One rounding of 4 * 0.2 to bfloat16, whose unit roundoff is 2^-8.
    assert float(clipped["b"]) == pytest.approx(0.8, rel=2.0**-8, abs=0)


def test_global_count_asks_its_group_backend(monkeypatch):
    # The device depends on the backend of the group passed in, not on the default group's.
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        group = dist.new_group([0])
        requested = []
        real_get_backend = dist.get_backend

        def get_backend(of=None):
            requested.append(of)
            return real_get_backend(of)

        monkeypatch.setattr(dist, "get_backend", get_backend)
        total = global_count(5, group)
    finally:
        dist.destroy_process_group()

    assert total == 5
    assert requested == [group]


def test_exact_clip_at_the_limit_returns_vector():
    # nsimplify turns these floats into radicals, and the norm of (1, sqrt(2 + 2 sqrt(2)))
    # is exactly 1 + sqrt(2). A gradient at the limit must come back as the same expression,
    # not multiplied by an unsimplified factor equal to 1.
    side = math.sqrt(2 + 2 * math.sqrt(2))

    strategies = clipping_strategies([[1.0, side]], 1 + math.sqrt(2))

    expected = sympy.Matrix([1, sympy.sqrt(2 + 2 * sympy.sqrt(2))])
    assert strategies["once"] == expected
    assert strategies["each"] == expected
    assert strategies["running"] == expected
