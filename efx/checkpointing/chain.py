"""Train a chain of modules under a checkpointing strategy, with exact gradients and exact counters.

:class:`Checkpointed` wraps ``n`` modules (an ``nn.Sequential`` or a list) and a strategy.
Calling it runs the forward part of the strategy's schedule and returns the chain's output.
``loss.backward()`` then runs the rest of the schedule inside one autograd node
(:mod:`efx.checkpointing.executor`). That node returns the input's and the parameters'
gradients to autograd, so they accumulate into ``.grad`` as without checkpointing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from efx.checkpointing.counters import ChainCounts
from efx.checkpointing.executor import ChainFunction, RecomputeMismatchError, Run
from efx.checkpointing.strategies import StoreAll, Strategy
from efx.errors import invalid_argument

__all__ = ["Checkpointed", "RecomputeMismatchError"]


class Checkpointed(nn.Module):
    """A chain of modules trained under a checkpointing strategy, with exact gradients and counters.

    Calling it returns the chain's output; the gradient of anything computed from that output
    flows back through the strategy's schedule. After each backward pass,
    :attr:`last_counts` contains the forward calls per module and the peak memory held for the
    backward pass. Without gradients (``torch.no_grad()``, or nothing that requires one) the
    modules simply run once each.

    Args:
        modules: the chain, an ``nn.Sequential`` or a sequence of modules, each mapping one
            tensor to one tensor; at least one.
        strategy: a :class:`~efx.checkpointing.strategies.Strategy`; store-all by default.
        preserve_rng: replay the random numbers of the forward pass in recomputations (on by
            default; turn it off only for chains that draw no random numbers).
        track_saved: record the bytes autograd saves inside recordings (``peak_saved_bytes``);
            it adds a hook call per saved tensor, so it is off by default.

    Raises:
        InvalidArgumentError: if ``modules`` is empty or contains a non-module, or ``strategy``
            is not a strategy or cannot schedule this many modules.

    >>> from efx.checkpointing import MemoryPoor
    >>> chain = Checkpointed([nn.Linear(3, 3) for _ in range(4)], MemoryPoor())
    >>> chain(torch.ones(2, 3)).sum().backward()
    >>> chain.last_counts.forward_calls
    (4, 3, 2, 1)
    """

    def __init__(
        self,
        modules: nn.Sequential | Sequence[nn.Module],
        strategy: Strategy | None = None,
        *,
        preserve_rng: bool = True,
        track_saved: bool = False,
    ) -> None:
        super().__init__()

        if isinstance(modules, nn.Module) and not isinstance(modules, nn.Sequential):
            raise invalid_argument(
                "modules",
                modules,
                "must be an nn.Sequential or a sequence of modules",
                "wrap a single module in a list",
            )
        items = list(modules)
        if not items:
            raise invalid_argument(
                "modules",
                items,
                "must contain at least one module (n >= 1)",
                "pass the chain's modules",
            )
        for position, item in enumerate(items):
            if not isinstance(item, nn.Module):
                raise invalid_argument(
                    f"modules[{position}]",
                    item,
                    "must be an nn.Module",
                    "wrap functions in a module",
                )

        strategy = StoreAll() if strategy is None else strategy
        if not isinstance(strategy, Strategy):
            raise invalid_argument(
                "strategy",
                strategy,
                "must be a checkpointing strategy (with name and schedule(length))",
                "pass StoreAll(), MemoryPoor(), Segments() or Binomial(slots)",
            )
        strategy.schedule(len(items))  # raises now when the strategy cannot handle this length

        self.chain = nn.ModuleList(items)
        self.strategy = strategy
        self.preserve_rng = preserve_rng
        self.track_saved = track_saved
        self._last_counts: ChainCounts | None = None

    @property
    def last_counts(self) -> ChainCounts | None:
        """The counters of the last completed pass, or None before the first one."""
        return self._last_counts

    def trainable_parameters(self, first: int = 0, stop: int | None = None) -> list[nn.Parameter]:
        """Return the distinct parameters that require a gradient, of modules ``first..stop-1``.

        Raises:
            InvalidArgumentError: unless ``0 <= first <= stop <= len(chain)``; Python's negative
                and out-of-range slice bounds would select other modules without a word.
        """
        length = len(self.chain)
        end = length if stop is None else stop
        for name, value in (("first", first), ("stop", end)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= length:
                raise invalid_argument(
                    name, value, f"must be an integer in 0..{length}", "index modules from 0"
                )
        if first > end:
            raise invalid_argument(
                "first", first, f"must not exceed stop={end}", "pass first <= stop"
            )
        seen: dict[int, nn.Parameter] = {}
        for module in list(self.chain)[first:stop]:
            for parameter in module.parameters():
                if parameter.requires_grad and id(parameter) not in seen:
                    seen[id(parameter)] = parameter
        return list(seen.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the chain on ``x``; the backward pass follows the strategy's schedule."""
        if not isinstance(x, torch.Tensor):
            raise invalid_argument(
                "x", x, "must be a torch.Tensor", "pass the chain's input tensor"
            )
        parameters = self.trainable_parameters()
        if not torch.is_grad_enabled() or not (x.requires_grad or parameters):
            output = x
            for module in self.chain:
                output = module(output)
            self._record(ChainCounts(self.strategy.name, (1,) * len(self.chain), 0, 0))
            return output
        run = Run(self, iter(self.strategy.schedule(len(self.chain))), parameters)
        result = ChainFunction.apply(run, x, *parameters)  # type: ignore[no-untyped-call]
        return cast(torch.Tensor, result)

    def _record(self, counts: ChainCounts) -> None:
        self._last_counts = counts
