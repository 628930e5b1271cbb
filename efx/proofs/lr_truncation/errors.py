"""Derivations of the truncation error: its closed forms, its monotonicity in k, and its zero at the rank.

``W - W_k = U_r Sigma_r V_r^T`` (the discarded singular triplets), so the Frobenius error is
``sqrt(sum_{i>k} sigma_i^2)`` and the spectral error ``sigma_{k+1}``. The general derivations
use block matrices with symbolic sizes. The instance check expands the identities exactly for
small sizes, with rational orthogonal factors and symbolic singular values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
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
    i,
    is_trace_rotation,
    k,
    matrices_equal,
    orthonormality,
    p,
    rewrite,
    sigma,
    sums_equal,
    svd_blocks,
    tail_sum,
)
from efx.proofs.lr_truncation.examples import cayley_orthogonal

INSTANCE_SHAPES = ((1, 1), (2, 2), (3, 3), (4, 4), (2, 3), (3, 2), (3, 4), (4, 3))
"""The (m, n) shapes of the exact cross-check, every k from 0 to min(m, n) for each."""

_SYMBOLS = (
    ("W = U \\Sigma V^\\top", "an $m \\times n$ matrix and its SVD, $p = \\min(m, n)$"),
    ("U = [U_k\\ U_r],\\ V = [V_k\\ V_r]", "orthogonal, split after column $k$"),
    (
        "\\Sigma_k, \\Sigma_r",
        "diagonal blocks of $\\Sigma$: $\\sigma_1..\\sigma_k$ and $\\sigma_{k+1}..\\sigma_p$",
    ),
    ("W_k = U_k \\Sigma_k V_k^\\top", "the truncated SVD"),
)


def _discarded() -> tuple[dict[str, Any], Any, Any]:
    blocks = svd_blocks()
    full = (
        blocks["U"] * blocks["S"] * blocks["V"].T - blocks["U_k"] * blocks["S_k"] * blocks["V_k"].T
    )
    tail = blocks["U_r"] * blocks["S_r"] * blocks["V_r"].T
    return blocks, full, tail


def _orthonormal_rewrite(blocks: dict[str, Any]) -> Callable[[Any, Any], bool]:
    rules = orthonormality(blocks)

    def check(previous: Any, current: Any) -> bool:
        return bool(rewrite(previous.arg, rules) == rewrite(current.arg, []))

    return check


@functools.cache
def frobenius_closed_form() -> Derivation:
    """Derive ``||W - W_k||_F^2 = sum_{i=k+1}^{p} sigma_i^2`` for symbolic m, n, k."""
    blocks, full, tail = _discarded()
    S_r, V_r = blocks["S_r"], blocks["V_r"]
    steps = (
        Step(r"\lVert W - W_k \rVert_F^2", definition("the squared Frobenius norm of the error")),
        Step(
            sympy.Trace(full.T * full),
            definition(
                r"$\lVert X\rVert_F^2 = \operatorname{tr}(X^\top X)$, with $W$ and $W_k$ written by blocks"
            ),
            prose="definition of the Frobenius norm",
        ),
        Step(
            sympy.Trace(tail.T * tail),
            algebra("block multiplication: $W - W_k = U_r \\Sigma_r V_r^\\top$"),
            check=lambda prev, cur: matrices_equal(prev.arg, cur.arg),
        ),
        Step(
            sympy.Trace(V_r * S_r.T * S_r * V_r.T),
            assumption("$U_r^\\top U_r = I$ (orthonormal columns)"),
            check=_orthonormal_rewrite(blocks),
        ),
        Step(
            sympy.Trace(S_r.T * S_r * V_r.T * V_r),
            lemma(
                "cyclic property of the trace, $\\operatorname{tr}(XY) = \\operatorname{tr}(YX)$"
            ),
            check=is_trace_rotation,
        ),
        Step(
            sympy.Trace(S_r.T * S_r),
            assumption("$V_r^\\top V_r = I$"),
            check=_orthonormal_rewrite(blocks),
        ),
        Step(
            tail_sum(k + 1),
            definition(
                "$\\Sigma_r$ holds $\\sigma_{k+1}, \\dots, \\sigma_p$ on its diagonal and zeros elsewhere"
            ),
            prose="the trace of $\\Sigma_r^\\top \\Sigma_r$ is the sum of its squared diagonal entries",
        ),
    )
    return Derivation(
        claim="tsvd.error-closed-form",
        title="Frobenius error of the truncated SVD",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=_SYMBOLS,
        conclusion="For every m, n and 0 <= k <= p, the squared Frobenius error is the sum of the discarded squared singular values.",
    )


@functools.cache
def spectral_closed_form() -> Derivation:
    """Derive ``||W - W_k||_2 = sigma_{k+1}`` through ``(W - W_k)^T (W - W_k) = V_r Sigma_r^T Sigma_r V_r^T``."""
    blocks, full, tail = _discarded()
    S_r, V_r = blocks["S_r"], blocks["V_r"]
    rules = orthonormality(blocks)
    steps = (
        Step(
            full.T * full,
            definition("the Gram matrix of the error, $W$ and $W_k$ written by blocks"),
        ),
        Step(
            tail.T * tail,
            algebra("block multiplication: $W - W_k = U_r \\Sigma_r V_r^\\top$"),
            check=lambda prev, cur: matrices_equal(prev, cur),
        ),
        Step(
            V_r * S_r.T * S_r * V_r.T,
            assumption("$U_r^\\top U_r = I$"),
            check=lambda prev, cur: matrices_equal(prev, cur, rules),
        ),
        Step(
            r"\lVert W - W_k \rVert_2^2 = \lambda_{\max}\!\left(V_r \Sigma_r^\top \Sigma_r V_r^\top\right) = \sigma_{k+1}^2",
            lemma("$\\lVert X\\rVert_2^2 = \\lambda_{\\max}(X^\\top X)$"),
            relation=Relation.IMPLIES,
            prose=(
                "$V_r$ has orthonormal columns, so the nonzero eigenvalues of $V_r \\Sigma_r^\\top \\Sigma_r V_r^\\top$ "
                "are $\\sigma_{k+1}^2, \\dots, \\sigma_p^2$; the largest is $\\sigma_{k+1}^2$ because the values are "
                "sorted (for $k = p$ the matrix is zero)"
            ),
        ),
    )
    return Derivation(
        claim="tsvd.error-closed-form",
        title="Spectral error of the truncated SVD",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=_SYMBOLS,
        conclusion="The spectral error is the largest discarded singular value, sigma_{k+1}.",
    )


def _closed_forms_hold(shape: tuple[int, int]) -> bool:
    rows, cols = shape
    size = min(rows, cols)
    values = sympy.symbols(f"s1:{size + 1}", positive=True)
    U = cayley_orthogonal(rows, 1)
    V = cayley_orthogonal(cols, 2)
    Sigma = sympy.zeros(rows, cols)
    for index, value in enumerate(values):
        Sigma[index, index] = value
    W = U * Sigma * V.T
    lam = sympy.Symbol("lambda")
    for rank in range(size + 1):
        W_k = (
            U[:, :rank] * sympy.diag(*values[:rank]) * V[:, :rank].T
            if rank
            else sympy.zeros(rows, cols)
        )
        E = W - W_k
        frobenius = sympy.expand(sum(entry**2 for entry in E))
        if sympy.expand(frobenius - sum(value**2 for value in values[rank:])) != 0:
            return False
        # The eigenvalues of E^T E are the discarded sigma_i^2 and zeros, so ||E||_2 = sigma_{k+1}.
        expected = lam ** (cols - (size - rank)) * sympy.prod(
            [lam - value**2 for value in values[rank:]]
        )
        if sympy.expand((E.T * E).charpoly(lam).as_expr() - expected) != 0:
            return False
    return True


@functools.cache
def closed_forms_instances() -> Derivation:
    """Cross-check both closed forms exactly for small shapes, symbolic singular values and every k."""
    shapes = ", ".join(f"{a}x{b}" for a, b in INSTANCE_SHAPES)
    statement = (
        r"\lVert W - W_k\rVert_F^2 \equiv \sum_{i>k} \sigma_i^2,\quad "
        r"\det\!\big(\lambda I - (W-W_k)^\top (W-W_k)\big) \equiv \lambda^{\,n-p+k} \prod_{i>k} (\lambda - \sigma_i^2)"
    )
    return Derivation(
        claim="tsvd.error-closed-form",
        title="Exact cross-check with symbolic singular values",
        scope=Scope.INSTANCES,
        bound=(
            f"shapes {shapes}, every k from 0 to min(m, n); U and V Cayley transforms of fixed rational "
            "skew-symmetric matrices, singular values free symbols"
        ),
        steps=(
            Step(
                statement,
                computation("sympy.expand of each difference is the zero polynomial"),
                check=lambda _p, _c: all(_closed_forms_hold(shape) for shape in INSTANCE_SHAPES),
            ),
        ),
        conclusion="Both identities hold as polynomial identities for each listed shape and k; this cross-checks the general derivations.",
    )


@functools.cache
def error_decreases() -> Derivation:
    """Derive ``e_F(k)^2 - e_F(k+1)^2 = sigma_{k+1}^2 >= 0``: the Frobenius error never grows with k."""
    steps = (
        Step(
            tail_sum(k + 1) - tail_sum(k + 2),
            definition("closed form at $k$ and at $k+1$, for $k < p$"),
        ),
        Step(
            sympy.Sum(sigma(i) ** 2, (i, k + 1, k + 1)) + tail_sum(k + 2) - tail_sum(k + 2),
            algebra("split the term $i = k+1$ off the first sum"),
            check=lambda prev, cur: sums_equal(prev, cur),
        ),
        Step(
            sigma(k + 1) ** 2,
            algebra("the one-term sum, and the equal sums cancel"),
            check=lambda prev, cur: sums_equal(prev.doit(), cur),
        ),
        Step(
            sympy.Integer(0),
            lemma("a square of a real number is non-negative"),
            relation=Relation.GE,
            check=lambda prev, cur: bool(sympy.ask(sympy.Q.nonnegative(prev - cur))),
        ),
    )
    return Derivation(
        claim="tsvd.error-monotone",
        title="The squared Frobenius error drops by sigma_{k+1}^2 from k to k+1",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("\\sigma_i", "singular values, $\\sigma_1 \\ge \\dots \\ge \\sigma_p \\ge 0$"),),
        conclusion=(
            "The Frobenius error is non-increasing in k, and strictly decreasing while sigma_{k+1} > 0. "
            "The spectral error sigma_{k+1} is non-increasing because the values are sorted."
        ),
    )


@functools.cache
def error_zero_at_rank() -> Derivation:
    """Derive that both errors vanish at ``k = r = rank(W)``, where ``sigma_i = 0`` for every i > r."""
    r = sympy.Symbol("r", integer=True, nonnegative=True)
    tail = sympy.Sum(sigma(i) ** 2, (i, r + 1, p))
    steps = (
        Step(tail, definition("closed form at $k = r$")),
        Step(
            sympy.Sum(sympy.Integer(0), (i, r + 1, p)),
            assumption("$\\operatorname{rank} W = r$: $\\sigma_i = 0$ for $i > r$"),
            check=lambda prev, cur: bool(prev.replace(sigma, lambda _x: sympy.Integer(0)) == cur),
        ),
        Step(
            sympy.Integer(0),
            algebra("a sum of zeros"),
            check=lambda prev, cur: bool(prev.doit() == cur),
        ),
    )
    return Derivation(
        claim="tsvd.error-monotone",
        title="The error is zero at k = rank(W)",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("r", "the rank of $W$, the number of nonzero singular values"),),
        conclusion="At k = rank(W) (and every larger k) the truncated SVD reproduces W exactly: W_k = W.",
    )
