"""Unit tests of efx.rank and efx.strategies.spectral_bounds: results, rejected arguments, warnings."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import efx.rank
from efx.errors import EfxWarning, InvalidArgumentError
from efx.rank import (
    default_rank_tolerance,
    numerical_rank,
    product_error_bound,
    svd_error_bound,
)
from efx.strategies.spectral_bounds import construction_error_bound, singular_value_noise
from efx.tolerance import gamma, unit_roundoff

GOOD = torch.eye(3, dtype=torch.float64)

INVALID_CALLS = [
    pytest.param(numerical_rank, ([[1.0, 0.0]],), {}, "W", id="rank-list"),
    pytest.param(
        numerical_rank, (torch.ones(2, 2, 2, dtype=torch.float64),), {}, "W", id="rank-3d"
    ),
    pytest.param(numerical_rank, (torch.ones(3, dtype=torch.float64),), {}, "W", id="rank-1d"),
    pytest.param(
        numerical_rank, (torch.ones(2, 2, dtype=torch.int64),), {}, "W.dtype", id="rank-int"
    ),
    pytest.param(
        numerical_rank, (torch.ones(2, 2, dtype=torch.float16),), {}, "W.dtype", id="rank-half"
    ),
    pytest.param(
        numerical_rank,
        (torch.tensor([[1.0, math.nan]], dtype=torch.float64),),
        {},
        "W",
        id="rank-nan",
    ),
    pytest.param(
        numerical_rank, (torch.tensor([[math.inf]], dtype=torch.float32),), {}, "W", id="rank-inf"
    ),
    pytest.param(numerical_rank, (GOOD,), {"tol": -1.0}, "tol", id="tol-negative"),
    pytest.param(numerical_rank, (GOOD,), {"tol": math.nan}, "tol", id="tol-nan"),
    pytest.param(numerical_rank, (GOOD,), {"tol": math.inf}, "tol", id="tol-inf"),
    pytest.param(numerical_rank, (GOOD,), {"tol": True}, "tol", id="tol-bool"),
    pytest.param(numerical_rank, (GOOD,), {"tol": "1e-8"}, "tol", id="tol-str"),
    pytest.param(
        default_rank_tolerance,
        (-1.0, 2, 2, torch.float64),
        {},
        "sigma_max",
        id="default-negative-sigma",
    ),
    pytest.param(
        default_rank_tolerance,
        (math.inf, 2, 2, torch.float64),
        {},
        "sigma_max",
        id="default-inf-sigma",
    ),
    pytest.param(
        default_rank_tolerance, (1.0, -1, 2, torch.float64), {}, "rows", id="default-negative-rows"
    ),
    pytest.param(
        default_rank_tolerance, (1.0, 2, 2.5, torch.float64), {}, "cols", id="default-float-cols"
    ),
    pytest.param(
        default_rank_tolerance, (1.0, 2, 2, torch.int32), {}, "dtype", id="default-int-dtype"
    ),
    pytest.param(
        default_rank_tolerance, (1.0, 2, 2, "float64"), {}, "dtype", id="default-str-dtype"
    ),
    pytest.param(svd_error_bound, (-1, 2, torch.float64), {}, "rows", id="svd-bound-rows"),
    pytest.param(svd_error_bound, (2, True, torch.float64), {}, "cols", id="svd-bound-bool-cols"),
    pytest.param(svd_error_bound, (2, 2, torch.int64), {}, "dtype", id="svd-bound-dtype"),
    pytest.param(
        svd_error_bound, (5000, 5000, torch.float32), {}, "(rows, cols)", id="svd-bound-too-large"
    ),
    pytest.param(product_error_bound, (-1, 4, 1.0, torch.float64), {}, "inner", id="product-inner"),
    pytest.param(
        product_error_bound, (2, -4, 1.0, torch.float64), {}, "entries", id="product-entries"
    ),
    pytest.param(product_error_bound, (2, 4, -1.0, torch.float64), {}, "scale", id="product-scale"),
    pytest.param(product_error_bound, (2, 4, 1.0, None), {}, "dtype", id="product-dtype"),
    pytest.param(
        construction_error_bound, (0, 2, 1.0, torch.float64), {}, "rows", id="construction-rows"
    ),
    pytest.param(
        construction_error_bound,
        (2, 2, -1.0, torch.float64),
        {},
        "sigma_max",
        id="construction-sigma",
    ),
    pytest.param(
        construction_error_bound,
        (2, 2, "1", torch.float64),
        {},
        "sigma_max",
        id="construction-sigma-str",
    ),
    pytest.param(
        construction_error_bound, (2, 2, 1.0, torch.int8), {}, "dtype", id="construction-dtype"
    ),
    pytest.param(singular_value_noise, (2, 0, 1.0, torch.float32), {}, "cols", id="noise-cols"),
]


@pytest.mark.parametrize(("function", "args", "kwargs", "name"), INVALID_CALLS)
def test_invalid_argument_is_rejected(function, args, kwargs, name):
    with pytest.raises(InvalidArgumentError) as raised:
        function(*args, **kwargs)

    message = str(raised.value)
    assert message.startswith(f"{name}=")
    assert "is invalid: it must" in message
    assert "Fix: " in message


def test_rejected_matrix_is_unchanged():
    W = torch.tensor([[1.0, math.nan], [2.0, 3.0]], dtype=torch.float64)
    before = W.clone()

    with pytest.raises(InvalidArgumentError):
        numerical_rank(W)

    assert torch.equal(W.isnan(), before.isnan())
    assert torch.equal(W.nan_to_num(), before.nan_to_num())


def test_rank_leaves_input_unchanged():
    W = torch.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=torch.float32)
    before = W.clone()

    numerical_rank(W)
    numerical_rank(W, tol=0.5)

    assert torch.equal(W, before)


RANKS = [
    pytest.param(torch.eye(3), None, 3, id="identity"),
    pytest.param(torch.zeros(2, 3), None, 0, id="zeros"),
    pytest.param(torch.empty(0, 3), None, 0, id="empty"),
    pytest.param(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), None, 2, id="distinct-rows"),
    pytest.param(torch.tensor([[1.0, 2.0], [2.0, 4.0]]), None, 1, id="multiple-row"),
    pytest.param(torch.diag(torch.tensor([1.0, 0.5, 0.25])), 0.5, 1, id="tol-is-strict"),
    pytest.param(torch.diag(torch.tensor([1.0, 0.5, 0.25])), 0.3, 2, id="tol-between"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("W", "tol", "expected"), RANKS)
def test_rank_of_small_matrix(W, tol, expected, dtype):
    assert numerical_rank(W.to(dtype), tol=tol) == expected


def test_zero_tolerance_warns():
    with pytest.warns(EfxWarning, match="tol=0"):
        rank = numerical_rank(torch.eye(2, dtype=torch.float64), tol=0)

    assert rank == 2


def test_default_tolerance_formula():
    for dtype in (torch.float32, torch.float64):
        assert default_rank_tolerance(2.0, 3, 7, dtype) == 2.0 * 7 * torch.finfo(dtype).eps
        assert default_rank_tolerance(0.0, 3, 7, dtype) == 0.0


def test_svd_bound_counts_reflections():
    u = unit_roundoff(torch.float32)
    expected = 4 * 3 * 8 * u / (1 - 4 * 3 * 8 * u) * math.sqrt(3)

    assert svd_error_bound(3, 5, torch.float32) == pytest.approx(
        expected, rel=gamma(4, torch.float64), abs=0
    )
    assert svd_error_bound(0, 5, torch.float32) == 0.0
    assert svd_error_bound(5, 3, torch.float32) == svd_error_bound(3, 5, torch.float32)


def test_noise_grows_with_dtype_and_scale():
    small = singular_value_noise(4, 4, 1.0, torch.float64)

    assert construction_error_bound(4, 4, 0.0, torch.float32) == 0.0
    assert singular_value_noise(4, 4, 1.0, torch.float32) > small > 0
    assert singular_value_noise(4, 4, 100.0, torch.float64) == pytest.approx(
        100 * small, rel=gamma(4, torch.float64), abs=0
    )


def test_doctests_pass():
    failures, attempted = doctest.testmod(efx.rank, raise_on_error=False, report=True)

    assert attempted >= 4
    assert failures == 0
