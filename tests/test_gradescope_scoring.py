"""Gradescope scoring gives a claim's points only for checks that called the student's code."""

from __future__ import annotations

from efx.gradescope import gradescope_results
from efx.report import CheckRecord, build_report


def _record(name: str, outcome: str, uses_impl: bool) -> CheckRecord:
    return CheckRecord(
        nodeid=f"verify/test_x.py::{name}",
        claims=("ga.data-parallel",),
        outcome=outcome,  # type: ignore[arg-type]
        duration_s=0.1,
        uses_impl=uses_impl,
    )


def _score(records: list[CheckRecord]) -> float:
    report = build_report(records, "student", "ci")
    results = gradescope_results(report)
    (test,) = [t for t in results["tests"] if t["number"] == "ga.data-parallel"]
    return float(test["score"])


def test_claim_passed_through_the_implementation_scores():
    assert _score([_record("calls", "passed", True), _record("example", "passed", False)]) > 0


def test_claim_whose_implementation_checks_were_skipped_scores_zero():
    records = [_record("calls", "skipped", True), _record("example", "passed", False)]

    assert _score(records) == 0
