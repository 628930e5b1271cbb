"""Worked examples of ga-division: each number a claim states, computed exactly and in torch.

Exact values come from rationals (fractions.Fraction) or sympy. The torch computations run in
float64, through the implementation under test where it has the function, and match the
exact values within a summation bound.
"""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest
import sympy
import torch

from efx.accumulation.estimators import (
    clipping_strategies,
    full_batch_mean,
    mean_of_section_means,
    norm,
    sum_over_count,
)
from efx.tolerance import gamma, summation_bound

F64 = torch.float64


def abs_term_sums(params, per_sample_losses) -> list[torch.Tensor]:
    """Return, per parameter, the sum over samples of |gradient of that sample's loss|."""
    sums = [torch.zeros_like(p) for p in params]
    for loss in per_sample_losses:
        for total, g in zip(
            sums, torch.autograd.grad(loss, params, retain_graph=True), strict=True
        ):
            total += g.abs()
    return sums


def close(value: float, exact: Fraction | sympy.Expr, terms: int) -> bool:
    # A float64 value computed with `terms` roundings of numbers of size about |exact|.
    return abs(value - float(exact)) <= gamma(terms, F64) * max(1.0, abs(float(exact)))


@pytest.mark.claim("ga.loss-identity")
def test_overlapping_bounds_count_samples_twice():
    # Section bounds (j-1)q ... (j-1)q+q hold q+1 indices, start at the non-existent sample 0
    # and share sample jq with the next section; the correct bounds (j-1)q+1 ... jq do not.
    m, q = 2, 2
    wrong = [set(range((j - 1) * q, (j - 1) * q + q + 1)) for j in range(1, m + 1)]
    right = [set(range((j - 1) * q + 1, j * q + 1)) for j in range(1, m + 1)]

    assert [len(s) for s in wrong] == [q + 1] * m
    assert wrong[0] & wrong[1] == {q}
    assert 0 in wrong[0]
    assert set().union(*right) == set(range(1, m * q + 1))
    assert right[0].isdisjoint(right[1])

    losses = sympy.symbols("l0:5")  # l0 stands for the sample 0 that the wrong bounds name
    full = sum(losses[1:]) / (m * q)
    with_wrong = sum(sum(losses[i] for i in s) / q for s in wrong) / m
    with_right = sum(sum(losses[i] for i in s) / q for s in right) / m
    assert sympy.expand(with_right - full) == 0
    assert sympy.expand(with_wrong - full) == losses[0] / 4 + losses[2] / 4


@pytest.mark.claim("ga.token-normaliser")
def test_token_example_numbers(impl):
    # Sample 1: 10 valid tokens of loss 2; sample 2: 100 valid tokens of loss 1; padded to 100.
    mask = torch.zeros(2, 100, dtype=torch.bool)
    mask[0, :10] = True
    mask[1, :] = True
    losses = torch.where(torch.arange(2).unsqueeze(1) == 0, 2.0, 1.0).to(F64).expand(2, 100)
    window = [(torch.zeros(1, 1), torch.zeros(1, 100), mask[k : k + 1]) for k in range(2)]

    naive = sum(float(losses[k][mask[k]].mean()) for k in range(2)) / 2
    total = impl.window_normaliser(window, "tokens")
    correct = float(losses[mask].sum()) / total

    exact_naive = mean_of_section_means([[2] * 10, [1] * 100])
    exact_full = full_batch_mean([[2] * 10, [1] * 100])
    assert (exact_naive, exact_full) == (Fraction(3, 2), Fraction(12, 11))
    assert total == 110
    assert close(naive, exact_naive, 110)
    assert close(correct, exact_full, 110)
    assert abs(correct - naive) > 0.4  # the naive mean is far off, not a rounding difference


@pytest.mark.claim("ga.partial-window")
def test_partial_window_numbers():
    sections = [[1, 2, 3], [10, 20]]

    assert mean_of_section_means(sections, divisor=4) == Fraction(17, 4)
    assert mean_of_section_means(sections) == Fraction(17, 2)
    assert sum_over_count(sections, divisor=4) == 9
    assert sum_over_count(sections, divisor=5) == full_batch_mean(sections) == Fraction(36, 5)


@pytest.mark.claim("ga.partial-window")
def test_accumulator_partial_window_matches_full_batch(device, impl):
    # A window configured for 4 micro-batches of 3 samples that ends after 2 (3 and 2 samples).
    torch.manual_seed(0)
    model = (
        torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
        .to(F64)
        .to(device)
    )
    reference = copy.deepcopy(model)
    inputs = torch.randn(5, 3, dtype=F64, device=device)
    targets = torch.randn(5, dtype=F64, device=device)
    window = [(inputs[:3], targets[:3]), (inputs[3:], targets[3:])]

    def losses_of(net, x, y):
        return (net(x).squeeze(-1) - y) ** 2

    accumulator = impl.GradientAccumulator(model.parameters())
    assert accumulator.begin(window) == 5
    for x, y in window:
        accumulator.backward(losses_of(model, x, y))
    accumulator.step()
    losses_of(reference, inputs, targets).mean().backward()

    magnitudes = abs_term_sums(
        list(reference.parameters()), losses_of(reference, inputs, targets) / 5
    )
    for p, r, magnitude in zip(model.parameters(), reference.parameters(), magnitudes, strict=True):
        # Both sum the same 5 per-sample terms in different orders. Each term comes from a
        # forward and backward chain of at most 3 + 4 + 4 products and sums, and 8 more roundings.
        bound = summation_bound(float(magnitude.max()), 5 + 3 + 4 + 4 + 8, F64)
        assert float((p.grad - r.grad).abs().max()) <= bound
    # The configured count (4 micro-batches) would scale the gradient by 2/4: visibly different.
    assert float((model[0].weight.grad * 2 / 4 - reference[0].weight.grad).abs().max()) > 1e-3


@pytest.mark.claim("ga.clip-once")
def test_clipping_numbers(impl):
    exact = clipping_strategies([[3, 0], [0, 1]], max_norm=1)
    sqrt5, sqrt10 = sympy.sqrt(5), sympy.sqrt(10)

    assert sympy.simplify(exact["once"] - sympy.Matrix([3, 1]) / sqrt10) == sympy.zeros(2, 1)
    assert sympy.simplify(exact["running"] - sympy.Matrix([2, 1]) / sqrt5) == sympy.zeros(2, 1)
    assert exact["each"] == sympy.Matrix([1, sympy.Rational(1, 2)])
    assert sympy.simplify(norm(exact["each"]) - sqrt5 / 2) == 0
    assert norm(exact["each"]) > 1

    g1, g2 = torch.tensor([3.0, 0.0], dtype=F64), torch.tensor([0.0, 1.0], dtype=F64)
    clipped, before = impl.clip_accumulated({"w": (g1 + g2) / 2}, max_norm=1.0)
    assert close(before, sympy.sqrt(sympy.Rational(5, 2)), 4)
    for value, target in zip(clipped["w"].tolist(), exact["once"], strict=True):
        assert close(value, target, 8)


@pytest.mark.claim("ga.reduction")
def test_sum_reduction_scales_gradient_by_n_over_m(device):
    torch.manual_seed(1)
    model = torch.nn.Linear(3, 1).to(F64).to(device)
    inputs, targets = (
        torch.randn(6, 3, dtype=F64, device=device),
        torch.randn(6, dtype=F64, device=device),
    )
    params = list(model.parameters())

    def losses(x, y):
        return (model(x).squeeze(-1) - y) ** 2

    full = torch.autograd.grad(losses(inputs, targets).mean(), params)
    m = 3
    summed_over_m = [torch.zeros_like(p) for p in params]
    for x, y in zip(inputs.split(2), targets.split(2), strict=True):
        for acc, g in zip(
            summed_over_m, torch.autograd.grad(losses(x, y).sum() / m, params), strict=True
        ):
            acc += g
    magnitudes = abs_term_sums(params, losses(inputs, targets) / m)
    for g, f, magnitude in zip(summed_over_m, full, magnitudes, strict=True):
        # Sums of the same 6 per-sample terms (inner products of 3 + 1 terms each); the factor
        # n/m = 2 is exact.
        bound = 2 * summation_bound(float(magnitude.max()), 6 + 3 + 1 + 4, F64)
        assert float((g - (6 / m) * f).abs().max()) <= bound
        assert float((g - f).abs().max()) > 1e-3


@pytest.mark.claim("ga.reduction")
def test_batch_mean_loss_does_not_split():
    # L = (mean residual)^2 is not a sum of per-sample terms.
    r = [1, 1, -1, -1]
    sections = [r[:2], r[2:]]
    full = full_batch_mean([r]) ** 2
    per_section = sum((full_batch_mean([s]) ** 2 for s in sections), Fraction(0)) / 2

    assert full == 0
    assert per_section == 1
    tensor = torch.tensor(r, dtype=F64)
    assert float(tensor.mean() ** 2) == 0.0
    assert float(sum(part.mean() ** 2 for part in tensor.split(2)) / 2) == 1.0


def sgd_per_micro_step(w: Fraction, xs, ys, eta: Fraction) -> Fraction:
    # l_i(w) = (w x_i - y_i)^2 divided by m, one SGD step after each micro-batch of one sample.
    m = len(xs)
    for x, y in zip(xs, ys, strict=True):
        w -= eta * 2 * (w * x - y) * x / m
    return w


@pytest.mark.claim("ga.fixed-state")
def test_stepping_inside_window_changes_result(device):
    xs, ys, eta, w0 = [1, 2], [0, 0], Fraction(1, 10), Fraction(1)
    full_step = w0 - eta * sum(2 * (w0 * x - y) * x for x, y in zip(xs, ys, strict=True)) / len(xs)
    stepped = sgd_per_micro_step(w0, xs, ys, eta)

    assert full_step == Fraction(1, 2)
    assert stepped == Fraction(27, 50)

    w = torch.tensor(1.0, dtype=F64, device=device, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.1)
    for x, y in zip(xs, ys, strict=True):
        ((w * x - y) ** 2 / len(xs)).backward()
        optimizer.step()
        optimizer.zero_grad()
    assert close(float(w.detach()), stepped, 8)


class RunningCentre(torch.nn.Module):
    """Subtracts a buffer that each training forward pass moves towards the batch mean."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor(1.0, dtype=F64))
        self.register_buffer("centre", torch.tensor(0.0, dtype=F64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.weight * (x - self.centre)
        with torch.no_grad():
            self.centre.mul_(0.5).add_(0.5 * x.mean())
        return out


@pytest.mark.claim("ga.fixed-state")
def test_buffer_updated_inside_window_changes_gradient(impl):
    x, y = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64), torch.zeros(4, dtype=F64)

    def loss_fn(out, target):
        return (out - target) ** 2

    accumulated = impl.accumulated_gradients(
        RunningCentre(), loss_fn, [(x[:2], y[:2]), (x[2:], y[2:])]
    )
    full = impl.accumulated_gradients(RunningCentre(), loss_fn, [(x, y)])
    # Exact: the full batch uses centre 0, so d/dw mean (w x)^2 = 2 mean(x^2) = 15. The second
    # micro-batch uses centre 3/4, set by the first micro-batch's forward pass.
    first = sum(2 * v * v for v in (1, 2)) / 4
    second = sum(2 * (v - Fraction(3, 4)) ** 2 for v in (3, 4)) / 4
    assert close(float(full["weight"]), Fraction(15), 8)
    assert close(float(accumulated["weight"]), first + second, 8)
    assert first + second != 15


@pytest.mark.claim("ga.float-order")
def test_float32_summation_order_changes_last_bit():
    losses = torch.tensor([1.0, 0.1, 0.2, 0.3], dtype=torch.float32)
    full = losses.sum() / 4
    accumulated = (losses[:2].sum() / 2 + losses[2:].sum() / 2) / 2

    assert full.item() != accumulated.item()
    ulp = torch.finfo(torch.float32).eps * 2 ** torch.floor(torch.log2(full.abs())).item()
    assert abs(full.item() - accumulated.item()) <= ulp
    # Both are within the summation bound of the exact mean.
    exact = float(full_batch_mean([[Fraction(float(v)) for v in losses.tolist()]]))
    bound = summation_bound(float(losses.abs().sum()) / 4, 4 + 3, torch.float32)
    assert abs(full.item() - exact) <= bound
    assert abs(accumulated.item() - exact) <= bound


def undivided_and_full_gradients(device, m: int = 3):
    """Return (sum of section-mean gradients without 1/m, full-batch gradient) on equal sections."""
    torch.manual_seed(2)
    model = torch.nn.Linear(2, 1).to(F64).to(device)
    inputs, targets = (
        torch.randn(3 * m, 2, dtype=F64, device=device),
        torch.randn(3 * m, dtype=F64, device=device),
    )
    params = list(model.parameters())

    def losses(x, y):
        return (model(x).squeeze(-1) - y) ** 2

    undivided = [torch.zeros_like(p) for p in params]
    for x, y in zip(inputs.split(3), targets.split(3), strict=True):
        for acc, g in zip(undivided, torch.autograd.grad(losses(x, y).mean(), params), strict=True):
            acc += g
    full = torch.autograd.grad(losses(inputs, targets).mean(), params)
    return model, undivided, list(full)


def step_from(model, gradients, optimizer_factory):
    """Return the parameters after one optimizer step with the given gradients, from a copy of model."""
    clone = copy.deepcopy(model)
    optimizer = optimizer_factory(list(clone.parameters()))
    for p, g in zip(clone.parameters(), gradients, strict=True):
        p.grad = g.clone()
    optimizer.step()
    return [p.detach() for p in clone.parameters()]


def max_difference(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


@pytest.mark.claim("ga.division-scale")
def test_undivided_gradient_in_sgd_and_adam(device):
    m = 3
    model, undivided, full = undivided_and_full_gradients(device, m)
    scale = max(float(g.abs().max()) for g in full) + max(
        float(p.detach().abs().max()) for p in model.parameters()
    )
    # Each update is a handful of float64 operations on numbers of size `scale`.
    bound = gamma(16, F64) * scale * m
    assert max_difference(undivided, [m * g for g in full]) <= bound

    # Plain SGD: undivided gradient with rate eta equals the full gradient with rate m * eta.
    sgd = step_from(model, undivided, lambda ps: torch.optim.SGD(ps, lr=0.1))
    sgd_m = step_from(model, full, lambda ps: torch.optim.SGD(ps, lr=0.1 * m))
    assert max_difference(sgd, sgd_m) <= bound

    # Coupled weight decay: the gap is (m - 1) * eta * lambda * theta.
    decay = step_from(model, undivided, lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.5))
    decay_m = step_from(model, full, lambda ps: torch.optim.SGD(ps, lr=0.1 * m, weight_decay=0.5))
    predicted = [(m - 1) * 0.1 * 0.5 * p.detach() for p in model.parameters()]
    assert max_difference([a - b for a, b in zip(decay, decay_m, strict=True)], predicted) <= bound
    assert max(float(p.abs().max()) for p in predicted) > 1e-2

    # Adam with eps = 0 does not see the scale; with a large eps it does.
    adam = step_from(model, undivided, lambda ps: torch.optim.Adam(ps, lr=0.1, eps=0.0))
    adam_full = step_from(model, full, lambda ps: torch.optim.Adam(ps, lr=0.1, eps=0.0))
    assert max_difference(adam, adam_full) <= bound
    eps = 0.1 * min(float(g.abs().min()) for g in full)
    adam_eps = step_from(model, undivided, lambda ps: torch.optim.Adam(ps, lr=0.1, eps=eps))
    adam_eps_full = step_from(model, full, lambda ps: torch.optim.Adam(ps, lr=0.1, eps=eps))
    assert max_difference(adam_eps, adam_eps_full) > 1e3 * bound


@pytest.mark.claim("ga.division-scale")
def test_undivided_gradient_meets_threshold_over_m(device, impl):
    m = 3
    _, undivided, full = undivided_and_full_gradients(device, m)
    threshold = 0.5 * float(torch.cat([g.flatten() for g in undivided]).norm())  # so clipping acts

    clipped, _ = impl.clip_accumulated(dict(enumerate(undivided)), threshold)
    clipped_true, _ = impl.clip_accumulated(dict(enumerate(full)), threshold / m)

    bound = gamma(16, F64) * threshold
    assert max_difference(list(clipped.values()), [m * g for g in clipped_true.values()]) <= bound


@pytest.mark.claim("ga.unequal-sections")
def test_unequal_sizes_example_and_error_formula():
    sections = [[4], [0, 0, 0]]
    naive, full = mean_of_section_means(sections), full_batch_mean(sections)

    assert (naive, full) == (2, 1)
    # The derived error sum_j (1/m - q_j/n) mu_j, evaluated on this example.
    n, m = 4, 2
    error = sum((Fraction(1, m) - Fraction(len(s), n)) * full_batch_mean([s]) for s in sections)
    assert naive - full == error
    # Weights q_j / n repair it.
    assert sum(Fraction(len(s), n) * full_batch_mean([s]) for s in sections) == full


@pytest.mark.claim("ga.gradient-identity")
def test_equal_values_do_not_give_equal_gradients():
    theta = sympy.Symbol("theta")
    f, g = theta, theta**2

    assert f.subs(theta, 1) == g.subs(theta, 1)
    assert (sympy.diff(f, theta).subs(theta, 1), sympy.diff(g, theta).subs(theta, 1)) == (1, 2)
