"""Griffe extension that makes efx's docstrings read well as Markdown on the API page.

efx's docstrings follow Python's conventions: Sphinx roles such as ``:func:`name``` and
bare doctest examples. mkdocstrings renders docstrings as Markdown, where a role shows as
raw text and a run of ``>>>`` lines becomes one paragraph. Worse, an output line such as
``[5.0, 3.0]`` after a bracketed line reads as a reference link. mkdocs-autorefs reports it
as a broken cross-reference, and the strict build fails on that. This extension rewrites each docstring once, as griffe loads it: roles become inline code and
doctest runs become ``pycon`` code blocks.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["DocstringMarkdown", "fence_doctests", "strip_roles"]

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`~?([^`]+)`")


def strip_roles(text: str) -> str:
    """Replace Sphinx cross-reference roles with inline code.

    >>> strip_roles("See :func:`efx.report.load_report` and :class:`~efx.claims.Claim`.")
    'See `efx.report.load_report` and `efx.claims.Claim`.'
    """
    return _ROLE.sub(lambda match: f"`{match.group(1)}`", text)


def fence_doctests(text: str) -> str:
    """Wrap each run of doctest lines (``>>>``, ``...`` and their output) in a ``pycon`` fence.

    A run starts at a ``>>>`` line outside a fence and ends at the first blank line. Lines
    already inside a fenced code block are left alone.

    >>> fence_doctests("Text.\\n\\n>>> 1 + 1\\n2").splitlines()
    ['Text.', '', '```pycon', '>>> 1 + 1', '2', '```']
    """
    out: list[str] = []
    in_fence = False
    in_doctest = False
    for line in text.splitlines():
        stripped = line.strip()
        if in_doctest and not stripped:
            out.append("```")
            in_doctest = False
        if not in_doctest and stripped.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and not in_doctest and stripped.startswith(">>>"):
            out.append(line[: len(line) - len(line.lstrip())] + "```pycon")
            in_doctest = True
        out.append(line)
    if in_doctest:
        out.append("```")
    return "\n".join(out)


class DocstringMarkdown(griffe.Extension):
    """Rewrite every docstring griffe loads: roles to inline code, doctests to code blocks."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring in place."""
        if obj.docstring is None:
            return
        text = obj.docstring.value
        if ">>>" in text:
            text = fence_doctests(text)
        obj.docstring.value = strip_roles(text)
