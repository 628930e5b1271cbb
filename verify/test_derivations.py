"""Every sympy derivation of every claim holds: each step's check passes.

The site runs the same derivations while it builds; this test runs them under pytest, so the
run report records them per claim.
"""

from __future__ import annotations

import pytest

from efx.claims import claims
from efx.proofs.derivation import StepStatus

DERIVATIONS = [
    pytest.param(make, id=f"{c.id}-{make.__name__}", marks=pytest.mark.claim(c.id))
    for c in claims()
    for make in c.derivations
]


@pytest.mark.parametrize("make", DERIVATIONS)
def test_derivation_steps_hold(make):
    derivation = make()

    results = derivation.verify()

    failed = [r for r in results if r.status is StepStatus.FAILED]
    assert not failed
    assert len(results) == len(derivation.steps)
