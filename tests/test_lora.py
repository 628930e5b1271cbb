"""efx.lora's API: input checks, warnings, state errors and the model wrapper, as a user meets them."""

from __future__ import annotations

import copy
import math
import warnings

import pytest
import torch
from torch import nn

from efx.errors import EfxError, EfxWarning, InvalidArgumentError
from efx.lora import LoRALinear, LoRAStateError, lora_parameter_count, lora_scale
from efx.lora_init import init_factors_from_svd, init_factors_randomly
from efx.lora_model import wrap_linear_layers


def make_linear(in_features: int = 6, out_features: int = 4, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(in_features, out_features)


def snapshot(module: nn.Module) -> dict[str, tuple[torch.Tensor, bool]]:
    return {name: (p.detach().clone(), p.requires_grad) for name, p in module.named_parameters()}


def assert_unchanged(module: nn.Module, before: dict[str, tuple[torch.Tensor, bool]]) -> None:
    after = snapshot(module)
    assert after.keys() == before.keys()
    for name, (value, requires_grad) in before.items():
        assert torch.equal(after[name][0], value), name
        assert after[name][1] == requires_grad, name


# Constructor arguments: each bad value raises, names the argument and leaves the layer untouched.

BAD_LAYER_ARGUMENTS = [
    pytest.param({"r": 0}, "r=0", id="rank-zero"),
    pytest.param({"r": -2}, "r=-2", id="rank-negative"),
    pytest.param({"r": 2.0}, "r=2.0", id="rank-float"),
    pytest.param({"r": True}, "r=True", id="rank-bool"),
    pytest.param({"alpha": 0.0}, "alpha=0.0", id="alpha-zero"),
    pytest.param({"alpha": -1.0}, "alpha=-1.0", id="alpha-negative"),
    pytest.param({"alpha": math.inf}, "alpha=inf", id="alpha-inf"),
    pytest.param({"alpha": math.nan}, "alpha=nan", id="alpha-nan"),
    pytest.param({"alpha": "8"}, "alpha='8'", id="alpha-string"),
    pytest.param({"dropout": 1.0}, "dropout=1.0", id="dropout-one"),
    pytest.param({"dropout": -0.1}, "dropout=-0.1", id="dropout-negative"),
    pytest.param({"dropout": math.nan}, "dropout=nan", id="dropout-nan"),
    pytest.param({"init": "zeros"}, "init='zeros'", id="init-unknown"),
    pytest.param({"rslora": 1}, "rslora=1", id="rslora-int"),
    pytest.param({"generator": 0}, "generator=0", id="generator-int"),
    pytest.param({"r": 5, "init": "svd"}, "r=5", id="svd-rank-above-min"),
]


@pytest.mark.parametrize(("override", "shown"), BAD_LAYER_ARGUMENTS)
def test_layer_rejects_bad_argument(override, shown):
    base = make_linear()
    before = snapshot(base)
    arguments = {"r": 2, "alpha": 4.0} | override

    with pytest.raises(InvalidArgumentError) as error:
        LoRALinear(base, **arguments)

    message = str(error.value)
    assert message.startswith(shown)
    assert "Fix:" in message
    assert_unchanged(base, before)


@pytest.mark.parametrize(
    ("base", "shown"),
    [
        pytest.param(nn.Conv1d(3, 3, 1), "base='Conv1d'", id="conv"),
        pytest.param(nn.Sequential(nn.Linear(2, 2)), "base='Sequential'", id="container"),
        pytest.param(torch.zeros(2, 2), "base='Tensor'", id="tensor"),
        pytest.param(None, "base='NoneType'", id="none"),
    ],
)
def test_layer_rejects_non_linear_base(base, shown):
    with pytest.raises(InvalidArgumentError, match=f"^{shown}"):
        LoRALinear(base, r=1, alpha=1.0)


def test_layer_rejects_integer_weight():
    base = make_linear()
    base.weight = nn.Parameter(torch.zeros(4, 6, dtype=torch.int32), requires_grad=False)

    with pytest.raises(InvalidArgumentError, match=r"^base.weight.dtype=torch.int32"):
        LoRALinear(base, r=2, alpha=4.0)


def test_layer_rejects_wrapping_twice():
    layer = LoRALinear(make_linear(), r=2, alpha=4.0)

    with pytest.raises(InvalidArgumentError, match="wrapped already"):
        LoRALinear(layer, r=2, alpha=4.0)  # type: ignore[arg-type]


def test_svd_init_rejects_non_finite_weight():
    base = make_linear()
    with torch.no_grad():
        base.weight[0, 0] = math.nan
    before = snapshot(base)

    with pytest.raises(InvalidArgumentError, match="must be finite"):
        LoRALinear(base, r=2, alpha=4.0, init="svd")
    # NaN != NaN, so compare the finite entries and the flags.
    after = snapshot(base)
    assert torch.equal(after["weight"][0].nan_to_num(), before["weight"][0].nan_to_num())
    assert after["weight"][1] == before["weight"][1]


def test_forward_rejects_wrong_feature_count():
    layer = LoRALinear(make_linear(6, 4), r=2, alpha=4.0)

    with pytest.raises(InvalidArgumentError, match=r"^x=\(3, 5\) is invalid.*in_features = 6"):
        layer(torch.zeros(3, 5))
    with pytest.raises(InvalidArgumentError, match=r"^x='list'"):
        layer([0.0] * 6)  # type: ignore[arg-type]


def test_forward_accepts_leading_batch_dimensions():
    layer = LoRALinear(make_linear(6, 4), r=2, alpha=4.0)

    assert layer(torch.zeros(2, 3, 6)).shape == (2, 3, 4)


# Warnings for likely mistakes.


def test_rank_above_min_warns_with_random_init():
    with pytest.warns(EfxWarning, match=r"r=5 exceeds min\(in_features, out_features\) = 4"):
        layer = LoRALinear(make_linear(6, 4), r=5, alpha=4.0)
    assert layer.lora_A.shape == (5, 6)


def test_rank_within_min_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LoRALinear(make_linear(6, 4), r=4, alpha=4.0)


def test_merge_in_training_mode_warns():
    layer = LoRALinear(make_linear(), r=2, alpha=4.0, dropout=0.1)

    with pytest.warns(EfxWarning, match="training mode"):
        layer.merge()
    assert layer.merged


def test_svd_init_of_low_rank_weight_warns():
    base = make_linear(6, 4)
    with torch.no_grad():
        base.weight.copy_(torch.outer(torch.arange(1.0, 5.0), torch.ones(6)))  # rank 1

    with pytest.warns(EfxWarning, match="numerical rank is 1"):
        LoRALinear(base, r=3, alpha=3.0, init="svd")


# State errors.


def test_merge_twice_raises_state_error():
    layer = LoRALinear(make_linear(), r=2, alpha=4.0).eval()
    layer.merge()
    before = snapshot(layer)

    with pytest.raises(LoRAStateError, match="merged already"):
        layer.merge()
    assert layer.merged
    assert_unchanged(layer, before)


def test_unmerge_unmerged_raises_state_error():
    layer = LoRALinear(make_linear(), r=2, alpha=4.0).eval()
    before = snapshot(layer)

    with pytest.raises(LoRAStateError, match="not merged"):
        layer.unmerge()
    assert not layer.merged
    assert_unchanged(layer, before)


def test_state_error_is_an_efx_runtime_error():
    assert issubclass(LoRAStateError, EfxError)
    assert issubclass(LoRAStateError, RuntimeError)


# Scale, counts and initialisation.


@pytest.mark.parametrize(
    ("alpha", "r", "rslora", "expected"),
    [(16, 8, False, 2.0), (16, 4, True, 8.0), (3, 3, False, 1.0), (1.5, 2, False, 0.75)],
)
def test_scale_values(alpha, r, rslora, expected):
    assert lora_scale(alpha, r, rslora) == expected
    assert LoRALinear(make_linear(8, 8), r=r, alpha=alpha, rslora=rslora).scale == expected


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        pytest.param(lambda: lora_parameter_count(0, 4, 2), "in_features=0", id="count-in"),
        pytest.param(lambda: lora_parameter_count(4, 2.5, 2), "out_features=2.5", id="count-out"),
        pytest.param(lambda: lora_parameter_count(4, 4, 0), "r=0", id="count-rank"),
        pytest.param(lambda: lora_scale(0, 2), "alpha=0", id="scale-alpha"),
        pytest.param(lambda: lora_scale(1.0, 0), "r=0", id="scale-rank"),
        pytest.param(
            lambda: init_factors_randomly(torch.empty(2, 3), torch.empty(4, 2), "svd"),
            "kind='svd'",
            id="random-kind",
        ),
        pytest.param(
            lambda: init_factors_from_svd(
                torch.ones(4, 3), torch.empty(2, 3), torch.empty(4, 2), 0.0
            ),
            "scale=0.0",
            id="svd-scale",
        ),
        pytest.param(
            lambda: init_factors_from_svd(
                torch.ones(4, 3), torch.empty(4, 3), torch.empty(4, 4), 1.0
            ),
            "r=4",
            id="svd-rank",
        ),
    ],
)
def test_helpers_reject_bad_arguments(call, shown):
    with pytest.raises(InvalidArgumentError, match=f"^{shown} is invalid"):
        call()


def test_parameter_count_of_a_large_square_layer():
    assert lora_parameter_count(4096, 4096, 8) == 8 * (4096 + 4096)


@pytest.mark.parametrize("init", ["kaiming", "gaussian"])
def test_random_init_is_reproducible_with_a_generator(init):
    first = LoRALinear(
        make_linear(), r=2, alpha=4.0, init=init, generator=torch.Generator().manual_seed(3)
    )
    second = LoRALinear(
        make_linear(), r=2, alpha=4.0, init=init, generator=torch.Generator().manual_seed(3)
    )

    assert torch.equal(first.lora_A, second.lora_A)
    assert torch.count_nonzero(first.lora_B) == 0


def test_factors_follow_the_weight_dtype():
    layer = LoRALinear(make_linear().to(torch.float64), r=2, alpha=4.0)

    assert layer.lora_A.dtype == torch.float64
    assert layer.lora_B.dtype == torch.float64


def test_svd_init_bfloat16_weight():
    base = make_linear(8, 6).to(torch.bfloat16)
    original = base.weight.detach().float().clone()

    layer = LoRALinear(base, r=3, alpha=6.0, init="svd")
    rebuilt = layer.base.weight.float() + layer.delta_weight().float()

    # Two bfloat16 roundings (the update and the subtraction) per entry, relative to |W0| + |update|.
    u = 2.0**-8
    bound = 3 * u * (original.abs() + layer.delta_weight().float().abs())
    assert bool(((rebuilt - original).abs() <= bound).all())
    assert layer.lora_A.dtype == torch.bfloat16


def test_delta_weight_is_detached_and_scaled():
    layer = LoRALinear(make_linear(), r=2, alpha=6.0)
    with torch.no_grad():
        layer.lora_B.fill_(1.0)

    delta = layer.delta_weight()

    assert not delta.requires_grad
    assert torch.allclose(delta, 3.0 * layer.lora_B @ layer.lora_A)


def test_repr_shows_settings():
    assert "r=2, alpha=4, scale=2" in repr(LoRALinear(make_linear(), r=2, alpha=4.0))


# The model wrapper.


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 6), nn.LayerNorm(6), nn.Linear(6, 4), nn.Conv1d(1, 1, 1))


def test_wrap_named_layers_replaces_and_freezes():
    model = make_model()

    wrapped = wrap_linear_layers(model, ["0"], r=2, alpha=4.0)

    assert list(wrapped) == ["0"]
    assert isinstance(model[0], LoRALinear)
    assert isinstance(model[2], nn.Linear)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["0.lora_A", "0.lora_B"]


def test_wrap_all_linear_layers_without_freezing_others():
    model = make_model()

    wrapped = wrap_linear_layers(model, None, r=2, alpha=4.0, freeze_others=False)

    assert sorted(wrapped) == ["0", "2"]
    assert model[1].weight.requires_grad
    assert not model[0].base.weight.requires_grad


def test_wrap_shared_layer_once_under_every_name():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.Tanh(), shared)

    wrapped = wrap_linear_layers(model, ["0"], r=1, alpha=1.0)

    assert model[0] is model[2] is wrapped["0"]


def test_wrap_skips_bases_of_existing_wrappers():
    model = make_model()
    wrap_linear_layers(model, ["0"], r=2, alpha=4.0)

    wrapped = wrap_linear_layers(model, None, r=2, alpha=4.0)

    assert list(wrapped) == ["2"]


BAD_WRAP_CALLS = [
    pytest.param({"names": ["5"]}, "names='5'", id="unknown-name"),
    pytest.param({"names": ["1"]}, "names='1'.*LayerNorm", id="not-linear"),
    pytest.param({"names": "0"}, "names='0'.*not one string", id="string-not-list"),
    pytest.param({"names": []}, r"names=\[\]", id="empty"),
    pytest.param({"names": [""]}, "names=''", id="model-itself"),
    pytest.param({"names": ["0", "2"], "r": 5, "init": "svd"}, "r=5", id="second-layer-too-small"),
    pytest.param({"names": ["0", "2"], "alpha": -1.0}, "alpha=-1.0", id="bad-alpha"),
    pytest.param({"names": ["0"], "freeze_others": "yes"}, "freeze_others='yes'", id="bad-freeze"),
]


@pytest.mark.parametrize(("override", "shown"), BAD_WRAP_CALLS)
def test_wrap_rejects_bad_call_and_leaves_model_unchanged(override, shown):
    model = make_model()
    modules_before = [type(m) for m in model]
    before = snapshot(model)
    arguments = {"r": 2, "alpha": 4.0, "init": "svd"} | override

    with pytest.raises(InvalidArgumentError, match=f"^{shown}"):
        wrap_linear_layers(model, **arguments)

    assert [type(m) for m in model] == modules_before
    assert_unchanged(model, before)


def test_wrap_rejects_frozen_base_of_a_wrapper():
    model = make_model()
    wrap_linear_layers(model, ["0"], r=2, alpha=4.0)
    before = snapshot(model)

    with pytest.raises(InvalidArgumentError, match="frozen base"):
        wrap_linear_layers(model, ["0.base"], r=2, alpha=4.0)
    assert_unchanged(model, before)


@pytest.mark.parametrize("model", [nn.Linear(3, 3), "model"], ids=["linear", "string"])
def test_wrap_rejects_model_that_is_not_a_container(model):
    with pytest.raises(InvalidArgumentError, match=r"^model="):
        wrap_linear_layers(model, None, r=1, alpha=1.0)


def test_wrapped_model_output_is_unchanged_at_init():
    model = make_model()[:3]
    reference = copy.deepcopy(model)
    x = torch.randn(5, 8)

    wrap_linear_layers(model, None, r=2, alpha=4.0, dropout=0.2)

    model.train()
    reference.train()
    assert torch.equal(model(x), reference(x))
