"""Claims for ``lr-failure``: when truncation cannot approximate well, and why no method can do better."""

from __future__ import annotations

from efx.claims.model import CheckKind, Claim
from efx.proofs.lr_truncation import decay, optimality

_TOLERANCE_NOTE = (
    "Exact in real arithmetic. In floats, measured relative errors match within "
    "efx.lowrank.truncation_error_tolerance divided by the computed norm of W."
)

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="tsvd.flat-bound",
        question="lr-failure",
        title="The relative error is at most sqrt(1 - k/p), reached only by a flat spectrum",
        statement=(
            r"For every nonzero $W \in \mathbb{R}^{m \times n}$ with singular values $\sigma_1 \ge \dots \ge "
            r"\sigma_p \ge 0$ and every $0 \le k \le p$: $\rho_k = \lVert W - W_k\rVert_F / \lVert W\rVert_F \le "
            r"\sqrt{1 - k/p}$, because the $p - k$ discarded values are the smallest and so carry at most a "
            r"$(p-k)/p$ share of $\sum_i \sigma_i^2$. Equality at some $1 \le k < p$ holds if and only if "
            r"$\sigma_1 = \dots = \sigma_p$ (a flat spectrum), and then at every $k$. So a relative error "
            r"$\rho_k \le \epsilon$ is guaranteed for every $W$ only by $k \ge p\,(1 - \epsilon^2)$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.SYMBOLIC_INSTANCES, CheckKind.PROPERTY),
        arithmetic=_TOLERANCE_NOTE,
        derivations=(optimality.flat_bound, optimality.flat_bound_instances),
    ),
    Claim(
        id="tsvd.orthogonal-worst",
        question="lr-failure",
        title="An orthogonal matrix is the worst case",
        statement=(
            r"If $W = cQ$ with $Q \in \mathbb{R}^{n \times n}$ orthogonal and $c > 0$, all singular values equal $c$, "
            r"so $\rho_k = \sqrt{1 - k/n}$ for every $k$ and $\lVert W - W_k\rVert_2 / \lVert W\rVert_2 = 1$ for every "
            r"$k < n$: truncation removes a $k/n$ share of the energy and none of the spectral error. The best "
            r"rank-$k$ approximation is not unique: $PW$ is optimal for every orthogonal projector $P$ of rank $k$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_TOLERANCE_NOTE,
        derivations=(optimality.orthogonal_reaches_bound,),
    ),
    Claim(
        id="tsvd.flat-no-rank-k-helps",
        question="lr-failure",
        title="The failure belongs to the rank-k model, not to the algorithm",
        statement=(
            r"If $\sigma_1 = \dots = \sigma_p$, every $X$ with $\operatorname{rank} X \le k$ (a truncated SVD, a "
            r"randomized SVD, factors $AB$ fitted by gradient descent or alternating least squares) has $\lVert W - X\rVert_F / \lVert W\rVert_F "
            r"\ge \sqrt{1 - k/p}$, by Eckart-Young-Mirsky. A poor rank-$k$ approximation of such a matrix is a limit "
            r"of the model; only a larger $k$ helps."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_TOLERANCE_NOTE,
        derivations=(optimality.flat_no_rank_k_helps,),
        references=optimality.EYM_REFERENCES,
    ),
    Claim(
        id="tsvd.slow-decay",
        question="lr-failure",
        title="A slowly decaying spectrum keeps a large error at every modest k",
        statement=(
            r"If $\sigma_i = c / \sqrt{i}$ for $i = 1, \dots, p$ ($c > 0$), then $\rho_k^2 = (H_p - H_k) / H_p$ with "
            r"$H_j = \sum_{i=1}^{j} 1/i$, and $\rho_k^2 \ge \ln\frac{p+1}{k+1} \big/ (1 + \ln p)$: keeping a fixed "
            r"fraction $k/p$ of the values leaves a relative error that shrinks only like $1/\sqrt{\ln p}$."
        ),
        checks=(CheckKind.SYMBOLIC_GENERAL, CheckKind.PROPERTY),
        arithmetic=_TOLERANCE_NOTE,
        derivations=(decay.slow_decay_bound,),
    ),
)
