"""Derivations for BatchNorm under gradient accumulation (question ``ga-batchnorm``): statistics.

Symbols follow the notation page. One channel of a batch contains ``n`` values split into
``m`` sections. Section ``j`` contains the ``q_j`` values ``x_{j,k}``, ``k = 1, ..., q_j``, so
``n = sum_j q_j``. For a convolution a section's values are its samples times its spatial
positions. ``mu`` and ``sigma^2`` are the batch's mean and biased variance, ``mu_j`` and
``sigma^2_j`` those of section ``j``.

Sums with symbolic bounds are compared through :func:`expand_sums`, which splits every sum
over the terms of its summand, moves factors that do not depend on the summation index out
of it, and renames bound indices canonically, so sympy compares polynomials in a few sum atoms.
The backward pass, the forward condition and the running statistics live in sibling modules.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import TypeVar

import sympy

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

T = TypeVar("T")

m = sympy.Symbol("m", integer=True, positive=True)
q = sympy.Symbol("q", integer=True, positive=True)
n = sympy.Symbol("n", integer=True, positive=True)
j, k, l = sympy.symbols("j k l", integer=True, positive=True)
x = sympy.IndexedBase("x", real=True)
sizes = sympy.IndexedBase("q", integer=True, positive=True)
section_mean = sympy.IndexedBase("mu", real=True)
section_var = sympy.IndexedBase("sigma^2", real=True, nonnegative=True)
mu = sympy.Symbol("mu", real=True)
var = sympy.Symbol("sigma^2", real=True, nonnegative=True)

SYMBOLS = (
    ("m", "number of sections"),
    ("q_j", "values of the channel in section j (samples times spatial positions)"),
    ("n = \\sum_j q_j", "values of the channel in the batch"),
    ("x_{j,k}", "value k of section j"),
    ("\\mu, \\sigma^2", "the batch's mean and biased variance"),
    ("\\mu_j, \\sigma^2_j", "section j's mean and biased variance"),
)

# Canonical names for bound indices, keyed by the upper bound of their sum.
_CANONICAL_INDEX: Mapping[sympy.Expr, sympy.Symbol] = {sizes[j]: k, m: j}


def expand_sums(
    expr: sympy.Expr, canonical: Mapping[sympy.Expr, sympy.Symbol] = _CANONICAL_INDEX
) -> sympy.Expr:
    """Rewrite every sum in ``expr`` as a linear combination of sums of monomials.

    Inner sums are rewritten first. A summand is expanded into terms. Factors of a term that
    do not depend on the index move out of the sum, and a sum of a constant becomes the
    constant times the number of terms. A bound index is renamed to ``canonical[upper bound]``
    unless that symbol occurs free in the summand, so equal sums compare equal.
    """
    if isinstance(expr, sympy.Sum):
        body = expand_sums(expr.function, canonical)
        for limit in expr.limits:
            body = _expand_one_sum(body, limit, canonical)
        return body
    if expr.args:
        return expr.func(*(expand_sums(arg, canonical) for arg in expr.args))
    return expr


def _expand_one_sum(
    body: sympy.Expr, limit: tuple[sympy.Expr, ...], canonical: Mapping[sympy.Expr, sympy.Symbol]
) -> sympy.Expr:
    index, lower, upper = limit
    target = canonical.get(upper, index)
    if target != index and target not in body.free_symbols:
        body = body.xreplace({index: target})
        index = target
    total = sympy.Integer(0)
    for term in sympy.Add.make_args(sympy.expand(body)):
        constant, varying = term.as_independent(index, as_Add=False)
        if varying == 1:
            total += constant * (upper - lower + 1)
        else:
            total += constant * sympy.Sum(varying, (index, lower, upper))
    return total


def _mean_definition(section: sympy.Expr) -> sympy.Expr:
    return sympy.Sum(x[section, l], (l, 1, sizes[section])) / sizes[section]


def _var_definition(section: sympy.Expr) -> sympy.Expr:
    return (
        sympy.Sum((x[section, l] - section_mean[section]) ** 2, (l, 1, sizes[section]))
        / sizes[section]
    )


def substitute_section_definitions(expr: sympy.Expr) -> sympy.Expr:
    """Replace ``sigma^2_j`` and ``mu_j`` by their defining sums over section ``j``."""
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Indexed) and e.base == section_var,
        lambda e: _var_definition(e.indices[0]),
    )
    return expr.replace(
        lambda e: isinstance(e, sympy.Indexed) and e.base == section_mean,
        lambda e: _mean_definition(e.indices[0]),
    )


def sums_equal(previous: sympy.Expr, current: sympy.Expr) -> bool:
    """Check ``previous == current`` after :func:`expand_sums` on both sides."""
    return bool(sympy.simplify(expand_sums(previous) - expand_sums(current)) == 0)


def sums_equal_by_definitions(previous: sympy.Expr, current: sympy.Expr) -> bool:
    """Check ``previous == current`` once section means and variances are replaced by their definitions."""
    return sums_equal(
        substitute_section_definitions(previous), substitute_section_definitions(current)
    )


def equal_sizes(expr: sympy.Expr) -> sympy.Expr:
    """Set every section size to ``q``, so ``n = mq``."""
    return expr.xreplace({sizes[j]: q, n: m * q})


def _under_equal_sizes(previous: sympy.Expr, current: sympy.Expr) -> bool:
    return sums_equal(equal_sizes(previous), current)


def _weighted(term: sympy.Expr) -> sympy.Expr:
    return sympy.Sum(sizes[j] / n * term, (j, 1, m))


BATCH_SUM = sympy.Sum(sympy.Sum(x[j, k], (k, 1, sizes[j])), (j, 1, m))
BATCH_VARIANCE = sympy.Sum(sympy.Sum((x[j, k] - mu) ** 2, (k, 1, sizes[j])), (j, 1, m)) / n
"""The batch's biased variance, its values grouped by section."""


@functools.cache
def section_mean_identity() -> Derivation:
    """Derive ``mu = sum_j (q_j / n) mu_j``, and ``mu = (1/m) sum_j mu_j`` for equal sizes."""
    batch = BATCH_SUM / n
    steps = (
        Step(
            batch,
            definition("batch mean, its values grouped by section"),
            latex=r"\mu = " + sympy.latex(batch),
        ),
        Step(
            _weighted(section_mean[j]),
            definition(r"$\mu_j = \frac{1}{q_j}\sum_k x_{j,k}$"),
            check=sums_equal_by_definitions,
        ),
        Step(
            sympy.Sum(section_mean[j], (j, 1, m)) / m,
            assumption("equal sizes: $q_j = q$, $n = mq$"),
            check=_under_equal_sizes,
        ),
    )
    return Derivation(
        claim="bn.section-mean",
        title="The batch mean is the size-weighted mean of the section means",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion="For any sizes the weights are q_j / n; with equal sizes they are all 1/m.",
    )


def _sum_of_nonnegative_terms(previous: sympy.Expr, current: sympy.Expr) -> bool:
    # previous >= current holds when their difference is a sum whose every term is >= 0.
    difference = previous - current
    return bool(isinstance(difference, sympy.Sum) and difference.function.is_nonnegative)


@functools.cache
def total_variance() -> Derivation:
    """Derive the law of total variance for sections of any sizes, then for equal sizes."""
    deviation = x[j, k] - section_mean[j]
    offset = section_mean[j] - mu
    split = (
        sympy.Sum(
            sympy.Sum(deviation**2, (k, 1, sizes[j]))
            + 2 * offset * sympy.Sum(deviation, (k, 1, sizes[j]))
            + sizes[j] * offset**2,
            (j, 1, m),
        )
        / n
    )
    collected = sympy.Sum(sizes[j] * section_var[j] + sizes[j] * offset**2, (j, 1, m)) / n
    weighted = _weighted(section_var[j]) + _weighted(offset**2)
    equal = sympy.Sum(section_var[j], (j, 1, m)) / m + sympy.Sum(offset**2, (j, 1, m)) / m
    steps = (
        Step(
            BATCH_VARIANCE,
            definition("biased batch variance, values grouped by section"),
            latex=r"\sigma^2 = " + sympy.latex(BATCH_VARIANCE),
        ),
        Step(
            split,
            algebra(
                r"write $x_{j,k}-\mu = (x_{j,k}-\mu_j) + (\mu_j-\mu)$, expand the square, split the inner sum"
            ),
            check=sums_equal,
        ),
        Step(
            collected,
            lemma(
                r"deviations from $\mu_j$ sum to 0 over section j; $\sigma^2_j = \frac{1}{q_j}\sum_k (x_{j,k}-\mu_j)^2$"
            ),
            check=sums_equal_by_definitions,
        ),
        Step(weighted, algebra("split the sum over sections"), check=sums_equal),
        Step(equal, assumption("equal sizes: $q_j = q$, $n = mq$"), check=_under_equal_sizes),
    )
    return Derivation(
        claim="bn.section-variance",
        title="Law of total variance over the sections",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion=(
            "The batch variance is the weighted mean of the section variances plus the weighted "
            "variance of the section means around the batch mean, for every m and all sizes."
        ),
    )


@functools.cache
def mean_section_variance_bound() -> Derivation:
    """Derive ``sum_j (q_j/n) sigma^2_j <= sigma^2``, with equality exactly when every ``mu_j = mu``."""
    within = _weighted(section_var[j])
    between = _weighted((section_mean[j] - mu) ** 2)

    def total_variance_holds(_previous: object, current: sympy.Expr) -> bool:
        return sums_equal_by_definitions(BATCH_VARIANCE, current)

    steps = (
        Step(var, definition("biased batch variance"), latex=r"\sigma^2"),
        Step(
            within + between,
            lemma("law of total variance (derived above)"),
            check=total_variance_holds,
        ),
        Step(
            within,
            lemma("each dropped term $\\frac{q_j}{n}(\\mu_j-\\mu)^2 \\ge 0$"),
            relation=Relation.GE,
            check=_sum_of_nonnegative_terms,
            prose="Equality holds exactly when every dropped term is 0, that is when every $\\mu_j = \\mu$, since $q_j > 0$.",
        ),
        Step(
            sympy.Sum(section_var[j], (j, 1, m)) / m,
            assumption("equal sizes: $q_j = q$, $n = mq$"),
            check=_under_equal_sizes,
        ),
    )
    return Derivation(
        claim="bn.section-variance",
        title="The mean section variance never exceeds the batch variance",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion="Averaged over sections (weights q_j / n), a section's variance is at most the batch's.",
    )


def biased_statistics(values: list[Fraction]) -> tuple[Fraction, Fraction]:
    """Return the exact mean and biased variance of a list of rationals."""
    mean = sum(values, Fraction(0)) / len(values)
    return mean, sum(((v - mean) ** 2 for v in values), Fraction(0)) / len(values)


def split_sections(values: Sequence[T], section_sizes: Sequence[int]) -> list[list[T]]:
    """Cut ``values`` into consecutive sections of the given sizes."""
    bounds = [0]
    for size in section_sizes:
        bounds.append(bounds[-1] + size)
    return [list(values[a:b]) for a, b in itertools.pairwise(bounds)]


def _exact_example(
    values: tuple[int, ...], section_sizes: tuple[int, ...], claim: Callable[..., bool]
) -> Callable[[object, object], bool]:
    # A check that recomputes the example's statistics in rational arithmetic and tests the claim on them.
    def check(_previous: object, _current: object) -> bool:
        batch = [Fraction(v) for v in values]
        sections = [biased_statistics(s) for s in split_sections(batch, section_sizes)]
        return claim(biased_statistics(batch), sections)

    return check


@functools.cache
def section_variance_examples() -> Derivation:
    """Check exactly that single sections can have a smaller or a larger variance than the batch."""
    statement = (
        r"x = (0, 0 \mid -1, 1):\quad \sigma^2 = \tfrac{1}{2},\quad \sigma_1^2 = 0 < \sigma^2,\quad \sigma_2^2 = 1 > \sigma^2,"
        r"\quad \tfrac{1}{2}(\sigma_1^2 + \sigma_2^2) = \tfrac{1}{2} \le \sigma^2"
    )

    def holds(batch: tuple[Fraction, Fraction], sections: list[tuple[Fraction, Fraction]]) -> bool:
        (_, batch_var), ((_, var_1), (_, var_2)) = batch, sections
        half = Fraction(1, 2)
        return batch_var == half and var_1 == 0 and var_2 == 1 and (var_1 + var_2) / 2 == half

    return Derivation(
        claim="bn.section-variance",
        title="A section variance can lie below or above the batch variance",
        scope=Scope.INSTANCES,
        bound="the one example shown, in exact rational arithmetic",
        steps=(
            Step(
                statement,
                computation("means and biased variances in rationals"),
                check=_exact_example((0, 0, -1, 1), (2, 2), holds),
            ),
        ),
        conclusion="Only the weighted mean of the section variances is bounded by the batch variance, not each section's.",
    )


@functools.cache
def unequal_sizes_example() -> Derivation:
    """Check exactly that with unequal sizes the plain mean of the section means can miss the batch mean."""
    statement = (
        r"x = (0 \mid 2, 4):\quad \mu = 2,\quad \mu_1 = 0,\ \mu_2 = 3,\quad "
        r"\tfrac{1}{2}(\mu_1 + \mu_2) = \tfrac{3}{2} \ne \mu = \tfrac{1}{3}\mu_1 + \tfrac{2}{3}\mu_2"
    )

    def holds(batch: tuple[Fraction, Fraction], sections: list[tuple[Fraction, Fraction]]) -> bool:
        (batch_mean, _), ((mean_1, _), (mean_2, _)) = batch, sections
        plain = (mean_1 + mean_2) / 2
        weighted = Fraction(1, 3) * mean_1 + Fraction(2, 3) * mean_2
        return (
            batch_mean == 2 == weighted
            and (mean_1, mean_2) == (Fraction(0), Fraction(3))
            and plain == Fraction(3, 2)
        )

    return Derivation(
        claim="bn.section-mean",
        title="Unequal sizes: the plain mean of section means differs from the batch mean",
        scope=Scope.INSTANCES,
        bound="the one example shown, in exact rational arithmetic",
        steps=(
            Step(
                statement,
                computation("means in rationals"),
                check=_exact_example((0, 2, 4), (1, 2), holds),
            ),
        ),
        conclusion="With unequal sizes the section means must be weighted by q_j / n.",
    )
