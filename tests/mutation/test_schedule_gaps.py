"""efx.checkpointing schedules that mutation testing found unpinned: names that tables
print, the replay of a schedule by count, the binomial and sqrt(n) strategies.

See docs/mutation.md for how mutants are made and which ones are left as equivalent.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from efx.checkpointing import (
    Action,
    Binomial,
    MemoryPoor,
    Op,
    ScheduleError,
    Segments,
    StoreAll,
    TorchSequential,
    count,
    segment_schedule,
    sqrt_segment_count,
    torch_sequential_lengths,
)

F64 = torch.float64


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


# efx.checkpointing.count: the replay of a schedule on state indices.

ADVANCE, TAPE, STORE, RESTORE, FREE, REVERSE = (
    Op.ADVANCE,
    Op.TAPE,
    Op.STORE,
    Op.RESTORE,
    Op.FREE,
    Op.REVERSE,
)


def _actions(*pairs: tuple[Op, int]) -> list[Action]:
    return [Action(op, index) for op, index in pairs]


def test_count_two_level_schedule():
    # Four modules, checkpoint a_0, then a_1 in the backward pass. Held states: a_0 and the
    # tape of a_3 in the forward pass (2), then a_0, a_1 and the tape of a_2 (3). Module 0
    # advances twice and tapes once, module 1 likewise, module 2 advances once and tapes once.
    schedule = _actions(
        (STORE, 0), (ADVANCE, 0), (ADVANCE, 1), (ADVANCE, 2), (TAPE, 3), (REVERSE, 3),
        (RESTORE, 0), (ADVANCE, 0), (STORE, 1), (ADVANCE, 1), (TAPE, 2), (REVERSE, 2),
        (RESTORE, 1), (TAPE, 1), (REVERSE, 1), (FREE, 1),
        (RESTORE, 0), (TAPE, 0), (REVERSE, 0), (FREE, 0),
    )  # fmt: skip

    counts = count(schedule, 4)

    assert counts.length == 4
    assert counts.forward_calls == (3, 3, 2, 1)
    assert counts.advances == (2, 2, 1, 0)
    assert counts.repetitions == 2
    assert counts.peak_stored == 3
    assert counts.forward_phase_peak == 2


def test_count_restored_state_starts_new_run():
    # Taping module 1 from the restored a_1 starts a run of its own, so module 1 is reversed
    # before module 0's run; joining the two runs would make "reverse 1" illegal.
    schedule = _actions(
        (TAPE, 0), (STORE, 1), (RESTORE, 1), (TAPE, 1), (REVERSE, 1), (REVERSE, 0), (FREE, 1)
    )

    counts = count(schedule, 2)

    assert counts.forward_calls == (1, 1)
    assert counts.advances == (0, 0)
    assert counts.peak_stored == 2


def test_count_store_all_single_module():
    counts = count(StoreAll().schedule(1))

    assert counts.length == 1
    assert counts.forward_calls == (1,)
    assert counts.advances == (0,)
    assert counts.peak_stored == counts.forward_phase_peak == 1


@pytest.mark.parametrize(
    ("actions", "length", "message"),
    [
        (
            [(ADVANCE, 1)],
            2,
            "action 0 (advance 1) is illegal: the working state is a_0, not the input a_1",
        ),
        (
            [(ADVANCE, 0), (ADVANCE, 1)],
            1,
            "action 1 (advance 1) is illegal: the working state is a_1, not the input a_1",
        ),
        (
            [(STORE, 0), (STORE, 0)],
            1,
            "action 1 (store 0) is illegal: only the working state a_0 can be stored, once",
        ),
        ([(RESTORE, 0)], 1, "action 0 (restore 0) is illegal: a_0 is not a stored checkpoint"),
        ([(FREE, 0)], 1, "action 0 (free 0) is illegal: a_0 is not a stored checkpoint"),
        (
            [(TAPE, 0), (ADVANCE, 1), (REVERSE, 0)],
            2,
            "action 2 (reverse 0) is illegal: the first reverse needs the recorded output a_n",
        ),
        (
            [(TAPE, 0), (TAPE, 1), (REVERSE, 1)],
            2,
            "action 2 (reverse 1) is illegal: the last recorded run must start at 1 and end at "
            "a_2, whose gradient is known",
        ),
        (
            [(TAPE, 0)],
            1,
            "the schedule ends before the backward pass reaches a_0 (gradient known at a_None, "
            "0 of 1 modules reversed)",
        ),
        (
            [(STORE, 0), (TAPE, 0), (REVERSE, 0)],
            1,
            "the schedule ends with checkpoints still stored: [0]",
        ),
        (
            [("bogus", 0)],
            1,
            "action 0 (Action(op='bogus', target=0)) is illegal: its operation 'bogus' is not an Op",
        ),
    ],
)
def test_count_rejects_illegal_schedule(actions, length, message):
    with pytest.raises(ScheduleError) as raised:
        count(_actions(*actions), length)

    assert str(raised.value) == message


def _pairs(schedule) -> list[tuple[str, int]]:
    return [(action.op.value, action.target) for action in schedule]


def test_binomial_one_slot_is_memory_poor():
    # One slot holds only a_0: advance to the last module, tape and reverse it, restore a_0,
    # and repeat one module shorter (traced by hand from the cost model).
    expected = [
        ("store", 0), ("advance", 0), ("advance", 1), ("tape", 2), ("reverse", 2),
        ("restore", 0), ("advance", 0), ("tape", 1), ("reverse", 1),
        ("restore", 0), ("tape", 0), ("reverse", 0), ("free", 0),
    ]  # fmt: skip

    assert _pairs(Binomial(1).schedule(3)) == expected
    assert _pairs(MemoryPoor().schedule(3)) == expected
    assert _pairs(Binomial(1).schedule(2)) == [
        ("store", 0), ("advance", 0), ("tape", 1), ("reverse", 1),
        ("restore", 0), ("tape", 0), ("reverse", 0), ("free", 0),
    ]  # fmt: skip


@pytest.mark.parametrize("slots", [1, 2, 3, 4])
def test_binomial_has_no_redundant_actions(slots):
    # A checkpoint is restored only after the working state moved away from it. Inside the
    # chain, a state that is taped at once is not stored first (the schedule always stores
    # the chain's input a_0, even for one module).
    for length in range(1, 16):
        pairs = _pairs(Binomial(slots).schedule(length))
        for before, after in itertools.pairwise(pairs):
            assert not (before[0] == "store" and after == ("restore", before[1])), (length, pairs)
            if before[1] > 0:
                assert not (before[0] == "store" and after == ("tape", before[1])), (length, pairs)


def test_sqrt_segment_count_is_smallest_minimiser():
    # The smallest k that minimises k + ceil(n / k), by brute force over every k.
    for length in range(1, 300):
        costs = {k: k + -(-length // k) for k in range(1, length + 1)}
        best = min(costs.values())
        assert sqrt_segment_count(length) == min(k for k, c in costs.items() if c == best), length


def test_segment_schedules_compare_by_default():
    lengths = (2, 3)

    default = _pairs(segment_schedule(lengths, "segments"))
    checked = _pairs(segment_schedule(lengths, "segments", True))
    unchecked = _pairs(segment_schedule(lengths, "segments", False))

    assert default == checked
    assert default != unchecked
    assert TorchSequential(2).check is True
    assert _pairs(TorchSequential(2).schedule(5)) == _pairs(
        segment_schedule(torch_sequential_lengths(5, 2), "torch-sequential(2)", True)
    )
    assert segment_schedule(lengths, "segments").strategy == "segments"
    for check in (True, False):
        for strategy in (TorchSequential(2, check=check), Segments(2, check=check)):
            assert _pairs(strategy.schedule(5)) == _pairs(
                segment_schedule(strategy.lengths(5), strategy.name, check)
            ), strategy


def test_count_rejects_run_left_unreversed():
    # Every module is reversed once, the gradient reaches a_0 and no checkpoint is left, but
    # module 0 was recorded a second time and never reversed: its tape would stay alive.
    actions = _actions((STORE, 0), (TAPE, 0), (REVERSE, 0), (RESTORE, 0), (TAPE, 0), (FREE, 0))

    with pytest.raises(ScheduleError, match="ends before the backward pass"):
        count(actions, 1)


def test_sqrt_segment_count_large_chain():
    # The search stops after about 2 sqrt(n) candidates, so n = 10^12 takes well under a
    # second. k = 10^6 gives 2 * 10^6; k = 10^6 - 1 gives 2 * 10^6 + 1.
    assert sqrt_segment_count(10**12) == 10**6
