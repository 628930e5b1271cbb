"""Export the results of the last ``mutmut run`` to docs/mutation-results.json.

Run it from the repository root after ``mutmut run`` has finished (see docs/mutation.md):

    python scripts/mutation_results.py

It reads every mutant's outcome with ``mutmut results --all true``, and the diff of every
mutant that was not killed with ``mutmut show``, and writes counts per module and per
outcome, the mutation score and the surviving mutants. docs/mutation.md renders that file at
build time, next to the reason each survivor is left.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).with_name("mutmut")
OUTPUT = ROOT / "docs" / "mutation-results.json"


def mutmut(*args: str) -> str:
    """Run a mutmut command in the repository root and return its standard output."""
    completed = subprocess.run(
        [str(MUTMUT), *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return completed.stdout


def outcomes() -> dict[str, str]:
    """Return every mutant's name and outcome (killed, survived, no tests, timeout, ...)."""
    result = {}
    for line in mutmut("results", "--all", "true").splitlines():
        name, separator, status = line.strip().rpartition(": ")
        if separator:
            result[name] = status
    return result


def module_of(mutant: str) -> str:
    """Return the module of a mutant name such as ``efx.lora.x_lora_scale__mutmut_3``."""
    parts = mutant.split(".")
    return ".".join(parts[:-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the JSON")
    parser.add_argument(
        "--wall-time",
        default="",
        help="how long the run took, as measured, for example '2 h 10 min'",
    )
    parser.add_argument(
        "--reruns",
        default="",
        help="the reruns after the full run, if any, for example 'mutmut run NAME ... after new tests'",
    )
    args = parser.parse_args()

    statuses = outcomes()
    if not statuses:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 1
    counts = Counter(statuses.values())
    by_module: dict[str, Counter[str]] = {}
    for name, status in statuses.items():
        by_module.setdefault(module_of(name), Counter())[status] += 1
    # mutmut's own score: killed and timed-out mutants over all mutants that were not skipped.
    tested = len(statuses) - counts["skipped"]
    score = (counts["killed"] + counts["timeout"]) / tested if tested else 0.0
    survivors = [
        {"name": name, "status": status, "diff": mutmut("show", name).split("\n", 1)[1].strip()}
        for name, status in sorted(statuses.items())
        if status not in ("killed", "timeout")
    ]
    data = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} cores",
        "wall_time": args.wall_time,
        "reruns": args.reruns,
        "command": "HYPOTHESIS_PROFILE=ci OMP_NUM_THREADS=1 mutmut run --max-children 2",
        "counts": dict(sorted(counts.items())),
        "score": score,
        "by_module": {module: dict(sorted(c.items())) for module, c in sorted(by_module.items())},
        "survivors": survivors,
    }
    args.output.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"{len(statuses)} mutants, score {score:.1%}, {len(survivors)} not killed: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
