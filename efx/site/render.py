"""Markdown for the site: a claim with its statement, derivations and status; a question; a rubric.

Everything is rendered from the registry (:mod:`efx.claims`) and the run report
(:mod:`efx.report`), so a page cannot show a statement its checks do not check. Rendering a
claim runs its derivations: a failing step raises :class:`efx.errors.DerivationError`, which
stops the site build.
"""

from __future__ import annotations

import html
import posixpath
from typing import Any

from efx.claims import CheckKind, Claim, registry
from efx.proofs.derivation import Derivation, StepResult, StepStatus
from efx.report import ClaimStatus, claim_status

_STEP_MARK = {
    StepStatus.START: "start",
    StepStatus.VERIFIED: ":material-check-bold:{ .efx-ok title='verified by sympy' } sympy",
    StepStatus.ARGUED: ":material-comment-text-outline:{ .efx-argued title='argued in prose' } argued",
    StepStatus.FAILED: ":material-close-thick:{ .efx-failed } FAILED",
}
_STATE_MARK = {
    "passed": ":material-check-circle:{ .efx-ok }",
    "failed": ":material-close-circle:{ .efx-failed }",
    "not run": ":material-alert-circle-outline:{ .efx-notrun }",
}


def _indent(text: str, spaces: int = 4) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def _table_math(latex: str) -> str:
    # A bare '|' ends a Markdown table cell, so norms and absolute values use \vert inside tables.
    return latex.replace(r"\|", r"\Vert ").replace("|", r"\vert ")


def claim_link(
    claim_id: str,
    from_page: str,
    report: dict[str, Any] | None,
    current_hash: str | None,
    as_url: bool = False,
) -> str:
    """Return an inline link to a claim, with its status mark; unknown ids raise KeyError.

    The link names the target's Markdown file, which MkDocs rewrites to a URL. Markdown printed
    by a markdown-exec block is not rewritten, so such blocks pass ``as_url=True`` to get the
    built site's URL (``../accumulation/#id`` from ``faults.md``) instead.
    """
    claim = registry().claim(claim_id)
    target = registry().question(claim.question).page
    if as_url:
        relative = posixpath.relpath(_page_dir(target), _page_dir(from_page)) + "/"
    else:
        relative = posixpath.relpath(target, posixpath.dirname(from_page) or ".")
    href = ("" if target == from_page else relative) + f"#{claim.id}"
    status = claim_status(report, claim.id, current_hash)
    return f'{_STATE_MARK[status.state]} [`{claim.id}`]({href} "{html.escape(claim.title)}: {status.label}")'


def _page_dir(page: str) -> str:
    # MkDocs' directory URLs serve accumulation.md as accumulation/ and index.md as the root.
    stem = page.removesuffix(".md")
    return "." if stem == "index" else stem


def render_derivation(derivation: Derivation, results: tuple[StepResult, ...]) -> str:
    """Return a derivation as a Markdown table: relation, expression, rule, check outcome."""
    scope = "general sizes" if derivation.is_general else f"instances only: {derivation.bound}"
    lines = [f"**{derivation.title}** ({scope})", ""]
    if derivation.symbols:
        symbols = "; ".join(f"${symbol}$: {meaning}" for symbol, meaning in derivation.symbols)
        lines += [f"Symbols: {symbols}.", ""]
    lines += ["| step | | expression | rule | check |", "|---:|:---:|---|---|---|"]
    for index, result in enumerate(results):
        step = result.step
        relation = "" if index == 0 else f"${step.relation.value}$"
        rule = str(step.rule)
        if step.prose:
            rule += f". {step.prose}"
        lines.append(
            f"| {index} | {relation} | ${_table_math(step.to_latex())}$ | {_table_math(rule)} | {_STEP_MARK[result.status]} |"
        )
    if derivation.conclusion:
        lines += ["", derivation.conclusion]
    return "\n".join(lines)


def render_status(status: ClaimStatus) -> str:
    """Return one paragraph on what the last run checked for a claim."""
    mark = _STATE_MARK[status.state]
    if status.run is None:
        return f"{mark} **Not run**: no run report was found. Run `pytest verify/` and rebuild the site."
    if not status.checks:
        return f"{mark} **Not run**: the run of {status.run['created']} ran no check of this claim."
    ran = [check for check in status.checks if check["outcome"] != "skipped"]
    skipped = [check for check in status.checks if check["outcome"] == "skipped"]
    examples = sum(check["examples"] or 0 for check in ran)
    dtypes = sorted({check["dtype"] for check in ran if check["dtype"]})
    devices = sorted({check["device"] for check in ran if check["device"]})
    env = status.run["environment"]
    parts = [f"{mark} **{status.label.capitalize()}**: {len(ran)} check(s) ran"]
    if examples:
        parts.append(f"{examples} Hypothesis examples")
    if dtypes:
        parts.append("dtypes " + ", ".join(dtypes))
    if devices:
        parts.append("devices " + ", ".join(devices))
    if skipped:
        reasons = sorted({check["message"] for check in skipped if check["message"]})
        parts.append(f"{len(skipped)} skipped ({'; '.join(reasons) or 'no reason given'})")
    text = "; ".join(parts) + (
        f". Run {status.run['created']}, commit `{status.run['commit'][:12]}`, Python {env['python']}, "
        f"torch {env['torch']}, sympy {env['sympy']}."
    )
    if status.stale:
        text += " **Stale**: efx or verify/ changed since this run; run `pytest verify/` again."
    if status.foreign:
        text += f" **This run checked `{status.run['implementation']}`, not efx.**"
    return text


def render_claim(claim_id: str, report: dict[str, Any] | None, current_hash: str | None) -> str:
    """Return a claim's block: statement, assumptions, checks, status and every derivation, run now."""
    claim: Claim = registry().claim(claim_id)
    body = [f"**Statement.** {claim.statement}", ""]
    if claim.arithmetic:
        body += [f"**Exact or floating point.** {claim.arithmetic}", ""]
    kinds = "; ".join(kind.value for kind in claim.checks)
    body += [f"**Checked by.** {kinds}.", ""]
    if claim.torch_seen:
        body += [f"**torch version.** Seen on torch {claim.torch_seen}.", ""]
    body += [f"**Status.** {render_status(claim_status(report, claim.id, current_hash))}", ""]
    body += [
        f"**Run it.** `pytest verify/ --claim {claim.id}`",
        "",
    ]
    for make in claim.derivations:
        derivation = make()
        results = derivation.verify()
        kind = "general" if derivation.is_general else "instances"
        body += [
            f'??? derivation "Derivation ({kind}): {derivation.title}"',
            _indent(render_derivation(derivation, results)),
            "",
        ]
    if claim.references:
        body += ["**References.** " + "; ".join(claim.references), ""]
    title = f"{claim.id}: {claim.title}".replace('"', "'")
    return "\n".join(
        [f'<a id="{claim.id}"></a>', "", f'!!! claim "{title}"', "", _indent("\n".join(body)), ""]
    )


def render_question(question_id: str) -> str:
    """Return the quoted question with its anchor, and a notice when its answer is not written yet."""
    reg = registry()
    question = reg.question(question_id)
    label = f"{question.label} " if question.label else ""
    lines = [
        f'<a id="{question.id}"></a>',
        "",
        f'!!! question "{label}`{question.id}`"',
        "",
        _indent(f"> {question.text}"),
        "",
        _indent(f"*Context.* {question.context}"),
        "",
    ]
    if reg.rubrics.get(question_id) is None:
        lines += [
            '!!! warning "Not written yet"',
            "",
            "    The verified answer to this question is not written yet: no claim answers it so far.",
            "",
        ]
    return "\n".join(lines)


def render_rubric(
    question_id: str, from_page: str, report: dict[str, Any] | None, current_hash: str | None
) -> str:
    """Return the graders' view of a question, collapsed; see :func:`efx.site.rubric.render_rubric`."""
    from efx.site.rubric import render_rubric as render_grader_view

    return render_grader_view(question_id, from_page, report, current_hash)


def symbolic_kinds(claim: Claim) -> tuple[CheckKind, ...]:
    """Return the symbolic check kinds a claim declares (general or instances)."""
    return tuple(
        k for k in claim.checks if k in (CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES)
    )
