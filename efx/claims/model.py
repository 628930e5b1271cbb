"""The types every answer is built from: questions, claims, rubrics.

A claim is defined once, here in ``efx.claims``; its derivations, its ``verify/`` checks,
its page and the graders' answer key all refer to it by its stable id.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from efx.errors import invalid_argument
from efx.proofs.derivation import Derivation

CLAIM_ID = re.compile(r"^[a-z]+(\.[a-z0-9]+(-[a-z0-9]+)*)+$")
QUESTION_ID = re.compile(r"^[a-z]+(-[a-z0-9]+)+$")


class CheckKind(enum.Enum):
    """The kinds of evidence a claim can carry."""

    SYMBOLIC_GENERAL = "symbolic proof for general sizes (sympy)"
    SYMBOLIC_INSTANCES = "symbolic check of every instance up to a bound (sympy)"
    EXACT_EXAMPLE = "exact counterexample or worked example (rational arithmetic)"
    PROPERTY = "property test on torch tensors (Hypothesis)"
    MEASURED = "measured count or memory"
    TORCH_BEHAVIOUR = "observed behaviour of a torch release"


@dataclass(frozen=True)
class Question:
    """A question of the assignment, quoted as it was set.

    Attributes:
        id: stable anchor, for example ``ga-division``.
        section: the section number, ``3.1``, ``3.2`` or ``3.3``.
        label: the question's own label where it has one (``Q1``), else empty.
        text: the question, verbatim.
        context: what the question assumes from its section, in our words.
        page: the docs page that answers it, relative to ``docs/``.
    """

    id: str
    section: str
    label: str
    text: str
    context: str
    page: str

    def __post_init__(self) -> None:
        if not QUESTION_ID.match(self.id):
            raise invalid_argument(
                "id",
                self.id,
                f"must match {QUESTION_ID.pattern}",
                "use lowercase words joined by '-'",
            )


@dataclass(frozen=True)
class Claim:
    """One factual statement of an answer, with everything needed to check it.

    Attributes:
        id: stable id ``topic.name`` (``ga.loss-identity``); never reused for another statement.
        question: the id of the question it helps answer.
        title: a short name for the claim.
        statement: Markdown with LaTeX; every symbol and assumption is defined here.
        checks: the kinds of evidence it has; each kind needs a matching check.
        arithmetic: what holds exactly in real arithmetic and what holds in floats.
        derivations: functions returning the sympy derivations that support it.
        torch_seen: for a claim about torch's own behaviour, the torch version it was seen on.
        references: sources the claim relies on (papers, documentation).
    """

    id: str
    question: str
    title: str
    statement: str
    checks: tuple[CheckKind, ...]
    arithmetic: str = ""
    derivations: tuple[Callable[[], Derivation], ...] = field(default=())
    torch_seen: str | None = None
    references: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not CLAIM_ID.match(self.id):
            raise invalid_argument(
                "id",
                self.id,
                f"must match {CLAIM_ID.pattern}",
                "write topic.name, for example ga.loss-identity",
            )
        if not self.checks:
            raise invalid_argument(
                "checks", self.checks, "must name at least one kind of check", "add a CheckKind"
            )
        symbolic = {CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES}
        if symbolic & set(self.checks) and not self.derivations:
            raise invalid_argument(
                "derivations",
                self.derivations,
                f"must not be empty for claim {self.id}, which declares a symbolic check",
                "pass the derivation functions, or drop the symbolic check kind",
            )
        if CheckKind.TORCH_BEHAVIOUR in self.checks and not self.torch_seen:
            raise invalid_argument(
                "torch_seen",
                self.torch_seen,
                f"must name a torch version for claim {self.id} about torch's behaviour",
                "pass the version the behaviour was seen on, for example '2.13.0'",
            )


@dataclass(frozen=True)
class KeyPoint:
    """A point a full answer makes.

    Attributes:
        text: the point, in Markdown.
        weight: its share of the marks (points).
        claims: ids of the claims that establish it.
        accepted: equivalent formulations a grader accepts.
    """

    text: str
    weight: int
    claims: tuple[str, ...]
    accepted: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Mistake:
    """A common wrong answer and why it is wrong.

    Attributes:
        wrong: the mistaken statement, in our words.
        why: why it is wrong.
        claim: the id of the claim whose check refutes it.
        counterexample: a concrete case showing it, in Markdown (optional).
        in_submitted: True when the submitted answer set makes this mistake.
    """

    wrong: str
    why: str
    claim: str
    counterexample: str = ""
    in_submitted: bool = False


@dataclass(frozen=True)
class Rubric:
    """How to mark answers to one question.

    Attributes:
        question: the question id.
        answer: the minimal full-credit answer, in Markdown.
        key_points: the points a full answer makes, with weights.
        mistakes: common wrong answers, each tied to a refuting claim.
    """

    question: str
    answer: str
    key_points: tuple[KeyPoint, ...]
    mistakes: tuple[Mistake, ...]

    @property
    def total_weight(self) -> int:
        """Return the marks available for the question."""
        return sum(point.weight for point in self.key_points)
