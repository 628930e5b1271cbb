"""Rank, numerical rank, full rank and low rank, checked on matrices with a prescribed spectrum.

Matrices come from ``efx.strategies.spectral_matrices``: ``W = U diag(sigma) V^T`` with random
orthogonal factors and spectra that are decaying, flat, repeated, exactly rank-deficient or
badly conditioned, so exact zeros and ties occur, which Gaussian matrices never produce.

Tolerance: the computed singular values of such a matrix lie within
``e = singular_value_noise(m, n, sigma_1, dtype)`` of the drawn ``sigma`` (Weyl's inequality
applied to the construction error and to the SVD's backward error, see
``efx.strategies.spectral_bounds``). A numerical rank at the threshold ``tau = 2e`` therefore
counts every ``sigma_i > 3e`` and no ``sigma_i <= e``; the checks assert exactly that.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.proofs.lr_linear_algebra import ROUNDING_WITNESS
from efx.rank import product_error_bound, svd_error_bound
from efx.strategies import spectral_matrices
from efx.strategies.spectral_bounds import construction_error_bound, singular_value_noise
from efx.tolerance import gamma, unit_roundoff

TORCH_SEEN = "2.13.0"
CLEAR_KINDS = ("with-zeros", "flat", "repeated")
"""Spectra whose values are either exactly 0 or at least sigma_1 / 8, far from the noise."""

# device and dtype hold one value per test item, so sharing them across the examples of the
# item is intended. impl is never the first argument, because Hypothesis probes that one.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def single_thread():
    # The strategies' QR and these SVDs are on matrices of at most 8 x 8, where starting a
    # second thread costs milliseconds against microseconds of work (torch 2.13 CPU).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def noise_of(sm, dtype: torch.dtype) -> float:
    rows, cols = sm.W.shape
    return singular_value_noise(rows, cols, float(sm.sigma[0]), dtype)


def count_above(values: torch.Tensor, threshold: float) -> int:
    return int((values > threshold).sum())


def rank_threshold(e: float, dtype: torch.dtype) -> float:
    # 2e separates noise (<= e) from values above 3e. A zero matrix has e = 0 and exactly zero
    # singular values; any positive threshold then gives rank 0, and tol=0 would warn.
    return 2 * e if e > 0 else torch.finfo(dtype).tiny


@pytest.mark.claim("la.rank-nonzero-singular-values")
@fixed_fixtures
@given(data=st.data())
def test_rank_counts_values_above_noise(data, device, dtype, impl):
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    e = noise_of(sm, dtype)
    note(f"kind={sm.kind} shape={tuple(sm.W.shape)} sigma={sm.sigma.tolist()} e={e:.3g}")

    rank = impl.numerical_rank(sm.W.to(device), tol=rank_threshold(e, dtype))

    # Weyl: a computed value exceeds 2e if its exact value exceeds 3e, and only if it exceeds e.
    assert rank >= count_above(sm.sigma, 3 * e)
    assert rank <= count_above(sm.sigma, e)


@pytest.mark.claim("la.rank-nonzero-singular-values")
@fixed_fixtures
@given(data=st.data())
def test_exact_rank_recovered(data, device, dtype, impl):
    kind = data.draw(st.sampled_from(CLEAR_KINDS), label="kind")
    sm = data.draw(spectral_matrices(kind=kind, dtype=dtype), label="matrix")
    e = noise_of(sm, dtype)
    note(f"shape={tuple(sm.W.shape)} sigma={sm.sigma.tolist()} rank={sm.rank}")

    assert impl.numerical_rank(sm.W.to(device), tol=rank_threshold(e, dtype)) == sm.rank


@pytest.mark.claim("la.rank-definition")
@fixed_fixtures
@given(data=st.data())
def test_column_space_dimension_is_rank(data, device, dtype):
    sm = data.draw(spectral_matrices(kind="with-zeros", dtype=dtype), label="matrix")
    W, r = sm.W.to(device), sm.rank
    rows, cols = W.shape
    sigma_1 = float(sm.sigma[0])
    e = noise_of(sm, dtype)
    rho = svd_error_bound(rows, cols, dtype)
    note(f"shape={(rows, cols)} sigma={sm.sigma.tolist()} rank={r}")
    U, _, _ = torch.linalg.svd(W)
    U_r = U[:, :r]

    # The columns lie in span(U_r). The exact top-r subspace leaves a residual of at most
    # sigma_{r+1} <= e. The computed U_r is off by an angle of at most rho sigma_1 / (sigma_r - 2e),
    # LAPACK's subspace bound with the gap to the zero values. The products U_r^T W and
    # U_r (U_r^T W) and the subtraction round within product_error_bound.
    angle = rho * sigma_1 / (float(sm.sigma[r - 1]) - 2 * e) if r > 0 else 0.0
    scale = sigma_1 * (1 + rho) ** 2
    rounding = product_error_bound(rows, rows * cols, scale, dtype) + product_error_bound(
        max(r, 1) + 2, rows * cols, scale, dtype
    )
    bound = e + angle * sigma_1 + rounding
    residual = W - U_r @ (U_r.T @ W)
    assert float(torch.linalg.matrix_norm(residual, ord=2)) <= bound + rho * bound

    # They fill all r directions of it (Weyl on W = P W + (I - P) W). The r singular values of
    # the coordinates U_r^T W lie within the residual bound, the departure of U_r from
    # orthonormal (rho) and their own SVD error of sigma_1, ..., sigma_r.
    if r > 0:
        coordinates = torch.linalg.svdvals(U_r.T @ W)
        lower = float(sm.sigma[r - 1]) - bound - 3 * rho * sigma_1
        assert lower > 0
        assert float(coordinates[-1]) >= lower


@pytest.mark.claim("la.row-rank-equals-column-rank")
@fixed_fixtures
@given(data=st.data())
def test_transpose_has_same_rank(data, device, dtype, impl):
    kind = data.draw(st.sampled_from(CLEAR_KINDS), label="kind")
    sm = data.draw(spectral_matrices(kind=kind, dtype=dtype), label="matrix")
    e = noise_of(sm, dtype)
    W = sm.W.to(device)
    note(f"shape={tuple(W.shape)} sigma={sm.sigma.tolist()}")

    row_rank = impl.numerical_rank(W.T.contiguous(), tol=rank_threshold(e, dtype))
    column_rank = impl.numerical_rank(W, tol=rank_threshold(e, dtype))

    assert row_rank == column_rank
    assert column_rank == sm.rank


def _default_count(values: np.ndarray | torch.Tensor, rows: int, cols: int, eps: float) -> int:
    # The documented rule, written out: strictly above sigma_1 * max(m, n) * eps.
    if len(values) == 0:
        return 0
    return int((values > values[0] * max(rows, cols) * eps).sum())


@pytest.mark.claim("la.default-rank-tolerance")
@fixed_fixtures
@given(data=st.data())
def test_default_tolerance_matches_torch_and_numpy(data, device, dtype, impl):
    if torch.__version__.split("+")[0] != TORCH_SEEN:
        pytest.skip(
            f"torch's default was seen on torch {TORCH_SEEN}; this is torch {torch.__version__}"
        )
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    W = sm.W.to(device)
    rows, cols = W.shape
    eps = torch.finfo(dtype).eps
    S = torch.linalg.svdvals(W)
    S_numpy = np.linalg.svd(sm.W.numpy(), compute_uv=False)
    note(f"kind={sm.kind} shape={(rows, cols)} S={S.tolist()}")

    # Two float64 multiplications in either order: at most gamma(2) apart.
    assert math.isclose(
        impl.default_rank_tolerance(float(S[0]), rows, cols, dtype),
        float(S[0]) * max(rows, cols) * eps,
        rel_tol=gamma(2, torch.float64),
    )
    assert impl.numerical_rank(W) == _default_count(S, rows, cols, eps)
    assert int(torch.linalg.matrix_rank(W)) == _default_count(S, rows, cols, eps)
    assert int(np.linalg.matrix_rank(sm.W.numpy())) == _default_count(
        S_numpy, rows, cols, np.finfo(S_numpy.dtype).eps
    )


# Diagonal matrices have exactly computed singular values, so entries placed around the
# tolerance tell the documented rule from its near misses. With sigma_1 = 4 and shape 4 x 5
# (or 5 x 4) the default tolerance is 4 * 5 * eps = 20 eps; every entry is exact in binary.
THRESHOLD_ENTRIES = (4.0, 22.0, 20.0, 18.0)  # sigma_1, then multiples of eps: above, at, below
THRESHOLD_RULES = {
    "documented: > sigma_1 max(m, n) eps": lambda v, m, n, eps: int(
        (v > v[0] * max(m, n) * eps).sum()
    ),
    "min(m, n) in place of max(m, n)": lambda v, m, n, eps: int((v > v[0] * min(m, n) * eps).sum()),
    ">= in place of >": lambda v, m, n, eps: int((v >= v[0] * max(m, n) * eps).sum()),
    "without the factor sigma_1": lambda v, m, n, eps: int((v > max(m, n) * eps).sum()),
}


def _threshold_matrix(shape: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    eps = torch.finfo(dtype).eps
    W = torch.zeros(shape, dtype=dtype)
    for index, entry in enumerate(THRESHOLD_ENTRIES):
        W[index, index] = entry if index == 0 else entry * eps
    return W


@pytest.mark.claim("la.default-rank-tolerance")
@pytest.mark.parametrize("shape", [(4, 5), (5, 4)])
def test_default_rule_at_threshold(shape, device, dtype, impl):
    if torch.__version__.split("+")[0] != TORCH_SEEN:
        pytest.skip(
            f"torch's default was seen on torch {TORCH_SEEN}; this is torch {torch.__version__}"
        )
    W = _threshold_matrix(shape, dtype)
    eps = torch.finfo(dtype).eps
    diagonal = torch.diagonal(W)
    counts = {name: rule(diagonal, *shape, eps) for name, rule in THRESHOLD_RULES.items()}
    expected = counts.pop("documented: > sigma_1 max(m, n) eps")

    # The entries separate the documented rule from each near miss.
    assert all(count != expected for count in counts.values()), counts
    assert torch.equal(torch.linalg.svdvals(W), torch.sort(diagonal.abs(), descending=True).values)
    assert int(torch.linalg.matrix_rank(W.to(device))) == expected
    assert int(np.linalg.matrix_rank(W.numpy())) == expected
    assert impl.numerical_rank(W.to(device)) == expected


@pytest.mark.claim("la.rounding-hides-rank")
def test_witness_has_nonzero_trailing_values(device, dtype, impl):
    if torch.__version__.split("+")[0] != TORCH_SEEN:
        pytest.skip(
            f"the witness was seen on torch {TORCH_SEEN}; this is torch {torch.__version__}"
        )
    if device.type != "cpu":
        pytest.skip(
            "the witness was seen with torch's CPU (LAPACK) SVD; other backends may round differently"
        )
    W = torch.tensor([[int(x) for x in row] for row in ROUNDING_WITNESS.tolist()], dtype=dtype)
    # sympy.Rational of a float is exact, so this is the rank of the stored tensor itself.
    exact_rank = sympy.Matrix(
        [[sympy.Rational(x) for x in row] for row in W.double().tolist()]
    ).rank()

    S = torch.linalg.svdvals(W)

    assert exact_rank == 2
    assert int(torch.count_nonzero(S)) == 4
    assert impl.numerical_rank(W) == 2


@pytest.mark.claim("la.rounding-hides-rank")
@fixed_fixtures
@given(sm=spectral_matrices(kind="with-zeros"))
def test_zero_values_stay_below_noise(device, dtype, sm):
    W = sm.W.to(device=device, dtype=dtype)
    r = sm.rank
    rows, cols = W.shape
    e = singular_value_noise(rows, cols, float(sm.sigma[0]), dtype)
    S = torch.linalg.svdvals(W).cpu().to(torch.float64)
    note(
        f"shape={(rows, cols)} rank={r} S={S.tolist()} e={e:.3g} nonzero={int(torch.count_nonzero(S))}"
    )

    assert bool((S[r:] <= e).all())
    assert bool((S[:r] >= sm.sigma[:r] - e).all())


@pytest.mark.claim("la.rank-not-distinct-rows")
@fixed_fixtures
@given(data=st.data())
def test_dependent_row_keeps_rank(data, device, dtype, impl):
    kind = data.draw(st.sampled_from(CLEAR_KINDS), label="kind")
    sm = data.draw(
        spectral_matrices(rows=st.integers(2, 8), kind=kind, dtype=dtype), label="matrix"
    )
    first, second = data.draw(
        st.lists(st.integers(0, sm.W.shape[0] - 1), min_size=2, max_size=2, unique=True),
        label="rows",
    )
    W = sm.W.to(device)
    extended = torch.cat([W, (W[first] + W[second]).unsqueeze(0)])
    rows, cols = extended.shape
    sigma_1 = float(sm.sigma[0])
    # Perturbation of the exact rank-r matrix [W_exact; w_a + w_b]: the construction error in
    # the first rows and twice it in the new row, plus one rounding of a row of norm <= 2 sigma_1.
    # Its norm is at most sqrt(5) sigma_1, which scales the SVD's backward error.
    construction = construction_error_bound(rows - 1, cols, sigma_1, dtype)
    perturbation = 3 * construction + 2 * unit_roundoff(dtype) * sigma_1
    e = perturbation + svd_error_bound(rows, cols, dtype) * (math.sqrt(5) * sigma_1 + perturbation)
    note(f"shape={(rows, cols)} sigma={sm.sigma.tolist()} appended row {first} + {second}")

    distinct = torch.unique(extended, dim=0).shape[0]
    rank = impl.numerical_rank(extended, tol=rank_threshold(e, dtype))

    assert rank == sm.rank
    if sm.rank > 0:
        assert distinct > rank


@pytest.mark.claim("la.full-rank-means-rank-n")
@fixed_fixtures
@given(sm=spectral_matrices())
def test_rank_at_most_min_shape(device, impl, sm):
    W = sm.W.to(device)
    rows, cols = W.shape
    e = noise_of(sm, torch.float64)
    note(f"kind={sm.kind} shape={(rows, cols)} sigma={sm.sigma.tolist()}")

    default_rank = impl.numerical_rank(W)
    rank = impl.numerical_rank(W, tol=rank_threshold(e, torch.float64))

    assert default_rank <= min(rows, cols)
    assert count_above(sm.sigma, 3 * e) <= rank <= count_above(sm.sigma, e) <= min(rows, cols)


@pytest.mark.claim("la.full-rank-equivalences")
@fixed_fixtures
@given(data=st.data())
def test_full_rank_conditions_agree(data, device, dtype, impl):
    size = data.draw(st.integers(1, 8), label="n")
    kind = data.draw(st.sampled_from((*CLEAR_KINDS, "decaying")), label="kind")
    sm = data.draw(spectral_matrices(rows=size, cols=size, kind=kind, dtype=dtype), label="matrix")
    W = sm.W.to(device)
    e = noise_of(sm, dtype)
    _, S, Vh = torch.linalg.svd(W)
    weakest = Vh[-1]  # the unit vector that W shrinks most
    gain = float(torch.linalg.vector_norm(W @ weakest))
    # Backward stability, (W + E) v_n = S_n u_n with |E| <= rho sigma_1 and factors rho from
    # orthogonal, puts |W v_n| within (rho sigma_1)(1 + rho) + rho S_n of S_n, and S_n within e
    # of sigma_n; the product W @ v_n rounds within product_error_bound.
    rho = svd_error_bound(size, size, dtype)
    sigma_1 = float(sm.sigma[0])
    slack = (
        e
        + 2 * rho * sigma_1 * (1 + rho)
        + product_error_bound(size, size, sigma_1 * (1 + rho), dtype)
    )
    note(f"sigma={sm.sigma.tolist()} S={S.tolist()} |W v_n|={gain:.3g} e={e:.3g}")

    full = impl.numerical_rank(W, tol=rank_threshold(e, dtype)) == size

    assert full == (sm.rank == size)
    assert full == bool(S[-1] > rank_threshold(e, dtype))
    if full:
        assert gain >= float(sm.sigma[-1]) - slack > 0
    else:
        assert gain <= slack


@pytest.mark.claim("la.low-rank-spectrum")
@fixed_fixtures
@given(data=st.data())
def test_low_rank_sigma_has_trailing_zeros(data, device, dtype, impl):
    size = data.draw(st.integers(2, 8), label="n")
    sm = data.draw(
        spectral_matrices(rows=size, cols=size, kind="with-zeros", dtype=dtype), label="matrix"
    )
    W = sm.W.to(device)
    e = noise_of(sm, dtype)
    S = torch.linalg.svdvals(W).cpu().to(torch.float64)
    r = sm.rank
    note(f"rank={r} sigma={sm.sigma.tolist()} S={S.tolist()}")

    assert bool((S[:-1] >= S[1:]).all())
    assert bool((S[:r] > 2 * e).all())
    assert bool((S[r:] <= e).all())
    assert impl.numerical_rank(W, tol=rank_threshold(e, dtype)) == r < size


@pytest.mark.claim("la.sigma-identity-iff-orthogonal")
@fixed_fixtures
@given(data=st.data())
def test_gram_distance_is_sigma_distance(data, device, dtype):
    size = data.draw(st.integers(1, 8), label="n")
    sm = data.draw(spectral_matrices(rows=size, cols=size, dtype=dtype), label="matrix")
    W = sm.W.to(device)
    sigma_1 = float(sm.sigma[0])
    e = noise_of(sm, dtype)
    gram_distance = float(
        torch.linalg.matrix_norm(W.T @ W - torch.eye(size, dtype=dtype, device=device), ord=2)
    )
    S = torch.linalg.svdvals(W).cpu().to(torch.float64)
    # |sigma^2 - 1| moves by at most (2 sigma_1 + e) e when sigma moves by e. Forming W^T W - I
    # rounds each entry by gamma(n) sigma_1^2 + u (sigma_1^2 + 1), and the 2-norm of the
    # difference, an SVD, adds rho times its norm, at most sigma_1^2 + 1.
    rho = svd_error_bound(size, size, dtype)
    spectral = (2 * sigma_1 + e) * e
    forming = size * (gamma(size, dtype) * sigma_1**2 + unit_roundoff(dtype) * (sigma_1**2 + 1))
    slack = spectral + forming + rho * (sigma_1**2 + 1 + forming)
    note(f"kind={sm.kind} sigma={sm.sigma.tolist()} |W^T W - I|={gram_distance:.3g}")

    assert abs(gram_distance - float((sm.sigma**2 - 1).abs().max())) <= slack
    assert (
        abs(float((S**2 - 1).abs().max()) - float((sm.sigma**2 - 1).abs().max()))
        <= spectral + gamma(2, torch.float64) * (sigma_1 + e) ** 2
    )


@pytest.mark.claim("la.numerical-low-rank")
@fixed_fixtures
@given(data=st.data())
def test_truncation_distance_is_next_value(data, device, dtype, impl):
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    W = sm.W.to(device)
    rows, cols = W.shape
    p = min(rows, cols)
    e = noise_of(sm, dtype)
    sigma_1 = float(sm.sigma[0])
    extended = torch.cat([sm.sigma, torch.zeros(1, dtype=torch.float64)])  # sigma_{p+1} := 0
    # k = 1..p with a gap sigma_k - sigma_{k+1} wider than the noise on both values.
    gapped = [k for k in range(1, p + 1) if extended[k - 1] - extended[k] > 4 * e]
    k = data.draw(st.sampled_from(gapped) if gapped else st.integers(0, p), label="k")
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    W_k = (U[:, :k] * S[:k]) @ Vh[:k]
    distance = float(torch.linalg.matrix_norm(W - W_k, ord=2))
    # W - W_k is the reconstruction error (rho sigma_1) plus the dropped terms, whose norm is
    # S_{k+1} up to the factors' departure from orthogonality (rho sigma_1); S_{k+1} is within e
    # of sigma_{k+1}. Forming W_k and the difference rounds, and the 2-norm adds rho once more.
    rho = svd_error_bound(rows, cols, dtype)
    rounding = product_error_bound(k + 2, rows * cols, sigma_1, dtype)
    slack = e + 3 * rho * sigma_1 + rounding
    note(f"kind={sm.kind} sigma={sm.sigma.tolist()} k={k} |W - W_k|={distance:.3g}")

    assert abs(distance - float(extended[k])) <= slack
    if k in gapped:
        midpoint = float(extended[k - 1] + extended[k]) / 2
        assert impl.numerical_rank(W, tol=midpoint) == k


RUBRIC_EXAMPLES = [
    pytest.param(
        [[0, 1], [0, 0]], {"rank": 1, "eigenvalues": [0, 0], "singular": [1, 0]}, id="nilpotent"
    ),
    pytest.param([[1, 0], [0, 0]], {"rank": 1, "det": 0, "singular": [1, 0]}, id="diag-1-0"),
    pytest.param([[2, 0], [0, 2]], {"rank": 2, "det": 4}, id="two-identity"),
    pytest.param([[1, 1], [1, 1]], {"rank": 1, "det": 0, "singular": [2, 0]}, id="ones"),
    pytest.param(
        [[1, 0, 0], [0, 1, 0], [0, 0, 0]], {"rank": 2, "singular": [1, 1, 0]}, id="diag-1-1-0"
    ),
    pytest.param([[2, 0], [0, 1]], {"rank": 2, "singular": [2, 1]}, id="diag-2-1"),
]


@pytest.mark.claim(
    "la.rank-nonzero-singular-values", "la.full-rank-equivalences", "la.low-rank-spectrum"
)
@pytest.mark.parametrize(("entries", "facts"), RUBRIC_EXAMPLES)
def test_rubric_examples_exact(entries, facts):
    W = sympy.Matrix(entries)
    singular = sorted((sympy.sqrt(v) for v in (W.T * W).eigenvals(multiple=True)), reverse=True)

    assert W.rank() == facts["rank"]
    if "det" in facts:
        assert W.det() == facts["det"]
    if "eigenvalues" in facts:
        assert sorted(W.eigenvals(multiple=True)) == facts["eigenvalues"]
    if "singular" in facts:
        assert singular == facts["singular"]
