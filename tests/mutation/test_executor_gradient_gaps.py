"""Gradients of efx.checkpointing.Checkpointed where autograd's paths are unusual, pinned
after mutation testing: shared and unused parameters, a module that ignores its input, an
integer state, a state with no graph, and a module that uses another module's weight.

See docs/mutation.md for how mutants are made and which ones are left as equivalent.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from efx.checkpointing import (
    Checkpointed,
    MemoryPoor,
    Segments,
    StoreAll,
)
from efx.tolerance import gamma

F64 = torch.float64


def _two_linear() -> nn.Sequential:
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)).to(F64)


def test_checkpointed_shared_and_unused_parameters():
    # A parameter used by modules in different recorded runs gets both contributions. A
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


class _Constant(nn.Module):
    """Returns its parameter for every sample and ignores its input."""

    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.ones(1, 3, dtype=F64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(x.shape[0], 3) * 1.0


def test_checkpointed_module_ignoring_its_input():
    # The recorded run of module 1 does not depend on a_1, so no gradient reaches module 0.
    torch.manual_seed(11)
    plain = nn.Sequential(nn.Linear(3, 3), _Constant(), nn.Linear(3, 2)).to(F64)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).pow(2).sum().backward()

    for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
        want = torch.zeros_like(actual) if expected.grad is None else expected.grad
        got = torch.zeros_like(actual) if actual.grad is None else actual.grad
        assert torch.equal(want, got)


def test_checkpointed_unreached_parameters_have_no_gradient():
    plain = nn.Sequential(nn.Linear(3, 3), _Constant(), nn.Linear(3, 2)).to(F64)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).pow(2).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).pow(2).sum().backward()

    assert [p.grad is None for p in twin.parameters()] == [
        p.grad is None for p in plain.parameters()
    ]


class _ToLong(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.round().long()


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((3,), 2.0, dtype=F64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(F64) * self.weight


def test_checkpointed_integer_state_stops_gradient():
    # An integer state has no gradient, so the Linear before it gets none, as under autograd.
    torch.manual_seed(12)
    plain = nn.Sequential(nn.Linear(3, 3), _ToLong(), _Scale()).to(F64)
    twin = copy.deepcopy(plain)
    x = torch.randn(4, 3, dtype=F64)

    plain(x).sum().backward()
    Checkpointed(twin, MemoryPoor())(x).sum().backward()

    for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
        assert (expected.grad is None) == (actual.grad is None)
        if expected.grad is not None:
            assert torch.equal(expected.grad, actual.grad)


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class _Borrowing(nn.Module):
    """Uses the weight of another module, held as a plain attribute, not registered."""

    def __init__(self, lender: nn.Linear) -> None:
        super().__init__()
        self.lender = [lender]  # a list hides the module from nn.Module's registration

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ self.lender[0].weight.T)


@pytest.mark.parametrize("strategy", [MemoryPoor(), Segments(2), StoreAll()])
def test_checkpointed_gradients_match_autograd(strategy):
    # Three chains whose gradient paths are unusual: a state with no graph (zeros), an
    # in-place first module on an input without gradient, and a module using a later
    # module's weight. Each must give the plain chain's gradients, None where it gives None.
    torch.manual_seed(13)
    lender = nn.Linear(3, 3).to(F64)
    chains = [
        nn.Sequential(nn.Linear(3, 3), _Zero(), nn.Linear(3, 2)).to(F64),
        nn.Sequential(nn.ReLU(inplace=True), nn.Linear(3, 2)).to(F64),
        nn.Sequential(_Borrowing(lender), lender, nn.Tanh()),
    ]
    for plain in chains:
        twin = copy.deepcopy(plain)
        x = torch.randn(4, 3, dtype=F64)

        plain(x.clone()).pow(2).sum().backward()
        Checkpointed(twin, strategy)(x.clone()).pow(2).sum().backward()

        for expected, actual in zip(plain.parameters(), twin.parameters(), strict=True):
            assert (expected.grad is None) == (actual.grad is None), plain
            if expected.grad is not None:
                # A parameter used by two runs gets its two terms in another order.
                tolerance = gamma(8, F64) * float(expected.grad.abs().max())
                assert torch.allclose(expected.grad, actual.grad, rtol=0, atol=tolerance), plain
