"""Render the printable answer key: every question with its answer, rubric and claims, expanded.

One page contains the whole key, so a grader can print it or save it as a PDF. Each question
starts with a heading that the print stylesheet (``docs/assets/efx.css``) puts on a new page;
rubrics are open blocks, not collapsed ones, because a printed page cannot be clicked.
"""

from __future__ import annotations

from typing import Any

from efx.answer_key import key_version, question_state, rubric_problems
from efx.claims import registry
from efx.report import claim_status
from efx.site.markdown import indent, page_href
from efx.site.rubric import rubric_body

_SECTION_TITLES = {
    "3.1": "Gradient accumulation",
    "3.2": "Gradient checkpointing",
    "3.3": "Low rank and LoRA",
}


def _claims_list(
    question_id: str, from_page: str, report: dict[str, Any] | None, current_hash: str | None
) -> str:
    from efx.site.render import claim_link

    lines = []
    for claim in registry().claims_of(question_id):
        status = claim_status(report, claim.id, current_hash)
        lines += [
            f"- {claim_link(claim.id, from_page, report, current_hash)} **{claim.title}** "
            f"({status.label}).",
            "",
            indent(claim.statement),
            "",
        ]
    return "\n".join(lines)


def render_answer_key_page(
    from_page: str, report: dict[str, Any] | None, current_hash: str | None
) -> str:
    """Return the printable key's Markdown: a summary, then one part per question in order.

    Args:
        from_page: the page it appears on, relative to ``docs/`` (for links).
        report: the run report, for each claim's status.
        current_hash: the current source hash, so stale runs are marked.
    """
    reg = registry()
    states = [question_state(question.id) for question in reg.questions.values()]
    lines = [
        f"Answer key version `{key_version()}`: {len(states)} questions, "
        f"{len(states) - states.count('not answered')} answered, "
        f"{states.count('complete')} with a complete rubric.",
        "",
    ]
    section = None
    for question in reg.questions.values():
        if question.section != section:
            section = question.section
            title = _SECTION_TITLES.get(section, "")
            lines += [f"## {section} {title}".rstrip() + " { .efx-key-section }", ""]
        label = f"{question.label} " if question.label else ""
        href = page_href(question.page, from_page, question.id)
        lines += [
            f"### {label}`{question.id}` {{ .efx-key-question }}",
            "",
            f"> {question.text}",
            "",
            f"*Context.* {question.context} [Full answer on its page]({href}).",
            "",
        ]
        state = question_state(question.id)
        if state == "not answered":
            lines += ["*Not answered yet: no claim or rubric is written for this question.*", ""]
            continue

        lines += ["**Claims.**", "", _claims_list(question.id, from_page, report, current_hash)]
        rubric = reg.rubrics.get(question.id)
        if rubric is None:
            lines += [
                '!!! warning "No rubric yet"',
                "",
                indent("- " + "\n- ".join(rubric_problems(question.id))),
                "",
            ]
            continue
        lines += [
            f'!!! rubric "Rubric for `{question.id}`"',
            "",
            indent(rubric_body(rubric, from_page, report, current_hash)),
            "",
        ]
    return "\n".join(lines)
