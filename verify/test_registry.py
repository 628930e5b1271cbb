"""Every claim in the registry has at least one check in verify/ that carries its marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from efx.claims import claims
from efx.pytest_plugin import collected_claims, collected_files

VERIFY_DIR = Path(__file__).parent


def test_every_claim_has_a_check(request):
    all_files = {str(p) for p in VERIFY_DIR.glob("test_*.py")}
    # Only a session that collected all of verify/ can tell a claim without checks.
    if not all_files.issubset(collected_files(request.config)):
        pytest.skip("collect all of verify/ to check that every claim has a check")

    missing = [c.id for c in claims() if c.id not in collected_claims(request.config)]

    assert not missing, f"claims with no check in verify/: {missing}"
