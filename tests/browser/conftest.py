"""Fixtures of the browser test: the built site served on 127.0.0.1 and headless Chromium.

These tests run only when ``tests/browser`` is named on the command line (``pytest
tests/browser``), after ``mkdocs build --strict``: the default ``pytest verify/ tests/`` run
skips them, because they need a built site and a browser. Every request that is not to
127.0.0.1 is aborted before it leaves the browser and recorded, and the tests fail on it.

The page checks live here as well, because pytest imports test files by path and a helper
module beside them is not importable. Tests reach them through the ``page_checks`` fixture. Each
check returns a list of problems, one sentence each, so a failing test names every problem
on the page at once. ``test_checks_fail.py`` runs them on pages broken on purpose.

Environment:
    EFX_SITE_DIR: the built site (default: ``site/`` at the repository root).
    EFX_CHROMIUM: the Chromium executable (default: ``/usr/bin/chromium``, Debian's package).
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest

LOOPBACK_HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[2]
SITE_DIR = Path(os.environ.get("EFX_SITE_DIR", ROOT / "site"))
CHROMIUM = Path(os.environ.get("EFX_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "screenshots"

# Runs in the page. Text inside code, KaTeX output, scripts and styles is skipped, so a code
# sample that shows TeX source is not reported.
_MATH_SCRIPT = r"""
() => {
  const problems = [];
  for (const error of document.querySelectorAll(".katex-error")) {
    problems.push("KaTeX could not render: " + (error.getAttribute("title") || error.textContent).slice(0, 120));
  }
  // With throwOnError false, KaTeX draws a command it does not know in its error colour.
  for (const unknown of document.querySelectorAll(".katex-mathml mstyle[mathcolor='#cc0000']")) {
    problems.push("KaTeX does not know: " + unknown.textContent.slice(0, 120));
  }
  const root = document.querySelector("article") || document.body;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const inlineDollars = /\$[^$\s](?:[^$]*[^$\s])?\$/;
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest("code, pre, script, style, textarea, .katex, .katex-error")) continue;
    const text = node.textContent;
    for (const delimiter of ["\\(", "\\)", "\\[", "\\]", "$$"]) {
      if (text.includes(delimiter)) {
        problems.push("raw TeX delimiter " + delimiter + " left in text: " + text.trim().slice(0, 120));
        break;
      }
    }
    if (inlineDollars.test(text)) problems.push("unrendered $...$ math in text: " + text.trim().slice(0, 120));
  }
  const math = document.querySelectorAll(".arithmatex");
  for (const element of math) {
    if (!element.querySelector(".katex") && !element.classList.contains("katex-error") && !element.querySelector(".katex-error")) {
      problems.push("math element not rendered by KaTeX: " + element.textContent.trim().slice(0, 120));
    }
  }
  if (math.length > 0 && document.querySelectorAll(".katex").length === 0) {
    problems.push(math.length + " math elements on the page and no .katex element");
  }
  return problems;
}
"""

_IMAGE_SCRIPT = r"""
() => {
  const problems = [];
  for (const image of document.images) {
    const name = (image.getAttribute("src") || "").slice(0, 80);
    if (!(image.getAttribute("alt") || "").trim()) problems.push("image without alt text: " + name);
    if (!image.complete || image.naturalWidth === 0) problems.push("image did not load: " + name);
  }
  const root = document.querySelector("article") || document.body;
  for (const svg of root.querySelectorAll("svg")) {
    // Icons (Material's twemoji spans, buttons, permalinks) and KaTeX's glyph parts are
    // decoration, not figures; a nested <svg> belongs to its outer figure.
    if (svg.parentElement.closest("svg, .twemoji, .katex, button, a.headerlink, .md-clipboard, .md-annotation")) continue;
    const label = (svg.getAttribute("aria-label") || "").trim();
    const title = svg.querySelector(":scope > title");
    if (svg.getAttribute("role") !== "img") problems.push("inline SVG figure without role=\"img\"");
    if (!label && !(title && title.textContent.trim())) problems.push("inline SVG figure without aria-label or <title>");
  }
  return problems;
}
"""


def math_problems(page: Any) -> list[str]:
    """Return math rendering problems: KaTeX errors, raw TeX left in text, unrendered math."""
    problems: list[str] = page.evaluate(_MATH_SCRIPT)
    return problems


def figure_problems(page: Any) -> list[str]:
    """Return image problems: missing alt text, images that did not load, unlabelled SVG figures."""
    problems: list[str] = page.evaluate(_IMAGE_SCRIPT)
    return problems


def internal_links(page: Any, base_url: str) -> set[str]:
    """Return the site's own URLs that the page links to, without fragments."""
    hrefs: list[str] = page.eval_on_selector_all("a[href]", "links => links.map(link => link.href)")
    origin = urlsplit(base_url).netloc
    return {urldefrag(href).url for href in hrefs if urlsplit(href).netloc == origin}


def is_loopback(url: str) -> bool:
    """Return True for URLs the test may load: 127.0.0.1, and data:, blob: and about: URLs."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname == LOOPBACK_HOST


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    """Serve a folder on 127.0.0.1 at a free port, in a daemon thread; return the server and its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer((LOOPBACK_HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{LOOPBACK_HOST}:{server.server_address[1]}/"


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


def site_pages(site: Path) -> list[str]:
    """Return the site's pages as URL paths relative to the root (``""`` is the home page)."""
    pages = []
    for index in sorted(site.rglob("index.html")):
        relative = index.parent.relative_to(site).as_posix()
        if relative.split("/")[0] in ("assets", "search"):
            continue
        pages.append("" if relative == "." else relative + "/")
    return pages


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # One test per built page; without a built site, one case that the site_dir fixture skips.
    if "page_path" in metafunc.fixturenames:
        pages = site_pages(SITE_DIR) if (SITE_DIR / "index.html").is_file() else [""]
        metafunc.parametrize("page_path", pages)


@pytest.fixture(scope="session")
def page_checks() -> SimpleNamespace:
    """The page checks: ``math_problems``, ``figure_problems``, ``internal_links``."""
    return SimpleNamespace(
        math_problems=math_problems, figure_problems=figure_problems, internal_links=internal_links
    )


@pytest.fixture(scope="session")
def serve_folder() -> Iterator[Any]:
    """A function that serves a folder on 127.0.0.1 and returns its URL; servers stop at the end."""
    servers: list[ThreadingHTTPServer] = []

    def start(directory: Path) -> str:
        server, url = serve(directory)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def katex_dir() -> Path:
    """The site's own copy of KaTeX (``docs/assets/katex``)."""
    return ROOT / "docs" / "assets" / "katex"
