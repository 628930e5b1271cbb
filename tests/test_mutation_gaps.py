"""Behaviour of efx's core modules that no other test pinned down, found by mutation testing.

``mutmut`` (see docs/mutation.md) changes one operator, constant or argument at a time in
efx.accumulation, efx.checkpointing, efx.lowrank and efx.lora, and runs the tests that reach
the changed function. A change that no test notices is a *surviving mutant*. Each test here
pins the behaviour that let one or more mutants survive: defaults, results of helpers that
only the pages use, state after a call, and edge cases of input checks. Mutants that no input
can tell apart from the original are listed with the reason in docs/mutation.md instead.
"""

from __future__ import annotations

import copy
import inspect
import itertools
from fractions import Fraction

import pytest
import sympy
import torch
from torch import nn

from efx.accumulation import (
    GradientAccumulator,
    accumulated_gradients,
    clip_accumulated,
    clip_coefficient,
    section_mean_gradients,
)
from efx.accumulation.estimators import (
    clipping_strategies,
    full_batch_mean,
    mean_of_section_means,
    sum_over_count,
)
from efx.checkpointing import (
    Action,
    Binomial,
    Checkpointed,
    MemoryPoor,
    Op,
    Schedule,
    ScheduleError,
    Segments,
    StoreAll,
    TorchSequential,
    count,
    segment_schedule,
    sqrt_segment_count,
    torch_sequential_lengths,
)
from efx.errors import EfxError
from efx.lora import LoRALinear, check_lora_arguments, lora_scale
from efx.lowrank import (
    error_ratio_to_optimum,
    frobenius_error_curve,
    randomized_svd,
    relative_frobenius_error_from_spectrum,
    relative_spectral_error_from_spectrum,
    svd_backward_error,
    truncated_svd,
    truncation_error_tolerance,
)
from efx.tolerance import gamma

F64 = torch.float64


def _matrix(rows: int = 6, cols: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=F64)


# efx.accumulation: the 1/m baseline and the exact estimators the pages print.


def _mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return ((outputs - targets) ** 2).mean(dim=-1)


def _naive_gradients(
    model: nn.Module, window: list[tuple[torch.Tensor, ...]], divisor: float
) -> list[torch.Tensor]:
    """Return the gradient of (1/divisor) sum_j mean_j, computed in one autograd call."""
    means = []
    for batch in window:
        losses = _mse(model(batch[0]), batch[1])
        if len(batch) == 3:
            losses = losses[batch[2].bool()]
        means.append(losses.mean())
    return list(torch.autograd.grad(sum(means) / divisor, list(model.parameters())))


@pytest.mark.parametrize("divisor", [None, 1.0, 4.0])
def test_section_mean_gradients_match_definition(divisor):
    torch.manual_seed(0)
    model = nn.Linear(3, 2).to(F64)
    x, y = torch.randn(5, 3, dtype=F64), torch.randn(5, 2, dtype=F64)
    window = [(x[:3], y[:3]), (x[3:], y[3:])]

    result = section_mean_gradients(model, _mse, window, divisor=divisor)

    expected = _naive_gradients(model, window, 2.0 if divisor is None else divisor)
    for (name, got), want in zip(result.items(), expected, strict=True):
        # Two sums of at most 3 per-sample terms, each a handful of roundings.
        assert torch.allclose(got, want, rtol=0, atol=gamma(16, F64) * float(want.abs().max()))
        assert name in dict(model.named_parameters())


def test_section_mean_gradients_single_valid_token():
    # A micro-batch with exactly one valid token has a mean: it must not be rejected.
    torch.manual_seed(1)
    model = nn.Linear(3, 1).to(F64)
    x, y = torch.randn(2, 2, 3, dtype=F64), torch.randn(2, 2, 1, dtype=F64)
    mask = torch.tensor([[True, False], [True, True]])
    window = [(x[:1], y[:1], mask[:1]), (x[1:], y[1:], mask[1:])]

    result = section_mean_gradients(model, _mse, window, "tokens")

    expected = _naive_gradients(model, window, 2.0)
    for got, want in zip(result.values(), expected, strict=True):
        assert torch.allclose(got, want, rtol=0, atol=gamma(16, F64) * float(want.abs().max()))


def test_estimators_accept_divisor_one():
    sections = [[1, 2, 3], [10, 20]]

    assert mean_of_section_means(sections, divisor=1) == Fraction(17, 1)
    assert sum_over_count(sections, divisor=1) == 36


def test_clipping_strategies_single_gradient():
    # One micro-gradient: all three strategies clip the same vector once.
    result = clipping_strategies([[3, 4]], 1)

    expected = sympy.Matrix([sympy.Rational(3, 5), sympy.Rational(4, 5)])
    assert result["once"] == expected
    assert result["running"] == expected
    assert result["each"] == expected
    assert full_batch_mean([[1, 2]]) == Fraction(3, 2)


def _token_window() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(3, 3, 3, generator=generator, dtype=F64)
    y = torch.randn(3, 3, 2, generator=generator, dtype=F64)
    mask = torch.tensor([[True, True, False], [True, False, False], [True, True, True]])
    return [(x[:2], y[:2], mask[:2]), (x[2:], y[2:], mask[2:])]


def test_samples_mode_ignores_mask():
    torch.manual_seed(5)
    model = nn.Linear(3, 2).to(F64)
    window = _token_window()

    def sample_losses(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return ((outputs - targets) ** 2).mean(dim=(-2, -1))

    with_mask = accumulated_gradients(model, sample_losses, window, "samples")
    without = accumulated_gradients(model, sample_losses, [(x, y) for x, y, _ in window])

    for name, got in with_mask.items():
        assert torch.equal(got, without[name])


def test_accumulator_counts_tokens_in_one_process():
    # normalise="tokens": begin() counts the masks' valid tokens, backward() adds each
    # micro-batch's count, and step() finds the window complete (no EfxWarning).
    torch.manual_seed(6)
    model = nn.Linear(3, 2).to(F64)
    window = _token_window()
    expected = accumulated_gradients(model, _mse, window, "tokens")

    accumulator = GradientAccumulator(model.parameters(), normalise="tokens")
    assert accumulator.begin(window) == 6  # 2 + 1 valid tokens, then 3
    for x, y, mask in window:
        accumulator.backward(_mse(model(x), y), mask)
    assert accumulator.counted == 6
    accumulator.step()

    for name, parameter in model.named_parameters():
        # Both sum the same 6 token terms in the same micro-batch order.
        assert torch.allclose(
            parameter.grad,
            expected[name],
            rtol=0,
            atol=gamma(16, F64) * float(expected[name].abs().max()),
        )


def test_accumulator_window_of_one():
    model = nn.Linear(3, 1).to(F64)
    accumulator = GradientAccumulator(model.parameters())

    assert accumulator.begin(total=1) == 1


def test_clip_zero_gradient():
    zero = {"w": torch.zeros(3, dtype=F64)}

    clipped, norm = clip_accumulated(zero, 1.0)

    assert float(clip_coefficient(torch.tensor(0.0, dtype=F64), 1.0)) == 1.0
    assert norm == 0.0
    assert torch.equal(clipped["w"], zero["w"])


# efx.lowrank: the error ratio, the spectrum ratios, randomized defaults.


def test_error_ratio_fields_match_definitions():
    W = _matrix()
    S = torch.linalg.svdvals(W)
    approximation = truncated_svd(W, 2).reconstruct() + 0.01 * _matrix(seed=1)

    ratio = error_ratio_to_optimum(W, approximation, 2)
    given = error_ratio_to_optimum(W, approximation, 2, singular_values=S.float())

    difference = W - approximation
    frobenius = float(torch.linalg.matrix_norm(difference))
    spectral = float(torch.linalg.matrix_norm(difference, ord=2))
    assert ratio.frobenius_error == pytest.approx(frobenius, rel=1e-12)
    assert ratio.spectral_error == pytest.approx(spectral, rel=1e-12)
    assert ratio.optimal_frobenius == pytest.approx(float(S[2:].norm()), rel=1e-12)
    assert ratio.optimal_spectral == pytest.approx(float(S[2]), rel=1e-12)
    assert ratio.frobenius == pytest.approx(frobenius / float(S[2:].norm()), rel=1e-12)
    assert ratio.spectral == pytest.approx(spectral / float(S[2]), rel=1e-12)
    # Singular values given in float32 are used, converted to float64: within float32 rounding.
    assert given.optimal_spectral == pytest.approx(float(S[2]), rel=4 * 2.0**-24)
    assert given.frobenius_error == ratio.frobenius_error


def test_relative_errors_with_zero_tail():
    # sigma_1 != 0 and sigma_2 = 0 is a valid spectrum: the ratios exist and are 0 at k = 1.
    S = torch.tensor([2.0, 0.0], dtype=F64)

    assert float(relative_spectral_error_from_spectrum(S, 1)) == 0.0
    assert float(relative_frobenius_error_from_spectrum(S, 1)) == 0.0
    assert float(relative_spectral_error_from_spectrum(S, 0)) == 1.0


@pytest.mark.parametrize("size", [1e200, 1e-200])
def test_frobenius_error_curve_far_from_one(size):
    # Squares of 1e200 overflow and squares of 1e-200 underflow in float64; the curve scales
    # by sigma_1 first, so sqrt(sigma_1^2 + sigma_2^2) = sigma_1 sqrt(1.01) stays exact to
    # rounding.
    S = torch.tensor([size, size / 10], dtype=F64)

    curve = frobenius_error_curve(S)

    assert float(curve[0]) == pytest.approx(size * 1.01**0.5, rel=1e-14)
    assert float(curve[1]) == pytest.approx(size / 10, rel=1e-14)
    assert float(curve[2]) == 0.0


def test_randomized_svd_defaults():
    parameters = inspect.signature(randomized_svd).parameters
    W = _matrix(30, 28)

    default = randomized_svd(W, 2, generator=torch.Generator().manual_seed(5))
    explicit = randomized_svd(
        W, 2, oversample=10, power_iterations=2, generator=torch.Generator().manual_seed(5)
    )
    other = randomized_svd(
        W, 2, oversample=11, power_iterations=3, generator=torch.Generator().manual_seed(5)
    )

    assert parameters["oversample"].default == 10
    assert parameters["power_iterations"].default == 2
    assert torch.equal(default.S, explicit.S)
    assert not torch.equal(default.S, other.S)


@pytest.mark.parametrize("shape", [(4, 30), (30, 4), (20, 18)])
def test_randomized_svd_draws_its_sample_size(shape):
    # l = min(k + oversample, m, n) Gaussian columns from the generator: the same draw passed
    # as test_matrix gives the same result, bit for bit.
    W = _matrix(*shape)
    rows, cols = shape
    columns = min(2 + 10, rows, cols)

    drawn = randomized_svd(W, 2, generator=torch.Generator().manual_seed(7))
    Omega = torch.randn(cols, columns, generator=torch.Generator().manual_seed(7), dtype=F64)
    given = randomized_svd(W, 2, test_matrix=Omega)

    for got, want in zip(drawn, given, strict=True):
        assert torch.equal(got, want)


def test_randomized_svd_global_generator():
    W = _matrix(20, 18)

    torch.manual_seed(11)
    first = randomized_svd(W, 3)
    torch.manual_seed(11)
    second = randomized_svd(W, 3, generator=torch.default_generator)

    assert torch.equal(first.S, second.S)


def test_factors_default_split_is_left():
    W = _matrix()
    svd = truncated_svd(W, 3)

    A, B = svd.factors()
    A_left, B_left = svd.factors("left")

    assert torch.equal(A, A_left)
    assert torch.equal(B, B_left)
    assert torch.equal(A, svd.U)


# efx.checkpointing: names that tables and messages print.


@pytest.mark.parametrize(
    ("strategy", "text", "name"),
    [
        (StoreAll(), "StoreAll()", "store-all"),
        (MemoryPoor(), "MemoryPoor()", "memory-poor"),
        (Segments(3), "Segments(count=3, check=True)", "segments(3)"),
        (Segments(), "Segments(count=None, check=True)", "sqrt(n)"),
        (Binomial(2), "Binomial(slots=2)", "binomial(2)"),
        (TorchSequential(2), "TorchSequential(segments=2, check=True)", "torch-sequential(2)"),
    ],
)
def test_strategy_repr_and_schedule_name(strategy, text, name):
    schedule = strategy.schedule(4)

    assert repr(strategy) == text
    assert strategy.name == name
    assert schedule.strategy == name


# efx.lora: state after unmerge.


def test_lora_accepts_one_sample_vector():
    torch.manual_seed(3)
    layer = LoRALinear(nn.Linear(4, 3).to(F64), 2, 4.0).eval()
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(4, dtype=F64)

    assert torch.equal(layer(x), layer(x.unsqueeze(0)).squeeze(0))


def test_unmerge_clears_merged_state():
    torch.manual_seed(2)
    layer = LoRALinear(nn.Linear(4, 3).to(F64), 2, 4.0).eval()
    with torch.no_grad():
        layer.lora_B.normal_()

    layer.merge()
    layer.unmerge()

    assert layer.merged is False
    layer.merge()  # a merge after an unmerge is allowed
    assert layer.merged is True


# efx.checkpointing.count: the replay of a schedule on state indices.

ADVANCE, TAPE, STORE, RESTORE, FREE, REVERSE = (
    Op.ADVANCE,
    Op.TAPE,
    Op.STORE,
    Op.RESTORE,
    Op.FREE,
    Op.REVERSE,
)


def _actions(*pairs: tuple[Op, int]) -> list[Action]:
    return [Action(op, index) for op, index in pairs]


def test_count_two_level_schedule():
    # Four modules, checkpoint a_0, then a_1 in the backward pass. Held states: a_0 and the
    # tape of a_3 in the forward pass (2), then a_0, a_1 and the tape of a_2 (3). Module 0
    # advances twice and tapes once, module 1 likewise, module 2 advances once and tapes once.
    schedule = _actions(
        (STORE, 0), (ADVANCE, 0), (ADVANCE, 1), (ADVANCE, 2), (TAPE, 3), (REVERSE, 3),
        (RESTORE, 0), (ADVANCE, 0), (STORE, 1), (ADVANCE, 1), (TAPE, 2), (REVERSE, 2),
        (RESTORE, 1), (TAPE, 1), (REVERSE, 1), (FREE, 1),
        (RESTORE, 0), (TAPE, 0), (REVERSE, 0), (FREE, 0),
    )  # fmt: skip

    counts = count(schedule, 4)

    assert counts.length == 4
    assert counts.forward_calls == (3, 3, 2, 1)
    assert counts.advances == (2, 2, 1, 0)
    assert counts.repetitions == 2
    assert counts.peak_stored == 3
    assert counts.forward_phase_peak == 2


def test_count_restored_state_starts_new_run():
    # Taping module 1 from the restored a_1 starts a run of its own, so module 1 is reversed
    # before module 0's run; joining the two runs would make "reverse 1" illegal.
    schedule = _actions(
        (TAPE, 0), (STORE, 1), (RESTORE, 1), (TAPE, 1), (REVERSE, 1), (REVERSE, 0), (FREE, 1)
    )

    counts = count(schedule, 2)

    assert counts.forward_calls == (1, 1)
    assert counts.advances == (0, 0)
    assert counts.peak_stored == 2


def test_count_store_all_single_module():
    counts = count(StoreAll().schedule(1))

    assert counts.length == 1
    assert counts.forward_calls == (1,)
    assert counts.advances == (0,)
    assert counts.peak_stored == counts.forward_phase_peak == 1


@pytest.mark.parametrize(
    ("actions", "length", "message"),
    [
        (
            [(ADVANCE, 1)],
            2,
            "action 0 (advance 1) is illegal: the working state is a_0, not the input a_1",
        ),
        (
            [(ADVANCE, 0), (ADVANCE, 1)],
            1,
            "action 1 (advance 1) is illegal: the working state is a_1, not the input a_1",
        ),
        (
            [(STORE, 0), (STORE, 0)],
            1,
            "action 1 (store 0) is illegal: only the working state a_0 can be stored, once",
        ),
        ([(RESTORE, 0)], 1, "action 0 (restore 0) is illegal: a_0 is not a stored checkpoint"),
        ([(FREE, 0)], 1, "action 0 (free 0) is illegal: a_0 is not a stored checkpoint"),
        (
            [(TAPE, 0), (ADVANCE, 1), (REVERSE, 0)],
            2,
            "action 2 (reverse 0) is illegal: the first reverse needs the recorded output a_n",
        ),
        (
            [(TAPE, 0), (TAPE, 1), (REVERSE, 1)],
            2,
            "action 2 (reverse 1) is illegal: the last recorded run must start at 1 and end at "
            "a_2, whose gradient is known",
        ),
        (
            [(TAPE, 0)],
            1,
            "the schedule ends before the backward pass reaches a_0 (gradient known at a_None, "
            "0 of 1 modules reversed)",
        ),
        (
            [(STORE, 0), (TAPE, 0), (REVERSE, 0)],
            1,
            "the schedule ends with checkpoints still stored: [0]",
        ),
    ],
)
def test_count_rejects_illegal_schedule(actions, length, message):
    with pytest.raises(ScheduleError) as raised:
        count(_actions(*actions), length)

    assert str(raised.value) == message


def _pairs(schedule) -> list[tuple[str, int]]:
    return [(action.op.value, action.target) for action in schedule]


def test_binomial_one_slot_is_memory_poor():
    # One slot holds only a_0: advance to the last module, tape and reverse it, restore a_0,
    # and repeat one module shorter (traced by hand from the cost model).
    expected = [
        ("store", 0), ("advance", 0), ("advance", 1), ("tape", 2), ("reverse", 2),
        ("restore", 0), ("advance", 0), ("tape", 1), ("reverse", 1),
        ("restore", 0), ("tape", 0), ("reverse", 0), ("free", 0),
    ]  # fmt: skip

    assert _pairs(Binomial(1).schedule(3)) == expected
    assert _pairs(MemoryPoor().schedule(3)) == expected
    assert _pairs(Binomial(1).schedule(2)) == [
        ("store", 0), ("advance", 0), ("tape", 1), ("reverse", 1),
        ("restore", 0), ("tape", 0), ("reverse", 0), ("free", 0),
    ]  # fmt: skip


@pytest.mark.parametrize("slots", [1, 2, 3, 4])
def test_binomial_has_no_redundant_actions(slots):
    # A checkpoint is restored only after the working state moved away from it. Inside the
    # chain, a state that is taped at once is not stored first (the schedule always stores
    # the chain's input a_0, even for one module).
    for length in range(1, 16):
        pairs = _pairs(Binomial(slots).schedule(length))
        for before, after in itertools.pairwise(pairs):
            assert not (before[0] == "store" and after == ("restore", before[1])), (length, pairs)
            if before[1] > 0:
                assert not (before[0] == "store" and after == ("tape", before[1])), (length, pairs)


def test_sqrt_segment_count_is_smallest_minimiser():
    # The smallest k that minimises k + ceil(n / k), by brute force over every k.
    for length in range(1, 300):
        costs = {k: k + -(-length // k) for k in range(1, length + 1)}
        best = min(costs.values())
        assert sqrt_segment_count(length) == min(k for k, c in costs.items() if c == best), length


# efx.checkpointing.Checkpointed: the executor's own checks of a schedule, and odd modules.


class _Scripted:
    """A strategy that returns fixed actions, legal or not."""

    name = "scripted"

    def __init__(self, *pairs: tuple[Op, int]) -> None:
        self.actions = _actions(*pairs)

    def schedule(self, length: int) -> Schedule:
        return Schedule(length, self.name, lambda: iter(self.actions))


def _two_linear() -> nn.Sequential:
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)).to(F64)


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ([(TAPE, 0), (TAPE, 1)], "must record the chain's output before its first reverse"),
        ([(TAPE, 0), (REVERSE, 0)], "must record the chain's output before its first reverse"),
        ([(STORE, 1)], "store 1: the working state is a_0"),
        ([(STORE, 0), (STORE, 0)], "store 0: the working state is a_0"),
        ([(RESTORE, 1)], "restore 1: a_1 is not a stored checkpoint"),
        ([(FREE, 0)], "free 0: a_0 is not a stored checkpoint"),
        ([(TAPE, 1)], "module 1 needs a_1 but the working state is a_0"),
        (
            [(TAPE, 0), (TAPE, 1), (REVERSE, 1)],
            "reverse 1: the last recorded run does not start at module 1",
        ),
        (
            [(STORE, 0), (TAPE, 0), (TAPE, 1), (REVERSE, 0)],
            "the schedule of scripted ends before reversing the chain",
        ),
    ],
)
def test_checkpointed_rejects_illegal_schedule(actions, message):
    chain = _two_linear()
    x = torch.randn(4, 3, dtype=F64)

    with pytest.raises(ScheduleError, match=message):
        Checkpointed(chain, _Scripted(*actions))(x).sum().backward()


def test_checkpointed_restored_state_starts_new_recording():
    # The legal schedule of test_count_restored_state_starts_new_run, run on tensors.
    chain = _two_linear()
    twin = _two_linear()
    x = torch.randn(4, 3, dtype=F64)
    scripted = _Scripted(
        (TAPE, 0), (STORE, 1), (RESTORE, 1), (TAPE, 1), (REVERSE, 1), (REVERSE, 0), (FREE, 1)
    )

    chain(x).sum().backward()
    Checkpointed(twin, scripted)(x).sum().backward()

    for expected, actual in zip(chain.parameters(), twin.parameters(), strict=True):
        assert torch.equal(expected.grad, actual.grad)


@pytest.mark.parametrize("strategy", [MemoryPoor(), Segments(2), Binomial(2)])
def test_checkpointed_identity_modules(strategy):
    # nn.Identity returns its input: a recorded run whose output has no graph of its own.
    torch.manual_seed(8)
    plain = nn.Sequential(nn.Identity(), nn.Linear(3, 3), nn.Identity(), nn.Tanh()).to(F64)
    twin = copy.deepcopy(plain)
    x_plain = torch.randn(4, 3, dtype=F64, requires_grad=True)
    x = x_plain.detach().clone().requires_grad_(True)

    plain(x_plain).pow(2).sum().backward()
    Checkpointed(twin, strategy)(x).pow(2).sum().backward()

    for expected, parameter in zip(plain.parameters(), twin.parameters(), strict=True):
        assert torch.equal(expected.grad, parameter.grad)
    assert torch.equal(x_plain.grad, x.grad)


def test_checkpointed_backward_runs_once():
    chain = _two_linear()
    out = Checkpointed(chain, MemoryPoor())(torch.randn(4, 3, dtype=F64)).sum()
    out.backward(retain_graph=True)

    with pytest.raises(EfxError, match="already ran"):
        out.backward()


# More of efx.checkpointing.Checkpointed: counters, defaults and the no-grad path.


def test_checkpointed_defaults_and_counts():
    chain = _two_linear()
    model = Checkpointed(chain, Segments(2))
    x = torch.randn(4, 3, dtype=F64)

    assert model.last_counts is None
    assert model.track_saved is False
    model(x).sum().backward()

    counts = model.last_counts
    assert counts.strategy == "segments(2)"
    assert counts.peak_saved_bytes is None
    assert counts.cuda_max_allocated is None  # on CPU


def test_checkpointed_without_gradients_runs_each_module_once():
    chain = _two_linear()
    x = torch.randn(4, 3, dtype=F64)
    model = Checkpointed(chain, MemoryPoor())

    with torch.no_grad():
        output = model(x)

    assert torch.equal(output, chain(x))
    assert model.last_counts.strategy == "memory-poor"
    assert model.last_counts.forward_calls == (1, 1)
    assert model.last_counts.peak_stored == 0
    assert model.last_counts.peak_stored_bytes == 0


def test_trainable_parameters_skip_frozen_and_repeats():
    torch.manual_seed(9)
    shared = nn.Linear(3, 3).to(F64)
    frozen = nn.Linear(3, 3).to(F64).requires_grad_(False)
    model = Checkpointed([shared, frozen, shared])

    parameters = model.trainable_parameters()

    assert [id(p) for p in parameters] == [id(shared.weight), id(shared.bias)]


def test_checkpointed_shared_and_unused_parameters():
    # A parameter used by modules in different recorded runs gets both contributions; a
    # parameter that a module does not use gets no gradient, and the others still do.
    class WithUnused(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unused = nn.Parameter(torch.ones(2, dtype=F64))
            self.linear = nn.Linear(3, 3).to(F64)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.linear(x))

    torch.manual_seed(10)
    shared = nn.Linear(3, 3).to(F64)
    plain = nn.Sequential(shared, nn.Tanh(), WithUnused(), shared)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).pow(2).sum().backward()

    for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
        assert (expected.grad is None) == (actual.grad is None)
        if expected.grad is not None:
            # The shared weight's two contributions are added in another order: rounding.
            tolerance = gamma(8, F64) * float(expected.grad.abs().max())
            assert torch.allclose(expected.grad, actual.grad, rtol=0, atol=tolerance)


def test_checkpointed_input_grad_without_parameters():
    x_plain = torch.randn(4, 3, dtype=F64, requires_grad=True)
    x = x_plain.detach().clone().requires_grad_(True)

    torch.tanh(torch.tanh(x_plain)).sum().backward()
    Checkpointed([nn.Tanh(), nn.Tanh()], MemoryPoor())(x).sum().backward()

    assert torch.equal(x_plain.grad, x.grad)


def test_checkpointed_module_ignoring_its_input():
    # The recorded run of module 1 does not depend on a_1, so no gradient reaches module 0.
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.value = nn.Parameter(torch.ones(1, 3, dtype=F64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.value.expand(x.shape[0], 3) * 1.0

    torch.manual_seed(11)
    plain = nn.Sequential(nn.Linear(3, 3), Constant(), nn.Linear(3, 2)).to(F64)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).pow(2).sum().backward()

    for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
        want = torch.zeros_like(actual) if expected.grad is None else expected.grad
        got = torch.zeros_like(actual) if actual.grad is None else actual.grad
        assert torch.equal(want, got)


@pytest.mark.xfail(
    strict=True,
    reason="Checkpointed gives zero gradients where autograd gives None: module 0's "
    "parameters are not reached when module 1 ignores its input",
)
def test_checkpointed_unreached_parameters_have_no_gradient():
    class Constant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.value = nn.Parameter(torch.ones(1, 3, dtype=F64))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.value.expand(x.shape[0], 3) * 1.0

    plain = nn.Sequential(nn.Linear(3, 3), Constant(), nn.Linear(3, 2)).to(F64)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).pow(2).sum().backward()

    assert [p.grad is None for p in twin.parameters()] == [
        p.grad is None for p in plain.parameters()
    ]


class _RunningShift(nn.Module):
    """Subtracts a buffer that every training forward call moves towards the batch mean."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 3).to(F64)
        self.register_buffer("shift", torch.zeros(3, dtype=F64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x) - self.shift
        with torch.no_grad():
            self.shift.mul_(0.5).add_(0.5 * x.mean(dim=0))
        return out


@pytest.mark.parametrize("strategy", [MemoryPoor(), Segments(2)])
def test_checkpointed_replays_buffer_that_output_uses(strategy):
    # BatchNorm's output in training does not read its running buffers, so it cannot show
    # a recomputation that saw the updated buffer. This module's output does.
    torch.manual_seed(12)
    plain = nn.Sequential(_RunningShift(), nn.Tanh(), _RunningShift(), nn.Tanh())
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, strategy)(x).pow(2).sum().backward()

    for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
        assert torch.equal(expected.grad, actual.grad)
    for expected, actual in zip(plain.buffers(), twin.buffers(), strict=True):
        assert torch.equal(expected, actual)


def test_checkpointed_without_rng_replay_advances_generator():
    # preserve_rng=False: recomputed dropout draws from the caller's generator and leaves it
    # advanced; with replay the generator ends where the forward pass left it.
    torch.manual_seed(13)
    chain = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 8), nn.Dropout(0.5))
    chain = chain.to(F64)
    x = torch.randn(8, 3, dtype=F64)

    for preserve, advanced in ((False, True), (True, False)):
        model = Checkpointed(copy.deepcopy(chain), MemoryPoor(), preserve_rng=preserve)
        output = model(x)
        after_forward = torch.get_rng_state()
        # MemoryPoor compares nothing, so new masks do not raise here.
        output.sum().backward()
        assert (not torch.equal(torch.get_rng_state(), after_forward)) is advanced


def test_peak_bytes_are_peak_states_times_state_size():
    # Every state of a chain of equal widths has one size, so the byte peak is the
    # state peak times that size.
    torch.manual_seed(14)
    chain = nn.Sequential(*[nn.Linear(4, 4) for _ in range(6)]).to(F64)
    x = torch.randn(2, 4, dtype=F64)
    state = 2 * 4 * 8

    for strategy in (StoreAll(), MemoryPoor(), Segments(3), Binomial(2)):
        model = Checkpointed(copy.deepcopy(chain), strategy)
        model(x).sum().backward()
        counts = model.last_counts
        assert counts.peak_stored_bytes == counts.peak_stored * state, strategy
        assert counts.peak_stored == count(strategy.schedule(6)).peak_stored, strategy


def test_segment_schedules_compare_by_default():
    lengths = (2, 3)

    default = _pairs(segment_schedule(lengths, "segments"))
    checked = _pairs(segment_schedule(lengths, "segments", True))
    unchecked = _pairs(segment_schedule(lengths, "segments", False))

    assert default == checked
    assert default != unchecked
    assert TorchSequential(2).check is True
    assert _pairs(TorchSequential(2).schedule(5)) == _pairs(
        segment_schedule(torch_sequential_lengths(5, 2), "torch-sequential(2)", True)
    )
    assert segment_schedule(lengths, "segments").strategy == "segments"
    for check in (True, False):
        for strategy in (TorchSequential(2, check=check), Segments(2, check=check)):
            assert _pairs(strategy.schedule(5)) == _pairs(
                segment_schedule(strategy.lengths(5), strategy.name, check)
            ), strategy


# More of efx.lora and efx.lowrank.


def test_lora_repr_and_initial_state():
    layer = LoRALinear(nn.Linear(4, 3), 2, 4.0)

    assert layer.merged is False
    assert "init='kaiming', merged=False" in repr(layer)
    assert lora_scale(4.0, 2) == 2.0
    check_lora_arguments(nn.Linear(4, 3), 2, 4.0)  # the defaults are valid


def test_lora_generator_decides_initial_factors():
    torch.manual_seed(15)
    first = LoRALinear(nn.Linear(4, 3), 2, 4.0, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(16)
    second = LoRALinear(nn.Linear(4, 3), 2, 4.0, generator=torch.Generator().manual_seed(1))

    assert torch.equal(first.lora_A, second.lora_A)


def test_truncation_error_tolerance_formula():
    # The documented sum: twice the SVD's backward error, k-term inner products, one rounding.
    norm, shape = 3.0, (5, 4)
    for k, dtype in ((0, F64), (1, F64), (3, torch.float32)):
        expected = (
            2 * svd_backward_error(norm, shape, dtype)
            + gamma(max(k, 1), dtype) * max(k, 1) * norm
            + gamma(1, dtype) * norm
        )
        assert truncation_error_tolerance(norm, shape, k, dtype) == pytest.approx(
            expected, rel=1e-12
        )
