"""The randomized SVD: its deterministic error bound, its Gaussian high-probability bound, and
why it re-orthonormalises between power iterations.

Matrices come from ``efx.strategies.gapped.gapped_matrices``: a decaying spectrum whose value
drops by the factor ``gap`` after ``sigma_k``, with random orthogonal singular vectors that the
check rebuilds from the drawn seed, so ``V_k`` and ``V_r`` in the bound are exact.

Tolerance: the algorithm makes ``2q + 2`` products with ``W`` or ``W^T``, ``2q + 1`` QR
factorisations and one small SVD, each backward stable. Each step is charged one
``truncation_error_tolerance(||W||_F, shape, k, dtype)`` (the SVD-sized backward error twice,
the reconstruction and the storage rounding), so the allowance is ``(2q + 3)`` of them.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.claims.lr_truncation.factors import (
    NAIVE_POWER_EXAMPLE,
    NAIVE_RATIO_ABOVE,
    ORTHONORMALISED_RATIO_BELOW,
)
from efx.lowrank import truncation_error_tolerance
from efx.strategies import matrix_from_spectrum, random_orthogonal
from efx.strategies.gapped import gapped_matrices

MARKOV_T = 1e6
"""The Markov factor t of the probabilistic bound: each example fails with probability <= 1/t."""

# device and dtype hold one value per test item, so sharing them across the examples of the
# item is intended.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def right_singular_vectors(rows: int, cols: int, seed: int) -> torch.Tensor:
    """Rebuild the ``cols x min(rows, cols)`` factor V that ``matrix_from_spectrum`` drew for this seed."""
    generator = torch.Generator().manual_seed(seed)
    random_orthogonal(rows, generator)  # U comes first from the same generator
    return random_orthogonal(cols, generator)[:, : min(rows, cols)]


def frobenius_error(W: torch.Tensor, U: torch.Tensor, S: torch.Tensor, Vh: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(W.double() - (U.double() * S.double()) @ Vh.double()))


def allowance(W: torch.Tensor, k: int, power_iterations: int) -> float:
    norm = float(torch.linalg.matrix_norm(W.double()))
    return (2 * power_iterations + 3) * truncation_error_tolerance(norm, tuple(W.shape), k, W.dtype)


@pytest.mark.claim("tsvd.randomized-bound")
@fixed_fixtures
@given(data=st.data())
def test_error_within_deterministic_bound(data, device, dtype, impl):
    gm = data.draw(gapped_matrices(dtype=dtype), label="matrix")
    rows, cols = gm.W.shape
    k, p = gm.k, min(rows, cols)
    oversample = data.draw(st.integers(0, cols - k), label="oversample")
    q = data.draw(st.integers(0, 3), label="power_iterations")
    Omega = torch.randn(
        cols, k + oversample, generator=torch.Generator().manual_seed(gm.seed + 1), dtype=dtype
    )
    note(
        f"shape={(rows, cols)} k={k} gap={gm.gap:.3g} q={q} l={k + oversample} sigma={gm.sigma.tolist()}"
    )

    U, S, Vh = impl.randomized_svd(
        gm.W.to(device), k, power_iterations=q, test_matrix=Omega.to(device)
    )
    error = frobenius_error(gm.W.to(device), U, S, Vh)

    V = right_singular_vectors(rows, cols, gm.seed)
    Omega_1 = V[:, :k].T @ Omega.double()
    Omega_2 = V[:, k:p].T @ Omega.double()
    excess = gm.gap ** (2 * q) * float(
        torch.linalg.matrix_norm(gm.sigma[k:p, None] * Omega_2 @ torch.linalg.pinv(Omega_1))
    )
    optimum = float(torch.linalg.vector_norm(gm.sigma[k:]))
    note(f"error={error:.6g} optimum={optimum:.6g} bound={math.hypot(optimum, excess):.6g}")
    tol = allowance(gm.W, k, q)
    assert error <= math.hypot(optimum, excess) + tol
    assert error >= optimum - tol, "no rank-k result beats Eckart-Young"


@pytest.mark.claim("tsvd.randomized-bound")
@fixed_fixtures
@given(data=st.data())
def test_error_ratio_within_gaussian_bound(data, device, dtype, impl):
    rows = data.draw(st.integers(6, 14), label="rows")
    cols = data.draw(st.integers(6, 14), label="cols")
    oversample = data.draw(st.integers(2, 5), label="oversample")
    k = data.draw(st.integers(1, min(rows, cols) - oversample), label="k")
    gm = data.draw(
        gapped_matrices(rows=rows, cols=cols, k=k, max_gap=0.05, dtype=dtype), label="matrix"
    )
    q = data.draw(st.sampled_from([2, 3]), label="power_iterations")
    generator = torch.Generator(device=device).manual_seed(gm.seed)
    note(f"shape={(rows, cols)} k={k} s={oversample} gap={gm.gap:.3g} q={q}")

    U, S, Vh = impl.randomized_svd(
        gm.W.to(device), k, oversample=oversample, power_iterations=q, generator=generator
    )
    error = frobenius_error(gm.W.to(device), U, S, Vh)

    # With probability >= 1 - 1/t over the Gaussian test matrix (Markov's inequality on the
    # expectation k/(s-1) of tsvd.randomized-bound), so an example fails with probability <= 1e-6.
    optimum = float(torch.linalg.vector_norm(gm.sigma[k:]))
    ratio_bound = math.sqrt(1 + MARKOV_T * gm.gap ** (4 * q) * k / (oversample - 1))
    note(f"ratio={error / optimum:.6g} bound={ratio_bound:.6g}")
    assert error <= ratio_bound * optimum + allowance(gm.W, k, q)


def unorthonormalised_range(
    W: torch.Tensor, Omega: torch.Tensor, power_iterations: int
) -> torch.Tensor:
    """Return an orthonormal basis of (W W^T)^q W Omega formed with no QR between the products."""
    Y = W @ Omega
    for _ in range(power_iterations):
        Y = W @ (W.mT @ Y)
    return torch.linalg.qr(Y).Q


@pytest.mark.claim("tsvd.power-iteration-rounding")
def test_power_iterations_lose_tail_without_reorthonormalisation(device, dtype, impl):
    n, k, oversample = (
        NAIVE_POWER_EXAMPLE["n"],
        NAIVE_POWER_EXAMPLE["k"],
        NAIVE_POWER_EXAMPLE["oversample"],
    )
    q = NAIVE_POWER_EXAMPLE["iterations"][str(dtype).removeprefix("torch.")]
    sigma = torch.arange(1, n + 1, dtype=torch.float64) ** -NAIVE_POWER_EXAMPLE["power"]
    optimum = float(torch.linalg.vector_norm(sigma[k:]))

    for seed in range(5):
        W = matrix_from_spectrum(sigma, n, n, seed, dtype).to(device)
        Omega = torch.randn(
            n, k + oversample, generator=torch.Generator().manual_seed(seed), dtype=dtype
        ).to(device)

        Q = unorthonormalised_range(W, Omega, q)
        Ub, S, Vh = torch.linalg.svd(Q.mT @ W, full_matrices=False)
        naive = frobenius_error(W, Q @ Ub[:, :k], S[:k], Vh[:k])
        U, S, Vh = impl.randomized_svd(W, k, power_iterations=q, test_matrix=Omega)
        ours = frobenius_error(W, U, S, Vh)

        assert naive / optimum > NAIVE_RATIO_ABOVE, (
            f"seed {seed}: unorthonormalised ratio {naive / optimum:.4f}"
        )
        assert ours / optimum < ORTHONORMALISED_RATIO_BELOW, (
            f"seed {seed}: re-orthonormalised ratio {ours / optimum:.6f}"
        )
