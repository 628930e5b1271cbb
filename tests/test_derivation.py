"""The derivation type: steps are checked, failures are reported, scopes are honest."""

from __future__ import annotations

import pytest
import sympy

from efx.errors import DerivationError, InvalidArgumentError
from efx.proofs.derivation import (
    Derivation,
    Relation,
    Scope,
    Step,
    StepStatus,
    algebra,
    definition,
    lemma,
)
from efx.proofs.ga_division import loss_identity, loss_identity_instances

x, y = sympy.symbols("x y", positive=True)


def _derivation(*steps: Step, scope: Scope = Scope.GENERAL, bound: str | None = None) -> Derivation:
    return Derivation(claim="test.claim", title="test", scope=scope, steps=steps, bound=bound)


def test_equality_step_defaults_to_simplify():
    derivation = _derivation(
        Step((x + y) ** 2, definition("start")), Step(x**2 + 2 * x * y + y**2, algebra("expand"))
    )

    statuses = [r.status for r in derivation.verify()]

    assert statuses == [StepStatus.START, StepStatus.VERIFIED]


def test_wrong_equality_step_fails():
    derivation = _derivation(
        Step((x + y) ** 2, definition("start")), Step(x**2 + y**2, algebra("expand"))
    )

    with pytest.raises(DerivationError, match="failed at step"):
        derivation.verify()
    assert derivation.check()[1].status is StepStatus.FAILED


def test_inequality_needs_explicit_check_or_prose():
    unchecked = _derivation(
        Step(x**2 + 1, definition("start")), Step(x**2, lemma("drop 1"), relation=Relation.GE)
    )
    argued = _derivation(
        Step(x**2 + 1, definition("start")),
        Step(x**2, lemma("drop 1"), relation=Relation.GE, prose="1 > 0"),
    )
    checked = _derivation(
        Step(x**2 + 1, definition("start")),
        Step(
            x**2,
            lemma("drop 1"),
            relation=Relation.GE,
            check=lambda p, c: bool(sympy.simplify(p - c) == 1),
        ),
    )

    with pytest.raises(InvalidArgumentError, match="neither a check nor a prose"):
        unchecked.check()
    assert argued.verify()[1].status is StepStatus.ARGUED
    assert checked.verify()[1].status is StepStatus.VERIFIED


def test_crashing_check_is_a_failed_step():
    def crash(_p: object, _c: object) -> bool:
        raise ZeroDivisionError("boom")

    derivation = _derivation(Step(x, definition("start")), Step(x, algebra("same"), check=crash))

    result = derivation.check()[1]

    assert result.status is StepStatus.FAILED
    assert "ZeroDivisionError" in result.detail


def test_instance_scope_requires_bound():
    with pytest.raises(InvalidArgumentError, match="bound"):
        _derivation(Step(x, definition("start")), scope=Scope.INSTANCES)
    with pytest.raises(InvalidArgumentError, match="GENERAL"):
        _derivation(Step(x, definition("start")), bound="n <= 3")


def test_empty_derivation_is_rejected():
    with pytest.raises(InvalidArgumentError, match="steps"):
        Derivation(claim="test.claim", title="t", scope=Scope.GENERAL, steps=())


def test_loss_identity_is_general_and_instances_is_not():
    assert loss_identity().is_general
    assert not loss_identity_instances().is_general
    assert "12" in (loss_identity_instances().bound or "")


def test_loss_identity_rejects_overlapping_section_bounds():
    from efx.proofs import ga_division as g

    # Sections running from (j-1)q to jq hold q + 1 samples and overlap their neighbours.
    overlapping = sympy.Sum(
        sympy.Sum(g.ell(g.i), (g.i, (g.j - 1) * g.q, g.j * g.q)) / (g.m * g.q), (g.j, 1, g.m)
    )
    steps = (Step(overlapping, definition("accumulated loss")), *loss_identity().steps[1:])

    results = _derivation(*steps).check()

    assert StepStatus.FAILED in {r.status for r in results}
