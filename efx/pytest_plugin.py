"""The pytest plugin behind ``pytest verify/``: claim markers, implementation fixture, run report.

- ``@pytest.mark.claim("ga.loss-identity")`` ties a check to claims; unknown ids fail collection.
- ``--claim ID`` (repeatable) runs only the checks of those claims.
- ``--impl MODULE`` points every property at another implementation of efx's functions, a
  module defining some of the names that ``efx.reference`` defines; checks whose function
  the module lacks are skipped with a reason naming it.
- A failing check prints its claim's id, statement and page next to Hypothesis's
  falsifying example.
- At the end of the session the run report (``reports/verify.json`` unless ``--efx-report``
  or ``EFX_REPORT`` says otherwise) records every claim check, see :mod:`efx.report`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Generator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from efx import report as run_report
from efx.claims import registry

_RECORDS = pytest.StashKey[list[run_report.CheckRecord]]()
_IMPL = pytest.StashKey[str]()
_COLLECTED = pytest.StashKey[dict[str, set[str]]]()
_FILES = pytest.StashKey[set[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("efx", "efx claim checks")
    group.addoption(
        "--claim",
        action="append",
        default=[],
        metavar="ID",
        help="run only the checks of this claim id (repeatable), for example --claim ga.loss-identity",
    )
    group.addoption(
        "--impl",
        default=os.environ.get("EFX_IMPL", run_report.REFERENCE_IMPLEMENTATION),
        metavar="MODULE",
        help="importable module whose functions the properties check (default: efx.reference, efx's own)",
    )
    group.addoption(
        "--efx-report",
        default=os.environ.get("EFX_REPORT"),
        metavar="PATH",
        help=(
            "where to write the run report (JSON). Default: reports/verify.json, which the site "
            "reads, for a full run of efx's own functions; reports/verify-partial.json when "
            "--claim or a narrower selection ran; reports/verify-impl-MODULE.json with --impl"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "claim(*ids): the check belongs to the claims with these ids"
    )
    config.stash[_RECORDS] = []
    config.stash[_IMPL] = config.getoption("--impl")
    if config.stash[_IMPL] != run_report.REFERENCE_IMPLEMENTATION:
        try:
            importlib.import_module(config.stash[_IMPL])
        except ImportError as error:
            raise pytest.UsageError(
                f"--impl {config.stash[_IMPL]}: cannot import it ({error}). Pass an importable "
                "module path; a module in the current folder needs PYTHONPATH=. on the command line."
            ) from error
    config.stash[_COLLECTED] = {}
    config.stash[_FILES] = set()


def pytest_itemcollected(item: pytest.Item) -> None:
    # Recorded before any -m, -k or --claim deselection, so slow checks count as checks too.
    item.config.stash[_FILES].add(str(item.path))
    for claim_id in _claim_ids(item):
        item.config.stash[_COLLECTED].setdefault(claim_id, set()).add(str(item.path))


def collected_claims(config: pytest.Config) -> dict[str, set[str]]:
    """Return claim id to the files of the collected checks that carry it (before deselection)."""
    return config.stash[_COLLECTED]


def collected_files(config: pytest.Config) -> set[str]:
    """Return the files of every collected test (before deselection)."""
    return config.stash[_FILES]


def _claim_ids(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for marker in item.iter_markers("claim"):
        ids.extend(marker.args)
    return tuple(dict.fromkeys(ids))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = registry().claims
    for item in items:
        for claim_id in _claim_ids(item):
            if claim_id not in known:
                raise pytest.UsageError(f"{item.nodeid}: {_unknown_message(claim_id)}")
    wanted = config.getoption("--claim")
    if not wanted:
        return
    for claim_id in wanted:
        if claim_id not in known:
            raise pytest.UsageError(f"--claim {claim_id}: {_unknown_message(claim_id)}")
    selected = [item for item in items if set(_claim_ids(item)) & set(wanted)]
    deselected = [item for item in items if item not in selected]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = selected


def _unknown_message(claim_id: str) -> str:
    try:
        registry().claim(claim_id)
    except KeyError as error:
        return str(error.args[0])
    return ""


class Implementation:
    """The implementation under test: attribute access returns its function or skips the check."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.name = module.__name__

    def __getattr__(self, name: str) -> Any:
        # Private and Hypothesis-internal names are probed by tools (Hypothesis looks for
        # ``hypothesis_*`` attributes on test arguments); they are not functions under test.
        if name.startswith(("_", "hypothesis_")):
            raise AttributeError(name)
        try:
            return getattr(self.module, name)
        except AttributeError:
            pytest.skip(f"implementation {self.name} does not define {name}; this check needs it")

    def __repr__(self) -> str:
        return f"Implementation({self.name})"


@pytest.fixture(scope="session")
def impl(pytestconfig: pytest.Config) -> Implementation:
    """The implementation the properties check: efx's own unless ``--impl`` names another module."""
    name = pytestconfig.stash[_IMPL]
    try:
        module = importlib.import_module(name)
    except ImportError as error:
        raise pytest.UsageError(
            f"--impl {name}: cannot import it ({error}). Pass an importable module path."
        ) from error
    return Implementation(module)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    # Hypothesis reports each test's statistics through a context variable that its own pytest
    # plugin sets around this hook (hypothesis.statistics.collector, seen in hypothesis 6.170).
    # Chaining onto it counts the examples without replacing Hypothesis's own reporting.
    try:
        from hypothesis.statistics import collector
    except ImportError:  # pragma: no cover -- the report then shows no example counts
        return (yield)
    previous = collector.value

    def note(stats: dict[str, Any]) -> None:
        item.stash[_EXAMPLES] = _count_examples(stats)
        if previous is not None:
            previous(stats)

    with collector.with_value(note):  # type: ignore[arg-type]  # typed as None in hypothesis
        return (yield)


_EXAMPLES = pytest.StashKey[int]()


def _count_examples(stats: dict[str, Any]) -> int:
    count = 0
    for phase in ("reuse-phase", "generate-phase", "shrink-phase", "explain-phase"):
        cases = stats.get(phase, {}).get("test-cases", [])
        count += sum(1 for case in cases if case.get("status") in ("valid", "interesting"))
    return count


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    ids = _claim_ids(item)
    if not ids:
        return report
    if report.failed and call.when == "call":
        report.sections.append(("efx claim", _describe_claims(ids)))
    if call.when == "call" or (call.when == "setup" and not report.passed):
        params = getattr(item, "callspec", None)
        values = params.params if params is not None else {}
        item.config.stash[_RECORDS].append(
            run_report.CheckRecord(
                nodeid=item.nodeid,
                claims=ids,
                outcome=report.outcome,
                duration_s=report.duration,
                examples=item.stash.get(_EXAMPLES, None),
                dtype=_name(values.get("dtype")),
                device=_name(values.get("device")),
                message=_skip_reason(report),
                uses_impl="impl" in getattr(item, "fixturenames", ()),
            )
        )
    return report


def _name(value: object) -> str | None:
    if value is None:
        return None
    return str(value).removeprefix("torch.")


def _skip_reason(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return ""


def _describe_claims(ids: tuple[str, ...]) -> str:
    lines = []
    for claim_id in ids:
        claim = registry().claim(claim_id)
        page = registry().question(claim.question).page
        lines += [
            f"claim {claim.id}: {claim.title}",
            f"statement: {claim.statement}",
            f"page: docs/{page}#{claim.id}",
            "",
        ]
    return "\n".join(lines)


def _report_path(config: pytest.Config) -> Path:
    explicit = config.getoption("--efx-report")
    if explicit:
        return Path(explicit)
    implementation = config.stash[_IMPL]
    if implementation != run_report.REFERENCE_IMPLEMENTATION:
        return run_report.DEFAULT_REPORT.with_name(f"verify-impl-{implementation}.json")
    verify_dir = run_report.PROJECT_DIR / "verify"
    every_file = {str(p) for p in verify_dir.glob("test_*.py")}
    full_run = not config.getoption("--claim") and every_file <= collected_files(config)
    if full_run and not config.getoption("keyword") and config.getoption("markexpr") == "not slow":
        return run_report.DEFAULT_REPORT
    # A narrower run must not replace the report the site shows for the whole suite.
    return run_report.DEFAULT_REPORT.with_name("verify-partial.json")


def pytest_sessionfinish(session: pytest.Session) -> None:
    records = session.config.stash[_RECORDS]
    if not records or hasattr(session.config, "workerinput"):
        return
    profile = os.environ.get("HYPOTHESIS_PROFILE", "dev")
    data = run_report.build_report(records, session.config.stash[_IMPL], profile)
    path = _report_path(session.config)
    run_report.write_report(data, path)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        count = len(data["claims"])
        reporter.write_line(
            f"efx: report of {count} claim{'s' if count != 1 else ''} written to {path}"
        )
