"""BatchNorm in closed form when a batch is split into sections, as gradient accumulation splits it.

In training mode BatchNorm normalises every sample with the statistics of its normalisation
group. With gradient accumulation each section (micro-batch) is its own group, so the
outputs, the gradients and the running statistics all change. The functions here compute
those quantities from their definitions, independently of ``torch.nn.BatchNorm*``:

- :func:`section_statistics`: mean and biased variance of every channel in every section;
- :func:`batch_norm_train`: ``y = gamma (x - mu_G) / sqrt(sigma_G^2 + eps) + beta``, with ``G``
  the section that contains the sample;
- :func:`batch_norm_backward`: the input, weight and bias gradients of that map;
- :func:`efx.normalization_running.running_statistics`: the running buffers after one
  momentum update per section.

The layout follows torch: ``x`` has shape ``(N, C)`` or ``(N, C, *spatial)`` and sections are
consecutive runs of samples along dimension 0. A channel's statistics in a group are taken
over the group's samples and every spatial position, so over ``q_j x H x W`` values for an
image section of ``q_j`` samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch

from efx.errors import EfxWarning, invalid_argument

DEFAULT_EPS = 1e-5
"""torch's default ``eps`` for ``BatchNorm1d/2d/3d``."""

__all__ = [
    "DEFAULT_EPS",
    "BatchNormGradients",
    "SectionStatistics",
    "ValidArguments",
    "batch_norm_backward",
    "batch_norm_train",
    "check_sizes",
    "section_statistics",
    "validate_arguments",
]


@dataclass(frozen=True)
class SectionStatistics:
    """Per-channel statistics of each section.

    Attributes:
        mean: ``(m, C)`` means ``mu_j``.
        variance: ``(m, C)`` biased variances ``sigma_j^2`` (divided by the count, not count - 1).
        counts: values per channel in each section, ``q_j`` times the number of spatial positions.
    """

    mean: torch.Tensor
    variance: torch.Tensor
    counts: tuple[int, ...]


@dataclass(frozen=True)
class BatchNormGradients:
    """Gradients of a loss through train-mode BatchNorm.

    Attributes:
        input: ``dL/dx``, shaped like ``x``.
        weight: ``dL/dgamma``, shape ``(C,)``.
        bias: ``dL/dbeta``, shape ``(C,)``.
    """

    input: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor


def check_sizes(sizes: Sequence[int] | None, total: int) -> tuple[int, ...]:
    """Validate section sizes and return them as a tuple; ``None`` means one section of ``total``.

    Raises:
        InvalidArgumentError: if a size is not an integer >= 1 or the sizes do not add up to ``total``.
    """
    if sizes is None:
        return (total,)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise invalid_argument(
            "sizes", sizes, "must be a sequence of integers", "pass for example [2, 2]"
        )
    if len(sizes) == 0:
        raise invalid_argument(
            "sizes", sizes, "must contain at least one section size", f"pass [{total}]"
        )
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise invalid_argument(
                "sizes",
                sizes,
                f"must contain integers >= 1, but contains {size!r}",
                "drop empty sections",
            )
    if sum(sizes) != total:
        raise invalid_argument(
            "sizes",
            sizes,
            f"must add up to the batch size {total}, but adds up to {sum(sizes)}",
            "give every sample of the batch to exactly one section",
        )
    return tuple(sizes)


def _check_input(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise invalid_argument("x", type(x).__name__, "must be a torch.Tensor", "pass a tensor")
    if not x.is_floating_point():
        raise invalid_argument(
            "x", x.dtype, "must have a floating-point dtype", "convert with x.double()"
        )
    if x.dim() < 2:
        raise invalid_argument(
            "x",
            tuple(x.shape),
            "must have shape (N, C) or (N, C, *spatial)",
            "add a channel dimension",
        )
    if x.numel() == 0:
        raise invalid_argument("x", tuple(x.shape), "must not be empty", "pass at least one sample")
    return x


def _check_eps(eps: float) -> float:
    if (
        isinstance(eps, bool)
        or not isinstance(eps, (int, float))
        or not math.isfinite(eps)
        or eps <= 0
    ):
        raise invalid_argument(
            "eps",
            eps,
            "must be a finite number > 0 (torch raises for eps = 0 in training)",
            f"pass torch's default {DEFAULT_EPS}",
        )
    return float(eps)


def _check_channel_parameter(
    value: torch.Tensor | None, name: str, x: torch.Tensor
) -> torch.Tensor | None:
    if value is None:
        return None
    if not isinstance(value, torch.Tensor):
        raise invalid_argument(
            name, type(value).__name__, "must be a torch.Tensor or None", "pass a tensor"
        )
    channels = x.shape[1]
    if value.shape != (channels,):
        raise invalid_argument(
            name,
            tuple(value.shape),
            f"must have shape (C,) = ({channels},)",
            "pass one value per channel",
        )
    if value.dtype != x.dtype or value.device != x.device:
        raise invalid_argument(
            name,
            f"{value.dtype} on {value.device}",
            f"must match x's dtype {x.dtype} and device {x.device}",
            f"convert with {name}.to(x)",
        )
    return value


def _check_grad_output(grad_output: object, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(grad_output, torch.Tensor) or grad_output.shape != x.shape:
        shape = (
            tuple(grad_output.shape)
            if isinstance(grad_output, torch.Tensor)
            else type(grad_output).__name__
        )
        raise invalid_argument(
            "grad_output",
            shape,
            f"must be a tensor shaped like x, {tuple(x.shape)}",
            "pass dL/dy for every output",
        )
    if grad_output.dtype != x.dtype or grad_output.device != x.device:
        raise invalid_argument(
            "grad_output",
            f"{grad_output.dtype} on {grad_output.device}",
            f"must match x's dtype {x.dtype} and device {x.device}",
            "convert with grad_output.to(x)",
        )
    return grad_output


class ValidArguments(NamedTuple):
    """Arguments of a BatchNorm closed form after validation."""

    x: torch.Tensor
    sizes: tuple[int, ...]
    weight: torch.Tensor | None
    bias: torch.Tensor | None
    eps: float
    grad_output: torch.Tensor | None


def validate_arguments(
    x: torch.Tensor,
    sizes: Sequence[int] | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
    grad_output: torch.Tensor | None = None,
) -> ValidArguments:
    """Validate the arguments the closed forms share, and return them with ``sizes`` as a tuple.

    Raises:
        InvalidArgumentError: naming the first invalid argument, its value, the rule and a fix.
    """
    x = _check_input(x)
    return ValidArguments(
        x=x,
        sizes=check_sizes(sizes, x.shape[0]),
        weight=_check_channel_parameter(weight, "weight", x),
        bias=_check_channel_parameter(bias, "bias", x),
        eps=_check_eps(eps),
        grad_output=None if grad_output is None else _check_grad_output(grad_output, x),
    )


def _reduced_dims(x: torch.Tensor) -> list[int]:
    # Every dimension except the channel dimension 1: samples and spatial positions.
    return [0, *range(2, x.dim())]


def _channel_shape(x: torch.Tensor) -> tuple[int, ...]:
    # Broadcasts a (C,) vector against x: (1, C, 1, ..., 1).
    return (1, x.shape[1], *([1] * (x.dim() - 2)))


def _values_per_channel(section: torch.Tensor) -> int:
    return section.numel() // section.shape[1]


def _warn_single_values(counts: Sequence[int]) -> None:
    if 1 in counts:
        warnings.warn(
            f"a section contains one value per channel (values per channel: {list(counts)}); its "
            "variance is 0, so it normalises to beta whatever its value, and torch's train-mode "
            "BatchNorm raises ValueError for it. Use sections of at least two values per channel",
            EfxWarning,
            stacklevel=3,
        )


def section_statistics(x: torch.Tensor, sizes: Sequence[int] | None = None) -> SectionStatistics:
    """Compute the mean and biased variance of every channel in every section.

    Section ``j`` contains ``sizes[j]`` consecutive samples. Its statistics per channel are taken
    over its samples and all spatial positions, as train-mode BatchNorm takes them.

    Args:
        x: input of shape ``(N, C)`` or ``(N, C, *spatial)``.
        sizes: section sizes ``q_1, ..., q_m`` adding up to ``N``; ``None`` is one section.

    Returns:
        The ``(m, C)`` means and biased variances, and the values per channel of each section.

    Raises:
        InvalidArgumentError: if ``x`` or ``sizes`` is invalid.

    >>> stats = section_statistics(torch.tensor([[0.0], [0.0], [-1.0], [1.0]]), [2, 2])
    >>> stats.mean.flatten().tolist(), stats.variance.flatten().tolist(), stats.counts
    ([0.0, 0.0], [0.0, 1.0], (2, 2))
    """
    x = _check_input(x)
    sections = torch.split(x, list(check_sizes(sizes, x.shape[0])), dim=0)
    dims = _reduced_dims(x)

    means, variances = [], []
    for section in sections:
        mean = section.mean(dim=dims)
        centred = section - mean.reshape(_channel_shape(x))
        means.append(mean)
        variances.append((centred * centred).mean(dim=dims))
    counts = tuple(_values_per_channel(section) for section in sections)
    return SectionStatistics(torch.stack(means), torch.stack(variances), counts)


def batch_norm_train(
    x: torch.Tensor,
    sizes: Sequence[int] | None = None,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Apply train-mode BatchNorm to each section with that section's own statistics.

    Every sample ``i`` of section ``G`` maps to ``gamma (x_i - mu_G) / sqrt(sigma_G^2 + eps) + beta``
    per channel, with ``mu_G`` and the biased ``sigma_G^2`` from :func:`section_statistics`.
    With ``sizes=None`` this is full-batch BatchNorm. Under gradient accumulation with these
    sections it is what the model computes, also known as ghost batch normalisation.

    Args:
        x: input of shape ``(N, C)`` or ``(N, C, *spatial)``.
        sizes: section sizes adding up to ``N``; ``None`` is one section (the full batch).
        weight: ``gamma``, shape ``(C,)``; ``None`` means 1.
        bias: ``beta``, shape ``(C,)``; ``None`` means 0.
        eps: the variance offset, > 0.

    Returns:
        The outputs, shaped like ``x``.

    Raises:
        InvalidArgumentError: if an argument is invalid.

    Warns:
        EfxWarning: if a section contains a single value per channel.

    >>> x = torch.tensor([[1.0], [2.0], [3.0], [10.0]], dtype=torch.float64)
    >>> batch_norm_train(x, eps=1e-5).flatten().round(decimals=3).tolist()
    [-0.849, -0.566, -0.283, 1.697]
    >>> batch_norm_train(x, [2, 2], eps=1e-5).flatten().round(decimals=3).tolist()
    [-1.0, 1.0, -1.0, 1.0]
    """
    x, sizes, weight, bias, eps, _ = validate_arguments(x, sizes, weight, bias, eps)
    stats = section_statistics(x, sizes)
    _warn_single_values(stats.counts)

    outputs = []
    shape = _channel_shape(x)
    for j, section in enumerate(torch.split(x, list(sizes), dim=0)):
        scale = torch.sqrt(stats.variance[j] + eps).reshape(shape)
        outputs.append((section - stats.mean[j].reshape(shape)) / scale)
    normalised = torch.cat(outputs)

    if weight is not None:
        normalised = normalised * weight.reshape(shape)
    if bias is not None:
        normalised = normalised + bias.reshape(shape)
    return normalised


def batch_norm_backward(
    x: torch.Tensor,
    grad_output: torch.Tensor,
    sizes: Sequence[int] | None = None,
    weight: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
) -> BatchNormGradients:
    """Compute the gradients of a loss through :func:`batch_norm_train`, from the closed form.

    With ``g = dL/dy``, ``s_G = sqrt(sigma_G^2 + eps)`` and ``xhat = (x - mu_G) / s_G``, per
    channel and section ``G``::

        dL/dx_i    = (gamma / s_G) * (g_i - mean_G(g) - xhat_i * mean_G(g * xhat))
        dL/dgamma  = sum_i g_i * xhat_i
        dL/dbeta   = sum_i g_i

    The input gradient subtracts the group's means of ``g`` and ``g * xhat``: samples are coupled
    through their group even where the forward outputs of two groupings agree.

    Args:
        x: input of shape ``(N, C)`` or ``(N, C, *spatial)``.
        grad_output: ``dL/dy``, shaped like ``x``.
        sizes: section sizes adding up to ``N``; ``None`` is one section (the full batch).
        weight: ``gamma``, shape ``(C,)``; ``None`` means 1.
        eps: the variance offset, > 0.

    Returns:
        The input, weight and bias gradients.

    Raises:
        InvalidArgumentError: if an argument is invalid.
    """
    x, sizes, weight, _, eps, upstream = validate_arguments(
        x, sizes, weight, None, eps, grad_output
    )
    if upstream is None:
        raise invalid_argument(
            "grad_output", None, "must be a tensor shaped like x", "pass dL/dy for every output"
        )
    stats = section_statistics(x, sizes)
    _warn_single_values(stats.counts)

    shape = _channel_shape(x)
    dims = _reduced_dims(x)
    gamma = (
        torch.ones(shape, dtype=x.dtype, device=x.device)
        if weight is None
        else weight.reshape(shape)
    )
    grad_inputs = []
    grad_weight = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    sections = zip(torch.split(x, list(sizes)), torch.split(upstream, list(sizes)), strict=True)
    for j, (section, g) in enumerate(sections):
        scale = torch.sqrt(stats.variance[j] + eps).reshape(shape)
        xhat = (section - stats.mean[j].reshape(shape)) / scale
        mean_g = g.mean(dim=dims, keepdim=True)
        mean_g_xhat = (g * xhat).mean(dim=dims, keepdim=True)
        grad_inputs.append(gamma / scale * (g - mean_g - xhat * mean_g_xhat))
        grad_weight = grad_weight + (g * xhat).sum(dim=dims)
    grad_bias = upstream.sum(dim=dims)
    return BatchNormGradients(torch.cat(grad_inputs), grad_weight, grad_bias)
