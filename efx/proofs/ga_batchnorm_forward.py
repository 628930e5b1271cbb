"""Derivations for BatchNorm's forward outputs under sections: when they match, and tiny sections.

One channel, ``eps > 0`` and ``gamma != 0``. Section ``S_j`` has mean ``mu_j``, biased variance
``sigma^2_j`` and scale ``s_j = sqrt(sigma^2_j + eps)``; the batch has ``mu``, ``sigma^2`` and
``s = sqrt(sigma^2 + eps)``. A section is *constant* when all its values are equal (one value
is the smallest case). The exhaustive cross-check compares square roots exactly:
``a / sqrt(A) = b / sqrt(B)`` with ``A, B > 0`` exactly when ``a, b`` have the same sign and
``a^2 B = b^2 A``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from fractions import Fraction

import sympy

from efx.proofs.derivation import (
    Derivation,
    Relation,
    Scope,
    Step,
    algebra,
    computation,
    definition,
    lemma,
)
from efx.proofs.ga_batchnorm import biased_statistics, split_sections
from efx.proofs.ga_batchnorm_backward import COEFFICIENTS, eps, grouped_outputs, normalised

SYMBOLS = (
    ("S_j", "section j: its values of the channel, over samples and spatial positions"),
    (
        "\\mu_j, \\sigma^2_j, s_j = \\sqrt{\\sigma^2_j+\\epsilon}",
        "section j's mean, biased variance and scale",
    ),
    ("\\mu, \\sigma^2, s = \\sqrt{\\sigma^2+\\epsilon}", "the batch's"),
    ("\\epsilon > 0,\\ \\gamma \\ne 0,\\ \\beta", "BatchNorm's offset and affine parameters"),
)

_a, _b, _c = sympy.symbols("a b c", real=True)
_gap = sympy.Symbol("d", real=True, nonzero=True)
_mu, _mu_j = sympy.symbols("mu mu_j", real=True)
_s, _s_j = sympy.symbols("s s_j", positive=True)
_var, _var_j = sympy.symbols("sigma^2 sigma^2_j", nonnegative=True)
_gamma = sympy.Symbol("gamma", real=True, nonzero=True)
_beta = sympy.Symbol("beta", real=True)


def _affine_part_cancels(_previous: object, _current: object) -> bool:
    return bool(sympy.solve(sympy.Eq(_gamma * _a + _beta, _gamma * _b + _beta), _a) == [_b])


def _two_points_and_constant_sections(_previous: object, _current: object) -> bool:
    # A non-constant section contains two values a != b, written b = a + d with d != 0. The two
    # equations then fix mu_j and s_j.
    b = _a + _gap
    system = [(_a - _mu_j) / _s_j - (_a - _mu) / _s, (b - _mu_j) / _s_j - (b - _mu) / _s]
    unique = sympy.solve(system, [_mu_j, _s_j], dict=True) == [{_mu_j: _mu, _s_j: _s}]
    # Conversely, equal statistics give equal maps at every value x_i.
    converse = sympy.simplify((_c - _mu) / _s - (_c - _mu) / _s) == 0
    # A constant section (x_i = mu_j) normalises to 0, the batch's map gives 0 only at mu.
    constant = sympy.solve(sympy.Eq(0, (_c - _mu) / _s), _c) == [_mu]
    return bool(unique and converse and constant)


def _scale_fixes_variance(_previous: object, _current: object) -> bool:
    return bool(sympy.solve(sympy.sqrt(_var_j + eps) - sympy.sqrt(_var + eps), _var_j) == [_var])


@functools.cache
def forward_match() -> Derivation:
    """Derive when the outputs of train-mode BatchNorm on sections equal those on the full batch."""
    steps = (
        Step(
            r"\gamma \frac{x_i - \mu_j}{s_j} + \beta = \gamma \frac{x_i - \mu}{s} + \beta \quad \text{for every } j \text{ and } i \in S_j",
            definition("the accumulated outputs equal the full-batch outputs"),
        ),
        Step(
            r"\frac{x_i - \mu_j}{s_j} = \frac{x_i - \mu}{s} \quad \text{for every } j \text{ and } i \in S_j",
            algebra(r"subtract $\beta$, divide by $\gamma \ne 0$"),
            relation=Relation.IFF,
            check=_affine_part_cancels,
        ),
        Step(
            r"\mu_j = \mu \text{ for every } j, \text{ and } s_j = s \text{ for every non-constant } S_j",
            lemma("an affine map with nonzero slope is fixed by its values at two distinct points"),
            relation=Relation.IFF,
            check=_two_points_and_constant_sections,
            prose=(
                r"Both sides are affine in $x_i$ with slopes $1/s_j$ and $1/s$. A non-constant section contains two "
                r"values $a \ne b$, and agreeing at both makes the maps equal. A constant section has "
                r"$x_i = \mu_j$, so its left side is 0, and the right side is 0 only at $x_i = \mu$."
            ),
        ),
        Step(
            r"\mu_j = \mu \text{ for every } j, \text{ and } \sigma^2_j = \sigma^2 \text{ for every non-constant } S_j",
            algebra(r"$s_j^2 - \epsilon = \sigma^2_j$, and $s_j, s > 0$"),
            relation=Relation.IFF,
            check=_scale_fixes_variance,
        ),
        Step(
            r"\mu_j = \mu \text{ and } \sigma^2_j = \sigma^2 \text{ for every } j",
            lemma("law of total variance"),
            relation=Relation.IFF,
            prose=(
                r"A constant section has $\sigma^2_j = 0$. If one existed beside a non-constant section, the law "
                r"of total variance with every $\mu_j = \mu$ would give $\sigma^2 = W \sigma^2$ with "
                r"$W = \sum_{\text{non-constant}} q_j/n \in (0, 1)$, so $\sigma^2 = 0$, which contradicts "
                r"$\sigma^2_j = \sigma^2 > 0$ for the non-constant one. So either no section is constant, or all "
                r"are constant at $\mu$: then the batch is constant and $\sigma^2_j = 0 = \sigma^2$."
            ),
        ),
    )
    return Derivation(
        claim="bn.forward-match",
        title="Sections reproduce the full-batch outputs exactly when each has the batch's mean and variance",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion=(
            "Per channel, for every eps > 0 and gamma != 0: the outputs agree on every sample if and only if "
            "every section has the batch's mean and the batch's biased variance (a constant batch included)."
        ),
    )


FORWARD_VALUES = (0, 1, 2)
FORWARD_MAX_BATCH = 6
FORWARD_EPSILONS = (Fraction(1, 10), Fraction(2))


def _same_ratio(a: Fraction, big_a: Fraction, b: Fraction, big_b: Fraction) -> bool:
    # a / sqrt(A) == b / sqrt(B) for A, B > 0, decided in rationals.
    same_sign = (a > 0) == (b > 0) and (a < 0) == (b < 0)
    return same_sign and a * a * big_b == b * b * big_a


def _compositions(total: int) -> Iterator[tuple[int, ...]]:
    for cuts in itertools.product((False, True), repeat=total - 1):
        sizes, size = [], 1
        for cut in cuts:
            if cut:
                sizes.append(size)
                size = 1
            else:
                size += 1
        yield (*sizes, size)


@functools.cache
def _exact_statistics(values: tuple[int, ...]) -> tuple[Fraction, Fraction]:
    return biased_statistics([Fraction(v) for v in values])


def _condition_matches_outputs(max_batch: int) -> bool:
    for size in range(1, max_batch + 1):
        for batch in itertools.product(FORWARD_VALUES, repeat=size):
            mean, variance = _exact_statistics(batch)
            for section_sizes in _compositions(size):
                sections = split_sections(batch, section_sizes)
                stats = [_exact_statistics(tuple(s)) for s in sections]
                condition = all(st == (mean, variance) for st in stats)
                for epsilon in FORWARD_EPSILONS:
                    agree = all(
                        _same_ratio(v - mu_j, var_j + epsilon, v - mean, variance + epsilon)
                        for values, (mu_j, var_j) in zip(sections, stats, strict=True)
                        for v in values
                    )
                    if agree != condition:
                        return False
    return True


@functools.cache
def forward_match_instances() -> Derivation:
    """Cross-check the condition against exact outputs for every small batch and every partition."""
    statement = (
        rf"\forall\, n \le {FORWARD_MAX_BATCH},\ x \in \{{{', '.join(map(str, FORWARD_VALUES))}\}}^n,\ "
        r"\text{every split into consecutive sections},\ \epsilon \in \{\tfrac{1}{10}, 2\}:\ "
        r"\big(y^{\text{acc}} = y\big) \iff \big(\mu_j = \mu \text{ and } \sigma^2_j = \sigma^2 \text{ for every } j\big)"
    )
    return Derivation(
        claim="bn.forward-match",
        title="Exhaustive exact cross-check of the condition",
        scope=Scope.INSTANCES,
        bound=f"every batch of n <= {FORWARD_MAX_BATCH} values in {set(FORWARD_VALUES)}, every partition, eps in {{1/10, 2}}",
        steps=(
            Step(
                statement,
                computation("rational arithmetic, square roots compared through squares and signs"),
                check=lambda _p, _c: _condition_matches_outputs(FORWARD_MAX_BATCH),
            ),
        ),
        conclusion="The condition and exact equality of the outputs agree on every case; this cross-checks the general argument.",
    )


DEGENERATE_VALUES = (-1, 1, 1, 1, -1, -1)
DEGENERATE_SIZES = (2, 2, 2)


@functools.cache
def degenerate_sections_example() -> Derivation:
    """Check exactly that matching statistics only in the non-constant sections is not enough."""
    statement = (
        r"x = (-1, 1 \mid 1, 1 \mid -1, -1):\ \mu_1 = \mu = 0,\ \sigma^2_1 = \sigma^2 = 1,\ "
        r"y^{\text{acc}} = \big(\tfrac{-1}{\sqrt{1+\epsilon}}, \tfrac{1}{\sqrt{1+\epsilon}}, 0, 0, 0, 0\big) \ne "
        r"y = \tfrac{1}{\sqrt{1+\epsilon}}(-1, 1, 1, 1, -1, -1)"
    )

    def holds(_previous: object, _current: object) -> bool:
        values = [sympy.Integer(v) for v in DEGENERATE_VALUES]
        unit = 1 / sympy.sqrt(1 + eps)
        full_expected = [v * unit for v in values]
        sections_expected = [-unit, unit, 0, 0, 0, 0]
        full, sections = normalised(values), grouped_outputs(values, DEGENERATE_SIZES)
        equal = [
            sympy.simplify(a - b) == 0
            for a, b in (
                *zip(full, full_expected, strict=True),
                *zip(sections, sections_expected, strict=True),
            )
        ]
        stats = biased_statistics([Fraction(v) for v in DEGENERATE_VALUES[:2]])
        return all(equal) and stats == biased_statistics(
            [Fraction(v) for v in DEGENERATE_VALUES]
        ) == (Fraction(0), Fraction(1))

    return Derivation(
        claim="bn.forward-match",
        title="Constant sections break the match even when the other sections have the batch's statistics",
        scope=Scope.INSTANCES,
        bound="the one example shown, exact, for every eps > 0",
        steps=(Step(statement, computation("exact outputs of both groupings"), check=holds),),
    )


_lo, _hi = sympy.symbols("a b", real=True)
_t = sympy.Symbol("t", nonnegative=True)


def _pair_statistics_substituted(previous: sympy.Expr, current: sympy.Expr) -> bool:
    mean, variance = sympy.Symbol("mu_G"), sympy.Symbol("sigma^2_G")
    pair_mean = (_lo + _hi) / 2
    pair_variance = ((_lo - pair_mean) ** 2 + (_hi - pair_mean) ** 2) / 2
    substituted = previous.subs({mean: pair_mean, variance: pair_variance})
    return bool(sympy.simplify(substituted - current) == 0)


def _sign_form(previous: sympy.Expr, current: sympy.Expr) -> bool:
    # a != b: write a = b + d with d != 0, so sympy can use that the gap is nonzero.
    gap = {_lo: _hi + _gap}
    return bool(sympy.simplify(previous.subs(gap) - current.subs(gap)) == 0)


def _never_below(previous: sympy.Expr, current: sympy.Expr) -> bool:
    # previous >= current for every t >= 0: the set where it fails is empty.
    return bool(
        sympy.solveset(previous - current < 0, _t, sympy.Interval(0, sympy.oo)) == sympy.S.EmptySet
    )


@functools.cache
def two_values() -> Derivation:
    """Derive the normalised value of a two-value group: ``sign(a - b) / sqrt(1 + 4 eps / (a - b)^2)``."""
    mean, variance = sympy.Symbol("mu_G"), sympy.Symbol("sigma^2_G")
    start = (_lo - mean) / sympy.sqrt(variance + eps)
    pair = ((_lo - _hi) / 2) / sympy.sqrt((_lo - _hi) ** 2 / 4 + eps)
    signed = sympy.sign(_lo - _hi) / sympy.sqrt(1 + 4 * eps / (_lo - _hi) ** 2)
    steps = (
        Step(
            start,
            definition("the group is {a, b}: normalise a"),
            latex=r"\hat{x}_a = " + sympy.latex(start),
        ),
        Step(
            pair,
            definition(r"$\mu_G = \frac{a+b}{2}$, $\sigma^2_G = \frac{(a-b)^2}{4}$"),
            check=_pair_statistics_substituted,
        ),
        Step(signed, algebra(r"$a \ne b$: divide by $\lvert a - b \rvert / 2$"), check=_sign_form),
    )
    return Derivation(
        claim="bn.tiny-sections",
        title="A group of two distinct values normalises to about -1 and +1, whatever the values",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("a \\ne b", "the two values of the channel in the group"),
            ("\\epsilon > 0", "BatchNorm's offset"),
        ),
        conclusion="b gets the opposite value; the magnitude depends only on (a - b)^2 / eps.",
    )


@functools.cache
def two_values_bound() -> Derivation:
    """Derive ``1 - 2 eps / (a - b)^2 <= |xhat| < 1`` for a two-value group, with t = 4 eps / (a - b)^2."""
    steps = (
        Step(
            1 / sympy.sqrt(1 + _t),
            definition(r"$\lvert \hat{x}_a \rvert$ with $t = 4\epsilon/(a-b)^2 \ge 0$"),
        ),
        Step(
            1 - _t / 2,
            lemma("solveset finds no t >= 0 where the left side is smaller"),
            relation=Relation.GE,
            check=_never_below,
        ),
    )
    return Derivation(
        claim="bn.tiny-sections",
        title="Two distinct values land within 2 eps / (a - b)^2 of -1 and +1",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("t = 4\\epsilon / (a-b)^2", "the offset relative to the squared gap"),),
        conclusion="So |xhat| >= 1 - 2 eps / (a - b)^2, and |xhat| < 1 because eps > 0.",
    )


SIGN_FLIP_VALUES = (1, 2, 3, 10)
SIGN_FLIP_SIZES = (2, 2)


def head_weight_gradient(section_sizes: tuple[int, ...], normalise: bool = True) -> sympy.Expr:
    """Return ``dL/dw`` for ``L = (1/4) sum_i c_i w z_i`` at ``x = (1, 2, 3, 10)``, exactly.

    ``z`` is BatchNorm's normalised output (gamma = 1, beta = 0) over the given sections, or
    ``x`` itself when ``normalise`` is False. ``eps`` stays symbolic.
    """
    weight = sympy.Symbol("w", real=True)
    values = [sympy.Integer(v) for v in SIGN_FLIP_VALUES]
    features = grouped_outputs(values, section_sizes) if normalise else values
    loss = sum(
        (c * weight * z for c, z in zip(COEFFICIENTS, features, strict=True)), sympy.Integer(0)
    ) / len(values)
    return sympy.diff(loss, weight)


@functools.cache
def sign_flip() -> Derivation:
    """Check exactly that accumulation flips the sign of a head weight's gradient, for every eps > 0."""
    full = -3 / (4 * sympy.sqrt(sympy.Rational(25, 2) + eps))
    accumulated = sympy.Rational(1, 8) / sympy.sqrt(sympy.Rational(1, 4) + eps) + sympy.Rational(
        21, 16
    ) / sympy.sqrt(sympy.Rational(49, 4) + eps)

    def is_full(_previous: object, current: sympy.Expr) -> bool:
        return bool(sympy.simplify(head_weight_gradient((4,)) - current) == 0)

    def is_accumulated(_previous: object, current: sympy.Expr) -> bool:
        return bool(sympy.simplify(head_weight_gradient(SIGN_FLIP_SIZES) - current) == 0)

    def below(previous: sympy.Expr, current: sympy.Expr) -> bool:
        return bool(previous.is_negative and current.is_positive)

    steps = (
        Step(
            full,
            computation(
                r"full batch: $\frac{1}{4}\sum_i c_i \hat{x}_i$ with $\mu = 4$, $\sigma^2 = \frac{25}{2}$"
            ),
            check=is_full,
            latex=r"\frac{\partial L}{\partial w}\Big|_{\text{full}} = " + sympy.latex(full),
        ),
        Step(
            accumulated,
            computation(r"sections $(1, 2 \mid 3, 10)$: each normalised with its own statistics"),
            relation=Relation.LT,
            check=lambda p, c: is_accumulated(p, c) and below(p, c),
            latex=r"0 < "
            + sympy.latex(accumulated)
            + r" = \frac{\partial L}{\partial w}\Big|_{\text{acc}}",
            prose="The left side is negative and the right side positive for every eps > 0.",
        ),
    )
    return Derivation(
        claim="bn.sign-flip",
        title="x = (1, 2, 3, 10), c = (1, 2, -1, 1/2): accumulation flips the sign of dL/dw",
        scope=Scope.INSTANCES,
        bound="the one example shown, exact, for every eps > 0",
        steps=steps,
        symbols=(
            (
                "L = \\frac{1}{4}\\sum_i c_i\\, w\\, \\hat{x}_i",
                "a linear head on BatchNorm's output",
            ),
        ),
    )


@functools.cache
def sign_flip_without_normalisation() -> Derivation:
    """Check exactly that without BatchNorm the same example gives one gradient in both runs."""
    statement = (
        r"z = x:\quad \frac{\partial L}{\partial w}\Big|_{\text{full}} = \frac{\partial L}{\partial w}\Big|_{\text{acc}}"
        r" = \frac{1}{4}\sum_i c_i x_i = \frac{7}{4}"
    )

    def holds(_previous: object, _current: object) -> bool:
        return bool(
            head_weight_gradient((4,), False)
            == sympy.Rational(7, 4)
            == head_weight_gradient(SIGN_FLIP_SIZES, False)
        )

    return Derivation(
        claim="bn.sign-flip",
        title="The same example without BatchNorm: both runs give 7/4",
        scope=Scope.INSTANCES,
        bound="the one example shown, exact",
        steps=(Step(statement, computation("differentiate both explicit losses"), check=holds),),
    )
