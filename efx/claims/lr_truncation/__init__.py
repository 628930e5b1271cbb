"""Claims and rubrics for the truncated-SVD answers: lr-image (Q5), lr-factors (Q7), lr-failure (Q8).

Claim ids live in the ``tsvd.`` namespace. Each question's claims sit in their own module;
the rubrics, which cite claims across the three, sit in :mod:`.rubrics`.
"""

from __future__ import annotations

from efx.claims.lr_truncation import factors, failure, image
from efx.claims.lr_truncation.rubrics import RUBRICS
from efx.claims.model import Claim

CLAIMS: tuple[Claim, ...] = image.CLAIMS + factors.CLAIMS + failure.CLAIMS

__all__ = ["CLAIMS", "RUBRICS"]
