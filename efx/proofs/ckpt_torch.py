"""Derivations behind the claims about torch's own ``torch.utils.checkpoint`` (question ``ckpt-complexity``).

Exact arithmetic for what torch 2.13 was seen to do: the running mean that a second BatchNorm
update leaves, and the stored states of ``checkpoint_sequential``'s split.
"""

from __future__ import annotations

import functools
from typing import Any

import sympy

from efx.checkpointing import Segments, TorchSequential, count
from efx.proofs.derivation import Derivation, Scope, Step, algebra, computation, definition

mu, b = sympy.symbols(r"\mu b", positive=True)


@functools.cache
def batchnorm_twice() -> Derivation:
    """Derive the running mean after one and after two momentum updates from 0: mu b and mu b (2 - mu)."""
    once = mu * b
    twice = (1 - mu) * once + mu * b
    steps = (
        Step(
            twice,
            definition(
                r"running mean after two updates with batch mean $b$ from 0: $m \leftarrow (1 - \mu) m + \mu b$"
            ),
        ),
        Step(mu * b * (2 - mu), algebra("factor")),
        Step(
            sympy.Rational(19, 20),
            computation(r"$\mu = 1/10$, $b = 5$: one update gives $1/2$, two give $19/20$"),
            check=lambda p, c: bool(
                p.subs({mu: sympy.Rational(1, 10), b: 5}) == c
                and once.subs({mu: sympy.Rational(1, 10), b: 5}) == sympy.Rational(1, 2)
            ),
        ),
    )
    return Derivation(
        claim="ckpt.torch-batchnorm-twice",
        title="A second update moves the running mean from 0.5 to 0.95",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=((r"\mu", "BatchNorm momentum"), ("b", "the batch mean")),
        conclusion="A recomputation that updates the statistics again leaves 0.95, not the 0.5 of one forward pass.",
    )


@functools.cache
def torch_split_instances() -> Derivation:
    """Compute torch's split of 9 modules into 5 and 3 segments, and the stored states each needs."""
    torch5, torch3, efx5 = (
        count(strategy.schedule(9)).peak_stored
        for strategy in (TorchSequential(5), TorchSequential(3), Segments(5))
    )

    def holds(_p: Any, _c: Any) -> bool:
        return (
            TorchSequential(5).lengths(9) == (1, 1, 1, 1, 5)
            and Segments(5).lengths(9) == (1, 2, 2, 2, 2)
            and (torch5, torch3, efx5) == (9, 5, 6)
        )

    statement = (
        r"n = 9:\ \text{torch, 5 segments } [1,1,1,1,5] \to 9 \text{ states};\ \text{torch, 3 segments } [3,3,3] "
        r"\to 5;\ \text{efx, 5 segments } [1,2,2,2,2] \to 6"
    )
    return Derivation(
        claim="ckpt.torch-sequential-split",
        title="torch's split of 9 modules: more segments, more stored states",
        scope=Scope.INSTANCES,
        bound="n = 9 with 3 and 5 segments",
        steps=(
            Step(
                statement,
                computation("replay of both splits' schedules, peak = k + L_last - 1"),
                check=holds,
            ),
        ),
        conclusion="torch's last segment takes the remainder and is never checkpointed, so it can be the longest by far.",
    )
