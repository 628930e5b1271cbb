"""The classic checkpointing strategies as schedules: store-all, memory-poor and segments.

Each strategy turns a chain length ``n`` into a :class:`~efx.checkpointing.schedule.Schedule`.
Exact costs under the cost model of :mod:`efx.checkpointing.schedule` (``n`` modules, module
``i`` numbered from 1 in the formulas):

- :class:`StoreAll` records every module in the forward pass: 1 forward call per module, ``n``
  stored states.
- :class:`MemoryPoor` keeps only the input ``a_0`` and recomputes every other input from it:
  module ``i`` runs ``n - i + 1`` times, ``n(n + 1)/2`` calls in all, and at most 2 stored
  states (the input and the input of the module being reversed).
- :class:`Segments` cuts the chain into ``k`` segments of balanced lengths (they differ by at
  most one, the longer ones last). It keeps each segment's input and recomputes one segment at
  a time, except the last segment, which is recorded in the forward pass. With ``L = ceil(n / k)`` it stores
  ``k + L - 1`` states and makes ``2n - L`` forward calls. With ``k`` left to it, it picks the
  smallest ``k`` that minimises ``k + ceil(n / k)``, which is ``ceil(2 sqrt(n))``: the sqrt(n)
  strategy.
- :class:`TorchSequential` is the same segment schedule with the split of torch's
  ``checkpoint_sequential`` (``n // k`` modules per segment, the remainder in the last one),
  kept to compare the two splits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from efx.checkpointing.schedule import Action, Op, Schedule
from efx.errors import invalid_argument


@runtime_checkable
class Strategy(Protocol):
    """Anything that turns a chain length into a schedule."""

    @property
    def name(self) -> str:
        """A short name for tables and error messages."""
        ...

    def schedule(self, length: int) -> Schedule:
        """Return the schedule for a chain of ``length`` modules."""
        ...


def _check_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise invalid_argument(
            "length",
            length,
            "must be an integer >= 1 (the number of modules)",
            "pass a chain with modules",
        )


def _check_count(name: str, value: int, rule: str, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_argument(name, value, rule, fix)


class StoreAll:
    """Record every module in the forward pass and reverse the chain in one backward call."""

    name = "store-all"

    def schedule(self, length: int) -> Schedule:
        """Return the schedule: tape modules ``0..n-1``, then one reverse."""
        _check_length(length)

        def generate() -> Iterator[Action]:
            for index in range(length):
                yield Action(Op.TAPE, index)
            yield Action(Op.REVERSE, 0)

        return Schedule(length, self.name, generate)

    def __repr__(self) -> str:
        return "StoreAll()"


class MemoryPoor:
    """Keep only the chain's input; recompute each module's input from it during the backward pass."""

    name = "memory-poor"

    def schedule(self, length: int) -> Schedule:
        """Return the schedule: module ``i`` (0-based) runs ``n - i`` times.

        The forward pass advances to ``a_{n-1}`` and records the last module. For each
        earlier module ``j``, the backward pass restores ``a_0``, advances to ``a_j`` and
        records module ``j`` alone.
        """
        _check_length(length)

        def generate() -> Iterator[Action]:
            yield Action(Op.STORE, 0)
            for target in range(length - 1, -1, -1):
                if target < length - 1:
                    yield Action(Op.RESTORE, 0)
                for index in range(target):
                    yield Action(Op.ADVANCE, index)
                yield Action(Op.TAPE, target)
                yield Action(Op.REVERSE, target)
            yield Action(Op.FREE, 0)

        return Schedule(length, self.name, generate)

    def __repr__(self) -> str:
        return "MemoryPoor()"


def balanced_lengths(length: int, segments: int) -> tuple[int, ...]:
    """Split ``length`` modules into ``segments`` lengths that differ by at most one, longer ones last.

    The last segment is recorded in the forward pass and never recomputed, so making it a
    longest one saves the most recomputation. The peak memory is the same for every order.

    >>> balanced_lengths(9, 5)
    (1, 2, 2, 2, 2)
    """
    _check_length(length)
    _check_count("segments", segments, "must be an integer >= 1", "pass the number of segments")
    if segments > length:
        raise invalid_argument(
            "segments",
            segments,
            f"must be at most the number of modules, {length}",
            f"pass segments <= {length}",
        )
    short, longer = divmod(length, segments)
    return (short,) * (segments - longer) + (short + 1,) * longer


def torch_sequential_lengths(length: int, segments: int) -> tuple[int, ...]:
    """Return the segment lengths torch's ``checkpoint_sequential`` uses (torch 2.13).

    torch gives each of the first ``segments - 1`` segments ``length // segments`` modules
    and the rest to the last segment, which it does not checkpoint.

    >>> torch_sequential_lengths(9, 5)
    (1, 1, 1, 1, 5)
    """
    _check_length(length)
    _check_count("segments", segments, "must be an integer >= 1", "pass the number of segments")
    if segments > length:
        raise invalid_argument(
            "segments",
            segments,
            f"must be at most the number of modules, {length}",
            f"pass segments <= {length}",
        )
    size = length // segments
    return (size,) * (segments - 1) + (length - size * (segments - 1),)


def sqrt_segment_count(length: int) -> int:
    """Return the smallest ``k`` that minimises ``k + ceil(n / k)``: the sqrt(n) number of segments.

    The minimum is ``ceil(2 sqrt(n))`` (proved in ``efx.proofs.ckpt_complexity``); among
    the ``k`` that reach it, the smallest has the longest last segment, hence the fewest
    recomputations.

    >>> sqrt_segment_count(1024), sqrt_segment_count(10)
    (32, 2)
    """
    _check_length(length)
    best, best_k = None, 1
    k = 1
    while k <= length:
        cost = k + -(-length // k)
        if best is None or cost < best:
            best, best_k = cost, k
        if k * k > 4 * length:  # beyond 2 sqrt(n), k alone exceeds the minimum
            break
        k += 1
    return best_k


def segment_schedule(lengths: Sequence[int], name: str, check: bool = True) -> Schedule:
    """Return the schedule that checkpoints each segment's input and recomputes one segment at a time.

    The forward pass stores the input of every segment and records the last segment. The
    backward pass reverses the last segment. Then, for each earlier segment, it restores the
    segment's input, records the segment and reverses it.

    With ``check`` the next segment's input stays stored until the segment is recorded, so
    the torch executor compares the recomputed output with it. This keeps one more state
    while a segment is recomputed. The counted peak, reached at the end of the forward pass,
    does not change. The measured peak falls in the backward pass, once gradients are
    allocated, and grows by about one activation. Without ``check`` the input is freed first.

    Args:
        lengths: the segment lengths, each >= 1, in chain order.
        name: the strategy name the schedule carries.
        check: keep each next checkpoint until the recomputed segment can be compared with it.
    """
    lengths = tuple(lengths)
    if not lengths or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in lengths):
        raise invalid_argument(
            "lengths",
            lengths,
            "must be a non-empty sequence of integers >= 1",
            "pass segment lengths",
        )
    starts = [0]
    for segment_length in lengths[:-1]:
        starts.append(starts[-1] + segment_length)
    total = starts[-1] + lengths[-1]

    def generate() -> Iterator[Action]:
        for segment, start in enumerate(starts):
            stop = start + lengths[segment]
            if segment < len(starts) - 1:
                yield Action(Op.STORE, start)
                for index in range(start, stop):
                    yield Action(Op.ADVANCE, index)
            else:
                if len(starts) > 1:
                    yield Action(Op.STORE, start)
                for index in range(start, stop):
                    yield Action(Op.TAPE, index)
        yield Action(Op.REVERSE, starts[-1])
        for segment in range(len(starts) - 2, -1, -1):
            start = starts[segment]
            if not check:
                yield Action(Op.FREE, starts[segment + 1])
            yield Action(Op.RESTORE, start)
            for index in range(start, start + lengths[segment]):
                yield Action(Op.TAPE, index)
            if check:
                yield Action(Op.FREE, starts[segment + 1])
            yield Action(Op.REVERSE, start)
        if len(starts) > 1:
            yield Action(Op.FREE, 0)

    return Schedule(total, name, generate)


class Segments:
    """Checkpoint the inputs of ``k`` balanced segments and recompute one segment at a time.

    Args:
        count: the number of segments ``k``, or None for the sqrt(n) choice of
            :func:`sqrt_segment_count`.
        check: compare each recomputed segment's output with the stored input of the next
            segment, at the cost of holding that input one segment longer (see
            :func:`segment_schedule`); a difference raises ``RecomputeMismatchError``.

    Raises:
        InvalidArgumentError: if ``count`` is not an integer >= 1, or (when scheduling) exceeds
            the number of modules.
    """

    def __init__(self, count: int | None = None, check: bool = True) -> None:
        if count is not None:
            _check_count(
                "count",
                count,
                "must be an integer >= 1 or None",
                "pass a number of segments, or None for sqrt(n)",
            )
        self.count = count
        self.check = check

    @property
    def name(self) -> str:
        """``sqrt(n)`` when the count is chosen from n, else ``segments(k)``."""
        return "sqrt(n)" if self.count is None else f"segments({self.count})"

    def lengths(self, length: int) -> tuple[int, ...]:
        """Return the segment lengths for a chain of ``length`` modules."""
        count = sqrt_segment_count(length) if self.count is None else self.count
        return balanced_lengths(length, count)

    def schedule(self, length: int) -> Schedule:
        """Return the segment schedule for a chain of ``length`` modules."""
        return segment_schedule(self.lengths(length), self.name, self.check)

    def __repr__(self) -> str:
        return f"Segments(count={self.count!r}, check={self.check!r})"


class TorchSequential:
    """The segment schedule with torch's ``checkpoint_sequential`` split, for comparison.

    Args:
        segments: the ``segments`` argument torch would receive, at least 1.
        check: as for :class:`Segments`.
    """

    def __init__(self, segments: int, check: bool = True) -> None:
        _check_count("segments", segments, "must be an integer >= 1", "pass the number of segments")
        self.segments = segments
        self.check = check

    @property
    def name(self) -> str:
        """``torch-sequential(k)``."""
        return f"torch-sequential({self.segments})"

    def lengths(self, length: int) -> tuple[int, ...]:
        """Return torch's segment lengths for a chain of ``length`` modules."""
        return torch_sequential_lengths(length, self.segments)

    def schedule(self, length: int) -> Schedule:
        """Return the segment schedule with torch's split."""
        return segment_schedule(self.lengths(length), self.name, self.check)

    def __repr__(self) -> str:
        return f"TorchSequential(segments={self.segments}, check={self.check!r})"
