"""The built site in headless Chromium: every page loads offline, renders its math and figures,
links only to pages that exist, and search finds a claim by its id."""

from __future__ import annotations

import pytest

from efx.claims import registry

_checked_links: dict[str, int] = {}


def test_page_renders_offline(page_path, site_url, browser, screenshots, page_checks):
    page, console_errors = browser.open(site_url + page_path)
    try:
        page.screenshot(
            path=str(screenshots / f"{page_path.strip('/').replace('/', '-') or 'index'}.png"),
            full_page=True,
        )

        assert browser.blocked == [], (
            f"requests outside 127.0.0.1 were attempted: {browser.blocked}"
        )
        assert console_errors == []
        assert page_checks.math_problems(page) == []
        assert page_checks.figure_problems(page) == []

        broken = []
        for url in sorted(page_checks.internal_links(page, site_url)):
            if url not in _checked_links:
                _checked_links[url] = page.request.get(url).status
            if _checked_links[url] != 200:
                broken.append(f"{url} ({_checked_links[url]})")
        assert broken == [], f"links to missing pages on {page_path or 'the home page'}"
    finally:
        page.close()


def test_site_has_the_expected_pages(site_dir):
    for page_path in ("", "status/", "answer-key/", "api/", "references/"):
        assert (site_dir / page_path / "index.html").is_file(), page_path


def test_answer_key_json_is_published(site_url, browser):
    page, _ = browser.open(site_url + "answer-key/")
    try:
        key = page.request.get(site_url + "answer-key.json").json()
        schema = page.request.get(site_url + "answer-key.schema.json").json()
    finally:
        page.close()

    assert [question["id"] for question in key["questions"]] == list(registry().questions)
    assert schema["title"] == "efx answer key"


def test_search_finds_a_claim_by_id(site_url, browser, screenshots):
    claim_id = next(iter(registry().claims), None)
    if claim_id is None:
        pytest.skip("the registry holds no claim yet")
    page, console_errors = browser.open(site_url)
    try:
        # Material searches on key events, so the id is typed key by key, as a reader types it.
        page.locator(".md-search__input").click(timeout=10_000)
        page.locator(".md-search__input").press_sequentially(claim_id, delay=20)
        results = page.locator(".md-search-result__item")
        results.first.wait_for(timeout=15_000)
        page.screenshot(path=str(screenshots / "search.png"))

        assert results.count() > 0
        assert claim_id in page.locator(".md-search-result").inner_text()
        assert console_errors == []
        assert browser.blocked == []
    finally:
        page.close()
