"""Derivations of optimality and its limits: Eckart-Young-Mirsky, small tails, and the flat-spectrum bound.

- No matrix ``X`` of rank at most k has ``||W - X|| < ||W - W_k||`` in the spectral norm
  (a dimension count) or the Frobenius norm (Weyl's inequality).
- If every discarded value is at most ``delta``, the Frobenius error is at most
  ``sqrt(p - k) delta``: "near zero" has to beat ``sqrt(p - k)``.
- The relative Frobenius error is at most ``sqrt(1 - k/p)``, because the discarded values are
  the smallest, with equality exactly for a flat spectrum (an orthogonal matrix, say).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import sympy

from efx.proofs.derivation import (
    Derivation,
    Relation,
    Scope,
    Step,
    algebra,
    assumption,
    computation,
    definition,
    lemma,
)
from efx.proofs.lr_truncation._common import (
    evaluate_linear_sums,
    head_sum,
    i,
    j,
    k,
    n,
    p,
    sigma,
    sums_equal,
    tail_sum,
)

FLAT_INSTANCE_BOUND = 8
"""The exact flat-bound check covers every p <= FLAT_INSTANCE_BOUND and every 1 <= k < p."""

EYM_REFERENCES = (
    "C. Eckart and G. Young, The approximation of one matrix by another of lower rank, "
    "Psychometrika 1(3), 211-218, 1936 (Frobenius norm)",
    "L. Mirsky, Symmetric gauge functions and unitarily invariant norms, "
    "Quarterly Journal of Mathematics 11(1), 50-59, 1960 (every unitarily invariant norm, the spectral norm included)",
)


@functools.cache
def eckart_young_spectral() -> Derivation:
    """Derive ``||W - X||_2 >= sigma_{k+1}`` for every ``n``-column X of rank at most k."""
    c = sympy.Function("c", real=True)
    delta = sympy.Sum(sigma(i) ** 2 * c(i) ** 2, (i, 1, k + 1))
    lower = sigma(k + 1) ** 2 * sympy.Sum(c(i) ** 2, (i, 1, k + 1))

    def gap_identity(previous: Any, current: Any) -> bool:
        # previous - current must be sum_i (sigma_i^2 - sigma_{k+1}^2) c_i^2, and each term must be >= 0
        # under the ordering, written as sigma_i = sigma_{k+1} + d_i with d_i >= 0.
        difference = sympy.Sum((sigma(i) ** 2 - sigma(k + 1) ** 2) * c(i) ** 2, (i, 1, k + 1))
        identity = sums_equal(
            evaluate_linear_sums(previous - current), evaluate_linear_sums(difference)
        )
        floor = sympy.Symbol("s", nonnegative=True)
        excess = sympy.Function("d", nonnegative=True)
        term = sympy.expand(((floor + excess(i)) ** 2 - floor**2) * c(i) ** 2)
        return identity and bool(term.is_nonnegative)

    steps = (
        Step(
            sympy.Add(n - k, k + 1, -n, evaluate=False),
            definition(
                "$\\dim \\ker X \\ge n - k$ and $\\dim \\operatorname{span}(v_1, \\dots, v_{k+1}) = k + 1$: the excess over $n$"
            ),
        ),
        Step(sympy.Integer(1), algebra("simplify")),
        Step(
            sympy.Integer(0),
            lemma("two subspaces whose dimensions add to more than $n$ share a unit vector $z$"),
            relation=Relation.GT,
            check=lambda prev, cur: bool(prev > cur),
        ),
        Step(
            r"\lVert W - X\rVert_2^2 \ge \lVert (W - X) z\rVert^2 = \lVert W z\rVert^2",
            definition("operator norm, and $X z = 0$"),
            relation=Relation.IMPLIES,
            prose="$z = \\sum_{i \\le k+1} c_i v_i$ with $\\sum c_i^2 = 1$ lies in $\\ker X$ and in the span",
        ),
        Step(
            delta,
            definition("$W z = \\sum_{i \\le k+1} \\sigma_i c_i u_i$ with orthonormal $u_i$"),
            relation=Relation.EQ,
            prose="Pythagoras over the orthonormal $u_i$",
        ),
        Step(
            lower,
            lemma("$\\sigma_i \\ge \\sigma_{k+1}$ for $i \\le k+1$"),
            relation=Relation.GE,
            check=gap_identity,
            prose="the check verifies that the difference is $\\sum_{i \\le k+1} (\\sigma_i^2 - \\sigma_{k+1}^2) c_i^2$",
        ),
        Step(
            sigma(k + 1) ** 2,
            assumption("$\\sum_{i \\le k+1} c_i^2 = \\lVert z\\rVert^2 = 1$"),
            check=lambda prev, cur: bool(
                sympy.simplify(prev.subs(sympy.Sum(c(i) ** 2, (i, 1, k + 1)), 1) - cur) == 0
            ),
        ),
    )
    return Derivation(
        claim="tsvd.eckart-young",
        title="Spectral norm: no rank-k matrix beats sigma_{k+1}",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("X", "any $m \\times n$ matrix with $\\operatorname{rank} X \\le k < \\min(m, n)$"),
            ("v_i, u_i", "right and left singular vectors of $W$"),
        ),
        conclusion="||W - X||_2 >= sigma_{k+1} = ||W - W_k||_2, so W_k is optimal in the spectral norm.",
    )


@functools.cache
def eckart_young_frobenius() -> Derivation:
    """Derive ``||W - X||_F^2 >= sum_{i>k} sigma_i^2`` for every X of rank at most k, from Weyl's inequality."""
    tau = sympy.Function(r"\tau", real=True)
    steps = (
        Step(
            r"\sigma_{i+k}(W) \le \tau_i + \sigma_{k+1}(X) = \tau_i",
            lemma(
                "Weyl: $\\sigma_{a+b-1}(Y + X) \\le \\sigma_a(Y) + \\sigma_b(X)$ with $Y = W - X$, $b = k + 1$"
            ),
            prose="$\\sigma_{k+1}(X) = 0$ because $\\operatorname{rank} X \\le k$",
        ),
        Step(
            sympy.Sum(tau(i) ** 2, (i, 1, p)),
            definition("$\\lVert W - X\\rVert_F^2 = \\sum_i \\tau_i^2$"),
            relation=Relation.IMPLIES,
            prose="$\\tau_i$ are the singular values of $W - X$",
        ),
        Step(
            sympy.Sum(tau(i) ** 2, (i, 1, p - k)),
            lemma("drop the last $k$ non-negative terms"),
            relation=Relation.GE,
            check=lambda prev, cur: sums_equal(
                prev - cur, sympy.Sum(tau(i) ** 2, (i, p - k + 1, p))
            ),
        ),
        Step(
            sympy.Sum(sigma(i + k) ** 2, (i, 1, p - k)),
            lemma("Weyl's bound termwise, both sides non-negative"),
            relation=Relation.GE,
            prose="$\\tau_i \\ge \\sigma_{i+k}(W) \\ge 0$ for $i \\le p - k$",
        ),
        Step(
            tail_sum(k + 1),
            algebra("shift the index $i \\to i - k$"),
            check=lambda prev, cur: sums_equal(prev.change_index(i, i + k), cur),
        ),
    )
    return Derivation(
        claim="tsvd.eckart-young",
        title="Frobenius norm: no rank-k matrix beats the discarded energy",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("\\tau_i", "singular values of $W - X$"),
            ("X", "any matrix of rank at most $k$"),
        ),
        conclusion="||W - X||_F^2 >= sum_{i>k} sigma_i^2 = ||W - W_k||_F^2, so W_k is optimal in the Frobenius norm.",
    )


@functools.cache
def small_tail_bound() -> Derivation:
    """Derive ``||W - W_k||_F^2 <= (p - k) delta^2`` when every discarded value is at most delta."""
    delta = sympy.Symbol(r"\delta", nonnegative=True)
    steps = (
        Step(tail_sum(k + 1), lemma("closed form (claim tsvd.error-closed-form)")),
        Step(
            sympy.Sum(delta**2, (i, k + 1, p)),
            assumption("$0 \\le \\sigma_i \\le \\delta$ for every $i > k$"),
            relation=Relation.LE,
            prose="termwise, $\\sigma_i^2 \\le \\delta^2$",
        ),
        Step(
            (p - k) * delta**2,
            algebra("a sum of $p - k$ equal terms"),
            check=lambda prev, cur: bool(sympy.simplify(prev.doit() - cur) == 0),
        ),
    )
    return Derivation(
        claim="tsvd.small-tail",
        title="Small discarded values bound the error, with a factor sqrt(p - k)",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("\\delta", "a bound on every discarded singular value"),),
        conclusion=(
            "||W - W_k||_F <= sqrt(p - k) delta and ||W - W_k||_2 <= delta. Relative to ||W||_F >= "
            "sqrt(sum_{i<=k} sigma_i^2), 'near zero' has to be judged against sqrt(p - k)."
        ),
    )


def _double_sum_check(previous: Any, current: Any) -> bool:
    return sums_equal(
        sympy.together(evaluate_linear_sums(previous)),
        sympy.together(evaluate_linear_sums(current)),
    )


@functools.cache
def flat_bound() -> Derivation:
    """Derive ``1 - k/p - rho_k^2 >= 0``, with ``rho_k^2 = T / (H + T)``, for every p and 1 <= k <= p."""
    H = head_sum(k)
    T = tail_sum(k + 1)
    pairs = sympy.Sum(sigma(i) ** 2 - sigma(j) ** 2, (j, k + 1, p), (i, 1, k))
    steps = (
        Step(
            (p - k) / p - T / (H + T),
            definition(
                "$1 - k/p$ minus $\\rho_k^2 = T/(H + T)$, with $H = \\sum_{i \\le k}\\sigma_i^2$, $T = \\sum_{i > k}\\sigma_i^2$"
            ),
        ),
        Step(
            ((p - k) * H - k * T) / (p * (H + T)),
            algebra("common denominator"),
            check=lambda prev, cur: sums_equal(sympy.together(prev), sympy.together(cur)),
        ),
        Step(
            pairs / (p * (H + T)),
            algebra(
                "$(p-k)H - kT$ is the sum of $\\sigma_i^2 - \\sigma_j^2$ over pairs $i \\le k < j$"
            ),
            check=_double_sum_check,
        ),
        Step(
            sympy.Integer(0),
            lemma(
                "each pair has $\\sigma_i \\ge \\sigma_j \\ge 0$ (sorted values), and $H + T > 0$"
            ),
            relation=Relation.GE,
            prose="every term of the double sum is $\\ge 0$; it is 0 for all pairs only if "
            "$\\sigma_1 = \\sigma_p$, which forces all values equal",
        ),
    )
    return Derivation(
        claim="tsvd.flat-bound",
        title="The relative error is at most sqrt(1 - k/p), with equality only for a flat spectrum",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (
                "\\rho_k",
                "the relative Frobenius error $\\lVert W - W_k\\rVert_F / \\lVert W\\rVert_F$, $W \\ne 0$",
            ),
            ("p", "the number of singular values, $\\min(m, n)$"),
        ),
        conclusion=(
            "rho_k^2 <= 1 - k/p. The pair (i, j) = (1, p) contributes sigma_1^2 - sigma_p^2, so equality "
            "holds if and only if sigma_1 = ... = sigma_p."
        ),
    )


def _flat_polynomial_is_nonnegative(size: int, rank: int) -> bool:
    # sigma_size = t and sigma_i = t + d_i + ... + d_{size-1}, with t, d >= 0, covers every sorted spectrum.
    t = sympy.Symbol("t", nonnegative=True)
    d = sympy.symbols(f"d1:{size}", nonnegative=True)
    values = [t + sum(d[index:], sympy.Integer(0)) for index in range(size)]
    head = sum((value**2 for value in values[:rank]), sympy.Integer(0))
    tail = sum((value**2 for value in values[rank:]), sympy.Integer(0))
    poly = sympy.Poly(sympy.expand((size - rank) * head - rank * tail), t, *d)
    if any(coefficient < 0 for coefficient in poly.coeffs()):
        return False
    # Zero only when every d vanishes: each d_l appears squared with a positive coefficient.
    return all(poly.coeff_monomial(gap**2) > 0 for gap in d)


@functools.cache
def flat_bound_instances() -> Derivation:
    """Cross-check ``(p - k) H - k T >= 0``, zero only for flat spectra, as a polynomial in the gaps."""
    statement = (
        r"(p-k)\sum_{i\le k}\sigma_i^2 - k\sum_{i>k}\sigma_i^2 \in \mathbb{Q}_{\ge 0}[t, d_1, \dots, d_{p-1}],"
        r"\quad \sigma_i = t + \textstyle\sum_{l \ge i} d_l"
    )
    return Derivation(
        claim="tsvd.flat-bound",
        title="Exact cross-check: non-negative coefficients in the gaps between sorted values",
        scope=Scope.INSTANCES,
        bound=f"every p <= {FLAT_INSTANCE_BOUND} and 1 <= k < p",
        steps=(
            Step(
                statement,
                computation(
                    "every coefficient is >= 0 and every $d_l^2$ has a positive coefficient"
                ),
                check=lambda _p, _c: all(
                    _flat_polynomial_is_nonnegative(size, rank)
                    for size, rank in itertools.product(
                        range(2, FLAT_INSTANCE_BOUND + 1), range(1, FLAT_INSTANCE_BOUND)
                    )
                    if rank < size
                ),
            ),
        ),
        conclusion=(
            "With non-negative gaps d_l and floor t, the difference is a polynomial with non-negative "
            "coefficients, zero only when all gaps are zero (a flat spectrum)."
        ),
    )


@functools.cache
def orthogonal_reaches_bound() -> Derivation:
    """Derive ``rho_k^2 = 1 - k/n`` for an orthogonal (or scaled orthogonal) ``n x n`` matrix."""
    c = sympy.Symbol("c", positive=True)
    steps = (
        Step(
            r"W^\top W = c^2 Q^\top Q = c^2 I", assumption("$W = cQ$ with $Q^\\top Q = I$, $c > 0$")
        ),
        Step(
            r"\sigma_1 = \dots = \sigma_n = c",
            definition("singular values are the square roots of the eigenvalues of $W^\\top W$"),
            relation=Relation.IMPLIES,
            prose="every eigenvalue of $c^2 I$ is $c^2$",
        ),
        Step(
            sympy.Sum(c**2, (i, k + 1, n)) / sympy.Sum(c**2, (i, 1, n)),
            definition("$\\rho_k^2 = \\sum_{i>k}\\sigma_i^2 / \\sum_i \\sigma_i^2$"),
            relation=Relation.IMPLIES,
            prose="substitute the flat spectrum",
        ),
        Step(
            1 - k / n,
            algebra("sums of equal terms"),
            check=lambda prev, cur: bool(sympy.simplify(prev.doit() - cur) == 0),
        ),
    )
    return Derivation(
        claim="tsvd.orthogonal-worst",
        title="An orthogonal matrix reaches the bound; its relative spectral error is 1",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("Q", "an $n \\times n$ orthogonal matrix"),),
        conclusion="rho_k = sqrt(1 - k/n) for every k, and sigma_{k+1}/sigma_1 = c/c = 1 for every k < n.",
    )


@functools.cache
def flat_no_rank_k_helps() -> Derivation:
    """Derive ``||W - X||_F / ||W||_F >= sqrt(1 - k/p)`` for every rank-k X when the spectrum is flat."""
    c = sympy.Symbol("c", positive=True)
    steps = (
        Step(
            r"\lVert W - X\rVert_F^2 \ge \lVert W - W_k\rVert_F^2",
            lemma(
                "Eckart-Young-Mirsky (claim tsvd.eckart-young), any $X$ with $\\operatorname{rank} X \\le k$"
            ),
        ),
        Step(
            sympy.Sum(c**2, (i, k + 1, p)) / sympy.Sum(c**2, (i, 1, p)),
            definition("divide by $\\lVert W\\rVert_F^2$; flat spectrum $\\sigma_i = c$"),
            relation=Relation.IMPLIES,
            prose="the right-hand side is then $\\rho_k^2$ of the flat spectrum",
        ),
        Step(
            1 - k / p,
            algebra("sums of equal terms"),
            check=lambda prev, cur: bool(sympy.simplify(prev.doit() - cur) == 0),
        ),
    )
    return Derivation(
        claim="tsvd.flat-no-rank-k-helps",
        title="With a flat spectrum no rank-k matrix does better than sqrt(1 - k/p)",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (
                "X",
                "any matrix of rank at most $k$: truncated SVD, trained factors, randomized methods",
            ),
        ),
        conclusion=(
            "The failure belongs to the rank-k model: an algorithm cannot fix it, only a larger k "
            "(k >= p (1 - epsilon^2) for relative error epsilon) can."
        ),
    )
