"""The page directives: questions, claims, rubrics, inline citations and includes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError

from efx.site import mkdocs_hook


def _page(markdown: str, docs_dir, src_uri: str = "accumulation.md") -> str:
    page = SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))
    return mkdocs_hook.on_page_markdown(markdown, page, {"docs_dir": str(docs_dir)}, None)


@pytest.fixture(autouse=True)
def _no_report(monkeypatch):
    monkeypatch.setitem(mkdocs_hook._state, "report", None)
    monkeypatch.setitem(mkdocs_hook._state, "hash", None)


def test_claim_block_shows_statement_status_and_derivations(tmp_path):
    html = _page("[[claim ga.loss-identity]]\n", tmp_path)

    assert '<a id="ga.loss-identity"></a>' in html
    assert "**Statement.**" in html
    assert "Not run" in html
    assert "Derivation (general)" in html
    assert "Derivation (instances)" in html


def test_inline_citation_links_to_the_claim(tmp_path):
    same_page = _page("See [[ga.loss-identity]].", tmp_path)
    other_page = _page("See [[ga.loss-identity]].", tmp_path, src_uri="lowrank.md")

    assert "](#ga.loss-identity" in same_page
    assert "](accumulation.md#ga.loss-identity" in other_page


def test_unknown_claim_fails_the_build(tmp_path):
    with pytest.raises(PluginError, match=r"unknown claim id 'ga\.loss-identiy'"):
        _page("See [[ga.loss-identiy]].", tmp_path)


def test_directives_inside_code_fences_are_left_alone(tmp_path):
    text = "```\n[[claim no.such-claim]]\n```\n"

    assert _page(text, tmp_path) == text


def test_question_without_rubric_says_not_written(tmp_path):
    html = _page("[[question lr-rank]]\n", tmp_path)

    assert "What is matrix rank?" in html


def test_include_inserts_a_file_and_rejects_escapes(tmp_path):
    (tmp_path / "includes").mkdir()
    (tmp_path / "includes" / "part.md").write_text("Included [[ga.loss-identity]].\n")

    html = _page("[[include includes/part.md]]\n", tmp_path)

    assert "Included" in html
    assert "#ga.loss-identity" in html
    with pytest.raises(PluginError, match="no such file"):
        _page("[[include ../outside.md]]\n", tmp_path)


def test_failing_derivation_fails_the_build(tmp_path, monkeypatch):
    import sympy

    from efx.claims import registry
    from efx.proofs.derivation import Derivation, Scope, Step, algebra, definition

    x = sympy.Symbol("x")

    def false_derivation() -> Derivation:
        return Derivation(
            claim="ga.loss-identity",
            title="false",
            scope=Scope.GENERAL,
            steps=(Step(2 * x, definition("start")), Step(3 * x, algebra("wrong"))),
        )

    claim = registry().claims["ga.loss-identity"]
    monkeypatch.setitem(
        registry().claims,
        "ga.loss-identity",
        type(claim)(**{**claim.__dict__, "derivations": (false_derivation,)}),
    )

    with pytest.raises(PluginError, match="derivation failed"):
        _page("[[claim ga.loss-identity]]\n", tmp_path)


def test_claim_link_as_url_for_exec_blocks():
    from efx.site.render import claim_link

    def href(page: str) -> str:
        return (
            claim_link("ga.clip-once", page, None, None, as_url=True).split("](")[1].split(" ")[0]
        )

    assert href("faults.md") == "../accumulation/#ga.clip-once"
    assert href("index.md") == "accumulation/#ga.clip-once"
    assert href("accumulation.md") == "#ga.clip-once"
