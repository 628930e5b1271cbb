"""Gradient accumulation through normalisation layers, run on torch modules.

Accumulation here is what a training loop does: run each section, weight its mean loss by
``q_j / n``, sum the gradients. Train-mode BatchNorm makes the result differ from the full
batch, and Hypothesis must find such an input. Per-sample normalisations and eval-mode
BatchNorm keep it equal. The accumulated gradient is the full-batch gradient of ghost batch
normalisation over the sections.

Tolerance: two float computations of one real gradient sum the same terms (per-sample or
per-section gradients) in different orders, each term the end of a chain of at most
``depth`` roundings. Each entry then differs by at most ``2 gamma(depth + n)`` times the
largest summed absolute term over all parameter tensors, measured in float64. The bound is
normwise, not per tensor, because a tensor whose terms cancel inside each term, like
BatchNorm's weight gradient ``sum_i g_i xhat_i``, still carries rounding at the scale of the
gradients it is computed from.
"""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, Phase, find, given, note, settings
from hypothesis import strategies as st
from torch import nn

from efx.claims.ga_batchnorm import (
    SIGN_FLIP_EPS,
    SIGN_FLIP_FULL_OUTPUTS,
    SIGN_FLIP_GRADIENTS,
    SIGN_FLIP_SECTION_OUTPUTS,
)
from efx.normalization_bounds import output_error_bound
from efx.proofs.ga_batchnorm_backward import eps as eps_symbol
from efx.proofs.ga_batchnorm_forward import SIGN_FLIP_SIZES, SIGN_FLIP_VALUES, head_weight_gradient
from efx.strategies import section_sizes
from efx.strategies.normalization import NormModelSpec, norm_model_specs
from efx.tolerance import gamma

# device and dtype are fixed per test item, so sharing them across examples is intended.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

PER_SAMPLE_KINDS = ("batch-eval", "layer", "group", "instance")


def sample_losses(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return ((outputs - targets) ** 2).sum(dim=-1)


def accumulated_gradients(model: nn.Module, inputs, targets, sizes) -> list[torch.Tensor]:
    """Sum over sections of the gradient of ``(q_j / n) * mean loss of section j``."""
    params = list(model.parameters())
    total = [torch.zeros_like(p) for p in params]
    n = inputs.shape[0]
    for x, y in zip(
        torch.split(inputs, list(sizes)), torch.split(targets, list(sizes)), strict=True
    ):
        loss = sample_losses(model(x), y).mean() * (x.shape[0] / n)
        for acc, g in zip(total, torch.autograd.grad(loss, params), strict=True):
            acc += g
    return total


def rounding_depth(spec: NormModelSpec) -> int:
    """Bound the chained roundings behind one gradient term of a :class:`NormModelSpec` model.

    Forward: the 1x1 convolution (inputs terms), the normalisation's sums over at most
    channels x length values plus about 6 more operations, tanh, the mean over length, the
    head (channels terms) and the squared error. The backward pass retraces the same chain,
    and the weight gradients sum over the length positions.
    """
    forward = spec.inputs + spec.channels * spec.length + 6 + 1 + spec.length + spec.channels + 2
    return 2 * forward + spec.length


def term_scale(terms: list[list[torch.Tensor]]) -> float:
    """Return the largest entry of the summed absolute gradient terms, over every parameter tensor."""
    return max(float(sum(t[i].abs() for t in terms).max()) for i in range(len(terms[0])))


def assert_gradients_within(actual, expected, scale, depth, n, dtype, what):
    tolerance = 2 * gamma(depth + n, dtype) * scale
    for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
        error = float((a.double() - e.double()).abs().max())
        note(f"{what}, parameter {index}: error {error:.3g}, tolerance {tolerance:.3g}")
        assert error <= tolerance, (
            f"{what}, parameter {index}: error {error:.3g} > tolerance {tolerance:.3g}"
        )


def draw_data(data, spec: NormModelSpec, max_samples: int = 6):
    n = data.draw(st.integers(1, max_samples), label="samples")
    sizes = data.draw(section_sizes(n), label="sizes")
    seed = data.draw(st.integers(0, 2**32 - 1), label="data seed")
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, spec.inputs, spec.length, generator=generator, dtype=torch.float64)
    targets = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    return sizes, inputs, targets


@pytest.mark.claim("bn.exact-alternatives")
@fixed_fixtures
@given(data=st.data())
def test_per_sample_normalisation_accumulates_exactly(data, device, dtype):
    spec = data.draw(norm_model_specs(PER_SAMPLE_KINDS), label="model")
    sizes, inputs, targets = draw_data(data, spec)
    model = spec.build(dtype, device)
    x, y = inputs.to(dtype=dtype, device=device), targets.to(dtype=dtype, device=device)
    note(f"spec={spec}, sizes={sizes}")

    accumulated = accumulated_gradients(model, x, y, sizes)
    full = accumulated_gradients(model, x, y, (x.shape[0],))

    n = x.shape[0]
    per_sample = section_terms(model, x, y, (1,) * n)
    assert_gradients_within(
        accumulated, full, term_scale(per_sample), rounding_depth(spec), n, dtype, spec.kind
    )


@pytest.mark.claim("bn.exact-alternatives")
def test_eval_batchnorm_keeps_its_buffers(device, dtype):
    spec = NormModelSpec("batch-eval", inputs=2, channels=4, length=3, seed=5)
    model = spec.build(dtype, device)
    before = {name: b.clone() for name, b in model.named_buffers()}

    accumulated_gradients(
        model,
        torch.randn(5, 2, 3, dtype=dtype, device=device),
        torch.zeros(5, 1, dtype=dtype, device=device),
        (2, 3),
    )

    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, before[name]), f"eval mode changed {name}"


def section_terms(model, inputs, targets, sizes) -> list[list[torch.Tensor]]:
    """Return the float64 gradient terms ``(q_j / n) grad L_j`` that accumulation sums."""
    model64 = copy.deepcopy(model).to(torch.float64)
    n = inputs.shape[0]
    parts = zip(torch.split(inputs, list(sizes)), torch.split(targets, list(sizes)), strict=True)
    return [
        [
            g * (x.shape[0] / n)
            for g in accumulated_gradients(model64, x.double(), y.double(), (x.shape[0],))
        ]
        for x, y in parts
    ]


def leaves_bound(model, inputs, targets, sizes, spec, dtype) -> bool:
    """Return True when the accumulated gradient leaves the rounding bound of the full-batch one."""
    accumulated = accumulated_gradients(model, inputs, targets, sizes)
    full = accumulated_gradients(model, inputs, targets, (inputs.shape[0],))
    terms = section_terms(model, inputs, targets, sizes) + section_terms(
        model, inputs, targets, (inputs.shape[0],)
    )
    tolerance = 2 * gamma(rounding_depth(spec) + inputs.shape[0], dtype) * term_scale(terms)
    return any(
        float((a.double() - f.double()).abs().max()) > tolerance
        for a, f in zip(accumulated, full, strict=True)
    )


@pytest.mark.claim("bn.group-dependence")
def test_train_batchnorm_accumulation_differs(device, dtype):
    spec = NormModelSpec("batch-train", inputs=2, channels=2, length=2, seed=3)
    model = spec.build(dtype, device)

    @st.composite
    def batches(draw):
        n = draw(st.integers(2, 6), label="samples")
        sizes = draw(section_sizes(n), label="sizes")
        values = draw(st.lists(st.floats(-3, 3), min_size=n * 4, max_size=n * 4), label="values")
        inputs = (
            torch.tensor(values, dtype=torch.float64)
            .reshape(n, 2, 2)
            .to(dtype=dtype, device=device)
        )
        return sizes, inputs

    def differs(example) -> bool:
        sizes, inputs = example
        targets = torch.ones(inputs.shape[0], 1, dtype=dtype, device=device)
        return leaves_bound(model, inputs, targets, sizes, spec, dtype)

    # Hypothesis must find a batch and a split whose accumulated gradient leaves the bound. The
    # first one found is enough, so shrinking (many more gradient evaluations) is skipped.
    example = find(
        batches(),
        differs,
        settings=settings(
            database=None, max_examples=50, derandomize=True, phases=[Phase.generate]
        ),
    )
    assert len(example[0]) >= 2, f"one section {example[0]} cannot differ from the full batch"


class GhostBatchNorm(nn.Module):
    """A BatchNorm layer that normalises each section of a batch with that section's statistics."""

    def __init__(self, layer: nn.BatchNorm1d, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.layer, self.sizes = layer, sizes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, list(self.sizes))
        return torch.cat(
            [
                torch.nn.functional.batch_norm(
                    p, None, None, self.layer.weight, self.layer.bias, True, 0.0, self.layer.eps
                )
                for p in parts
            ]
        )


@pytest.mark.claim("bn.ghost-equivalence")
@fixed_fixtures
@given(data=st.data())
def test_accumulation_trains_ghost_batchnorm(data, device, dtype):
    spec = data.draw(norm_model_specs(("batch-train",)), label="model")
    sizes, inputs, targets = draw_data(data, spec)
    model = spec.build(dtype, device)
    ghost = copy.deepcopy(model)
    ghost[1] = GhostBatchNorm(ghost[1], sizes)
    x, y = inputs.to(dtype=dtype, device=device), targets.to(dtype=dtype, device=device)
    note(f"spec={spec}, sizes={sizes}")

    accumulated = accumulated_gradients(model, x, y, sizes)
    ghost_full = accumulated_gradients(ghost, x, y, (x.shape[0],))

    scale = term_scale(section_terms(model, x, y, sizes))
    assert_gradients_within(
        accumulated, ghost_full, scale, rounding_depth(spec), x.shape[0], dtype, "ghost"
    )


@pytest.mark.claim("bn.sign-flip")
def test_sign_flip_in_torch(device, dtype):
    x = torch.tensor(SIGN_FLIP_VALUES, dtype=dtype, device=device).reshape(4, 1)
    c = torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=dtype, device=device)

    def head_gradient(sizes, normalise=True):
        w = torch.ones((), dtype=dtype, device=device, requires_grad=True)
        total, outputs = torch.zeros((), dtype=dtype, device=device), []
        for part, weights in zip(
            torch.split(x, list(sizes)), torch.split(c, list(sizes)), strict=True
        ):
            z = (
                torch.nn.functional.batch_norm(part, None, None, training=True, eps=SIGN_FLIP_EPS)
                if normalise
                else part
            )
            outputs.append(z.detach().flatten())
            loss = (weights * w * z.flatten()).mean() * (part.shape[0] / 4)
            total = total + torch.autograd.grad(loss, w)[0]
        return total.item(), torch.cat(outputs)

    full, full_outputs = head_gradient((4,))
    accumulated, section_outputs = head_gradient(SIGN_FLIP_SIZES)
    exact = [
        float(head_weight_gradient(sizes).subs(eps_symbol, SIGN_FLIP_EPS))
        for sizes in ((4,), SIGN_FLIP_SIZES)
    ]

    # dL/dw = (1/4) sum_i c_i xhat_i: the outputs' bounds weighted by |c_i| / 4, plus the 4-term sum.
    for value, outputs, sizes, expected in (
        (full, full_outputs, (4,), exact[0]),
        (accumulated, section_outputs, SIGN_FLIP_SIZES, exact[1]),
    ):
        bound = output_error_bound(x, sizes, eps=SIGN_FLIP_EPS).flatten()
        tolerance = float((c.abs().double() * bound).sum() / 4) + gamma(4, dtype) * float(
            (c * outputs).abs().sum() / 4
        )
        assert value == pytest.approx(expected, abs=tolerance)
    assert full < 0 < accumulated
    assert tuple(round(v, 3) for v in full_outputs.tolist()) == SIGN_FLIP_FULL_OUTPUTS
    assert tuple(round(v, 3) for v in section_outputs.tolist()) == SIGN_FLIP_SECTION_OUTPUTS
    assert (round(full, 3), round(accumulated, 3)) == SIGN_FLIP_GRADIENTS[:2]
    assert (
        head_gradient((4,), False)[0]
        == head_gradient(SIGN_FLIP_SIZES, False)[0]
        == SIGN_FLIP_GRADIENTS[2]
    )
