"""Unit tests of efx.measure: exact peaks of known allocations, saved-tensor counts, rejected input."""

from __future__ import annotations

import gc

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.errors import InvalidArgumentError
from efx.measure import MeasurementError, peak_memory, saved_for_backward

BLOCK = 512
"""Every test allocation is a multiple of 512 bytes, the CUDA caching allocator's rounding
unit, so the expected byte counts are exact on cuda as well as on cpu."""

FLOATS_PER_BLOCK = BLOCK // 4


@st.composite
def allocation_scripts(draw: st.DrawFn) -> list[tuple[str, int]]:
    """Draw a sequence of ('alloc', blocks) and ('free', position among live tensors) steps."""
    steps: list[tuple[str, int]] = []
    live = 0
    for _ in range(draw(st.integers(1, 12), label="steps")):
        if live and draw(st.booleans(), label="free next"):
            steps.append(("free", draw(st.integers(0, live - 1), label="which")))
            live -= 1
        else:
            steps.append(("alloc", draw(st.integers(1, 16), label="blocks")))
            live += 1
    return steps


def expected_levels(script: list[tuple[str, int]]) -> tuple[int, int]:
    """Return the peak and final bytes of a script, by bookkeeping alone (no torch)."""
    live: list[int] = []
    peak = 0
    for action, value in script:
        if action == "alloc":
            live.append(value * BLOCK)
        else:
            live.pop(value)
        peak = max(peak, sum(live))
    return peak, sum(live)


def run_script(script: list[tuple[str, int]], device: torch.device) -> list[torch.Tensor]:
    live: list[torch.Tensor] = []
    for action, value in script:
        if action == "alloc":
            live.append(torch.empty(value * FLOATS_PER_BLOCK, dtype=torch.float32, device=device))
        else:
            live.pop(value)
    return live


# The device fixture is one fixed device per parametrization, with nothing to reset between
# examples, so Hypothesis's function-scoped-fixture check does not apply.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=allocation_scripts())
def test_peak_of_known_allocations_is_exact(script, device):
    note(f"script={script}")
    peak, end = expected_levels(script)

    kept, measured = peak_memory(lambda: run_script(script, device), device)

    assert measured.peak_bytes == peak
    assert measured.end_bytes == end
    assert len(kept) == sum(1 for action, _ in script if action == "alloc") - sum(
        1 for action, _ in script if action == "free"
    )


def test_peak_counts_the_temporary_freed_before_return(device):
    def make_and_drop():
        temporary = torch.empty(4 * FLOATS_PER_BLOCK, device=device)
        del temporary
        return torch.empty(FLOATS_PER_BLOCK, device=device)

    _, measured = peak_memory(make_and_drop, device)

    assert measured.peak_bytes == 4 * BLOCK
    assert measured.end_bytes == BLOCK


def test_freeing_older_tensor_depends_on_device(device):
    holder = [torch.empty(2 * FLOATS_PER_BLOCK, device=device)]

    def free_older_then_allocate():
        holder.clear()
        return torch.empty(FLOATS_PER_BLOCK, device=device)

    _, measured = peak_memory(free_older_then_allocate, device)

    # cpu skips frees of storages allocated before the call; cuda's counter drops below the start.
    if device.type == "cpu":
        assert (measured.peak_bytes, measured.end_bytes) == (BLOCK, BLOCK)
    else:
        assert (measured.peak_bytes, measured.end_bytes) == (0, -BLOCK)


def test_cpu_skips_earlier_measured_free():
    kept, _ = peak_memory(lambda: [torch.empty(FLOATS_PER_BLOCK)], "cpu")

    _, measured = peak_memory(kept.clear, "cpu")

    assert (measured.peak_bytes, measured.end_bytes) == (0, 0)


def test_peak_is_repeatable(device):
    layer = torch.nn.Linear(32, 32).to(device)
    x = torch.randn(16, 32, device=device)
    layer(x)  # warm-up: the first product on cuda allocates a cuBLAS workspace that stays

    _, first = peak_memory(lambda: layer(x), device)
    _, second = peak_memory(lambda: layer(x), device)

    assert first == second
    assert first.end_bytes >= 16 * 32 * 4


def test_device_name_is_reported(device):
    _, measured = peak_memory(lambda: None, device)

    assert measured.device.startswith(device.type)
    assert measured.peak_bytes == 0


def test_exception_in_fn_leaves_profiler_stopped():
    def fail():
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        peak_memory(fail, "cpu")
    _, measured = peak_memory(lambda: torch.empty(FLOATS_PER_BLOCK), "cpu")

    assert measured.peak_bytes == BLOCK


def test_running_profiler_is_rejected():
    with (
        torch.autograd.profiler.profile(),
        pytest.raises(MeasurementError, match="already running"),
    ):
        peak_memory(lambda: None, "cpu")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fn": 3, "device": "cpu"}, r"fn=3 is invalid: it must be callable"),
        (
            {"fn": lambda: None, "device": "gpu7"},
            r"device='gpu7' is invalid: it must name a torch device",
        ),
        (
            {"fn": lambda: None, "device": "meta"},
            r"device='meta' is invalid: it must be a cpu or cuda device",
        ),
        ({"fn": lambda: None, "device": 3.5}, r"device=3.5 is invalid"),
    ],
    ids=["fn-not-callable", "unknown-device", "meta-device", "device-not-a-name"],
)
def test_peak_memory_rejects_bad_input(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        peak_memory(**kwargs)


def test_peak_memory_rejects_missing_cuda():
    if torch.cuda.is_available():
        index = torch.cuda.device_count()
        with pytest.raises(InvalidArgumentError, match=f"must have an index below {index}"):
            peak_memory(lambda: None, f"cuda:{index}")
    else:
        with pytest.raises(InvalidArgumentError, match=r"torch.cuda.is_available\(\) is False"):
            peak_memory(lambda: None, "cuda")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fn": None}, r"fn=None is invalid: it must be callable"),
        (
            {"fn": lambda: None, "exclude": [torch.ones(1), "weight"]},
            r"exclude\[1\]='weight' is invalid",
        ),
    ],
    ids=["fn-not-callable", "exclude-not-tensor"],
)
def test_saved_for_backward_rejects_bad_input(kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match):
        saved_for_backward(**kwargs)


def test_saved_output_is_recorded():
    x = torch.randn(64, dtype=torch.float64, requires_grad=True)

    _, saved = saved_for_backward(lambda: x.exp())

    assert saved.count == 1
    assert saved.tensors[0].shape == (64,)
    assert saved.bytes == 64 * 8


def test_tensor_saved_twice_counts_once():
    x = torch.randn(64, dtype=torch.float64, requires_grad=True)

    _, saved = saved_for_backward(lambda: x * x)

    assert saved.count == 2
    assert saved.storages == 1
    assert saved.bytes == 64 * 8


def test_views_of_one_storage_count_once():
    x = torch.randn(8, 8, dtype=torch.float64, requires_grad=True)
    y = torch.randn(8, 8, dtype=torch.float64)

    _, saved = saved_for_backward(lambda: x * y[:4].repeat(2, 1) + x * y.t())

    # y[:4] feeds repeat, which saves nothing; the product saves the repeated copy (new storage)
    # and y.t() (a view of y). The two saved storages are the copy and y itself.
    assert saved.count == 2
    assert saved.storages == 2
    assert saved.bytes == 2 * 64 * 8


def test_freed_graph_address_counts_as_new_storage():
    # 4096 float64 (32 KiB): glibc's malloc often returns a freed block of this size to the
    # next request. Eight rounds make a reused address near certain; the test skips without one.
    w = torch.randn(4096, dtype=torch.float64, requires_grad=True)
    addresses = []

    def graphs_in_turn():
        for _ in range(8):
            factor = torch.randn(4096, dtype=torch.float64)
            addresses.append(factor.data_ptr())
            total = (w * factor).sum()
            del total, factor  # frees the graph and the saved factor before the next round

    _, saved = saved_for_backward(graphs_in_turn)
    if len(set(addresses)) == len(addresses):
        pytest.skip("the allocator reused no freed address, so there is no reuse to tell apart")

    assert saved.count == 8
    assert saved.storages == 8


def test_nothing_saved_without_grad():
    x = torch.randn(64, requires_grad=True)

    with torch.no_grad():
        _, under_no_grad = saved_for_backward(lambda: x.exp())
    with torch.inference_mode():
        _, under_inference = saved_for_backward(lambda: x.exp())

    assert under_no_grad.count == 0
    assert under_inference.count == 0


def test_excluded_parameters_are_split_off():
    layer = torch.nn.Linear(16, 8, dtype=torch.float64)
    x = torch.randn(4, 16, dtype=torch.float64, requires_grad=True)

    _, saved = saved_for_backward(lambda: torch.tanh(layer(x)), exclude=layer.parameters())

    # linear saves x (for the weight's gradient) and, since x requires grad, the weight (for
    # x's gradient); tanh saves its output.
    assert saved.excluded_bytes == 16 * 8 * 8
    assert saved.bytes == (4 * 16 + 4 * 8) * 8


def test_hooks_leave_gradients_unchanged():
    layer = torch.nn.Linear(16, 8, dtype=torch.float64)
    x = torch.randn(4, 16, dtype=torch.float64)
    torch.tanh(layer(x)).square().sum().backward()
    plain = layer.weight.grad.clone()
    layer.weight.grad = None

    out, saved = saved_for_backward(lambda: torch.tanh(layer(x)).square().sum())
    out.backward()

    assert saved.count > 0
    assert torch.equal(layer.weight.grad, plain)


def test_hooks_keep_no_graph_alive():
    layer = torch.nn.Linear(64, 64)
    x = torch.randn(32, 64)

    def build_and_drop_graph():
        out, saved = saved_for_backward(lambda: torch.tanh(layer(torch.tanh(layer(x)))))
        del out
        gc.collect()
        return saved

    saved, measured = peak_memory(build_and_drop_graph, "cpu")

    assert saved.bytes > 0
    assert measured.end_bytes == 0
