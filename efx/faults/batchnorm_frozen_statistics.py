"""Fault: BatchNorm's backward pass treats the batch mean and variance as constants.

What is wrong: :func:`batch_norm_backward` returns ``dL/dx_i = gamma g_i / s`` per channel,
the gradient of an affine per-sample map. In training mode the mean and variance are
functions of every sample of the group, and the exact input gradient subtracts the group's
means of ``g`` and ``g * xhat``. Without them the input gradient is wrong for every group
of more than one sample (the weight and bias gradients stay right).

Seen in practice: hand-written BatchNorm layers whose backward reuses the evaluation-mode
formula, and derivations that differentiate ``(x - mu) / sigma`` as if ``mu`` and
``sigma`` did not depend on ``x``.

Caught by: ``bn.backward-formula`` (the closed form against autograd through torch's
BatchNorm).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401
from efx.normalization import DEFAULT_EPS, BatchNormGradients, section_statistics


def batch_norm_backward(
    x: torch.Tensor,
    grad_output: torch.Tensor,
    sizes: Sequence[int] | None = None,
    weight: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
) -> BatchNormGradients:
    """Return BatchNorm's gradients without the centring terms of the input gradient (wrong)."""
    sections = [x.shape[0]] if sizes is None else list(sizes)
    stats = section_statistics(x, sections)
    shape = (1, x.shape[1], *([1] * (x.dim() - 2)))
    dims = [0, *range(2, x.dim())]
    gamma = torch.ones(shape, dtype=x.dtype, device=x.device)
    if weight is not None:
        gamma = weight.reshape(shape)
    grad_inputs = []
    grad_weight = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    pairs = zip(torch.split(x, sections), torch.split(grad_output, sections), strict=True)
    for j, (section, g) in enumerate(pairs):
        scale = torch.sqrt(stats.variance[j] + eps).reshape(shape)
        xhat = (section - stats.mean[j].reshape(shape)) / scale
        # The fault: the mean and variance are treated as constants.
        grad_inputs.append(gamma / scale * g)
        grad_weight = grad_weight + (g * xhat).sum(dim=dims)
    return BatchNormGradients(torch.cat(grad_inputs), grad_weight, grad_output.sum(dim=dims))
