"""The photograph of the lr-image page: exactly full rank, errors in closed form, blur measured.

``skimage.data.camera()`` is a 512 x 512 grey-level photograph shipped in the scikit-image
wheel (no download). The checks run in float64 only: the grey levels are integers, exact in
both dtypes, and one float64 SVD of the photograph serves every check of this module.

Tolerance: ``truncation_error_tolerance`` of ``efx.lowrank.rounding``, as in the other
truncation checks (the SVD's backward error twice, the reconstruction, one rounding per entry).
"""

from __future__ import annotations

import pytest
import torch

from efx.lowrank import truncation_error_tolerance
from efx.proofs.lr_truncation.photograph import (
    PRIME,
    camera_matrix,
    camera_pixels,
    numerical_rank,
    rank_mod_prime,
)

pytest.importorskip(
    "skimage", reason="the photograph ships with scikit-image (pip install scikit-image)"
)

SIZE = 512
BLUR_RANK = 20
"""The rank at which the claim compares edge and intensity energy."""


@pytest.fixture(scope="module")
def photograph() -> torch.Tensor:
    return camera_matrix(torch.float64)


@pytest.fixture(scope="module")
def singular_values(photograph: torch.Tensor) -> torch.Tensor:
    return torch.linalg.svdvals(photograph)


def edge_energy(X: torch.Tensor) -> float:
    """Return the squared Frobenius norm of vertical plus horizontal differences of neighbouring pixels."""
    return float((X[1:, :] - X[:-1, :]).pow(2).sum() + (X[:, 1:] - X[:, :-1]).pow(2).sum())


@pytest.mark.claim("tsvd.image-full-rank")
def test_photograph_rank_is_exactly_full():
    pixels = camera_pixels()

    assert pixels.shape == (SIZE, SIZE)
    assert rank_mod_prime(pixels.astype("int64"), PRIME) == SIZE


@pytest.mark.claim("tsvd.image-full-rank")
def test_numerical_rank_depends_on_dtype(photograph, singular_values, device):
    single = torch.linalg.svdvals(photograph.to(device=device, dtype=torch.float32)).double().cpu()

    assert numerical_rank(singular_values, (SIZE, SIZE), torch.float64) == SIZE
    assert numerical_rank(single, (SIZE, SIZE), torch.float32) < SIZE


def tolerance(photograph: torch.Tensor, k: int) -> float:
    return truncation_error_tolerance(
        float(torch.linalg.matrix_norm(photograph)), (SIZE, SIZE), k, torch.float64
    )


@pytest.mark.claim("tsvd.error-closed-form", "tsvd.sharpness-grows")
def test_rank_20_photograph_error_and_blur(photograph, singular_values, device, impl):
    W = photograph.to(device)

    U, S, Vh = impl.truncated_svd(W, BLUR_RANK)
    W_k = ((U.double() * S.double()) @ Vh.double()).cpu()

    frobenius = float(torch.linalg.matrix_norm(photograph - W_k))
    assert frobenius == pytest.approx(
        float(torch.linalg.vector_norm(singular_values[BLUR_RANK:])),
        abs=tolerance(photograph, BLUR_RANK),
    )
    intensity_share = float(W_k.pow(2).sum() / photograph.pow(2).sum())
    edge_share = edge_energy(W_k) / edge_energy(photograph)
    # Both shares are float64 sums of non-negative terms, so their rounding is far below the 0.1
    # margin asserted here. The photograph clears the margin by a wide factor.
    assert edge_share < intensity_share - 0.1
    assert intensity_share > 0.98, "full rank, yet rank 20 keeps most of the squared norm"


@pytest.mark.claim("tsvd.error-monotone")
def test_photograph_is_exact_only_at_full_rank(photograph, singular_values, device, impl):
    W = photograph.to(device)

    U, S, Vh = impl.truncated_svd(W, SIZE)
    difference = photograph - ((U.double() * S.double()) @ Vh.double()).cpu()

    tol = tolerance(photograph, SIZE)
    assert float(difference.abs().max()) <= tol
    # One value fewer leaves the error sigma_512, far above rounding (tsvd.error-closed-form).
    assert float(singular_values[-1]) > 100 * tolerance(photograph, SIZE - 1)
