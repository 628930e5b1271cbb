"""The ``efx`` command: claims, their derivations and the answer key, without the site.

Subcommands:

- ``efx claims``: every claim with its status from the last run (``reports/verify.json``);
- ``efx show ID``: one claim's statement and its derivations, run now, step by step;
- ``efx questions``: every question and whether its rubric is complete;
- ``efx export-key``: the answer key as JSON (see :mod:`efx.answer_key`);
- ``efx gradescope REPORT``: Gradescope results from a run on a student's module.

Exit status: 0 on success, 1 when a derivation shown fails, 2 for invalid input (an unknown
id, a missing or malformed report), with the reason and a suggestion on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from efx import __version__
from efx.errors import EfxError

USAGE_ERROR = 2
DERIVATION_FAILED = 1
_RELATION_TEXT = {
    "EQ": "=",
    "LE": "<=",
    "GE": ">=",
    "LT": "<",
    "GT": ">",
    "IFF": "<=>",
    "IMPLIES": "=>",
}


class UsageError(Exception):
    """Invalid input from the command line. The message states what to do instead."""


def _load_report(path: Path | None) -> dict[str, Any] | None:
    """Read the report at ``path``, or the default report if it exists; a given path must exist."""
    from efx.report import DEFAULT_REPORT, load_report

    target = DEFAULT_REPORT if path is None else path
    try:
        report = load_report(target)
    except (EfxError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read the run report {target}: {error}") from None
    if report is None and path is not None:
        raise UsageError(
            f"run report {target} not found. Run `pytest verify/` first, or pass another path."
        )
    return report


def _require_report(path: Path) -> dict[str, Any]:
    report = _load_report(path)
    if report is None:  # unreachable: _load_report raises for a given path that is missing
        raise UsageError(f"run report {path} not found")
    return report


def _claim_or_fail(claim_id: str) -> Any:
    from efx.claims import registry

    try:
        return registry().claim(claim_id)
    except KeyError as error:
        raise UsageError(f"{error.args[0]} Run `efx claims` to list every claim id.") from None


def _question_or_fail(question_id: str) -> Any:
    from efx.claims import registry

    try:
        return registry().question(question_id)
    except KeyError as error:
        raise UsageError(
            f"{error.args[0]} Run `efx questions` to list every question id."
        ) from None


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")


def _cmd_claims(args: argparse.Namespace, out: TextIO) -> int:
    from efx.claims import registry
    from efx.report import claim_status, source_hash

    report = _load_report(args.report)
    current = source_hash()
    reg = registry()
    if args.question:
        _question_or_fail(args.question)
    selected = [c for c in reg.claims.values() if not args.question or c.question == args.question]
    statuses = {c.id: claim_status(report, c.id, current) for c in selected}
    if args.state:
        wanted = args.state.replace("-", " ")
        selected = [c for c in selected if statuses[c.id].state == wanted]
    if args.json:
        payload = [
            {"id": c.id, "question": c.question, "title": c.title, "status": statuses[c.id].label}
            for c in selected
        ]
        out.write(json.dumps(payload, indent=2) + "\n")
        return 0
    if not selected:
        out.write("No claim matches.\n")
        return 0
    rows = [["CLAIM", "QUESTION", "STATUS", "TITLE"]]
    rows += [[c.id, c.question, statuses[c.id].label, c.title] for c in selected]
    _table(rows, out)
    if report is None:
        out.write(
            "\nNo run report found: every claim is 'not run'. Run `pytest verify/` to check them.\n"
        )
    return 0


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(
        " ".join(text.split()), width=100, initial_indent=indent, subsequent_indent=indent
    )


def _cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    from efx.claims import registry
    from efx.proofs.derivation import StepStatus
    from efx.report import claim_status, source_hash

    claim = _claim_or_fail(args.id)
    report = _load_report(args.report)
    status = claim_status(report, claim.id, source_hash())
    page = registry().question(claim.question).page
    out.write(f"{claim.id}: {claim.title}\n")
    out.write(f"question: {claim.question} (docs/{page}#{claim.id})\n\n")
    out.write("statement:\n" + _wrap(claim.statement) + "\n\n")
    if claim.arithmetic:
        out.write("exact or floating point:\n" + _wrap(claim.arithmetic) + "\n\n")
    out.write("checked by:\n" + "\n".join(f"  - {kind.value}" for kind in claim.checks) + "\n\n")
    out.write(f"status: {status.label}")
    if status.run is not None:
        out.write(f" (run {status.run['created']}, commit {str(status.run['commit'])[:12]})")
    out.write(f"\nrun its checks: pytest verify/ --claim {claim.id}\n")
    if args.no_derivations or not claim.derivations:
        return 0

    failed = False
    for number, make in enumerate(claim.derivations, start=1):
        derivation = make()
        scope = "general sizes" if derivation.is_general else f"instances only: {derivation.bound}"
        out.write(f"\nderivation {number}: {derivation.title} ({scope})\n")
        for symbol, meaning in derivation.symbols:
            out.write(f"  symbol {symbol}: {meaning}\n")
        for index, result in enumerate(derivation.check()):
            step = result.step
            relation = (
                "" if index == 0 else _RELATION_TEXT.get(step.relation.name, step.relation.name)
            )
            outcome = result.status.value + (f" ({result.detail})" if result.detail else "")
            failed = failed or result.status is StepStatus.FAILED
            out.write(f"  [{index}] {relation:<7} {outcome}; {step.rule}\n")
            out.write(_wrap(step.to_latex(), indent="        ") + "\n")
            if step.prose:
                out.write(_wrap("argument: " + step.prose, indent="        ") + "\n")
        if derivation.conclusion:
            out.write(_wrap("conclusion: " + derivation.conclusion) + "\n")
    if failed:
        out.write("\nA step FAILED: this claim is not proved.\n")
        return DERIVATION_FAILED
    return 0


def _cmd_questions(args: argparse.Namespace, out: TextIO) -> int:
    from efx.answer_key import question_state, rubric_problems
    from efx.claims import registry

    reg = registry()
    rows = [["QUESTION", "SECTION", "CLAIMS", "RUBRIC", "MISSING"]]
    for question in reg.questions.values():
        state = question_state(question.id)
        if args.incomplete and state != "incomplete":
            continue
        missing = "; ".join(rubric_problems(question.id)) if state == "incomplete" else "-"
        rows.append(
            [question.id, question.section, str(len(reg.claims_of(question.id))), state, missing]
        )
    if len(rows) == 1:
        out.write("No question matches.\n")
        return 0
    _table(rows, out)
    return 0


def _cmd_export_key(args: argparse.Namespace, out: TextIO) -> int:
    from efx.answer_key import build_answer_key
    from efx.report import DEFAULT_REPORT, source_hash

    report = _load_report(args.report)
    gpu_path = args.gpu_report or DEFAULT_REPORT.with_name("verify-cuda.json")
    gpu_report = _load_report(gpu_path) if args.gpu_report or gpu_path.is_file() else None
    key = build_answer_key(report=report, current_hash=source_hash(), gpu_report=gpu_report)
    text = json.dumps(key, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        out.write(text)
        return 0
    if args.output.is_dir():
        raise UsageError(
            f"--output {args.output} is a folder. Pass a file name such as answer-key.json."
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    summary = key["summary"]
    out.write(
        f"wrote {args.output}: answer key {key['version']}, {summary['questions']} questions, "
        f"{summary['claims']} claims\n"
    )
    return 0


def _cmd_gradescope(args: argparse.Namespace, out: TextIO) -> int:
    from efx.errors import EfxWarning
    from efx.gradescope import gradescope_results, write_results

    report = _require_report(args.report)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EfxWarning)
        results = gradescope_results(
            report, scoring=args.scoring, include_symbolic=args.include_symbolic
        )
    for warning in caught:
        sys.stderr.write(f"efx: warning: {warning.message}\n")
    if args.output is None:
        out.write(json.dumps(results, indent=2) + "\n")
        return 0
    if args.output.is_dir():
        raise UsageError(
            f"--output {args.output} is a folder. Pass a file name such as results.json."
        )
    write_results(args.output, results)
    available = sum(test["max_score"] for test in results["tests"])
    out.write(f"wrote {args.output}: {results['score']:g} of {available:g} points\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``efx`` command."""
    parser = argparse.ArgumentParser(
        prog="efx",
        description="Inspect efx's verified claims, their derivations and the graders' answer key.",
        epilog="Run `efx COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"efx {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    report_help = "run report to read (default: reports/verify.json, written by `pytest verify/`)"

    claims = commands.add_parser("claims", help="list claims with their status from the last run")
    claims.add_argument(
        "--question", metavar="ID", help="only the claims that answer this question id"
    )
    claims.add_argument(
        "--state",
        choices=["passed", "failed", "not-run"],
        help="only claims with this outcome in the run",
    )
    claims.add_argument("--report", type=Path, metavar="PATH", help=report_help)
    claims.add_argument("--json", action="store_true", help="print JSON instead of a table")
    claims.set_defaults(handler=_cmd_claims)

    show = commands.add_parser("show", help="show a claim's statement and run its derivations")
    show.add_argument("id", metavar="ID", help="claim id, for example ga.loss-identity")
    show.add_argument(
        "--no-derivations", action="store_true", help="print the statement only; run no derivation"
    )
    show.add_argument("--report", type=Path, metavar="PATH", help=report_help)
    show.set_defaults(handler=_cmd_show)

    questions = commands.add_parser(
        "questions", help="list questions and whether their rubric is complete"
    )
    questions.add_argument(
        "--incomplete",
        action="store_true",
        help="only questions with claims whose rubric is not complete",
    )
    questions.set_defaults(handler=_cmd_questions)

    export = commands.add_parser("export-key", help="write the answer key as JSON")
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="file to write (default: print to standard output)",
    )
    export.add_argument("--report", type=Path, metavar="PATH", help=report_help)
    export.add_argument(
        "--gpu-report",
        type=Path,
        metavar="PATH",
        help="report of a run on a GPU machine (default: reports/verify-cuda.json when it exists)",
    )
    export.set_defaults(handler=_cmd_export_key)

    grade = commands.add_parser(
        "gradescope", help="turn a run on a student's module into Gradescope results.json"
    )
    grade.add_argument(
        "report",
        type=Path,
        metavar="REPORT",
        help="run report of `pytest verify/ --impl student_module --efx-report REPORT`",
    )
    grade.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="file to write (default: print to standard output)",
    )
    grade.add_argument(
        "--scoring",
        choices=["claim", "rubric"],
        default="claim",
        help="claim: 1 point per claim; rubric: key-point weights shared among their claims (default: claim)",
    )
    grade.add_argument(
        "--include-symbolic",
        action="store_true",
        help="also score claims checked only by sympy, which do not call the student's code",
    )
    grade.set_defaults(handler=_cmd_gradescope)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the ``efx`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = sys.stdout if out is None else out
    try:
        status: int = args.handler(args, stream)
    except UsageError as error:
        sys.stderr.write(f"efx: error: {error}\n")
        return USAGE_ERROR
    except BrokenPipeError:
        # The reader closed the pipe early (`efx show ID | head`). Point stdout at devnull so
        # the interpreter's final flush does not raise again, as the Python docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status


if __name__ == "__main__":  # pragma: no cover -- the console script calls main()
    sys.exit(main())
