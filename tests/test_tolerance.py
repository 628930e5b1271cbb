"""Tolerances derived from unit roundoff: values and input checks."""

from __future__ import annotations

import pytest
import torch

from efx.errors import InvalidArgumentError
from efx.tolerance import gamma, summation_bound, unit_roundoff


def test_unit_roundoff_is_half_epsilon():
    assert unit_roundoff(torch.float32) == torch.finfo(torch.float32).eps / 2
    assert unit_roundoff(torch.float64) == 2.0**-53


def test_gamma_grows_with_operation_count():
    assert gamma(0, torch.float64) == 0
    assert gamma(10, torch.float32) > 10 * unit_roundoff(torch.float32)


def test_summation_bound_holds_for_float32_sums():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(10_000, generator=generator, dtype=torch.float64)
    exact = values.sum().item()
    computed = values.float().double().sum().item()  # rounding of the inputs is not summation error
    summed = values.float().sum().item()

    bound = summation_bound(
        values.float().double().abs().sum().item(), values.numel(), torch.float32
    )

    assert abs(summed - computed) <= bound
    assert (
        abs(exact - computed) > 0
    )  # the inputs really were rounded, so the comparison is not trivial


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: unit_roundoff(torch.int64), "dtype=torch.int64"),
        (lambda: gamma(-1, torch.float32), "k=-1"),
        (lambda: gamma(2**30, torch.float16), "k=1073741824"),
        (lambda: summation_bound(1.0, 0, torch.float32), "terms=0"),
    ],
)
def test_bad_input_names_the_value(call, match):
    with pytest.raises(InvalidArgumentError, match=match):
        call()
