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
