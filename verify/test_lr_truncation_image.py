"""Truncation errors in closed form, monotone in k, zero at the rank; pixels, rank-one bands, edges.

Matrices come from ``efx.strategies.spectral_matrices``: ``W = U diag(sigma) V^T`` with random
orthogonal factors and a prescribed spectrum (decaying, flat, repeated, exact zeros,
conditioned), so the exact errors are known from ``sigma`` without trusting any SVD.

Tolerance: a truncation computed in a dtype is the exact truncation of a matrix within the
SVD's backward error. Its measured errors therefore differ from the exact ones by at most
``truncation_error_tolerance(||W||_F, shape, k, dtype)``, which ``efx.lowrank.rounding``
derives from twice the backward error ``gamma(10 max(m, n)) ||W||_F``, the reconstruction's
inner products of length k, and one rounding of each stored entry. Errors are measured in
float64.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.lowrank import truncation_error_tolerance
from efx.proofs.lr_truncation.examples import PIXEL_ERRORS, pixel_example
from efx.strategies import spectral_matrices

# device and dtype hold one value per test item, so sharing them across the examples of the
# item is intended.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def reconstruct(U: torch.Tensor, S: torch.Tensor, Vh: torch.Tensor) -> torch.Tensor:
    return (U.double() * S.double()) @ Vh.double()


def errors(W: torch.Tensor, approximation: torch.Tensor) -> tuple[float, float]:
    difference = W.double() - approximation.double()
    return float(torch.linalg.matrix_norm(difference)), float(
        torch.linalg.matrix_norm(difference, ord=2)
    )


def tolerance(W: torch.Tensor, k: int) -> float:
    return truncation_error_tolerance(
        float(torch.linalg.matrix_norm(W.double())), tuple(W.shape), k, W.dtype
    )


@pytest.mark.claim("tsvd.error-closed-form")
@fixed_fixtures
@given(data=st.data())
def test_errors_match_closed_forms(data, device, dtype, impl):
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    p = min(sm.W.shape)
    k = data.draw(st.integers(1, p), label="k")
    W = sm.W.to(device)
    note(f"kind={sm.kind} shape={tuple(W.shape)} k={k} sigma={sm.sigma.tolist()}")

    U, S, Vh = impl.truncated_svd(W, k)
    frobenius, spectral = errors(W, reconstruct(U, S, Vh))

    assert tuple(U.shape) == (W.shape[0], k)
    assert tuple(S.shape) == (k,)
    assert tuple(Vh.shape) == (k, W.shape[1])
    tol = tolerance(W, k)
    assert frobenius == pytest.approx(float(torch.linalg.vector_norm(sm.sigma[k:])), abs=tol)
    assert spectral == pytest.approx(float(sm.sigma[k]) if k < p else 0.0, abs=tol)


@pytest.mark.claim("tsvd.error-closed-form")
@fixed_fixtures
@given(data=st.data())
def test_spectrum_functions_match_measured_errors(data, device, dtype, impl):
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    p = min(sm.W.shape)
    k = data.draw(st.integers(0, p), label="k")
    S = sm.sigma.to(device=device, dtype=dtype)

    frobenius = float(impl.frobenius_error_from_spectrum(S, k))
    spectral = float(impl.spectral_error_from_spectrum(S, k))
    curve = impl.frobenius_error_curve(S)

    # One rounding of each value when sigma is stored in dtype, and a norm of p - k terms.
    tol = truncation_error_tolerance(float(torch.linalg.vector_norm(sm.sigma)), (p, p), p, dtype)
    assert frobenius == pytest.approx(float(torch.sqrt(torch.sum(sm.sigma[k:] ** 2))), abs=tol)
    assert spectral == pytest.approx(float(sm.sigma[k]) if k < p else 0.0, abs=tol)
    assert curve.shape == (p + 1,)
    assert float(curve[k]) == pytest.approx(
        float(torch.sqrt(torch.sum(sm.sigma[k:] ** 2))), abs=tol
    )


@pytest.mark.claim("tsvd.error-monotone")
@fixed_fixtures
@given(data=st.data())
def test_errors_never_grow_and_vanish_at_rank(data, device, dtype, impl):
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    W = sm.W.to(device)
    p = min(W.shape)
    note(f"kind={sm.kind} shape={tuple(W.shape)} rank={sm.rank} sigma={sm.sigma.tolist()}")

    measured = [errors(W, reconstruct(*impl.truncated_svd(W, k))) for k in range(1, p + 1)]

    tol = tolerance(W, p)
    for k in range(1, p):
        assert measured[k][0] <= measured[k - 1][0] + 2 * tol, (
            f"Frobenius error grew from k={k} to k={k + 1}"
        )
        assert measured[k][1] <= measured[k - 1][1] + 2 * tol, (
            f"spectral error grew from k={k} to k={k + 1}"
        )
    for k in range(1, p + 1):
        if k >= sm.rank:
            assert measured[k - 1][0] <= tol, f"error at k={k} >= rank={sm.rank} is not zero"
        else:
            assert measured[k - 1][1] >= float(sm.sigma[k]) - tol, (
                f"error at k={k} < rank={sm.rank} is too small"
            )


@pytest.mark.claim("tsvd.pixel-error")
def test_one_pixel_error_grows_from_k1_to_k2(device, dtype, impl):
    example = pixel_example()
    W = torch.tensor(
        [[float(entry) for entry in row] for row in example.W.tolist()], dtype=dtype, device=device
    )
    row, col = example.row, example.col

    entry_errors = [
        float((W.double() - reconstruct(*impl.truncated_svd(W, k)))[row, col]) for k in (1, 2)
    ]
    frobenius = [errors(W, reconstruct(*impl.truncated_svd(W, k)))[0] for k in (1, 2)]

    tol = tolerance(W, 3)
    assert abs(entry_errors[0]) <= tol, "the entry is exact at k = 1"
    assert entry_errors[1] == pytest.approx(float(PIXEL_ERRORS[2]), abs=tol)
    assert abs(entry_errors[1]) > abs(entry_errors[0]) + 2 * tol
    assert frobenius[1] < frobenius[0] - 2 * tol, "while the total error falls"


@pytest.mark.claim("tsvd.rank-one-stripes")
@fixed_fixtures
@given(data=st.data())
def test_rank_one_truncation_has_zero_minors(data, device, dtype, impl):
    sm = data.draw(
        spectral_matrices(rows=st.integers(2, 8), cols=st.integers(2, 8), dtype=dtype),
        label="matrix",
    )
    W = sm.W.to(device)
    note(f"kind={sm.kind} shape={tuple(W.shape)} sigma={sm.sigma.tolist()}")

    M = reconstruct(*impl.truncated_svd(W, 1))
    minors = torch.einsum("ab,cd->abcd", M, M) - torch.einsum("ad,cb->abcd", M, M)

    # An entry of M is off by at most tol, so a product of two entries by at most
    # 2 max|M| tol + tol^2, and a minor (a difference of two products) by twice that.
    tol = tolerance(W, 1)
    minor_tol = 2 * (2 * float(M.abs().max()) * tol + tol**2)
    assert float(minors.abs().max()) <= minor_tol
    rows, cols = W.shape
    distinct_minors = math.comb(rows, 2) * math.comb(cols, 2)
    # Cauchy-Binet: the squared 2 x 2 minors of W add up to e_2(sigma^2) >= sigma_1^2 sigma_2^2,
    # so the largest is at least sigma_1 sigma_2 / sqrt(number of distinct minors).
    if float(sm.sigma[0] * sm.sigma[1]) / math.sqrt(distinct_minors) > minor_tol:
        # Negative control: with a second nonzero singular value, W itself has a nonzero minor.
        Wd = W.double()
        full_minors = torch.einsum("ab,cd->abcd", Wd, Wd) - torch.einsum("ad,cb->abcd", Wd, Wd)
        assert float(full_minors.abs().max()) > minor_tol


def edge_energy(X: torch.Tensor) -> float:
    """Return the squared Frobenius norm of vertical plus horizontal differences of neighbouring entries."""
    return float((X[1:, :] - X[:-1, :]).pow(2).sum() + (X[:, 1:] - X[:, :-1]).pow(2).sum())


@pytest.mark.claim("tsvd.sharpness-grows")
@fixed_fixtures
@given(data=st.data())
def test_edge_energy_grows_with_k(data, device, dtype, impl):
    sm = data.draw(
        spectral_matrices(rows=st.integers(2, 8), cols=st.integers(2, 8), dtype=dtype),
        label="matrix",
    )
    W = sm.W.to(device)
    p = min(W.shape)
    note(f"kind={sm.kind} shape={tuple(W.shape)} sigma={sm.sigma.tolist()}")

    energies = [edge_energy(reconstruct(*impl.truncated_svd(W, k))) for k in range(1, p + 1)]

    # A difference of neighbours has norm at most 2 ||X||, so edge energies are within
    # (2 ||W||_F + 2 tol)^2 - (2 ||W||_F)^2 = 8 ||W||_F tol + 4 tol^2 of their exact values.
    norm = float(torch.linalg.matrix_norm(W.double()))
    tol = tolerance(W, p)
    energy_tol = 8 * norm * tol + 4 * tol**2
    for k in range(1, p):
        assert energies[k] >= energies[k - 1] - 2 * energy_tol
    assert energies[-1] == pytest.approx(edge_energy(W.double()), abs=energy_tol)
