"""Derivations for the gradient-accumulation division (question ``ga-division``).

Symbols follow the notation page: ``n`` samples split into ``m`` sections of ``q`` samples,
``ell(i)`` the loss of sample ``i``, ``S(k) = sum_{i=1}^{k} ell(i)`` its prefix sum.
"""

from __future__ import annotations

import functools
import itertools

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

m, q, n = sympy.symbols("m q n", integer=True, positive=True)
i, j = sympy.symbols("i j", integer=True, positive=True)
ell = sympy.Function(r"\ell")
S = sympy.Function("S")

INSTANCE_BOUND = 12
"""The exhaustive cross-check covers every m, q <= INSTANCE_BOUND."""


def _section_sum(j_: sympy.Expr) -> sympy.Expr:
    return sympy.Sum(ell(i), (i, (j_ - 1) * q + 1, j_ * q))


def _sections_are_prefix_differences(previous: sympy.Expr, current: sympy.Expr) -> bool:
    # The rewrite holds termwise: for symbolic j, the section sum equals S(jq) - S((j-1)q)
    # once S is expanded to its definition (sympy merges the adjacent ranges). The previous
    # and current steps must be the sums over j of these two terms, scaled by 1/(mq).
    section = _section_sum(j)
    difference = S(j * q) - S((j - 1) * q)
    expanded = difference.replace(S, lambda k: sympy.Sum(ell(i), (i, 1, k)))
    termwise = sympy.simplify(section - expanded) == 0
    previous_form = sympy.simplify(previous - sympy.Sum(section, (j, 1, m)) / (m * q)) == 0
    current_form = sympy.simplify(current - sympy.Sum(difference, (j, 1, m)) / (m * q)) == 0
    return bool(termwise and previous_form and current_form)


def _telescopes(previous: sympy.Expr, current: sympy.Expr) -> bool:
    return bool(sympy.simplify(previous.doit() - current) == 0)


@functools.cache
def loss_identity() -> Derivation:
    """Derive ``(1/m) sum_j (1/q) sum_{section j} ell(i) = (1/n) sum_{i=1}^{n} ell(i)`` for symbolic m, q."""
    accumulated = sympy.Sum(_section_sum(j) / (m * q), (j, 1, m))
    factored = sympy.Sum(_section_sum(j), (j, 1, m)) / (m * q)
    prefix = sympy.Sum(S(j * q) - S((j - 1) * q), (j, 1, m)) / (m * q)
    telescoped = (S(m * q) - S(0)) / (m * q)
    empty = S(m * q) / (m * q)
    full = sympy.Sum(ell(i), (i, 1, n)) / n
    steps = (
        Step(
            accumulated, definition("accumulated loss: section j covers samples (j-1)q+1, ..., jq")
        ),
        Step(factored, algebra("constants 1/(mq) move out of the sum")),
        Step(
            prefix,
            definition(
                r"prefix sum $S(k)=\sum_{i=1}^{k}\ell(i)$, so a section sums to $S(jq)-S((j-1)q)$"
            ),
            check=_sections_are_prefix_differences,
        ),
        Step(telescoped, lemma("telescoping sum"), check=_telescopes),
        Step(
            empty,
            definition("S(0) is the empty sum, 0"),
            check=lambda p, c: bool(sympy.simplify(p.subs(S(0), 0) - c) == 0),
        ),
        Step(
            full,
            assumption("n = mq (equal sections)"),
            check=lambda p, c: bool(
                sympy.simplify(
                    p - c.subs(n, m * q).subs(sympy.Sum(ell(i), (i, 1, m * q)), S(m * q))
                )
                == 0
            ),
        ),
    )
    return Derivation(
        claim="ga.loss-identity",
        title="Accumulated section losses equal the full-batch mean loss",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("m", "number of sections (micro-batches)"),
            ("q", "samples per section"),
            ("n = mq", "samples in the batch"),
            (r"\ell(i)", "loss of sample i"),
            ("S(k)", r"prefix sum $\sum_{i=1}^{k}\ell(i)$, with $S(0)=0$"),
        ),
        conclusion="For every m, q >= 1 the accumulated loss is the full-batch mean loss, as a function of the losses.",
    )


def _identity_holds_up_to(bound: int) -> bool:
    for m_value, q_value in itertools.product(range(1, bound + 1), repeat=2):
        losses = sympy.symbols(f"x1:{m_value * q_value + 1}")
        accumulated = (
            sum(
                (
                    sum(losses[(s - 1) * q_value : s * q_value], sympy.Integer(0)) / q_value
                    for s in range(1, m_value + 1)
                ),
                sympy.Integer(0),
            )
            / m_value
        )
        if sympy.expand(accumulated - sum(losses, sympy.Integer(0)) / (m_value * q_value)) != 0:
            return False
    return True


@functools.cache
def loss_identity_instances() -> Derivation:
    """Cross-check the loss identity as a polynomial identity in the losses, for every m, q up to a bound."""
    statement = (
        rf"\forall\, m, q \le {INSTANCE_BOUND}:\ \frac{{1}}{{m}}\sum_{{j=1}}^{{m}} \frac{{1}}{{q}}"
        r"\sum_{i=(j-1)q+1}^{jq} x_i \;-\; \frac{1}{mq}\sum_{i=1}^{mq} x_i \equiv 0"
    )
    return Derivation(
        claim="ga.loss-identity",
        title="Exhaustive polynomial cross-check with symbolic losses",
        scope=Scope.INSTANCES,
        bound=f"every m, q <= {INSTANCE_BOUND}, each loss a free symbol",
        steps=(
            Step(
                statement,
                computation("sympy.expand of the difference is the zero polynomial"),
                check=lambda _p, _c: _identity_holds_up_to(INSTANCE_BOUND),
            ),
        ),
        conclusion="The identity holds for every listed size; this cross-checks the general proof, it does not replace it.",
    )


# Unequal sections. Section j contains samples Q(j-1)+1, ..., Q(j), with Q(0) = 0 and Q(m) = n,
# so it has q(j) = Q(j) - Q(j-1) samples. f(i) is any per-sample quantity: a loss, or one
# component of a per-sample gradient.
Q = sympy.Function("Q")
f = sympy.Function("f")
mu = sympy.Function(r"\mu")
theta = sympy.Symbol(r"\theta", real=True)


def _size(j_: sympy.Expr) -> sympy.Expr:
    return Q(j_) - Q(j_ - 1)


def _unequal_section_sum(f_: sympy.Function, j_: sympy.Expr) -> sympy.Expr:
    return sympy.Sum(f_(i), (i, Q(j_ - 1) + 1, Q(j_)))


def _weighted_sections_mean(f_: sympy.Function) -> sympy.Expr:
    """Return sum_j (q_j / n) * (section j's mean of f): the accumulation with weights q_j / n."""
    return sympy.Sum(_size(j) / n * _unequal_section_sum(f_, j) / _size(j), (j, 1, m))


def _weighted_sections_equal_full_mean(f_: sympy.Function) -> bool:
    # Re-runs the telescoping argument for f_: the section sums are prefix differences
    # S(Q(j)) - S(Q(j-1)) of S(k) = sum_{i<=k} f_(i), which telescope to S(Q(m)) - S(Q(0)).
    termwise = _unequal_section_sum(f_, j) - (
        sympy.Sum(f_(i), (i, 1, Q(j))) - sympy.Sum(f_(i), (i, 1, Q(j - 1)))
    )
    telescoped = sympy.Sum(S(Q(j)) - S(Q(j - 1)), (j, 1, m)).doit()
    boundaries = telescoped.subs({Q(m): n, Q(0): 0}).subs(S(0), 0)
    full = sympy.Sum(f_(i), (i, 1, n))
    weighted = _weighted_sections_mean(f_)
    return bool(
        sympy.simplify(termwise) == 0
        and sympy.simplify(boundaries - S(n)) == 0
        and sympy.simplify(weighted - sympy.Sum(_unequal_section_sum(f_, j), (j, 1, m)) / n) == 0
        and full.subs(n, 1).doit() == f_(1)
    )


@functools.cache
def weighted_sections() -> Derivation:
    """Derive that weights q_j / n on the section means give the full-batch mean, for any sizes q_j."""
    start = _weighted_sections_mean(f)
    summed = sympy.Sum(_unequal_section_sum(f, j), (j, 1, m)) / n
    prefix = sympy.Sum(S(Q(j)) - S(Q(j - 1)), (j, 1, m)) / n
    telescoped = (S(Q(m)) - S(Q(0))) / n
    full = sympy.Sum(f(i), (i, 1, n)) / n

    def prefix_differences(previous: sympy.Expr, current: sympy.Expr) -> bool:
        section = _unequal_section_sum(f, j)
        expanded = (S(Q(j)) - S(Q(j - 1))).replace(S, lambda k: sympy.Sum(f(i), (i, 1, k)))
        return bool(
            sympy.simplify(section - expanded) == 0
            and sympy.simplify(previous - sympy.Sum(section, (j, 1, m)) / n) == 0
            and sympy.simplify(current - sympy.Sum(S(Q(j)) - S(Q(j - 1)), (j, 1, m)) / n) == 0
        )

    def boundaries(previous: sympy.Expr, current: sympy.Expr) -> bool:
        at_ends = previous.subs({Q(m): n, Q(0): 0}).subs(S(0), 0)
        return bool(
            sympy.simplify(
                at_ends - current.replace(lambda e: e == sympy.Sum(f(i), (i, 1, n)), lambda e: S(n))
            )
            == 0
        )

    steps = (
        Step(
            start,
            definition(
                r"section $j$ holds samples $Q(j-1)+1, \dots, Q(j)$, weight $q_j/n$, $q_j = Q(j)-Q(j-1)$"
            ),
        ),
        Step(summed, algebra("q_j cancels; 1/n moves out of the sum")),
        Step(
            prefix,
            definition(
                r"prefix sum $S(k)=\sum_{i=1}^{k} f(i)$, so section $j$ sums to $S(Q(j))-S(Q(j-1))$"
            ),
            check=prefix_differences,
        ),
        Step(telescoped, lemma("telescoping sum"), check=_telescopes),
        Step(
            full, assumption(r"$Q(0)=0$, $Q(m)=n$, and $S(0)=0$ is the empty sum"), check=boundaries
        ),
    )
    return Derivation(
        claim="ga.unequal-sections",
        title="Section means weighted by q_j / n give the full-batch mean, for any section sizes",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("m", "number of sections"),
            ("Q(j)", r"samples in sections $1..j$; $Q(0)=0$, $Q(m)=n$"),
            ("q_j = Q(j) - Q(j-1) \\ge 1", "samples in section j"),
            ("f(i)", "any per-sample quantity: a loss, or one component of its gradient"),
            ("S(k)", r"prefix sum $\sum_{i=1}^{k} f(i)$"),
        ),
        conclusion=(
            "Summing each section's total and dividing once by n is the full-batch mean for every "
            "split into consecutive sections, equal or not."
        ),
    )


@functools.cache
def naive_error() -> Derivation:
    """Derive the error of the mean of section means, sum_j (1/m - q_j/n) mu_j, and when it vanishes."""
    qj = sympy.Function("q")
    q_sym = sympy.Symbol("q_j", positive=True)
    naive_minus_full = sympy.Sum(mu(j), (j, 1, m)) / m - sympy.Sum(f(i), (i, 1, n)) / n
    weighted = sympy.Sum(mu(j), (j, 1, m)) / m - sympy.Sum(qj(j) * mu(j), (j, 1, m)) / n
    combined = sympy.Sum((1 / m - qj(j) / n) * mu(j), (j, 1, m))

    def full_mean_is_weighted(previous: sympy.Expr, current: sympy.Expr) -> bool:
        # The step replaces the full mean by sum_j (q_j/n) mu_j and nothing else; with mu_j the
        # section mean and q_j = Q(j) - Q(j-1), that is the weighted-sections lemma.
        weighted_sum = sympy.Sum(qj(j) * mu(j), (j, 1, m)) / n
        replaced = (
            sympy.simplify((current - previous) - (sympy.Sum(f(i), (i, 1, n)) / n - weighted_sum))
            == 0
        )
        as_means = weighted_sum.replace(
            mu, lambda k: _unequal_section_sum(f, k) / _size(k)
        ).replace(qj, _size)
        return bool(
            replaced
            and sympy.simplify(as_means - _weighted_sections_mean(f)) == 0
            and _weighted_sections_equal_full_mean(f)
        )

    def combine(previous: sympy.Expr, current: sympy.Expr) -> bool:
        return bool(sympy.simplify(current.expand() - previous) == 0)

    def coefficients_vanish(_previous: sympy.Expr, _current: str) -> bool:
        return bool(sympy.solve(1 / m - q_sym / n, q_sym) == [n / m])

    steps = (
        Step(
            naive_minus_full,
            definition(r"$\mu_j$: mean of f over section $j$; naive estimate minus full mean"),
        ),
        Step(
            weighted,
            lemma(r"full mean $=\sum_j (q_j/n)\,\mu_j$ (weighted sections)"),
            check=full_mean_is_weighted,
        ),
        Step(combined, algebra("one sum over j"), check=combine),
        Step(
            r"= 0 \text{ for all losses} \iff q_j = n/m \text{ for every } j",
            lemma("the section means are free, so each coefficient must vanish"),
            relation=Relation.IMPLIES,
            check=coefficients_vanish,
            prose="sympy solves 1/m - q_j/n = 0 for q_j; that the means are free (any real values) is argued",
        ),
    )
    return Derivation(
        claim="ga.unequal-sections",
        title="The mean of section means is off by sum_j (1/m - q_j/n) mu_j",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("\\mu_j", "mean of f over section j"),
            ("q_j", "samples in section j"),
            ("n = \\sum_j q_j", "samples in the batch"),
        ),
        conclusion="The mean of section means equals the full-batch mean for all losses exactly when every section holds n/m samples.",
    )


@functools.cache
def sum_reduction() -> Derivation:
    """Derive that summed section losses divided by m are n/m times the full-batch mean."""
    summed_over_m = sympy.Sum(_unequal_section_sum(f, j), (j, 1, m)) / m
    telescoped = S(n) / m
    scaled = (n / m) * sympy.Sum(f(i), (i, 1, n)) / n

    def telescope(previous: sympy.Expr, current: sympy.Expr) -> bool:
        prefix = (
            sympy.Sum(S(Q(j)) - S(Q(j - 1)), (j, 1, m))
            .doit()
            .subs({Q(m): n, Q(0): 0})
            .subs(S(0), 0)
        )
        return bool(
            _weighted_sections_equal_full_mean(f) and sympy.simplify(prefix / m - current) == 0
        )

    steps = (
        Step(
            summed_over_m,
            definition("each section's loss summed (reduction='sum'), then divided by m"),
        ),
        Step(
            telescoped,
            lemma("section sums telescope to S(n), as in the weighted-sections derivation"),
            check=telescope,
        ),
        Step(
            scaled,
            definition(r"$S(n)=\sum_{i=1}^{n} f(i)$"),
            check=lambda p, c: bool(
                sympy.simplify(
                    p - c.replace(lambda e: e == sympy.Sum(f(i), (i, 1, n)), lambda e: S(n))
                )
                == 0
            ),
        ),
    )
    return Derivation(
        claim="ga.reduction",
        title="Summed section losses divided by m are n/m times the mean loss",
        scope=Scope.GENERAL,
        steps=steps,
        conclusion="With reduction='sum' the division must be by n, not by m; dividing by m scales the gradient by n/m (q for equal sections).",
    )


@functools.cache
def gradient_linearity() -> Derivation:
    """Derive that the accumulated gradient equals the full-batch gradient, from the loss identity."""
    loss = sympy.Function(r"\ell")
    g = sympy.Function("g")  # g(i) stands for the derivative of loss(i, theta) in theta

    def weighted_of(per_sample: sympy.Expr) -> sympy.Expr:
        return sympy.Sum(
            _size(j) / n * sympy.Sum(per_sample, (i, Q(j - 1) + 1, Q(j))) / _size(j), (j, 1, m)
        )

    accumulated_loss = weighted_of(loss(i, theta))
    start = sympy.Derivative(accumulated_loss, theta)
    inside = weighted_of(sympy.Derivative(loss(i, theta), theta))
    full_gradient = sympy.Sum(sympy.Derivative(loss(i, theta), theta), (i, 1, n)) / n
    of_full_loss = sympy.Derivative(sympy.Sum(loss(i, theta), (i, 1, n)) / n, theta)

    def derivative_moves_inside(previous: sympy.Expr, current: sympy.Expr) -> bool:
        return bool(sympy.simplify(previous.doit() - current.doit()) == 0)

    def lemma_applies(previous: sympy.Expr, current: sympy.Expr) -> bool:
        # With g(i) standing for the per-sample derivative, both sides are the weighted-sections lemma.
        def as_g(expr: sympy.Expr) -> sympy.Expr:
            return expr.replace(
                lambda e: isinstance(e, sympy.Derivative) and e.expr.func == loss,
                lambda e: g(e.expr.args[0]),
            )

        return bool(
            sympy.simplify(as_g(previous) - _weighted_sections_mean(g)) == 0
            and sympy.simplify(as_g(current) - sympy.Sum(g(i), (i, 1, n)) / n) == 0
            and _weighted_sections_equal_full_mean(g)
        )

    steps = (
        Step(
            start,
            definition(r"derivative in one parameter component $\theta$ of the accumulated loss"),
        ),
        Step(
            inside,
            lemma("the derivative is linear: it moves inside finite sums"),
            check=derivative_moves_inside,
        ),
        Step(
            full_gradient,
            lemma(r"weighted sections with $f(i) = \partial \ell(i,\theta)/\partial\theta$"),
            check=lemma_applies,
        ),
        Step(of_full_loss, lemma("linearity again, backwards"), check=derivative_moves_inside),
    )
    return Derivation(
        claim="ga.gradient-identity",
        title="The accumulated gradient is the full-batch gradient",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (r"\ell(i, \theta)", "loss of sample i as a function of one parameter component"),
        ),
        conclusion=(
            "The two losses agree as functions of every parameter, so their derivatives agree for any m and any "
            "section sizes; from the same parameters and optimizer state, one optimizer step then gives the same update."
        ),
    )
