"""MkDocs hook that expands claim directives in pages, so pages cite claims by id only.

In a page's Markdown (outside code fences):

- a line ``[[question ID]]`` becomes the quoted question;
- a line ``[[claim ID]]`` becomes the claim's block, with its derivations run now;
- a line ``[[rubric ID]]`` becomes the graders' view of a question;
- ``[[ID]]`` inside text becomes a link to the claim, with its status mark;
- a line ``[[include PATH]]`` inserts ``docs/PATH`` (a part of a page kept in its own file,
  under ``docs/includes/``, which is not built as a page of its own);
- a line ``[[status]]`` becomes the status of every claim in the last run (and a GPU run);
- a line ``[[answer-key]]`` becomes the printable answer key, every rubric expanded;
- a line ``[[references]]`` becomes every reference of the site, by section;
- a line ``[[api]]`` becomes the API reference of efx's public modules that exist.

A page that answers questions (it has a ``[[question ID]]`` line) gets a *References*
section appended, from its claims and its sections (:mod:`efx.site.references`). The build
also writes ``answer-key.json`` and its JSON Schema ``answer-key.schema.json`` into the site.

An unknown id or a failing derivation stops the build with the page's name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

from efx.errors import DerivationError
from efx.report import DEFAULT_REPORT, PROJECT_DIR, load_report, source_hash
from efx.site import render
from efx.site.api_page import render_api_page
from efx.site.generated import answer_key_files
from efx.site.references import render_all_references, render_references

_BLOCK = re.compile(r"^\[\[(question|claim|rubric) ([A-Za-z0-9.\-]+)\]\]\s*$", re.MULTILINE)
_INCLUDE = re.compile(r"^\[\[include ([A-Za-z0-9_./\-]+\.md)\]\]\s*$", re.MULTILINE)
_INLINE = re.compile(r"\[\[([a-z]+\.[a-z0-9.\-]+)\]\]")
_FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.MULTILINE | re.DOTALL)
_PAGE_BLOCK = re.compile(r"^\[\[(status|answer-key|references|api)\]\]\s*$", re.MULTILINE)
GPU_REPORT = DEFAULT_REPORT.with_name("verify-cuda.json")

_state: dict[str, Any] = {}


def on_config(config: Any) -> Any:
    _state["report"] = load_report(DEFAULT_REPORT)
    _state["gpu_report"] = load_report(GPU_REPORT)
    _state["hash"] = source_hash()
    _state["project_dir"] = Path(config["config_file_path"]).resolve().parent
    return config


def on_files(files: Any, config: Any) -> Any:
    for file in answer_key_files(
        config, _state.get("report"), _state.get("gpu_report"), _state.get("hash")
    ):
        files.append(file)
    return files


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

    def page_block(match: re.Match[str]) -> str:
        from efx.site.answer_key_page import render_answer_key_page
        from efx.site.status_page import render_status_page

        kind = match.group(1)
        if kind == "status":
            return render_status_page(report, current, page, _state.get("gpu_report"))
        if kind == "answer-key":
            return render_answer_key_page(page, report, current)
        if kind == "references":
            return render_all_references(page, report, current)
        return render_api_page(root=_state.get("project_dir", PROJECT_DIR))

    return _INLINE.sub(inline, _BLOCK.sub(block, _PAGE_BLOCK.sub(page_block, text)))


def _page_references(markdown: str, page: str) -> str:
    """Return the References section of a page that answers questions, or an empty string."""
    outside = _FENCE.sub("", markdown)
    questions = [m.group(2) for m in _BLOCK.finditer(outside) if m.group(1) == "question"]
    if not questions:
        return ""
    claims = [m.group(2) for m in _BLOCK.finditer(outside) if m.group(1) == "claim"]
    claims += _INLINE.findall(outside)
    report, current = _state.get("report"), _state.get("hash")
    return render_references(questions, dict.fromkeys(claims), page, report, current)


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
        references = _page_references(markdown, path)
        for fence in _FENCE.finditer(markdown):
            pieces.append(_expand(markdown[last : fence.start()], path))
            pieces.append(fence.group(0))
            last = fence.end()
        pieces.append(_expand(markdown[last:], path))
        if references:
            pieces.append("\n\n" + references)
    except KeyError as error:
        raise PluginError(f"{path}: {error.args[0]}") from None
    except DerivationError as error:
        raise PluginError(
            f"{path}: a derivation failed, so its claim is not proved:\n{error}"
        ) from None
    return "".join(pieces)
