"""efx.lora behaviour that mutation testing found unpinned: state after unmerge, the
initial state and the generator that draws the factors.

See docs/mutation.md for how mutants are made and which ones are left as equivalent.
"""

from __future__ import annotations

import torch
from torch import nn

from efx.lora import LoRALinear, check_lora_arguments, lora_scale

F64 = torch.float64


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


def test_lora_without_dropout_has_identity():
    layer = LoRALinear(nn.Linear(4, 3), 2, 4.0, dropout=0.0)

    assert isinstance(layer.dropout, nn.Identity)
    assert isinstance(LoRALinear(nn.Linear(4, 3), 2, 4.0, dropout=0.1).dropout, nn.Dropout)


def test_lora_factors_follow_base_device():
    # The factors are created on the base weight's device, whatever torch's default device is.
    base = nn.Linear(4, 3)

    with torch.device("meta"):
        layer = LoRALinear(base, 2, 4.0)

    assert layer.lora_A.device == base.weight.device
    assert layer.lora_B.device == base.weight.device
