"""Orthogonal factors from both sides, and thin factors whose U_k U_k^T is only a projector.

Tolerance: the U and V of a computed SVD are within ``rho = efx.rank.svd_error_bound(m, n,
dtype)`` of orthogonal matrices (LAPACK Users' Guide, section 4.9). So with ``U = O + D``,
``||D||_2 <= rho``, each of ``U^T U - I`` and ``U U^T - I`` is at most ``2 rho + rho^2`` in exact
arithmetic. Forming the product rounds each entry as an inner product of unit-length rows
(``efx.rank.product_error_bound``), and its 2-norm, itself an SVD, adds ``rho`` times the norm.
"""

from __future__ import annotations

import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.proofs.lr_linear_algebra_orthogonal import orthogonal_ideal_instances
from efx.rank import product_error_bound, svd_error_bound
from efx.strategies import spectral_matrices

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


def orthogonality_bound(size: int, inner: int, rho: float, dtype: torch.dtype) -> float:
    """Bound ||Q^T Q - I||_2 or ||Q Q^T - I||_2 for a computed factor within rho of orthogonal."""
    exact = rho * (2 + rho)
    rounding = product_error_bound(inner + 1, size * size, (1 + rho) ** 2, dtype)
    return exact + rounding + svd_error_bound(size, size, dtype) * (1 + exact + rounding)


def distance_from_identity(product: torch.Tensor) -> float:
    identity = torch.eye(product.shape[0], dtype=product.dtype, device=product.device)
    return float(torch.linalg.matrix_norm(product - identity, ord=2))


@pytest.mark.claim("la.orthogonal-square-both-sides")
@fixed_fixtures
@given(sm=spectral_matrices())
def test_square_factors_orthogonal_both_sides(device, dtype, sm):
    W = sm.W.to(device=device, dtype=dtype)
    rows, cols = W.shape
    rho = svd_error_bound(rows, cols, dtype)
    U, _, Vh = torch.linalg.svd(W)
    V = Vh.T
    note(f"kind={sm.kind} shape={(rows, cols)}")

    assert distance_from_identity(U.T @ U) <= orthogonality_bound(rows, rows, rho, dtype)
    assert distance_from_identity(U @ U.T) <= orthogonality_bound(rows, rows, rho, dtype)
    assert distance_from_identity(V.T @ V) <= orthogonality_bound(cols, cols, rho, dtype)
    assert distance_from_identity(V @ V.T) <= orthogonality_bound(cols, cols, rho, dtype)


@pytest.mark.claim("la.thin-projector")
@fixed_fixtures
@given(data=st.data())
def test_thin_factor_gives_projector(data, device, dtype):
    sm = data.draw(spectral_matrices(rows=st.integers(2, 8), dtype=dtype), label="matrix")
    W = sm.W.to(device)
    rows, cols = W.shape
    k = data.draw(st.integers(1, min(rows - 1, cols)), label="k")
    rho = svd_error_bound(rows, cols, dtype)
    U_k = torch.linalg.svd(W, full_matrices=False)[0][:, :k]
    P = U_k @ U_k.T
    note(f"shape={(rows, cols)} k={k}")

    # P = exact projector + F. F: the departure of U_k from orthonormal (2 rho + rho^2) and
    # the rounding of U_k U_k^T (inner products of length k).
    F = rho * (2 + rho) + product_error_bound(k, rows * rows, (1 + rho) ** 2, dtype)
    norm_error = svd_error_bound(rows, rows, dtype) * (2 + F)
    squaring = product_error_bound(rows + 1, rows * rows, (1 + F) ** 2, dtype)
    trace_rounding = product_error_bound(rows, 1, rows * (1 + F), dtype)

    assert distance_from_identity(U_k.T @ U_k) <= orthogonality_bound(k, rows, rho, dtype)
    assert float(torch.linalg.matrix_norm(P @ P - P, ord=2)) <= 3 * F + F**2 + squaring + norm_error
    assert float(torch.linalg.matrix_norm(P - P.T, ord=2)) <= 2 * F + norm_error
    assert abs(float(torch.trace(P)) - k) <= rows * F + trace_rounding
    # The negative control: P is not the identity, it is a full unit of 2-norm away from it.
    assert abs(distance_from_identity(P) - 1) <= F + norm_error + product_error_bound(
        1, rows * rows, 1 + F, dtype
    )


@pytest.mark.claim("la.thin-projector")
def test_thin_example_exact():
    U_k = sympy.Matrix([1, 0])

    assert U_k.T * U_k == sympy.eye(1)
    assert U_k * U_k.T == sympy.diag(1, 0)
    assert U_k * U_k.T != sympy.eye(2)


@pytest.mark.slow
@pytest.mark.claim("la.orthogonal-square-both-sides")
def test_orthogonality_ideal_3x3():
    results = orthogonal_ideal_instances(3).verify()

    assert len(results) == 1
