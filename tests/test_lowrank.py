"""efx.lowrank as a user meets it: rejected inputs with their messages, and the documented behaviours."""

from __future__ import annotations

import math

import numpy
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from efx.errors import InvalidArgumentError
from efx.lowrank import (
    error_ratio_to_optimum,
    frobenius_error_curve,
    frobenius_error_from_spectrum,
    low_rank_factors,
    max_relative_frobenius_error,
    randomized_svd,
    relative_frobenius_error_from_spectrum,
    relative_spectral_error_from_spectrum,
    spectral_error_from_spectrum,
    svd_backward_error,
    truncated_svd,
    truncation_error_tolerance,
)
from efx.proofs.lr_truncation.examples import cayley_orthogonal
from efx.proofs.lr_truncation.photograph import rank_mod_prime
from efx.strategies.gapped import gapped_matrices, gapped_spectra
from efx.tolerance import gamma

M = torch.arange(12, dtype=torch.float64).reshape(3, 4)
SIGMA = torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)
NAN = torch.tensor([[1.0, float("nan")], [0.0, 1.0]], dtype=torch.float64)
INF = torch.tensor([[1.0, float("inf")], [0.0, 1.0]], dtype=torch.float64)

INVALID_CALLS = [
    # (id, call, the argument named, a phrase of the rule)
    ("not a tensor", lambda: truncated_svd([[1.0, 2.0]], 1), "W=", "must be a torch.Tensor"),
    ("vector", lambda: truncated_svd(torch.ones(3, dtype=torch.float64), 1), "W=", "2-D matrix"),
    (
        "batch",
        lambda: truncated_svd(torch.ones(2, 3, 3, dtype=torch.float64), 1),
        "W=",
        "2-D matrix",
    ),
    (
        "integer dtype",
        lambda: truncated_svd(torch.ones(3, 3, dtype=torch.int64), 1),
        "W.dtype=",
        "float32 or",
    ),
    (
        "half dtype",
        lambda: truncated_svd(torch.ones(3, 3, dtype=torch.float16), 1),
        "W.dtype=",
        "float32 or",
    ),
    (
        "empty",
        lambda: truncated_svd(torch.ones(0, 3, dtype=torch.float64), 1),
        "W=",
        "at least one row",
    ),
    ("nan", lambda: truncated_svd(NAN, 1), "W=", "must be finite"),
    ("inf", lambda: truncated_svd(INF, 1), "W=", "must be finite"),
    ("k zero", lambda: truncated_svd(M, 0), "k=0", "1 <= k <= min(W.shape) = 3"),
    ("k too large", lambda: truncated_svd(M, 4), "k=4", "1 <= k <= min(W.shape) = 3"),
    ("k float", lambda: truncated_svd(M, 1.0), "k=1.0", "must be an int"),
    ("k bool", lambda: truncated_svd(M, True), "k=True", "must be an int"),
    ("split", lambda: low_rank_factors(M, 1, split="middle"), "split='middle'", "must be one of"),
    ("factors k", lambda: low_rank_factors(M, 5), "k=5", "min(W.shape)"),
    ("oversample", lambda: randomized_svd(M, 1, oversample=-1), "oversample=-1", ">= 0"),
    (
        "power float",
        lambda: randomized_svd(M, 1, power_iterations=1.5),
        "power_iterations=1.5",
        ">= 0",
    ),
    ("randomized k", lambda: randomized_svd(M, 0), "k=0", "1 <= k"),
    ("randomized nan", lambda: randomized_svd(NAN, 1), "W=", "must be finite"),
    ("randomized inf", lambda: randomized_svd(INF.repeat(3, 3), 2), "W=", "must be finite"),
    (
        "randomized overflow",
        lambda: randomized_svd(torch.full((8, 8), 3e38), 2),
        "W=",
        "do not overflow",
    ),
    (
        "test matrix rows",
        lambda: randomized_svd(M, 2, test_matrix=torch.ones(3, 2, dtype=torch.float64)),
        "test_matrix=",
        "W.shape[1] = 4 rows",
    ),
    (
        "test matrix columns",
        lambda: randomized_svd(M, 2, test_matrix=torch.ones(4, 1, dtype=torch.float64)),
        "test_matrix=",
        "at least k = 2 columns",
    ),
    (
        "test matrix dtype",
        lambda: randomized_svd(M, 2, test_matrix=torch.ones(4, 2)),
        "test_matrix=",
        "dtype and",
    ),
    (
        "test matrix vector",
        lambda: randomized_svd(M, 2, test_matrix=torch.ones(4, dtype=torch.float64)),
        "test_matrix=",
        "2-D torch.Tensor",
    ),
    (
        "test matrix nan",
        lambda: randomized_svd(
            M, 1, test_matrix=torch.full((4, 2), float("nan"), dtype=torch.float64)
        ),
        "test_matrix=",
        "must be finite",
    ),
    (
        "spectrum unsorted",
        lambda: frobenius_error_from_spectrum(torch.tensor([1.0, 2.0]), 1),
        "S=",
        "non-increasing",
    ),
    (
        "spectrum negative",
        lambda: spectral_error_from_spectrum(torch.tensor([1.0, -2.0]), 1),
        "S=",
        "non-negative",
    ),
    (
        "spectrum nan",
        lambda: frobenius_error_from_spectrum(torch.tensor([float("nan")]), 0),
        "S=",
        "finite",
    ),
    ("spectrum 2-D", lambda: frobenius_error_from_spectrum(torch.ones(2, 2), 1), "S=", "1-D"),
    ("spectrum list", lambda: frobenius_error_from_spectrum([3.0, 1.0], 1), "S=", "torch.Tensor"),
    (
        "spectrum integer",
        lambda: frobenius_error_from_spectrum(torch.tensor([3, 1]), 1),
        "S.dtype=",
        "float32 or",
    ),
    ("spectrum k", lambda: spectral_error_from_spectrum(SIGMA, 4), "k=4", "0 <= k <= len(S) = 3"),
    ("spectrum k negative", lambda: frobenius_error_from_spectrum(SIGMA, -1), "k=-1", "0 <= k"),
    (
        "relative zero",
        lambda: relative_frobenius_error_from_spectrum(torch.zeros(3), 1),
        "S=",
        "nonzero singular",
    ),
    (
        "relative spectral zero",
        lambda: relative_spectral_error_from_spectrum(torch.zeros(3), 1),
        "S=",
        "nonzero",
    ),
    ("max p", lambda: max_relative_frobenius_error(0, 0), "p=0", "int >= 1"),
    ("max k", lambda: max_relative_frobenius_error(3, 4), "k=4", "0 <= k <= p = 3"),
    ("ratio shape", lambda: error_ratio_to_optimum(M, M.T, 1), "approximation=", "W's shape"),
    (
        "ratio rank",
        lambda: error_ratio_to_optimum(
            torch.diag(SIGMA), torch.zeros(3, 3, dtype=torch.float64), 3
        ),
        "k=3",
        "sigma_4 = 0",
    ),
    (
        "ratio values",
        lambda: error_ratio_to_optimum(M, M, 1, singular_values=SIGMA[:2]),
        "singular_values=",
        "hold",
    ),
    (
        "ratio nan",
        lambda: error_ratio_to_optimum(M, torch.full_like(M, float("nan")), 1),
        "approximation=",
        "finite",
    ),
    (
        "tolerance k",
        lambda: truncation_error_tolerance(1.0, (2, 2), -1, torch.float64),
        "k=-1",
        ">= 0",
    ),
    ("backward norm", lambda: svd_backward_error(-1.0, (2, 2), torch.float64), "norm=-1.0", ">= 0"),
    ("rank float matrix", lambda: rank_mod_prime(numpy.ones((2, 2))), "matrix=", "integer array"),
    ("rank prime", lambda: rank_mod_prime(numpy.ones((2, 2), dtype=int), 1), "prime=1", "prime in"),
    ("cayley size", lambda: cayley_orthogonal(0, 1), "size=0", ">= 1"),
]


@pytest.mark.parametrize(
    ("call", "name", "rule"),
    [case[1:] for case in INVALID_CALLS],
    ids=[case[0] for case in INVALID_CALLS],
)
def test_invalid_argument_names_value_rule_and_fix(call, name, rule):
    with pytest.raises(InvalidArgumentError) as raised:
        call()

    message = str(raised.value)
    assert message.startswith(name)
    assert rule in message
    assert "Fix: " in message


def test_rejected_input_is_left_unchanged():
    W = NAN.clone()
    S = torch.tensor([1.0, 2.0])

    with pytest.raises(InvalidArgumentError):
        truncated_svd(W, 1)
    with pytest.raises(InvalidArgumentError):
        frobenius_error_from_spectrum(S, 1)

    assert torch.equal(W.isnan(), NAN.isnan())
    assert torch.equal(W.nan_to_num(), NAN.nan_to_num())
    assert S.tolist() == [1.0, 2.0]


def test_truncation_keeps_leading_triplets_in_torch_convention():
    W = torch.diag(torch.tensor([1.0, 5.0, 3.0], dtype=torch.float64))

    U, S, Vh = truncated_svd(W, 2)

    assert S.tolist() == [5.0, 3.0]
    assert torch.equal(
        (U * S) @ Vh, torch.diag(torch.tensor([0.0, 5.0, 3.0], dtype=torch.float64)).abs()
    )


@pytest.mark.parametrize("split", ["left", "balanced", "right"])
def test_every_split_multiplies_back_to_the_same_product(split):
    generator = torch.Generator().manual_seed(0)
    W = torch.randn(5, 4, generator=generator, dtype=torch.float64)

    A, B = low_rank_factors(W, 2, split=split)

    assert A.shape == (5, 2)
    assert B.shape == (2, 4)
    # Three splits of the same triplets: products agree to a few roundings of entries <= ||W||_2.
    reference = truncated_svd(W, 2).reconstruct()
    assert torch.allclose(
        A @ B,
        reference,
        rtol=0,
        atol=svd_backward_error(float(torch.linalg.matrix_norm(W)), (5, 4), torch.float64),
    )


def test_randomized_with_full_sample_equals_exact_truncation():
    generator = torch.Generator().manual_seed(1)
    W = torch.randn(6, 5, generator=generator, dtype=torch.float64)

    approx = randomized_svd(W, 3, oversample=10, generator=torch.Generator().manual_seed(2))
    exact = truncated_svd(W, 3)

    # l = min(k + oversample, m, n) = 5 spans every column, so only rounding separates them.
    tol = truncation_error_tolerance(float(torch.linalg.matrix_norm(W)), (6, 5), 3, torch.float64)
    assert torch.allclose(approx.S, exact.S, rtol=0, atol=tol)
    assert torch.allclose(approx.reconstruct(), exact.reconstruct(), rtol=0, atol=tol)


def test_randomized_is_reproducible_with_a_generator():
    W = torch.randn(30, 20, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    first = randomized_svd(W, 4, oversample=2, generator=torch.Generator().manual_seed(7))
    second = randomized_svd(W, 4, oversample=2, generator=torch.Generator().manual_seed(7))
    third = randomized_svd(W, 4, oversample=2, generator=torch.Generator().manual_seed(8))

    assert torch.equal(first.reconstruct(), second.reconstruct())
    assert not torch.equal(first.reconstruct(), third.reconstruct())


def test_randomized_handles_zero_and_rank_deficient_matrices():
    zero = torch.zeros(8, 6, dtype=torch.float64)
    rank_one = torch.outer(
        torch.arange(1.0, 9.0, dtype=torch.float64), torch.ones(6, dtype=torch.float64)
    )

    assert (
        float(randomized_svd(zero, 2, generator=torch.Generator().manual_seed(0)).S.abs().max())
        == 0.0
    )
    approx = randomized_svd(rank_one, 2, oversample=1, generator=torch.Generator().manual_seed(0))
    tol = truncation_error_tolerance(
        float(torch.linalg.matrix_norm(rank_one)), (8, 6), 2, torch.float64
    )
    assert torch.allclose(approx.reconstruct(), rank_one, rtol=0, atol=tol)


def test_spectrum_functions_at_the_ends():
    assert float(frobenius_error_from_spectrum(SIGMA, 0)) == pytest.approx(
        math.sqrt(14.0), rel=1e-15
    )
    assert float(frobenius_error_from_spectrum(SIGMA, 3)) == 0.0
    assert float(spectral_error_from_spectrum(SIGMA, 3)) == 0.0
    assert float(relative_spectral_error_from_spectrum(SIGMA, 1)) == pytest.approx(
        2 / 3, rel=gamma(1, torch.float64)
    )
    assert max_relative_frobenius_error(4, 0) == 1.0
    assert max_relative_frobenius_error(4, 4) == 0.0


def test_error_curve_matches_error_at_each_k():
    S = torch.tensor([1e3, 5.0, 5.0, 1e-4, 0.0], dtype=torch.float64)

    curve = frobenius_error_curve(S)

    assert curve.shape == (6,)
    for k in range(6):
        # Both sum the same squares, in different orders: a few roundings of the largest term.
        assert float(curve[k]) == pytest.approx(
            float(frobenius_error_from_spectrum(S, k)), rel=gamma(8, torch.float64), abs=0
        )
    assert float(frobenius_error_curve(torch.zeros(3, dtype=torch.float64)).abs().max()) == 0.0
    with pytest.raises(InvalidArgumentError, match="non-increasing"):
        frobenius_error_curve(torch.tensor([1.0, 2.0]))


def test_error_ratio_is_one_for_the_truncated_svd():
    W = torch.randn(7, 7, generator=torch.Generator().manual_seed(4), dtype=torch.float64)

    ratio = error_ratio_to_optimum(W, truncated_svd(W, 3).reconstruct(), 3)

    # Errors of a float64 truncation match the optimum within the truncation tolerance, relative to it.
    tol = truncation_error_tolerance(float(torch.linalg.matrix_norm(W)), (7, 7), 3, torch.float64)
    assert ratio.frobenius == pytest.approx(1.0, abs=tol / ratio.optimal_frobenius)
    assert ratio.spectral == pytest.approx(1.0, abs=tol / ratio.optimal_spectral)


def test_rank_mod_prime_counts_exact_rank():
    assert rank_mod_prime(numpy.array([[1, 2, 3], [2, 4, 6], [1, 0, 1]])) == 2
    assert rank_mod_prime(numpy.eye(4, dtype=int)) == 4
    assert rank_mod_prime(numpy.zeros((3, 3), dtype=int)) == 0


@pytest.mark.parametrize(
    ("strategy", "name"),
    [
        (gapped_spectra(1, 1), "size=1"),
        (gapped_spectra(4, 4), "k=4"),
        (gapped_spectra(4, 2, max_gap=1.5), "max_gap=1.5"),
        (gapped_matrices(rows=1, cols=3), r"rows, cols=\(1, 3\)"),
    ],
    ids=["size", "k", "max_gap", "shape"],
)
def test_gapped_strategies_reject_bad_sizes(strategy, name):
    @given(st.data())
    def draw(data):
        data.draw(strategy)

    with pytest.raises(InvalidArgumentError, match=name):
        draw()


@given(gapped_matrices())
def test_gapped_matrices_have_their_gap(gm):
    assert 1 <= gm.k < min(gm.W.shape)
    # The tail is scaled by gap * sigma_k / sigma_{k+1}: a product and a division, then the ratio.
    assert float(gm.sigma[gm.k] / gm.sigma[gm.k - 1]) == pytest.approx(
        gm.gap, rel=gamma(6, torch.float64)
    )
    assert bool((gm.sigma[1:] <= gm.sigma[:-1]).all())
