"""Turn a run report of ``pytest verify/ --impl student_module`` into Gradescope results.

Gradescope's autograder reads ``results.json``: a list of tests, each with ``name``,
``score``, ``max_score``, ``status`` (``passed`` or ``failed``), ``output`` and
``visibility``, plus the total ``score``. Here each claim is one test. A claim scores its full
marks when it passed; a claim that failed, or whose checks were all skipped (the student's
module lacks a function they need), scores 0, and its output gives the reason.

Two scorings:

- ``claim``: every claim is worth 1 point;
- ``rubric``: each key point's weight is shared equally among the claims it cites, so the
  marks follow the rubrics; a claim no key point cites is listed with 0 points.

Claims checked only symbolically (sympy derivations, exact examples) do not depend on the
student's code and are left out unless ``include_symbolic`` is set.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from efx.claims import CheckKind, Claim, Registry, registry
from efx.errors import EfxWarning, invalid_argument
from efx.report import REFERENCE_IMPLEMENTATION, claim_status

Scoring = Literal["claim", "rubric"]
SCORINGS: tuple[Scoring, ...] = ("claim", "rubric")
IMPLEMENTATION_KINDS = frozenset({CheckKind.PROPERTY, CheckKind.MEASURED})
"""Check kinds whose checks call the implementation under test (through the ``impl`` fixture)."""

__all__ = ["SCORINGS", "claim_weights", "gradescope_results", "write_results"]


def _checks_implementation(claim: Claim) -> bool:
    return bool(IMPLEMENTATION_KINDS & set(claim.checks))


def claim_weights(reg: Registry | None = None, scoring: Scoring = "claim") -> dict[str, Fraction]:
    """Return the marks of every claim under a scoring (see the module docstring).

    Raises:
        InvalidArgumentError: if ``scoring`` is not one of :data:`SCORINGS`.
    """
    if scoring not in SCORINGS:
        raise invalid_argument(
            "scoring", scoring, f"must be one of {', '.join(SCORINGS)}", "pass 'claim' or 'rubric'"
        )
    reg = registry() if reg is None else reg
    if scoring == "claim":
        return {claim_id: Fraction(1) for claim_id in reg.claims}
    weights = {claim_id: Fraction(0) for claim_id in reg.claims}
    for rubric in reg.rubrics.values():
        for point in rubric.key_points:
            for claim_id in point.claims:
                weights[claim_id] += Fraction(point.weight, len(point.claims))
    return weights


def _check_lines(checks: tuple[dict[str, Any], ...]) -> list[str]:
    lines = []
    for check in checks:
        where = ", ".join(str(check[key]) for key in ("dtype", "device") if check.get(key))
        detail = f" ({where})" if where else ""
        message = f": {check['message']}" if check.get("message") else ""
        lines.append(f"- {check['outcome']}: {check['nodeid']}{detail}{message}")
    return lines


def gradescope_results(
    report: Mapping[str, Any],
    reg: Registry | None = None,
    scoring: Scoring = "claim",
    include_symbolic: bool = False,
) -> dict[str, Any]:
    """Build Gradescope's ``results.json`` content from a run report, one test per claim.

    Args:
        report: a run report (see :func:`efx.report.load_report`), normally of a run with
            ``--impl student_module``.
        reg: the registry; the project's registry when None.
        scoring: ``claim`` (1 point per claim) or ``rubric`` (the rubric weights).
        include_symbolic: also score claims whose checks never call the implementation.

    Returns:
        A JSON-ready dict with ``score``, ``output``, ``visibility`` and ``tests``.

    Raises:
        InvalidArgumentError: if ``report`` is not a run report or ``scoring`` is unknown.

    Warns:
        EfxWarning: when the report checked efx's own implementation, not a student's.
    """
    if not isinstance(report, Mapping) or not isinstance(report.get("claims"), Mapping):
        raise invalid_argument(
            "report",
            report,
            "must be a run report (a mapping with a 'claims' mapping)",
            "load it with efx.report.load_report('reports/verify.json')",
        )
    reg = registry() if reg is None else reg
    weights = claim_weights(reg, scoring)
    implementation = str(report.get("implementation", "unknown"))
    if implementation == REFERENCE_IMPLEMENTATION:
        warnings.warn(
            f"the report checked {REFERENCE_IMPLEMENTATION}, efx's own functions; run "
            "`pytest verify/ --impl student_module` to grade a student's module",
            EfxWarning,
            stacklevel=2,
        )

    tests: list[dict[str, Any]] = []
    for claim in reg.claims.values():
        if not include_symbolic and not _checks_implementation(claim):
            continue
        status = claim_status(dict(report), claim.id)
        ran = [check for check in status.checks if check["outcome"] != "skipped"]
        # A claim scores only when a check that called the student's code ran: its sympy
        # derivations and worked examples pass whatever the module defines.
        called = [check for check in ran if check.get("uses_impl")]
        passed = status.state == "passed" and (bool(called) or not _checks_implementation(claim))
        if status.state == "not run" or (status.state == "passed" and not passed):
            summary = (
                "Not checked: no check of this claim called the implementation "
                "(its functions are missing, so those checks were skipped); it scores 0."
            )
        elif passed:
            summary = f"Passed: {len(ran)} check(s) ran and passed."
        else:
            summary = "Failed: at least one check found a counterexample."
        max_score = float(weights[claim.id])
        output = "\n".join(
            [summary, "", f"Claim: {claim.statement}", "", *_check_lines(status.checks)]
        )
        tests.append(
            {
                "name": f"{claim.id}: {claim.title}",
                "number": claim.id,
                "score": max_score if passed else 0.0,
                "max_score": max_score,
                "status": "passed" if passed else "failed",
                "output": output.strip(),
                "visibility": "visible",
            }
        )

    total = sum(test["score"] for test in tests)
    available = sum(test["max_score"] for test in tests)
    return {
        "score": total,
        "output": (
            f"Checked implementation `{implementation}` with run of {report.get('created', 'unknown time')} "
            f"(commit {report.get('commit', 'unknown')}): {total:g} of {available:g} points, "
            f"scoring by {scoring}."
        ),
        "visibility": "visible",
        "tests": tests,
    }


def write_results(path: Path, results: Mapping[str, Any]) -> Path:
    """Write Gradescope results as JSON (Gradescope reads ``/autograder/results/results.json``).

    Raises:
        InvalidArgumentError: if ``path`` is an existing folder.
    """
    path = Path(path)
    if path.is_dir():
        raise invalid_argument(
            "path",
            str(path),
            "must be a file path, not a folder",
            "add a file name such as results.json",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path
