"""LoRA: a frozen ``nn.Linear`` plus a trainable low-rank update ``scale * B A``.

:class:`LoRALinear` wraps a linear layer with weight ``W0`` (``out x in``) and bias ``b``.
It freezes both and adds two trainable factors, ``A`` (``r x in``) and ``B`` (``out x r``)::

    y = x W0^T + b + scale * (dropout(x) A^T) B^T,    scale = alpha / r  (alpha / sqrt(r) for rsLoRA)

Dropout acts on the adapter path only, and only in training mode. The update
``Delta W = scale * B A`` has rank at most ``r`` and costs ``r (in + out)`` trainable
parameters instead of ``in * out``. With ``B = 0`` at initialisation the layer's output is
the base layer's output, exactly. :meth:`LoRALinear.merge` folds the update into ``W0`` for
inference and :meth:`LoRALinear.unmerge` takes it out again. ``init="svd"`` starts from the
principal part of ``W0`` (PiSSA) instead of zero, see :mod:`efx.lora_init`.
:func:`efx.lora_model.wrap_linear_layers` wraps the linear layers of a model by name.

Note the letters: the low-rank question writes ``W ~ A B`` with ``A`` tall, while LoRA writes
``Delta W = B A`` with ``B`` tall (``out x r``). This module follows LoRA.

References: Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", 2021
(arXiv:2106.09685); Kalajdzievski, "A Rank Stabilization Scaling Factor for Fine-Tuning
with LoRA", 2023 (arXiv:2312.03732); Meng et al., "PiSSA: Principal Singular Values and
Singular Vectors Adaptation of Large Language Models", 2024 (arXiv:2404.02948).
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Literal

import torch
from torch import nn

from efx.errors import EfxError, EfxWarning, invalid_argument
from efx.lora_init import INIT_KINDS, init_factors_from_svd, init_factors_randomly

InitKind = Literal["kaiming", "gaussian", "svd"]

__all__ = [
    "INIT_KINDS",
    "InitKind",
    "LoRALinear",
    "LoRAStateError",
    "lora_parameter_count",
    "lora_scale",
]


class LoRAStateError(EfxError, RuntimeError):
    """A LoRA layer was asked to merge while merged, or to unmerge while not merged."""


def lora_scale(alpha: float, r: int, rslora: bool = False) -> float:
    """Return the factor that multiplies ``B A``: ``alpha / r``, or ``alpha / sqrt(r)`` for rsLoRA.

    With ``alpha / r`` the update's size stays comparable when ``r`` changes and ``alpha`` is
    kept. Kalajdzievski (2023, arXiv:2312.03732) argues that ``alpha / r`` slows learning at
    large ranks and proposes rsLoRA's ``alpha / sqrt(r)``.

    >>> lora_scale(16, 8), lora_scale(16, 4, rslora=True)
    (2.0, 8.0)

    Raises:
        InvalidArgumentError: if ``alpha`` is not a finite number > 0 or ``r`` not an integer >= 1.
    """
    r = _check_rank(r)
    alpha = _check_alpha(alpha)
    return alpha / math.sqrt(r) if rslora else alpha / r


def lora_parameter_count(in_features: int, out_features: int, r: int) -> int:
    """Return the trainable parameters of a rank-``r`` adapter: ``r * (in_features + out_features)``.

    ``A`` has ``r * in_features`` entries and ``B`` has ``out_features * r``, while the frozen
    weight it adapts has ``in_features * out_features``.

    >>> lora_parameter_count(4096, 4096, 8), 4096 * 4096
    (65536, 16777216)

    Raises:
        InvalidArgumentError: if a size is not an integer >= 1.
    """
    for name, value in (("in_features", in_features), ("out_features", out_features)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise invalid_argument(name, value, "must be an integer >= 1", "pass the layer's size")
    return _check_rank(r) * (int(in_features) + int(out_features))


class LoRALinear(nn.Module):
    """Wrap an ``nn.Linear`` with a trainable low-rank update; the wrapped layer is frozen.

    The wrapper keeps the given layer as ``base`` (not a copy) and sets ``requires_grad`` of
    its weight and bias to False. ``lora_A`` and ``lora_B`` are created on the weight's device
    and in its dtype. Initialisation:

    - ``"kaiming"`` (default): ``A`` Kaiming-uniform as ``nn.Linear`` initialises its weight,
      ``B = 0``;
    - ``"gaussian"``: ``A`` with entries from ``N(0, 1 / in_features)``, ``B = 0``;
    - ``"svd"``: the principal part of ``W0`` (PiSSA). ``scale * B A`` is the best rank-``r``
      approximation of ``W0`` and ``base.weight`` becomes the residual ``W0 - scale * B A``,
      overwritten in place, so the output is unchanged at initialisation up to rounding.

    A rank ``r`` above ``min(in_features, out_features)`` is allowed with random
    initialisation but warns: ``Delta W`` cannot have rank above that minimum, so the extra
    parameters are wasted. With ``init="svd"`` it raises.

    Args:
        base: the layer to adapt.
        r: the rank of the update, an integer >= 1.
        alpha: the scaling numerator, a finite number > 0; the update is ``scale * B A``.
        dropout: probability of dropping an input entry on the adapter path, in ``[0, 1)``;
            applied in training mode only.
        rslora: use ``scale = alpha / sqrt(r)`` instead of ``alpha / r``.
        init: ``"kaiming"``, ``"gaussian"`` or ``"svd"``.
        generator: random source for ``A`` (random initialisation), for reproducible runs.

    Raises:
        InvalidArgumentError: on a bad argument; ``base`` is then left untouched.

    >>> torch.manual_seed(0) and None
    >>> layer = LoRALinear(nn.Linear(6, 4), r=2, alpha=4.0)
    >>> x = torch.randn(3, 6)
    >>> torch.equal(layer(x), layer.base(x))  # B = 0 at initialisation
    True
    >>> layer.scale, sum(p.numel() for p in layer.parameters() if p.requires_grad)
    (2.0, 20)
    """

    def __init__(
        self,
        base: nn.Linear,
        r: int,
        alpha: float,
        *,
        dropout: float = 0.0,
        rslora: bool = False,
        init: InitKind = "kaiming",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_lora_arguments(
            base, r, alpha, dropout=dropout, rslora=rslora, init=init, generator=generator
        )
        in_features, out_features = base.in_features, base.out_features
        if r > min(in_features, out_features):
            warnings.warn(
                f"LoRALinear: r={r} exceeds min(in_features, out_features) = {min(in_features, out_features)}, "
                f"the largest rank Delta W can have; the adapter has {lora_parameter_count(in_features, out_features, r)} "
                f"parameters against {in_features * out_features} in the full weight. "
                f"Pass r <= {min(in_features, out_features)} for this layer.",
                EfxWarning,
                stacklevel=2,
            )

        self.base = base
        self.r = int(r)
        self.alpha = float(alpha)
        self.rslora = bool(rslora)
        self.init = init
        self.scale = lora_scale(self.alpha, self.r, self.rslora)
        self.dropout: nn.Module = nn.Dropout(float(dropout)) if dropout > 0 else nn.Identity()
        self._merged = False

        weight = base.weight
        self.lora_A = nn.Parameter(
            torch.empty(self.r, in_features, device=weight.device, dtype=weight.dtype)
        )
        self.lora_B = nn.Parameter(
            torch.empty(out_features, self.r, device=weight.device, dtype=weight.dtype)
        )
        for parameter in base.parameters():
            parameter.requires_grad_(False)

        with torch.no_grad():
            if init == "svd":
                init_factors_from_svd(weight, self.lora_A, self.lora_B, self.scale)
            else:
                init_factors_randomly(self.lora_A, self.lora_B, init, generator)

    @property
    def in_features(self) -> int:
        """Input features of the wrapped layer."""
        return self.base.in_features

    @property
    def out_features(self) -> int:
        """Output features of the wrapped layer."""
        return self.base.out_features

    @property
    def merged(self) -> bool:
        """True while ``scale * B A`` is folded into ``base.weight``."""
        return self._merged

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``base(x) + scale * (dropout(x) A^T) B^T``, or ``base(x)`` alone while merged.

        Raises:
            InvalidArgumentError: if ``x`` is not a tensor whose last dimension is ``in_features``.
        """
        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != self.in_features:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise invalid_argument(
                "x",
                shape,
                f"must be a tensor whose last dimension is in_features = {self.in_features}",
                "pass inputs of shape (..., in_features)",
            )
        result: torch.Tensor = self.base(x)
        if self._merged:
            return result
        # (x A^T) B^T goes through the r-wide bottleneck; the scale multiplies the product last.
        adapter: torch.Tensor = (self.dropout(x) @ self.lora_A.T) @ self.lora_B.T
        return result + adapter * self.scale

    def delta_weight(self) -> torch.Tensor:
        """Return ``Delta W = scale * B A`` (``out x in``), the update that :meth:`merge` adds, detached."""
        with torch.no_grad():
            delta: torch.Tensor = (self.lora_B @ self.lora_A) * self.scale
        return delta

    def merge(self) -> None:
        """Fold the update into the frozen weight: ``W0 <- W0 + scale * B A``.

        Afterwards ``forward`` computes ``x W^T + b`` with one matrix product, and in eval
        mode its output equals the unmerged output up to rounding. In training mode they
        differ: the merged layer applies no dropout to the adapter path, and ``A`` and ``B``
        receive no gradient. Merge in eval mode; merging in training mode warns.

        Raises:
            LoRAStateError: if the layer is merged already; nothing changes.
        """
        if self._merged:
            raise LoRAStateError(
                "merge() was called on a LoRALinear that is merged already; merging again would add "
                "scale * B A to the weight twice. Call unmerge() first, or check layer.merged."
            )
        if self.training:
            warnings.warn(
                "LoRALinear.merge() in training mode: while merged, dropout is not applied to the "
                "adapter path and A and B receive no gradient. Call .eval() before merge().",
                EfxWarning,
                stacklevel=2,
            )
        with torch.no_grad():
            self.base.weight.add_(self.delta_weight())
        self._merged = True

    def unmerge(self) -> None:
        """Take the update out of the frozen weight again: ``W <- W - scale * B A``.

        The restored weight equals ``W0`` within two roundings per entry, relative to
        ``|W0| + |scale * B A|``, because ``scale * B A`` is recomputed by the same kernel.

        Raises:
            LoRAStateError: if the layer is not merged; nothing changes.
        """
        if not self._merged:
            raise LoRAStateError(
                "unmerge() was called on a LoRALinear that is not merged; subtracting scale * B A "
                "would corrupt the frozen weight. Call merge() first, or check layer.merged."
            )
        with torch.no_grad():
            self.base.weight.sub_(self.delta_weight())
        self._merged = False

    def extra_repr(self) -> str:
        """Return the adapter's settings for ``repr``."""
        return (
            f"r={self.r}, alpha={self.alpha:g}, scale={self.scale:g}, rslora={self.rslora}, "
            f"init={self.init!r}, merged={self._merged}"
        )


def check_lora_arguments(
    base: object,
    r: object,
    alpha: object,
    *,
    dropout: object = 0.0,
    rslora: object = False,
    init: object = "kaiming",
    generator: object = None,
) -> None:
    """Raise :class:`InvalidArgumentError` unless the arguments can build a :class:`LoRALinear`.

    It mutates nothing, so callers that wrap several layers check all of them first.
    """
    if isinstance(base, LoRALinear):
        raise invalid_argument(
            "base",
            base,
            "must be an nn.Linear, not a LoRALinear (it is wrapped already)",
            "wrap the original nn.Linear once; use layer.base to reach it",
        )
    if not isinstance(base, nn.Linear):
        raise invalid_argument(
            "base", type(base).__name__, "must be a torch.nn.Linear", "wrap only linear layers"
        )
    if not base.weight.dtype.is_floating_point:
        raise invalid_argument(
            "base.weight.dtype",
            base.weight.dtype,
            "must be a floating-point dtype",
            "convert the layer to float32, float64, float16 or bfloat16 first",
        )
    rank = _check_rank(r)
    _check_alpha(alpha)
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, numbers.Real)
        or not 0 <= float(dropout) < 1
    ):
        raise invalid_argument(
            "dropout",
            dropout,
            "must be a number in [0, 1)",
            "pass a probability such as 0.0 or 0.1",
        )
    if not isinstance(rslora, bool):
        raise invalid_argument(
            "rslora", rslora, "must be True or False", "pass rslora=True for scale alpha / sqrt(r)"
        )
    if init not in INIT_KINDS:
        raise invalid_argument(
            "init", init, f"must be one of {INIT_KINDS}", "pick one of the listed initialisations"
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise invalid_argument(
            "generator",
            generator,
            "must be a torch.Generator or None",
            "pass torch.Generator().manual_seed(seed)",
        )
    limit = min(base.in_features, base.out_features)
    if init == "svd" and not bool(torch.isfinite(base.weight).all()):
        raise invalid_argument(
            "base.weight",
            "a tensor with inf or nan entries",
            "must be finite with init='svd', which takes its SVD",
            "repair the weight or use a random init",
        )
    if init == "svd" and rank > limit:
        raise invalid_argument(
            "r",
            rank,
            f"must be <= min(in_features, out_features) = {limit} with init='svd', "
            "which takes the top r singular triplets of the weight",
            f"pass r <= {limit}",
        )


def _check_rank(r: object) -> int:
    if isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 1:
        raise invalid_argument(
            "r", r, "must be an integer >= 1", "pass the rank of the update, for example 8"
        )
    return int(r)


def _check_alpha(alpha: object) -> float:
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, numbers.Real)
        or not math.isfinite(alpha)
        or alpha <= 0
    ):
        raise invalid_argument(
            "alpha",
            alpha,
            "must be a finite number > 0",
            "pass the scaling numerator, for example alpha = r for scale 1 or alpha = 2 r",
        )
    return float(alpha)
