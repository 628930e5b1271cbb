"""Fixtures of the browser test: the built site served on 127.0.0.1 and headless Chromium.

These tests run only when ``tests/browser`` is named on the command line (``pytest
tests/browser``), after ``mkdocs build --strict``: the default ``pytest verify/ tests/`` run
skips them, because they need a built site and a browser. Every request that is not to
127.0.0.1 is aborted before it leaves the browser and recorded, and the tests fail on it.

Environment:
    EFX_SITE_DIR: the built site (default: ``site/`` at the repository root).
    EFX_CHROMIUM: the Chromium executable (default: ``/usr/bin/chromium``, Debian's package).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_checks import CHROMIUM, SCREENSHOTS, SITE_DIR, is_loopback, serve

BROWSER_DIR = Path(__file__).resolve().parent
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: needs headless Chromium (run with `pytest tests/browser`)"
    )


def _named_on_command_line(config: pytest.Config) -> bool:
    for argument in config.args:
        path = Path(argument.split("::")[0]).resolve()
        if path == BROWSER_DIR or BROWSER_DIR in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mine = [item for item in items if BROWSER_DIR in Path(str(item.fspath)).parents]
    for item in mine:
        item.add_marker(pytest.mark.browser)
    if mine and not _named_on_command_line(config):
        skip = pytest.mark.skip(
            reason="browser tests run on their own: `pytest tests/browser` after `mkdocs build --strict`"
        )
        for item in mine:
            item.add_marker(skip)


def _unavailable(reason: str) -> None:
    # In CI a missing browser or site is a failure; on a developer's machine it is a skip.
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def site_dir() -> Path:
    """The built site; skips (fails in CI) when it has not been built."""
    if not (SITE_DIR / "index.html").is_file():
        _unavailable(f"no built site at {SITE_DIR}: run `mkdocs build --strict` first")
    return SITE_DIR


@pytest.fixture(scope="session")
def site_url(site_dir: Path) -> Iterator[str]:
    """The site's root URL on 127.0.0.1."""
    server, url = serve(site_dir)
    yield url
    server.shutdown()
    server.server_close()


class Browser:
    """A Chromium context whose requests outside 127.0.0.1 are aborted and recorded."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.blocked: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if is_loopback(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def open(self, url: str) -> tuple[Any, list[str]]:
        """Open ``url`` in a new page; return the page and the list its console errors go to."""
        page = self.context.new_page()
        errors: list[str] = []
        page.on(
            "console",
            lambda message: errors.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: errors.append(f"uncaught exception: {error}"))
        page.goto(url, wait_until="networkidle")
        return page, errors


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile, guarded so no request leaves 127.0.0.1."""
    if not CHROMIUM.is_file() and shutil.which(str(CHROMIUM)) is None:
        _unavailable(
            f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium` or set EFX_CHROMIUM"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[browser]'")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield Browser(context)
        finally:
            context.close()


@pytest.fixture
def screenshots() -> Path:
    """The folder that keeps one screenshot per page (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
