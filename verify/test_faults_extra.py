"""Clipping acts once, on the window's total gradient: checks that catch per-step and per-tensor clipping.

The other ``ga.clip-once`` checks use a single tensor and exact worked numbers. These two
compare with the definition, ``g * min(1, max_norm / ||g||)`` with ``||g||`` the norm of all
tensors together, computed in float64 from the same values:

- ``clip_accumulated`` on several tensors (a per-tensor clip scales each by its own norm);
- ``GradientAccumulator(max_norm=...)`` over a drawn window (a clip after every micro-step
  shrinks the first micro-batches' share before the others are added).

Tolerance: a Euclidean norm of ``P`` entries meets at most ``P`` products, ``P`` additions and
a square root per tensor, then the same over the ``T`` tensor norms, so its relative error is
at most ``gamma(P + T + 4)``. The coefficient ``max_norm / ||g||`` adds one division and the
product ``g * c`` one multiplication: ``gamma(P + T + 6)`` relative to ``c |g|`` entrywise.
"""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.strategies import section_sizes
from efx.strategies.models import ModelSpec, model_specs
from efx.tolerance import gamma

F64 = torch.float64

# device and dtype hold one value per test item, so sharing them across Hypothesis's examples
# of that item is what the tests mean.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def clipped_by_definition(
    gradients: dict[str, torch.Tensor], max_norm: float
) -> tuple[dict[str, torch.Tensor], float, float]:
    """Return the float64 clipped gradients, the total norm and the coefficient min(1, max_norm / norm)."""
    exact = {name: g.detach().to(F64).cpu() for name, g in gradients.items()}
    norm = float(torch.sqrt(sum((g * g).sum() for g in exact.values())))
    coefficient = min(1.0, max_norm / norm)
    return {name: g * coefficient for name, g in exact.items()}, norm, coefficient


@st.composite
def gradient_dicts(draw: st.DrawFn, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Draw two to four nonzero tensors of small random shapes, keyed by name."""
    count = draw(st.integers(2, 4), label="tensors")
    shapes = draw(
        st.lists(
            st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple),
            min_size=count,
            max_size=count,
        ),
        label="shapes",
    )
    seed = draw(st.integers(0, 2**31 - 1), label="seed")
    generator = torch.Generator().manual_seed(seed)
    # Scales from 1e-2 to 1e2 give the tensors very different norms, as layers have.
    scales = draw(
        st.lists(st.sampled_from([1e-2, 1.0, 1e2]), min_size=count, max_size=count),
        label="scales",
    )
    return {
        f"g{index}": (scale * torch.randn(shape, generator=generator, dtype=F64)).to(dtype)
        for index, (shape, scale) in enumerate(zip(shapes, scales, strict=True))
    }


@pytest.mark.claim("ga.clip-once")
@fixed_fixtures
@given(data=st.data())
def test_clip_uses_total_norm(device, dtype, impl, data):
    gradients = {
        name: g.to(device) for name, g in data.draw(gradient_dicts(dtype), label="grads").items()
    }
    share = data.draw(st.floats(0.05, 0.95), label="max_norm / norm")
    _, norm, _ = clipped_by_definition(gradients, 1.0)
    max_norm = share * norm
    expected, _, coefficient = clipped_by_definition(gradients, max_norm)
    note(
        f"shapes={[tuple(g.shape) for g in gradients.values()]} norm={norm:.6g} c={coefficient:.6g}"
    )

    clipped, before = impl.clip_accumulated(gradients, max_norm)

    entries = sum(g.numel() for g in gradients.values())
    relative = gamma(entries + len(gradients) + 6, dtype)
    assert abs(before - norm) <= relative * norm
    assert set(clipped) == set(gradients)
    for name, g in gradients.items():
        # The bound of the module docstring, entrywise relative to c |g|.
        tolerance = relative * coefficient * g.detach().to(F64).cpu().abs()
        error = (clipped[name].to(F64).cpu() - expected[name]).abs()
        note(f"{name}: max error {float(error.max()):.3g}")
        assert bool((error <= tolerance).all()), f"{name} is not g * min(1, max_norm / ||g||)"


def sample_losses(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample MSE, averaged over output units: shape (samples,)."""
    return ((outputs - targets) ** 2).mean(dim=-1)


@pytest.mark.claim("ga.clip-once")
@fixed_fixtures
@given(data=st.data())
def test_accumulator_clips_window_once(device, dtype, impl, data):
    spec: ModelSpec = data.draw(model_specs(kinds=("mlp",)), label="model")
    n = data.draw(st.integers(2, 8), label="samples")
    sizes = data.draw(section_sizes(n), label="sizes")
    share = data.draw(st.floats(0.05, 0.95), label="max_norm / norm")
    generator = torch.Generator().manual_seed(spec.seed)
    inputs = torch.randn(n, spec.features, generator=generator, dtype=F64).to(dtype)
    targets = torch.randn(n, spec.outputs, generator=generator, dtype=F64).to(dtype)
    model = spec.build(dtype, device)
    model64 = copy.deepcopy(model).to(F64).cpu()

    # The full-batch gradient in float64, and per tensor the scale max(sum_i |g_i|) / n.
    named = list(model64.named_parameters())
    per_sample = [
        torch.autograd.grad(
            sample_losses(model64(inputs[i : i + 1].double()), targets[i : i + 1].double()).sum(),
            [p for _, p in named],
        )
        for i in range(n)
    ]
    full = {name: sum(g[t] for g in per_sample) / n for t, (name, _) in enumerate(named)}
    scale = {
        name: float(sum(g[t].abs() for g in per_sample).max()) / n
        for t, (name, _) in enumerate(named)
    }
    _, norm, _ = clipped_by_definition(full, 1.0)
    max_norm = share * norm
    expected, _, coefficient = clipped_by_definition(full, max_norm)
    note(f"spec={spec} sizes={sizes} norm={norm:.6g} c={coefficient:.6g}")

    accumulator = impl.GradientAccumulator(model.parameters(), max_norm=max_norm)
    window = list(
        zip(
            inputs.to(device).split(list(sizes)), targets.to(device).split(list(sizes)), strict=True
        )
    )
    accumulator.begin(window)
    for x, y in window:
        accumulator.backward(sample_losses(model(x), y))
    before = accumulator.step()

    # Accumulated entries differ from the float64 reference by at most E (the bound of
    # verify/test_accumulation.py: a rounding chain of depth + n operations on the scale).
    depth = spec.rounding_depth() + n
    entry_error = {name: (gamma(depth, dtype) + gamma(depth, F64)) * scale[name] for name in full}
    entries = sum(g.numel() for g in full.values())
    distance = sum(e * e * full[name].numel() for name, e in entry_error.items()) ** 0.5
    # ||g_acc|| is within `distance` of ||g||, and its computation adds gamma(P + T + 6).
    relative = distance / (norm - distance) + gamma(entries + len(full) + 6, dtype)
    assert before is not None
    assert abs(before - norm) <= distance + relative * norm
    for name, parameter in model.named_parameters():
        tolerance = entry_error[name] + 2 * relative * coefficient * full[name].abs()
        error = (parameter.grad.to(F64).cpu() - expected[name]).abs()
        note(f"{name}: max error {float(error.max()):.3g}")
        assert bool((error <= tolerance).all()), f"{name}: not the window's gradient clipped once"
