"""The run report: what ``pytest verify/`` checked, per claim, keyed to the code it checked.

``pytest verify/`` writes ``reports/verify.json`` (see :mod:`efx.pytest_plugin`): per claim,
every check that ran with its outcome, Hypothesis example count, dtype and device, plus the
versions of Python, torch and sympy, the git commit, and a hash of efx's and verify's
sources. The site and the answer key read it through :func:`claim_status`, which marks a
claim *not run* when no check of it ran and *stale* when the sources changed since the run.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from efx.errors import invalid_argument

REPORT_SCHEMA = 1
PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DEFAULT_REPORT = PROJECT_DIR / "reports" / "verify.json"
REFERENCE_IMPLEMENTATION = "efx.reference"

Outcome = Literal["passed", "failed", "skipped"]
State = Literal["passed", "failed", "not run"]


def source_hash(roots: Iterable[Path] = (PACKAGE_DIR, PROJECT_DIR / "verify")) -> str:
    """Return a SHA-256 over the Python sources under ``roots`` (paths and contents, sorted)."""
    digest = hashlib.sha256()
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def git_commit(directory: Path = PROJECT_DIR) -> str:
    """Return ``HEAD``'s hash, with ``+dirty`` when tracked files changed, or ``'unknown'``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def environment() -> dict[str, str]:
    """Return the versions a run depends on: Python, torch, sympy, numpy, hypothesis, and the devices."""
    import hypothesis
    import numpy
    import sympy
    import torch

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sympy": sympy.__version__,
        "numpy": numpy.__version__,
        "hypothesis": hypothesis.__version__,
        "platform": platform.platform(),
        "cuda_device": cuda,
    }


@dataclass(frozen=True)
class CheckRecord:
    """One check (a pytest item) of one or more claims, as it ran.

    ``uses_impl`` is True when the check called the implementation under test (it took the
    ``impl`` fixture); sympy derivations and worked examples do not.
    """

    nodeid: str
    claims: tuple[str, ...]
    outcome: Outcome
    duration_s: float
    examples: int | None = None
    dtype: str | None = None
    device: str | None = None
    message: str = ""
    uses_impl: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        return {
            "nodeid": self.nodeid,
            "claims": list(self.claims),
            "outcome": self.outcome,
            "duration_s": round(self.duration_s, 4),
            "examples": self.examples,
            "dtype": self.dtype,
            "device": self.device,
            "message": self.message,
            "uses_impl": self.uses_impl,
        }


def build_report(
    records: Iterable[CheckRecord], implementation: str, profile: str
) -> dict[str, Any]:
    """Assemble the report of one run from its check records."""
    records = list(records)
    claims: dict[str, dict[str, Any]] = {}
    for record in records:
        for claim_id in record.claims:
            entry = claims.setdefault(claim_id, {"checks": []})
            entry["checks"].append(record.to_json())
    for entry in claims.values():
        entry["outcome"] = _aggregate(entry["checks"])
    return {
        "schema": REPORT_SCHEMA,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "source_hash": source_hash(),
        "implementation": implementation,
        "hypothesis_profile": profile,
        "environment": environment(),
        "claims": claims,
    }


def _aggregate(checks: list[dict[str, Any]]) -> State:
    outcomes = {check["outcome"] for check in checks}
    if "failed" in outcomes:
        return "failed"
    if "passed" in outcomes:
        return "passed"
    return "not run"


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write a report as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def load_report(path: Path = DEFAULT_REPORT) -> dict[str, Any] | None:
    """Read a report, or return None when the file does not exist.

    Raises:
        InvalidArgumentError: if the file is not a report of this schema.
    """
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema") != REPORT_SCHEMA:
        raise invalid_argument(
            "path",
            str(path),
            f"must hold a run report of schema {REPORT_SCHEMA}",
            "delete it and run `pytest verify/` again",
        )
    return data


@dataclass(frozen=True)
class ClaimStatus:
    """A claim's status as the site and the answer key show it.

    Attributes:
        state: ``passed``, ``failed`` or ``not run``.
        stale: True when efx's or verify's sources changed since the run.
        foreign: True when the run checked another implementation than efx's.
        checks: the check records of the claim, as stored in the report.
        run: the report's run metadata (commit, created, environment), or None without a report.
    """

    state: State
    stale: bool
    foreign: bool
    checks: tuple[dict[str, Any], ...]
    run: dict[str, Any] | None

    @property
    def label(self) -> str:
        """Return a short human label: ``passed``, ``failed``, ``not run``, with ``(stale)``."""
        suffix = " (stale)" if self.stale and self.state != "not run" else ""
        foreign = " (another implementation)" if self.foreign else ""
        return f"{self.state}{suffix}{foreign}"


def claim_status(
    report: dict[str, Any] | None, claim_id: str, current_hash: str | None = None
) -> ClaimStatus:
    """Return the status of one claim in a report (``not run`` when the report lacks it)."""
    if report is None:
        return ClaimStatus("not run", False, False, (), None)
    run = {
        key: report[key]
        for key in (
            "created",
            "commit",
            "source_hash",
            "environment",
            "implementation",
            "hypothesis_profile",
        )
    }
    foreign = report.get("implementation") != REFERENCE_IMPLEMENTATION
    stale = current_hash is not None and report.get("source_hash") != current_hash
    entry = report["claims"].get(claim_id)
    if entry is None:
        return ClaimStatus("not run", stale, foreign, (), run)
    return ClaimStatus(entry["outcome"], stale, foreign, tuple(entry["checks"]), run)
