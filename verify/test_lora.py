"""LoRA's claims on torch tensors: initialisation, gradients, rank, parameters, scale, merge, SVD init.

Every check builds the layer through ``impl.LoRALinear(base, r, alpha, ...)`` and reads
``layer.base``, ``layer.lora_A`` and ``layer.lora_B``. References are computed in float64
from the layer's own (rounded) parameters. The scale is computed here from ``alpha`` and
``r`` and never read from the layer, so a wrong scale cannot pass.

Tolerances follow Higham's model (``efx.tolerance``): a computed sum of products whose terms
each meet at most ``k`` roundings is within ``gamma(k)`` times the sum of the absolute terms.
The counts come from the derivations of each claim. Where a count uses the scale, the
magnitudes use ``s (1 + u)``: an implementation may store ``s`` in the weights' dtype, which
rounds it once.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from torch import nn

from efx.devices import deterministic
from efx.strategies import spectral_matrices
from efx.strategies.adapters import LoRACase, lora_cases
from efx.tolerance import gamma, unit_roundoff

# impl is never the first argument of a @given test: Hypothesis probes the first argument with
# getattr, and the impl fixture skips the test on any unknown attribute.
# device and dtype are function-scoped but hold one constant value per test item, so sharing
# them across the generated examples of that item is what the test means.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

F64 = torch.float64


def build(impl, case: LoRACase, dtype, device, **options):
    """Return ``(original, layer)``: a copy of the base layer as it was, and the LoRA layer wrapping it."""
    base = case.base_layer(dtype, device)
    original = copy.deepcopy(base)
    layer = impl.LoRALinear(base, case.r, case.alpha, rslora=case.rslora, **options)
    return original, layer


def set_B(layer, B: torch.Tensor) -> None:
    with torch.no_grad():
        layer.lora_B.copy_(B)


def scale_bound(case: LoRACase, dtype: torch.dtype) -> float:
    """Return ``s (1 + u)``: an upper bound on the scale an implementation may use after storing it."""
    return case.scale * (1 + unit_roundoff(dtype))


def adapter_magnitude(X, W0, b, A, B, scale: float) -> torch.Tensor:
    """Return ``M = |X| (|W0| + s |B| |A|)^T + |b|`` in float64: the size of the output's terms."""
    X, W0, b, A, B = (t.to(F64) for t in (X, W0, b, A, B))
    return X.abs() @ (W0.abs() + scale * (B.abs() @ A.abs())).T + b.abs()


def reference_output(X, W0, b, A, B, scale: float) -> torch.Tensor:
    """Return ``X W0^T + b + s X A^T B^T`` in float64."""
    X, W0, b, A, B = (t.to(F64) for t in (X, W0, b, A, B))
    return X @ W0.T + b + scale * (X @ A.T) @ B.T


def svd_error_factor(rows: int, cols: int) -> int:
    """Return ``p(m, n)`` of LAPACK's SVD error bound ``p(m, n) eps sigma_1``.

    LAPACK Users' Guide (3rd ed., section 4.9) states the computed SVD is the exact SVD of
    ``W + E`` with ``||E||_2 <= p(m, n) eps ||W||_2`` and computed singular vectors within
    ``p(m, n) eps`` of orthonormal, where p is "a modestly growing function of m and n"
    with no stated constant.
    """
    # NOTE: p(m, n) = m n is an assumption, generous for the sizes drawn here (at most 8 x 8).
    return rows * cols


# lora.init-identity


@pytest.mark.claim("lora.init-identity")
@fixed_fixtures
@given(
    case=lora_cases(),
    init=st.sampled_from(["kaiming", "gaussian"]),
    dropout=st.sampled_from([0.0, 0.1, 0.5]),
    training=st.booleans(),
)
def test_init_output_equals_base(device, dtype, impl, case, init, dropout, training):
    note(f"case={case}, init={init}, dropout={dropout}, training={training}")
    original, layer = build(impl, case, dtype, device, init=init, dropout=dropout)
    layer.train(training)
    X = case.inputs(dtype, device)

    expected = original(X)
    actual = layer(X)

    assert torch.count_nonzero(layer.lora_B) == 0
    assert torch.count_nonzero(layer.lora_A) > 0
    # Equal values, not merely close: the adapter adds exact (signed) zeros.
    assert torch.equal(actual, expected)

    # Negative control: once B is nonzero the same comparison fails, so it is not vacuous.
    layer.eval()
    set_B(layer, case.trained_B(dtype, device))
    assert not torch.equal(layer(X), expected)


# lora.init-gradients


@pytest.mark.claim("lora.init-gradients")
@fixed_fixtures
@given(case=lora_cases(distinct_scale=True))
def test_init_gradients(device, dtype, impl, case):
    note(f"case={case}")
    _, layer = build(impl, case, dtype, device)
    X = case.inputs(dtype, device)
    G = case.upstream(dtype, device)

    layer(X).backward(G)
    grad_A, grad_B = layer.lora_A.grad, layer.lora_B.grad

    assert grad_A is not None
    assert torch.count_nonzero(grad_A) == 0
    assert grad_B is not None

    A = layer.lora_A.detach().to(F64)
    expected = case.scale * G.to(F64).T @ X.to(F64) @ A.T
    # Each term G_nj s x_ni A_ki meets d_in roundings in X A^T, one in s G (one more if s was
    # stored in the dtype) and N in the sum over the batch: k = d_in + N + 2. The float64
    # reference meets d_in + N + 1.
    terms = scale_bound(case, dtype) * G.to(F64).abs().T @ X.to(F64).abs() @ A.abs().T
    k = case.in_features + case.batch + 2
    tolerance = (gamma(k, dtype) + gamma(k, F64)) * terms
    error = (grad_B.to(F64) - expected).abs()
    note(f"largest error / tolerance: {float((error / tolerance.clamp_min(1e-300)).max()):.3g}")
    assert bool((error <= tolerance).all())
    assert torch.count_nonzero(grad_B) > 0
    # The gradient is nonzero beyond rounding, so training can start.
    assert bool((expected.abs() > tolerance).any())

    # Negative control: the gradient without the scale is caught (s != 1 here).
    assert bool(((expected / case.scale - expected).abs() > 2 * tolerance).any())


# lora.update-rank


@pytest.mark.claim("lora.update-rank")
@fixed_fixtures
@given(case=lora_cases(rank_below_min=True), data=st.data())
def test_merged_update_rank_at_most_r(device, dtype, impl, case, data):
    B = data.draw(spectral_matrices(rows=case.out_features, cols=case.r), label="B").W
    A = data.draw(spectral_matrices(rows=case.r, cols=case.in_features), label="A").W
    note(f"case={case}")
    _, layer = build(impl, case, dtype, device)
    layer.eval()
    with torch.no_grad():
        layer.lora_A.copy_(A.to(dtype=dtype, device=device))
        layer.lora_B.copy_(B.to(dtype=dtype, device=device))
    W0 = layer.base.weight.detach().clone()
    A, B = layer.lora_A.detach().to(F64), layer.lora_B.detach().to(F64)

    layer.merge()
    update = layer.base.weight.detach().to(F64) - W0.to(F64)
    singular_values = torch.linalg.svdvals(update.cpu())

    # update = s B A + E, where E contains the roundings of fl(BA) (r), of s (2) and of W0 + D (1),
    # plus one for this subtraction in float64: |E| <= gamma(r + 4) (|W0| + s |B||A|). By Weyl's
    # inequality sigma_{r+1}(update) <= ||E||_2 <= ||E||_F; svdvals adds its own p eps sigma_1.
    magnitude = W0.to(F64).abs() + scale_bound(case, dtype) * (B.abs() @ A.abs())
    p = svd_error_factor(case.out_features, case.in_features)
    tolerance = gamma(case.r + 4, dtype) * float(torch.linalg.matrix_norm(magnitude.cpu())) + (
        p * torch.finfo(F64).eps * float(singular_values[0])
    )
    note(f"singular values {singular_values.tolist()}, tolerance {tolerance:.3g}")
    assert float(singular_values[case.r]) <= tolerance

    # Negative control: an update of rank r + 1 at the same size is caught by the same test.
    generator = torch.Generator().manual_seed(case.seed)
    wider = torch.randn(case.out_features, case.r + 1, generator=generator, dtype=F64)
    taller = torch.randn(case.r + 1, case.in_features, generator=generator, dtype=F64)
    control = wider @ taller
    control *= float(torch.linalg.matrix_norm(magnitude.cpu())) / float(
        torch.linalg.matrix_norm(control)
    )
    assert float(torch.linalg.svdvals(control)[case.r]) > tolerance


# lora.parameter-count


@pytest.mark.claim("lora.parameter-count")
@fixed_fixtures
@given(case=lora_cases())
def test_trainable_parameter_count(device, impl, case):
    _, layer = build(impl, case, torch.float32, device)
    trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in layer.parameters() if not p.requires_grad)

    assert trainable == case.r * (case.in_features + case.out_features)
    assert impl.lora_parameter_count(case.in_features, case.out_features, case.r) == trainable
    assert frozen == case.in_features * case.out_features + case.out_features


@pytest.mark.claim("lora.parameter-count")
def test_wrapped_model_trains_only_adapters(device, impl):
    model = nn.Sequential(
        nn.Linear(12, 10), nn.Tanh(), nn.Linear(10, 6), nn.Tanh(), nn.Linear(6, 3)
    ).to(device)
    r = 2

    impl.wrap_linear_layers(model, ["0", "4"], r=r, alpha=4.0)
    trainable = {name: p.numel() for name, p in model.named_parameters() if p.requires_grad}

    assert sum(trainable.values()) == r * (12 + 10) + r * (6 + 3)
    assert all(name.startswith(("0.", "4.")) for name in trainable)


# lora.scale


@pytest.mark.claim("lora.scale")
@fixed_fixtures
@given(case=lora_cases(distinct_scale=True))
def test_output_uses_alpha_over_r(device, dtype, impl, case):
    note(f"case={case}, scale={case.scale}")
    original, layer = build(impl, case, dtype, device)
    layer.eval()
    set_B(layer, case.trained_B(dtype, device))
    X = case.inputs(dtype, device)
    parameters = (
        X,
        original.weight.detach(),
        original.bias.detach(),
        layer.lora_A.detach(),
        layer.lora_B.detach(),
    )

    actual = layer(X).detach().to(F64)
    expected = reference_output(*parameters, case.scale)

    # A term meets d_in + r + 2 roundings in the layer, plus one if s is stored in the dtype.
    # The float64 reference meets d_in + r + 2.
    k = case.in_features + case.r + 2
    magnitude = adapter_magnitude(*parameters, scale_bound(case, dtype))
    tolerance = (gamma(k + 1, dtype) + gamma(k, F64)) * magnitude
    assert bool(((actual - expected).abs() <= tolerance).all())

    # Negative controls: a layer using alpha, 1 or the other rule's scale would fail this check.
    other_rule = case.alpha / case.r if case.rslora else case.alpha / math.sqrt(case.r)
    for wrong in (case.alpha, 1.0, other_rule):
        wrong_output = reference_output(*parameters, wrong)
        assert bool(((wrong_output - expected).abs() > 2 * tolerance).any()), (
            f"scale {wrong} is not caught"
        )


# lora.merge-equivalence


@pytest.mark.claim("lora.merge-equivalence")
@fixed_fixtures
@given(case=lora_cases(), dropout=st.sampled_from([0.0, 0.3]))
def test_merge_keeps_eval_outputs(device, dtype, impl, case, dropout):
    note(f"case={case}, dropout={dropout}")
    original, layer = build(impl, case, dtype, device, dropout=dropout)
    layer.eval()
    set_B(layer, case.trained_B(dtype, device))
    X = case.inputs(dtype, device)
    parameters = (
        X,
        original.weight.detach(),
        original.bias.detach(),
        layer.lora_A.detach(),
        layer.lora_B.detach(),
    )
    unmerged = layer(X).detach()

    layer.merge()
    merged = layer(X).detach()

    magnitude = adapter_magnitude(*parameters, scale_bound(case, dtype))
    tolerance = 2 * gamma(case.in_features + case.r + 3, dtype) * magnitude
    assert bool(((merged.to(F64) - unmerged.to(F64)).abs() <= tolerance).all())

    # Negative control: dropping the update moves the output beyond the bound. A drawn update
    # that cancels to within rounding on every output cannot show this; such an example is
    # discarded (Hypothesis fails the test if too many are).
    base_only = original(X).detach().to(F64)
    assume(bool(((unmerged.to(F64) - base_only).abs() > tolerance).any()))


@pytest.mark.claim("lora.merge-equivalence")
@pytest.mark.parametrize("dtype", [torch.float32], ids=["float32"])
def test_merge_in_training_mode_changes_outputs(device, dtype, impl):
    case = LoRACase(
        in_features=16,
        out_features=12,
        r=4,
        alpha=8.0,
        rslora=False,
        batch=8,
        magnitude=1.0,
        seed=7,
    )
    original, layer = build(impl, case, dtype, device, dropout=0.5)
    set_B(layer, case.trained_B(dtype, device))
    X = case.inputs(dtype, device)
    parameters = (
        X,
        original.weight.detach(),
        original.bias.detach(),
        layer.lora_A.detach(),
        layer.lora_B.detach(),
    )

    layer.train()
    torch.manual_seed(0)
    unmerged = layer(X).detach()
    layer.eval()
    layer.merge()
    layer.train()
    torch.manual_seed(0)
    merged = layer(X).detach()

    # With half the inputs dropped on the adapter path, the outputs differ far beyond rounding.
    tolerance = (
        2
        * gamma(case.in_features + case.r + 3, dtype)
        * adapter_magnitude(*parameters, scale_bound(case, dtype))
    )
    assert bool(((merged.to(F64) - unmerged.to(F64)).abs() > tolerance).any())


# lora.unmerge-restores


@pytest.mark.claim("lora.unmerge-restores")
@fixed_fixtures
@given(case=lora_cases())
def test_unmerge_restores_weight(device, dtype, impl, case):
    note(f"case={case}")
    _, layer = build(impl, case, dtype, device)
    layer.eval()
    set_B(layer, case.trained_B(dtype, device))
    before = {name: tensor.detach().clone() for name, tensor in layer.state_dict().items()}
    W0 = before["base.weight"].to(F64)
    A, B = layer.lora_A.detach().to(F64), layer.lora_B.detach().to(F64)

    # Unmerge recomputes s B A, which must give the same bits as in merge: on CUDA that needs
    # deterministic kernels. CPU kernels are deterministic already, and torch's switch costs
    # seconds on its first use there.
    with deterministic() if device.type == "cuda" else contextlib.nullcontext():
        layer.merge()
        merged = layer.base.weight.detach().to(F64, copy=True)
        layer.unmerge()
    restored = layer.base.weight.detach().to(F64)

    # |restored - W0| <= gamma_2 (|W0| + |D|) with |D| <= (1 + gamma_{r+1}) s |B||A|.
    update = (1 + gamma(case.r + 1, dtype)) * scale_bound(case, dtype) * (B.abs() @ A.abs())
    tolerance = gamma(2, dtype) * (W0.abs() + update)
    note(
        f"largest error / tolerance: {float(((restored - W0).abs() / tolerance.clamp_min(1e-300)).max()):.3g}"
    )
    assert bool(((restored - W0).abs() <= tolerance).all())
    for name in ("base.bias", "lora_A", "lora_B"):
        assert torch.equal(layer.state_dict()[name], before[name]), name

    # Negative control: the merge did change the weight beyond the bound.
    assert bool(((merged - W0).abs() > tolerance).any())


# lora.merge-state


@pytest.mark.claim("lora.merge-state")
@fixed_fixtures
@given(case=lora_cases())
def test_merge_state_errors_change_nothing(device, impl, case):
    _, layer = build(impl, case, torch.float32, device)
    layer.eval()
    set_B(layer, case.trained_B(torch.float32, device))
    fresh = {name: tensor.detach().clone() for name, tensor in layer.state_dict().items()}

    with pytest.raises(impl.LoRAStateError):
        layer.unmerge()
    assert all(torch.equal(layer.state_dict()[name], value) for name, value in fresh.items())

    layer.merge()
    merged = {name: tensor.detach().clone() for name, tensor in layer.state_dict().items()}
    with pytest.raises(impl.LoRAStateError):
        layer.merge()
    assert all(torch.equal(layer.state_dict()[name], value) for name, value in merged.items())
    # Negative control: the successful merge did change the weight.
    assert not torch.equal(merged["base.weight"], fresh["base.weight"])


# lora.svd-init


def build_from_spectrum(impl, case: LoRACase, W: torch.Tensor, dtype, device):
    base = case.base_layer(dtype, device)
    with torch.no_grad():
        base.weight.copy_(W.to(dtype=dtype, device=device))
    original = copy.deepcopy(base)
    # A weight of numerical rank below r legitimately warns (those factor columns never train);
    # the warning is tested in tests/test_lora.py, here only the arithmetic is.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        layer = impl.LoRALinear(base, case.r, case.alpha, rslora=case.rslora, init="svd")
    return original, layer.eval()


@pytest.mark.claim("lora.svd-init")
@fixed_fixtures
@given(case=lora_cases(), data=st.data())
def test_svd_init_keeps_output(device, dtype, impl, case, data):
    drawn = data.draw(spectral_matrices(rows=case.out_features, cols=case.in_features), label="W0")
    note(f"case={case}, spectrum kind={drawn.kind}, sigma={drawn.sigma.tolist()}")
    original, layer = build_from_spectrum(impl, case, drawn.W, dtype, device)
    X = case.inputs(dtype, device)

    before = original(X).detach().to(F64)
    after = layer(X).detach().to(F64)

    residual = layer.base.weight.detach().to(F64)
    A, B = layer.lora_A.detach().to(F64), layer.lora_B.detach().to(F64)
    X64, W0 = X.to(F64), original.weight.detach().to(F64)
    magnitude = (
        X64.abs() @ (W0.abs() + residual.abs() + scale_bound(case, dtype) * (B.abs() @ A.abs())).T
    )
    magnitude += original.bias.detach().to(F64).abs()
    tolerance = gamma(2 * (case.in_features + case.r + 2), dtype) * magnitude
    assert bool(((after - before).abs() <= tolerance).all())

    # Negative control: the frozen residual alone computes a different function unless W0 = 0,
    # so an init that forgot the factors' share, or the residual, would be caught.
    if drawn.rank > 0:
        residual_only = layer.base(X).detach().to(F64)
        assert bool(((residual_only - before).abs() > tolerance).any())


@pytest.mark.claim("lora.svd-init")
@fixed_fixtures
@given(case=lora_cases(), data=st.data())
def test_svd_init_takes_principal_part(device, dtype, impl, case, data):
    drawn = data.draw(spectral_matrices(rows=case.out_features, cols=case.in_features), label="W0")
    note(f"case={case}, spectrum kind={drawn.kind}")
    original, layer = build_from_spectrum(impl, case, drawn.W, dtype, device)
    rows, cols, r = case.out_features, case.in_features, case.r

    reference = torch.linalg.svdvals(original.weight.detach().to(F64).cpu())
    A, B = layer.lora_A.detach().to(F64).cpu(), layer.lora_B.detach().to(F64).cpu()
    principal = torch.linalg.svdvals(case.scale * B @ A)
    residual = torch.linalg.svdvals(layer.base.weight.detach().to(F64).cpu())

    # Each term is a unit roundoff times an operation count times sigma_1:
    # the SVD in the dtype (backward error, and U, V within p eps of orthonormal: 3 p eps),
    # forming B and A (a division, a square root and a product per entry, and one rounding of s
    # if it is stored in the dtype; r terms: gamma_7 r),
    # the residual's fl(s fl(BA)) and subtraction (gamma_{r+1} r + u sqrt(m n)), and this
    # check's own float64 product and SVDs (gamma_{r+1} r + 2 p eps in float64).
    p = svd_error_factor(rows, cols)
    sigma_1 = float(reference[0])
    eps, eps64 = torch.finfo(dtype).eps, torch.finfo(F64).eps
    tolerance = sigma_1 * (
        3 * p * eps
        + gamma(7, dtype) * r
        + gamma(r + 1, dtype) * r
        + unit_roundoff(dtype) * math.sqrt(p)
        + gamma(r + 1, F64) * r
        + 2 * p * eps64
    )
    note(
        f"reference {reference.tolist()}, principal {principal.tolist()}, residual {residual.tolist()}"
    )
    tail = torch.cat([reference[r:], torch.zeros(r, dtype=F64)])
    assert bool(((principal[:r] - reference[:r]).abs() <= tolerance).all())
    assert bool(((residual - tail).abs() <= tolerance).all())

    # Negative control: an init that left B = 0 has a zero principal spectrum, which this check
    # rejects unless W0 = 0.
    if drawn.rank > 0:
        assert bool(((torch.zeros(r, dtype=F64) - reference[:r]).abs() > tolerance).any())
