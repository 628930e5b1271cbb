"""Derivations for binomial checkpointing (Revolve), part of question ``ckpt-complexity``.

The model is the one of :mod:`efx.checkpointing.revolve`. There are ``s`` slots for
checkpoints, and the chain's input takes one. Each module is recorded alone just before it is
reversed. The repetition number ``r`` counts the advances (unrecorded forward calls) of the
busiest module.
With ``beta(s, r) = C(s + r, s)`` the longest chain that can be reversed, the fewest advances
are ``t(n, s) = r n - C(s + r, s + 1)``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import sympy

from efx.checkpointing import Binomial, count
from efx.checkpointing.revolve import binomial_advances, optimal_advances, repetition_number
from efx.proofs.ckpt_complexity import MEMORY_POOR_TOTAL, j, n, r, s
from efx.proofs.derivation import Derivation, Scope, Step, algebra, computation, definition, lemma

BINOMIAL_BOUND = (40, 6)
"""The dynamic program is compared with the closed form for every n <= 40 and 1 <= s <= 6."""


def _beta(slots: Any, repetitions: Any) -> Any:
    return sympy.binomial(slots + repetitions, slots)


def _combinatorially_equal(previous: Any, current: Any) -> bool:
    return bool(sympy.simplify(sympy.combsimp(sympy.expand_func(previous - current))) == 0)


@functools.cache
def binomial_capacity_rule() -> Derivation:
    """Derive Pascal's rule for beta(s, r) = C(s + r, s): the right part with one slot fewer plus the left part with one repetition fewer."""
    steps = (
        Step(
            _beta(s, r),
            definition(
                r"$\beta(s, r) = \binom{s+r}{s}$, the longest chain s slots reverse with r repetitions"
            ),
        ),
        Step(
            _beta(s - 1, r) + _beta(s, r - 1),
            lemma(
                "Pascal's rule: the right part keeps r repetitions and loses the slot of its first checkpoint; "
                "the left part keeps s slots and has one repetition fewer, its modules being advanced once already"
            ),
            check=_combinatorially_equal,
        ),
    )
    return Derivation(
        claim="ckpt.binomial",
        title="Pascal's rule: beta(s, r) = beta(s - 1, r) + beta(s, r - 1)",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("s", "slots, the input's included"), ("r", "repetition number")),
        conclusion="With beta(s, 0) = beta(0, r) = 1 (one module is recorded and reversed directly), C(s + r, s) solves the recursion.",
    )


@functools.cache
def binomial_advances_recursion() -> Derivation:
    """Derive that splitting at an admissible j gives exactly t(n, s) = r n - C(s + r, s + 1) advances."""
    left = (r - 1) * j - sympy.binomial(s + r - 1, s + 1)
    right = r * (n - j) - sympy.binomial(s - 1 + r, s)
    steps = (
        Step(
            j + right + left,
            definition(
                "advance j modules, reverse the right part (n - j modules, s - 1 slots, repetition r), then the left "
                "part (j modules, s slots, repetition r - 1), each at its closed form"
            ),
        ),
        Step(
            r * n - sympy.binomial(s + r - 1, s) - sympy.binomial(s + r - 1, s + 1),
            algebra("collect"),
        ),
        Step(
            r * n - sympy.binomial(s + r, s + 1),
            lemma("Pascal's rule"),
            check=_combinatorially_equal,
        ),
    )
    return Derivation(
        claim="ckpt.binomial",
        title="The closed form t(n, s) = r n - C(s + r, s + 1) is reached by the recursive split",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("n", "modules"),
            ("s", "slots"),
            ("r", "repetition number of n and s"),
            ("j", "first checkpoint"),
        ),
        conclusion=(
            "The closed form is attainable for every n, s; that it is also the minimum is Griewank's theorem, "
            "checked against the dynamic program on instances."
        ),
    )


@functools.cache
def binomial_one_slot() -> Derivation:
    """Derive that one slot gives memory-poor: r = n - 1 and n(n + 1)/2 forward calls."""
    steps = (
        Step(
            (n - 1) * n - sympy.binomial(1 + (n - 1), 2) + n,
            definition(
                "t(n, 1) + n with r = n - 1, since C(1 + r, 1) = r + 1 >= n first at r = n - 1; n recordings"
            ),
        ),
        Step(MEMORY_POOR_TOTAL, algebra("C(n, 2) = n(n - 1)/2"), check=_combinatorially_equal),
    )
    return Derivation(
        claim="ckpt.binomial",
        title="One slot is memory-poor: n(n + 1)/2 forward calls",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("n", "modules"),),
        conclusion="Binomial checkpointing with the input as its only checkpoint is the memory-poor strategy.",
    )


def _binomial_instances_hold() -> bool:
    max_length, max_slots = BINOMIAL_BOUND
    for slots in range(1, max_slots + 1):
        for length in range(1, max_length + 1):
            counted = count(Binomial(slots).schedule(length))
            closed = binomial_advances(length, slots)
            if not (optimal_advances(length, slots) == closed == sum(counted.advances)):
                return False
            if counted.repetitions != repetition_number(length, slots):
                return False
    worked = count(Binomial(10).schedule(1024))
    return (
        math.comb(14, 10) == 1001
        and math.comb(15, 10) == 3003
        and repetition_number(1024, 10) == 5
        and sum(worked.advances) == binomial_advances(1024, 10) == 5 * 1024 - math.comb(15, 11)
    )


@functools.cache
def binomial_instances() -> Derivation:
    """Check closed form = dynamic program = efx's schedule on instances, and the worked example n = 1024, s = 10."""
    max_length, max_slots = BINOMIAL_BOUND
    statement = (
        rf"\forall n \le {max_length},\ 1 \le s \le {max_slots}: \ T_{{\mathrm{{DP}}}}(n, s) = r n - \binom{{s+r}}{{s+1}} "
        r"= \text{advances of efx's schedule};\ n = 1024, s = 10: r = 5, \ 5 \cdot 1024 - \binom{15}{11} = 3755"
    )
    return Derivation(
        claim="ckpt.binomial",
        title="Dynamic program, closed form and efx's schedule agree",
        scope=Scope.INSTANCES,
        bound=f"every n <= {max_length} and 1 <= s <= {max_slots}, plus n = 1024 with s = 10",
        steps=(
            Step(
                statement,
                computation("exact dynamic program over (n, s) and replay of the schedule"),
                check=lambda _p, _c: _binomial_instances_hold(),
            ),
        ),
        conclusion="The repetition numbers of efx's schedules match r as well.",
    )
