"""Render the status page: what the last ``pytest verify/`` run checked, claim by claim.

The page reads the run report (``reports/verify.json``) and, where one exists, the report of
a run on a GPU machine (``reports/verify-cuda.json``). A claim that no check of a run
covered is shown as *not run*; a run made from other sources than the current ones is
marked *stale*. The page also lists which questions have a complete rubric.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from efx.answer_key import question_state, rubric_problems, status_json
from efx.claims import registry
from efx.report import claim_status
from efx.site.markdown import cell, indent, page_href

_STATE_WORD = {
    "passed": ":material-check-circle:{ .efx-ok } passed",
    "failed": ":material-close-circle:{ .efx-failed } **failed**",
    "not run": ":material-alert-circle-outline:{ .efx-notrun } not run",
}
_QUESTION_WORD = {
    "complete": ":material-check-circle:{ .efx-ok } complete",
    "incomplete": ":material-alert-circle-outline:{ .efx-notrun } incomplete",
    "not answered": "not answered yet",
}


def _run_summary(report: Mapping[str, Any], current_hash: str | None) -> str:
    env = report.get("environment", {})
    lines = [
        f"- **Created:** {report.get('created', 'unknown')}",
        f"- **Commit:** `{report.get('commit', 'unknown')}`",
        f"- **Implementation checked:** `{report.get('implementation', 'unknown')}`",
        f"- **Hypothesis profile:** `{report.get('hypothesis_profile', 'unknown')}`",
        "- **Versions:** "
        + ", ".join(
            f"{name} {env[name]}"
            for name in ("python", "torch", "sympy", "numpy", "hypothesis")
            if name in env
        ),
        f"- **Platform:** {env.get('platform', 'unknown')}",
        f"- **CUDA device:** {env.get('cuda_device', 'unknown')}",
    ]
    if current_hash is not None and report.get("source_hash") != current_hash:
        lines.append(
            "- **Stale:** efx's or verify/'s sources changed since this run; "
            "run `pytest verify/` again and rebuild the site."
        )
    return "\n".join(lines)


def _claims_table(
    report: Mapping[str, Any] | None, current_hash: str | None, from_page: str
) -> str:
    from efx.site.render import claim_link

    rows = [
        "| claim | question | outcome | checks passed / failed / skipped | Hypothesis examples "
        "| dtypes | devices | run |",
        "|---|---|---|---|---:|---|---|---|",
    ]
    for claim in registry().claims.values():
        status = claim_status(None if report is None else dict(report), claim.id, current_hash)
        summary = status_json(status)
        counts = summary["checks"]
        state = _STATE_WORD[status.state]
        if status.stale and status.state != "not run":
            state += " (stale)"
        if status.foreign:
            state += " (another implementation)"
        run = "-"
        if status.run is not None:
            env = status.run["environment"]
            run = f"`{str(status.run['commit'])[:12]}`, torch {env.get('torch', '?')}"
        rows.append(
            " | ".join(
                [
                    f"| {claim_link(claim.id, from_page, None if report is None else dict(report), current_hash)}",
                    _question_link(claim.question, from_page),
                    state,
                    f"{counts['passed']} / {counts['failed']} / {counts['skipped']}",
                    str(summary["examples"]),
                    ", ".join(summary["dtypes"]) or "-",
                    ", ".join(summary["devices"]) or "-",
                    f"{run} |",
                ]
            )
        )
    if len(rows) == 2:
        return "No claim is registered yet."
    return "\n".join(rows)


def _check_details(report: Mapping[str, Any]) -> str:
    blocks: list[str] = []
    for claim_id, entry in report.get("claims", {}).items():
        rows = [
            "| check | outcome | examples | dtype | device | seconds | message |",
            "|---|---|---:|---|---|---:|---|",
        ]
        for check in entry.get("checks", []):
            rows.append(
                f"| `{cell(check['nodeid'])}` | {check['outcome']} | {check.get('examples') or '-'} "
                f"| {check.get('dtype') or '-'} | {check.get('device') or '-'} "
                f"| {check.get('duration_s', 0):.2f} | {cell(check.get('message') or '') or '-'} |"
            )
        blocks += [f'??? note "Checks of `{claim_id}`"', "", indent("\n".join(rows)), ""]
    return "\n".join(blocks) or "The run recorded no check."


def _section(
    title: str,
    report: Mapping[str, Any] | None,
    current_hash: str | None,
    from_page: str,
    missing: str,
    *,
    show_claims_without_report: bool,
) -> list[str]:
    lines = [f"## {title}", ""]
    if report is None and not show_claims_without_report:
        return [*lines, missing, ""]
    if report is None:
        return [*lines, missing, "", _claims_table(None, current_hash, from_page), ""]
    return [
        *lines,
        _run_summary(report, current_hash),
        "",
        _claims_table(report, current_hash, from_page),
        "",
        "### Every check",
        "",
        _check_details(report),
        "",
    ]


def _question_link(question_id: str, from_page: str) -> str:
    page = registry().question(question_id).page
    return f"[`{question_id}`]({page_href(page, from_page, question_id)})"


def _rubric_table(from_page: str) -> str:
    reg = registry()
    rows = ["| question | section | claims | rubric | what is missing |", "|---|---|---:|---|---|"]
    for question in reg.questions.values():
        state = question_state(question.id)
        problems = "; ".join(rubric_problems(question.id)) if state == "incomplete" else "-"
        rows.append(
            f"| {_question_link(question.id, from_page)} | {question.section} "
            f"| {len(reg.claims_of(question.id))} | {_QUESTION_WORD[state]} | {cell(problems)} |"
        )
    return "\n".join(rows)


def render_status_page(
    report: Mapping[str, Any] | None,
    current_hash: str | None,
    from_page: str,
    gpu_report: Mapping[str, Any] | None = None,
) -> str:
    """Return the status page's Markdown: the CPU run, the GPU run, and rubric completeness.

    Args:
        report: the report of the last ``pytest verify/`` run, or None when there is none.
        current_hash: the current source hash; a run made from other sources is marked stale.
        from_page: the page the status appears on, relative to ``docs/`` (for links).
        gpu_report: the report of a run on a GPU machine, or None.
    """
    lines = _section(
        "Last run",
        report,
        current_hash,
        from_page,
        "**No run report was found** (`reports/verify.json`), so every claim is *not run*. "
        "Run `pytest verify/` and rebuild the site.",
        show_claims_without_report=True,
    )
    gpu_title = "GPU run"
    if gpu_report is not None:
        device = gpu_report.get("environment", {}).get("cuda_device", "unknown device")
        gpu_title = f"GPU run on {device}"
    lines += _section(
        gpu_title,
        gpu_report,
        current_hash,
        from_page,
        "No GPU run report (`reports/verify-cuda.json`) was found when this site was built. "
        "On a machine with CUDA, `EFX_REPORT=reports/verify-cuda.json pytest verify/` writes one.",
        show_claims_without_report=False,
    )
    lines += ["## Rubrics", "", _rubric_table(from_page), ""]
    return "\n".join(lines)
