"""Hypothesis strategies for chains of modules: random depths, widths, activations and layers.

A drawn :class:`ChainSpec` is plain data (so Hypothesis can shrink and print it);
:func:`build_chain` turns it into an ``nn.Sequential`` whose module ``i`` maps width
``widths[i]`` to ``widths[i + 1]``. Each module is ``Linear``, optionally ``BatchNorm1d``,
optionally ``Dropout``, then an activation, so the chain is a chain in the sense of
:mod:`efx.checkpointing`: one tensor in, one tensor out, per module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import nn

from efx.errors import invalid_argument

ACTIVATIONS = ("tanh", "relu", "gelu")


@dataclass(frozen=True)
class ChainSpec:
    """A chain to build: sizes, layers and the seed of its initial parameters.

    Attributes:
        widths: ``depth + 1`` widths; module ``i`` maps ``widths[i]`` to ``widths[i + 1]``.
        activations: one activation name per module, from :data:`ACTIVATIONS`.
        batch: rows of the input.
        seed: seeds the parameters and the input.
        dropout: the dropout rate in every module, or 0 for none.
        batchnorm: True to put a ``BatchNorm1d`` after every ``Linear``.
    """

    widths: tuple[int, ...]
    activations: tuple[str, ...]
    batch: int
    seed: int
    dropout: float = 0.0
    batchnorm: bool = False

    @property
    def depth(self) -> int:
        """The number of modules."""
        return len(self.activations)


@st.composite
def chain_specs(
    draw: st.DrawFn,
    max_depth: int = 6,
    min_depth: int = 1,
    min_width: int = 1,
    max_width: int = 6,
    min_batch: int = 1,
    max_batch: int = 4,
    dropout: bool = False,
    batchnorm: bool = False,
) -> ChainSpec:
    """Draw a chain of ``min_depth`` to ``max_depth`` modules with random widths, activations and seed.

    Args:
        max_depth, min_depth: bounds of the number of modules, ``1 <= min_depth <= max_depth``.
        min_width, max_width: bounds of every width.
        min_batch, max_batch: bounds of the batch (``BatchNorm1d`` in training needs at least 2).
        dropout: draw a dropout rate in ``[0.2, 0.8]`` for every module.
        batchnorm: put ``BatchNorm1d`` in every module.
    """
    if (
        min_depth < 1
        or max_depth < min_depth
        or min_width < 1
        or max_width < min_width
        or min_batch < 1
        or max_batch < min_batch
    ):
        raise invalid_argument(
            "bounds",
            (min_depth, max_depth, min_width, max_width, min_batch, max_batch),
            "must satisfy 1 <= min_depth <= max_depth, 1 <= min_width <= max_width and 1 <= min_batch <= max_batch",
            "pass consistent bounds",
        )
    if batchnorm and min_batch < 2:
        raise invalid_argument(
            "min_batch", min_batch, "must be >= 2 with batchnorm", "pass min_batch=2 or more"
        )
    depth = draw(st.integers(min_depth, max_depth), label="depth")
    widths = draw(
        st.lists(st.integers(min_width, max_width), min_size=depth + 1, max_size=depth + 1),
        label="widths",
    )
    activations = draw(
        st.lists(st.sampled_from(ACTIVATIONS), min_size=depth, max_size=depth), label="activations"
    )
    batch = draw(st.integers(min_batch, max_batch), label="batch")
    seed = draw(st.integers(0, 2**31 - 1), label="seed")
    rate = draw(st.sampled_from([0.2, 0.5, 0.8]), label="dropout") if dropout else 0.0
    return ChainSpec(tuple(widths), tuple(activations), batch, seed, rate, batchnorm)


def build_chain(spec: ChainSpec, dtype: torch.dtype, device: torch.device) -> nn.Sequential:
    """Build the drawn chain, its parameters seeded by ``spec.seed``, on ``device`` in ``dtype``."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(spec.seed)
    try:
        modules = []
        for index, name in enumerate(spec.activations):
            layers: list[nn.Module] = [nn.Linear(spec.widths[index], spec.widths[index + 1])]
            if spec.batchnorm:
                layers.append(nn.BatchNorm1d(spec.widths[index + 1]))
            if spec.dropout:
                layers.append(nn.Dropout(spec.dropout))
            layers.append({"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}[name]())
            modules.append(nn.Sequential(*layers))
    finally:
        torch.random.set_rng_state(generator_state)
    return nn.Sequential(*modules).to(device=device, dtype=dtype)


def chain_input(spec: ChainSpec, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Return the chain's input, ``batch x widths[0]``, drawn from a generator seeded by ``spec.seed``."""
    generator = torch.Generator().manual_seed(spec.seed + 1)
    return torch.randn(spec.batch, spec.widths[0], generator=generator, dtype=torch.float64).to(
        device, dtype
    )
