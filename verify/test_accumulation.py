"""Accumulated gradients equal the full-batch gradient for any partition; the 1/m estimator does not.

Models are small MLPs and CNNs without batch-coupled layers, data is random, partitions into
micro-batches have unequal sizes and token masks pad at random. The reference is the
full-batch gradient in float64 from the same (rounded) parameters and inputs.

Tolerance: the accumulated gradient and the reference are two evaluations of the mean of
per-sample gradient terms g_i. Each term carries the rounding of its own forward and backward
pass, a chain of at most ``spec.rounding_depth()`` operations, and the sum over the window
adds at most ``n`` more roundings. With u the unit roundoff, each entry differs by at most
gamma(k) times the summed absolute terms, k = rounding depth + n, measured per tensor (the
largest entry of sum_i |g_i| / N), because an entry whose terms cancel still carries the
rounding of its tensor's scale.
"""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, find, given, note, settings
from hypothesis import strategies as st

from efx.strategies import section_sizes
from efx.strategies.models import ModelSpec, model_specs
from efx.tolerance import gamma

# impl is never the first argument of a @given test: Hypothesis probes the first argument with
# getattr, and the impl fixture skips the test on any unknown attribute.
# device and dtype are function-scoped but hold one constant value per test item, so sharing
# them across the generated examples of that item is what the test means.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def sample_losses(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE, averaged over output units: shape (samples,)."""
    return ((outputs - targets) ** 2).mean(dim=-1)


def token_losses(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-token MSE, averaged over output units: shape (samples, positions)."""
    return ((outputs - targets) ** 2).mean(dim=-1)


def split(tensor: torch.Tensor | None, sizes: tuple[int, ...]) -> list[torch.Tensor | None]:
    if tensor is None:
        return [None] * len(sizes)
    return list(torch.split(tensor, list(sizes)))


def micro_batches(inputs, targets, mask, sizes):
    parts = zip(split(inputs, sizes), split(targets, sizes), split(mask, sizes), strict=True)
    return [(x, y) if m is None else (x, y, m) for x, y, m in parts]


def per_sample_gradients(model, loss_fn, inputs, targets, mask):
    """Return each sample's gradient of its summed (unnormalised) loss: one dict per sample."""
    named = [(name, p) for name, p in model.named_parameters()]
    result = []
    for index in range(inputs.shape[0]):
        losses = loss_fn(model(inputs[index : index + 1]), targets[index : index + 1])
        total = losses.sum() if mask is None else losses[mask[index : index + 1].bool()].sum()
        grads = torch.autograd.grad(total, [p for _, p in named], allow_unused=True)
        result.append(
            {
                name: torch.zeros_like(p) if g is None else g
                for (name, p), g in zip(named, grads, strict=True)
            }
        )
    return result


def full_batch_reference(model, loss_fn, inputs, targets, mask):
    """Return the full-batch gradient of the per-sample terms and, per tensor, max(sum_i |g_i|) / N.

    The terms g_i are computed one sample at a time in the model's own dtype and summed in
    float64, so the reference differs from accumulation only in how the same terms are summed.
    Comparing float32 terms with float64 ones instead would also measure the forward and backward
    rounding of each term, which cancellation (a residual y - y_hat near zero) can make far larger
    than u * |g_i|, and which accumulation does not change.
    """
    per_sample = per_sample_gradients(model, loss_fn, inputs, targets, mask)
    count = inputs.shape[0] if mask is None else int(mask.sum())
    gradient = {name: sum(g[name].double() for g in per_sample) / count for name in per_sample[0]}
    scale = {
        name: float(sum(g[name].double().abs() for g in per_sample).max()) / count
        for name in per_sample[0]
    }
    return gradient, scale


def assert_close_to_reference(accumulated, reference, scale, depth, dtype):
    for name, expected in reference.items():
        # Rounding chain of one term (depth) plus the sum over the window's terms (in depth's caller).
        tolerance = (gamma(depth, dtype) + gamma(depth, torch.float64)) * scale[name]
        error = float((accumulated[name].double().cpu() - expected.cpu()).abs().max())
        note(f"{name}: max error {error:.3g}, tolerance {tolerance:.3g}")
        assert error <= tolerance, f"{name}: error {error:.3g} > tolerance {tolerance:.3g}"


@pytest.mark.claim("ga.gradient-identity", "ga.unequal-sections", "ga.float-order")
@fixed_fixtures
@given(data=st.data())
def test_samples_partition_matches_full_batch(device, dtype, impl, data):
    spec: ModelSpec = data.draw(model_specs(), label="model")
    n = data.draw(st.integers(1, 10), label="samples")
    sizes = data.draw(section_sizes(n), label="sizes")
    generator = torch.Generator().manual_seed(spec.seed)
    inputs = torch.randn(n, *spec.input_shape, generator=generator, dtype=torch.float64).to(dtype)
    targets = torch.randn(n, spec.outputs, generator=generator, dtype=torch.float64).to(dtype)
    model = spec.build(dtype, device)
    model_cpu = copy.deepcopy(model).cpu()
    note(f"spec={spec}, sizes={sizes}")

    accumulated = impl.accumulated_gradients(
        model,
        sample_losses,
        micro_batches(inputs.to(device), targets.to(device), None, sizes),
        "samples",
    )
    reference, scale = full_batch_reference(model_cpu, sample_losses, inputs, targets, None)

    assert set(accumulated) == set(reference)
    assert_close_to_reference(accumulated, reference, scale, spec.rounding_depth() + n, dtype)


@st.composite
def padding_masks(draw, samples: int, positions: int) -> torch.Tensor:
    """Draw a right-padded (samples, positions) mask with at least one valid token in all."""
    lengths = draw(
        st.lists(st.integers(0, positions), min_size=samples, max_size=samples), label="lengths"
    )
    if sum(lengths) == 0:
        lengths[0] = 1  # a window without any valid token is rejected by design; tested in tests/
    return torch.arange(positions).expand(samples, positions) < torch.tensor(lengths).unsqueeze(1)


@pytest.mark.claim("ga.token-normaliser", "ga.gradient-identity", "ga.float-order")
@fixed_fixtures
@given(data=st.data())
def test_tokens_partition_matches_full_batch(device, dtype, impl, data):
    spec: ModelSpec = data.draw(model_specs(kinds=("mlp",)), label="model")
    n = data.draw(st.integers(1, 6), label="samples")
    positions = data.draw(st.integers(1, 5), label="positions")
    sizes = data.draw(section_sizes(n), label="sizes")
    mask = data.draw(padding_masks(n, positions), label="mask")
    generator = torch.Generator().manual_seed(spec.seed)
    inputs = torch.randn(n, positions, spec.features, generator=generator, dtype=torch.float64).to(
        dtype
    )
    targets = torch.randn(n, positions, spec.outputs, generator=generator, dtype=torch.float64).to(
        dtype
    )
    model = spec.build(dtype, device)
    model_cpu = copy.deepcopy(model).cpu()
    note(f"spec={spec}, sizes={sizes}, valid tokens per sample={mask.sum(1).tolist()}")

    window = micro_batches(inputs.to(device), targets.to(device), mask.to(device), sizes)
    accumulated = impl.accumulated_gradients(model, token_losses, window, "tokens")
    reference, scale = full_batch_reference(model_cpu, token_losses, inputs, targets, mask)

    assert impl.window_normaliser(window, "tokens") == int(mask.sum())
    assert_close_to_reference(
        accumulated, reference, scale, spec.rounding_depth(positions) + n * positions, dtype
    )


def naive_section_means(model, loss_fn, window):
    """The 1/m estimator: each micro-batch's mean loss divided by the number of micro-batches."""
    params = list(model.parameters())
    total = [torch.zeros_like(p) for p in params]
    for inputs, targets in window:
        loss = loss_fn(model(inputs), targets).mean() / len(window)
        for acc, g in zip(total, torch.autograd.grad(loss, params), strict=True):
            acc += g
    return total


@pytest.mark.claim("ga.unequal-sections")
def test_naive_estimator_depends_on_partition(impl, device):
    # One fixed model and batch; Hypothesis searches the partitions for one where the 1/m
    # estimator leaves the float64 bound, which it must find for the claim to hold.
    spec = ModelSpec("mlp", features=3, hidden=4, outputs=1, side=0, seed=7)
    n = 6
    generator = torch.Generator().manual_seed(11)
    inputs = torch.randn(n, 3, generator=generator, dtype=torch.float64).to(device)
    targets = torch.randn(n, 1, generator=generator, dtype=torch.float64).to(device)
    model = spec.build(torch.float64, device)
    reference, scale = full_batch_reference(model, sample_losses, inputs.cpu(), targets.cpu(), None)
    bound = gamma(spec.rounding_depth() + n, torch.float64) * max(scale.values())

    def naive_leaves_bound(sizes: tuple[int, ...]) -> bool:
        window = micro_batches(inputs, targets, None, sizes)
        naive = naive_section_means(model, sample_losses, window)
        return any(
            float((g.cpu() - r).abs().max()) > bound
            for g, r in zip(naive, reference.values(), strict=True)
        )

    counterexample = find(
        section_sizes(n), naive_leaves_bound, settings=settings(database=None, max_examples=200)
    )
    # Only unequal sections can break the 1/m estimator.
    assert len(set(counterexample)) > 1, f"counterexample partition {counterexample}"
    accumulated = impl.accumulated_gradients(
        model, sample_losses, micro_batches(inputs, targets, None, counterexample)
    )
    for name, expected in reference.items():
        assert float((accumulated[name].cpu() - expected).abs().max()) <= bound


@pytest.mark.claim("ga.unequal-sections")
@fixed_fixtures
@given(sizes=section_sizes(8, max_sections=4).filter(lambda s: len(set(s)) == 1))
def test_naive_estimator_exact_on_equal_sections(device, sizes):
    # The negative control above is only meaningful if the same naive code is right on equal sections.
    spec = ModelSpec("mlp", features=2, hidden=3, outputs=1, side=0, seed=3)
    generator = torch.Generator().manual_seed(5)
    inputs = torch.randn(8, 2, generator=generator, dtype=torch.float64).to(device)
    targets = torch.randn(8, 1, generator=generator, dtype=torch.float64).to(device)
    model = spec.build(torch.float64, device)
    reference, scale = full_batch_reference(model, sample_losses, inputs.cpu(), targets.cpu(), None)

    naive = naive_section_means(model, sample_losses, micro_batches(inputs, targets, None, sizes))

    bound = gamma(spec.rounding_depth() + 8, torch.float64) * max(scale.values())
    for g, r in zip(naive, reference.values(), strict=True):
        assert float((g.cpu() - r).abs().max()) <= bound


@pytest.mark.claim("ga.gradient-identity")
@fixed_fixtures
@given(n=st.integers(1, 12), d=st.integers(1, 5), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_linear_mse_matches_closed_form(device, impl, n, d, seed, data):
    sizes = data.draw(section_sizes(n), label="sizes")
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=generator, dtype=torch.float64)
    y = torch.randn(n, generator=generator, dtype=torch.float64)
    model = torch.nn.Linear(d, 1, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, d, generator=generator, dtype=torch.float64))
        model.bias.copy_(torch.randn(1, generator=generator, dtype=torch.float64))

    def mse(outputs, targets):
        return (outputs.squeeze(-1) - targets) ** 2

    window = micro_batches(X.to(device), y.to(device), None, sizes)
    accumulated = impl.accumulated_gradients(model.to(device), mse, window)

    # Closed form and block form from the derivation: -(2/n) X^T r = -(2/n) sum_j X_j^T r_j.
    r = y - X @ model.weight.detach().cpu().squeeze(0) - model.bias.detach().cpu()
    closed_w = -2 / n * X.T @ r
    blocks_w = (
        -2
        / n
        * sum(
            Xj.T @ rj
            for Xj, rj in zip(torch.split(X, list(sizes)), torch.split(r, list(sizes)), strict=True)
        )
    )
    closed_b = -2 / n * r.sum()
    # Inner products of n + d terms, each term a product of entries of X, w, y.
    k = n + d + 4
    bound_w = (
        gamma(k, torch.float64)
        * 2
        / n
        * float(
            (
                X.abs().T
                @ (
                    y.abs()
                    + X.abs() @ model.weight.detach().cpu().abs().squeeze(0)
                    + model.bias.detach().cpu().abs()
                )
            ).max()
        )
    )
    bound_b = (
        gamma(k, torch.float64)
        * 2
        / n
        * float(
            (
                y.abs()
                + X.abs() @ model.weight.detach().cpu().abs().squeeze(0)
                + model.bias.detach().cpu().abs()
            ).sum()
        )
    )
    assert float((accumulated["weight"].cpu().squeeze(0) - closed_w).abs().max()) <= 2 * bound_w
    assert float((blocks_w - closed_w).abs().max()) <= 2 * bound_w
    assert abs(float(accumulated["bias"].cpu().squeeze()) - float(closed_b)) <= 2 * bound_b
