"""The page checks report broken pages: bad TeX, KaTeX missing, unlabelled figures, blocked requests.

Each case is a small page made to break one thing. The pages are served from a temporary
folder on 127.0.0.1 with the site's own KaTeX copy, and a good page is the control.
"""

from __future__ import annotations

import shutil

import pytest

_WITH_KATEX = """
<link rel="stylesheet" href="katex/katex.min.css">
<script src="katex/katex.min.js"></script>
<script src="katex/contrib/auto-render.min.js"></script>
<script>
document.addEventListener("DOMContentLoaded", () => renderMathInElement(document.body, {
  delimiters: [{left: "\\\\(", right: "\\\\)", display: false}, {left: "\\\\[", right: "\\\\]", display: true}],
  throwOnError: false,
}));
</script>
"""

PAGES = {
    "good.html": _WITH_KATEX
    + '<article><p><span class="arithmatex">\\(x^2 + 1\\)</span></p></article>',
    "broken-tex.html": _WITH_KATEX
    + '<article><p><span class="arithmatex">\\(\\frac{1}\\)</span></p></article>',
    "unknown-command.html": _WITH_KATEX
    + '<article><p><span class="arithmatex">\\(\\fracc{1}{2}\\)</span></p></article>',
    # An unclosed brace hides the closing delimiter from KaTeX's auto-render, so the TeX stays raw.
    "unclosed-brace.html": _WITH_KATEX
    + '<article><p><span class="arithmatex">\\(\\frac{1}{\\)</span></p></article>',
    "no-katex.html": '<article><p><span class="arithmatex">\\(x^2\\)</span> and $y$.</p></article>',
    "bad-figures.html": (
        '<article><img src="missing.png" alt=""><svg width="10" height="10"><rect width="10" height="10"/></svg>'
        '<svg role="img" aria-label="A square."><rect width="10" height="10"/></svg></article>'
    ),
    # localhost resolves on this machine, yet the guard admits 127.0.0.1 only, so the browser
    # aborts this request before it is sent.
    "outside-request.html": '<article><img src="http://localhost:9/figure.png" alt="A figure."></article>',
}


@pytest.fixture(scope="module")
def pages_url(tmp_path_factory, serve_folder, katex_dir):
    folder = tmp_path_factory.mktemp("pages")
    shutil.copytree(katex_dir, folder / "katex")
    for name, body in PAGES.items():
        (folder / name).write_text(
            f"<!doctype html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"
        )
    return serve_folder(folder)


def test_good_page_has_no_problems(pages_url, browser, page_checks):
    page, errors = browser.open(pages_url + "good.html")

    assert page_checks.math_problems(page) == []
    assert page_checks.figure_problems(page) == []
    assert errors == []
    assert page.locator(".katex").count() == 1
    page.close()


def test_broken_tex_is_reported(pages_url, browser, page_checks):
    page, _ = browser.open(pages_url + "broken-tex.html")

    problems = page_checks.math_problems(page)

    assert any(problem.startswith("KaTeX could not render") for problem in problems), problems
    page.close()


def test_unknown_command_is_reported(pages_url, browser, page_checks):
    page, _ = browser.open(pages_url + "unknown-command.html")

    problems = page_checks.math_problems(page)

    assert any(problem.startswith("KaTeX does not know") for problem in problems), problems
    page.close()


def test_unclosed_brace_is_reported(pages_url, browser, page_checks):
    page, _ = browser.open(pages_url + "unclosed-brace.html")

    problems = page_checks.math_problems(page)

    assert any("raw TeX delimiter \\(" in problem for problem in problems), problems
    assert any("math element not rendered" in problem for problem in problems), problems
    page.close()


def test_missing_katex_is_reported(pages_url, browser, page_checks):
    page, _ = browser.open(pages_url + "no-katex.html")

    problems = page_checks.math_problems(page)

    assert any("raw TeX delimiter \\(" in problem for problem in problems), problems
    assert any("unrendered $...$" in problem for problem in problems), problems
    assert any("no .katex element" in problem for problem in problems), problems
    page.close()


def test_unlabelled_figures_are_reported(pages_url, browser, page_checks):
    page, _ = browser.open(pages_url + "bad-figures.html")

    problems = page_checks.figure_problems(page)

    assert "image without alt text: missing.png" in problems
    assert "image did not load: missing.png" in problems
    assert 'inline SVG figure without role="img"' in problems
    assert "inline SVG figure without aria-label or <title>" in problems
    assert len(problems) == 4, problems
    page.close()


def test_request_outside_loopback_is_blocked(pages_url, browser, page_checks):
    before = len(browser.blocked)
    page, _ = browser.open(pages_url + "outside-request.html")

    blocked = browser.blocked[before:]
    del browser.blocked[before:]

    assert blocked == ["http://localhost:9/figure.png"]
    assert "image did not load: http://localhost:9/figure.png" in page_checks.figure_problems(page)
    page.close()
