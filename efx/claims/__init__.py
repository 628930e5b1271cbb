"""The claim registry: every question, claim and rubric of the project, looked up by id.

Topic modules (``efx.claims.ga_division`` and its siblings) each define ``CLAIMS`` and
``RUBRICS``; :mod:`efx.claims.questions` defines ``QUESTIONS``. The registry loads them
once and checks that they fit together: unique ids, known questions, rubrics that cite
existing claims.

>>> claim("ga.loss-identity").question
'ga-division'
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass

from efx.claims.model import CheckKind, Claim, KeyPoint, Mistake, Question, Rubric
from efx.errors import EfxError

__all__ = [
    "CheckKind",
    "Claim",
    "KeyPoint",
    "Mistake",
    "Question",
    "Registry",
    "Rubric",
    "claim",
    "claims",
    "question",
    "questions",
    "registry",
    "rubric",
]

TOPICS = (
    "ga_division",
    "ga_batchnorm",
    "ckpt_inference",
    "ckpt_complexity",
    "lr_linear_algebra",
    "lr_truncation",
    "lora",
)
"""Modules of ``efx.claims`` that define ``CLAIMS`` and ``RUBRICS``, in page order."""


class RegistryError(EfxError):
    """The questions, claims and rubrics do not fit together."""


@dataclass(frozen=True)
class Registry:
    """All questions, claims and rubrics, indexed by id."""

    questions: dict[str, Question]
    claims: dict[str, Claim]
    rubrics: dict[str, Rubric]

    def claim(self, claim_id: str) -> Claim:
        """Return the claim with this id; raise :class:`KeyError` naming close ids if unknown."""
        try:
            return self.claims[claim_id]
        except KeyError:
            raise KeyError(_unknown("claim", claim_id, self.claims)) from None

    def question(self, question_id: str) -> Question:
        """Return the question with this id; raise :class:`KeyError` if unknown."""
        try:
            return self.questions[question_id]
        except KeyError:
            raise KeyError(_unknown("question", question_id, self.questions)) from None

    def claims_of(self, question_id: str) -> tuple[Claim, ...]:
        """Return the claims that answer a question, in definition order."""
        self.question(question_id)
        return tuple(c for c in self.claims.values() if c.question == question_id)


def _unknown(kind: str, key: str, known: Mapping[str, object]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=3)
    hint = (
        f" Did you mean {', '.join(close)}?"
        if close
        else f" Known {kind} ids: {', '.join(sorted(known))}."
    )
    return f"unknown {kind} id {key!r}.{hint}"


@functools.cache
def registry() -> Registry:
    """Load and cross-check every topic module (cached)."""
    from efx.claims.questions import QUESTIONS

    questions: dict[str, Question] = {}
    for q in QUESTIONS:
        if q.id in questions:
            raise RegistryError(f"question id {q.id!r} is defined twice")
        questions[q.id] = q

    claims_by_id: dict[str, Claim] = {}
    rubrics: dict[str, Rubric] = {}
    for topic in TOPICS:
        module = importlib.import_module(f"efx.claims.{topic}")
        for c in module.CLAIMS:
            if c.id in claims_by_id:
                raise RegistryError(
                    f"claim id {c.id!r} is defined twice (again in efx.claims.{topic})"
                )
            if c.question not in questions:
                raise RegistryError(f"claim {c.id!r} answers unknown question {c.question!r}")
            claims_by_id[c.id] = c
        for r in module.RUBRICS:
            if r.question in rubrics:
                raise RegistryError(f"question {r.question!r} has two rubrics")
            rubrics[r.question] = r

    for r in rubrics.values():
        if r.question not in questions:
            raise RegistryError(f"rubric for unknown question {r.question!r}")
        cited = [cid for point in r.key_points for cid in point.claims] + [
            m.claim for m in r.mistakes
        ]
        for cid in cited:
            if cid not in claims_by_id:
                raise RegistryError(f"rubric of {r.question!r} cites unknown claim {cid!r}")
        if any(point.weight <= 0 for point in r.key_points):
            raise RegistryError(f"rubric of {r.question!r} has a key point with a weight <= 0")
    return Registry(questions, claims_by_id, rubrics)


def claim(claim_id: str) -> Claim:
    """Return the claim with this id."""
    return registry().claim(claim_id)


def claims() -> tuple[Claim, ...]:
    """Return every claim, in page order."""
    return tuple(registry().claims.values())


def question(question_id: str) -> Question:
    """Return the question with this id."""
    return registry().question(question_id)


def questions() -> tuple[Question, ...]:
    """Return every question, in the order of the assignment."""
    return tuple(registry().questions.values())


def rubric(question_id: str) -> Rubric | None:
    """Return the rubric of a question, or None while its answer is not written."""
    registry().question(question_id)
    return registry().rubrics.get(question_id)
