"""torch's train-mode BatchNorm against the closed forms: outputs, Jacobian, backward, tiny groups.

"Sections" means what gradient accumulation runs: torch's BatchNorm called once per section,
each call normalising with that section's statistics. Tolerances are the rounding-error
bounds of :mod:`efx.normalization_bounds`: each of two float computations of the same real
value lies within its bound, so they differ by at most the sum of both bounds.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.claims import claim
from efx.normalization import DEFAULT_EPS
from efx.normalization_bounds import gradient_error_bound, output_error_bound
from efx.strategies.normalization import ChannelBatch, channel_batches
from efx.tolerance import gamma

# device and dtype are fixed per test item, so sharing them across examples is intended.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

EPSILONS = st.sampled_from([1e-5, 1e-3, 0.5])
# torch needs two values per channel in every training-mode call.
TRAINABLE = channel_batches(min_section_values=2)


def skip_unless_torch_seen(claim_id: str) -> None:
    seen = claim(claim_id).torch_seen
    running = torch.__version__.split("+")[0]
    if running != seen:
        pytest.skip(f"{claim_id} describes torch {seen}; this is torch {running}")


def affine_parameters(batch: ChannelBatch, dtype: torch.dtype, device: torch.device):
    generator = torch.Generator().manual_seed(batch.seed + 1)
    weight = torch.randn(batch.channels, generator=generator, dtype=torch.float64)
    bias = torch.randn(batch.channels, generator=generator, dtype=torch.float64)
    return weight.to(dtype=dtype, device=device), bias.to(dtype=dtype, device=device)


def torch_sections(x, sizes, weight=None, bias=None, eps=1e-5):
    """Run torch's functional train-mode BatchNorm once per section, as accumulation does."""
    parts = torch.split(x, list(sizes))
    return torch.cat(
        [
            torch.nn.functional.batch_norm(p, None, None, weight, bias, training=True, eps=eps)
            for p in parts
        ]
    )


def assert_within(actual, expected, bound, what):
    error = (actual.detach().double() - expected.detach().double()).abs()
    worst = float((error / bound).max())
    assert bool((error <= bound).all()), f"{what}: error up to {worst:.3g} times the rounding bound"


@pytest.mark.claim("bn.group-dependence")
@fixed_fixtures
@given(batch=TRAINABLE, eps=EPSILONS)
def test_sections_normalise_with_own_statistics(batch: ChannelBatch, eps, device, dtype, impl):
    x = batch.values(dtype, device)
    weight, bias = affine_parameters(batch, dtype, device)

    expected = torch_sections(x, batch.sizes, weight, bias, eps)
    actual = impl.batch_norm_train(x, batch.sizes, weight, bias, eps)

    bound = 2 * output_error_bound(x, batch.sizes, weight, bias, eps)
    assert_within(actual, expected, bound, "outputs")


@pytest.mark.claim("bn.group-dependence")
@fixed_fixtures
@given(
    batch=channel_batches(max_samples=6, max_channels=1, min_section_values=2, spatial_shapes=((),))
)
def test_jacobian_couples_only_the_group(batch: ChannelBatch, device, dtype):
    x = batch.values(dtype, device)
    weight = torch.tensor([1.5], dtype=dtype, device=device)
    n = batch.samples

    jacobian = torch.autograd.functional.jacobian(
        lambda v: torch_sections(v, batch.sizes, weight), x
    )
    jacobian = jacobian.reshape(n, n)

    # The claim's formula, in float64: gamma / s_G (delta_ik - 1/N - xhat_i xhat_k / N) inside a group.
    x64, start = x.double().flatten(), 0
    expected = torch.zeros(n, n, dtype=torch.float64, device=device)
    for size in batch.sizes:
        group = x64[start : start + size]
        scale = torch.sqrt(group.var(unbiased=False) + 1e-5)
        xhat = (group - group.mean()) / scale
        block = (
            1.5
            / scale
            * (
                torch.eye(size, dtype=torch.float64, device=device)
                - 1 / size
                - torch.outer(xhat, xhat) / size
            )
        )
        expected[start : start + size, start : start + size] = block
        start += size

    # Row i is the input gradient for upstream e_i: bound each row with the backward bound.
    rows = [
        gradient_error_bound(
            x, torch.eye(n, dtype=dtype, device=device)[i].reshape(n, 1), batch.sizes, weight
        ).input.flatten()
        for i in range(n)
    ]
    bound = torch.stack(rows) + gamma(n + 10, torch.float64) * expected.abs().max()
    assert_within(jacobian, expected, bound, "Jacobian")
    outside = expected == 0
    assert bool((jacobian[outside] == 0).all()), "an output depends on a value outside its section"


@pytest.mark.claim("bn.backward-formula")
@fixed_fixtures
@given(batch=TRAINABLE, eps=EPSILONS)
def test_backward_matches_closed_form(batch: ChannelBatch, eps, device, dtype, impl):
    x = batch.values(dtype, device).requires_grad_(True)
    weight, bias = affine_parameters(batch, dtype, device)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    generator = torch.Generator().manual_seed(batch.seed + 2)
    upstream = torch.randn(batch.shape, generator=generator, dtype=torch.float64).to(
        dtype=dtype, device=device
    )

    outputs = torch_sections(x, batch.sizes, weight, bias, eps)
    grad_x, grad_weight, grad_bias = torch.autograd.grad(outputs, (x, weight, bias), upstream)
    closed = impl.batch_norm_backward(x.detach(), upstream, batch.sizes, weight.detach(), eps)

    bound = gradient_error_bound(x, upstream, batch.sizes, weight, eps)
    assert_within(closed.input, grad_x, 2 * bound.input, "input gradient")
    assert_within(closed.weight, grad_weight, 2 * bound.weight, "weight gradient")
    assert_within(closed.bias, grad_bias, 2 * bound.bias, "bias gradient")


def perturb_first_section(x: torch.Tensor, sizes: tuple[int, ...], factor: float) -> torch.Tensor:
    """Scale the first section's deviations from the batch mean, changing its variance only."""
    dims = [0, *range(2, x.dim())]
    mean = x.mean(dim=dims, keepdim=True)
    first = sizes[0]
    return torch.cat([mean + factor * (x[:first] - mean), x[first:]])


@pytest.mark.claim("bn.forward-match")
@fixed_fixtures
@given(batch=channel_batches(min_section_values=2, min_sections=2))
def test_matching_statistics_give_full_batch_outputs(batch: ChannelBatch, device, dtype):
    x = batch.matching_values(dtype, device)
    eps = 1e-5

    full = torch_sections(x, (batch.samples,), eps=eps)
    sections = torch_sections(x, batch.sizes, eps=eps)

    # Each side's rounding, plus the rounding of x to dtype, which moves the real statistics of
    # the sections and of the batch by at most as much again.
    bound = 2 * (output_error_bound(x, None, eps=eps) + output_error_bound(x, batch.sizes, eps=eps))
    assert_within(sections, full, bound, "outputs")

    # A section whose variance differs from the batch's breaks the match.
    perturbed = perturb_first_section(x, batch.sizes, 1.5)
    full_p, sections_p = (
        torch_sections(perturbed, (batch.samples,), eps=eps),
        torch_sections(perturbed, batch.sizes, eps=eps),
    )
    bound_p = 2 * (
        output_error_bound(perturbed, None, eps=eps)
        + output_error_bound(perturbed, batch.sizes, eps=eps)
    )
    assert bool(((full_p - sections_p).abs().double() > bound_p).any()), (
        "a perturbed section still matched"
    )


@pytest.mark.claim("bn.forward-match")
def test_constant_sections_break_the_match(device, dtype):
    x = torch.tensor([-1.0, 1.0, 1.0, 1.0, -1.0, -1.0], dtype=dtype, device=device).reshape(6, 1)
    eps = 1e-5

    full = torch_sections(x, (6,), eps=eps)
    sections = torch_sections(x, (2, 2, 2), eps=eps)

    unit = 1 / math.sqrt(1 + eps)
    expected_full = torch.tensor(
        [-unit, unit, unit, unit, -unit, -unit], dtype=torch.float64
    ).reshape(6, 1)
    assert_within(
        full, expected_full.to(device), output_error_bound(x, None, eps=eps), "full-batch outputs"
    )
    assert sections[2:].abs().max().item() == 0.0
    assert_within(
        sections[:2],
        expected_full[:2].to(device),
        output_error_bound(x[:2], None, eps=eps),
        "section 1",
    )


@pytest.mark.claim("bn.backward-differs")
def test_equal_outputs_example_has_different_gradients(device, dtype):
    x = torch.tensor([-1.0, 1.0, 1.0, -1.0], dtype=dtype, device=device).reshape(4, 1)
    c = torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=dtype, device=device).reshape(4, 1)
    upstream = c / 4  # L = (1/4) sum_i c_i y_i, and each section's mean loss weighted by 1/2
    eps = 1e-5

    gradients, outputs = {}, {}
    for name, sizes in (("full", (4,)), ("sections", (2, 2))):
        leaf = x.clone().requires_grad_(True)
        outputs[name] = torch_sections(leaf, sizes, eps=eps)
        (gradients[name],) = torch.autograd.grad(outputs[name], leaf, upstream)

    bound = output_error_bound(x, None, eps=eps) + output_error_bound(x, (2, 2), eps=eps)
    assert_within(outputs["sections"], outputs["full"], bound, "outputs")
    scale = (1 + eps) ** 1.5
    exact = {"full": (2 + 3 * eps) / (32 * scale), "sections": -eps / (8 * scale)}
    for name, sizes in (("full", (4,)), ("sections", (2, 2))):
        g_bound = gradient_error_bound(x, upstream, sizes, eps=eps).input[0, 0].item()
        assert gradients[name][0, 0].item() == pytest.approx(exact[name], abs=g_bound)
    assert gradients["full"][0, 0].item() > 0 > gradients["sections"][0, 0].item()


@pytest.mark.claim("bn.backward-formula")
def test_frozen_statistics_drop_the_centring(device, dtype):
    # The example's batch statistics (mean 0, biased variance 1) held fixed, as in eval mode.
    x = (
        torch.tensor([-1.0, 1.0, 1.0, -1.0], dtype=dtype, device=device)
        .reshape(4, 1)
        .requires_grad_(True)
    )
    upstream = torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=dtype, device=device).reshape(4, 1) / 4
    eps = 1e-5
    layer = torch.nn.BatchNorm1d(1, affine=False, eps=eps).to(device=device, dtype=dtype).eval()

    (frozen,) = torch.autograd.grad(layer(x), x, upstream)

    expected = upstream.double() / (1 + eps) ** 0.5
    # One division and one square root per entry, of numbers below 1.
    assert_within(
        frozen, expected, gamma(4, dtype) * expected.abs() + gamma(4, dtype), "frozen gradient"
    )
    train_mode = (2 + 3 * eps) / (32 * (1 + eps) ** 1.5)
    assert abs(frozen[0, 0].item() - train_mode) > 0.1, (
        "frozen statistics matched the train-mode gradient"
    )


@pytest.mark.claim("bn.backward-differs")
@fixed_fixtures
@given(batch=channel_batches(min_section_values=2, min_sections=2))
def test_matching_statistics_gradient_gap_is_the_centring(batch: ChannelBatch, device, dtype, impl):
    x = batch.matching_values(dtype, device)
    weight, bias = affine_parameters(batch, dtype, device)
    generator = torch.Generator().manual_seed(batch.seed + 3)
    upstream = torch.randn(batch.shape, generator=generator, dtype=torch.float64).to(
        dtype=dtype, device=device
    )
    eps = 1e-5

    grads = {}
    for name, sizes in (("full", (batch.samples,)), ("sections", batch.sizes)):
        leaves = [t.clone().requires_grad_(True) for t in (x, weight, bias)]
        outputs = torch_sections(leaves[0], sizes, leaves[1], leaves[2], eps)
        grads[name] = torch.autograd.grad(outputs, leaves, upstream)

    full_bound = gradient_error_bound(x, upstream, None, weight, eps)
    section_bound = gradient_error_bound(x, upstream, batch.sizes, weight, eps)
    # The sections share the batch's statistics up to the rounding of x, which the factor 2 covers.
    for index, what in ((1, "weight"), (2, "bias")):
        limit = 2 * (getattr(full_bound, what) + getattr(section_bound, what))
        assert_within(grads["sections"][index], grads["full"][index], limit, f"{what} gradient")

    predicted = (
        impl.batch_norm_backward(x, upstream, batch.sizes, weight, eps).input
        - impl.batch_norm_backward(x, upstream, None, weight, eps).input
    )
    limit = 4 * (full_bound.input + section_bound.input)
    assert_within(grads["sections"][0] - grads["full"][0], predicted, limit, "input gradient gap")


@pytest.mark.claim("bn.tiny-sections")
@pytest.mark.parametrize(
    ("layer", "shape", "raises"),
    [
        (torch.nn.BatchNorm1d, (1, 3), True),
        (torch.nn.BatchNorm1d, (1, 3, 1), True),
        (torch.nn.BatchNorm2d, (1, 3, 1, 1), True),
        (torch.nn.BatchNorm1d, (1, 3, 2), False),
        (torch.nn.BatchNorm2d, (1, 3, 2, 1), False),
        (torch.nn.BatchNorm1d, (2, 3), False),
    ],
)
def test_one_value_per_channel_raises_in_training(layer, shape, raises, device, dtype):
    skip_unless_torch_seen("bn.tiny-sections")
    module = layer(3).to(device=device, dtype=dtype).train()
    x = torch.randn(shape, dtype=dtype, device=device)

    if raises:
        with pytest.raises(
            ValueError, match="Expected more than 1 value per channel when training"
        ):
            module(x)
    else:
        assert module(x).shape == x.shape


@pytest.mark.claim("bn.tiny-sections")
def test_zero_eps_raises_in_training(device, dtype):
    skip_unless_torch_seen("bn.tiny-sections")
    x = torch.randn(4, 3, dtype=dtype, device=device)

    with pytest.raises(ValueError, match="eps must be positive"):
        torch.nn.functional.batch_norm(x, None, None, training=True, eps=0.0)
    assert torch.nn.BatchNorm1d(3).eps == DEFAULT_EPS == 1e-5


@pytest.mark.claim("bn.tiny-sections")
@fixed_fixtures
@given(
    a=st.floats(-100, 100, allow_subnormal=False),
    gap=st.floats(1e-2, 100) | st.floats(-100, -1e-2),
    eps=EPSILONS,
)
def test_two_values_normalise_to_about_plus_minus_one(a, gap, eps, device, dtype, impl):
    x = torch.tensor([[a], [a + gap]], dtype=dtype, device=device)
    difference = (x[0, 0] - x[1, 0]).item()  # a - b after rounding to dtype
    note(f"a - b = {difference!r}")

    outputs = torch_sections(x, (2,), eps=eps)

    expected = math.copysign(1.0, difference) / math.sqrt(1 + 4 * eps / difference**2)
    bound = output_error_bound(x, None, eps=eps)
    exact = torch.tensor([expected, -expected], dtype=torch.float64, device=device)
    assert_within(outputs.flatten(), exact, bound.flatten(), "outputs")
    assert abs(expected) >= 1 - 2 * eps / difference**2
    assert_within(impl.batch_norm_train(x, None, eps=eps), outputs, 2 * bound, "closed form")


@pytest.mark.claim("bn.tiny-sections")
def test_two_equal_values_give_beta(device, dtype):
    bias = torch.tensor([0.25], dtype=dtype, device=device)
    x = torch.tensor([[3.0], [3.0]], dtype=dtype, device=device)

    weight = torch.ones(1, dtype=dtype, device=device)

    outputs = torch_sections(x, (2,), weight, bias)

    # Exactly beta in real arithmetic; torch's kernel folds mu into the shift, so float32 rounds.
    bound = output_error_bound(x, None, weight, bias)
    assert_within(outputs, torch.full_like(outputs, 0.25), bound, "outputs")
