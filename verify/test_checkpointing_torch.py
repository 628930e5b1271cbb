"""What torch's own ``torch.utils.checkpoint`` does, as seen on one torch release, next to efx.

These checks observe torch, not efx: each skips on a torch release other than the one the
claim names, since the behaviour may change between releases. Where efx differs, the same
check runs efx's implementation next to torch's on the same input.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint, checkpoint_sequential

from efx.claims.ckpt_complexity import TORCH_SEEN
from efx.measure import peak_memory
from efx.tolerance import gamma

SAME_TORCH = pytest.mark.skipif(
    torch.__version__.split("+")[0] != TORCH_SEEN,
    reason=f"the claim describes torch {TORCH_SEEN}; this is torch {torch.__version__}",
)


def _batch_of_mean_five(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Mean 5 exactly, and a positive variance so the normalisation is defined.
    return torch.tensor([[4.0], [6.0], [3.0], [7.0]], device=device, dtype=dtype)


@SAME_TORCH
@pytest.mark.claim("ckpt.torch-batchnorm-twice", "ckpt.batchnorm-state")
@pytest.mark.parametrize("reentrant", [False, True], ids=["non-reentrant", "reentrant"])
def test_torch_checkpoint_updates_batchnorm_twice(device, dtype, impl, reentrant):
    x = _batch_of_mean_five(device, dtype).requires_grad_(True)
    # Each update is one multiply-add per term: a few roundings of values below 5.
    tolerance = gamma(4, dtype) * 5
    torch_bn = nn.BatchNorm1d(1, momentum=0.1).to(device, dtype)
    efx_bn = copy.deepcopy(torch_bn)

    checkpoint(torch_bn, x, use_reentrant=reentrant).pow(2).sum().backward()
    # A second module keeps efx's single BatchNorm inside a recomputed segment.
    efx_chain = impl.Checkpointed([efx_bn, nn.Identity()], impl.Segments(2))
    efx_chain(x).pow(2).sum().backward()

    assert abs(torch_bn.running_mean.item() - 0.95) <= tolerance
    assert int(torch_bn.num_batches_tracked) == 2
    assert abs(efx_bn.running_mean.item() - 0.5) <= tolerance
    assert int(efx_bn.num_batches_tracked) == 1


def _chain(depth: int, device: torch.device) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(*[nn.Sequential(nn.Linear(4, 4), nn.Tanh()) for _ in range(depth)]).to(
        device
    )


@SAME_TORCH
@pytest.mark.claim("ckpt.torch-reentrant-no-grad-input", "ckpt.no-grad-input")
def test_torch_reentrant_loses_parameter_grads(device, impl):
    x = torch.randn(3, 4, device=device)  # does not require grad
    reentrant, non_reentrant, plain = _chain(6, device), _chain(6, device), _chain(6, device)

    with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
        checkpoint_sequential(reentrant, 3, x, use_reentrant=True).sum().backward()
    checkpoint_sequential(non_reentrant, 3, x, use_reentrant=False).sum().backward()
    impl.Checkpointed(plain, impl.Segments(3))(x).sum().backward()

    # torch 2.13 splits 6 modules into 3 segments of 2; the first two are checkpointed.
    lost = [p.grad is None for p in reentrant.parameters()]
    assert lost == [True] * 8 + [False] * 4
    assert all(p.grad is not None for p in non_reentrant.parameters())
    assert all(p.grad is not None for p in plain.parameters())


class _Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def _calls_and_peak(run, depth: int) -> tuple[list[int], int]:
    modules = nn.Sequential(*[_Scale() for _ in range(depth)])
    calls = [0] * depth
    for index, module in enumerate(modules):
        module.register_forward_pre_hook(
            lambda *_args, index=index: calls.__setitem__(index, calls[index] + 1)
        )
    x = torch.ones(2**15, dtype=torch.float64, requires_grad=True)

    _, peak = peak_memory(lambda: run(modules, x).sum().backward(), torch.device("cpu"))
    return calls, peak.peak_bytes


@SAME_TORCH
@pytest.mark.claim("ckpt.torch-sequential-split")
def test_torch_sequential_split_and_memory(impl):
    torch5_calls, torch5 = _calls_and_peak(
        lambda m, x: checkpoint_sequential(m, 5, x, use_reentrant=False), 9
    )
    _, torch3 = _calls_and_peak(lambda m, x: checkpoint_sequential(m, 3, x, use_reentrant=False), 9)
    efx5_calls, efx5 = _calls_and_peak(lambda m, x: impl.Checkpointed(m, impl.Segments(5))(x), 9)

    # Checkpointed modules run twice, the last segment once: the split is [1, 1, 1, 1, 5].
    assert torch5_calls == [2, 2, 2, 2, 1, 1, 1, 1, 1]
    assert efx5_calls == [2, 2, 2, 2, 2, 2, 2, 1, 1]
    assert torch5 > torch3
    assert efx5 < torch5
