"""Derivations about the shape of a truncation: rank-one stripes, the two factors, and when A B = W.

``W_1 = sigma_1 u_1 v_1^T`` has every row a multiple of ``v_1^T`` and every column a multiple
of ``u_1``: all its 2 x 2 minors vanish. ``W_k = U_k Sigma_k V_k^T`` splits into ``A = U_k``
(``m x k``) and ``B = Sigma_k V_k^T`` (``k x n``), or into the balanced pair with
``Sigma_k^{1/2}`` on each side. The rest, ``W - A B = U_r Sigma_r V_r^T``, is zero exactly when
the discarded singular values are.
"""

from __future__ import annotations

import functools
from typing import Any

import sympy

from efx.proofs.derivation import (
    Derivation,
    Relation,
    Scope,
    Step,
    algebra,
    assumption,
    definition,
    lemma,
)
from efx.proofs.lr_truncation._common import (
    i,
    is_trace_rotation,
    k,
    matrices_equal,
    orthonormality,
    rewrite,
    sigma,
    sums_equal,
    svd_blocks,
    tail_sum,
)


@functools.cache
def rank_one_minors() -> Derivation:
    """Derive that every 2 x 2 minor of ``sigma u v^T`` is zero, for any rows a, c and columns b, d."""
    s = sympy.Symbol(r"\sigma_1", nonnegative=True)
    u_a, u_c, v_b, v_d = sympy.symbols("u_a u_c v_b v_d", real=True)
    minor = (s * u_a * v_b) * (s * u_c * v_d) - (s * u_a * v_d) * (s * u_c * v_b)
    steps = (
        Step(
            minor,
            definition(
                "$(W_1)_{ab} = \\sigma_1 u_a v_b$; the minor on rows $a, c$ and columns $b, d$"
            ),
        ),
        Step(sympy.Integer(0), algebra("expand")),
    )
    return Derivation(
        claim="tsvd.rank-one-stripes",
        title="Every 2 x 2 minor of a rank-one truncation vanishes",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("u, v", "the first left and right singular vectors"),
            ("a, c;\\ b, d", "any two rows; any two columns"),
        ),
        conclusion=(
            "Row a of W_1 is (sigma_1 u_a) v^T: every row is a multiple of one row and every column a "
            "multiple of one column, so the rank-1 image is a product of a column profile and a row profile."
        ),
    )


@functools.cache
def factor_product() -> Derivation:
    """Derive ``W = A B + U_r Sigma_r V_r^T`` for ``A = U_k Sigma_k^{1/2}``, ``B = Sigma_k^{1/2} V_k^T``."""
    blocks = svd_blocks()
    U_k, V_k, S_k, U_r, S_r, V_r = (
        blocks[name] for name in ("U_k", "V_k", "S_k", "U_r", "S_r", "V_r")
    )
    root = sympy.MatrixSymbol(r"\Sigma_k^{1/2}", k, k)
    full = blocks["U"] * blocks["S"] * blocks["V"].T
    steps = (
        Step(full, definition("the SVD $W = U \\Sigma V^\\top$ written by blocks")),
        Step(
            U_k * S_k * V_k.T + U_r * S_r * V_r.T,
            algebra("block multiplication"),
            check=lambda prev, cur: matrices_equal(prev, cur),
        ),
        Step(
            U_k * (S_k * V_k.T) + U_r * S_r * V_r.T,
            algebra("left split: $A = U_k$, $B = \\Sigma_k V_k^\\top$ (associativity)"),
            check=lambda prev, cur: matrices_equal(prev, cur),
        ),
        Step(
            (U_k * root) * (root * V_k.T) + U_r * S_r * V_r.T,
            definition(
                "balanced split: $A = U_k \\Sigma_k^{1/2}$, $B = \\Sigma_k^{1/2} V_k^\\top$, with $(\\Sigma_k^{1/2})^2 = \\Sigma_k$"
            ),
            check=lambda prev, cur: matrices_equal(prev, cur, [(root * root, S_k), (root**2, S_k)]),
        ),
    )
    return Derivation(
        claim="tsvd.factors",
        title="Both splits multiply back to W_k; the rest of W is the discarded part",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("U_k, V_k", "first $k$ columns of $U$, $V$ (in torch: U[:, :k], Vh[:k, :].T)"),
            (
                "\\Sigma_k",
                "$\\operatorname{diag}(\\sigma_1, \\dots, \\sigma_k)$ (in torch: torch.diag(S[:k]))",
            ),
        ),
        conclusion=(
            "A B = U_k Sigma_k V_k^T = W_k for both splits, with A of shape m x k and B of shape k x n, "
            "and W - A B = U_r Sigma_r V_r^T."
        ),
    )


@functools.cache
def exact_iff_tail_zero() -> Derivation:
    """Derive ``A B = W  <=>  sigma_{k+1} = ... = sigma_p = 0  <=>  rank(W) <= k``."""
    steps = (
        Step(r"A B = W", definition("the factors of the truncated SVD reproduce $W$")),
        Step(
            r"\lVert W - A B \rVert_F^2 = 0",
            lemma("a matrix is zero exactly when its Frobenius norm is"),
            relation=Relation.IFF,
            prose="$\\lVert X\\rVert_F^2$ is the sum of the squared entries of $X$",
        ),
        Step(
            sympy.Eq(tail_sum(k + 1), 0),
            lemma(
                "closed form $\\lVert W - W_k\\rVert_F^2 = \\sum_{i>k}\\sigma_i^2$ (claim tsvd.error-closed-form)"
            ),
            relation=Relation.IFF,
            prose="$A B = W_k$ for both splits (claim tsvd.factors)",
        ),
        Step(
            r"\sigma_{k+1} = \dots = \sigma_p = 0",
            lemma("a sum of squares of real numbers is zero only if each is zero"),
            relation=Relation.IFF,
            prose="each term $\\sigma_i^2 \\ge 0$, so none can be positive when the sum is zero",
        ),
        Step(
            r"\operatorname{rank} W \le k",
            definition("the rank is the number of nonzero singular values"),
            relation=Relation.IFF,
            prose="the values are sorted, so only $\\sigma_1, \\dots, \\sigma_k$ can be nonzero",
        ),
    )
    return Derivation(
        claim="tsvd.exact-iff-tail-zero",
        title="W = AB exactly if and only if the discarded singular values are zero",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("A, B", "the factors of $W_k$, either split"),),
        conclusion=(
            "Near-zero discarded values give an approximation, not an equality; and since rank(AB) <= k for "
            "any m x k and k x n factors, no factorisation of that shape reproduces a W of rank above k."
        ),
    )


def _adds_nonnegative_term(term: Any) -> Any:
    def check(previous: Any, current: Any) -> bool:
        # current - previous must be exactly the one-term sum of `term`, and `term` must be >= 0.
        one_term = sympy.Sum(term, (i, k + 1, k + 1))
        nonnegative = sympy.ask(sympy.Q.nonnegative(term.subs(i, k + 1)))
        return bool(nonnegative) and sums_equal(current - previous, one_term)

    return check


@functools.cache
def sharpness_grows() -> Derivation:
    """Derive ``||D W_k||_F^2 = sum_{i<=k} sigma_i^2 ||D u_i||^2`` for any matrix D (a difference operator)."""
    blocks = svd_blocks()
    U_k, V_k, S_k = blocks["U_k"], blocks["V_k"], blocks["S_k"]
    m_rows = U_k.shape[0]
    D = sympy.MatrixSymbol("D", m_rows, m_rows)
    X = D * U_k * S_k * V_k.T
    rules = orthonormality(blocks)
    du = sympy.Function(r"\lVert D u \rVert", positive=True)
    energy = sympy.Sum(sigma(i) ** 2 * du(i) ** 2, (i, 1, k))
    energy_next = sympy.Sum(sigma(i) ** 2 * du(i) ** 2, (i, 1, k + 1))
    steps = (
        Step(
            sympy.Trace(X.T * X),
            definition("$\\lVert D W_k\\rVert_F^2 = \\operatorname{tr}((D W_k)^\\top D W_k)$"),
        ),
        Step(
            sympy.Trace(V_k * S_k.T * U_k.T * D.T * D * U_k * S_k * V_k.T),
            algebra("transpose of a product"),
            check=lambda prev, cur: bool(rewrite(prev.arg, []) == rewrite(cur.arg, [])),
        ),
        Step(
            sympy.Trace(S_k.T * U_k.T * D.T * D * U_k * S_k * V_k.T * V_k),
            lemma("cyclic property of the trace"),
            check=is_trace_rotation,
        ),
        Step(
            sympy.Trace(S_k.T * U_k.T * D.T * D * U_k * S_k),
            assumption("$V_k^\\top V_k = I$"),
            check=lambda prev, cur: bool(rewrite(prev.arg, rules) == rewrite(cur.arg, [])),
        ),
        Step(
            energy,
            definition(
                "$\\Sigma_k$ is diagonal: the trace sums $\\sigma_i^2 \\lVert D u_i\\rVert^2$ over $i \\le k$"
            ),
            prose="the $i$-th diagonal entry of $\\Sigma_k U_k^\\top D^\\top D U_k \\Sigma_k$ is $\\sigma_i^2 \\lVert D u_i \\rVert^2$",
        ),
        Step(
            energy_next,
            lemma("adding the non-negative term $\\sigma_{k+1}^2 \\lVert D u_{k+1}\\rVert^2$"),
            relation=Relation.LE,
            check=_adds_nonnegative_term(sigma(i) ** 2 * du(i) ** 2),
        ),
    )
    return Derivation(
        claim="tsvd.sharpness-grows",
        title="The gradient energy of W_k grows with k",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("D", "any $m \\times m$ matrix, for example the vertical pixel differences"),),
        conclusion=(
            "For every D, ||D W_k||_F^2 is non-decreasing in k and equals ||D W||_F^2 at k = p; the same holds "
            "for ||W_k D'^T||_F^2 with the right singular vectors. Small k keeps only the part of the "
            "detail carried by the leading singular vectors."
        ),
    )
