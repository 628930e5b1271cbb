"""The fallback that makes each fault module a complete implementation with one fault.

A fault module defines only the names it gets wrong and sets ``__getattr__`` to
:func:`reference_attribute` (PEP 562). Every other name that ``verify/`` asks for is then
efx's own, so a failing check points at the one fault and not at a missing name.
"""

from __future__ import annotations

import importlib
from typing import Any


def reference_attribute(name: str) -> Any:
    """Return ``efx.reference``'s attribute ``name``; raise AttributeError when it has none."""
    return getattr(importlib.import_module("efx.reference"), name)
