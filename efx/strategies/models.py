"""Hypothesis strategies for small models without batch-coupled layers, and their data.

A drawn :class:`ModelSpec` is a recipe (sizes and a seed), not a module, so a falsifying
example prints readably and replays exactly; :meth:`ModelSpec.build` makes the module in any
dtype and on any device. The models use ``tanh`` so that every loss is differentiable
everywhere: a ReLU kink within rounding distance of a pre-activation would let float32 and
float64 take different branches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import nn

from efx.errors import invalid_argument

MODEL_KINDS = ("mlp", "cnn")


@dataclass(frozen=True)
class ModelSpec:
    """A small model: a two-layer MLP on feature vectors, or a convolution and a linear head on images.

    Attributes:
        kind: ``"mlp"`` or ``"cnn"``.
        features: input features (MLP), or input channels (CNN).
        hidden: hidden units (MLP), or convolution channels (CNN).
        outputs: output units.
        side: image height and width (CNN only, else 0).
        seed: seeds the parameter initialisation.
    """

    kind: str
    features: int
    hidden: int
    outputs: int
    side: int
    seed: int

    def build(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
    ) -> nn.Module:
        """Return the module, initialised from ``seed``, in ``dtype`` on ``device``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            if self.kind == "mlp":
                model: nn.Module = nn.Sequential(
                    nn.Linear(self.features, self.hidden),
                    nn.Tanh(),
                    nn.Linear(self.hidden, self.outputs),
                )
            elif self.kind == "cnn":
                model = nn.Sequential(
                    nn.Conv2d(self.features, self.hidden, kernel_size=3, padding=1),
                    nn.Tanh(),
                    nn.Flatten(),
                    nn.Linear(self.hidden * self.side * self.side, self.outputs),
                )
            else:
                raise invalid_argument(
                    "kind", self.kind, f"must be one of {MODEL_KINDS}", "pick 'mlp' or 'cnn'"
                )
        return model.to(dtype=dtype, device=device)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one sample's input."""
        return (self.features,) if self.kind == "mlp" else (self.features, self.side, self.side)

    def rounding_depth(self, positions: int = 1) -> int:
        """Return how many roundings can chain in one sample's gradient entry: an operation count.

        Each layer's forward inner product has fan-in terms. The backward pass sums over the
        next layer's fan-out, and a weight gradient sums over the positions that share the
        weight (image pixels, or a sample's ``positions`` tokens). Four more per layer cover the
        bias, the activation, and the loss's square and mean.
        """
        if self.kind == "mlp":
            fan_ins = [self.features, self.hidden]
            shared = [positions, positions]
            fan_outs = [self.outputs, self.hidden]
        else:
            pixels = self.side * self.side
            fan_ins = [self.features * 9, self.hidden * pixels]
            shared = [pixels, 1]
            fan_outs = [self.outputs + 9 * self.hidden, self.outputs]
        return sum(a + b + c + 4 for a, b, c in zip(fan_ins, shared, fan_outs, strict=True))


@st.composite
def model_specs(draw: st.DrawFn, kinds: tuple[str, ...] = MODEL_KINDS) -> ModelSpec:
    """Draw a small MLP or CNN recipe: a few inputs, hidden units and outputs, and a seed."""
    if not kinds or any(kind not in MODEL_KINDS for kind in kinds):
        raise invalid_argument(
            "kinds",
            kinds,
            f"must be a non-empty subset of {MODEL_KINDS}",
            "pass ('mlp',) or ('cnn',)",
        )
    kind = draw(st.sampled_from(kinds), label="kind")
    seed = draw(st.integers(0, 2**31 - 1), label="seed")
    outputs = draw(st.integers(1, 3), label="outputs")
    if kind == "mlp":
        features = draw(st.integers(1, 6), label="features")
        hidden = draw(st.integers(1, 8), label="hidden")
        return ModelSpec("mlp", features, hidden, outputs, 0, seed)
    channels = draw(st.integers(1, 2), label="channels")
    hidden = draw(st.integers(1, 3), label="conv_channels")
    side = draw(st.integers(2, 5), label="side")
    return ModelSpec("cnn", channels, hidden, outputs, side, seed)
