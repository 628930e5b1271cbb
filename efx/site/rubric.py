"""Render the graders' view of a question: minimal answer, weighted key points, common mistakes.

The same Markdown serves two places: under each answer as a collapsed block, and on the
printable answer key expanded. A rubric that is not complete yet (see
:func:`efx.answer_key.rubric_problems`) says what is missing at its top, so the gap shows on
the page and not only in the tests.
"""

from __future__ import annotations

from typing import Any

from efx.answer_key import rubric_problems
from efx.claims import Rubric, registry
from efx.site.markdown import cell, indent


def _cite(ids: tuple[str, ...] | list[str], from_page: str, report: Any, current_hash: Any) -> str:
    from efx.site.render import claim_link

    return ", ".join(claim_link(cid, from_page, report, current_hash) for cid in ids) or "none"


def rubric_body(
    rubric: Rubric, from_page: str, report: dict[str, Any] | None, current_hash: str | None
) -> str:
    """Return the rubric's content as Markdown, without the enclosing block."""
    body: list[str] = []
    problems = rubric_problems(rubric.question)
    if problems:
        body += [
            '!!! warning "Rubric not complete"',
            "",
            indent("\n".join(f"- {problem}" for problem in problems)),
            "",
        ]

    body += ["**Minimal full-credit answer.**", "", rubric.answer.strip() or "*(not written)*", ""]

    body += [
        f"**Key points** ({rubric.total_weight} points in all).",
        "",
        "| points | key point | established by | also accepted |",
        "|---:|---|---|---|",
    ]
    for point in rubric.key_points:
        accepted = "<br>".join(cell(text) for text in point.accepted) or "-"
        claims = _cite(point.claims, from_page, report, current_hash)
        body.append(f"| {point.weight} | {cell(point.text)} | {claims} | {accepted} |")
    body.append("")

    body += ["**Common mistakes.**", ""]
    if not rubric.mistakes:
        body += ["*(none listed yet)*", ""]
    for number, mistake in enumerate(rubric.mistakes, start=1):
        seen = " *(made in the submitted answers)*" if mistake.in_submitted else ""
        refuted = _cite([mistake.claim], from_page, report, current_hash)
        item = [f"**Why it is wrong:** {mistake.why} Refuted by {refuted}."]
        if mistake.counterexample:
            item += ["", f"**Counterexample:** {mistake.counterexample}"]
        body += [f"{number}. **Wrong:** {mistake.wrong}{seen}", "", indent("\n".join(item)), ""]
    return "\n".join(body)


def render_rubric(
    question_id: str,
    from_page: str,
    report: dict[str, Any] | None,
    current_hash: str | None,
    *,
    collapsed: bool = True,
) -> str:
    """Return the graders' view of a question as an admonition, collapsed unless asked otherwise.

    Args:
        question_id: the question whose rubric to show.
        from_page: the page it appears on, relative to ``docs/`` (for claim links).
        report: the run report, for the status marks of cited claims.
        current_hash: the current source hash, so stale runs are marked.
        collapsed: True for a ``???`` block that the reader opens, False for an open block.

    Raises:
        KeyError: if the question is unknown or has no rubric yet.
    """
    reg = registry()
    reg.question(question_id)
    rubric = reg.rubrics.get(question_id)
    if rubric is None:
        raise KeyError(
            f"question {question_id!r} has no rubric yet; write it in efx.claims before citing it"
        )
    marker = "???" if collapsed else "!!!"
    title = f"Grader view: rubric for `{question_id}`"
    body = rubric_body(rubric, from_page, report, current_hash)
    return "\n".join([f'{marker} rubric "{title}"', "", indent(body), ""])
