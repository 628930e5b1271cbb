"""Collect the references of a page: each claim's sources plus the background of its sections.

A claim lists the papers and documentation it relies on in ``Claim.references``. The site
hook appends a *References* section to every page that answers questions, built from the
claims on that page and from :data:`SECTION_REFERENCES`, the standard sources of each
section, so a page has references before its claims name their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from efx.claims import registry

SECTION_REFERENCES: dict[str, tuple[str, ...]] = {
    "3.1": (
        "S. Ioffe and C. Szegedy, *Batch Normalization: Accelerating Deep Network Training by "
        "Reducing Internal Covariate Shift*, ICML 2015, "
        "[arXiv:1502.03167](https://arxiv.org/abs/1502.03167).",
        "PyTorch documentation, "
        "[`torch.nn.BatchNorm1d`](https://docs.pytorch.org/docs/stable/generated/torch.nn.BatchNorm1d.html).",
    ),
    "3.2": (
        "T. Chen, B. Xu, C. Zhang and C. Guestrin, *Training Deep Nets with Sublinear Memory "
        "Cost*, 2016, [arXiv:1604.06174](https://arxiv.org/abs/1604.06174).",
        "PyTorch documentation, "
        "[`torch.utils.checkpoint`](https://docs.pytorch.org/docs/stable/checkpoint.html).",
    ),
    "3.3": (
        "C. Eckart and G. Young, *The approximation of one matrix by another of lower rank*, "
        "Psychometrika, 1936.",
        "E. J. Hu, Y. Shen, P. Wallis, Z. Allen-Zhu, Y. Li, S. Wang, L. Wang and W. Chen, "
        "*LoRA: Low-Rank Adaptation of Large Language Models*, ICLR 2022, "
        "[arXiv:2106.09685](https://arxiv.org/abs/2106.09685).",
        "PyTorch documentation, "
        "[`torch.linalg.svd`](https://docs.pytorch.org/docs/stable/generated/torch.linalg.svd.html).",
    ),
}
"""Background sources of each section of the assignment, keyed by section number."""


def collect_references(
    question_ids: Iterable[str], claim_ids: Iterable[str]
) -> list[tuple[str, list[str]]]:
    """Return each reference once, with the claims that cite it, in first-seen order.

    Claim references come first (they back a specific statement), then the background
    sources of the questions' sections that no claim cites already.

    Args:
        question_ids: the questions answered on the page.
        claim_ids: the claims shown or cited on the page.

    Raises:
        KeyError: if a question or claim id is unknown.
    """
    reg = registry()
    cited_by: dict[str, list[str]] = {}
    for claim_id in claim_ids:
        for reference in reg.claim(claim_id).references:
            citing = cited_by.setdefault(reference, [])
            if claim_id not in citing:
                citing.append(claim_id)
    for question_id in question_ids:
        for reference in SECTION_REFERENCES.get(reg.question(question_id).section, ()):
            cited_by.setdefault(reference, [])
    return list(cited_by.items())


def render_references(
    question_ids: Iterable[str],
    claim_ids: Iterable[str],
    from_page: str,
    report: dict[str, Any] | None,
    current_hash: str | None,
    heading: str = "## References",
) -> str:
    """Return a References section as Markdown, or an empty string when there is none.

    Each reference that a claim cites names those claims, linked with their status.
    """
    from efx.site.render import claim_link

    references = collect_references(question_ids, claim_ids)
    if not references:
        return ""
    lines = [heading, ""]
    for reference, claims in references:
        cited = ""
        if claims:
            links = ", ".join(claim_link(cid, from_page, report, current_hash) for cid in claims)
            cited = f" Cited by {links}."
        lines.append(f"1. {reference}{cited}")
    return "\n".join(lines) + "\n"


def render_all_references(
    from_page: str, report: dict[str, Any] | None, current_hash: str | None
) -> str:
    """Return every reference of the site, one section per section of the assignment."""
    reg = registry()
    sections: dict[str, list[str]] = {}
    for question in reg.questions.values():
        sections.setdefault(question.section, []).append(question.id)
    parts = []
    for section, question_ids in sections.items():
        claim_ids = [claim.id for qid in question_ids for claim in reg.claims_of(qid)]
        parts.append(
            render_references(
                question_ids,
                claim_ids,
                from_page,
                report,
                current_hash,
                heading=f"## Section {section}",
            )
        )
    return "\n".join(part for part in parts if part)
