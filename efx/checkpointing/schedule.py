"""Checkpointing schedules as data, and their exact costs counted without running a model.

A chain of ``n`` modules maps states ``a_0 -> a_1 -> ... -> a_n``: module ``i`` (0-based in
code) computes ``a_{i+1}`` from ``a_i``. The backward pass visits the modules in reverse and
needs, for module ``i``, its input ``a_i`` and a graph recorded by running module ``i`` with
gradients enabled. A schedule is the sequence of actions that produces those graphs:

- ``ADVANCE i``: run module ``i`` without recording, working state ``a_i -> a_{i+1}``;
- ``TAPE i``: run module ``i`` recording its graph (the tape keeps its input ``a_i``);
  consecutive tapes form one *run* that a single backward call reverses;
- ``STORE i`` / ``RESTORE i`` / ``FREE i``: keep the working state ``a_i`` as a checkpoint,
  make checkpoint ``a_i`` the working state, drop it;
- ``REVERSE i``: backpropagate through the last recorded run, which starts at module ``i``.

The cost model, used everywhere in efx.checkpointing, is this. Every forward call of a module
costs one unit, whether it advances or tapes, and every state has unit size. Memory is the
number of distinct states held for the backward pass: checkpoints and the inputs kept by live
tapes. The chain's input ``a_0`` counts when it is held. Not counted: the working state, the chain's
output ``a_n``, gradients, parameters and optimizer state, and buffers a module saves beyond
its input (the torch executor measures those bytes separately).

:func:`count` replays a schedule on integers: it checks that every action is legal and returns
the forward calls per module and the peak number of stored states. The torch executor
(:mod:`efx.checkpointing.chain`) runs the same actions on tensors.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, assert_never

from efx.errors import EfxError, invalid_argument


class Op(enum.Enum):
    """The kind of one schedule action."""

    ADVANCE = "advance"
    TAPE = "tape"
    STORE = "store"
    RESTORE = "restore"
    FREE = "free"
    REVERSE = "reverse"


class Action(NamedTuple):
    """One schedule action: an operation and the index of the module or state it acts on."""

    op: Op
    target: int


class ScheduleError(EfxError, ValueError):
    """A schedule breaks the rules of the action model (an illegal or missing action)."""


class Schedule:
    """The actions that compute a chain's output and reverse it, generated on demand.

    A schedule of a long chain has many actions (memory-poor on 1024 modules has about half a
    million), so it stores the function that generates them, not the list.

    Attributes:
        length: the number of modules ``n``.
        strategy: a short name of the strategy that produced it.
    """

    def __init__(
        self, length: int, strategy: str, generate: Callable[[], Iterator[Action]]
    ) -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise invalid_argument(
                "length",
                length,
                "must be an integer >= 1 (the number of modules)",
                "pass a chain with modules",
            )
        self.length = length
        self.strategy = strategy
        self._generate = generate

    def __iter__(self) -> Iterator[Action]:
        return self._generate()

    def __repr__(self) -> str:
        return f"Schedule(length={self.length}, strategy={self.strategy!r})"


@dataclass(frozen=True)
class ScheduleCounts:
    """The exact costs of a schedule under the cost model of this module.

    Attributes:
        length: the number of modules ``n``.
        forward_calls: forward calls of each module (advances plus tapes), module 0 first.
        advances: advances of each module (forward calls without recording).
        peak_stored: the largest number of distinct states held for the backward pass at once.
        forward_phase_peak: the same peak, up to the first reverse (the end of the forward pass).
    """

    length: int
    forward_calls: tuple[int, ...]
    advances: tuple[int, ...]
    peak_stored: int
    forward_phase_peak: int

    @property
    def total_forward_calls(self) -> int:
        """Return the forward calls of all modules together."""
        return sum(self.forward_calls)

    @property
    def repetitions(self) -> int:
        """Return the repetition number: the most advances any one module makes."""
        return max(self.advances)


class _Holders:
    """Reference counts of held states: a state is held while a checkpoint or a tape keeps it."""

    def __init__(self) -> None:
        self.references: dict[int, int] = {}
        self.peak = 0

    def add(self, index: int) -> None:
        self.references[index] = self.references.get(index, 0) + 1
        self.peak = max(self.peak, len(self.references))

    def remove(self, index: int) -> None:
        left = self.references[index] - 1
        if left:
            self.references[index] = left
        else:
            del self.references[index]


def count(schedule: Schedule | Iterable[Action], length: int | None = None) -> ScheduleCounts:
    """Replay a schedule on state indices, check that it is legal, and count its costs.

    Legal means four things. A module runs on the working state that is its input. A
    checkpoint is stored once, and restored or freed only while it is stored. Each reverse
    acts on the last recorded run, once the gradient at that run's output is known. At the
    end every module was reversed exactly once, the gradient reached the input and no
    checkpoint is left.

    Args:
        schedule: a :class:`Schedule`, or any iterable of actions with ``length`` given.
        length: the number of modules; taken from the schedule when it is a :class:`Schedule`.

    Returns:
        The forward calls per module and the peak number of stored states.

    Raises:
        ScheduleError: at the first illegal action, naming it and its position.
        InvalidArgumentError: if ``length`` is missing or below 1.

    >>> from efx.checkpointing.strategies import MemoryPoor
    >>> count(MemoryPoor().schedule(4)).forward_calls
    (4, 3, 2, 1)
    """
    if isinstance(schedule, Schedule):
        if length is not None and length != schedule.length:
            raise invalid_argument(
                "length",
                length,
                f"must match the schedule's own length {schedule.length} when a Schedule is given",
                "leave length out; a Schedule knows its length",
            )
        length = schedule.length
    if length is None or isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise invalid_argument(
            "length",
            length,
            "must be an integer >= 1",
            "pass the number of modules with a plain iterable",
        )
    calls = [0] * length
    advances = [0] * length
    holders = _Holders()
    checkpoints: set[int] = set()
    runs: list[list[int]] = []  # live recorded runs: [first module, one past the last]
    working: int | None = 0
    attached = False  # the working state is the output of the last live run
    gradient_at: int | None = None  # the state whose gradient is known, once the output's is
    reversed_count = 0
    forward_phase_peak: int | None = None

    def fail(position: int, action: Action, rule: str) -> ScheduleError:
        return ScheduleError(
            f"action {position} ({action.op.value} {action.target}) is illegal: {rule}"
        )

    for position, action in enumerate(schedule):
        op, index = action
        if not isinstance(op, Op):
            raise ScheduleError(
                f"action {position} ({action!r}) is illegal: its operation {op!r} is not an Op"
            )
        if op is Op.ADVANCE or op is Op.TAPE:
            if working != index or not 0 <= index < length:
                raise fail(
                    position, action, f"the working state is a_{working}, not the input a_{index}"
                )
            calls[index] += 1
            if op is Op.ADVANCE:
                advances[index] += 1
                attached = False
            else:
                if attached and runs and runs[-1][1] == index:
                    runs[-1][1] = index + 1
                else:
                    runs.append([index, index + 1])
                holders.add(index)
                attached = True
            working = index + 1
        elif op is Op.STORE:
            if working != index or index in checkpoints:
                raise fail(
                    position, action, f"only the working state a_{working} can be stored, once"
                )
            checkpoints.add(index)
            holders.add(index)
        elif op is Op.RESTORE:
            if index not in checkpoints:
                raise fail(position, action, f"a_{index} is not a stored checkpoint")
            working, attached = index, False
        elif op is Op.FREE:
            if index not in checkpoints:
                raise fail(position, action, f"a_{index} is not a stored checkpoint")
            checkpoints.remove(index)
            holders.remove(index)
        elif op is Op.REVERSE:
            if gradient_at is None:
                if not (attached and working == length):
                    raise fail(position, action, "the first reverse needs the recorded output a_n")
                gradient_at = length
                forward_phase_peak = holders.peak
            if not runs or runs[-1][0] != index or runs[-1][1] != gradient_at:
                raise fail(
                    position,
                    action,
                    f"the last recorded run must start at {index} and end at "
                    f"a_{gradient_at}, whose gradient is known",
                )
            first, stop = runs.pop()
            for state in range(first, stop):
                holders.remove(state)
            reversed_count += stop - first
            gradient_at = first
            working, attached = None, False
        else:  # pragma: no cover
            assert_never(op)

    if gradient_at != 0 or runs or reversed_count != length:
        raise ScheduleError(
            f"the schedule ends before the backward pass reaches a_0 (gradient known at a_{gradient_at}, "
            f"{reversed_count} of {length} modules reversed)"
        )
    if checkpoints:
        raise ScheduleError(
            f"the schedule ends with checkpoints still stored: {sorted(checkpoints)}"
        )
    return ScheduleCounts(
        length=length,
        forward_calls=tuple(calls),
        advances=tuple(advances),
        peak_stored=holders.peak,
        forward_phase_peak=holders.peak if forward_phase_peak is None else forward_phase_peak,
    )
