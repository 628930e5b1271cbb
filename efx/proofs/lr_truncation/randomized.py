"""Derivations for the randomized SVD: a deterministic error bound and its Gaussian expectation.

With ``Y = (W W^T)^q W Omega``, ``Omega_1 = V_k^T Omega`` (``k x l``) and ``Omega_2 = V_r^T
Omega``, the matrix ``Z = Y Omega_1^+ Sigma_k^{-(2q+1)} = U_k + U_r F`` lies in the range of
``Y`` and differs from ``U_k`` by ``F = Sigma_r^{(2q+1)} Omega_2 Omega_1^+ Sigma_k^{-(2q+1)}``,
which is small when there is a gap after ``sigma_k``. Comparing the randomized result with
``Z Sigma_k V_k^T`` gives the bound; the structure follows Halko, Martinsson and Tropp, "Finding
structure with randomness", SIAM Review 53(2), 2011, section 9.
"""

from __future__ import annotations

import functools

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
    k,
    m,
    matrices_equal,
    n,
    orthonormality,
    svd_blocks,
    traces_equal,
)

q = sympy.Symbol("q", integer=True, nonnegative=True)
l = sympy.Symbol("l", integer=True, positive=True)

_SYMBOLS = (
    ("\\Omega", "the $n \\times l$ test matrix, $l = k + s$ with oversampling $s$"),
    (
        "\\Omega_1 = V_k^\\top \\Omega,\\ \\Omega_2 = V_r^\\top \\Omega",
        "its components along the leading and the other right singular vectors",
    ),
    (
        "\\Sigma_r^{(j)}",
        "the $(m-k) \\times (m-k)$ diagonal matrix of $\\sigma_{k+1}^j, \\sigma_{k+2}^j, \\dots$ (zeros past $p$)",
    ),
    ("q", "the number of power iterations"),
)


def _symbols() -> dict[str, sympy.Basic]:
    blocks = svd_blocks()
    return {
        **blocks,
        "O1": sympy.MatrixSymbol(r"\Omega_1", k, l),
        "O2": sympy.MatrixSymbol(r"\Omega_2", n - k, l),
        "O1p": sympy.MatrixSymbol(r"\Omega_1^{+}", l, k),
        "P": sympy.MatrixSymbol(r"\Sigma_r^{(2q)}", m - k, m - k),
    }


@functools.cache
def sample_structure() -> Derivation:
    """Derive ``Y Omega_1^+ Sigma_k^{-(2q+1)} = U_k + U_r F`` when ``Omega_1`` has full row rank."""
    s = _symbols()
    U_k, U_r, S_k, S_r, O1, O2, O1p, P = (
        s[name] for name in ("U_k", "U_r", "S_k", "S_r", "O1", "O2", "O1p", "P")
    )
    K = sympy.MatPow(S_k, 2 * q + 1)
    K_inv = sympy.MatPow(S_k, -(2 * q + 1))
    Y = U_k * K * O1 + U_r * P * S_r * O2
    F = P * S_r * O2 * O1p * K_inv
    rules = [(O1 * O1p, sympy.Identity(k)), (K * K_inv, sympy.Identity(k))]
    steps = (
        Step(
            Y * O1p * K_inv,
            definition(
                "$Y = (W W^\\top)^q W \\Omega = U_k \\Sigma_k^{2q+1} \\Omega_1 + U_r \\Sigma_r^{(2q)} \\Sigma_r \\Omega_2$, "
                "times $\\Omega_1^+ \\Sigma_k^{-(2q+1)}$"
            ),
        ),
        Step(
            U_k * K * O1 * O1p * K_inv + U_r * F,
            algebra("distribute"),
            check=lambda prev, cur: matrices_equal(prev, cur),
        ),
        Step(
            U_k + U_r * F,
            assumption(
                "$\\Omega_1$ has full row rank, so $\\Omega_1 \\Omega_1^+ = I_k$; $\\sigma_k > 0$"
            ),
            check=lambda prev, cur: matrices_equal(prev, cur, rules),
        ),
    )
    return Derivation(
        claim="tsvd.randomized-bound",
        title="A basis in the sample's range that is close to U_k",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=_SYMBOLS,
        conclusion=(
            "Z = U_k + U_r F, with F = Sigma_r^{(2q)} Sigma_r Omega_2 Omega_1^+ Sigma_k^{-(2q+1)}, has its columns "
            "in range(Y), the span of the randomized basis Q."
        ),
    )


@functools.cache
def error_bound() -> Derivation:
    """Derive ``||W - W_hat||_F^2 <= sum_{i>k} sigma_i^2 + ||F Sigma_k||_F^2`` and the gap factor."""
    s = _symbols()
    U_k, U_r, V_k, V_r, S_k, S_r, O2, O1p, P = (
        s[name] for name in ("U_k", "U_r", "V_k", "V_r", "S_k", "S_r", "O2", "O1p", "P")
    )
    F = sympy.MatrixSymbol("F", m - k, k)
    W = U_k * S_k * V_k.T + U_r * S_r * V_r.T
    Z = U_k + U_r * F
    E_full = W - Z * S_k * V_k.T
    E = U_r * (S_r * V_r.T - F * S_k * V_k.T)
    F_def = P * S_r * O2 * O1p * sympy.MatPow(S_k, -(2 * q + 1))
    steps = (
        Step(
            r"\lVert W - \widehat W_k \rVert_F^2",
            definition("$\\widehat W_k = Q [Q^\\top W]_k$, the randomized rank-$k$ result"),
        ),
        Step(
            sympy.Trace(E_full.T * E_full),
            lemma(
                "$\\widehat W_k$ is a best approximation of rank $\\le k$ with columns in $\\operatorname{range}(Q)$"
            ),
            relation=Relation.LE,
            prose=(
                "$\\lVert W - QC\\rVert_F^2 = \\lVert (I - QQ^\\top) W\\rVert_F^2 + \\lVert Q^\\top W - C\\rVert_F^2$ "
                "is smallest over rank-$k$ $C$ at $C = [Q^\\top W]_k$ (Eckart-Young), and $Z \\Sigma_k V_k^\\top$ is "
                "such a $QC$ because $\\operatorname{range}(Z) \\subseteq \\operatorname{range}(Q)$"
            ),
        ),
        Step(
            sympy.Trace(E.T * E),
            algebra("substitute $W$ and $Z = U_k + U_r F$; the $U_k$ terms cancel"),
            check=lambda prev, cur: matrices_equal(prev.arg, cur.arg),
        ),
        Step(
            sympy.Trace(S_r.T * S_r) + sympy.Trace(S_k.T * F.T * F * S_k),
            assumption(
                "orthonormal columns: $U_r^\\top U_r = I$, $V_k^\\top V_k = I$, $V_r^\\top V_r = I$, $V_r^\\top V_k = 0$"
            ),
            check=traces_equal(orthonormality(svd_blocks())),
        ),
        Step(
            sympy.Trace(S_r.T * S_r) + sympy.Trace((F_def * S_k).T * (F_def * S_k)),
            definition(
                "$F$ from the sample structure, so $F \\Sigma_k = \\Sigma_r^{(2q)} \\Sigma_r \\Omega_2 \\Omega_1^+ \\Sigma_k^{-2q}$"
            ),
            check=lambda prev, cur: traces_equal([])(prev.subs(F, F_def), cur),
        ),
        Step(
            r"\sum_{i>k}\sigma_i^2 + \left(\frac{\sigma_{k+1}}{\sigma_k}\right)^{4q}"
            r"\lVert \Sigma_r \Omega_2 \Omega_1^+ \rVert_F^2",
            lemma(
                "$\\lVert A X B\\rVert_F \\le \\lVert A\\rVert_2 \\lVert X\\rVert_F \\lVert B\\rVert_2$"
            ),
            relation=Relation.LE,
            prose="$\\lVert \\Sigma_r^{(2q)}\\rVert_2 = \\sigma_{k+1}^{2q}$ and $\\lVert \\Sigma_k^{-2q}\\rVert_2 = \\sigma_k^{-2q}$",
        ),
        Step(
            r"\sum_{i>k}\sigma_i^2 \left(1 + \left(\frac{\sigma_{k+1}}{\sigma_k}\right)^{4q}"
            r"\lVert\Omega_2\rVert_2^2\, \lVert\Omega_1^+\rVert_2^2\right)",
            lemma(
                "$\\lVert \\Sigma_r M \\rVert_F \\le \\lVert \\Sigma_r\\rVert_F \\lVert M\\rVert_2$, submultiplicativity"
            ),
            relation=Relation.LE,
            prose="$\\lVert \\Sigma_r\\rVert_F^2 = \\sum_{i>k} \\sigma_i^2$",
        ),
    )
    return Derivation(
        claim="tsvd.randomized-bound",
        title="Deterministic bound on the randomized SVD's Frobenius error",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=_SYMBOLS,
        conclusion=(
            "The excess over the Eckart-Young optimum is damped by (sigma_{k+1}/sigma_k)^{4q}: a gap after "
            "sigma_k and a few power iterations make the randomized error essentially optimal."
        ),
    )


@functools.cache
def gaussian_expectation() -> Derivation:
    """Derive ``E ||Sigma_r Omega_2 Omega_1^+||_F^2 = (sum_{i>k} sigma_i^2) k / (s - 1)`` for Gaussian Omega."""
    a, b, c, d = sympy.symbols("a b c d", integer=True, positive=True)
    rows, inner, middle, cols = sympy.symbols("M N K L", integer=True, positive=True)
    S = sympy.Function("S", real=True)
    T = sympy.Function("T", real=True)
    separated = sympy.Sum(S(a, c) ** 2, (a, 1, rows), (c, 1, inner)) * sympy.Sum(
        T(d, b) ** 2, (d, 1, middle), (b, 1, cols)
    )
    s_over = sympy.Symbol("s", integer=True, positive=True)
    tail, pinv = sympy.symbols(
        r"\lVert\Sigma_r\rVert_F^2 \mathbb{E}\lVert\Omega_1^+\rVert_F^2", positive=True
    )
    steps = (
        Step(
            sympy.Sum(
                S(a, c) ** 2 * T(d, b) ** 2,
                (a, 1, rows),
                (c, 1, inner),
                (d, 1, middle),
                (b, 1, cols),
            ),
            definition(
                "$\\mathbb{E} \\lVert S G T\\rVert_F^2$ for $G$ with independent $N(0,1)$ entries, independent of $T$"
            ),
            prose=(
                "$\\mathbb{E}[G_{cd} G_{c'd'}] = 1$ if $(c, d) = (c', d')$ and 0 otherwise, so only squared "
                "terms survive in $\\mathbb{E}[(SGT)_{ab}^2]$"
            ),
        ),
        Step(
            separated,
            algebra("the sum separates"),
            check=lambda prev, cur: bool(sympy.simplify(prev.factor() - cur) == 0),
        ),
        Step(
            tail * pinv,
            definition(
                "with $S = \\Sigma_r$, $G = \\Omega_2$, $T = \\Omega_1^+$: $\\Omega_2$ is Gaussian and independent of $\\Omega_1$"
            ),
            prose="$V^\\top \\Omega$ is Gaussian for orthogonal $V$, and its blocks $\\Omega_1$, $\\Omega_2$ are independent",
        ),
        # NOTE: this expectation is cited, not derived or checked here. Only the Gaussian
        # (Markov) check depends on it; the deterministic bound does not.
        Step(
            tail * k / (s_over - 1),
            lemma(
                "$\\mathbb{E}\\lVert G^+\\rVert_F^2 = k / (s - 1)$ for a $k \\times (k + s)$ Gaussian $G$, $s \\ge 2$ "
                "(Halko, Martinsson and Tropp 2011, section 10)"
            ),
            prose="the mean of an inverse Wishart matrix",
        ),
    )
    return Derivation(
        claim="tsvd.randomized-bound",
        title="Expected excess for a Gaussian test matrix, and Markov's inequality",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("s", "the oversampling, $l = k + s$, $s \\ge 2$"),
            ("S, G, T", "matrices with entries $S(a, c)$, $G$, $T(d, b)$"),
        ),
        conclusion=(
            "By Markov's inequality, with probability at least 1 - 1/t: ||W - W_hat||_F^2 / sum_{i>k} sigma_i^2 "
            "<= 1 + t (sigma_{k+1}/sigma_k)^{4q} k / (s - 1)."
        ),
    )
