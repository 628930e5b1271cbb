"""The site's grader view, status page, printable key, references, figures and generated files."""

from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib
import pytest

from efx.claims import KeyPoint, Mistake, Rubric, registry
from efx.errors import InvalidArgumentError
from efx.site import figures, mkdocs_hook
from efx.site.answer_key_page import render_answer_key_page
from efx.site.api_page import render_api_page
from efx.site.references import SECTION_REFERENCES, render_all_references
from efx.site.rubric import render_rubric
from efx.site.status_page import render_status_page

matplotlib.use("Agg")

FIRST_CLAIM = next(iter(registry().claims.values()), None)
needs_a_claim = pytest.mark.skipif(FIRST_CLAIM is None, reason="the registry holds no claim yet")


@pytest.fixture
def toy_rubric(monkeypatch):
    """A complete rubric for the first claim's question, put in the registry for one test."""
    assert FIRST_CLAIM is not None
    rubric = Rubric(
        question=FIRST_CLAIM.question,
        answer="The toy answer with $x^2$.",
        key_points=(
            KeyPoint(
                "Names $\\|x\\|$.", 3, (FIRST_CLAIM.id,), accepted=("the norm of $x$", "length")
            ),
            KeyPoint("Second point.", 1, (FIRST_CLAIM.id,)),
        ),
        mistakes=(
            Mistake(
                "A wrong idea.",
                "It ignores the sections.",
                FIRST_CLAIM.id,
                "$m = 2$ breaks it.",
                True,
            ),
        ),
    )
    monkeypatch.setitem(registry().rubrics, FIRST_CLAIM.question, rubric)
    return rubric


@pytest.fixture
def no_report(monkeypatch):
    monkeypatch.setitem(mkdocs_hook._state, "report", None)
    monkeypatch.setitem(mkdocs_hook._state, "gpu_report", None)
    monkeypatch.setitem(mkdocs_hook._state, "hash", None)


def _report(
    claim_id: str, outcome: str, device: str = "cpu", cuda: str = "none"
) -> dict[str, object]:
    check = {
        "nodeid": "verify/test_toy.py::test_toy[cpu-float32]",
        "claims": [claim_id],
        "outcome": outcome,
        "duration_s": 0.5,
        "examples": 20,
        "dtype": "float32",
        "device": device,
        "message": "",
    }
    return {
        "schema": 1,
        "created": "2026-01-01T00:00:00+00:00",
        "commit": "feedfacecafe0000",
        "source_hash": "abc",
        "implementation": "efx.reference",
        "hypothesis_profile": "ci",
        "environment": {"python": "3.11.7", "torch": "2.13.0", "cuda_device": cuda},
        "claims": {claim_id: {"checks": [check], "outcome": outcome}},
    }


@needs_a_claim
def test_rubric_is_collapsed_with_weights_and_mistakes(toy_rubric):
    text = render_rubric(toy_rubric.question, "page.md", None, None)

    assert text.startswith('??? rubric "Grader view')
    assert "4 points in all" in text
    assert "| 3 | Names $\\Vert x\\Vert $." in text
    assert "the norm of $x$<br>length" in text
    assert "made in the submitted answers" in text
    assert "**Counterexample:** $m = 2$ breaks it." in text
    assert "Rubric not complete" not in text


@needs_a_claim
def test_incomplete_rubric_lists_what_is_missing(toy_rubric, monkeypatch):
    monkeypatch.setitem(
        registry().rubrics, toy_rubric.question, Rubric(toy_rubric.question, "", (), ())
    )

    text = render_rubric(toy_rubric.question, "page.md", None, None)

    assert "Rubric not complete" in text
    assert "the rubric has no minimal full-credit answer" in text


@needs_a_claim
@pytest.mark.usefixtures("no_report")
def test_rubric_directive_renders_through_the_hook(toy_rubric, tmp_path):
    page = SimpleNamespace(file=SimpleNamespace(src_uri="page.md"))

    text = mkdocs_hook.on_page_markdown(
        f"[[rubric {toy_rubric.question}]]\n", page, {"docs_dir": str(tmp_path)}, None
    )

    assert "Grader view" in text
    assert "[[" not in text


@needs_a_claim
def test_status_page_without_report_says_not_run():
    text = render_status_page(None, None, "status.md")

    assert "No run report was found" in text
    assert f"`{FIRST_CLAIM.id}`" in text
    assert "not run" in text
    assert "No GPU run report" in text


@needs_a_claim
def test_status_page_shows_cpu_and_gpu_runs():
    cpu = _report(FIRST_CLAIM.id, "passed")
    gpu = _report(FIRST_CLAIM.id, "failed", device="cuda", cuda="NVIDIA H200")

    text = render_status_page(cpu, "abc", "status.md", gpu_report=gpu)

    assert "## GPU run on NVIDIA H200" in text
    assert "| 1 / 0 / 0 | 20 | float32 | cpu |" in text
    assert "| 0 / 1 / 0 | 20 | float32 | cuda |" in text
    assert "`feedfacecafe`, torch 2.13.0" in text
    assert "Stale" not in text


@needs_a_claim
def test_status_page_marks_stale_run():
    text = render_status_page(_report(FIRST_CLAIM.id, "passed"), "other-hash", "status.md")

    assert "**Stale:**" in text
    assert "passed (stale)" in text


def test_status_page_lists_rubric_state_of_every_question():
    text = render_status_page(None, None, "status.md")

    for question_id in registry().questions:
        assert f"[`{question_id}`]" in text


@needs_a_claim
def test_answer_key_page_expands_rubrics(toy_rubric):
    text = render_answer_key_page("answer-key.md", None, None)

    assert f'!!! rubric "Rubric for `{toy_rubric.question}`"' in text
    assert "??? rubric" not in text
    assert "{ .efx-key-question }" in text
    for question in registry().questions.values():
        assert f"`{question.id}`" in text


def test_answer_key_page_marks_unanswered_questions():
    unanswered = [q for q in registry().questions.values() if not registry().claims_of(q.id)]
    if not unanswered:
        pytest.skip("every question has claims")

    text = render_answer_key_page("answer-key.md", None, None)

    assert "*Not answered yet" in text


@pytest.mark.usefixtures("no_report")
def test_question_page_gets_section_references(tmp_path):
    question = next(iter(registry().questions.values()))
    page = SimpleNamespace(file=SimpleNamespace(src_uri=question.page))

    text = mkdocs_hook.on_page_markdown(
        f"[[question {question.id}]]\n", page, {"docs_dir": str(tmp_path)}, None
    )

    assert "## References" in text
    for reference in SECTION_REFERENCES[question.section]:
        assert reference in text


@pytest.mark.usefixtures("no_report")
def test_page_without_questions_gets_no_references(tmp_path):
    page = SimpleNamespace(file=SimpleNamespace(src_uri="notes.md"))

    text = mkdocs_hook.on_page_markdown(
        "# Notes\n\nPlain text.\n", page, {"docs_dir": str(tmp_path)}, None
    )

    assert text == "# Notes\n\nPlain text.\n"


@needs_a_claim
@pytest.mark.usefixtures("no_report")
def test_claim_reference_names_the_citing_claim(monkeypatch, tmp_path):
    import dataclasses

    cited = dataclasses.replace(FIRST_CLAIM, references=("A. Author, *A toy paper*, 2020.",))
    monkeypatch.setitem(registry().claims, FIRST_CLAIM.id, cited)
    question = registry().question(FIRST_CLAIM.question)
    page = SimpleNamespace(file=SimpleNamespace(src_uri=question.page))

    text = mkdocs_hook.on_page_markdown(
        f"[[question {question.id}]]\n\nSee [[{FIRST_CLAIM.id}]].\n",
        page,
        {"docs_dir": str(tmp_path)},
        None,
    )

    line = next(line for line in text.splitlines() if "A toy paper" in line)
    assert "Cited by" in line
    assert f"`{FIRST_CLAIM.id}`" in line
    assert "A toy paper" in render_all_references("references.md", None, None)


def test_every_section_has_background_references():
    sections = {question.section for question in registry().questions.values()}

    assert sections <= set(SECTION_REFERENCES)
    assert all(SECTION_REFERENCES[section] for section in sections)


def test_api_page_lists_existing_and_missing_modules():
    text = render_api_page(("efx.report", "efx.not_a_module"))

    assert "::: efx.report" in text
    assert "::: efx.not_a_module" not in text
    assert "`efx.not_a_module`" in text


@pytest.mark.usefixtures("no_report")
def test_page_directives_expand_through_the_hook(tmp_path):
    page = SimpleNamespace(file=SimpleNamespace(src_uri="status.md"))

    for directive, expected in [
        ("[[status]]", "## Last run"),
        ("[[answer-key]]", "Answer key version"),
        ("[[references]]", "## Section"),
        ("[[api]]", "::: efx.report"),
    ]:
        text = mkdocs_hook.on_page_markdown(
            directive + "\n", page, {"docs_dir": str(tmp_path)}, None
        )
        assert expected in text, directive


def test_build_adds_answer_key_and_schema_files(tmp_path):
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

    (tmp_path / "docs").mkdir()
    config = MkDocsConfig()
    config.load_dict(
        {
            "site_name": "toy",
            "docs_dir": str(tmp_path / "docs"),
            "site_dir": str(tmp_path / "site"),
            "hooks": [mkdocs_hook.__file__],
        }
    )
    errors, _ = config.validate()
    assert not errors

    files = config.plugins.on_files(Files([]), config=config)

    key = json.loads(files.get_file_from_path("answer-key.json").content_string)
    schema = json.loads(files.get_file_from_path("answer-key.schema.json").content_string)
    assert key["summary"]["questions"] == len(registry().questions)
    assert schema["title"] == "efx answer key"


def _figure():
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 1))
    axes.plot([0, 1], [0, 1])
    return figure


def test_svg_figure_has_role_label_and_title():
    html = figures.svg_figure(_figure(), 'A line from "0" to 1.', caption="Caption")

    assert html.startswith('<figure class="efx-figure">')
    assert 'role="img" aria-label="A line from &quot;0&quot; to 1."' in html
    assert "<title>A line from &quot;0&quot; to 1.</title>" in html
    assert "<figcaption>Caption</figcaption>" in html


def test_png_figure_has_alt_text():
    html = figures.png_figure(_figure(), "A rising line.")

    assert '<img src="data:image/png;base64,' in html
    assert 'alt="A rising line."' in html


FIGURE_ERRORS = {
    "empty alt": (lambda: figures.svg_figure(_figure(), "  "), "alt="),
    "alt not text": (lambda: figures.png_figure(_figure(), None), "alt="),
    "not a figure": (lambda: figures.svg_figure("plot", "A plot."), "figure="),
    "dpi zero": (lambda: figures.png_figure(_figure(), "A plot.", dpi=0), "dpi="),
}


@pytest.mark.parametrize(("call", "name"), FIGURE_ERRORS.values(), ids=FIGURE_ERRORS.keys())
def test_figure_errors_name_the_argument(call, name):
    with pytest.raises(InvalidArgumentError, match=f"^{name}"):
        call()
