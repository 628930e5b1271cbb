"""The SVD's factors: shapes, pairs of singular vectors, the outer-product form, non-uniqueness.

Every check compares invariants of the computed SVD: singular values, reconstructions and
projectors. Singular vectors are unique only up to sign and up to rotation inside a repeated
singular value, and the last checks show that freedom directly.

Tolerance: a computed SVD is the exact SVD of ``W + E`` with ``||E||_2 <= rho sigma_1`` and
factors within ``rho`` of orthogonal, ``rho = efx.rank.svd_error_bound(m, n, dtype)`` (LAPACK
Users' Guide, section 4.9, with the size factor estimated in efx.rank). Computed singular
values lie within ``e = singular_value_noise(...)`` of the drawn ones. Forming products of
the factors adds ``efx.rank.product_error_bound``. Each bound below says which terms it adds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from efx.rank import product_error_bound, svd_error_bound
from efx.strategies import spectral_matrices
from efx.strategies.spectral_bounds import construction_error_bound, singular_value_noise
from efx.tolerance import unit_roundoff

TORCH_SEEN = "2.13.0"

# device and dtype hold one value per test item, so sharing them across the examples of the
# item is intended.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def single_thread():
    # The strategies' QR and these SVDs are on matrices of at most 8 x 8, where starting a
    # second thread costs milliseconds against microseconds of work (torch 2.13 CPU).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def reconstruction_bound(
    rows: int, cols: int, sigma_1: float, e: float, dtype: torch.dtype, inner: int
) -> float:
    """Bound ||fl(sum of the rank-one terms) - W||_2 for factors of a computed SVD.

    The exact product of the computed factors is within rho ||W|| <= rho (sigma_1 + e) of W.
    Forming it rounds each entry as an inner product of ``inner`` terms, whose absolute sum is
    at most S_1 |u row| |v row| <= (sigma_1 + e)(1 + rho)^2.
    """
    rho = svd_error_bound(rows, cols, dtype)
    scale = (sigma_1 + e) * (1 + rho) ** 2
    return rho * (sigma_1 + e) + product_error_bound(inner, rows * cols, scale, dtype)


def pair_bound(rows: int, cols: int, sigma_1: float, e: float, dtype: torch.dtype) -> float:
    """Bound ||W v_i - S_i u_i|| and ||W^T u_i - S_i v_i|| for the columns of a computed SVD.

    With W = U S V^T - E, W V - U S = U S (V^T V - I) - E V, each column at most
    2 rho (1 + rho)(sigma_1 + e). Computing W @ v (inner products of length max(m, n)), the
    scaling S_i u_i and the subtraction add two more roundings per entry.
    """
    rho = svd_error_bound(rows, cols, dtype)
    longest = max(rows, cols)
    return 2 * rho * (1 + rho) * (sigma_1 + e) + product_error_bound(
        longest + 2, longest, (sigma_1 + e) * (1 + rho), dtype
    )


def projector(basis: torch.Tensor) -> torch.Tensor:
    return basis @ basis.T


def draw_matrix(data, dtype, **kwargs):
    sm = data.draw(spectral_matrices(dtype=dtype, **kwargs), label="matrix")
    rows, cols = sm.W.shape
    e = singular_value_noise(rows, cols, float(sm.sigma[0]), dtype)
    note(f"kind={sm.kind} shape={(rows, cols)} sigma={sm.sigma.tolist()} e={e:.3g}")
    return sm, e


@pytest.mark.claim("la.svd-exists-shapes", "la.torch-svd-returns-vh")
@fixed_fixtures
@given(data=st.data())
def test_full_and_thin_factors(data, device, dtype):
    sm, e = draw_matrix(data, dtype)
    W = sm.W.to(device)
    rows, cols = W.shape
    p = min(rows, cols)
    sigma_1 = float(sm.sigma[0])

    U, S, Vh = torch.linalg.svd(W)  # full_matrices=True is torch's default
    U_p, S_p, Vh_p = torch.linalg.svd(W, full_matrices=False)

    assert (U.shape, S.shape, Vh.shape) == ((rows, rows), (p,), (cols, cols))
    assert (U_p.shape, S_p.shape, Vh_p.shape) == ((rows, p), (p,), (p, cols))
    assert S.dtype == W.dtype
    assert bool((S[:-1] >= S[1:]).all())
    assert bool((S >= 0).all())
    assert float((S.cpu().double() - sm.sigma).abs().max()) <= e

    bound = reconstruction_bound(rows, cols, sigma_1, e, dtype, inner=p + 1)
    full = (U[:, :p] * S) @ Vh[:p]
    thin = (U_p * S_p) @ Vh_p
    assert float(torch.linalg.matrix_norm(full - W, ord=2)) <= bound
    assert float(torch.linalg.matrix_norm(thin - W, ord=2)) <= bound


@pytest.mark.claim("la.singular-vector-relations")
@fixed_fixtures
@given(data=st.data())
def test_singular_vectors_pair_up(data, device, dtype):
    sm, e = draw_matrix(data, dtype)
    W = sm.W.to(device)
    rows, cols = W.shape
    p = min(rows, cols)
    bound = pair_bound(rows, cols, float(sm.sigma[0]), e, dtype)

    U, S, Vh = torch.linalg.svd(W)
    V = Vh.T
    right = torch.linalg.vector_norm(W @ V[:, :p] - U[:, :p] * S, dim=0)
    left = torch.linalg.vector_norm(W.T @ U[:, :p] - V[:, :p] * S, dim=0)
    right_null = torch.linalg.vector_norm(W @ V[:, p:], dim=0)
    left_null = torch.linalg.vector_norm(W.T @ U[:, p:], dim=0)
    note(
        f"|W v_i - s_i u_i| = {right.tolist()} |W^T u_i - s_i v_i| = {left.tolist()} bound={bound:.3g}"
    )

    assert bool((right <= bound).all())
    assert bool((left <= bound).all())
    assert bool((right_null <= bound).all())
    assert bool((left_null <= bound).all())


@pytest.mark.claim("la.svd-outer-product")
@fixed_fixtures
@given(data=st.data())
def test_rank_one_terms_rebuild_matrix(data, device, dtype):
    sm, e = draw_matrix(data, dtype)
    W = sm.W.to(device)
    rows, cols = W.shape
    p = min(rows, cols)
    sigma_1 = float(sm.sigma[0])
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)

    terms = [S[i] * torch.outer(U[:, i], Vh[i]) for i in range(p)]
    total = torch.stack(terms).sum(dim=0)
    without_first = torch.stack(terms[1:]).sum(dim=0) if p > 1 else torch.zeros_like(W)
    # Each term rounds twice per entry and the sum adds p - 1 roundings.
    bound = reconstruction_bound(rows, cols, sigma_1, e, dtype, inner=p + 2)

    # Dropping the first term moves the sum by S_1, so the comparison below can fail.
    assert float(torch.linalg.matrix_norm(without_first - W, ord=2)) >= float(S[0]) - bound
    assert float(torch.linalg.matrix_norm(total - W, ord=2)) <= bound


@pytest.mark.claim("la.singular-vectors-not-unique")
@fixed_fixtures
@given(data=st.data())
def test_sign_flip_gives_same_matrix(data, device, dtype):
    sm, _ = draw_matrix(data, dtype)
    W = sm.W.to(device)
    p = min(W.shape)
    i = data.draw(st.integers(0, p - 1), label="i")
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    flipped_U, flipped_Vh = U.clone(), Vh.clone()
    flipped_U[:, i] = -U[:, i]
    flipped_Vh[i] = -Vh[i]

    # Negation is exact in IEEE arithmetic and (-a)(-b) rounds like ab, so the products agree
    # bit for bit while the factors differ.
    assert not torch.equal(flipped_U, U)
    assert torch.equal((flipped_U * S) @ flipped_Vh, (U * S) @ Vh)
    assert torch.equal(projector(flipped_U[:, : i + 1]), projector(U[:, : i + 1]))


@pytest.mark.claim("la.singular-vectors-not-unique")
@fixed_fixtures
@given(data=st.data())
def test_rotation_inside_repeated_value(data, device, dtype):
    kind = data.draw(st.sampled_from(("flat", "repeated")), label="kind")
    sm, e = draw_matrix(data, dtype, rows=st.integers(2, 8), cols=st.integers(2, 8), kind=kind)
    ties = [j for j in range(len(sm.sigma) - 1) if sm.sigma[j] == sm.sigma[j + 1]]
    assume(ties)  # a "repeated" spectrum of two values may draw them distinct
    j = data.draw(st.sampled_from(ties), label="j")
    theta = data.draw(st.floats(0.1, 3.0), label="theta")
    W = sm.W.to(device)
    rows, cols = W.shape
    sigma_1 = float(sm.sigma[0])
    rho = svd_error_bound(rows, cols, dtype)
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    c, s = math.cos(theta), math.sin(theta)
    G = torch.tensor([[c, -s], [s, c]], dtype=dtype, device=device)
    pair = [j, j + 1]
    rotated_U, rotated_Vh = U.clone(), Vh.clone()
    rotated_U[:, pair] = U[:, pair] @ G
    rotated_Vh[pair] = G.T @ Vh[pair]
    note(f"tie at {j}: S={S.tolist()} theta={theta}")

    # The rotated factors are another SVD. Rounding the entries of G leaves G G^T within
    # g = 2 sqrt(2) u (1 + u) of I. Rotating rounds each entry of the pair of columns (or rows)
    # as a 2-term inner product of absolute sum <= sqrt(2)(1 + rho). And G diag(S_j, S_j+1) G^T
    # differs from diag(S_j, S_j+1) by at most |S_j - S_j+1| <= 2e.
    u = unit_roundoff(dtype)
    g = 2 * math.sqrt(2) * u * (1 + u)
    rotation_rounding = (
        product_error_bound(2, 2 * max(rows, cols), math.sqrt(2) * (1 + rho), dtype) + g
    )
    top = (sigma_1 + e) * (1 + rho)
    rebuilt = (rotated_U * S) @ rotated_Vh
    bound = (
        reconstruction_bound(rows, cols, sigma_1, e, dtype, inner=min(rows, cols) + 1)
        + 2 * e
        + 2 * top * rotation_rounding
    )
    assert float(torch.linalg.matrix_norm(rebuilt - W, ord=2)) <= bound
    width = rotated_U.shape[1]
    orthogonality = torch.linalg.matrix_norm(
        rotated_U.T @ rotated_U - torch.eye(width, dtype=dtype, device=device), ord=2
    )
    assert float(orthogonality) <= rho * (2 + rho) + 2 * rotation_rounding + product_error_bound(
        rows + 1, width * width, (1 + rho) ** 2, dtype
    )

    # The top-(j+1) projector moves by |sin theta|: the subspace is not determined by W.
    # Each computed projector is within 2 rho + rho^2 of an exact one, plus the rounding of the
    # rotation and of the projector. The difference and its 2-norm (an SVD) add one rounding and rho.
    projector_error = (
        rho * (2 + rho)
        + 2 * rotation_rounding
        + product_error_bound(j + 2, rows * rows, (1 + rho) ** 2, dtype)
    )
    norm_error = svd_error_bound(rows, rows, dtype) * 2 + product_error_bound(
        1, rows * rows, 2, dtype
    )
    moved = torch.linalg.matrix_norm(
        projector(rotated_U[:, : j + 1]) - projector(U[:, : j + 1]), ord=2
    )
    assert abs(float(moved) - abs(s)) <= 2 * projector_error + norm_error

    # The projector onto both vectors of the pair does not move.
    kept = torch.linalg.matrix_norm(
        projector(rotated_U[:, : j + 2]) - projector(U[:, : j + 2]), ord=2
    )
    assert float(kept) <= 2 * projector_error + norm_error


@pytest.mark.claim("la.singular-vectors-not-unique")
@fixed_fixtures
@given(data=st.data())
def test_projectors_agree_across_gap(data, device, dtype):
    sm, _ = draw_matrix(data, dtype)
    rows, cols = sm.W.shape
    p = min(rows, cols)
    sigma_1 = float(sm.sigma[0])
    rho = svd_error_bound(rows, cols, dtype)
    extended = torch.cat([sm.sigma, torch.zeros(1, dtype=torch.float64)])  # sigma_{p+1} := 0
    construction = construction_error_bound(rows, cols, sigma_1, dtype)
    # Keep gaps wide enough for the bound below to stay under 1.
    gapped = [
        k
        for k in range(1, p + 1)
        if extended[k - 1] - extended[k] > 8 * (rho * sigma_1 + construction)
    ]
    assume(gapped)  # only the zero matrix has no gap
    k = data.draw(st.sampled_from(gapped), label="k")

    U_torch = torch.linalg.svd(sm.W.to(device))[0][:, :k].cpu()
    U_numpy = torch.from_numpy(np.linalg.svd(sm.W.numpy())[0][:, :k].copy())

    # NOTE: LAPACK states sin(angle) <= p(m, n) eps sigma_1 / gap as an approximate bound. The
    # gap of the stored matrix is at least the drawn gap minus twice the construction error.
    gap = float(extended[k - 1] - extended[k]) - 2 * construction
    angle = rho * (sigma_1 + construction) / (gap - rho * sigma_1)
    rounding = product_error_bound(k, rows * rows, (1 + rho) ** 2, dtype)
    difference = float(torch.linalg.matrix_norm(projector(U_torch) - projector(U_numpy), ord=2))
    note(f"k={k} gap={gap:.3g} |P_torch - P_numpy|={difference:.3g}")

    assert difference <= 2 * (angle + rho * (2 + rho) + rounding)


@pytest.mark.claim("la.torch-svd-returns-vh")
def test_vh_is_v_transposed(device, dtype):
    if torch.__version__.split("+")[0] != TORCH_SEEN:
        pytest.skip(
            f"torch's return convention was seen on torch {TORCH_SEEN}; this is torch {torch.__version__}"
        )
    W = torch.tensor([[2.0, 1.0], [0.0, 1.0]], dtype=dtype, device=device)
    sigma_1 = float(torch.linalg.matrix_norm(W, ord=2))
    bound = reconstruction_bound(2, 2, sigma_1, 0.0, dtype, inner=3)

    U, S, Vh = torch.linalg.svd(W)
    as_documented = (U * S) @ Vh
    vh_used_as_v = (U * S) @ Vh.T

    assert S.ndim == 1
    assert float(torch.linalg.matrix_norm(as_documented - W, ord=2)) <= bound
    assert float(torch.linalg.matrix_norm(vh_used_as_v - W, ord=2)) > bound
