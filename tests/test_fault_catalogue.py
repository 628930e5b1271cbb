"""Every catalogued fault fails ``pytest verify/``, and the same checks pass on efx's own code.

Each fault of :data:`efx.faults.FAULTS` runs as a user runs it, in a fresh ``pytest``
process: ``pytest <files> --impl efx.faults.<name> --claim <id> ...`` under the derandomized
``ci`` Hypothesis profile, with its own run report so ``reports/verify.json`` stays as it was.
A fault counts as caught when at least one check *fails*: a collection error, a setup error
or a skip does not count. The control runs every catching selection against
``efx.reference`` and expects no failure.

The runs start one ``pytest`` process per fault, each shrinking and explaining a falsifying
example, which takes several minutes on two cores, so they are marked ``slow``:
``HYPOTHESIS_PROFILE=ci pytest tests/test_fault_catalogue.py -m slow``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from efx.faults import FAULTS, Fault

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "faults.md"
RUN_TIMEOUT_S = 900
"""Upper limit for one pytest process. Fault runs took 7 to 80 s each on two cores shared with other jobs."""


@dataclass(frozen=True)
class Outcomes:
    """The outcome of every test case of one pytest run, from its JUnit XML."""

    passed: tuple[str, ...]
    failed: tuple[str, ...]
    errors: tuple[str, ...]
    skipped: tuple[str, ...]
    exit_code: int
    output: str


def run_pytest(
    args: list[str], tmp_path: Path, extra_env: dict[str, str] | None = None
) -> Outcomes:
    """Run pytest in a subprocess from the repository root and return its outcomes."""
    junit = tmp_path / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        *args,
        "-p",
        "no:cacheprovider",
        f"--efx-report={tmp_path / 'report.json'}",
        f"--junitxml={junit}",
        "-q",
    ]
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci", **(extra_env or {})}
    completed = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert junit.is_file(), f"pytest wrote no JUnit report; output:\n{output[-4000:]}"
    cases: dict[str, list[str]] = {"passed": [], "failed": [], "errors": [], "skipped": []}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            cases["failed"].append(name)
        elif case.find("error") is not None:
            cases["errors"].append(name)
        elif case.find("skipped") is not None:
            cases["skipped"].append(name)
        else:
            cases["passed"].append(name)
    return Outcomes(
        **{key: tuple(value) for key, value in cases.items()},
        exit_code=completed.returncode,
        output=output,
    )


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_fault_is_caught(fault: Fault, tmp_path: Path) -> None:
    # -x: one failing check is enough to show the fault is caught.
    outcomes = run_pytest([*fault.pytest_args(), "-x"], tmp_path)

    summary = outcomes.output[-3000:]
    assert outcomes.errors == (), f"{fault.name}: errors instead of failures\n{summary}"
    assert outcomes.failed, f"{fault.name}: no check of {fault.claims} failed\n{summary}"
    assert outcomes.exit_code == 1, f"{fault.name}: pytest exit code {outcomes.exit_code}"
    # The plugin names the failing check's claim next to the falsifying example.
    named = set(re.findall(r"^claim (\S+):", outcomes.output, flags=re.MULTILINE))
    assert named & set(fault.claims), f"{fault.name}: failure names claims {named}"


def test_fault_modules_redefine_what_they_list() -> None:
    import efx.reference

    public = [name for name in vars(efx.reference) if not name.startswith("_")]
    for fault in FAULTS:
        module = fault.load()
        for name in fault.replaces:
            assert name in vars(module), f"{fault.module} does not define {name}"
            assert getattr(module, name) is not getattr(efx.reference, name)
        assert module.__doc__ is not None, fault.module
        assert "Caught by:" in module.__doc__, fault.module
        # Every other name falls back to efx's own, so only the listed names differ.
        for name in public:
            if name not in fault.replaces:
                assert getattr(module, name) is getattr(efx.reference, name), (fault.name, name)


@pytest.mark.slow
def test_control_reference_passes(tmp_path: Path) -> None:
    files = sorted({path for fault in FAULTS for path in fault.files})
    claims = sorted({claim for fault in FAULTS for claim in fault.claims})
    args = [*files, "--impl", "efx.reference"]
    for claim in claims:
        args += ["--claim", claim]

    outcomes = run_pytest(args, tmp_path)

    summary = outcomes.output[-3000:]
    assert outcomes.failed == (), f"efx.reference fails checks\n{summary}"
    assert outcomes.errors == (), f"efx.reference has errors\n{summary}"
    assert outcomes.exit_code == 0, summary
    # Every catching claim had a check that ran and passed, not only skips.
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    for claim in claims:
        assert report["claims"][claim]["outcome"] == "passed", claim


def fenced_blocks(text: str, language: str) -> list[str]:
    """Return the contents of the page's fenced code blocks in ``language``."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.slow
def test_student_example_matches_page(tmp_path: Path) -> None:
    page = PAGE.read_text(encoding="utf-8")
    module = next(
        b for b in fenced_blocks(page, "python") if b.startswith("# student_accumulation.py")
    )
    (tmp_path / "student_accumulation.py").write_text(module, encoding="utf-8")
    command = next(b for b in fenced_blocks(page, "bash") if "--impl student_accumulation" in b)
    words = shlex.split(command.replace("\\\n", " "))
    args = words[words.index("pytest") + 1 :]
    report = args.index("--efx-report")
    del args[report : report + 2]  # the run writes its report under tmp_path instead
    shown = fenced_blocks(page, "text")[0].splitlines()

    outcomes = run_pytest(args, tmp_path, {"PYTHONPATH": str(tmp_path)})

    printed = outcomes.output.splitlines()
    for line in shown:
        if line.startswith(("FAILED ", "SKIPPED ", "claim ", "page: ")):
            assert line in printed, f"the page shows a line pytest did not print: {line}"
    failed_lines = [line for line in printed if line.startswith("FAILED ")]
    assert failed_lines == [line for line in shown if line.startswith("FAILED ")]
    counts = re.search(r"(\d+ failed, \d+ passed, \d+ skipped)", shown[-1])
    assert counts is not None, shown[-1]
    assert counts.group(1) in printed[-1], printed[-1]
    # The prose names the smallest counterexample: three samples split as one and two.
    assert "sizes=(1, 2)" in outcomes.output
