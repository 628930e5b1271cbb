"""Derivations for the costs of checkpointing strategies (question ``ckpt-complexity``).

The cost model is the one :mod:`efx.checkpointing.schedule` counts in. A chain has ``n``
modules, and module ``i`` (1-based here) maps ``a_{i-1}`` to ``a_i``. Each forward call of a
module costs one unit, and each state ``a_i`` has unit size. Memory is the number of states held
for the backward pass (checkpoints and the inputs of recorded modules), the input ``a_0``
included. Parameters, gradients and optimizer state are not counted.

Each formula here is the exact count of efx's implementation; ``verify/`` compares it with the
counters of :class:`efx.checkpointing.Checkpointed` and of :func:`efx.checkpointing.count`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import sympy

from efx.checkpointing import Segments, count, sqrt_segment_count
from efx.proofs.derivation import (
    Derivation,
    Relation,
    Scope,
    Step,
    algebra,
    assumption,
    computation,
    definition,
    lemma,
)

n, i, j, k = sympy.symbols("n i j k", integer=True, positive=True)
s, r, t, m = sympy.symbols("s r t m", integer=True, positive=True)
e = sympy.symbols("e", integer=True, nonnegative=True)
delta = sympy.symbols("delta", nonnegative=True)
x_real = sympy.symbols("x", positive=True)  # the continuous segment length
L = sympy.symbols("L", integer=True, positive=True)
phi, beta_b = sympy.symbols(r"\varphi \beta", positive=True)
f = sympy.symbols("f", positive=True)
calls = sympy.Function("c")

MEMORY_POOR_CALLS = n - i + 1
"""Forward calls of module ``i`` (1-based) under memory-poor."""
MEMORY_POOR_TOTAL = n * (n + 1) / 2
"""Forward calls of all modules under memory-poor."""
SEGMENTS_PEAK = k + sympy.ceiling(n / k) - 1
"""Peak stored states with ``k`` balanced segments."""
SEGMENTS_TOTAL = 2 * n - sympy.ceiling(n / k)
"""Forward calls of all modules with ``k`` balanced segments, the longest recorded in the forward pass."""
SQRT_PEAK = sympy.ceiling(2 * sympy.sqrt(n)) - 1
"""Peak stored states of the sqrt(n) choice of ``k``."""

INTEGER_BOUND = 1024
"""The exhaustive check of ``min_k k + ceil(n/k) = ceil(2 sqrt(n))`` covers every n up to this."""


def _order(reference: sympy.Expr) -> Callable[[Any, Any], bool]:
    # previous / reference must tend to a finite positive constant: previous = Theta(reference).
    def check(previous: Any, _current: Any) -> bool:
        ratio = sympy.limit(previous / reference, n, sympy.oo)
        return bool(ratio.is_positive and ratio.is_finite)

    return check


def _difference_nonnegative(previous: Any, current: Any) -> bool:
    return bool(sympy.simplify(previous - current).is_nonnegative)


@functools.cache
def memory_poor_calls() -> Derivation:
    """Derive memory-poor's forward calls: module i runs n - i + 1 times, n(n + 1)/2 in all."""
    per_module = 1 + sympy.Sum(1, (j, i + 1, n - 1)) + 1

    def per_module_holds(previous: Any, current: Any) -> bool:
        substituted = previous.subs(calls(i), MEMORY_POOR_CALLS)
        count_ok = sympy.simplify(per_module.doit() - MEMORY_POOR_CALLS) == 0
        return bool(count_ok and sympy.simplify(substituted.doit() - current.doit()) == 0)

    steps = (
        Step(
            sympy.Sum(calls(i), (i, 1, n)),
            definition(r"total forward calls, $c_i$ those of module $i$"),
        ),
        Step(
            sympy.Sum(MEMORY_POOR_CALLS, (i, 1, n)),
            lemma(
                r"$c_i = 1 + \sum_{j=i+1}^{n-1} 1 + 1 = n - i + 1$: one call in the forward pass, one advance "
                r"while reversing each later module $j < n$, one recording when module $i$ is reversed; "
                r"module $n$ is recorded in the forward pass only, $c_n = 1$"
            ),
            check=per_module_holds,
        ),
        Step(
            sympy.Sum(k, (k, 1, n)),
            algebra("substitute k = n - i + 1"),
            check=lambda p, c: bool(sympy.simplify(p.doit() - c.doit()) == 0),
        ),
        Step(
            MEMORY_POOR_TOTAL,
            lemma("Gauss's sum"),
            check=lambda p, c: bool(sympy.simplify(p.doit() - c) == 0),
        ),
        Step(
            r"\Theta(n^2)",
            lemma(r"$\lim_{n\to\infty} \frac{n(n+1)/2}{n^2} = \frac{1}{2}$"),
            relation=Relation.IMPLIES,
            check=_order(n**2),
        ),
    )
    return Derivation(
        claim="ckpt.memory-poor-compute",
        title="Memory-poor makes n(n + 1)/2 forward calls",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("n", "modules in the chain"), ("c_i", "forward calls of module i, 1-based")),
        conclusion="Module 1 runs n times and module n once; the total is quadratic in n.",
    )


@functools.cache
def sqrt_memory_continuous() -> Derivation:
    """Derive that n/x + x, the memory with segments of x modules, is at least 2 sqrt(n), with equality at x = sqrt(n)."""
    square = (sympy.sqrt(n / x_real) - sympy.sqrt(x_real)) ** 2

    def minimiser(_previous: Any, _current: Any) -> bool:
        return bool(
            sympy.solve(sympy.sqrt(n / x_real) - sympy.sqrt(x_real), x_real) == [sympy.sqrt(n)]
        )

    steps = (
        Step(
            n / x_real + x_real,
            definition(
                "n/x checkpoints, one per segment of x modules, plus the x states of the segment being reversed"
            ),
        ),
        Step(2 * sympy.sqrt(n) + square, algebra("complete the square")),
        Step(
            2 * sympy.sqrt(n),
            lemma("a square is non-negative"),
            relation=Relation.GE,
            check=_difference_nonnegative,
        ),
        Step(
            r"\text{equality} \iff x = \sqrt{n}",
            lemma(r"the square vanishes iff $\sqrt{n/x} = \sqrt{x}$"),
            relation=Relation.IFF,
            check=minimiser,
        ),
    )
    return Derivation(
        claim="ckpt.sqrt-memory",
        title="Continuous model: n/x + x >= 2 sqrt(n), equality at x = sqrt(n)",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("n", "modules"), ("x > 0", "segment length, a real number in this model")),
        conclusion="The global minimum of n/x + x over x > 0 is 2 sqrt(n), reached only at x = sqrt(n).",
    )


@functools.cache
def sqrt_memory_integer() -> Derivation:
    """Derive min over k of k + ceil(n/k) = ceil(2 sqrt(n)): the lower bound, then a k that reaches it."""
    m_value = sympy.ceiling(2 * sympy.sqrt(n))

    def parity(_previous: Any, _current: Any) -> bool:
        even = sympy.floor(2 * t / 2) * (2 * t - sympy.floor(2 * t / 2)) - sympy.floor(
            sympy.expand((2 * t) ** 2 / 4)
        )
        odd_m = 2 * t + 1
        odd = sympy.floor(odd_m / 2) * (odd_m - sympy.floor(odd_m / 2)) - sympy.floor(
            sympy.expand(odd_m**2 / 4)
        )
        return bool(sympy.simplify(even) == 0 and sympy.simplify(odd) == 0)

    def square_bound(_previous: Any, _current: Any) -> bool:
        # m = 2 sqrt(n) + delta with delta >= 0, so m^2/4 - n = sqrt(n) delta + delta^2/4 >= 0.
        return bool(sympy.expand((2 * sympy.sqrt(n) + delta) ** 2 / 4 - n).is_nonnegative)

    def ceiling_bound(_previous: Any, _current: Any) -> bool:
        # n = k(m - k) - e with e >= 0: ceil(n/k) - (m - k) = ceil(-e/k) <= 0.
        gap = sympy.simplify(sympy.ceiling((k * (m - k) - e) / k) - (m - k))
        return bool(gap.is_nonpositive)

    steps = (
        Step(
            k + sympy.ceiling(n / k),
            definition("k segments of balanced lengths, the longest ceil(n/k)"),
        ),
        Step(
            k + n / k,
            lemma(r"$\lceil y \rceil \ge y$"),
            relation=Relation.GE,
            check=lambda p, c: (
                bool(sympy.ceiling(n / k) >= n / k)
                and sympy.simplify(p - c - sympy.ceiling(n / k) + n / k) == 0
            ),
        ),
        Step(
            2 * sympy.sqrt(n),
            lemma("the continuous bound, at x = k"),
            relation=Relation.GE,
            check=lambda p, c: bool(
                sympy.simplify(p - c - (sympy.sqrt(n / k) - sympy.sqrt(k)) ** 2) == 0
            ),
        ),
        Step(
            r"k + \lceil n/k \rceil \ge \lceil 2\sqrt{n} \rceil = m",
            lemma(r"an integer at least $y$ is at least $\lceil y \rceil$"),
            relation=Relation.IMPLIES,
            check=lambda _p, _c: bool((k + sympy.ceiling(n / k)).is_integer),
        ),
        Step(
            r"k_0 (m - k_0) = \lfloor m^2/4 \rfloor \text{ for } k_0 = \lfloor m/2 \rfloor",
            algebra("both parities, m = 2t and m = 2t + 1"),
            relation=Relation.IMPLIES,
            check=parity,
        ),
        Step(
            r"\lfloor m^2/4 \rfloor \ge n",
            lemma(r"$m \ge 2\sqrt{n}$ gives $m^2/4 \ge n$, and n is an integer"),
            relation=Relation.IMPLIES,
            check=square_bound,
        ),
        Step(
            r"k_0 + \lceil n/k_0 \rceil \le k_0 + (m - k_0) = m",
            lemma(r"$n \le k_0(m - k_0)$ gives $n/k_0 \le m - k_0$, an integer"),
            relation=Relation.IMPLIES,
            check=ceiling_bound,
        ),
        Step(
            r"\min_{k \ge 1} \left(k + \lceil n/k \rceil\right) = \lceil 2\sqrt{n} \rceil",
            lemma(
                "the lower bound holds for every k and k_0 >= 1 reaches it (m >= 2 since n >= 1)"
            ),
            relation=Relation.IMPLIES,
            check=lambda _p, _c: bool(m_value.subs(n, 1) == 2),
        ),
    )
    return Derivation(
        claim="ckpt.sqrt-memory",
        title="Integer optimum: min over k of k + ceil(n/k) is ceil(2 sqrt(n))",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("n \\ge 1", "modules"), ("k", "segments"), ("m", r"$\lceil 2\sqrt{n}\rceil$")),
        conclusion="With the best k, efx's sqrt(n) strategy stores ceil(2 sqrt(n)) - 1 states: Theta(sqrt(n)).",
    )


def _ceil_two_sqrt(value: int) -> int:
    # The smallest integer m with m^2 >= 4 value, computed exactly in integers.
    return math.isqrt(4 * value - 1) + 1


def _integer_optimum_holds(bound: int) -> bool:
    for value in range(1, bound + 1):
        best = min(segments + -(-value // segments) for segments in range(1, value + 1))
        chosen = sqrt_segment_count(value)
        if best != _ceil_two_sqrt(value) or chosen + -(-value // chosen) != best:
            return False
    return all(
        count(Segments().schedule(v)).peak_stored == _ceil_two_sqrt(v) - 1 for v in range(1, 129)
    )


@functools.cache
def sqrt_memory_instances() -> Derivation:
    """Cross-check the integer optimum for every n up to a bound, and efx's counted peak up to 128."""
    statement = (
        rf"\forall n \le {INTEGER_BOUND}: \min_{{1 \le k \le n}} \left(k + \lceil n/k \rceil\right) = "
        r"\lceil 2\sqrt{n} \rceil \text{ and efx's } k \text{ reaches it}"
    )
    return Derivation(
        claim="ckpt.sqrt-memory",
        title="Exhaustive check of the integer optimum and of the counted peak",
        scope=Scope.INSTANCES,
        bound=f"every n <= {INTEGER_BOUND}, every k <= n; counted peaks for n <= 128",
        steps=(
            Step(
                statement,
                computation("integer arithmetic; ceil(2 sqrt(n)) as isqrt(4n - 1) + 1"),
                check=lambda _p, _c: _integer_optimum_holds(INTEGER_BOUND),
            ),
        ),
        conclusion="This cross-checks the general proof on the sizes listed; it does not replace it.",
    )


@functools.cache
def sqrt_forward_calls() -> Derivation:
    """Derive the sqrt(n) strategy's forward calls, 2n - ceil(n/k), and that they are Theta(n) with constant 2."""
    steps = (
        Step(
            n + (n - L),
            definition(
                "every module runs once in the forward pass; the backward pass records every segment but the "
                "last once more; L = ceil(n/k) is the last segment's length"
            ),
        ),
        Step(2 * n - L, algebra("collect")),
        Step(
            r"2n - 2\sqrt{n} \le 2n - L \le 2n - 1",
            lemma(
                r"$1 \le L \le \lceil 2\sqrt{n} \rceil - k \le 2\sqrt{n}$ for the sqrt(n) choice of k"
            ),
            relation=Relation.IMPLIES,
            check=lambda _p, _c: all(
                1 <= -(-v // sqrt_segment_count(v)) <= 2 * math.sqrt(v)
                for v in range(1, INTEGER_BOUND + 1)
            ),
        ),
        Step(
            r"\lim_{n\to\infty} \frac{2n - L}{n} = 2",
            lemma("squeeze: both bounds divided by n tend to 2"),
            relation=Relation.IMPLIES,
            check=lambda _p, _c: bool(
                sympy.limit((2 * n - 2 * sympy.sqrt(n)) / n, n, sympy.oo) == 2
                and sympy.limit((2 * n - 1) / n, n, sympy.oo) == 2
            ),
        ),
    )
    return Derivation(
        claim="ckpt.sqrt-compute",
        title="sqrt(n) makes 2n - ceil(n/k) forward calls: O(n), about twice store-all",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("n", "modules"),
            ("k", "segments"),
            ("L", "length of the last segment, ceil(n/k)"),
        ),
        conclusion=(
            "The bound on L is checked for every n <= 1024 (the middle step); the squeeze is general. "
            "Modules of the last segment run once, all others twice."
        ),
    )


@functools.cache
def recompute_time_ratio() -> Derivation:
    """Derive the time of a sqrt(n) step relative to store-all: 1 + f (1 - L/n), and 1 + f(1 - 1/k) for equal segments."""
    ratio = ((2 * n - L) * phi + n * beta_b) / (n * (phi + beta_b))
    steps = (
        Step(
            ratio,
            definition(
                r"time of one step over store-all's, each module's forward taking $\varphi$ and its backward $\beta$"
            ),
        ),
        Step(1 + phi / (phi + beta_b) * (1 - L / n), algebra("split the fraction")),
        Step(
            1 + f * (1 - L / n),
            definition(r"$f = \varphi / (\varphi + \beta)$, the forward share of a step"),
            check=lambda p, c: bool(sympy.simplify(p - c.subs(f, phi / (phi + beta_b))) == 0),
        ),
        Step(
            1 + f * (1 - 1 / k),
            assumption("k equal segments, L = n/k"),
            check=lambda p, c: bool(sympy.simplify(p.subs(L, n / k) - c) == 0),
        ),
        Step(
            sympy.Rational(4, 3),
            lemma(r"$k \to \infty$ with a backward twice as slow as the forward, $f = 1/3$"),
            relation=Relation.IMPLIES,
            check=lambda p, c: bool(sympy.limit(p.subs(f, sympy.Rational(1, 3)), k, sympy.oo) == c),
        ),
    )
    return Derivation(
        claim="ckpt.sqrt-compute",
        title="Wall-time ratio of sqrt(n) to store-all: 1 + f (1 - 1/k)",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (r"\varphi, \beta", "forward and backward time of one module"),
            ("f", "forward share"),
            ("k", "segments"),
            ("L", "last segment's length"),
        ),
        conclusion="Recomputation adds at most the forward share f of a step; a third when backward costs two forwards.",
    )
