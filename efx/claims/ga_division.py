"""Claims and rubric for ``ga-division``: why dividing each section's loss by m reproduces the batch."""

from __future__ import annotations

from efx.claims.model import CheckKind, Claim, Rubric
from efx.proofs import ga_division as proofs

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="ga.loss-identity",
        question="ga-division",
        title="Accumulated loss equals the full-batch loss",
        statement=(
            r"Let a batch of $n = mq$ samples with per-sample losses $\ell_1, \dots, \ell_n$ be split into "
            r"$m$ sections of $q$ consecutive samples, section $j$ holding samples $(j-1)q+1, \dots, jq$. "
            r"Then $\frac{1}{m}\sum_{j=1}^{m} \frac{1}{q}\sum_{i=(j-1)q+1}^{jq} \ell_i "
            r"= \frac{1}{n}\sum_{i=1}^{n} \ell_i$ for all integers $m, q \ge 1$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES),
        arithmetic=(
            "Exact in real arithmetic. In floats the two sides are different summation orders of the "
            "same numbers, equal within the summation bound of efx.tolerance."
        ),
        derivations=(proofs.loss_identity, proofs.loss_identity_instances),
    ),
)

RUBRICS: tuple[Rubric, ...] = ()
