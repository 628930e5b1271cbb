"""Fault: BatchNorm treated as a per-sample layer, so micro-batches are ignored.

What is wrong: :func:`batch_norm_train` and :func:`batch_norm_backward` ignore ``sizes`` and
normalise every sample with the statistics of the whole batch, as if a sample's output
depended on that sample alone. In training mode BatchNorm normalises each micro-batch with
its own mean and variance, so under gradient accumulation the outputs, the gradients and the
running statistics all depend on how the window is split.

Seen in practice: the assumption that gradient accumulation over ``m`` micro-batches of size
``q`` reproduces a batch of ``m q`` for any model, which fails for models with BatchNorm in
training mode (the accumulated model trains ghost batch normalisation with groups of ``q``).

Caught by: ``bn.group-dependence`` and ``bn.backward-formula`` (outputs and gradients of
sections against torch's BatchNorm applied to each section).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401
from efx.normalization import DEFAULT_EPS, BatchNormGradients
from efx.normalization import batch_norm_backward as sectioned_backward
from efx.normalization import batch_norm_train as sectioned_train


def batch_norm_train(
    x: torch.Tensor,
    sizes: Sequence[int] | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Normalise with the whole batch's statistics, whatever the sections (the fault)."""
    return sectioned_train(x, None, weight, bias, eps)


def batch_norm_backward(
    x: torch.Tensor,
    grad_output: torch.Tensor,
    sizes: Sequence[int] | None = None,
    weight: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
) -> BatchNormGradients:
    """Differentiate the whole-batch normalisation, whatever the sections (the fault)."""
    return sectioned_backward(x, grad_output, None, weight, eps)
