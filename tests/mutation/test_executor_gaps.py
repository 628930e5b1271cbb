"""efx.checkpointing.Checkpointed behaviour that mutation testing found unpinned: the
executor's own checks of a schedule, odd modules, gradients that reach no parameter,
counters and buffers.

See docs/mutation.md for how mutants are made and which ones are left as equivalent.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from efx.checkpointing import (
    Action,
    Binomial,
    Checkpointed,
    MemoryPoor,
    Op,
    RecomputeMismatchError,
    Schedule,
    ScheduleError,
    Segments,
    StoreAll,
    count,
)
from efx.checkpointing.counters import Tally, storage_key
from efx.checkpointing.replay import RngState, capture_rng, restore_rng
from efx.errors import EfxError
from efx.tolerance import gamma

F64 = torch.float64


def _matrix(rows: int = 6, cols: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=F64)


ADVANCE, TAPE, STORE = Op.ADVANCE, Op.TAPE, Op.STORE
RESTORE, FREE, REVERSE = Op.RESTORE, Op.FREE, Op.REVERSE


def _actions(*pairs: tuple[Op, int]) -> list[Action]:
    return [Action(op, index) for op, index in pairs]


# efx.checkpointing.Checkpointed: the executor's own checks of a schedule, and odd modules.


class _Scripted:
    """A strategy that returns fixed actions, legal or not."""

    name = "scripted"

    def __init__(self, *pairs: tuple[Op, int]) -> None:
        self.actions = _actions(*pairs)

    def schedule(self, length: int) -> Schedule:
        return Schedule(length, self.name, lambda: iter(self.actions))


def _two_linear() -> nn.Sequential:
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)).to(F64)


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ([(TAPE, 0), (TAPE, 1)], "must record the chain's output before its first reverse"),
        ([(TAPE, 0), (REVERSE, 0)], "must record the chain's output before its first reverse"),
        ([(STORE, 1)], "store 1: the working state is a_0"),
        ([(STORE, 0), (STORE, 0)], "store 0: the working state is a_0"),
        ([(RESTORE, 1)], "restore 1: a_1 is not a stored checkpoint"),
        ([(FREE, 0)], "free 0: a_0 is not a stored checkpoint"),
        ([(TAPE, 1)], "module 1 needs a_1 but the working state is a_0"),
        (
            [(TAPE, 0), (TAPE, 1), (REVERSE, 1)],
            "reverse 1: the last recorded run does not start at module 1",
        ),
        (
            [(STORE, 0), (TAPE, 0), (TAPE, 1), (REVERSE, 0)],
            "the schedule of scripted ends before reversing the chain",
        ),
        # Module 0 is never reversed, so no gradient reaches the input.
        (
            [(ADVANCE, 0), (TAPE, 1), (REVERSE, 1)],
            "the schedule of scripted ends before reversing the chain",
        ),
        # Module 0 is reversed twice; the second time its output's gradient is not known.
        (
            [
                *[(STORE, 0), (ADVANCE, 0), (TAPE, 1), (REVERSE, 1)],
                *[(RESTORE, 0), (TAPE, 0), (REVERSE, 0)],
                *[(RESTORE, 0), (TAPE, 0), (REVERSE, 0), (FREE, 0)],
            ],
            "reverse 0: the last recorded run ends at a_1, but the gradient is known at a_0",
        ),
        ([("bogus", 0)], "'bogus' is not an Op"),
    ],
)
def test_checkpointed_rejects_illegal_schedule(actions, message):
    chain = _two_linear()
    x = torch.randn(4, 3, dtype=F64)

    with pytest.raises(ScheduleError, match=message):
        Checkpointed(chain, _Scripted(*actions))(x).sum().backward()


def test_checkpointed_restored_state_starts_new_recording():
    # The legal schedule of test_count_restored_state_starts_new_run (test_schedule_gaps.py),
    # run on tensors.
    chain = _two_linear()
    twin = _two_linear()
    x = torch.randn(4, 3, dtype=F64)
    scripted = _Scripted(
        (TAPE, 0), (STORE, 1), (RESTORE, 1), (TAPE, 1), (REVERSE, 1), (REVERSE, 0), (FREE, 1)
    )

    chain(x).sum().backward()
    Checkpointed(twin, scripted)(x).sum().backward()

    for expected, actual in zip(chain.parameters(), twin.parameters(), strict=True):
        assert torch.equal(expected.grad, actual.grad)


@pytest.mark.parametrize("strategy", [MemoryPoor(), Segments(2), Binomial(2)])
def test_checkpointed_identity_modules(strategy):
    # nn.Identity returns its input: a recorded run whose output has no graph of its own.
    torch.manual_seed(8)
    plain = nn.Sequential(nn.Identity(), nn.Linear(3, 3), nn.Identity(), nn.Tanh()).to(F64)
    twin = copy.deepcopy(plain)
    x_plain = torch.randn(4, 3, dtype=F64, requires_grad=True)
    x = x_plain.detach().clone().requires_grad_(True)

    plain(x_plain).pow(2).sum().backward()
    Checkpointed(twin, strategy)(x).pow(2).sum().backward()

    for expected, parameter in zip(plain.parameters(), twin.parameters(), strict=True):
        assert torch.equal(expected.grad, parameter.grad)
    assert torch.equal(x_plain.grad, x.grad)


def test_checkpointed_backward_runs_once():
    chain = _two_linear()
    out = Checkpointed(chain, MemoryPoor())(torch.randn(4, 3, dtype=F64)).sum()
    out.backward(retain_graph=True)

    with pytest.raises(EfxError, match="already ran"):
        out.backward()


# More of efx.checkpointing.Checkpointed: counters, defaults and the no-grad path.


def test_checkpointed_defaults_and_counts():
    chain = _two_linear()
    model = Checkpointed(chain, Segments(2))
    x = torch.randn(4, 3, dtype=F64)

    assert model.last_counts is None
    assert model.track_saved is False
    model(x).sum().backward()

    counts = model.last_counts
    assert counts.strategy == "segments(2)"
    assert counts.peak_saved_bytes is None
    assert counts.cuda_max_allocated is None  # on CPU


def test_checkpointed_without_gradients_runs_each_module_once():
    chain = _two_linear()
    x = torch.randn(4, 3, dtype=F64)
    model = Checkpointed(chain, MemoryPoor())

    with torch.no_grad():
        output = model(x)

    assert torch.equal(output, chain(x))
    assert model.last_counts.strategy == "memory-poor"
    assert model.last_counts.forward_calls == (1, 1)
    assert model.last_counts.peak_stored == 0
    assert model.last_counts.peak_stored_bytes == 0


def test_trainable_parameters_skip_frozen_and_repeats():
    torch.manual_seed(9)
    shared = nn.Linear(3, 3).to(F64)
    frozen = nn.Linear(3, 3).to(F64).requires_grad_(False)
    model = Checkpointed([shared, frozen, shared])

    parameters = model.trainable_parameters()

    assert [id(p) for p in parameters] == [id(shared.weight), id(shared.bias)]


def test_checkpointed_shared_and_unused_parameters():
    # A parameter used by modules in different recorded runs gets both contributions; a
    # parameter that a module does not use gets no gradient, and the others still do.
    class WithUnused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unused = nn.Parameter(torch.ones(2, dtype=F64))
            self.linear = nn.Linear(3, 3).to(F64)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.linear(x))

    torch.manual_seed(10)
    shared = nn.Linear(3, 3).to(F64)
    plain = nn.Sequential(shared, nn.Tanh(), WithUnused(), shared)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).pow(2).sum().backward()

    for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
        assert (expected.grad is None) == (actual.grad is None)
        if expected.grad is not None:
            # The shared weight's two contributions are added in another order: rounding.
            tolerance = gamma(8, F64) * float(expected.grad.abs().max())
            assert torch.allclose(expected.grad, actual.grad, rtol=0, atol=tolerance)


def test_checkpointed_input_grad_without_parameters():
    x_plain = torch.randn(4, 3, dtype=F64, requires_grad=True)
    x = x_plain.detach().clone().requires_grad_(True)

    torch.tanh(torch.tanh(x_plain)).sum().backward()
    Checkpointed([nn.Tanh(), nn.Tanh()], MemoryPoor())(x).sum().backward()

    assert torch.equal(x_plain.grad, x.grad)


def test_checkpointed_module_ignoring_its_input():
    # The recorded run of module 1 does not depend on a_1, so no gradient reaches module 0.
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.value = nn.Parameter(torch.ones(1, 3, dtype=F64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.value.expand(x.shape[0], 3) * 1.0

    torch.manual_seed(11)
    plain = nn.Sequential(nn.Linear(3, 3), Constant(), nn.Linear(3, 2)).to(F64)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).pow(2).sum().backward()

    for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
        want = torch.zeros_like(actual) if expected.grad is None else expected.grad
        got = torch.zeros_like(actual) if actual.grad is None else actual.grad
        assert torch.equal(want, got)


def test_checkpointed_unreached_parameters_have_no_gradient():
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.value = nn.Parameter(torch.ones(1, 3, dtype=F64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.value.expand(x.shape[0], 3) * 1.0

    plain = nn.Sequential(nn.Linear(3, 3), Constant(), nn.Linear(3, 2)).to(F64)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).pow(2).sum().backward()

    assert [p.grad is None for p in twin.parameters()] == [
        p.grad is None for p in plain.parameters()
    ]


class _RunningShift(nn.Module):
    """Subtracts a buffer that every training forward call moves towards the batch mean."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 3).to(F64)
        self.register_buffer("shift", torch.zeros(3, dtype=F64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x) - self.shift
        with torch.no_grad():
            self.shift.mul_(0.5).add_(0.5 * x.mean(dim=0))
        return out


@pytest.mark.parametrize("strategy", [MemoryPoor(), Segments(2)])
def test_checkpointed_replays_buffer_that_output_uses(strategy):
    # BatchNorm's output in training does not read its running buffers, so it cannot show
    # a recomputation that saw the updated buffer. This module's output does.
    torch.manual_seed(12)
    plain = nn.Sequential(_RunningShift(), nn.Tanh(), _RunningShift(), nn.Tanh())
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, strategy)(x).pow(2).sum().backward()

    for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
        assert torch.equal(expected.grad, actual.grad)
    for expected, actual in zip(plain.buffers(), twin.buffers(), strict=True):
        assert torch.equal(expected, actual)


def test_checkpointed_without_rng_replay_advances_generator():
    # preserve_rng=False: recomputed dropout draws from the caller's generator and leaves it
    # advanced; with replay the generator ends where the forward pass left it.
    torch.manual_seed(13)
    chain = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 8), nn.Dropout(0.5))
    chain = chain.to(F64)
    x = torch.randn(8, 3, dtype=F64)

    for preserve, advanced in ((False, True), (True, False)):
        model = Checkpointed(copy.deepcopy(chain), MemoryPoor(), preserve_rng=preserve)
        output = model(x)
        after_forward = torch.get_rng_state()
        # MemoryPoor compares nothing, so new masks do not raise here.
        output.sum().backward()
        assert (not torch.equal(torch.get_rng_state(), after_forward)) is advanced


def test_peak_bytes_are_peak_states_times_state_size():
    # Every state of a chain of equal widths has one size, so the byte peak is the
    # state peak times that size.
    torch.manual_seed(14)
    chain = nn.Sequential(*[nn.Linear(4, 4) for _ in range(6)]).to(F64)
    x = torch.randn(2, 4, dtype=F64)
    state = 2 * 4 * 8

    for strategy in (StoreAll(), MemoryPoor(), Segments(3), Binomial(2)):
        model = Checkpointed(copy.deepcopy(chain), strategy)
        model(x).sum().backward()
        counts = model.last_counts
        assert counts.peak_stored_bytes == counts.peak_stored * state, strategy
        assert counts.peak_stored == count(strategy.schedule(6)).peak_stored, strategy


def test_tally_total_after_remove():
    tally = Tally()
    tally.add("a", 10)
    tally.add("b", 20)
    tally.add("b", 20)  # a second reference to b adds nothing

    tally.remove("b")
    assert tally.total == 30
    tally.remove("b")
    assert tally.total == 10
    tally.add("c", 15)

    assert tally.total == 25
    assert tally.peak == 30
    assert tally.peak_items == 2


def test_checkpointed_empty_batch_holds_no_bytes():
    model = Checkpointed(_two_linear(), MemoryPoor(), track_saved=True)
    x = torch.zeros(0, 3, dtype=F64, requires_grad=True)

    model(x).sum().backward()

    assert model.last_counts.peak_stored_bytes == 0
    assert model.last_counts.peak_saved_bytes == 0


class _ToLong(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.round().long()


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((3,), 2.0, dtype=F64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(F64) * self.weight


def test_checkpointed_integer_state_stops_gradient():
    # An integer state has no gradient, so the Linear before it gets none, as under autograd.
    torch.manual_seed(12)
    plain = nn.Sequential(nn.Linear(3, 3), _ToLong(), _Scale()).to(F64)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).sum().backward()

    for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
        assert (expected.grad is None) == (actual.grad is None)
        if expected.grad is not None:
            assert torch.equal(expected.grad, actual.grad)


class _Drifting(nn.Module):
    """Returns a different output on each call, from state that is not a buffer."""

    def __init__(self, change: str) -> None:
        super().__init__()
        self.change = change
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 1:
            return x * 1.0
        if self.change == "value":
            return x + 0.25
        if self.change == "shape":
            return x[:, :2]
        return x.float()


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ("value", "largest absolute difference 0.25"),
        ("shape", "shape (4, 2) torch.float64 instead of (4, 3) torch.float64"),
        ("dtype", "shape (4, 3) torch.float32 instead of (4, 3) torch.float64"),
    ],
)
def test_recompute_mismatch_message_details(change, detail):
    # Segments(2) stores a_1 in the forward pass and compares it with its recomputation.
    model = Checkpointed([_Drifting(change), nn.Tanh()], Segments(2))
    x = torch.randn(4, 3, dtype=F64, requires_grad=True)

    with pytest.raises(RecomputeMismatchError) as caught:
        model(x).sum().backward()

    assert detail in str(caught.value)


def test_trainable_parameters_empty_range():
    model = Checkpointed(_two_linear(), MemoryPoor())

    assert model.trainable_parameters(2, 2) == []
    assert model.trainable_parameters(0, 0) == []


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class _Borrowing(nn.Module):
    """Uses the weight of another module, held as a plain attribute, not registered."""

    def __init__(self, lender: nn.Linear) -> None:
        super().__init__()
        self.lender = [lender]  # a list hides the module from nn.Module's registration

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ self.lender[0].weight.T)


@pytest.mark.parametrize("strategy", [MemoryPoor(), Segments(2), StoreAll()])
def test_checkpointed_gradients_match_autograd(strategy):
    # Three chains whose gradient paths are unusual: a state with no graph (zeros), an
    # in-place first module on an input without gradient, and a module using a later
    # module's weight. Each must give the plain chain's gradients, None where it gives None.
    torch.manual_seed(13)
    lender = nn.Linear(3, 3).to(F64)
    chains = [
        nn.Sequential(nn.Linear(3, 3), _Zero(), nn.Linear(3, 2)).to(F64),
        nn.Sequential(nn.ReLU(inplace=True), nn.Linear(3, 2)).to(F64),
        nn.Sequential(_Borrowing(lender), lender, nn.Tanh()),
    ]
    for plain in chains:
        twin = copy.deepcopy(plain)
        x = torch.randn(4, 3, dtype=F64)

        plain(x.clone()).pow(2).sum().backward()
        Checkpointed(twin, strategy)(x.clone()).pow(2).sum().backward()

        for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
            assert (expected.grad is None) == (actual.grad is None), plain
            if expected.grad is not None:
                # A parameter used by two runs gets its two terms in another order.
                tolerance = gamma(8, F64) * float(expected.grad.abs().max())
                assert torch.allclose(expected.grad, actual.grad, rtol=0, atol=tolerance), plain


def test_storage_key_tells_devices_apart():
    # An empty CPU storage and a meta storage both have data pointer 0.
    cpu = torch.empty(0)
    meta = torch.empty(0, device="meta")

    assert cpu.untyped_storage().data_ptr() == meta.untyped_storage().data_ptr()
    assert storage_key(cpu) != storage_key(meta)


def test_capture_rng_reads_device_generator(monkeypatch):
    # A CPU-only build cannot run the CUDA branch, so torch.cuda's getter is replaced by one
    # that records its argument; torch.device("cuda", 1) is only a description.
    marker = torch.arange(4, dtype=torch.uint8)
    asked = []

    def get_rng_state(device):
        asked.append(device)
        return marker

    monkeypatch.setattr(torch.cuda, "get_rng_state", get_rng_state)
    device = torch.device("cuda", 1)

    state = capture_rng(device)

    assert asked == [device]
    assert state.cuda is marker
    assert state.device == device
    assert torch.equal(state.cpu, torch.get_rng_state())
    assert capture_rng(torch.device("cpu")).device == torch.device("cpu")
    assert capture_rng(torch.device("cpu")).cuda is None


def test_restore_rng_sets_device_generator(monkeypatch):
    received = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda *args: received.append(args))
    cuda_state = torch.arange(4, dtype=torch.uint8)
    device = torch.device("cuda", 1)

    restore_rng(RngState(cpu=torch.get_rng_state(), cuda=cuda_state, device=device))

    assert len(received) == 1
    assert received[0][0] is cuda_state
    assert received[0][1] == device
