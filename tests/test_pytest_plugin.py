"""The verify/ plugin: claim markers, --claim selection, --impl, failure sections, the report."""

from __future__ import annotations

import json

import pytest

CONFTEST = """
pytest_plugins = ["efx.pytest_plugin"]
"""

CHECKS = """
import pytest
from hypothesis import given, settings, strategies as st

@pytest.mark.claim("ga.loss-identity")
@settings(max_examples=7, database=None)
@given(st.integers())
def test_property(x):
    assert x == x

@pytest.mark.claim("ga.loss-identity")
@pytest.mark.parametrize("device", ["cpu"])
@pytest.mark.parametrize("dtype", ["float64"])
def test_param(device, dtype):
    pass

def test_unmarked():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_checks=CHECKS)
    return pytester


def _report(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "report.json").read_text())


def test_report_records_claim_checks(project):
    result = project.runpytest("--efx-report=report.json", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=3)
    report = _report(project)
    checks = report["claims"]["ga.loss-identity"]["checks"]
    assert report["claims"]["ga.loss-identity"]["outcome"] == "passed"
    assert len(checks) == 2
    assert {c["examples"] for c in checks} == {7, None}
    assert {(c["device"], c["dtype"]) for c in checks} == {(None, None), ("cpu", "float64")}
    assert report["implementation"] == "efx.reference"
    assert set(report["environment"]) >= {"python", "torch", "sympy"}


def test_claim_option_selects_checks(project):
    result = project.runpytest(
        "--efx-report=report.json", "--claim", "ga.loss-identity", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=2, deselected=1)


def test_unknown_claim_option_is_a_usage_error(project):
    result = project.runpytest("--claim", "ga.loss-identiy", "-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown claim id 'ga.loss-identiy'*Did you mean ga.loss-identity*"]
    )


def test_unknown_claim_marker_is_a_usage_error(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_bad='import pytest\n@pytest.mark.claim("no.such-claim")\ndef test_x():\n    pass\n'
    )

    result = pytester.runpytest("-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_failing_check_prints_claim_and_page(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_fail='import pytest\n@pytest.mark.claim("ga.loss-identity")\ndef test_x():\n    assert 1 == 2\n'
    )

    result = pytester.runpytest("--efx-report=report.json", "-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*efx claim*",
            "claim ga.loss-identity: *",
            "statement: *",
            "page: docs/accumulation.md#ga.loss-identity",
        ]
    )
    assert _report(pytester)["claims"]["ga.loss-identity"]["outcome"] == "failed"


def test_impl_option_skips_missing_functions(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        student="def double(x):\n    return 2 * x\n",
        test_impl=(
            "import pytest\n"
            "@pytest.mark.claim('ga.loss-identity')\n"
            "def test_double(impl):\n    assert impl.double(2) == 4\n"
            "@pytest.mark.claim('ga.loss-identity')\n"
            "def test_missing(impl):\n    impl.triple(2)\n"
        ),
    )

    result = pytester.runpytest(
        "--impl", "student", "--efx-report=report.json", "-p", "no:cacheprovider", "-rs"
    )

    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*implementation student does not define triple*"])
    assert _report(pytester)["implementation"] == "student"


def test_narrow_run_does_not_replace_the_site_report(project, monkeypatch, tmp_path):
    from efx import report

    monkeypatch.setattr(report, "DEFAULT_REPORT", tmp_path / "verify.json")

    project.runpytest("--claim", "ga.loss-identity", "-p", "no:cacheprovider")
    project.runpytest("--impl", "efx.reference", "-k", "property", "-p", "no:cacheprovider")

    assert not (tmp_path / "verify.json").exists()
    assert (tmp_path / "verify-partial.json").exists()


def test_unimportable_impl_stops_before_running(project):
    result = project.runpytest("--impl", "no_such_module", "-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--impl no_such_module: cannot import it*PYTHONPATH=.*"])


def test_report_marks_checks_that_call_the_implementation(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_calls=(
            "import pytest\n"
            "@pytest.mark.claim('ga.loss-identity')\n"
            "def test_with_impl(impl):\n    pass\n"
            "@pytest.mark.claim('ga.loss-identity')\n"
            "def test_without_impl():\n    pass\n"
        )
    )

    pytester.runpytest("--efx-report=report.json", "-p", "no:cacheprovider")

    checks = _report(pytester)["claims"]["ga.loss-identity"]["checks"]
    assert {c["nodeid"].split("::")[1]: c["uses_impl"] for c in checks} == {
        "test_with_impl": True,
        "test_without_impl": False,
    }
