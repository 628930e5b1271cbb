"""Derivations for BatchNorm's running statistics when one optimizer step runs m updates.

A running buffer ``r`` (``running_mean`` or ``running_var``) starts the step at ``r_0``. Each of
the ``m`` sections updates it once with its statistic ``z_t``: its mean for ``running_mean``,
its unbiased variance ``sigma^2_t N_t / (N_t - 1)`` for ``running_var``, with ``N_t`` values
per channel. With momentum ``alpha`` the update is ``r_t = (1 - alpha) r_{t-1} + alpha z_t``;
with ``momentum=None`` torch uses ``alpha = 1 / (t_0 + t)``, ``t_0`` the counter before the step.
"""

from __future__ import annotations

import functools

import sympy

from efx.proofs.derivation import (
    Derivation,
    Scope,
    Step,
    assumption,
    definition,
    induction,
    lemma,
)
from efx.proofs.ga_batchnorm import expand_sums

alpha = sympy.Symbol("alpha", positive=True)
m, t = sympy.symbols("m t", integer=True, nonnegative=True)
tracked = sympy.Symbol("t_0", integer=True, nonnegative=True)
j = sympy.Symbol("j", integer=True, positive=True)
z = sympy.IndexedBase("z", real=True)
r_0, z_batch, z_common = sympy.symbols("r_0 z_B z", real=True)

SYMBOLS = (
    ("r_0", "the buffer before the optimizer step"),
    ("z_t", "the statistic section t feeds in: its mean, or its unbiased variance"),
    ("\\alpha \\in (0, 1)", "the momentum"),
    ("z_B", "the statistic of the whole batch, fed in once without accumulation"),
)


def closed_form(steps: sympy.Expr) -> sympy.Expr:
    """Return ``(1 - alpha)^steps r_0 + alpha sum_{j <= steps} (1 - alpha)^(steps - j) z_j``."""
    return (1 - alpha) ** steps * r_0 + alpha * sympy.Sum(
        (1 - alpha) ** (steps - j) * z[j], (j, 1, steps)
    )


def _peel_last(expr: sympy.Expr, last: sympy.Expr) -> sympy.Expr:
    # sum_{j=1}^{last} f(j) = sum_{j=1}^{last-1} f(j) + f(last), applied to every sum that ends at last.
    def peel(total: sympy.Sum) -> sympy.Expr:
        (index, lower, upper), body = total.limits[0], total.function
        if upper != last:
            return total
        return sympy.Sum(body, (index, lower, upper - 1)) + body.subs(index, last)

    return expr.replace(lambda e: isinstance(e, sympy.Sum), peel)


_decay = sympy.Symbol("rho", positive=True)


def _same(previous: sympy.Expr, current: sympy.Expr) -> bool:
    # With rho = 1 - alpha > 0 sympy splits rho^(t + 1 - j) into rho * rho^t * rho^(-j), so
    # factors free of j leave the sums and equal sums cancel.
    difference = (previous - current).subs(alpha, 1 - _decay)
    return bool(sympy.simplify(expand_sums(difference, {t: j, m: j})) == 0)


def _closed_form_by_induction(_previous: object, current: sympy.Expr) -> bool:
    base = sympy.simplify(closed_form(sympy.Integer(0)).doit() - r_0) == 0
    after = _peel_last(closed_form(t + 1), t + 1)
    step = _same(after, (1 - alpha) * closed_form(t) + alpha * z[t + 1])
    return bool(base and step and current == closed_form(m))


def _common_statistic(previous: sympy.Expr, current: sympy.Expr) -> bool:
    equal = previous.replace(
        lambda e: isinstance(e, sympy.Indexed) and e.base == z, lambda _e: z_common
    )
    return bool(sympy.simplify(sympy.simplify(equal.doit()) - current) == 0)


@functools.cache
def running_closed_form() -> Derivation:
    """Derive the buffer after m momentum updates, and its form when every section feeds the same value."""
    equal = (1 - alpha) ** m * r_0 + (1 - (1 - alpha) ** m) * z_common
    steps = (
        Step(
            sympy.Symbol("r_m"),
            definition(r"$r_t = (1-\alpha) r_{t-1} + \alpha z_t$ for $t = 1, \dots, m$"),
        ),
        Step(
            closed_form(m),
            induction("base m = 0, and closed form at t + 1 = one update of the closed form at t"),
            check=_closed_form_by_induction,
            prose="sympy checks the base case and the induction step; the induction principle is the rule.",
        ),
        Step(
            equal,
            assumption("every section feeds the same value z (geometric sum)"),
            check=_common_statistic,
        ),
    )
    return Derivation(
        claim="bn.running-stats",
        title="The running buffer after m momentum updates",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion="m updates act like one update with momentum 1 - (1 - alpha)^m when every section feeds the same value.",
    )


@functools.cache
def running_difference() -> Derivation:
    """Derive how far m section updates leave the buffer from one full-batch update."""
    once = (1 - alpha) * r_0 + alpha * z_batch
    start = sympy.Symbol("r_m") - once
    expanded = closed_form(m) - once
    common = ((1 - alpha) ** m - (1 - alpha)) * (r_0 - z_common)

    def closed_form_substituted(previous: sympy.Expr, current: sympy.Expr) -> bool:
        return bool(
            sympy.simplify(previous.subs(sympy.Symbol("r_m"), closed_form(m)) - current) == 0
        )

    def batch_equals_sections(previous: sympy.Expr, current: sympy.Expr) -> bool:
        return _common_statistic(previous.subs(z_batch, z_common), current)

    steps = (
        Step(
            start,
            definition(r"accumulated buffer minus the buffer after one update with $z_B$"),
            latex=r"r_m - \big((1-\alpha) r_0 + \alpha z_B\big)",
        ),
        Step(expanded, lemma("closed form of r_m (derived above)"), check=closed_form_substituted),
        Step(
            common,
            assumption(r"every section feeds the batch's value, $z_t = z_B = z$"),
            check=batch_equals_sections,
            prose=r"For $m \ge 2$ and $0 < \alpha < 1$ the factor $(1-\alpha)^m - (1-\alpha)$ is negative, so the gap is 0 only when $r_0 = z$.",
        ),
    )
    return Derivation(
        claim="bn.running-stats",
        title="m section updates versus one batch update",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion="Even when every section has the batch's statistic the buffers differ, because the decay is applied m times.",
    )


def cumulative_form(steps: sympy.Expr) -> sympy.Expr:
    """Return ``(t_0 r_0 + sum_{j <= steps} z_j) / (t_0 + steps)``, the cumulative average."""
    return (tracked * r_0 + sympy.Sum(z[j], (j, 1, steps))) / (tracked + steps)


def _cumulative_by_induction(_previous: object, current: sympy.Expr) -> bool:
    # Base: one update from t_0 (the first update from t_0 = 0 replaces r_0 entirely).
    counter = tracked + 1
    first = (1 - sympy.Integer(1) / counter) * r_0 + z[1] / counter
    base = sympy.simplify(cumulative_form(sympy.Integer(1)).doit() - first) == 0
    counter = tracked + t + 1
    after = _peel_last(cumulative_form(t + 1), t + 1)
    update = (1 - 1 / counter) * cumulative_form(t) + z[t + 1] / counter
    step = sympy.simplify(expand_sums(sympy.together(after - update), {t: j})) == 0
    return bool(base and step and current == cumulative_form(m))


@functools.cache
def cumulative_closed_form() -> Derivation:
    """Derive the buffer after m updates with ``momentum=None`` (a cumulative average)."""
    steps = (
        Step(
            sympy.Symbol("r_m"),
            definition(
                r"$r_t = \left(1 - \frac{1}{t_0 + t}\right) r_{t-1} + \frac{1}{t_0 + t} z_t$"
            ),
        ),
        Step(
            cumulative_form(m),
            induction("base m = 1, and closed form at t + 1 = one update of the closed form at t"),
            check=_cumulative_by_induction,
            prose="sympy checks the base case and the induction step; the induction principle is the rule.",
        ),
    )
    return Derivation(
        claim="bn.running-stats",
        title="The running buffer with momentum=None after m updates",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(*SYMBOLS[:2], ("t_0", "num_batches_tracked before the step")),
        conclusion="The buffer is the average of every statistic fed in so far, one per section under accumulation.",
    )
