"""Small Markdown helpers shared by the site's renderers."""

from __future__ import annotations

import posixpath


def indent(text: str, spaces: int = 4) -> str:
    """Indent every non-blank line, so the text nests inside an admonition or a list item.

    >>> indent("a\\n\\nb")
    '    a\\n\\n    b'
    """
    pad = " " * spaces
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def table_math(text: str) -> str:
    r"""Replace bars with ``\vert``/``\Vert``, because a bare ``|`` ends a Markdown table cell.

    >>> table_math(r"$\|x\| = |y|$")
    '$\\Vert x\\Vert  = \\vert y\\vert $'
    """
    return text.replace(r"\|", r"\Vert ").replace("|", r"\vert ")


def cell(text: str) -> str:
    """Make text safe for one Markdown table cell: one line, bars escaped as math bars."""
    return table_math(" ".join(text.split()))


def page_href(target: str, from_page: str, anchor: str = "") -> str:
    """Return a link from one docs page to another (paths relative to ``docs/``), with an anchor.

    >>> page_href("accumulation.md", "grading/status.md", "ga-division")
    '../accumulation.md#ga-division'
    >>> page_href("status.md", "status.md", "top")
    '#top'
    """
    fragment = f"#{anchor}" if anchor else ""
    if target == from_page:
        return fragment or posixpath.basename(target)
    return posixpath.relpath(target, posixpath.dirname(from_page) or ".") + fragment
