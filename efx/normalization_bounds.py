"""Rounding-error bounds for BatchNorm's outputs and gradients computed in floating point.

Two float implementations of train-mode BatchNorm (torch's kernel and the closed forms of
:mod:`efx.normalization`) compute the same real numbers in different orders. Each result is
within the bound below of the real value, so the two differ by at most twice the bound.
The bounds are first-order rounding-error bounds in the style of :mod:`efx.tolerance`, with
``gamma_k = k u / (1 - k u)``. They hold per channel and group of ``N`` values, with
``k = N + 6``: the sum of ``N`` terms plus the subtraction, square, offset, square root,
division and affine map.

- mean: ``d_mu <= gamma_k mean|x|``;
- variance: ``d_var <= 2 gamma_k mean((|x| + |mu|)^2)``, loose enough for a one-pass kernel
  (mean of squares minus squared mean), whose error grows with ``mu^2``;
- scale ``s = sqrt(var + eps)``: ``d_s / s <= d_var / (2 s^2) + gamma_2``;
- ``xhat = (x - mu) / s``: ``d_xhat <= d_mu / s + (|x| + |mu|) / s * (d_s / s + gamma_3)``, which
  also covers kernels that compute ``x / s - mu / s``;
- output ``gamma xhat + beta``: ``|gamma| d_xhat + gamma_2 (|gamma xhat| + |y|)``, two roundings
  each for the product and the sum, as in kernels that fold ``mu`` and ``beta`` into one shift.

NOTE: the bounds are first order (products of two rounding errors are dropped) and were
checked against torch's CPU kernels only; CUDA kernels may order their sums differently.

The gradient bounds propagate ``d_xhat`` and ``d_s`` through the backward formula the same
way. The magnitudes come from the float64 values of the inputs, so the bound is computed in
float64 whatever the dtype it bounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from efx.errors import invalid_argument
from efx.normalization import DEFAULT_EPS, BatchNormGradients, validate_arguments
from efx.tolerance import gamma

__all__ = ["gradient_error_bound", "output_error_bound"]

_EXTRA_ROUNDINGS = 6


def _dims(x: torch.Tensor) -> list[int]:
    return [0, *range(2, x.dim())]


def _group_errors(
    section: torch.Tensor, eps: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    # Returns xhat, the scale s, and the bounds on |d xhat| (elementwise) and d_s / s (per channel).
    dims = _dims(section)
    count = section.numel() // section.shape[1]
    k = count + _EXTRA_ROUNDINGS
    mean = section.mean(dim=dims, keepdim=True)
    centred = section - mean
    scale = torch.sqrt((centred * centred).mean(dim=dims, keepdim=True) + eps)
    xhat = centred / scale

    d_mean = gamma(k, dtype) * section.abs().mean(dim=dims, keepdim=True)
    d_var = 2 * gamma(k, dtype) * ((section.abs() + mean.abs()) ** 2).mean(dim=dims, keepdim=True)
    relative_scale = d_var / (2 * scale**2) + gamma(2, dtype)
    # Kernels may evaluate x * (1/s) - mu * (1/s) instead of (x - mu) / s, so the scale's relative
    # error multiplies (|x| + |mu|) / s, not only |xhat|.
    spread = (section.abs() + mean.abs()) / scale
    d_xhat = d_mean / scale + spread * (relative_scale + gamma(3, dtype))
    return xhat, scale, d_xhat, relative_scale


def _as_float64(tensor: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    channels = like.shape[1]
    shape = (1, channels, *([1] * (like.dim() - 2)))
    if tensor is None:
        return torch.ones(shape, dtype=torch.float64, device=like.device)
    return tensor.detach().to(torch.float64).reshape(shape)


def output_error_bound(
    x: torch.Tensor,
    sizes: Sequence[int] | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Bound, per element, the rounding error of train-mode BatchNorm's output computed in ``dtype``.

    Args:
        x: the input, shape ``(N, C)`` or ``(N, C, *spatial)``; its values set the magnitudes.
        sizes: the sections, each normalised with its own statistics; ``None`` is the full batch.
        weight, bias: ``gamma`` and ``beta``, shape ``(C,)``, or ``None`` for 1 and 0.
        eps: the variance offset.
        dtype: the dtype of the computation bounded (default ``x.dtype``).

    Returns:
        A float64 tensor shaped like ``x``.
    """
    x, sizes, weight, bias, eps, _ = validate_arguments(x, sizes, weight, bias, eps)
    dtype = x.dtype if dtype is None else dtype
    x64 = x.detach().to(torch.float64)
    scale_param = _as_float64(weight, x64)
    shift = (
        torch.zeros_like(scale_param)
        if bias is None
        else bias.detach().to(torch.float64).reshape(scale_param.shape)
    )
    bounds = []
    for section in torch.split(x64, list(sizes)):
        xhat, _, d_xhat, _ = _group_errors(section, eps, dtype)
        outputs = scale_param * xhat + shift
        bounds.append(
            scale_param.abs() * d_xhat
            + gamma(2, dtype) * ((scale_param * xhat).abs() + outputs.abs())
        )
    return torch.cat(bounds)


def gradient_error_bound(
    x: torch.Tensor,
    grad_output: torch.Tensor,
    sizes: Sequence[int] | None = None,
    weight: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
    dtype: torch.dtype | None = None,
) -> BatchNormGradients:
    """Bound the rounding errors of BatchNorm's input, weight and bias gradients computed in ``dtype``.

    The bound covers the backward formula of :func:`efx.normalization.batch_norm_backward` with
    ``grad_output`` exact; see the module docstring for the terms.

    Returns:
        Float64 bounds shaped like the gradients: ``(N, C, ...)``, ``(C,)`` and ``(C,)``.
    """
    x, sizes, weight, _, eps, upstream = validate_arguments(
        x, sizes, weight, None, eps, grad_output
    )
    if upstream is None:
        raise invalid_argument(
            "grad_output", None, "must be a tensor shaped like x", "pass dL/dy for every output"
        )
    dtype = x.dtype if dtype is None else dtype
    x64 = x.detach().to(torch.float64)
    g64 = upstream.detach().to(torch.float64)
    scale_param = _as_float64(weight, x64).abs()
    dims = _dims(x64)
    total = x64.numel() // x64.shape[1]
    k_total = total + _EXTRA_ROUNDINGS

    input_bounds = []
    weight_bound = torch.zeros(x64.shape[1], dtype=torch.float64, device=x64.device)
    for section, g in zip(
        torch.split(x64, list(sizes)), torch.split(g64, list(sizes)), strict=True
    ):
        xhat, scale, d_xhat, relative_scale = _group_errors(section, eps, dtype)
        count = section.numel() // section.shape[1]
        k = count + _EXTRA_ROUNDINGS
        mean_g = g.mean(dim=dims, keepdim=True)
        mean_gx = (g * xhat).mean(dim=dims, keepdim=True)
        d_mean_g = gamma(k, dtype) * g.abs().mean(dim=dims, keepdim=True)
        d_mean_gx = gamma(k, dtype) * (g * xhat).abs().mean(dim=dims, keepdim=True) + (
            g.abs() * d_xhat
        ).mean(dim=dims, keepdim=True)
        inner = g - mean_g - xhat * mean_gx
        d_inner = (
            d_mean_g
            + d_xhat * mean_gx.abs()
            + xhat.abs() * d_mean_gx
            + gamma(3, dtype) * (g.abs() + mean_g.abs() + (xhat * mean_gx).abs())
        )
        input_bounds.append(
            scale_param / scale * (d_inner + inner.abs() * (relative_scale + gamma(2, dtype)))
        )
        weight_bound = weight_bound + (g.abs() * d_xhat).sum(dim=dims)

    xhat_all = torch.cat([_group_errors(s, eps, dtype)[0] for s in torch.split(x64, list(sizes))])
    weight_bound = weight_bound + gamma(k_total, dtype) * (g64 * xhat_all).abs().sum(dim=dims)
    bias_bound = gamma(k_total, dtype) * g64.abs().sum(dim=dims)
    return BatchNormGradients(torch.cat(input_bounds), weight_bound, bias_bound)
