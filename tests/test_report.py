"""The run report: building, loading, and the status a claim gets from it."""

from __future__ import annotations

import json

import pytest

from efx.errors import InvalidArgumentError
from efx.report import (
    CheckRecord,
    build_report,
    claim_status,
    load_report,
    source_hash,
    write_report,
)


def _record(outcome: str, claims: tuple[str, ...] = ("ga.loss-identity",)) -> CheckRecord:
    return CheckRecord(
        nodeid=f"verify/test_x.py::t_{outcome}", claims=claims, outcome=outcome, duration_s=0.1
    )  # type: ignore[arg-type]


def test_outcome_is_failed_if_any_check_failed():
    report = build_report([_record("passed"), _record("failed")], "efx.reference", "ci")

    assert report["claims"]["ga.loss-identity"]["outcome"] == "failed"


def test_only_skipped_checks_mean_not_run():
    report = build_report([_record("skipped")], "efx.reference", "ci")

    status = claim_status(report, "ga.loss-identity", report["source_hash"])

    assert status.state == "not run"
    assert not status.stale


def test_claim_missing_from_report_is_not_run():
    report = build_report([_record("passed")], "efx.reference", "ci")

    assert claim_status(report, "bn.section-mean", report["source_hash"]).state == "not run"
    assert claim_status(None, "ga.loss-identity").state == "not run"


def test_changed_sources_make_the_status_stale():
    report = build_report([_record("passed")], "efx.reference", "ci")

    status = claim_status(report, "ga.loss-identity", current_hash="0" * 64)

    assert status.state == "passed"
    assert status.stale
    assert status.label == "passed (stale)"


def test_run_of_another_implementation_is_marked():
    report = build_report([_record("passed")], "student_module", "ci")

    status = claim_status(report, "ga.loss-identity", report["source_hash"])

    assert status.foreign
    assert "another implementation" in status.label


def test_source_hash_follows_file_contents(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("x = 1\n")
    before = source_hash([package])

    (package / "a.py").write_text("x = 2\n")

    assert source_hash([package]) != before


def test_report_round_trips_through_a_file(tmp_path):
    report = build_report([_record("passed")], "efx.reference", "ci")
    path = tmp_path / "reports" / "verify.json"

    write_report(report, path)

    assert load_report(path) == json.loads(path.read_text())
    assert load_report(tmp_path / "missing.json") is None


def test_loading_a_foreign_file_names_it(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"schema": 99}')

    with pytest.raises(InvalidArgumentError, match=r"other\.json"):
        load_report(path)
