"""Checks added because a known fault or a mutant of efx escaped the other checks.

Clipping acts once, on the window's total gradient. The other ``ga.clip-once`` checks use a
single tensor and exact worked numbers. These two compare with the definition,
``g * min(1, max_norm / ||g||)`` with ``||g||`` the norm of all tensors together, computed
in float64 from the same values:

- ``clip_accumulated`` on several tensors (a per-tensor clip scales each by its own norm);
- ``GradientAccumulator(max_norm=...)`` over a drawn window (a clip after every micro-step
  shrinks the first micro-batches' share before the others are added).

Tolerance: a Euclidean norm of ``P`` entries meets at most ``P`` products, ``P`` additions and
a square root per tensor, then the same over the ``T`` tensor norms, so its relative error is
at most ``gamma(P + T + 4)``. The coefficient ``max_norm / ||g||`` adds one division and the
product ``g * c`` one multiplication: ``gamma(P + T + 6)`` relative to ``c |g|`` entrywise.

Data-parallel accumulation (``ga.data-parallel``) runs with rank 0 in the test's own process
and rank 1 in a forked child: the count over ranks, one gradient sum, undoing an average,
and the ``group`` argument of each, checked with a group that holds rank 0 alone.
"""

from __future__ import annotations

import copy
from datetime import timedelta

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


# ga.data-parallel, run in this process: the count over ranks, one sum, and undoing an average.
#
# verify/test_accumulation_distributed.py runs both ranks in child processes. These checks run
# rank 0 in the test's own process and rank 1 in a forked child, so that tools which watch
# the test process (coverage, mutation testing) see the collective calls too.

RANK_WINDOWS = {0: [3, 2], 1: [1]}
"""Samples per micro-batch on each rank: 5 on rank 0 and 1 on rank 1."""
GLOO_TIMEOUT = timedelta(seconds=15)
"""How long a collective waits for its partner before it raises instead of hanging the test."""


def rank_window(rank: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Return rank ``rank``'s micro-batches: inputs, targets and a token mask with padding."""
    generator = torch.Generator().manual_seed(200 + rank)
    window = []
    for samples in RANK_WINDOWS[rank]:
        inputs = torch.randn(samples, 2, 3, generator=generator, dtype=F64)
        targets = torch.randn(samples, 2, 1, generator=generator, dtype=F64)
        mask = torch.ones(samples, 2, dtype=torch.bool)
        mask[0, 1] = False  # the first sample of every micro-batch has one padded token
        window.append((inputs, targets, mask))
    return window


def rank_model() -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return torch.nn.Sequential(
            torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)
        ).to(F64)


def token_losses(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return ((outputs - targets) ** 2).mean(dim=-1)


def run_rank(impl, rank: int, port: int, alone_done) -> dict[str, object]:
    """Run the collectives of one rank and return what it saw.

    ``alone_done`` is an event that rank 0 sets after its reductions over a group of rank 0
    alone. Rank 1 waits for it before any collective over both ranks, so code that ignores
    the group argument and reduces over both ranks finds no partner: its collective times
    out and raises, which fails the check cleanly.
    """
    import torch.distributed as dist

    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
        timeout=GLOO_TIMEOUT,
    )
    try:
        seen: dict[str, object] = {}
        window = rank_window(rank)
        alone = dist.new_group([0])
        if rank == 0:
            try:
                seen["alone_samples"] = impl.window_normaliser(
                    window, across_ranks=True, group=alone
                )
                model = rank_model()
                for index, parameter in enumerate(model.parameters()):
                    parameter.grad = torch.full_like(parameter, float(index + 1))
                impl.sum_gradients_across_ranks_(list(model.parameters()), alone)
                seen["alone_sum"] = [p.grad.clone() for p in model.parameters()]
                counter = impl.GradientAccumulator(
                    rank_model().parameters(), normalise="tokens", data_parallel="sum", group=alone
                )
                seen["alone_count"] = counter.begin(window)
                for mode in ("sum", "mean"):
                    accumulator = impl.GradientAccumulator(
                        model.parameters(), data_parallel=mode, group=alone
                    )
                    accumulator.begin(total=1)
                    accumulator.step()
                    seen[f"alone_{mode}"] = [p.grad.clone() for p in model.parameters()]
            finally:
                alone_done.set()
        elif not alone_done.wait(timeout=2 * GLOO_TIMEOUT.total_seconds()):
            raise TimeoutError("rank 0 did not finish its reductions over the group of rank 0")

        seen["samples"] = impl.window_normaliser(window, "samples", across_ranks=True)
        seen["tokens"] = impl.window_normaliser(window, "tokens", across_ranks=True)
        # A rank whose window is all padding counts 0 tokens; the window over ranks is valid.
        padded = [(x, y, torch.zeros_like(mask) if rank == 1 else mask) for x, y, mask in window]
        seen["padded_tokens"] = impl.window_normaliser(padded, "tokens", across_ranks=True)

        # One sum across ranks, a parameter without gradient taking part as zeros.
        model = rank_model()
        parameters = list(model.parameters())
        for index, parameter in enumerate(parameters):
            parameter.grad = torch.full_like(parameter, float((rank + 1) * (index + 1)))
        if rank == 1:
            parameters[0].grad = None
        impl.sum_gradients_across_ranks_(parameters)
        seen["summed"] = [p.grad.clone() for p in parameters]

        # The accumulator: the global token count in begin(), one sum in step().
        for mode in ("sum", "mean"):
            model = rank_model()
            accumulator = impl.GradientAccumulator(
                model.parameters(), normalise="tokens", data_parallel=mode
            )
            seen[f"{mode}_count"] = accumulator.begin(window)
            for inputs, targets, mask in window:
                accumulator.backward(token_losses(model(inputs), targets), mask)
            accumulator.step()
            seen[mode] = [p.grad.clone() for p in model.parameters()]
        return seen
    finally:
        dist.destroy_process_group()


def _child_rank(impl_name: str, port: int, out: str, alone_done) -> None:
    import importlib

    impl = importlib.import_module(impl_name)
    torch.set_num_threads(1)
    torch.save(run_rank(impl, 1, port, alone_done), out)


@pytest.mark.claim("ga.data-parallel")
def test_ranks_count_and_sum_once_in_process(impl, tmp_path, monkeypatch):
    import socket

    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available():
        pytest.skip("torch.distributed is not available in this torch build")
    if "fork" not in mp.get_all_start_methods():
        pytest.skip("this platform cannot fork, and rank 1 runs in a forked child")
    # gloo picks its interface from the hostname unless GLOO_SOCKET_IFNAME names one.
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    out = tmp_path / "rank1.pt"
    context = mp.get_context("fork")
    alone_done = context.Event()
    child = context.Process(target=_child_rank, args=(impl.name, port, str(out), alone_done))
    child.start()
    try:
        rank0 = run_rank(impl, 0, port, alone_done)
    finally:
        child.join(timeout=2 * GLOO_TIMEOUT.total_seconds())
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0, "rank 1 failed"
    rank1 = torch.load(out)

    # Reductions over the group of rank 0 alone leave rank 0's values as they were.
    assert rank0["alone_samples"] == sum(RANK_WINDOWS[0])
    assert rank0["alone_count"] == sum(int(mask.sum()) for _, _, mask in rank_window(0))
    model = rank_model()
    own = [torch.full_like(p, float(i + 1)) for i, p in enumerate(model.parameters())]
    for got, want in zip(rank0["alone_sum"], own, strict=True):
        assert torch.equal(got, want)
    for mode in ("sum", "mean"):
        for got, want in zip(rank0[f"alone_{mode}"], own, strict=True):
            assert torch.equal(got, want), f"{mode}: a group of one rank has world size 1"

    windows = rank_window(0) + rank_window(1)
    samples = sum(int(x.shape[0]) for x, _, _ in windows)
    tokens = sum(int(mask.sum()) for _, _, mask in windows)
    for rank in (rank0, rank1):
        assert rank["samples"] == samples
        assert rank["tokens"] == tokens
        assert rank["padded_tokens"] == sum(int(m.sum()) for _, _, m in rank_window(0))
        assert rank["sum_count"] == rank["mean_count"] == tokens
        # Integer-valued gradients sum exactly: 1 x and 2 x, with rank 1's first one absent.
        for index, got in enumerate(rank["summed"]):
            want = float(index + 1) if index == 0 else float(3 * (index + 1))
            assert torch.equal(got, torch.full_like(got, want)), index

    # step() with "sum" gives the full-batch gradient of both ranks' tokens on both ranks.
    full = rank_model()
    loss = sum(token_losses(full(x), y)[mask].sum() for x, y, mask in windows) / tokens
    expected = torch.autograd.grad(loss, list(full.parameters()))
    # Sums of `tokens` per-token terms through a 3-4-1 network (about 3 + 4 + 4 + 8
    # roundings each), compared relative to the gradient's largest entry.
    tolerance = 2 * gamma(tokens + 19, F64)
    for rank in (rank0, rank1):
        for got, want in zip(rank["sum"], expected, strict=True):
            assert float((got - want).abs().max()) <= tolerance * max(float(want.abs().max()), 1.0)
    # step() with "mean" multiplies each rank's own share by the world size, 2.
    for rank_index, rank in enumerate((rank0, rank1)):
        local = rank_model()
        own_loss = (
            sum(token_losses(local(x), y)[m].sum() for x, y, m in rank_window(rank_index)) / tokens
        )
        shares = torch.autograd.grad(own_loss, list(local.parameters()))
        for got, share in zip(rank["mean"], shares, strict=True):
            bound = tolerance * max(float(share.abs().max()), 1.0)
            assert float((got - 2 * share).abs().max()) <= 2 * bound
