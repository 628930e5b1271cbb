"""efx.checkpointing's API: rejected input, illegal schedules, counters and its doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch
from torch import nn

from efx.checkpointing import (
    Action,
    Binomial,
    Checkpointed,
    MemoryPoor,
    Op,
    Schedule,
    ScheduleError,
    Segments,
    StoreAll,
    TorchSequential,
    balanced_lengths,
    binomial_capacity,
    count,
    optimal_advances,
    optimal_split,
    repetition_number,
    segment_schedule,
    sqrt_segment_count,
    torch_sequential_lengths,
)
from efx.errors import EfxError, InvalidArgumentError


def _linears(count_: int) -> list[nn.Module]:
    return [nn.Linear(2, 2) for _ in range(count_)]


INVALID_CALLS = [
    pytest.param(lambda: Checkpointed([]), "modules=", "at least one module", id="no modules"),
    pytest.param(
        lambda: Checkpointed(nn.Linear(2, 2)), "modules=", "nn.Sequential", id="a single module"
    ),
    pytest.param(
        lambda: Checkpointed([nn.Linear(2, 2), "relu"]),
        r"modules\[1\]=",
        "nn.Module",
        id="not a module",
    ),
    pytest.param(
        lambda: Checkpointed(_linears(2), "sqrt"),
        "strategy=",
        "checkpointing strategy",
        id="strategy name",
    ),
    pytest.param(
        lambda: Checkpointed(_linears(3), Segments(5)),
        "segments=5",
        "at most the number",
        id="too many segments",
    ),
    pytest.param(lambda: Segments(0), "count=0", "integer >= 1", id="zero segments"),
    pytest.param(lambda: Segments(2.5), "count=2.5", "integer >= 1", id="fractional segments"),
    pytest.param(lambda: Segments(True), "count=True", "integer >= 1", id="boolean segments"),
    pytest.param(lambda: Binomial(0), "slots=0", "integer >= 1", id="no slot"),
    pytest.param(
        lambda: TorchSequential(0), "segments=0", "integer >= 1", id="torch zero segments"
    ),
    pytest.param(lambda: StoreAll().schedule(0), "length=0", "integer >= 1", id="empty chain"),
    pytest.param(
        lambda: MemoryPoor().schedule(-1), "length=-1", "integer >= 1", id="negative length"
    ),
    pytest.param(
        lambda: Binomial(2).schedule(0), "length=0", "integer >= 1", id="binomial empty chain"
    ),
    pytest.param(
        lambda: balanced_lengths(3, 4), "segments=4", "at most the number", id="balanced too many"
    ),
    pytest.param(
        lambda: torch_sequential_lengths(3, 0), "segments=0", "integer >= 1", id="torch split zero"
    ),
    pytest.param(lambda: sqrt_segment_count(0), "length=0", "integer >= 1", id="sqrt of nothing"),
    pytest.param(lambda: segment_schedule((), "x"), "lengths=", "non-empty", id="no segment"),
    pytest.param(
        lambda: segment_schedule((2, 0), "x"), "lengths=", "integers >= 1", id="empty segment"
    ),
    pytest.param(
        lambda: binomial_capacity(-1, 2), "slots=-1", "integer >= 0", id="negative capacity slots"
    ),
    pytest.param(
        lambda: repetition_number(5, 0), "slots=0", "integer >= 1", id="repetitions without slots"
    ),
    pytest.param(
        lambda: repetition_number(0, 3), "length=0", "integer >= 1", id="repetitions of nothing"
    ),
    pytest.param(
        lambda: optimal_advances(0, 1), "length=0", "integer >= 1", id="program of nothing"
    ),
    pytest.param(lambda: optimal_split(1, 2), "length=1", "integer >= 2", id="split of one module"),
    pytest.param(
        lambda: Schedule(0, "x", iter), "length=0", "integer >= 1", id="schedule of nothing"
    ),
    pytest.param(
        lambda: count([Action(Op.TAPE, 0)]),
        "length=None",
        "integer >= 1",
        id="count without length",
    ),
]


@pytest.mark.parametrize(("call", "name", "rule"), INVALID_CALLS)
def test_invalid_argument_names_value_rule_and_fix(call, name, rule):
    with pytest.raises(InvalidArgumentError, match=name) as raised:
        call()

    message = str(raised.value)
    assert rule in message
    assert "Fix:" in message


ILLEGAL_SCHEDULES = [
    pytest.param([Action(Op.TAPE, 1)], "working state is a_0", id="wrong input"),
    pytest.param([Action(Op.RESTORE, 0)], "not a stored checkpoint", id="restore unknown"),
    pytest.param([Action(Op.FREE, 0)], "not a stored checkpoint", id="free unknown"),
    pytest.param([Action(Op.STORE, 1)], "only the working state", id="store another state"),
    pytest.param(
        [Action(Op.TAPE, 0), Action(Op.REVERSE, 0)], "recorded output a_n", id="reverse too early"
    ),
    pytest.param(
        [Action(Op.TAPE, 0), Action(Op.TAPE, 1), Action(Op.REVERSE, 1)],
        "must start at 1",
        id="reverse mid-run",
    ),
    pytest.param(
        [Action(Op.TAPE, 0), Action(Op.TAPE, 1)], "ends before the backward pass", id="no reverse"
    ),
    pytest.param(
        [Action(Op.STORE, 0), Action(Op.TAPE, 0), Action(Op.TAPE, 1), Action(Op.REVERSE, 0)],
        "checkpoints still stored",
        id="checkpoint left",
    ),
]


@pytest.mark.parametrize(("actions", "message"), ILLEGAL_SCHEDULES)
def test_illegal_schedule_is_rejected(actions, message):
    with pytest.raises(ScheduleError, match=message):
        count(actions, length=2)


def test_every_strategy_schedule_is_legal():
    strategies = [
        StoreAll(),
        MemoryPoor(),
        Segments(),
        Segments(3),
        Binomial(1),
        Binomial(4),
        TorchSequential(3),
    ]
    for length in range(3, 30):
        for strategy in strategies:
            counts = count(strategy.schedule(length))
            assert min(counts.forward_calls) == 1, strategy
            assert counts.forward_calls[-1] == 1, strategy


class _Pair(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x


def test_module_returning_a_tuple_is_rejected():
    model = Checkpointed([nn.Linear(2, 2), _Pair()])

    with pytest.raises(InvalidArgumentError, match=r"modules\[1\]=.*must return one tensor"):
        model(torch.ones(1, 2))


def test_input_must_be_a_tensor():
    with pytest.raises(InvalidArgumentError, match="x="):
        Checkpointed(_linears(2))([1.0, 2.0])


def test_second_backward_is_rejected():
    model = Checkpointed(_linears(3), MemoryPoor())
    output = model(torch.ones(1, 2)).sum()
    output.backward(retain_graph=True)

    with pytest.raises(EfxError, match="already ran"):
        output.backward()


def test_counts_without_gradients_are_one_call_each():
    model = Checkpointed(_linears(4), MemoryPoor())

    with torch.no_grad():
        model(torch.ones(1, 2))

    assert model.last_counts.forward_calls == (1, 1, 1, 1)
    assert model.last_counts.peak_stored == 0


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(2.0, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


@pytest.mark.parametrize(
    ("strategy", "states"),
    [(StoreAll(), 6), (MemoryPoor(), 2), (Segments(2), 4)],
    ids=["store-all", "poor", "two"],
)
def test_saved_bytes_count_inputs_once(strategy, states):
    # x * w saves x and w; w is a parameter, so each recorded module adds its input's bytes.
    model = Checkpointed([_Scale() for _ in range(6)], strategy, track_saved=True)
    x = torch.ones(5, dtype=torch.float64, requires_grad=True)

    model(x).sum().backward()

    assert model.last_counts.peak_stored == states
    assert model.last_counts.peak_saved_bytes == states * 5 * 8
    assert model.last_counts.peak_stored_bytes == states * 5 * 8


def test_counts_match_schedule_replay():
    for strategy in (MemoryPoor(), Segments(), Binomial(2)):
        model = Checkpointed([_Scale() for _ in range(9)], strategy)
        model(torch.ones(3, dtype=torch.float64, requires_grad=True)).sum().backward()
        replay = count(strategy.schedule(9))

        assert model.last_counts.forward_calls == replay.forward_calls
        assert model.last_counts.peak_stored == replay.peak_stored


@pytest.mark.parametrize(
    "module",
    [
        "efx.checkpointing",
        "efx.checkpointing.schedule",
        "efx.checkpointing.strategies",
        "efx.checkpointing.revolve",
        "efx.checkpointing.chain",
    ],
)
def test_doctests(module):
    failures, tried = doctest.testmod(importlib.import_module(module))

    assert tried > 0
    assert failures == 0
