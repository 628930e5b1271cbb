"""Derivations for BatchNorm's coupling of samples: its Jacobian, its backward formula, tiny groups.

One channel of one normalisation group ``G`` contains ``N`` values ``x_1, ..., x_N``, with
``mu_G = (1/N) sum_l x_l``, the biased ``sigma^2_G = (1/N) sum_l (x_l - mu_G)^2``,
``s_G = sqrt(sigma^2_G + eps)``, ``xhat_i = (x_i - mu_G) / s_G`` and the output
``y_i = gamma xhat_i + beta``. The exact examples differentiate explicit rational
expressions with ``eps`` kept symbolic, independently of the general formulas.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

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
from efx.proofs.ga_batchnorm import expand_sums

N = sympy.Symbol("N", integer=True, positive=True)
i, k, l = sympy.symbols("i k l", integer=True, positive=True)
x = sympy.IndexedBase("x", real=True)
g = sympy.IndexedBase("g", real=True)
eps = sympy.Symbol("epsilon", positive=True)
gamma = sympy.Symbol("gamma", real=True, nonzero=True)
beta = sympy.Symbol("beta", real=True)
group_mean = sympy.Symbol("mu_G", real=True)
group_var = sympy.Symbol("sigma^2_G", real=True, nonnegative=True)
d_mu = sympy.Symbol(r"\frac{\partial \mu_G}{\partial x_k}")
d_var = sympy.Symbol(r"\frac{\partial \sigma^2_G}{\partial x_k}")
group_scale = sympy.sqrt(group_var + eps)

SYMBOLS = (
    ("N", "values of the channel in the group G"),
    ("x_1, \\dots, x_N", "the group's values"),
    ("\\mu_G, \\sigma^2_G", "the group's mean and biased variance"),
    ("s_G = \\sqrt{\\sigma^2_G + \\epsilon}", "the normalising scale, $\\epsilon > 0$"),
    ("\\hat{x}_i = (x_i - \\mu_G)/s_G", "the normalised value"),
    ("y_i = \\gamma \\hat{x}_i + \\beta", "the output, $\\gamma \\ne 0$"),
    ("g_i = \\partial L / \\partial y_i", "the upstream gradient"),
)

_INDEX = {N: l}
_MEAN = sympy.Sum(x[l], (l, 1, N)) / N
_VARIANCE = sympy.Sum((x[l] - _MEAN) ** 2, (l, 1, N)) / N


def _xhat(index: sympy.Expr) -> sympy.Expr:
    return (x[index] - group_mean) / group_scale


def _inside_group(expr: sympy.Expr) -> sympy.Expr:
    # sympy evaluates sum_l delta_{kl} to Piecewise((1, k <= N), (0, True)); k is a value of the
    # group, so 1 <= k <= N and the first branch applies. Any other condition is left alone.
    def first_branch(piecewise: sympy.Piecewise) -> sympy.Expr:
        value, condition = piecewise.args[0]
        return value if condition in (sympy.Le(k, N), sympy.Ge(N, k)) else piecewise

    return expr.replace(lambda e: isinstance(e, sympy.Piecewise), first_branch)


def _mean_derivative_substituted(previous: sympy.Expr, current: sympy.Expr) -> bool:
    derivative = sympy.simplify(_inside_group(sympy.diff(_MEAN, x[k]).doit()))
    return bool(
        derivative == 1 / N and sympy.simplify(previous.subs(d_mu, derivative) - current) == 0
    )


def _variance_derivative_substituted(previous: sympy.Expr, current: sympy.Expr) -> bool:
    derivative = _inside_group(sympy.diff(_VARIANCE, x[k]).doit())
    expected = 2 * (x[k] - _MEAN) / N
    lemma_holds = (
        sympy.simplify(expand_sums(derivative, _INDEX) - expand_sums(expected, _INDEX)) == 0
    )
    substituted = previous.subs(d_var, 2 * (x[k] - group_mean) / N)
    return bool(lemma_holds and sympy.simplify(substituted - current) == 0)


def _off_diagonal(previous: sympy.Expr, current: sympy.Expr) -> bool:
    return bool(sympy.simplify(previous.subs(sympy.KroneckerDelta(i, k), 0) - current) == 0)


def jacobian_entry() -> sympy.Expr:
    """Return ``dy_i/dx_k = (gamma / s_G) (delta_ik - 1/N - xhat_i xhat_k / N)`` for i, k in G."""
    return gamma / group_scale * (sympy.KroneckerDelta(i, k) - 1 / N - _xhat(i) * _xhat(k) / N)


@functools.cache
def jacobian() -> Derivation:
    """Derive the Jacobian of train-mode BatchNorm within one group, for a symbolic group size N."""
    y = gamma * (x[i] - group_mean) / group_scale + beta
    chain = (
        sympy.diff(y, x[i]) * sympy.KroneckerDelta(i, k)
        + sympy.diff(y, group_mean) * d_mu
        + sympy.diff(y, group_var) * d_var
    )
    partials = (
        gamma * sympy.KroneckerDelta(i, k) / group_scale
        - gamma / group_scale * d_mu
        - gamma * (x[i] - group_mean) / (2 * group_scale**3) * d_var
    )
    after_mean = partials.subs(d_mu, 1 / N)
    after_variance = after_mean.subs(d_var, 2 * (x[k] - group_mean) / N)
    off = -gamma / (N * group_scale) * (1 + _xhat(i) * _xhat(k))
    xhat_latex = (
        r"\frac{\gamma}{s_G}\left(\delta_{ik} - \frac{1}{N} - \frac{\hat{x}_i \hat{x}_k}{N}\right)"
    )
    steps = (
        Step(
            chain,
            definition(
                r"chain rule: $y_i$ depends on $x_k$ directly when $k = i$ and through $\mu_G$, $\sigma^2_G$"
            ),
            latex=r"\frac{\partial y_i}{\partial x_k} = \delta_{ik}\frac{\partial y_i}{\partial x_i} + \frac{\partial y_i}{\partial \mu_G}"
            r"\frac{\partial \mu_G}{\partial x_k} + \frac{\partial y_i}{\partial \sigma^2_G}\frac{\partial \sigma^2_G}{\partial x_k}",
        ),
        Step(
            partials, algebra("partial derivatives of $y_i = \\gamma (x_i - \\mu_G)/s_G + \\beta$")
        ),
        Step(
            after_mean,
            lemma(r"$\partial \mu_G / \partial x_k = 1/N$, from $\mu_G = \frac{1}{N}\sum_l x_l$"),
            check=_mean_derivative_substituted,
        ),
        Step(
            after_variance,
            lemma(
                r"$\partial \sigma^2_G / \partial x_k = \frac{2}{N}(x_k - \mu_G)$, from the sum defining $\sigma^2_G$"
            ),
            check=_variance_derivative_substituted,
        ),
        Step(
            jacobian_entry(),
            algebra(r"collect, with $\hat{x} = (x - \mu_G)/s_G$"),
            latex=xhat_latex,
        ),
        Step(
            off,
            algebra("for $k \\ne i$, $\\delta_{ik} = 0$"),
            relation=Relation.IMPLIES,
            check=_off_diagonal,
            latex=r"-\frac{\gamma}{N s_G}\left(1 + \hat{x}_i \hat{x}_k\right) \quad (k \ne i)",
        ),
    )
    return Derivation(
        claim="bn.group-dependence",
        title="Every output of a group depends on every value of the group",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion=(
            "For k != i in the same group the derivative is nonzero unless xhat_i xhat_k = -1; "
            "for k outside the group it is 0, because y_i's formula does not contain x_k."
        ),
    )


def _kronecker_summed(previous: sympy.Expr, current: sympy.Expr) -> bool:
    summed = _inside_group(previous.doit())
    return bool(sympy.simplify(expand_sums(summed, {N: i}) - expand_sums(current, {N: i})) == 0)


def _jacobian_used(_previous: object, current: sympy.Expr) -> bool:
    # The summand must be g_i times the Jacobian entry that jacobian() derives.
    derived = jacobian().steps[4].expr
    return bool(
        isinstance(current, sympy.Sum) and sympy.simplify(current.function - g[i] * derived) == 0
    )


@functools.cache
def backward_formula() -> Derivation:
    """Derive ``dL/dx_k = (gamma/s_G)(g_k - mean_G(g) - xhat_k mean_G(g xhat))`` for symbolic N."""
    contracted = sympy.Sum(g[i] * jacobian_entry(), (i, 1, N))
    mean_g = sympy.Sum(g[i], (i, 1, N)) / N
    mean_g_xhat = sympy.Sum(g[i] * _xhat(i), (i, 1, N)) / N
    formula = gamma / group_scale * (g[k] - mean_g - _xhat(k) * mean_g_xhat)
    steps = (
        Step(
            r"\frac{\partial L}{\partial x_k} = \sum_{i=1}^{N} g_i \frac{\partial y_i}{\partial x_k}",
            definition("chain rule through the outputs of the group"),
        ),
        Step(
            contracted,
            lemma("the Jacobian derived above"),
            check=_jacobian_used,
            latex=r"\sum_{i=1}^{N} g_i \frac{\gamma}{s_G}\left(\delta_{ik} - \frac{1}{N} - \frac{\hat{x}_i \hat{x}_k}{N}\right)",
        ),
        Step(
            formula,
            algebra(r"$\sum_i g_i \delta_{ik} = g_k$; split the sum"),
            check=_kronecker_summed,
            latex=r"\frac{\gamma}{s_G}\left(g_k - \frac{1}{N}\sum_{i=1}^{N} g_i - \hat{x}_k \frac{1}{N}\sum_{i=1}^{N} g_i \hat{x}_i\right)",
        ),
    )
    return Derivation(
        claim="bn.backward-formula",
        title="BatchNorm's input gradient centres the upstream gradient on the group",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion=(
            "The input gradient depends on the group through the two group means of g and g xhat, "
            "so it changes with the grouping even where xhat does not."
        ),
    )


def normalised(values: Sequence[sympy.Expr], epsilon: sympy.Expr = eps) -> list[sympy.Expr]:
    """Return ``(v - mu) / sqrt(sigma^2 + epsilon)`` for each value of one group, exactly."""
    size = len(values)
    mean = sum(values, sympy.Integer(0)) / size
    variance = sum(((v - mean) ** 2 for v in values), sympy.Integer(0)) / size
    return [(v - mean) / sympy.sqrt(variance + epsilon) for v in values]


def grouped_outputs(values: Sequence[sympy.Expr], section_sizes: Sequence[int]) -> list[sympy.Expr]:
    """Return the normalised values when each consecutive section is its own group."""
    outputs: list[sympy.Expr] = []
    start = 0
    for size in section_sizes:
        outputs += normalised(values[start : start + size])
        start += size
    return outputs


EQUAL_STATS_VALUES = (-1, 1, 1, -1)
EQUAL_STATS_SIZES = (2, 2)
COEFFICIENTS = (sympy.Integer(1), sympy.Integer(2), sympy.Integer(-1), sympy.Rational(1, 2))
"""The loss weights ``c`` of the worked examples: ``L = (1/4) sum_i c_i y_i``."""


@functools.cache
def linear_loss_input_gradient(
    section_sizes: tuple[int, ...], values: tuple[int, ...]
) -> tuple[sympy.Expr, ...]:
    """Return ``dL/dx_i`` at ``values`` for ``L = (1/n) sum_i c_i y_i``, gamma = 1, beta = 0, exactly.

    The loss is built from explicit expressions in free symbols and differentiated by sympy,
    with no use of the backward formula.
    """
    symbols = sympy.symbols(f"v1:{len(values) + 1}", real=True)
    outputs = grouped_outputs(symbols, section_sizes)
    loss = sum((c * y for c, y in zip(COEFFICIENTS, outputs, strict=True)), sympy.Integer(0)) / len(
        values
    )
    at_values = dict(zip(symbols, values, strict=True))
    return tuple(sympy.simplify(sympy.diff(loss, v).subs(at_values)) for v in symbols)


@functools.cache
def equal_forward_example() -> Derivation:
    """Check exactly that ``x = (-1, 1 | 1, -1)`` gives the same forward outputs with and without sections."""
    statement = (
        r"x = (-1, 1 \mid 1, -1):\quad \mu_1 = \mu_2 = \mu = 0,\quad \sigma^2_1 = \sigma^2_2 = \sigma^2 = 1,\quad "
        r"y^{\text{acc}}_i = y_i = \frac{x_i}{\sqrt{1+\epsilon}}"
    )

    def holds(_previous: object, _current: object) -> bool:
        values = [sympy.Integer(v) for v in EQUAL_STATS_VALUES]
        expected = [v / sympy.sqrt(1 + eps) for v in values]
        full, sections = normalised(values), grouped_outputs(values, EQUAL_STATS_SIZES)
        return all(
            sympy.simplify(a - e) == 0 and sympy.simplify(b - e) == 0
            for a, b, e in zip(full, sections, expected, strict=True)
        )

    return Derivation(
        claim="bn.backward-differs",
        title="Equal statistics in every section: equal forward outputs",
        scope=Scope.INSTANCES,
        bound="the one example shown, exact, for every eps > 0",
        steps=(Step(statement, computation("exact outputs of both groupings"), check=holds),),
    )


@functools.cache
def backward_difference_example() -> Derivation:
    """Check exactly that the same example has a different input gradient, for every eps > 0."""
    scale = (1 + eps) ** sympy.Rational(3, 2)
    full = (2 + 3 * eps) / (32 * scale)
    accumulated = -eps / (8 * scale)

    def both_sides(_previous: object, current: sympy.Expr) -> bool:
        full_gradient = linear_loss_input_gradient((4,), EQUAL_STATS_VALUES)[0]
        section_gradient = linear_loss_input_gradient(EQUAL_STATS_SIZES, EQUAL_STATS_VALUES)[0]
        return bool(
            sympy.simplify(full_gradient - full) == 0
            and sympy.simplify(section_gradient - accumulated) == 0
            and sympy.simplify(current - (full - accumulated)) == 0
        )

    def positive(previous: sympy.Expr, current: sympy.Expr) -> bool:
        return bool(current == 0 and previous.is_positive)

    steps = (
        Step(
            r"\Delta_1 = \frac{\partial L}{\partial x_1}\Big|_{\text{full}} - \frac{\partial L}{\partial x_1}\Big|_{\text{acc}}",
            definition(
                r"$L = \frac{1}{4}\sum_i c_i y_i$, $c = (1, 2, -1, \tfrac{1}{2})$, $\gamma = 1$, $\beta = 0$"
            ),
        ),
        Step(
            full - accumulated,
            computation("differentiate both explicit losses at x"),
            check=both_sides,
            latex=sympy.latex(full) + " - \\left(" + sympy.latex(accumulated) + "\\right)",
        ),
        Step((2 + 7 * eps) / (32 * scale), algebra("common denominator")),
        Step(
            sympy.Integer(0),
            algebra("every factor is positive for eps > 0"),
            relation=Relation.GT,
            check=positive,
        ),
    )
    return Derivation(
        claim="bn.backward-differs",
        title="Equal forward outputs, different input gradients",
        scope=Scope.INSTANCES,
        bound="the one example shown, exact, for every eps > 0",
        steps=steps,
        conclusion="The full batch gives x_1 a positive gradient, accumulation a negative one, whatever eps > 0.",
    )
