"""Derivations as data: ordered steps that sympy checks, rendered by the site and asserted by tests.

A derivation is a chain ``e_0 R_1 e_1 R_2 e_2 ...``. Each step carries the relation to the
previous expression (=, <=, >=, <, >, iff, implies), the rule that justifies it and, where
sympy can decide it, a check. A step that sympy cannot check says so and carries its argument
in prose; it is shown as *argued*, never as *verified*.

The scope says what the derivation covers: ``GENERAL`` for symbolic sizes (every m, q, n),
``INSTANCES`` for an exhaustive check up to a stated bound. An instance check is never shown
as a general proof.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy

from efx.errors import DerivationError, invalid_argument


class Relation(enum.Enum):
    """How a step's expression relates to the previous one."""

    EQ = r"="
    LE = r"\le"
    GE = r"\ge"
    LT = r"<"
    GT = r">"
    IFF = r"\iff"
    IMPLIES = r"\implies"


class RuleKind(enum.Enum):
    """The kind of justification a step uses."""

    ALGEBRA = "algebra"
    DEFINITION = "definition"
    LEMMA = "lemma"
    INDUCTION = "induction"
    ASSUMPTION = "assumption"
    COMPUTATION = "exact computation"


class Scope(enum.Enum):
    """What a derivation covers."""

    GENERAL = "general"
    INSTANCES = "instances"


class StepStatus(enum.Enum):
    """The outcome of checking one step."""

    START = "starting point"
    VERIFIED = "verified by sympy"
    ARGUED = "argued in prose"
    FAILED = "FAILED"


Check = Callable[[Any, Any], bool]
"""A step check: receives the previous and the current expression, returns True when it holds."""


def equal_by_simplify(previous: Any, current: Any) -> bool:
    """Check ``previous == current`` by ``sympy.simplify`` of the difference (the default for '=')."""
    difference = sympy.simplify(sympy.sympify(previous) - sympy.sympify(current))
    return bool(difference == 0)


@dataclass(frozen=True)
class Rule:
    """The justification of a step: its kind and a short name (``'linearity of the sum'``)."""

    kind: RuleKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.name}"


def algebra(name: str) -> Rule:
    """Return an algebra rule with this name."""
    return Rule(RuleKind.ALGEBRA, name)


def definition(name: str) -> Rule:
    """Return a definition rule with this name."""
    return Rule(RuleKind.DEFINITION, name)


def lemma(name: str) -> Rule:
    """Return a named-lemma rule."""
    return Rule(RuleKind.LEMMA, name)


def induction(name: str) -> Rule:
    """Return an induction rule with this name."""
    return Rule(RuleKind.INDUCTION, name)


def assumption(name: str) -> Rule:
    """Return a rule that invokes a stated assumption."""
    return Rule(RuleKind.ASSUMPTION, name)


def computation(name: str) -> Rule:
    """Return an exact-computation rule (rational arithmetic, exhaustive enumeration)."""
    return Rule(RuleKind.COMPUTATION, name)


@dataclass(frozen=True)
class Step:
    """One step of a derivation.

    Attributes:
        expr: a sympy expression, or a LaTeX string for a statement sympy does not model.
        rule: the justification.
        relation: the relation to the previous step's expression (ignored on the first step).
        check: decides the step; ``None`` with ``prose`` set marks the step as argued.
            For ``Relation.EQ`` between sympy expressions the default is
            :func:`equal_by_simplify`.
        prose: the argument, for a step sympy cannot check, or a remark on a checked one.
        latex: LaTeX to show in place of ``sympy.latex(expr)``.
    """

    expr: Any
    rule: Rule
    relation: Relation = Relation.EQ
    check: Check | None = None
    prose: str | None = None
    latex: str | None = None

    def to_latex(self) -> str:
        """Return the LaTeX of this step's expression."""
        if self.latex is not None:
            return self.latex
        if isinstance(self.expr, str):
            return self.expr
        return str(sympy.latex(self.expr))

    def resolved_check(self) -> Check | None:
        """Return the check that will run: the explicit one, or the default for '='."""
        if self.check is not None:
            return self.check
        if self.prose is None and self.relation is Relation.EQ and not isinstance(self.expr, str):
            return equal_by_simplify
        return None


@dataclass(frozen=True)
class StepResult:
    """A step with the outcome of its check."""

    step: Step
    status: StepStatus
    detail: str = ""


@dataclass(frozen=True)
class Derivation:
    """A checked chain of steps supporting one claim.

    Attributes:
        claim: the id of the claim it supports.
        title: one line naming what is derived.
        scope: ``Scope.GENERAL`` or ``Scope.INSTANCES``.
        steps: the chain; the first step states the starting expression.
        bound: for ``Scope.INSTANCES``, the instances covered (``'all m, q <= 12'``).
        symbols: LaTeX symbol to meaning, shown above the steps.
        conclusion: one sentence saying what the chain establishes.
    """

    claim: str
    title: str
    scope: Scope
    steps: tuple[Step, ...]
    bound: str | None = None
    symbols: tuple[tuple[str, str], ...] = field(default=())
    conclusion: str = ""

    def __post_init__(self) -> None:
        if not self.steps:
            raise invalid_argument(
                "steps", self.steps, "must hold at least one step", "add the start"
            )
        if self.scope is Scope.INSTANCES and not self.bound:
            raise invalid_argument(
                "bound",
                self.bound,
                "must name the instances checked when scope is INSTANCES",
                "say which sizes were enumerated, for example 'all m, q <= 12'",
            )
        if self.scope is Scope.GENERAL and self.bound:
            raise invalid_argument(
                "bound",
                self.bound,
                "must be empty for a GENERAL derivation",
                "use Scope.INSTANCES for a check that covers only some sizes",
            )

    def check(self) -> tuple[StepResult, ...]:
        """Run every step's check and return the results, without raising."""
        results = [_check_first(self.steps[0])]
        for previous, step in zip(self.steps, self.steps[1:], strict=False):
            results.append(_check_step(previous, step))
        return tuple(results)

    def verify(self) -> tuple[StepResult, ...]:
        """Check every step and raise :class:`DerivationError` if any check fails."""
        results = self.check()
        failed = [i for i, result in enumerate(results) if result.status is StepStatus.FAILED]
        if failed:
            lines = [
                f"derivation '{self.title}' for claim {self.claim} failed at step(s) {failed}:"
            ]
            for i in failed:
                lines.append(
                    f"  step {i}: {results[i].step.to_latex()}  [{results[i].step.rule}] {results[i].detail}"
                )
            raise DerivationError("\n".join(lines))
        return results

    @property
    def is_general(self) -> bool:
        """True when the derivation covers symbolic sizes, not only instances."""
        return self.scope is Scope.GENERAL


def _check_first(step: Step) -> StepResult:
    if step.check is None:
        return StepResult(step, StepStatus.START)
    return _run(step.check, None, step)


def _check_step(previous: Step, step: Step) -> StepResult:
    check = step.resolved_check()
    if check is None:
        if not step.prose:
            raise invalid_argument(
                "step",
                step.to_latex(),
                "has neither a check nor a prose argument",
                "give a sympy check, or mark the step as argued by setting prose",
            )
        return StepResult(step, StepStatus.ARGUED)
    return _run(check, previous.expr, step)


def _run(check: Check, previous: Any, step: Step) -> StepResult:
    try:
        ok = check(previous, step.expr)
    except Exception as error:
        return StepResult(step, StepStatus.FAILED, f"check raised {type(error).__name__}: {error}")
    return StepResult(step, StepStatus.VERIFIED if ok else StepStatus.FAILED)


def chain(*pairs: Sequence[Any]) -> tuple[Step, ...]:
    """Build steps from ``(expr, rule)`` pairs joined by '=': a shorthand for plain equality chains."""
    return tuple(Step(expr=expr, rule=rule) for expr, rule in pairs)
