"""Checks the browser test runs on each page, and the loopback server that serves the pages.

Each check returns a list of problems, one sentence each, so a failing test names every
problem on the page at once. They run on the built site and on small pages made on purpose
to break (``test_checks_fail.py``), which shows each check can fail.
"""

from __future__ import annotations

import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

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
