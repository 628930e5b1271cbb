"""Render the API reference page: one mkdocstrings block per public module of efx that exists.

Modules are listed in :data:`API_MODULES` in reading order. A module that is not written yet
is named under *Not written yet* instead of breaking the build, and appears by itself once
its file exists. mkdocstrings reads the sources statically (griffe), so no module is imported
to build the page.
"""

from __future__ import annotations

from pathlib import Path

from efx.report import PROJECT_DIR

API_MODULES: tuple[str, ...] = (
    "efx.accumulation",
    "efx.checkpointing",
    "efx.lowrank",
    "efx.lora",
    "efx.measure",
    "efx.strategies",
    "efx.claims",
    "efx.claims.model",
    "efx.proofs.derivation",
    "efx.report",
    "efx.tolerance",
    "efx.errors",
    "efx.answer_key",
    "efx.gradescope",
    "efx.site.figures",
)
"""Public modules documented on the API page, in the order they appear."""


def module_exists(name: str, root: Path = PROJECT_DIR) -> bool:
    """Return True when the module's source file exists under ``root``, where mkdocstrings looks.

    The check reads files, not the import system, because griffe collects modules from the
    project folder: an installed copy of efx elsewhere must not count.
    """
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def render_api_page(modules: tuple[str, ...] = API_MODULES, root: Path = PROJECT_DIR) -> str:
    """Return the page body: a ``::: module`` block per existing module, then the missing ones.

    Args:
        modules: dotted module names, in the order they appear.
        root: the folder mkdocstrings collects from (the folder of ``mkdocs.yml``).
    """
    present = [name for name in modules if module_exists(name, root)]
    missing = [name for name in modules if name not in present]
    lines: list[str] = []
    for name in present:
        lines += [f"::: {name}", ""]
    if missing:
        lines += [
            "## Not written yet",
            "",
            "These modules are planned and get their reference here once they exist: "
            + ", ".join(f"`{name}`" for name in missing)
            + ".",
            "",
        ]
    return "\n".join(lines)
