"""efx.lowrank behaviour that mutation testing found unpinned: the error ratio, spectrum
ratios, randomized-SVD defaults and the truncation tolerance formula.

See docs/mutation.md for how mutants are made and which ones are left as equivalent.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from efx.errors import InvalidArgumentError
from efx.lowrank import (
    error_ratio_to_optimum,
    frobenius_error_curve,
    randomized_svd,
    relative_frobenius_error_from_spectrum,
    relative_spectral_error_from_spectrum,
    svd_backward_error,
    truncated_svd,
    truncation_error_tolerance,
)
from efx.lowrank import randomized as randomized_module
from efx.tolerance import gamma

F64 = torch.float64


def _matrix(rows: int = 6, cols: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=F64)


# efx.lowrank: the error ratio, the spectrum ratios, randomized defaults.


def test_error_ratio_fields_match_definitions():
    W = _matrix()
    S = torch.linalg.svdvals(W)
    approximation = truncated_svd(W, 2).reconstruct() + 0.01 * _matrix(seed=1)

    ratio = error_ratio_to_optimum(W, approximation, 2)
    given = error_ratio_to_optimum(W, approximation, 2, singular_values=S.float())

    difference = W - approximation
    frobenius = float(torch.linalg.matrix_norm(difference))
    spectral = float(torch.linalg.matrix_norm(difference, ord=2))
    assert ratio.frobenius_error == pytest.approx(frobenius, rel=1e-12)
    assert ratio.spectral_error == pytest.approx(spectral, rel=1e-12)
    assert ratio.optimal_frobenius == pytest.approx(float(S[2:].norm()), rel=1e-12)
    assert ratio.optimal_spectral == pytest.approx(float(S[2]), rel=1e-12)
    assert ratio.frobenius == pytest.approx(frobenius / float(S[2:].norm()), rel=1e-12)
    assert ratio.spectral == pytest.approx(spectral / float(S[2]), rel=1e-12)
    # Singular values given in float32 are used, converted to float64: within float32 rounding.
    assert given.optimal_spectral == pytest.approx(float(S[2]), rel=4 * 2.0**-24)
    assert given.frobenius_error == ratio.frobenius_error


def test_relative_errors_with_zero_tail():
    # sigma_1 != 0 and sigma_2 = 0 is a valid spectrum: the ratios exist and are 0 at k = 1.
    S = torch.tensor([2.0, 0.0], dtype=F64)

    assert float(relative_spectral_error_from_spectrum(S, 1)) == 0.0
    assert float(relative_frobenius_error_from_spectrum(S, 1)) == 0.0
    assert float(relative_spectral_error_from_spectrum(S, 0)) == 1.0


@pytest.mark.parametrize("size", [1e200, 1e-200])
def test_frobenius_error_curve_far_from_one(size):
    # Squares of 1e200 overflow and squares of 1e-200 underflow in float64; the curve scales
    # by sigma_1 first, so sqrt(sigma_1^2 + sigma_2^2) = sigma_1 sqrt(1.01) stays exact to
    # rounding.
    S = torch.tensor([size, size / 10], dtype=F64)

    curve = frobenius_error_curve(S)

    # abs=0: approx's default absolute tolerance, 1e-12, would accept 0 for 1e-200.
    assert float(curve[0]) == pytest.approx(size * 1.01**0.5, rel=1e-14, abs=0)
    assert float(curve[1]) == pytest.approx(size / 10, rel=1e-14, abs=0)
    assert float(curve[2]) == 0.0


def test_randomized_svd_defaults():
    parameters = inspect.signature(randomized_svd).parameters
    W = _matrix(30, 28)

    default = randomized_svd(W, 2, generator=torch.Generator().manual_seed(5))
    explicit = randomized_svd(
        W, 2, oversample=10, power_iterations=2, generator=torch.Generator().manual_seed(5)
    )
    other = randomized_svd(
        W, 2, oversample=11, power_iterations=3, generator=torch.Generator().manual_seed(5)
    )

    assert parameters["oversample"].default == 10
    assert parameters["power_iterations"].default == 2
    assert torch.equal(default.S, explicit.S)
    assert not torch.equal(default.S, other.S)


@pytest.mark.parametrize("shape", [(4, 30), (30, 4), (20, 18)])
def test_randomized_svd_draws_its_sample_size(shape):
    # l = min(k + oversample, m, n) Gaussian columns from the generator: the same draw passed
    # as test_matrix gives the same result, bit for bit.
    W = _matrix(*shape)
    rows, cols = shape
    columns = min(2 + 10, rows, cols)

    drawn = randomized_svd(W, 2, generator=torch.Generator().manual_seed(7))
    Omega = torch.randn(cols, columns, generator=torch.Generator().manual_seed(7), dtype=F64)
    given = randomized_svd(W, 2, test_matrix=Omega)

    for got, want in zip(drawn, given, strict=True):
        assert torch.equal(got, want)


def test_randomized_svd_global_generator():
    W = _matrix(20, 18)

    torch.manual_seed(11)
    first = randomized_svd(W, 3)
    torch.manual_seed(11)
    second = randomized_svd(W, 3, generator=torch.default_generator)

    assert torch.equal(first.S, second.S)


def test_factors_default_split_is_left():
    W = _matrix()
    svd = truncated_svd(W, 3)

    A, B = svd.factors()
    A_left, B_left = svd.factors("left")

    assert torch.equal(A, A_left)
    assert torch.equal(B, B_left)
    assert torch.equal(A, svd.U)


def test_truncation_error_tolerance_formula():
    # The documented sum: twice the SVD's backward error, k-term inner products, one rounding.
    norm, shape = 3.0, (5, 4)
    for k, dtype in ((0, F64), (1, F64), (3, torch.float32)):
        expected = (
            2 * svd_backward_error(norm, shape, dtype)
            + gamma(max(k, 1), dtype) * max(k, 1) * norm
            + gamma(1, dtype) * norm
        )
        # abs=0: the bounds are near 1e-14, below approx's default absolute tolerance.
        assert truncation_error_tolerance(norm, shape, k, dtype) == pytest.approx(
            expected, rel=1e-12, abs=0
        )


def test_randomized_svd_samples_on_matrix_device():
    # The Gaussian test matrix is drawn on W's device, whatever torch's default device is.
    # A product of a CPU W with a meta tensor still returns a CPU tensor of arbitrary values,
    # so the check compares values with a run under the usual default device.
    W = _matrix(8, 6)
    expected = randomized_svd(W, 2, generator=torch.Generator().manual_seed(3))

    with torch.device("meta"):
        result = randomized_svd(W, 2, generator=torch.Generator().manual_seed(3))

    assert [factor.device for factor in result] == [W.device] * 3
    assert torch.equal(result.S, expected.S)
    assert torch.equal(result.reconstruct(), expected.reconstruct())


@pytest.mark.parametrize("factor", ["U", "S", "Vh"])
def test_randomized_svd_rejects_any_non_finite_factor(monkeypatch, factor):
    # Replace one factor of the small SVD's result by NaN: the guard must look at all three.
    exact = randomized_module._range_finder_svd

    def poisoned(*args, **kwargs):
        result = exact(*args, **kwargs)
        return result._replace(**{factor: torch.full_like(getattr(result, factor), math.nan)})

    monkeypatch.setattr(randomized_module, "_range_finder_svd", poisoned)

    with pytest.raises(InvalidArgumentError, match="products with W do not overflow"):
        randomized_svd(_matrix(8, 6), 2)


def test_randomized_svd_overflow_chains_linalg_error():
    # Entries of 2e37 make W @ Omega overflow float32; the NaN that follows makes the CPU
    # QR or SVD raise LinAlgError (seen on torch 2.13.0), which the error keeps as its cause.
    W = torch.randn(30, 20, generator=torch.Generator().manual_seed(0)).clamp(-1, 1) * 2e37

    with pytest.raises(InvalidArgumentError, match="products with W do not overflow") as caught:
        randomized_svd(W, 3, generator=torch.Generator().manual_seed(1))

    assert isinstance(caught.value.__cause__, torch.linalg.LinAlgError)


def test_truncated_svd_uses_reduced_svd():
    # The full SVD takes another LAPACK path, whose factors differ in the last bits.
    W = torch.randn(300, 7, generator=torch.Generator().manual_seed(4), dtype=F64)
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)

    result = truncated_svd(W, 3)

    assert torch.equal(result.U, U[:, :3])
    assert torch.equal(result.S, S[:3])
    assert torch.equal(result.Vh, Vh[:3])


def test_randomized_svd_small_svd_is_reduced():
    # The documented steps with the given test matrix and no power iteration, computed here
    # with the reduced SVD of Q^T W: the result must match bit for bit. With 10 sample
    # columns for 10 rows, the full SVD's Vh differs from the reduced one in the last bits
    # (torch 2.13.0, CPU LAPACK).
    generator = torch.Generator().manual_seed(5)
    W = torch.randn(10, 50, generator=generator, dtype=F64)
    Omega = torch.randn(50, 10, generator=generator, dtype=F64)
    Q = torch.linalg.qr(W @ Omega).Q
    Ub, S, Vh = torch.linalg.svd(Q.mT @ W, full_matrices=False)

    result = randomized_svd(W, 3, oversample=7, power_iterations=0, test_matrix=Omega)

    assert torch.equal(result.U, Q @ Ub[:, :3])
    assert torch.equal(result.S, S[:3])
    assert torch.equal(result.Vh, Vh[:3])


def test_randomized_svd_checks_arguments_before_entries():
    # The scan of W for NaN or infinity runs last, so a cheap argument error comes first.
    W = _matrix(4, 4)
    W[0, 0] = math.nan

    with pytest.raises(InvalidArgumentError, match="k=0"):
        randomized_svd(W, 0)
