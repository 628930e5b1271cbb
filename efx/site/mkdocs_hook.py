"""MkDocs hook that expands claim directives in pages, so pages cite claims by id only.

In a page's Markdown (outside code fences):

- a line ``[[question ID]]`` becomes the quoted question;
- a line ``[[claim ID]]`` becomes the claim's block, with its derivations run now;
- a line ``[[rubric ID]]`` becomes the graders' view of a question;
- ``[[ID]]`` inside text becomes a link to the claim, with its status mark;
- a line ``[[include PATH]]`` inserts ``docs/PATH`` (a part of a page kept in its own file,
  under ``docs/includes/``, which is not built as a page of its own).

An unknown id or a failing derivation stops the build with the page's name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

from efx.errors import DerivationError
from efx.report import DEFAULT_REPORT, load_report, source_hash
from efx.site import render

_BLOCK = re.compile(r"^\[\[(question|claim|rubric) ([A-Za-z0-9.\-]+)\]\]\s*$", re.MULTILINE)
_INCLUDE = re.compile(r"^\[\[include ([A-Za-z0-9_./\-]+\.md)\]\]\s*$", re.MULTILINE)
_INLINE = re.compile(r"\[\[([a-z]+\.[a-z0-9.\-]+)\]\]")
_FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.MULTILINE | re.DOTALL)

_state: dict[str, Any] = {}


def on_config(config: Any) -> Any:
    _state["report"] = load_report(DEFAULT_REPORT)
    _state["hash"] = source_hash()
    return config


def _expand(text: str, page: str) -> str:
    report, current = _state.get("report"), _state.get("hash")

    def block(match: re.Match[str]) -> str:
        kind, key = match.group(1), match.group(2)
        if kind == "question":
            return render.render_question(key)
        if kind == "claim":
            return render.render_claim(key, report, current)
        return render.render_rubric(key, page, report, current)

    def inline(match: re.Match[str]) -> str:
        return render.claim_link(match.group(1), page, report, current)

    return _INLINE.sub(inline, _BLOCK.sub(block, text))


def _include(markdown: str, docs_dir: Path, depth: int = 0) -> str:
    def insert(match: re.Match[str]) -> str:
        target = (docs_dir / match.group(1)).resolve()
        if docs_dir.resolve() not in target.parents or not target.is_file():
            raise KeyError(f"[[include {match.group(1)}]]: no such file under {docs_dir}")
        if depth > 4:
            raise KeyError(f"[[include {match.group(1)}]]: includes nest deeper than 4 levels")
        return _include(target.read_text(encoding="utf-8"), docs_dir, depth + 1)

    return _INCLUDE.sub(insert, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    path = page.file.src_uri
    try:
        markdown = _include(markdown, Path(config["docs_dir"]))
    except KeyError as error:
        raise PluginError(f"{path}: {error.args[0]}") from None
    pieces, last = [], 0
    try:
        for fence in _FENCE.finditer(markdown):
            pieces.append(_expand(markdown[last : fence.start()], path))
            pieces.append(fence.group(0))
            last = fence.end()
        pieces.append(_expand(markdown[last:], path))
    except KeyError as error:
        raise PluginError(f"{path}: {error.args[0]}") from None
    except DerivationError as error:
        raise PluginError(
            f"{path}: a derivation failed, so its claim is not proved:\n{error}"
        ) from None
    return "".join(pieces)
