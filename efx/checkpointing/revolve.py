"""Binomial checkpointing (Griewank's Revolve): the fewest recomputations for a number of checkpoints.

The model is Revolve's, written in the actions of :mod:`efx.checkpointing.schedule`:

- ``s`` *slots* hold checkpoints, and the chain's input ``a_0`` takes one of them;
- a module is recorded (taped) alone, just before it is reversed, so at most one state beyond
  the slots is held: the input of the module being reversed, when it is not a checkpoint;
- an *advance* is a forward call without recording; the *repetition number* ``r`` is the most
  advances any one module makes. The taped call, one per module, is not a repetition.

With ``s`` slots and repetition number ``r`` a chain of at most ``beta(s, r) = C(s + r, s)``
modules can be reversed (Griewank 1992). So ``r`` is the smallest integer with
``beta(s, r) >= n``. For ``n = 1024`` and ``s = 10``, ``C(14, 10) = 1001 < 1024 <= C(15, 10)``
gives ``r = 5``. The fewest advances are ``t(n, s) = r n - C(s + r, s + 1)`` (Griewank and
Walther 2000), and the forward calls are ``t(n, s) + n``. :func:`optimal_advances` computes the
minimum by an exact dynamic program over ``(n, s)`` instead, so the closed form can be checked.

References: A. Griewank, "Achieving logarithmic growth of temporal and spatial complexity in
reverse automatic differentiation", Optimization Methods and Software 1 (1992); A. Griewank and
A. Walther, "Algorithm 799: revolve", ACM TOMS 26 (2000).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

from efx.checkpointing.schedule import Action, Op, Schedule
from efx.errors import invalid_argument


def _check_int(name: str, value: int, minimum: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid_argument(name, value, f"must be an integer >= {minimum}", fix)


def binomial_capacity(slots: int, repetitions: int) -> int:
    """Return ``beta(s, r) = C(s + r, s)``: the longest chain ``s`` slots reverse with ``r`` repetitions.

    >>> binomial_capacity(10, 4), binomial_capacity(10, 5)
    (1001, 3003)
    """
    _check_int("slots", slots, 0, "pass the number of checkpoint slots")
    _check_int("repetitions", repetitions, 0, "pass the repetition number")
    return math.comb(slots + repetitions, slots)


def repetition_number(length: int, slots: int) -> int:
    """Return the smallest ``r`` with ``C(s + r, s) >= n``: the repetition number of an optimal schedule.

    >>> repetition_number(1024, 10)
    5
    """
    _check_int("length", length, 1, "pass the number of modules")
    _check_int("slots", slots, 1, "pass at least one slot, for the chain's input")
    repetitions = 0
    while math.comb(slots + repetitions, slots) < length:
        repetitions += 1
    return repetitions


def binomial_advances(length: int, slots: int) -> int:
    """Return the closed form ``t(n, s) = r n - C(s + r, s + 1)`` of the fewest advances.

    >>> binomial_advances(6, 1)  # one slot: memory-poor, n(n - 1)/2 advances
    15
    """
    repetitions = repetition_number(length, slots)
    if repetitions == 0:
        return 0
    return repetitions * length - math.comb(slots + repetitions, slots + 1)


@functools.cache
def optimal_advances(length: int, slots: int) -> int | None:
    """Return the fewest advances that reverse ``length`` modules with ``slots`` slots, by dynamic programming.

    The recursion tries every first checkpoint ``j``: advance ``j`` modules, reverse the
    right part ``n - j`` with one slot fewer, then the left part ``j`` with all ``s``. One
    module needs no advance; two or more modules with no slot cannot be reversed (None).
    The cost is quadratic in ``length`` per slot count: use it for small chains, to check
    :func:`binomial_advances`.
    """
    _check_int("length", length, 1, "pass the number of modules")
    _check_int("slots", slots, 0, "pass the number of slots")
    if length == 1:
        return 0
    if slots == 0:
        return None
    best: int | None = None
    for first in range(1, length):
        right = optimal_advances(length - first, slots - 1)
        left = optimal_advances(first, slots)
        if right is None or left is None:
            continue
        cost = first + right + left
        if best is None or cost < best:
            best = cost
    return best


def optimal_split(length: int, slots: int) -> int:
    """Return a first checkpoint position ``j`` (modules advanced first) of an optimal schedule.

    With ``r`` the repetition number, the left part ``j`` must be reversible with ``r - 1``
    repetitions and the right part ``n - j`` with one slot fewer and ``r``. Every ``j`` in

        ``max(beta(s, r - 2), n - beta(s - 1, r)) <= j <= min(beta(s, r - 1), n - beta(s - 1, r - 1))``

    reaches the closed form; this returns the largest, which keeps the right part short.
    ``verify/`` checks the choice against :func:`optimal_advances`.
    """
    _check_int("length", length, 2, "a split needs at least two modules")
    _check_int("slots", slots, 1, "pass at least one slot")
    repetitions = repetition_number(length, slots)
    upper = min(
        binomial_capacity(slots, repetitions - 1),
        length - binomial_capacity(slots - 1, repetitions - 1),
    )
    return max(1, min(upper, length - 1))


class Binomial:
    """Binomial checkpointing with a fixed number of slots (the chain's input takes one).

    Args:
        slots: checkpoint slots ``s >= 1``; one slot is memory-poor, ``s >= n - 1`` advances
            each module once.

    Raises:
        InvalidArgumentError: if ``slots`` is not an integer >= 1.
    """

    def __init__(self, slots: int) -> None:
        _check_int("slots", slots, 1, "pass at least one slot; the chain's input takes one")
        self.slots = slots

    @property
    def name(self) -> str:
        """``binomial(s)``."""
        return f"binomial({self.slots})"

    def schedule(self, length: int) -> Schedule:
        """Return an optimal Revolve schedule for ``length`` modules."""
        _check_int("length", length, 1, "pass a chain with modules")
        slots = self.slots

        def generate() -> Iterator[Action]:
            yield Action(Op.STORE, 0)
            yield from _reverse(0, length, slots, restore_first=False)
            yield Action(Op.FREE, 0)

        return Schedule(length, self.name, generate)

    def __repr__(self) -> str:
        return f"Binomial(slots={self.slots})"


def _reverse(first: int, stop: int, slots: int, restore_first: bool) -> Iterator[Action]:
    # Reverse modules first..stop-1, whose input a_first is stored, using `slots` slots
    # (a_first's included). The left part is handled by the loop, the right part by
    # recursion, so the recursion depth is at most the number of slots.
    while stop - first > 1:
        if restore_first:
            yield Action(Op.RESTORE, first)
        split = first + optimal_split(stop - first, slots)
        for index in range(first, split):
            yield Action(Op.ADVANCE, index)
        if stop - split == 1:
            yield Action(Op.TAPE, split)
            yield Action(Op.REVERSE, split)
        else:
            yield Action(Op.STORE, split)
            yield from _reverse(split, stop, slots - 1, restore_first=False)
            yield Action(Op.FREE, split)
        stop, restore_first = split, True
    if restore_first:
        yield Action(Op.RESTORE, first)
    yield Action(Op.TAPE, first)
    yield Action(Op.REVERSE, first)
