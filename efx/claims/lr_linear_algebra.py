"""Claims and rubrics of this topic (answers not written yet)."""

from __future__ import annotations

from efx.claims.model import Claim, Rubric

CLAIMS: tuple[Claim, ...] = ()
RUBRICS: tuple[Rubric, ...] = ()
