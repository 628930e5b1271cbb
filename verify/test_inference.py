"""Checks of the ckpt-inference claims: what autograd keeps alive in training and frees in inference.

Memory is measured with the implementation's ``peak_memory`` and ``saved_for_backward`` (efx's
own are in :mod:`efx.measure`). The models are small chains built here, so the expected byte
counts follow from their widths: one activation of width ``w`` on a batch of ``b`` samples is
``b * w * s`` bytes, ``s`` the bytes per element.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.claims import claim
from efx.claims.ckpt_inference import SWEEP_BATCH, SWEEP_DEPTHS, SWEEP_WIDTH

CUDA_BLOCK = 512
"""The CUDA caching allocator rounds every block up to a multiple of this many bytes."""

# The device and dtype fixtures hold one fixed value per parametrization, with nothing to reset
# between examples, so Hypothesis's check against function-scoped fixtures does not apply.
FIXTURES_ARE_CONSTANT = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

WIDTHS = st.lists(st.integers(1, 48), min_size=2, max_size=9)
"""Widths w_0, ..., w_L of a chain: depth 1 to 8, each width 1 to 48."""

BATCHES = st.integers(1, 8)

NO_GRAD_MODES = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}


def allocated(nbytes: int, device: torch.device) -> int:
    """Return the bytes an allocation of ``nbytes`` occupies on ``device`` (exact on cpu)."""
    if device.type == "cuda":
        return CUDA_BLOCK * math.ceil(nbytes / CUDA_BLOCK)
    return nbytes


def activation_bytes(batch: int, width: int, dtype: torch.dtype) -> int:
    return batch * width * torch.finfo(dtype).bits // 8


def chain(widths: list[int], dtype: torch.dtype, device: torch.device) -> torch.nn.Sequential:
    """Build Linear(w_{k-1}, w_k) then ReLU for each k, as one Sequential."""
    modules: list[torch.nn.Module] = []
    for width_in, width_out in itertools.pairwise(widths):
        modules += [
            torch.nn.Linear(width_in, width_out, dtype=dtype, device=device),
            torch.nn.ReLU(),
        ]
    return torch.nn.Sequential(*modules)


def warm_up(device: torch.device) -> None:
    """Run one product and its backward, so cuBLAS allocates its lasting workspace before measuring."""
    if device.type == "cuda":
        weight = torch.ones(8, 8, device=device, requires_grad=True)
        (weight @ weight).sum().backward()
        torch.cuda.synchronize(device)


@pytest.fixture
def peak_memory(impl):
    """The implementation's peak_memory, taken out of ``impl`` so Hypothesis can print the arguments."""
    return impl.peak_memory


@pytest.fixture
def saved_for_backward(impl):
    """The implementation's saved_for_backward, taken out of ``impl`` like ``peak_memory``."""
    return impl.saved_for_backward


def skip_unless_torch_seen(claim_id: str) -> None:
    seen = claim(claim_id).torch_seen
    running = torch.__version__.split("+")[0]
    if running != seen:
        pytest.skip(f"claim {claim_id} describes torch {seen}; this is torch {running}")


@pytest.mark.claim("infer.grad-saves-activations")
@FIXTURES_ARE_CONSTANT
@given(widths=WIDTHS, batch=BATCHES)
def test_grad_mode_keeps_every_activation(
    widths, batch, device, dtype, peak_memory, saved_for_backward
):
    note(f"widths={widths} batch={batch}")
    model = chain(widths, dtype, device)
    x = torch.randn(batch, widths[0], dtype=dtype, device=device)
    warm_up(device)
    kept = sum(activation_bytes(batch, width, dtype) for width in widths[1:])

    output, measured = peak_memory(lambda: model(x), device)
    _, saved = saved_for_backward(lambda: model(x), exclude=model.parameters())
    note(f"measured={measured} saved bytes={saved.bytes}")

    assert output.requires_grad
    assert measured.end_bytes >= kept
    assert saved.bytes >= kept


@pytest.mark.claim("infer.grad-saves-activations")
def test_grad_memory_grows_per_block(device, peak_memory):
    one = activation_bytes(SWEEP_BATCH, SWEEP_WIDTH, torch.float32)
    x = torch.randn(SWEEP_BATCH, SWEEP_WIDTH, device=device)
    warm_up(device)

    kept = {}
    for depth in SWEEP_DEPTHS:
        model = chain([SWEEP_WIDTH] * (depth + 1), torch.float32, device)
        _, measured = peak_memory(lambda model=model: model(x), device)
        kept[depth] = measured.end_bytes

    for shallow, deep in itertools.pairwise(SWEEP_DEPTHS):
        assert kept[deep] - kept[shallow] >= (deep - shallow) * one, (
            f"depths {shallow} -> {deep}: {kept}"
        )


@pytest.mark.claim("infer.no-grad-bounded")
@pytest.mark.parametrize("mode", NO_GRAD_MODES)
@FIXTURES_ARE_CONSTANT
@given(widths=WIDTHS, batch=BATCHES)
def test_no_grad_peak_within_one_module(
    mode, widths, batch, device, dtype, peak_memory, saved_for_backward
):
    note(f"widths={widths} batch={batch}")
    model = chain(widths, dtype, device)
    x = torch.randn(batch, widths[0], dtype=dtype, device=device)
    warm_up(device)

    def module_bytes(width_in: int, width_out: int) -> int:
        return allocated(activation_bytes(batch, width_in, dtype), device) + allocated(
            activation_bytes(batch, width_out, dtype), device
        )

    bound = max(
        max(module_bytes(width_in, width_out), module_bytes(width_out, width_out))
        for width_in, width_out in itertools.pairwise(widths)
    )
    with NO_GRAD_MODES[mode]():
        output, measured = peak_memory(lambda: model(x), device)
        _, saved = saved_for_backward(lambda: model(x))
    note(f"measured={measured} bound={bound}")

    assert saved.count == 0
    assert not output.requires_grad
    assert measured.end_bytes >= activation_bytes(batch, widths[-1], dtype)  # the output is seen
    assert measured.peak_bytes <= bound


@pytest.mark.claim("infer.no-grad-bounded")
@pytest.mark.parametrize("mode", NO_GRAD_MODES)
def test_no_grad_peak_is_flat_in_depth(mode, device, peak_memory):
    one = activation_bytes(SWEEP_BATCH, SWEEP_WIDTH, torch.float32)
    x = torch.randn(SWEEP_BATCH, SWEEP_WIDTH, device=device)
    warm_up(device)

    peaks = {}
    for depth in SWEEP_DEPTHS:
        model = chain([SWEEP_WIDTH] * (depth + 1), torch.float32, device)
        with NO_GRAD_MODES[mode]():
            _, measured = peak_memory(lambda model=model: model(x), device)
        peaks[depth] = measured.peak_bytes
    deepest = chain([SWEEP_WIDTH] * (SWEEP_DEPTHS[-1] + 1), torch.float32, device)
    _, with_grad = peak_memory(lambda: deepest(x), device)

    assert max(peaks.values()) <= 2 * allocated(one, device), peaks
    assert with_grad.end_bytes >= SWEEP_DEPTHS[-1] * one  # the same chain in grad mode does grow


def eval_chain(widths: list[int], device: torch.device) -> torch.nn.Sequential:
    modules: list[torch.nn.Module] = []
    for width_in, width_out in itertools.pairwise(widths):
        modules += [
            torch.nn.Linear(width_in, width_out, device=device),
            torch.nn.BatchNorm1d(width_out, device=device),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.5),
        ]
    return torch.nn.Sequential(*modules)


@pytest.mark.claim("infer.eval-still-saves")
@FIXTURES_ARE_CONSTANT
@given(widths=WIDTHS, batch=st.integers(2, 8), seed=st.integers(0, 2**16))
def test_eval_mode_still_saves(widths, batch, seed, device, peak_memory, saved_for_backward):
    skip_unless_torch_seen("infer.eval-still-saves")
    note(f"widths={widths} batch={batch}")
    torch.manual_seed(seed)
    model = eval_chain(widths, device)
    x = torch.randn(batch, widths[0], device=device)
    warm_up(device)
    # The first Linear and BatchNorm show the switch: batch statistics in training, running
    # statistics in eval. (The output itself can be all zeros after the last ReLU in both modes.)
    normalised_in_training = model[:2](x).detach()
    model.eval()
    normalised_in_eval = model[:2](x).detach()
    kept = sum(activation_bytes(batch, width, torch.float32) for width in widths[1:])

    output, measured = peak_memory(lambda: model(x), device)
    _, saved = saved_for_backward(lambda: model(x), exclude=model.parameters())
    note(f"measured={measured} saved={saved.count}")

    assert not torch.equal(normalised_in_eval, normalised_in_training)  # eval changed BatchNorm
    assert output.requires_grad
    assert saved.count > 0
    assert measured.end_bytes >= kept


@pytest.mark.claim("infer.modes-differ")
@pytest.mark.parametrize("mode", NO_GRAD_MODES)
def test_both_modes_record_nothing(mode, device, saved_for_backward):
    skip_unless_torch_seen("infer.modes-differ")
    weight = torch.randn(4, 4, device=device, requires_grad=True)

    recorded, saved_with_grad = saved_for_backward(lambda: torch.tanh(weight @ weight))
    with NO_GRAD_MODES[mode]():
        result, saved = saved_for_backward(lambda: torch.tanh(weight @ weight))

    assert saved_with_grad.count > 0  # the same computation does save in grad mode
    assert recorded.grad_fn is not None
    assert saved.count == 0
    assert result.grad_fn is None
    assert not result.requires_grad


@pytest.mark.claim("infer.modes-differ")
def test_no_grad_results_are_ordinary_tensors(device):
    skip_unless_torch_seen("infer.modes-differ")
    weight = torch.randn(4, device=device, requires_grad=True)

    with torch.no_grad():
        result = weight * 2
        with torch.enable_grad():
            recorded = weight * 2
    (weight * result).sum().backward()  # saved for backward by a later graph
    result.add_(1)

    assert not result.is_inference()
    assert torch.equal(weight.grad, (weight * 2).detach())
    assert recorded.requires_grad


@pytest.mark.claim("infer.modes-differ")
def test_inference_tensors_reject_autograd_and_updates(device):
    skip_unless_torch_seen("infer.modes-differ")
    weight = torch.randn(4, device=device, requires_grad=True)

    with torch.inference_mode():
        result = weight * 2
        with torch.enable_grad():
            still_off = weight * 2

    assert result.is_inference()
    assert not still_off.requires_grad
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        weight * result
    with pytest.raises(
        RuntimeError, match="Inplace update to inference tensor outside InferenceMode"
    ):
        result.add_(1)
    copy = result.clone()
    (weight * copy).sum().backward()
    assert not copy.is_inference()
    assert torch.equal(weight.grad, copy)


def residual_chain(blocks: list[torch.nn.Linear], x: torch.Tensor) -> torch.Tensor:
    h = x
    for block in blocks:
        h = h + torch.relu(block(h))
    return h


def u_shaped(blocks: list[torch.nn.Linear], x: torch.Tensor) -> torch.Tensor:
    h = x
    skips = []
    for block in blocks:
        h = torch.relu(block(h))
        skips.append(h)
    for block in reversed(blocks):
        h = torch.relu(block(h)) + skips.pop()
    return h


@pytest.mark.claim("infer.open-skips-grow")
@FIXTURES_ARE_CONSTANT
@given(depth=st.integers(1, 12), width=st.integers(1, 48), batch=BATCHES)
def test_skips_grow_only_while_open(depth, width, batch, device, dtype, peak_memory):
    note(f"depth={depth} width={width} batch={batch}")
    blocks = [torch.nn.Linear(width, width, dtype=dtype, device=device) for _ in range(depth)]
    x = torch.randn(batch, width, dtype=dtype, device=device)
    warm_up(device)
    one = activation_bytes(batch, width, dtype)

    with torch.no_grad():
        _, residual = peak_memory(lambda: residual_chain(blocks, x), device)
        _, u_net = peak_memory(lambda: u_shaped(blocks, x), device)
    note(f"residual={residual} u_net={u_net}")

    assert residual.peak_bytes <= 3 * allocated(one, device)
    assert u_net.peak_bytes >= depth * one


class CachedAttention(torch.nn.Module):
    """One attention layer of a decoder that appends each token's key and value to its cache."""

    def __init__(self, heads: int, head_dim: int, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        width = heads * head_dim
        self.qkv = torch.nn.Linear(width, 3 * width, bias=False, dtype=dtype, device=device)
        self.out = torch.nn.Linear(width, width, bias=False, dtype=dtype, device=device)

    def forward(
        self, h: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        batch = h.shape[0]
        q, k, v = self.qkv(h).view(batch, 3, self.heads, 1, self.head_dim).unbind(1)
        keys = torch.cat([cache[0], k], dim=2)  # (batch, heads, positions, head_dim)
        values = torch.cat([cache[1], v], dim=2)
        weights = torch.softmax(q @ keys.transpose(-1, -2) / math.sqrt(self.head_dim), dim=-1)
        attended = (weights @ values).reshape(batch, self.heads * self.head_dim)
        return h + self.out(attended), (keys, values)


def decode(
    layers: list[CachedAttention], tokens: torch.Tensor
) -> tuple[list[tuple[torch.Tensor, ...]], torch.Tensor]:
    """Run every position of ``tokens`` (batch, T, width) through the layers, one token at a time."""
    batch = tokens.shape[0]
    empty = tokens.new_empty(batch, layers[0].heads, 0, layers[0].head_dim)
    caches: list[tuple[torch.Tensor, ...]] = [(empty, empty) for _ in layers]
    h = tokens[:, 0]
    for position in range(tokens.shape[1]):
        h = tokens[:, position]
        for index, layer in enumerate(layers):
            h, caches[index] = layer(h, caches[index])
    return caches, h


@pytest.mark.claim("infer.kv-cache-size")
@FIXTURES_ARE_CONSTANT
@given(
    layers=st.integers(1, 3),
    heads=st.integers(1, 3),
    head_dim=st.integers(1, 8),
    batch=st.integers(1, 3),
    positions=st.integers(1, 8),
)
def test_kv_cache_matches_formula(
    layers, heads, head_dim, batch, positions, device, dtype, peak_memory
):
    note(f"L={layers} H={heads} D={head_dim} B={batch} T={positions}")
    s = torch.finfo(dtype).bits // 8
    decoder = [CachedAttention(heads, head_dim, dtype, device) for _ in range(layers)]
    tokens = torch.randn(batch, positions + 1, heads * head_dim, dtype=dtype, device=device)
    warm_up(device)

    with torch.inference_mode():
        (caches, h), measured = peak_memory(lambda: decode(decoder, tokens[:, :positions]), device)
        (longer, _), one_more = peak_memory(lambda: decode(decoder, tokens), device)
    cache_bytes = sum(tensor.untyped_storage().nbytes() for pair in caches for tensor in pair)
    longer_bytes = sum(tensor.untyped_storage().nbytes() for pair in longer for tensor in pair)
    note(f"measured={measured} cache bytes={cache_bytes}")

    assert cache_bytes == 2 * batch * layers * positions * heads * head_dim * s
    assert longer_bytes - cache_bytes == 2 * batch * layers * heads * head_dim * s
    per_tensor = allocated(batch * positions * heads * head_dim * s, device)
    assert measured.end_bytes == 2 * layers * per_tensor + allocated(
        h.untyped_storage().nbytes(), device
    )
    assert one_more.end_bytes > measured.end_bytes


@pytest.mark.claim("infer.training-state")
@FIXTURES_ARE_CONSTANT
@given(widths=WIDTHS, batch=BATCHES)
def test_gradients_match_parameters_not_batch(
    widths, batch, device, dtype, peak_memory, saved_for_backward
):
    note(f"widths={widths} batch={batch}")
    model = chain(widths, dtype, device)
    parameters = list(model.parameters())
    s = torch.finfo(dtype).bits // 8
    parameter_bytes = sum(
        allocated(width_in * width_out * s, device) + allocated(width_out * s, device)
        for width_in, width_out in itertools.pairwise(widths)
    )
    assert parameter_bytes == sum(
        allocated(p.untyped_storage().nbytes(), device) for p in parameters
    )
    warm_up(device)
    saved_activation_bytes = {}
    for size in (batch, 2 * batch):
        x = torch.randn(size, widths[0], dtype=dtype, device=device)
        model.zero_grad(set_to_none=True)
        _, saved = saved_for_backward(lambda x=x: model(x), exclude=parameters)
        saved_activation_bytes[size] = saved.bytes

        _, measured = peak_memory(lambda x=x: model(x).square().sum().backward(), device)

        assert measured.end_bytes == parameter_bytes, f"batch {size}"
        assert all(p.grad.shape == p.shape and p.grad.dtype == p.dtype for p in parameters)

    assert saved_activation_bytes[batch] > 0
    assert saved_activation_bytes[2 * batch] == 2 * saved_activation_bytes[batch]


@pytest.mark.claim("infer.training-state")
def test_adam_state_scales_with_parameters(device, peak_memory):
    state_bytes = {}
    for batch in (2, 16):
        model = chain([SWEEP_WIDTH] * 4, torch.float32, device)
        parameter_bytes = sum(p.untyped_storage().nbytes() for p in model.parameters())
        optimizer = torch.optim.Adam(model.parameters())
        model(torch.randn(batch, SWEEP_WIDTH, device=device)).sum().backward()
        before = [(p.data_ptr(), p.detach().clone()) for p in model.parameters()]

        _, measured = peak_memory(optimizer.step, device)
        state_bytes[batch] = measured.end_bytes

        assert measured.end_bytes >= 2 * parameter_bytes, f"batch {batch}"
        for (address, old), p in zip(before, model.parameters(), strict=True):
            assert p.data_ptr() == address  # updated in place
            assert not torch.equal(p.detach(), old)  # and really updated
    assert state_bytes[2] == state_bytes[16]
