"""The `efx` command, run the way a user runs it: console script or main(argv)."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from efx.answer_key import load_schema
from efx.claims import KeyPoint, Mistake, Rubric, registry
from efx.cli import main
from efx.errors import InvalidArgumentError
from efx.gradescope import claim_weights, gradescope_results, write_results

FIRST_CLAIM = next(iter(registry().claims.values()), None)
needs_a_claim = pytest.mark.skipif(FIRST_CLAIM is None, reason="the registry holds no claim yet")
EFX = Path(sys.executable).with_name("efx")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def _report_file(
    tmp_path: Path, claim_id: str, outcome: str, implementation: str = "student"
) -> Path:
    report = {
        "schema": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "commit": "0123456789abcdef",
        "source_hash": "abc",
        "implementation": implementation,
        "hypothesis_profile": "ci",
        "environment": {"python": "3.11.7", "torch": "2.13.0"},
        "claims": {
            claim_id: {
                "outcome": outcome,
                "checks": [
                    {
                        "nodeid": "verify/test_toy.py::test_toy[cpu-float64]",
                        "claims": [claim_id],
                        "outcome": outcome,
                        "duration_s": 0.1,
                        "examples": 20,
                        "dtype": "float64",
                        "device": "cpu",
                        "message": "",
                    }
                ],
            }
        },
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    return path


@pytest.mark.skipif(
    not EFX.exists(), reason=f"console script not installed next to {sys.executable}"
)
def test_console_script_help_lists_every_command():
    result = subprocess.run(
        [str(EFX), "--help"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0
    for command in ("claims", "show", "questions", "export-key", "gradescope"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["claims", "show", "questions", "export-key", "gradescope"])
def test_command_help_explains_options(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])

    assert exit_info.value.code == 0
    assert "usage: efx " + command in capsys.readouterr().out


def test_missing_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])

    assert exit_info.value.code == 2
    assert "required: COMMAND" in capsys.readouterr().err


@needs_a_claim
def test_claims_lists_every_claim_with_status(tmp_path):
    report = _report_file(tmp_path, FIRST_CLAIM.id, "passed")

    status, out = run("claims", "--report", str(report))

    assert status == 0
    for claim_id in registry().claims:
        assert claim_id in out
    first_line = next(line for line in out.splitlines() if line.startswith(FIRST_CLAIM.id + " "))
    assert "passed (stale)" in first_line


@needs_a_claim
def test_claims_filters_by_question_and_state(tmp_path):
    report = _report_file(tmp_path, FIRST_CLAIM.id, "failed")

    status, out = run(
        "claims", "--report", str(report), "--question", FIRST_CLAIM.question, "--json"
    )
    listed = json.loads(out)
    status_failed, out_failed = run(
        "claims", "--report", str(report), "--state", "failed", "--json"
    )

    assert status == status_failed == 0
    assert {entry["id"] for entry in listed} == {
        c.id for c in registry().claims_of(FIRST_CLAIM.question)
    }
    assert [entry["id"] for entry in json.loads(out_failed)] == [FIRST_CLAIM.id]


def test_claims_rejects_unknown_question(capsys):
    status, _ = run("claims", "--question", "ga-divison")

    assert status == 2
    assert "unknown question id 'ga-divison'. Did you mean ga-division?" in capsys.readouterr().err


@needs_a_claim
def test_show_prints_statement_and_checked_steps():
    status, out = run("show", FIRST_CLAIM.id)

    assert status == 0
    assert FIRST_CLAIM.title in out
    assert f"pytest verify/ --claim {FIRST_CLAIM.id}" in out
    if FIRST_CLAIM.derivations:
        assert "derivation 1:" in out
        assert "verified by sympy" in out


def test_show_unknown_claim_exits_2_with_suggestion(capsys):
    status, out = run("show", "ga.loss-identiy")

    assert status == 2
    assert out == ""
    err = capsys.readouterr().err
    assert err.startswith("efx: error: unknown claim id 'ga.loss-identiy'.")
    assert "Run `efx claims`" in err


@needs_a_claim
def test_show_failing_derivation_exits_1(monkeypatch):
    import sympy

    from efx.proofs.derivation import Derivation, Scope, Step, algebra, definition

    x = sympy.Symbol("x")

    def false_derivation() -> Derivation:
        steps = (Step(2 * x, definition("start")), Step(3 * x, algebra("wrong")))
        return Derivation(claim=FIRST_CLAIM.id, title="false", scope=Scope.GENERAL, steps=steps)

    broken = dataclasses.replace(FIRST_CLAIM, derivations=(false_derivation,))
    monkeypatch.setitem(registry().claims, FIRST_CLAIM.id, broken)

    status, out = run("show", FIRST_CLAIM.id)

    assert status == 1
    assert "FAILED" in out
    assert "this claim is not proved" in out


def test_questions_lists_every_question_state():
    status, out = run("questions")

    assert status == 0
    for question_id in registry().questions:
        assert question_id in out


def test_export_key_writes_schema_valid_file(tmp_path):
    target = tmp_path / "key.json"

    status, out = run("export-key", "-o", str(target))

    assert status == 0
    assert f"wrote {target}" in out
    jsonschema.validate(json.loads(target.read_text(encoding="utf-8")), load_schema())


def test_export_key_prints_to_stdout():
    status, out = run("export-key")

    assert status == 0
    assert json.loads(out)["format"] == 1


REPORT_ERRORS = {
    "missing report": (lambda tmp: tmp / "absent.json", "not found"),
    "not JSON": (lambda tmp: _write(tmp / "bad.json", "{not json"), "cannot read the run report"),
    "wrong schema": (
        lambda tmp: _write(tmp / "old.json", '{"schema": 0}'),
        "cannot read the run report",
    ),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("make", "message"), REPORT_ERRORS.values(), ids=REPORT_ERRORS.keys())
@pytest.mark.parametrize("command", ["claims", "export-key"])
def test_bad_report_exits_2(command, make, message, tmp_path, capsys):
    status, _ = run(command, "--report", str(make(tmp_path)))

    assert status == 2
    assert message in capsys.readouterr().err


def test_export_key_rejects_folder_output(tmp_path, capsys):
    status, _ = run("export-key", "-o", str(tmp_path))

    assert status == 2
    assert "is a folder" in capsys.readouterr().err


@needs_a_claim
def test_gradescope_scores_each_claim(tmp_path):
    report = _report_file(tmp_path, FIRST_CLAIM.id, "passed")
    target = tmp_path / "results.json"

    status, out = run("gradescope", str(report), "-o", str(target), "--include-symbolic")
    results = json.loads(target.read_text(encoding="utf-8"))
    tests = {test["number"]: test for test in results["tests"]}

    assert status == 0
    assert out.startswith(f"wrote {target}: 1 of {len(registry().claims)} points")
    assert tests[FIRST_CLAIM.id]["status"] == "passed"
    assert tests[FIRST_CLAIM.id]["score"] == 1.0
    assert all(test["score"] == 0.0 for cid, test in tests.items() if cid != FIRST_CLAIM.id)


@needs_a_claim
def test_gradescope_rubric_scoring_uses_weights(tmp_path, monkeypatch):
    rubric = Rubric(
        question=FIRST_CLAIM.question,
        answer="Answer.",
        key_points=(KeyPoint("Point.", 5, (FIRST_CLAIM.id,), ("same",)),),
        mistakes=(Mistake("Wrong.", "Why.", FIRST_CLAIM.id, "Example."),),
    )
    monkeypatch.setitem(registry().rubrics, FIRST_CLAIM.question, rubric)
    report = _report_file(tmp_path, FIRST_CLAIM.id, "failed")

    status, out = run("gradescope", str(report), "--scoring", "rubric", "--include-symbolic")
    tests = {test["number"]: test for test in json.loads(out)["tests"]}

    assert status == 0
    assert tests[FIRST_CLAIM.id]["max_score"] == 5.0
    assert tests[FIRST_CLAIM.id]["score"] == 0.0
    assert tests[FIRST_CLAIM.id]["status"] == "failed"


@needs_a_claim
def test_gradescope_warns_on_reference_run(tmp_path, capsys):
    report = _report_file(tmp_path, FIRST_CLAIM.id, "passed", implementation="efx.reference")

    status, _ = run("gradescope", str(report), "--include-symbolic")

    assert status == 0
    assert "efx: warning: the report checked efx.reference" in capsys.readouterr().err


def test_gradescope_needs_an_existing_report(tmp_path, capsys):
    status, _ = run("gradescope", str(tmp_path / "absent.json"))

    assert status == 2
    assert "not found" in capsys.readouterr().err


GRADESCOPE_ERRORS = {
    "report not a mapping": (lambda: gradescope_results([1]), "report="),
    "report without claims": (lambda: gradescope_results({"schema": 1}), "report="),
    "unknown scoring": (lambda: gradescope_results({"claims": {}}, scoring="points"), "scoring="),
    "weights scoring": (lambda: claim_weights(scoring="mark"), "scoring="),
    "folder as results path": (lambda: write_results(Path("/"), {}), "path="),
}


@pytest.mark.parametrize(("call", "name"), GRADESCOPE_ERRORS.values(), ids=GRADESCOPE_ERRORS.keys())
def test_gradescope_errors_name_the_argument(call, name):
    with pytest.raises(InvalidArgumentError, match=f"^{name}.* is invalid: it .*Fix: "):
        call()
