"""Export the graders' answer key as JSON: questions, answers, rubrics, claims and their status.

The key is built from the registry (:mod:`efx.claims`) and the run report (:mod:`efx.report`).
Its ``version`` is the package version plus a hash of the content that graders mark against:
every question, rubric (the minimal answer included) and claim statement. Re-running the
checks changes each claim's ``status`` but not the version; editing any statement does.

A question is *answered* once it has claims or a rubric, and *complete* once its rubric has
everything a grader needs (see :func:`rubric_problems`). The JSON Schema of the export ships
with the package as ``efx/schemas/answer-key.schema.json``.

>>> key = build_answer_key(report=None)
>>> key["format"], key["version"].startswith(key["package_version"] + "+")
(1, True)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from efx import __version__
from efx.claims import Claim, Registry, Rubric, registry
from efx.errors import invalid_argument
from efx.report import ClaimStatus, claim_status, source_hash

FORMAT = 1
"""The layout of the export; it changes only when a field is removed or changes meaning."""

SCHEMA_RESOURCE = "schemas/answer-key.schema.json"

QuestionState = Literal["complete", "incomplete", "not answered"]

__all__ = [
    "FORMAT",
    "QuestionState",
    "build_answer_key",
    "content_hash",
    "key_version",
    "load_schema",
    "question_state",
    "rubric_problems",
    "status_json",
    "write_answer_key",
]


def _registry_or_default(reg: Registry | None) -> Registry:
    if reg is None:
        return registry()
    if not isinstance(reg, Registry):
        raise invalid_argument(
            "reg", reg, "must be an efx.claims.Registry or None", "pass efx.claims.registry()"
        )
    return reg


def _check_report(name: str, report: object) -> Mapping[str, Any] | None:
    if report is None:
        return None
    if not isinstance(report, Mapping) or not isinstance(report.get("claims"), Mapping):
        raise invalid_argument(
            name,
            report,
            "must be a run report (a mapping with a 'claims' mapping) or None",
            "load it with efx.report.load_report(path)",
        )
    return report


def rubric_problems(question_id: str, reg: Registry | None = None) -> tuple[str, ...]:
    """List what keeps a question's rubric from being complete; empty when it is complete.

    A complete rubric has a minimal full-credit answer, key points that each cite a claim,
    at least one accepted equivalent formulation, and common mistakes that each say why
    they are wrong, name the refuting claim and give a counterexample.

    Args:
        question_id: the question's id.
        reg: the registry to read; the project's registry when None.

    Returns:
        One sentence per problem, in a stable order.

    Raises:
        KeyError: if the question id is unknown.
    """
    reg = _registry_or_default(reg)
    reg.question(question_id)
    rubric = reg.rubrics.get(question_id)
    if rubric is None:
        return ("has no rubric",)
    problems: list[str] = []
    if not rubric.answer.strip():
        problems.append("the rubric has no minimal full-credit answer")
    if not rubric.key_points:
        problems.append("the rubric has no key points")
    for number, point in enumerate(rubric.key_points, start=1):
        if not point.claims:
            problems.append(f"key point {number} cites no claim")
    if rubric.key_points and not any(point.accepted for point in rubric.key_points):
        problems.append("no key point lists an accepted equivalent formulation")
    if not rubric.mistakes:
        problems.append("the rubric lists no common mistake")
    for number, mistake in enumerate(rubric.mistakes, start=1):
        if not mistake.claim:
            problems.append(f"mistake {number} names no refuting claim")
        elif mistake.claim not in reg.claims:
            problems.append(f"mistake {number} cites unknown claim {mistake.claim!r}")
        if not mistake.why.strip():
            problems.append(f"mistake {number} does not say why it is wrong")
        if not mistake.counterexample.strip():
            problems.append(f"mistake {number} gives no counterexample")
    return tuple(problems)


def question_state(question_id: str, reg: Registry | None = None) -> QuestionState:
    """Return ``not answered`` (no claim, no rubric), ``incomplete`` or ``complete``.

    Raises:
        KeyError: if the question id is unknown.
    """
    reg = _registry_or_default(reg)
    if not reg.claims_of(question_id) and question_id not in reg.rubrics:
        return "not answered"
    return "incomplete" if rubric_problems(question_id, reg) else "complete"


def _claim_content(claim: Claim) -> dict[str, Any]:
    return {
        "id": claim.id,
        "question": claim.question,
        "title": claim.title,
        "statement": claim.statement,
        "arithmetic": claim.arithmetic,
        "checks": [kind.name.lower() for kind in claim.checks],
        "torch_seen": claim.torch_seen,
        "references": list(claim.references),
    }


def _rubric_content(rubric: Rubric) -> dict[str, Any]:
    return {
        "total_weight": rubric.total_weight,
        "key_points": [
            {**asdict(point), "claims": list(point.claims), "accepted": list(point.accepted)}
            for point in rubric.key_points
        ],
        "mistakes": [asdict(mistake) for mistake in rubric.mistakes],
    }


def content_hash(reg: Registry | None = None) -> str:
    """Return a SHA-256 over every question, rubric and claim statement, in registry order.

    Run results are not part of it, so re-running the checks keeps the hash.
    """
    reg = _registry_or_default(reg)
    content = {
        "questions": [asdict(question) for question in reg.questions.values()],
        "rubrics": {
            qid: {"answer": rubric.answer, **_rubric_content(rubric)}
            for qid, rubric in reg.rubrics.items()
        },
        "claims": [_claim_content(claim) for claim in reg.claims.values()],
    }
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def key_version(reg: Registry | None = None) -> str:
    """Return ``<package version>+<first 12 hex digits of the content hash>``.

    >>> key_version().startswith(__version__ + "+")
    True
    """
    return f"{__version__}+{content_hash(reg)[:12]}"


def status_json(status: ClaimStatus) -> dict[str, Any]:
    """Return a claim's status as the export stores it: state, counts, dtypes, devices, run."""
    outcomes = [check["outcome"] for check in status.checks]
    ran = [check for check in status.checks if check["outcome"] != "skipped"]
    run = None
    if status.run is not None:
        run = {
            key: status.run[key]
            for key in ("created", "commit", "implementation", "hypothesis_profile", "environment")
        }
    return {
        "state": status.state,
        "label": status.label,
        "stale": status.stale,
        "foreign": status.foreign,
        "checks": {
            "total": len(outcomes),
            "passed": outcomes.count("passed"),
            "failed": outcomes.count("failed"),
            "skipped": outcomes.count("skipped"),
        },
        "examples": sum(check.get("examples") or 0 for check in ran),
        "dtypes": sorted({check["dtype"] for check in ran if check.get("dtype")}),
        "devices": sorted({check["device"] for check in ran if check.get("device")}),
        "run": run,
    }


def _run_json(report: Mapping[str, Any] | None, current_hash: str | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "created": report.get("created"),
        "commit": report.get("commit"),
        "implementation": report.get("implementation"),
        "hypothesis_profile": report.get("hypothesis_profile"),
        "environment": report.get("environment", {}),
        "stale": current_hash is not None and report.get("source_hash") != current_hash,
    }


def build_answer_key(
    reg: Registry | None = None,
    report: Mapping[str, Any] | None = None,
    current_hash: str | None = None,
    gpu_report: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the answer key: every question with its answer and rubric, every claim with its status.

    Args:
        reg: the registry to export; the project's registry when None.
        report: the run report of ``pytest verify/`` (see :func:`efx.report.load_report`),
            or None when no run exists (every claim is then ``not run``).
        current_hash: the current :func:`efx.report.source_hash`; a report made from other
            sources is marked stale. None skips the staleness check.
        gpu_report: a second report from a run on a GPU machine, or None.

    Returns:
        A JSON-ready dict that validates against ``answer-key.schema.json``.

    Raises:
        InvalidArgumentError: if ``reg`` is not a registry or a report is not a run report.
    """
    reg = _registry_or_default(reg)
    checked_report = _check_report("report", report)
    checked_gpu = _check_report("gpu_report", gpu_report)

    questions = []
    for question in reg.questions.values():
        rubric = reg.rubrics.get(question.id)
        questions.append(
            {
                **asdict(question),
                "state": question_state(question.id, reg),
                "claims": [claim.id for claim in reg.claims_of(question.id)],
                "answer": rubric.answer if rubric is not None else None,
                "rubric": _rubric_content(rubric) if rubric is not None else None,
                "rubric_problems": list(rubric_problems(question.id, reg)),
            }
        )

    claims = []
    for claim in reg.claims.values():
        gpu_status = None
        if checked_gpu is not None:
            gpu_status = status_json(claim_status(dict(checked_gpu), claim.id, current_hash))
        page = reg.question(claim.question).page
        claims.append(
            {
                **_claim_content(claim),
                "page": f"{page}#{claim.id}",
                "status": status_json(
                    claim_status(_as_dict(checked_report), claim.id, current_hash)
                ),
                "gpu_status": gpu_status,
            }
        )

    states = [entry["state"] for entry in questions]
    return {
        "format": FORMAT,
        "version": key_version(reg),
        "package_version": __version__,
        "content_hash": content_hash(reg),
        "run": _run_json(checked_report, current_hash),
        "gpu_run": _run_json(checked_gpu, current_hash),
        "summary": {
            "questions": len(questions),
            "answered": len(questions) - states.count("not answered"),
            "complete": states.count("complete"),
            "claims": len(claims),
            "passed": sum(1 for entry in claims if entry["status"]["state"] == "passed"),
            "failed": sum(1 for entry in claims if entry["status"]["state"] == "failed"),
            "not_run": sum(1 for entry in claims if entry["status"]["state"] == "not run"),
        },
        "questions": questions,
        "claims": claims,
    }


def _as_dict(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if report is None else dict(report)


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema of the export (draft 2020-12), as shipped with the package."""
    text = resources.files("efx").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def write_answer_key(path: Path, key: Mapping[str, Any] | None = None) -> Path:
    """Write the answer key (built now when ``key`` is None) as indented JSON; return the path.

    Without ``key`` the export reads ``reports/verify.json`` and ``reports/verify-cuda.json``
    when they exist, and marks a report older than the sources stale.

    Raises:
        InvalidArgumentError: if ``path`` is an existing folder.
    """
    path = Path(path)
    if path.is_dir():
        raise invalid_argument(
            "path",
            str(path),
            "must be a file path, not a folder",
            "add a file name such as answer-key.json",
        )
    if key is None:
        key = build_default_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(key, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def build_default_key() -> dict[str, Any]:
    """Build the key from the project's registry and the reports under ``reports/``."""
    from efx.report import DEFAULT_REPORT, load_report

    gpu_path = DEFAULT_REPORT.with_name("verify-cuda.json")
    return build_answer_key(
        report=load_report(DEFAULT_REPORT),
        current_hash=source_hash(),
        gpu_report=load_report(gpu_path),
    )
