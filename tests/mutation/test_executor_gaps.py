"""efx.checkpointing.Checkpointed behaviour that mutation testing found unpinned: the
executor's own checks of a schedule, identity modules, buffer and random-number replay, and
the message of a recomputation mismatch. Gradients and counters have their own files.

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
)
from efx.errors import EfxError

F64 = torch.float64


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
