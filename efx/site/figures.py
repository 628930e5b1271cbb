"""Embed matplotlib figures in pages, with the alt text that screen readers and the site test need.

A ``markdown-exec`` block prints the returned HTML. :func:`svg_figure` inlines the figure as
an ``<svg role="img">`` with an ``aria-label`` and a ``<title>``; :func:`png_figure` embeds a
base64 PNG ``<img>`` with ``alt``. The browser test of the built site fails on a figure
without such text.
"""

from __future__ import annotations

import base64
import html
import io
import re
from typing import Any

from efx.errors import invalid_argument

_SVG_START = re.compile(r"<svg\b[^>]*>", re.DOTALL)


def _check_alt(alt: object) -> str:
    if not isinstance(alt, str) or not alt.strip():
        raise invalid_argument(
            "alt",
            alt,
            "must be a non-empty description of what the figure shows",
            "describe the axes, the curves and the point the figure makes",
        )
    return " ".join(alt.split())


def _check_figure(figure: object) -> Any:
    if not callable(getattr(figure, "savefig", None)):
        raise invalid_argument(
            "figure", figure, "must be a matplotlib Figure", "pass the figure from plt.subplots()"
        )
    return figure


def _wrap(inner: str, caption: str | None) -> str:
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="efx-figure">\n{inner}\n{text}</figure>'


def svg_figure(figure: Any, alt: str, caption: str | None = None) -> str:
    """Return the figure as inline SVG inside ``<figure>``, labelled for screen readers.

    Args:
        figure: a matplotlib ``Figure``.
        alt: what the figure shows, in one or two sentences.
        caption: visible caption under the figure, or None.

    Raises:
        InvalidArgumentError: if ``alt`` is empty or ``figure`` is not a figure.
    """
    text = _check_alt(alt)
    _check_figure(figure)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    match = _SVG_START.search(svg)
    if match is None:  # pragma: no cover -- matplotlib's SVG backend always writes <svg>
        raise RuntimeError("matplotlib wrote no <svg> element")
    label = html.escape(text, quote=True)
    opening = match.group(0)[:-1].rstrip("/") + f' role="img" aria-label="{label}">'
    body = svg[match.end() :]
    return _wrap(f"{opening}<title>{html.escape(text)}</title>{body.strip()}", caption)


def png_figure(figure: Any, alt: str, caption: str | None = None, dpi: int = 110) -> str:
    """Return the figure as a base64 PNG ``<img>`` with ``alt`` text, inside ``<figure>``.

    Args:
        figure: a matplotlib ``Figure``.
        alt: what the figure shows, in one or two sentences.
        caption: visible caption under the figure, or None.
        dpi: resolution of the PNG in dots per inch.

    Raises:
        InvalidArgumentError: if ``alt`` is empty, ``figure`` is not a figure or ``dpi`` < 1.
    """
    text = _check_alt(alt)
    _check_figure(figure)
    if not isinstance(dpi, int) or dpi < 1:
        raise invalid_argument("dpi", dpi, "must be a positive integer", "pass for example 110")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    image = f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(text, quote=True)}">'
    return _wrap(image, caption)
