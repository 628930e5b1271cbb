"""Fault: the LoRA update is scaled by ``alpha`` instead of ``alpha / r``.

What is wrong: :class:`LoRALinear` multiplies ``B A`` by ``alpha``. LoRA's scale is
``alpha / r`` (``alpha / sqrt(r)`` for rsLoRA), which keeps the update's size comparable
when ``r`` changes with ``alpha`` fixed. With ``alpha`` alone the update, and the effective
learning rate of the adapter, grow ``r`` times, so a rank sweep compares runs with
different step sizes, and the merged weights differ from those the adapter trained.

Seen in practice: adapters ported between libraries that store ``scaling`` differently, and
hand-written LoRA layers that read "scale by alpha" from a configuration file.

Caught by: the ``lora.`` checks of the layer's output and merged weight against
``W0 + (alpha / r) B A``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401
from efx.lora import LoRALinear as CorrectLoRALinear


class LoRALinear(CorrectLoRALinear):
    """A LoRA layer whose update is ``alpha * B A`` (wrong: ``alpha / r``)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, **options: Any) -> None:
        super().__init__(base, r, alpha, **options)
        # The fault: the scale forgets the division by r.
        self.scale = self.alpha
