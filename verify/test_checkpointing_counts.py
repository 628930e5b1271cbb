"""The counts of each strategy, counted on a real forward and backward pass, equal the proved formulas.

Hooks on the modules count the forward calls, independently of the implementation's own
counters. The stored states come from the implementation's ``last_counts``. The formulas are
the sympy expressions of ``efx.proofs.ckpt_complexity`` evaluated at ``n``. Measured bytes
come from the torch profiler (``efx.measure.peak_memory``). Counting chains of 1024 modules
takes minutes, so those checks carry the ``slow`` marker.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from efx.checkpointing import binomial_advances, repetition_number
from efx.measure import peak_memory
from efx.proofs import ckpt_complexity as formulas

LENGTHS = st.integers(1, 40)
"""Chain lengths of the ci checks: counting is exact, so small chains already show every formula."""

# The device fixture has one value per test item and nothing to reset between examples.
CONSTANT_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


class Scale(nn.Module):
    """``a -> w a`` with a scalar weight: autograd saves only the input (and the scalar)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def _run(impl, strategy, length: int, device: torch.device, width: int = 2):
    modules = [Scale().to(device) for _ in range(length)]
    calls = [0] * length
    for index, module in enumerate(modules):
        module.register_forward_pre_hook(
            lambda *_args, index=index: calls.__setitem__(index, calls[index] + 1)
        )
    model = impl.Checkpointed(modules, strategy)
    model(torch.ones(width, device=device)).sum().backward()
    return calls, model.last_counts


def _at(expression: sympy.Expr, **values: int) -> int:
    return int(expression.subs({getattr(formulas, name): value for name, value in values.items()}))


@pytest.mark.claim("ckpt.store-all-counts")
@CONSTANT_FIXTURES
@given(length=LENGTHS)
def test_store_all_counts(device, impl, length):
    calls, counts = _run(impl, impl.StoreAll(), length, device)

    assert calls == [1] * length
    assert counts.peak_stored == length


@pytest.mark.claim("ckpt.memory-poor-compute")
@CONSTANT_FIXTURES
@given(length=LENGTHS)
def test_memory_poor_calls(device, impl, length):
    calls, _ = _run(impl, impl.MemoryPoor(), length, device)

    expected = [_at(formulas.MEMORY_POOR_CALLS, n=length, i=i) for i in range(1, length + 1)]
    assert calls == expected
    assert sum(calls) == _at(formulas.MEMORY_POOR_TOTAL, n=length)


@pytest.mark.claim("ckpt.memory-poor-memory")
@CONSTANT_FIXTURES
@given(length=LENGTHS)
def test_memory_poor_stores_two(device, impl, length):
    _, counts = _run(impl, impl.MemoryPoor(), length, device)

    assert counts.peak_stored == min(length, 2)


@pytest.mark.claim("ckpt.sqrt-memory")
@CONSTANT_FIXTURES
@given(length=LENGTHS, data=st.data())
def test_segment_peak(device, impl, length, data):
    segments = data.draw(st.integers(1, length), label="segments")
    _, counts = _run(impl, impl.Segments(segments), length, device)
    _, best = _run(impl, impl.Segments(), length, device)

    assert counts.peak_stored == _at(formulas.SEGMENTS_PEAK, n=length, k=segments)
    assert best.peak_stored == _at(formulas.SQRT_PEAK, n=length)
    assert best.peak_stored <= counts.peak_stored


@pytest.mark.claim("ckpt.sqrt-compute")
@CONSTANT_FIXTURES
@given(length=LENGTHS, data=st.data())
def test_segment_calls(device, impl, length, data):
    segments = data.draw(st.integers(1, length), label="segments")
    calls, _ = _run(impl, impl.Segments(segments), length, device)
    last = -(-length // segments)

    assert sum(calls) == _at(formulas.SEGMENTS_TOTAL, n=length, k=segments)
    assert calls == [2] * (length - last) + [1] * last


@pytest.mark.claim("ckpt.sqrt-compute")
@CONSTANT_FIXTURES
@given(length=LENGTHS, share=st.fractions(min_value=0, max_value=1, max_denominator=7))
def test_time_ratio_from_counts(device, impl, length, share):
    # Weighting the counted calls by a forward share f reproduces 1 + f (1 - L/n) exactly.
    calls, _ = _run(impl, impl.Segments(), length, device)
    last = calls.count(1)
    ratio = (sum(calls) * share + length * (1 - share)) / length

    assert ratio == 1 + share * (1 - Fraction(last, length))


@pytest.mark.claim("ckpt.binomial")
@CONSTANT_FIXTURES
@given(length=LENGTHS, slots=st.integers(1, 8))
def test_binomial_calls(device, impl, length, slots):
    calls, counts = _run(impl, impl.Binomial(slots), length, device)
    recorded_once = [c - 1 for c in calls]

    assert sum(calls) == binomial_advances(length, slots) + length
    assert max(recorded_once) == repetition_number(length, slots)
    assert counts.peak_stored <= slots + 1
    assert math.comb(slots + max(recorded_once), slots) >= length


def _measured(impl, strategy, length: int, width: int) -> tuple[int, int]:
    modules = [Scale().double() for _ in range(length)]
    model = impl.Checkpointed(modules, strategy)
    x = torch.ones(width, dtype=torch.float64, requires_grad=True)

    def step() -> None:
        model(x).sum().backward()

    _, peak = peak_memory(step, torch.device("cpu"))
    return peak.peak_bytes, model.last_counts.peak_stored


MEASURE_WIDTH = 2**15
"""Elements of each state (256 KiB in float64), large against the generator states (5 KiB) and scalar gradients."""


@pytest.mark.claim("ckpt.measured-memory")
@pytest.mark.parametrize("strategy", ["store-all", "memory-poor", "sqrt", "binomial"])
def test_measured_peak_follows_count(impl, strategy):
    make = {
        "store-all": impl.StoreAll,
        "memory-poor": impl.MemoryPoor,
        "sqrt": impl.Segments,
        "binomial": lambda: impl.Binomial(3),
    }[strategy]
    state = MEASURE_WIDTH * 8
    offsets = []
    for length in (4, 16, 64):
        peak, stored = _measured(impl, make(), length, MEASURE_WIDTH)
        offsets.append(peak / state - stored)

    assert all(1 <= offset <= 3 for offset in offsets), offsets


@pytest.mark.slow
@pytest.mark.claim("ckpt.measured-memory")
def test_measured_slopes_up_to_1024(impl):
    lengths = (64, 256, 1024)
    width = 2**12
    slopes = {}
    for name, make in {
        "store-all": impl.StoreAll,
        "memory-poor": impl.MemoryPoor,
        "sqrt": impl.Segments,
    }.items():
        peaks = [_measured(impl, make(), length, width)[0] for length in lengths]
        slopes[name] = math.log(peaks[-1] / peaks[0]) / math.log(lengths[-1] / lengths[0])

    assert abs(slopes["store-all"] - 1) < 0.1, slopes
    assert abs(slopes["memory-poor"]) < 0.1, slopes
    assert abs(slopes["sqrt"] - 0.5) < 0.1, slopes


@pytest.mark.slow
@pytest.mark.claim(
    "ckpt.memory-poor-compute", "ckpt.sqrt-memory", "ckpt.sqrt-compute", "ckpt.binomial"
)
def test_counts_at_1024(impl):
    length = 1024
    calls, counts = _run(impl, impl.MemoryPoor(), length, torch.device("cpu"), width=1)
    assert sum(calls) == _at(formulas.MEMORY_POOR_TOTAL, n=length)
    assert counts.peak_stored == 2

    calls, counts = _run(impl, impl.Segments(), length, torch.device("cpu"), width=1)
    assert counts.peak_stored == _at(formulas.SQRT_PEAK, n=length)
    assert set(calls) == {1, 2}

    calls, counts = _run(impl, impl.Binomial(10), length, torch.device("cpu"), width=1)
    assert max(calls) - 1 == repetition_number(length, 10) == 5
    assert sum(calls) == binomial_advances(length, 10) + length
