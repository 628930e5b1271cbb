"""Checkpointed chains train exactly like plain chains: gradients, random numbers, buffers, errors.

Each property builds a random chain twice from one seed, runs the plain chain with
``loss.backward()`` and the implementation's ``Checkpointed`` under a drawn strategy, and
compares bit for bit. Forward calls are counted with hooks on the modules, so each check also
shows that recomputation really happened.
"""

from __future__ import annotations

import copy
import random

import pytest
import torch
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from torch import nn

from efx.devices import deterministic
from efx.strategies.chains import build_chain, chain_input, chain_specs

STRATEGY_KINDS = ("memory-poor", "sqrt", "segments", "binomial")

# The device and dtype fixtures hold one value per test item and nothing to reset between
# examples, so sharing them across Hypothesis's examples is what the tests mean.
CONSTANT_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _strategy(impl, data, depth: int):
    kind = data.draw(st.sampled_from(STRATEGY_KINDS), label="strategy")
    if kind == "memory-poor":
        return impl.MemoryPoor()
    if kind == "sqrt":
        return impl.Segments()
    if kind == "segments":
        return impl.Segments(data.draw(st.integers(1, depth), label="segments"))
    return impl.Binomial(data.draw(st.integers(1, depth), label="slots"))


def _count_calls(chain: nn.Sequential) -> list[int]:
    calls = [0] * len(chain)
    for index, module in enumerate(chain):
        module.register_forward_pre_hook(
            lambda *_args, index=index: calls.__setitem__(index, calls[index] + 1)
        )
    return calls


def _loss(output: torch.Tensor) -> torch.Tensor:
    # A loss whose gradient differs per element, so a wrong row or column shows.
    weights = torch.arange(1, output.numel() + 1, dtype=output.dtype, device=output.device).reshape(
        output.shape
    )
    return (weights * output).sum() + output.pow(2).sum()


def _grads(module: nn.Module) -> list[torch.Tensor | None]:
    return [parameter.grad for parameter in module.parameters()]


def _assert_same_grads(plain: nn.Module, checkpointed: nn.Module) -> None:
    for index, (expected, actual) in enumerate(
        zip(_grads(plain), _grads(checkpointed), strict=True)
    ):
        assert (expected is None) == (actual is None), (
            f"parameter {index}: gradient present in only one run"
        )
        if expected is not None:
            assert torch.equal(expected, actual), f"parameter {index}: gradients differ"


@pytest.mark.claim("ckpt.gradients-exact")
@CONSTANT_FIXTURES
@given(data=st.data())
def test_gradients_equal_store_all(device, dtype, impl, data):
    spec = data.draw(chain_specs(max_depth=6), label="chain")
    plain = build_chain(spec, dtype, device)
    twin = copy.deepcopy(plain)
    strategy = _strategy(impl, data, spec.depth)
    note(f"strategy {strategy!r}")
    calls = _count_calls(twin)
    x_plain = chain_input(spec, dtype, device).requires_grad_(True)
    x = x_plain.detach().clone().requires_grad_(True)

    with deterministic():
        _loss(plain(x_plain)).backward()
        _loss(impl.Checkpointed(twin, strategy)(x)).backward()

    note(f"forward calls per module {calls}")
    if "relu" not in spec.activations:
        # tanh and GELU pass gradients almost everywhere, so equal gradients are not both zero.
        assert any(bool(g.abs().sum() > 0) for g in _grads(plain) if g is not None), (
            "all gradients are zero"
        )
    _assert_same_grads(plain, twin)
    assert torch.equal(x_plain.grad, x.grad)


@pytest.mark.claim("ckpt.gradients-exact")
def test_recomputation_happens(impl, device):
    # The property above would pass trivially if nothing were recomputed: count the calls.
    chain = nn.Sequential(*[nn.Linear(3, 3) for _ in range(5)]).to(device)
    calls = _count_calls(chain)

    impl.Checkpointed(chain, impl.MemoryPoor())(torch.ones(2, 3, device=device)).sum().backward()

    assert calls == [5, 4, 3, 2, 1]


@pytest.mark.claim("ckpt.dropout-replay")
@CONSTANT_FIXTURES
@given(data=st.data())
def test_dropout_masks_replayed(device, dtype, impl, data):
    # Widths and batch of at least 8 give every mask 64 or more entries, so a new draw differs
    # from the replayed one with probability at least 1 - 0.8**64.
    spec = data.draw(
        chain_specs(
            max_depth=4,
            min_depth=2,
            min_width=8,
            max_width=10,
            min_batch=8,
            max_batch=8,
            dropout=True,
        ),
        label="chain",
    )
    poor = data.draw(st.booleans(), label="memory-poor")
    strategy = impl.MemoryPoor() if poor else impl.Segments(spec.depth)
    # Without replay the recomputed masks differ, which a checking segment schedule rejects.
    unchecked = impl.MemoryPoor() if poor else impl.Segments(spec.depth, check=False)
    note(f"strategy {strategy!r}")
    plain = build_chain(spec, dtype, device)
    replayed, fresh = copy.deepcopy(plain), copy.deepcopy(plain)
    x = chain_input(spec, dtype, device)

    with deterministic():
        torch.manual_seed(spec.seed)
        _loss(plain(x)).backward()
        state_plain = torch.get_rng_state()
        torch.manual_seed(spec.seed)
        _loss(impl.Checkpointed(replayed, strategy)(x)).backward()
        state_replayed = torch.get_rng_state()
        torch.manual_seed(spec.seed)
        _loss(impl.Checkpointed(fresh, unchecked, preserve_rng=False)(x)).backward()

    # An example where fresh masks leave every gradient unchanged (all dropout in the segment
    # that is not recomputed, or dead units upstream) cannot tell replay from no replay, so it
    # is discarded; Hypothesis fails the test if too many are.
    assume(any(not torch.equal(a, b) for a, b in zip(_grads(plain), _grads(fresh), strict=True)))
    _assert_same_grads(plain, replayed)
    assert torch.equal(state_plain, state_replayed)


@pytest.mark.claim("ckpt.batchnorm-state")
@CONSTANT_FIXTURES
@given(data=st.data())
def test_batchnorm_buffers_updated_once(device, dtype, impl, data):
    spec = data.draw(chain_specs(max_depth=5, min_batch=2, batchnorm=True), label="chain")
    strategy = _strategy(impl, data, spec.depth)
    note(f"strategy {strategy!r}")
    plain = build_chain(spec, dtype, device)
    twin = copy.deepcopy(plain)
    calls = _count_calls(twin)
    x = chain_input(spec, dtype, device)

    with deterministic():
        _loss(plain(x)).backward()
        _loss(impl.Checkpointed(twin, strategy)(x)).backward()

    note(f"forward calls per module {calls}")
    for name, expected in plain.named_buffers():
        actual = twin.get_buffer(name)
        assert torch.equal(expected, actual), f"buffer {name} differs"
    assert all(int(b) == 1 for n, b in twin.named_buffers() if n.endswith("num_batches_tracked"))
    _assert_same_grads(plain, twin)


@pytest.mark.claim("ckpt.no-grad-input")
@CONSTANT_FIXTURES
@given(data=st.data())
def test_input_without_grad_keeps_parameter_grads(device, impl, data):
    # Which parameters get a gradient does not depend on the dtype: float64 only.
    dtype = torch.float64
    spec = data.draw(chain_specs(max_depth=6), label="chain")
    strategy = _strategy(impl, data, spec.depth)
    note(f"strategy {strategy!r}")
    plain = build_chain(spec, dtype, device)
    twin = copy.deepcopy(plain)
    x = chain_input(spec, dtype, device)

    with deterministic():
        _loss(plain(x)).backward()
        _loss(impl.Checkpointed(twin, strategy)(x)).backward()

    with_grad_plain = [p.grad is not None for p in plain.parameters()]
    with_grad_twin = [p.grad is not None for p in twin.parameters()]
    assert all(with_grad_plain)
    assert with_grad_twin == with_grad_plain
    _assert_same_grads(plain, twin)
    assert x.grad is None


class _PythonNoise(nn.Module):
    """Adds a number from Python's ``random``, which no torch generator state can replay."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + random.random()


@pytest.mark.claim("ckpt.recompute-mismatch")
@CONSTANT_FIXTURES
@given(data=st.data())
def test_irreproducible_segment_is_rejected(device, impl, data):
    # The comparison is exact equality in any dtype: float64 only.
    dtype = torch.float64
    spec = data.draw(chain_specs(max_depth=5, batchnorm=True, min_batch=2), label="chain")
    chain: list[nn.Module] = list(build_chain(spec, dtype, device))
    segments = data.draw(st.integers(2, len(chain) + 1), label="segments")
    strategy = impl.Segments(segments)
    # The noisy module ends the first segment, which is never the last one: its output is the
    # stored checkpoint that the recomputation is compared with. Placed earlier, a later
    # module can hide the noise (BatchNorm over two values maps any pair to -1 and 1).
    position = strategy.lengths(len(chain) + 1)[0] - 1
    chain.insert(position, _PythonNoise())
    note(f"noise at module {position} of {len(chain)}, {segments} segments")
    model = impl.Checkpointed(chain, strategy)
    for parameter in model.parameters():
        parameter.grad = torch.full_like(parameter, 7.0)
    before_grads = [p.grad.clone() for p in model.parameters()]
    x = chain_input(spec, dtype, device)

    output = model(x)
    buffers = [b.clone() for b in model.buffers()]
    rng = torch.get_rng_state()
    with pytest.raises(impl.RecomputeMismatchError, match="did not reproduce"):
        _loss(output).backward()

    assert all(
        torch.equal(p.grad, g) for p, g in zip(model.parameters(), before_grads, strict=True)
    )
    assert all(torch.equal(b, c) for b, c in zip(model.buffers(), buffers, strict=True))
    assert torch.equal(torch.get_rng_state(), rng)
