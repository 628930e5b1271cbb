"""Hypothesis strategies for LoRA adapters: a layer's sizes, rank, scale settings and data seed.

A drawn :class:`LoRACase` is a recipe, not tensors, so a falsifying example prints readably
and replays exactly. Its methods build the base layer, the inputs, a trained-looking ``B``
and an upstream gradient in any dtype and on any device, all from the drawn seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import nn

from efx.errors import invalid_argument

ALPHAS = (0.5, 1.0, 2.0, 3.0, 8.0, 16.0, 32.0)
"""Scaling numerators that LoRA configurations commonly use, mixed with non-integers."""

MAGNITUDES = (1e-3, 1.0, 1e3)
"""Factors applied to every drawn tensor, so tolerances are checked away from unit size too."""


@dataclass(frozen=True)
class LoRACase:
    """Sizes, settings and seed of one LoRA layer with a batch of data.

    Attributes:
        in_features, out_features: the wrapped layer's sizes.
        r: the adapter's rank.
        alpha: the scaling numerator.
        rslora: True for ``scale = alpha / sqrt(r)``, False for ``alpha / r``.
        batch: the number of input rows N.
        magnitude: multiplies the weights, inputs and factors drawn from the seed.
        seed: seeds every tensor the case builds.
    """

    in_features: int
    out_features: int
    r: int
    alpha: float
    rslora: bool
    batch: int
    magnitude: float
    seed: int

    @property
    def scale(self) -> float:
        """The scale a correct implementation uses, computed here independently of any implementation."""
        return self.alpha / math.sqrt(self.r) if self.rslora else self.alpha / self.r

    def _normal(
        self, shape: tuple[int, ...], stream: int, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 8 + stream)
        values = torch.randn(*shape, generator=generator, dtype=torch.float64) * self.magnitude
        return values.to(dtype=dtype, device=device)

    def base_layer(self, dtype: torch.dtype, device: torch.device) -> nn.Linear:
        """Return a fresh ``nn.Linear`` with Gaussian weight and bias of the case's magnitude."""
        layer = nn.Linear(self.in_features, self.out_features, device=device, dtype=dtype)
        with torch.no_grad():
            layer.weight.copy_(
                self._normal((self.out_features, self.in_features), 0, dtype, device)
            )
            layer.bias.copy_(self._normal((self.out_features,), 1, dtype, device))
        return layer

    def inputs(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Return a batch ``X`` of shape ``(batch, in_features)``."""
        return self._normal((self.batch, self.in_features), 2, dtype, device)

    def trained_B(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Return a nonzero ``B`` (``out_features x r``), as training would leave it."""
        return self._normal((self.out_features, self.r), 3, dtype, device)

    def upstream(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Return an upstream gradient ``G`` of shape ``(batch, out_features)``."""
        return self._normal((self.batch, self.out_features), 4, dtype, device)


@st.composite
def lora_cases(
    draw: st.DrawFn,
    max_features: int = 8,
    max_batch: int = 4,
    rank_below_min: bool = False,
    distinct_scale: bool = False,
) -> LoRACase:
    """Draw a :class:`LoRACase` with ``1 <= r <= min(in_features, out_features)``.

    Args:
        max_features: the largest ``in_features`` and ``out_features``.
        max_batch: the largest batch size.
        rank_below_min: draw ``r < min(in_features, out_features)``, so that the bound
            rank <= r constrains the update.
        distinct_scale: draw ``r >= 2`` and ``alpha`` at least a quarter away from ``r`` and
            from ``sqrt(r)`` (relative to each), so the scale differs clearly from ``alpha``,
            from 1 and from the other rule's scale.
    """
    if max_features < 1 or max_batch < 1:
        raise invalid_argument(
            "max_features, max_batch",
            (max_features, max_batch),
            "must both be >= 1",
            "pass positive sizes",
        )
    smallest = 2 if rank_below_min or distinct_scale else 1
    if distinct_scale and rank_below_min:
        smallest = 3
    if max_features < smallest:
        raise invalid_argument(
            "max_features",
            max_features,
            f"must be >= {smallest} for these options",
            f"pass at least {smallest}",
        )

    in_features = draw(st.integers(smallest, max_features), label="in_features")
    out_features = draw(st.integers(smallest, max_features), label="out_features")
    largest_rank = min(in_features, out_features) - (1 if rank_below_min else 0)
    r = draw(st.integers(2 if distinct_scale else 1, largest_rank), label="r")
    alphas = st.sampled_from(ALPHAS) | st.floats(0.25, 64.0, allow_nan=False, allow_infinity=False)
    if distinct_scale:
        # A gap of a quarter keeps the scale at least 25% away from 1 under both rules. With
        # alpha only unequal to r, alpha = 2.004 and r = 2 gave a scale within 0.2% of 1,
        # a difference that rounding in float32 can hide.
        alphas = alphas.filter(
            lambda a: abs(a - r) >= r / 4 and abs(a - math.sqrt(r)) >= math.sqrt(r) / 4
        )
    alpha = draw(alphas, label="alpha")
    rslora = draw(st.booleans(), label="rslora")
    batch = draw(st.integers(1, max_batch), label="batch")
    magnitude = draw(st.sampled_from(MAGNITUDES), label="magnitude")
    seed = draw(st.integers(0, 2**31 - 1), label="seed")
    return LoRACase(in_features, out_features, r, alpha, rslora, batch, magnitude, seed)
