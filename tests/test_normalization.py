"""Unit tests of efx's BatchNorm closed forms: rejected arguments, warnings, purity, small cases."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from efx.errors import EfxWarning, InvalidArgumentError
from efx.normalization import (
    batch_norm_backward,
    batch_norm_train,
    check_sizes,
    section_statistics,
    validate_arguments,
)
from efx.normalization_bounds import gradient_error_bound, output_error_bound
from efx.normalization_running import running_statistics
from efx.strategies.normalization import (
    ChannelBatch,
    NormModelSpec,
    channel_batches,
    sections_of_at_least,
)
from efx.tolerance import gamma

X = torch.arange(8.0, dtype=torch.float64).reshape(4, 2)
G = torch.ones(4, 2, dtype=torch.float64)
W = torch.ones(2, dtype=torch.float64)

INVALID_CALLS = [
    # (call, argument named in the message, fragment of the rule)
    (lambda: section_statistics([[1.0], [2.0]]), "x", "must be a torch.Tensor"),
    (lambda: section_statistics(torch.arange(4).reshape(2, 2)), "x", "floating-point dtype"),
    (lambda: section_statistics(torch.ones(4, dtype=torch.float64)), "x", "shape (N, C)"),
    (lambda: section_statistics(torch.ones(0, 2, dtype=torch.float64)), "x", "must not be empty"),
    (lambda: section_statistics(X, [1, 2]), "sizes", "add up to the batch size 4"),
    (lambda: section_statistics(X, [0, 4]), "sizes", "integers >= 1"),
    (lambda: section_statistics(X, [2.0, 2.0]), "sizes", "integers >= 1"),
    (lambda: section_statistics(X, [True, 3]), "sizes", "integers >= 1"),
    (lambda: section_statistics(X, []), "sizes", "at least one section"),
    (lambda: section_statistics(X, "22"), "sizes", "sequence of integers"),
    (lambda: batch_norm_train(X, eps=0.0), "eps", "finite number > 0"),
    (lambda: batch_norm_train(X, eps=-1e-5), "eps", "finite number > 0"),
    (lambda: batch_norm_train(X, eps=float("nan")), "eps", "finite number > 0"),
    (
        lambda: batch_norm_train(X, weight=torch.ones(3, dtype=torch.float64)),
        "weight",
        "shape (C,) = (2,)",
    ),
    (lambda: batch_norm_train(X, bias=torch.ones(2)), "bias", "must match x's dtype"),
    (lambda: batch_norm_train(X, weight=[1.0, 1.0]), "weight", "torch.Tensor or None"),
    (
        lambda: batch_norm_backward(X, torch.ones(4, 3, dtype=torch.float64)),
        "grad_output",
        "shaped like x",
    ),
    (lambda: batch_norm_backward(X, G.float()), "grad_output", "must match x's dtype"),
    (lambda: batch_norm_backward(X, None), "grad_output", "shaped like x"),
    (lambda: batch_norm_backward(X, G, [3, 3]), "sizes", "add up to the batch size 4"),
    (lambda: running_statistics(X, [2, 2], momentum=1.5), "momentum", "in [0, 1] or None"),
    (lambda: running_statistics(X, [2, 2], momentum=float("inf")), "momentum", "in [0, 1] or None"),
    (
        lambda: running_statistics(X, [2, 2], num_batches_tracked=-1),
        "num_batches_tracked",
        "integer >= 0",
    ),
    (
        lambda: running_statistics(X, [2, 2], num_batches_tracked=1.0),
        "num_batches_tracked",
        "integer >= 0",
    ),
    (lambda: running_statistics(X, [1, 3]), "sizes", "at least two values per channel"),
    (
        lambda: running_statistics(X, running_mean=torch.zeros(3, dtype=torch.float64)),
        "running_mean",
        "shape (C,)",
    ),
    (
        lambda: running_statistics(X, running_var=torch.ones(2, dtype=torch.int64)),
        "running_var",
        "floating-point tensor",
    ),
    (lambda: output_error_bound(X, eps=0.0), "eps", "finite number > 0"),
    (lambda: output_error_bound(X, dtype=torch.int32), "dtype", "floating-point dtype"),
    (lambda: gradient_error_bound(X, None), "grad_output", "shaped like x"),
    (lambda: gradient_error_bound(X, G, [5]), "sizes", "add up to the batch size 4"),
    (
        lambda: check_sizes(None, 3) and check_sizes([2, 2], 3),
        "sizes",
        "add up to the batch size 3",
    ),
]


@pytest.mark.parametrize(("call", "name", "rule"), INVALID_CALLS)
def test_invalid_argument_is_named_with_rule_and_fix(call, name, rule):
    with pytest.raises(InvalidArgumentError) as error:
        call()

    message = str(error.value)
    assert message.startswith(f"{name}="), message
    assert rule in message, message
    assert "Fix: " in message, message


def test_invalid_argument_is_a_value_error():
    with pytest.raises(ValueError, match="eps="):
        batch_norm_train(X, eps=0)


def test_running_statistics_leaves_buffers_unchanged():
    running_mean = torch.tensor([0.5, -0.5], dtype=torch.float64)
    running_var = torch.tensor([2.0, 3.0], dtype=torch.float64)

    running_statistics(X, [2, 2], running_mean, running_var, 4, 0.1)

    assert running_mean.tolist() == [0.5, -0.5]
    assert running_var.tolist() == [2.0, 3.0]


def test_rejected_call_leaves_inputs_unchanged():
    x = X.clone()
    with pytest.raises(InvalidArgumentError):
        batch_norm_train(x, [2, 2], weight=torch.ones(3, dtype=torch.float64))

    assert torch.equal(x, X)


def test_single_value_section_warns():
    x = torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64)

    with pytest.warns(EfxWarning, match="one value per channel"):
        outputs = batch_norm_train(x, [1, 2])

    assert outputs[0].item() == 0.0


def test_single_sample_with_spatial_values_does_not_warn():
    x = torch.arange(12.0, dtype=torch.float64).reshape(3, 2, 2)

    batch_norm_train(x, [1, 2])  # pytest turns any warning into an error


def test_statistics_per_channel_over_samples_and_positions():
    x = torch.tensor([[[1.0, 3.0], [0.0, 0.0]], [[5.0, 7.0], [2.0, 2.0]]], dtype=torch.float64)

    stats = section_statistics(x, [1, 1])

    assert stats.mean.tolist() == [[2.0, 0.0], [6.0, 2.0]]
    assert stats.variance.tolist() == [[1.0, 0.0], [1.0, 0.0]]
    assert stats.counts == (2, 2)


def test_two_value_group_gradient_is_of_order_eps():
    # Both values normalise to about -1 and +1 whatever they are, so the input gradient is
    # (1 / (2 s)) * t / (1 + t) with t = 4 eps / (a - b)^2 and s = sqrt((a - b)^2 / 4 + eps).
    x = torch.tensor([[0.0], [1000.0]], dtype=torch.float64)
    g = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    eps = 1e-5
    t = 4 * eps / 1000.0**2
    expected = t / (1 + t) / (2 * (1000.0**2 / 4 + eps) ** 0.5)

    gradients = batch_norm_backward(x, g, eps=eps)

    tolerance = gradient_error_bound(x, g, eps=eps).input[0, 0].item()
    assert gradients.input[0, 0].item() == pytest.approx(expected, abs=tolerance)
    assert gradients.bias.item() == 1.0


def test_running_statistics_with_momentum_none_is_an_average():
    x = torch.tensor([[1.0], [3.0], [10.0], [14.0]], dtype=torch.float64)

    result = running_statistics(
        x, [2, 2], torch.tensor([100.0], dtype=torch.float64), None, 0, None
    )

    assert result.mean.item() == (2.0 + 12.0) / 2
    assert result.variance.item() == (2.0 + 8.0) / 2
    assert result.num_batches_tracked == 2


@given(total=st.integers(1, 12), minimum=st.integers(1, 3), data=st.data())
def test_sections_of_at_least_respect_the_minimum(total, minimum, data):
    if total < minimum:
        with pytest.raises(InvalidArgumentError, match="total="):
            data.draw(sections_of_at_least(total, minimum))
        return

    sizes = data.draw(sections_of_at_least(total, minimum))

    assert sum(sizes) == total
    assert min(sizes) >= minimum


@given(batch=channel_batches(min_section_values=2))
def test_matching_values_share_the_batch_statistics(batch: ChannelBatch):
    x = batch.matching_values()

    stats = section_statistics(x, batch.sizes)
    whole = section_statistics(x)

    # The construction and both statistics are float64 sums of count values, a few roundings each.
    count = x.numel() // x.shape[1]
    mean_tolerance = 4 * gamma(count + 8, torch.float64) * x.abs().max().item()
    var_tolerance = 8 * gamma(count + 8, torch.float64) * (2 * x.abs().max().item()) ** 2
    assert (stats.mean - whole.mean).abs().max().item() <= mean_tolerance
    assert (stats.variance - whole.variance).abs().max().item() <= var_tolerance


def test_matching_values_need_two_values_per_section():
    batch = ChannelBatch(
        samples=2, channels=1, spatial=(), sizes=(1, 1), seed=0, scale=1.0, offset=0.0
    )

    with pytest.raises(InvalidArgumentError, match="sizes="):
        batch.matching_values()


def test_norm_model_spec_rejects_unknown_kind():
    with pytest.raises(InvalidArgumentError, match="kind="):
        NormModelSpec("batch-sync", inputs=1, channels=2, length=2, seed=0).build()


def test_validate_arguments_returns_sizes_as_tuple():
    assert validate_arguments(X, [1, 3]).sizes == (1, 3)
    assert validate_arguments(X).sizes == (4,)
