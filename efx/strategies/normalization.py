"""Hypothesis strategies for normalisation layers: batches split into sections, and small models.

Drawn values are recipes (shapes, sections, a seed), not tensors, so a falsifying example
prints readably and replays exactly in any dtype and on any device:

- :class:`ChannelBatch` and :func:`channel_batches`: a batch of shape ``(N, C, *spatial)`` with
  section sizes, values ``offset + scale * z`` for Gaussian ``z``;
- :meth:`ChannelBatch.matching_values`: values whose every section has the batch's mean and
  biased variance in every channel;
- :class:`NormModelSpec` and :func:`norm_model_specs`: a 1x1 convolution, a normalisation layer,
  ``tanh``, a mean over positions and a linear head.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import nn

from efx.errors import invalid_argument

NORM_KINDS = ("batch-train", "batch-eval", "layer", "group", "instance")
"""Normalisation layers :class:`NormModelSpec` builds; only ``batch-train`` couples samples."""

_SPATIAL_SHAPES: tuple[tuple[int, ...], ...] = ((), (3,), (2, 2))


@st.composite
def sections_of_at_least(
    draw: st.DrawFn, total: int, minimum: int, min_sections: int = 1
) -> tuple[int, ...]:
    """Draw at least ``min_sections`` consecutive section sizes, each ``>= minimum``, adding up to ``total``."""
    if minimum < 1 or min_sections < 1 or total < minimum * min_sections:
        raise invalid_argument(
            "total",
            total,
            f"must be >= minimum * min_sections = {minimum} * {min_sections}, both >= 1",
            "draw a larger batch, smaller sections or fewer of them",
        )
    sections = draw(st.integers(min_sections, total // minimum), label="sections")
    spare = total - sections * minimum
    cuts = sorted(
        draw(
            st.lists(st.integers(0, spare), min_size=sections - 1, max_size=sections - 1),
            label="cuts",
        )
    )
    bounds = [0, *cuts, spare]
    return tuple(minimum + b - a for a, b in itertools.pairwise(bounds))


@dataclass(frozen=True)
class ChannelBatch:
    """A batch for normalisation checks.

    Attributes:
        samples: ``N``.
        channels: ``C``.
        spatial: the spatial shape, ``()`` for ``(N, C)`` inputs.
        sizes: consecutive section sizes adding up to ``N``.
        seed: seeds the Gaussian values.
        scale: the spread of the values.
        offset: the values' centre, in units of ``scale``.
    """

    samples: int
    channels: int
    spatial: tuple[int, ...]
    sizes: tuple[int, ...]
    seed: int
    scale: float
    offset: float

    @property
    def shape(self) -> tuple[int, ...]:
        """The input shape ``(N, C, *spatial)``."""
        return (self.samples, self.channels, *self.spatial)

    def values(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """Return ``scale * (offset + z)``, drawn in float64 and rounded once to ``dtype``."""
        generator = torch.Generator().manual_seed(self.seed)
        z = torch.randn(self.shape, generator=generator, dtype=torch.float64)
        return (self.scale * (self.offset + z)).to(dtype=dtype, device=device)

    def matching_values(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """Return values whose every section has the same mean and biased variance per channel.

        Each section's Gaussian values are standardised (mean 0, biased variance 1 per channel),
        then mapped to ``scale * (offset + z)``, so every section and the batch share the mean
        ``scale * offset`` and the variance ``scale^2``, up to the final rounding to ``dtype``.
        Every section needs at least two values per channel.
        """
        positions = math.prod(self.spatial)
        if min(self.sizes) * positions < 2:
            raise invalid_argument(
                "sizes",
                self.sizes,
                "must give every section at least two values per channel",
                "draw larger sections",
            )
        generator = torch.Generator().manual_seed(self.seed)
        z = torch.randn(self.shape, generator=generator, dtype=torch.float64)
        dims = [0, *range(2, z.dim())]
        parts = []
        for part in torch.split(z, list(self.sizes)):
            centred = part - part.mean(dim=dims, keepdim=True)
            parts.append(centred / centred.pow(2).mean(dim=dims, keepdim=True).sqrt())
        return (self.scale * (self.offset + torch.cat(parts))).to(dtype=dtype, device=device)


@st.composite
def channel_batches(
    draw: st.DrawFn,
    max_samples: int = 8,
    max_channels: int = 3,
    min_section_values: int = 1,
    min_sections: int = 1,
    spatial_shapes: tuple[tuple[int, ...], ...] = _SPATIAL_SHAPES,
) -> ChannelBatch:
    """Draw a :class:`ChannelBatch` of at least ``min_sections`` sections of ``min_section_values`` values per channel.

    Scales span five orders of magnitude and offsets up to ten spreads, so the mean can dominate
    the spread as it does after a ReLU.
    """
    spatial = draw(st.sampled_from(spatial_shapes), label="spatial")
    positions = math.prod(spatial)
    least_samples = max(1, math.ceil(min_section_values / positions))
    fewest = least_samples * min_sections
    samples = draw(st.integers(fewest, max(fewest, max_samples)), label="samples")
    return ChannelBatch(
        samples=samples,
        channels=draw(st.integers(1, max_channels), label="channels"),
        spatial=spatial,
        sizes=draw(sections_of_at_least(samples, least_samples, min_sections), label="sizes"),
        seed=draw(st.integers(0, 2**32 - 1), label="seed"),
        scale=draw(st.sampled_from([1e-2, 1.0, 1e2]), label="scale"),
        offset=draw(st.sampled_from([0.0, 1.0, -10.0]), label="offset"),
    )


@dataclass(frozen=True)
class NormModelSpec:
    """A small model with one normalisation layer.

    ``Conv1d(inputs, channels, 1)``, the normalisation, ``tanh``, a mean over the ``length``
    positions, and ``Linear(channels, 1)``. Inputs have shape ``(N, inputs, length)``.

    Attributes:
        kind: one of :data:`NORM_KINDS`.
        inputs: input channels.
        channels: channels of the normalised layer (even, so GroupNorm can use two groups).
        length: positions per sample, at least 2 (InstanceNorm needs two in training).
        seed: seeds the parameters, the affine parameters and the eval-mode running statistics.
    """

    kind: str
    inputs: int
    channels: int
    length: int
    seed: int

    def norm_layer(self) -> nn.Module:
        """Return the normalisation layer with random affine parameters (and running statistics)."""
        if self.kind in ("batch-train", "batch-eval"):
            layer: nn.Module = nn.BatchNorm1d(self.channels)
        elif self.kind == "layer":
            layer = nn.LayerNorm([self.channels, self.length])
        elif self.kind == "group":
            layer = nn.GroupNorm(2, self.channels)
        elif self.kind == "instance":
            layer = nn.InstanceNorm1d(self.channels, affine=True)
        else:
            raise invalid_argument(
                "kind", self.kind, f"must be one of {NORM_KINDS}", "pick a listed kind"
            )
        with torch.no_grad():
            for parameter in layer.parameters():
                parameter.copy_(torch.randn_like(parameter))
            if isinstance(layer, nn.BatchNorm1d) and self.kind == "batch-eval":
                layer.running_mean = torch.randn(self.channels)
                layer.running_var = torch.rand(self.channels) + 0.5
        return layer.eval() if self.kind == "batch-eval" else layer

    def build(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
    ) -> nn.Module:
        """Return the model, initialised from ``seed``, in ``dtype`` on ``device``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = nn.Sequential(
                nn.Conv1d(self.inputs, self.channels, kernel_size=1),
                self.norm_layer(),
                nn.Tanh(),
                _MeanOverPositions(),
                nn.Linear(self.channels, 1),
            )
        return model.to(dtype=dtype, device=device)


class _MeanOverPositions(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=-1)


@st.composite
def norm_model_specs(draw: st.DrawFn, kinds: tuple[str, ...] = NORM_KINDS) -> NormModelSpec:
    """Draw a :class:`NormModelSpec` of one of ``kinds``."""
    return NormModelSpec(
        kind=draw(st.sampled_from(kinds), label="kind"),
        inputs=draw(st.integers(1, 3), label="inputs"),
        channels=draw(st.sampled_from([2, 4]), label="channels"),
        length=draw(st.integers(2, 4), label="length"),
        seed=draw(st.integers(0, 2**32 - 1), label="seed"),
    )
