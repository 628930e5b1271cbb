"""Derivation for a slowly decaying spectrum: ``sigma_i = c / sqrt(i)`` keeps a large relative error.

The relative error is a ratio of harmonic sums, ``rho_k^2 = (H_p - H_k) / H_p``, and comparing
``1/i`` with the integral of ``1/x`` bounds it below by ``ln((p + 1)/(k + 1)) / (1 + ln p)``:
keeping a fixed fraction of the values leaves an error that shrinks only like
``1 / sqrt(ln p)``.
"""

from __future__ import annotations

import functools

import sympy

from efx.proofs.derivation import Derivation, Relation, Scope, Step, algebra, definition, lemma
from efx.proofs.lr_truncation._common import i, k, p


@functools.cache
def slow_decay_bound() -> Derivation:
    """Derive ``rho_k^2 >= ln((p+1)/(k+1)) / (1 + ln p)`` for ``sigma_i^2 = c^2 / i``."""
    c = sympy.Symbol("c", positive=True)
    harmonic_p = sympy.Sum(1 / i, (i, 1, p))
    telescoping = sympy.Sum(sympy.log(i + 1) - sympy.log(i), (i, k + 1, p))
    steps = (
        Step(
            sympy.Sum(c**2 / i, (i, k + 1, p)) / sympy.Sum(c**2 / i, (i, 1, p)),
            definition(
                "$\\rho_k^2 = \\sum_{i>k}\\sigma_i^2 / \\sum_i \\sigma_i^2$ with $\\sigma_i^2 = c^2 / i$"
            ),
        ),
        Step(sympy.Sum(1 / i, (i, k + 1, p)) / harmonic_p, algebra("the constant $c^2$ cancels")),
        Step(
            telescoping / harmonic_p,
            lemma("$1/i \\ge \\int_i^{i+1} dx/x = \\ln(i+1) - \\ln i$, because $1/x$ decreases"),
            relation=Relation.GE,
            prose="termwise in the numerator; the denominator is unchanged",
        ),
        Step(
            sympy.log((p + 1) / (k + 1)) / harmonic_p,
            algebra("the sum telescopes"),
            check=lambda prev, cur: bool(
                sympy.simplify(
                    sympy.expand_log(prev.doit(), force=True) - sympy.expand_log(cur, force=True)
                )
                == 0
            ),
        ),
        Step(
            sympy.log((p + 1) / (k + 1)) / (1 + sympy.log(p)),
            lemma("$H_p = 1 + \\sum_{i=2}^{p} 1/i \\le 1 + \\int_1^p dx/x = 1 + \\ln p$"),
            relation=Relation.GE,
            prose="$1/i \\le \\int_{i-1}^{i} dx/x$ for $i \\ge 2$; dividing by the larger number $1 + \\ln p$ can only make the ratio smaller",
        ),
    )
    return Derivation(
        claim="tsvd.slow-decay",
        title="A spectrum decaying like 1/sqrt(i) keeps a large relative error",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("\\sigma_i = c / \\sqrt{i}", "the spectrum, $i = 1, \\dots, p$"),
            ("H_j", "the harmonic number $\\sum_{i \\le j} 1/i$"),
        ),
        conclusion="rho_k^2 = (H_p - H_k)/H_p >= ln((p+1)/(k+1)) / (1 + ln p): a fixed fraction k/p leaves an error of order 1/sqrt(ln p).",
    )
