"""Unit tests of efx.accumulation: every rejected input, and the accumulator's bookkeeping."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import find
from torch import nn

from efx.accumulation import (
    GradientAccumulator,
    accumulated_gradients,
    clip_accumulated,
    clip_gradients_,
    global_count,
    section_mean_gradients,
    sum_gradients_across_ranks_,
    undo_rank_average_,
    window_normaliser,
)
from efx.accumulation.estimators import clipping_strategies, mean_of_section_means, sum_over_count
from efx.data import load_digits
from efx.errors import EfxWarning, InvalidArgumentError
from efx.strategies.models import ModelSpec, model_specs


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs.squeeze(-1) - targets) ** 2


def linear() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(2, 1, dtype=torch.float64)


X = torch.randn(4, 2, dtype=torch.float64)
Y = torch.randn(4, dtype=torch.float64)
MASK = torch.tensor([[True, False], [False, False]])
TOKENS_X = torch.randn(2, 2, 2, dtype=torch.float64)
TOKENS_Y = torch.randn(2, 2, dtype=torch.float64)

WINDOW_ERRORS = [
    pytest.param(lambda: window_normaliser([]), "micro_batches=[]", id="empty-window"),
    pytest.param(
        lambda: window_normaliser([(X, Y[:3])]),
        "micro_batches[0].targets=(3,)",
        id="targets-mismatch",
    ),
    pytest.param(lambda: window_normaliser([(X,)]), "micro_batches[0]=", id="not-a-pair"),
    pytest.param(
        lambda: window_normaliser([(X, Y)], "tokens"),
        "micro_batches[0].mask=None",
        id="tokens-without-mask",
    ),
    pytest.param(
        lambda: window_normaliser([(TOKENS_X, TOKENS_Y, MASK[:, :1])], "tokens"),
        "micro_batches[0].mask=(2, 1)",
        id="mask-shape",
    ),
    pytest.param(
        lambda: window_normaliser(
            [(TOKENS_X, TOKENS_Y, torch.zeros(2, 2, dtype=torch.bool))], "tokens"
        ),
        "0 valid tokens",
        id="no-valid-token",
    ),
    pytest.param(
        lambda: window_normaliser([(X, Y)], "mean"), "normalise='mean'", id="unknown-mode"
    ),
    pytest.param(
        lambda: window_normaliser([(X, Y)], across_ranks=True),
        "across_ranks=True",
        id="no-process-group",
    ),
    pytest.param(lambda: global_count(-1), "local=-1", id="negative-count"),
]

GRADIENT_ERRORS = [
    pytest.param(
        lambda: accumulated_gradients(linear(), lambda o, t: mse(o, t).mean(), [(X, Y)]),
        "a tensor of shape ()",
        id="reduced-loss",
    ),
    pytest.param(
        lambda: accumulated_gradients(linear(), lambda o, t: mse(o, t) * math.inf, [(X, Y)]),
        "losses containing [inf",
        id="non-finite-loss",
    ),
    pytest.param(
        lambda: accumulated_gradients(linear(), mse, [(X, Y)], normaliser=0),
        "normaliser=0",
        id="zero-normaliser",
    ),
    pytest.param(
        lambda: accumulated_gradients(nn.Tanh(), mse, [(X, Y)]), "model='Tanh'", id="no-parameters"
    ),
    pytest.param(
        lambda: section_mean_gradients(linear(), mse, [(X, Y)], divisor=-2.0),
        "divisor=-2.0",
        id="negative-divisor",
    ),
    pytest.param(
        lambda: section_mean_gradients(
            linear(),
            mse,
            [(TOKENS_X, TOKENS_Y, MASK), (TOKENS_X, TOKENS_Y, torch.zeros(2, 2))],
            "tokens",
        ),
        "counts [1, 0]",
        id="empty-micro-batch",
    ),
]

CLIP_ERRORS = [
    pytest.param(
        lambda: clip_accumulated({"w": torch.ones(2)}, 0.0), "max_norm=0.0", id="zero-max-norm"
    ),
    pytest.param(
        lambda: clip_accumulated({"w": torch.ones(2)}, -1.0),
        "max_norm=-1.0",
        id="negative-max-norm",
    ),
    pytest.param(
        lambda: clip_accumulated({"w": torch.ones(2)}, math.nan), "max_norm=nan", id="nan-max-norm"
    ),
    pytest.param(lambda: clip_accumulated({}, 1.0), "gradients=[]", id="no-gradients"),
    pytest.param(
        lambda: clip_accumulated({"w": torch.tensor([math.inf])}, 1.0),
        "total norm inf",
        id="inf-gradient",
    ),
    pytest.param(lambda: clipping_strategies([], 1), "micro_gradients=[]", id="exact-no-gradients"),
    pytest.param(lambda: clipping_strategies([[1, 0]], 0), "max_norm=0", id="exact-zero-max-norm"),
    pytest.param(lambda: clipping_strategies([[1, 0], [1]], 1), "same length", id="exact-lengths"),
]

OTHER_ERRORS = [
    pytest.param(lambda: mean_of_section_means([[1], []]), "sections=", id="empty-section"),
    pytest.param(lambda: mean_of_section_means([[1]], divisor=0), "divisor=0", id="zero-divisor"),
    pytest.param(
        lambda: sum_over_count([[1]], divisor=-1), "divisor=-1", id="negative-count-divisor"
    ),
    pytest.param(lambda: load_digits(torch.int64), "dtype=torch.int64", id="integer-dtype"),
    pytest.param(lambda: ModelSpec("rnn", 1, 1, 1, 0, 0).build(), "kind='rnn'", id="unknown-model"),
    pytest.param(
        lambda: find(model_specs(kinds=("rnn",)), lambda _: True),
        "kinds=('rnn',)",
        id="unknown-model-kind",
    ),
    pytest.param(
        lambda: sum_gradients_across_ranks_(linear().parameters()),
        "no process group",
        id="sum-no-group",
    ),
    pytest.param(
        lambda: undo_rank_average_(linear().parameters()), "no process group", id="mean-no-group"
    ),
]


@pytest.mark.parametrize(
    ("call", "shown"), WINDOW_ERRORS + GRADIENT_ERRORS + CLIP_ERRORS + OTHER_ERRORS
)
def test_invalid_argument_names_value_and_fix(call, shown):
    with pytest.raises(InvalidArgumentError) as raised:
        call()

    message = str(raised.value)
    assert shown in message
    assert "is invalid: it" in message
    assert "Fix:" in message


ACCUMULATOR_ERRORS = [
    pytest.param(lambda: GradientAccumulator([]), "parameters=[]", id="no-parameters"),
    pytest.param(
        lambda: GradientAccumulator(linear().parameters(), max_norm=0),
        "max_norm=0",
        id="zero-max-norm",
    ),
    pytest.param(
        lambda: GradientAccumulator(linear().parameters(), data_parallel="avg"),
        "data_parallel='avg'",
        id="mode",
    ),
    pytest.param(
        lambda: GradientAccumulator(linear().parameters(), normalise="x"),
        "normalise='x'",
        id="normalise",
    ),
    pytest.param(
        lambda: GradientAccumulator(linear().parameters()).begin(),
        "micro_batches=None",
        id="begin-nothing",
    ),
    pytest.param(
        lambda: GradientAccumulator(linear().parameters()).begin([(X, Y)], total=4),
        "must be given exactly",
        id="both",
    ),
    pytest.param(
        lambda: GradientAccumulator(linear().parameters()).begin(total=0),
        "total=0",
        id="zero-total",
    ),
    pytest.param(
        lambda: GradientAccumulator(linear().parameters()).backward(torch.ones(2)),
        "begin='not called'",
        id="no-begin",
    ),
    pytest.param(
        lambda: GradientAccumulator(linear().parameters()).step(),
        "begin='not called'",
        id="step-no-begin",
    ),
]


@pytest.mark.parametrize(("call", "shown"), ACCUMULATOR_ERRORS)
def test_accumulator_rejects_bad_use(call, shown):
    with pytest.raises(InvalidArgumentError, match="Fix:") as raised:
        call()

    assert shown in str(raised.value)


def started(model: nn.Module, total: int = 4, **options) -> GradientAccumulator:
    accumulator = GradientAccumulator(model.parameters(), **options)
    accumulator.begin(total=total)
    return accumulator


def test_accumulator_rejects_reduced_loss_without_change():
    model = linear()
    accumulator = started(model)

    with pytest.raises(InvalidArgumentError, match="unreduced"):
        accumulator.backward(mse(model(X), Y).mean())

    assert all(p.grad is None for p in model.parameters())
    assert accumulator.counted == 0


def test_accumulator_rejects_non_finite_loss_without_change():
    model = linear()
    accumulator = started(model)

    with pytest.raises(InvalidArgumentError, match="must be finite"):
        accumulator.backward(mse(model(X), Y) / 0.0)

    assert all(p.grad is None for p in model.parameters())


def test_accumulator_rejects_more_samples_than_counted():
    model = linear()
    accumulator = started(model, total=3)

    with pytest.raises(InvalidArgumentError, match="must not exceed the window's count 3"):
        accumulator.backward(mse(model(X), Y))

    assert all(p.grad is None for p in model.parameters())


def test_accumulator_tokens_need_mask():
    model = linear()
    accumulator = started(model, normalise="tokens")

    with pytest.raises(InvalidArgumentError, match="mask=None"):
        accumulator.backward(torch.ones(2, 2, dtype=torch.float64))


def test_accumulator_warns_when_window_short():
    model = linear()
    accumulator = started(model, total=8)
    accumulator.backward(mse(model(X), Y))

    with pytest.warns(EfxWarning, match="counted as 8 but backward\\(\\) saw 4"):
        accumulator.step()


def test_accumulator_warns_on_begin_before_step():
    model = linear()
    accumulator = started(model, total=4)
    accumulator.backward(mse(model(X), Y))

    with pytest.warns(EfxWarning, match="without step"):
        accumulator.begin(total=4)


def test_accumulator_step_clears_state_and_gradients():
    model = linear()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    accumulator = GradientAccumulator(model.parameters(), optimizer, max_norm=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    accumulator.begin([(X, Y)])
    accumulator.backward(mse(model(X), Y))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norm = accumulator.step()

    assert norm is not None
    assert norm > 1e-3
    assert (accumulator.total, accumulator.counted) == (None, 0)
    assert all(p.grad is None for p in model.parameters())
    step = torch.cat(
        [(b - p.detach()).flatten() for b, p in zip(before, model.parameters(), strict=True)]
    )
    assert float(step.norm()) == pytest.approx(0.1 * 1e-3, rel=1e-9)


def test_accumulator_without_optimizer_keeps_gradient():
    model = linear()
    accumulator = GradientAccumulator(model.parameters())
    accumulator.begin([(X, Y)])
    accumulator.backward(mse(model(X), Y))
    accumulator.step()

    expected = accumulated_gradients(model, mse, [(X, Y)])
    torch.testing.assert_close(model.weight.grad, expected["weight"])


def test_clip_accumulated_leaves_small_gradient_and_inputs_alone():
    gradients = {"w": torch.tensor([0.3, 0.4])}

    clipped, norm = clip_accumulated(gradients, max_norm=1.0)

    assert norm == pytest.approx(0.5)
    assert torch.equal(clipped["w"], gradients["w"])
    assert clipped["w"] is not gradients["w"]


def test_clip_gradients_in_place_skips_missing_grads():
    model = linear()
    model.weight.grad = torch.tensor([[3.0, 4.0]], dtype=torch.float64)

    norm = clip_gradients_(model.parameters(), max_norm=1.0)

    assert norm == pytest.approx(5.0)
    torch.testing.assert_close(model.weight.grad, torch.tensor([[0.6, 0.8]], dtype=torch.float64))
    assert model.bias.grad is None


def test_accumulated_gradients_leave_grad_untouched():
    model = linear()

    accumulated_gradients(model, mse, [(X[:1], Y[:1]), (X[1:], Y[1:])])

    assert all(p.grad is None for p in model.parameters())


def test_unused_parameter_gets_zero_gradient():
    model = nn.ModuleDict(
        {
            "used": nn.Linear(2, 1, dtype=torch.float64),
            "unused": nn.Linear(2, 1, dtype=torch.float64),
        }
    )

    def forward(x):
        return model["used"](x)

    wrapper = nn.Module()
    wrapper.inner = model
    wrapper.forward = forward  # type: ignore[method-assign]
    gradients = accumulated_gradients(wrapper, mse, [(X, Y)])

    assert torch.count_nonzero(gradients["inner.unused.weight"]) == 0


def test_window_normaliser_counts_samples_and_tokens():
    assert window_normaliser([(X[:3], Y[:3]), (X[3:], Y[3:])]) == 4
    assert (
        window_normaliser([(TOKENS_X, TOKENS_Y, MASK), (TOKENS_X, TOKENS_Y, ~MASK)], "tokens") == 4
    )


def test_load_digits_shape_and_range():
    images, labels = load_digits(torch.float64)

    assert images.shape == (1797, 1, 8, 8)
    assert labels.shape == (1797,)
    assert float(images.min()) == 0.0
    assert float(images.max()) == 1.0
    assert set(labels.tolist()) == set(range(10))


def test_load_digits_matches_scikit_learn_loader():
    from sklearn.datasets import load_digits as sklearn_digits

    images, labels = load_digits(torch.float64)
    reference = sklearn_digits()

    assert torch.equal(images, torch.as_tensor(reference.images).unsqueeze(1) / 16)
    assert torch.equal(labels, torch.as_tensor(reference.target))


def test_model_spec_builds_same_parameters_from_seed():
    spec = ModelSpec("cnn", 1, 2, 3, 4, seed=9)

    first, second = spec.build(), spec.build(torch.float32)

    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a.to(torch.float32), b)
    assert first(torch.zeros(2, *spec.input_shape, dtype=torch.float64)).shape == (2, 3)
