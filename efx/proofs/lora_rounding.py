"""Floating-point bounds for LoRA's merge, unmerge and SVD initialisation, as checked derivations.

The model of arithmetic is the standard one (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., section 2.2): each operation returns the exact result times ``1 + delta``
with ``|delta| <= u``, the unit roundoff. A product of ``k`` such factors is ``1 + theta_k``
with ``|theta_k| <= gamma_k = k u / (1 - k u)`` (Higham, Lemma 3.1), so a computed sum of
products is within ``gamma_k`` times the sum of the absolute values of its terms when every
term meets at most ``k`` roundings. The derivations below count those roundings; sympy
checks the counts and the inequalities between them, and the lemmas are argued in prose.

Magnitudes are entrywise: ``|X|`` is the matrix of absolute values, and
``M = |X| (|W_0| + s |B| |A|)^T + 1 |b|`` bounds the terms of the output.
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

d_in, r = sympy.symbols("d_in r", integer=True, positive=True)
u = sympy.Symbol("u", positive=True)
_t = sympy.Symbol("t", positive=True)

SYMBOLS = (
    ("u", r"the unit roundoff of the dtype ($2^{-24}$ for float32, $2^{-53}$ for float64)"),
    (r"\gamma_k = \frac{k u}{1 - k u}", "the error factor of k chained roundings, for k u < 1"),
    (r"d_{in},\ r", "input features and rank: the lengths of the two inner products"),
)


def gamma(k: sympy.Expr) -> sympy.Expr:
    """Return Higham's ``gamma_k = k u / (1 - k u)`` as a sympy expression in ``u``."""
    return k * u / (1 - k * u)


def _nonnegative(expression: sympy.Expr) -> bool:
    # Factoring exposes the sign from the symbols' assumptions; simplify would be slower.
    return bool(sympy.factor(sympy.together(expression)).is_nonnegative)


def _gamma_subadditive() -> bool:
    # gamma_a + gamma_b <= gamma_{a+b} whenever (a + b) u < 1: write u = 1 / ((a + b)(1 + t)), t > 0.
    a, c = sympy.symbols("a c", positive=True)
    difference = sympy.together(gamma(a + c) - gamma(a) - gamma(c))
    return _nonnegative(difference.subs(u, 1 / ((a + c) * (1 + _t))))


def _count(*parts: sympy.Expr) -> sympy.Expr:
    return sympy.Add(*parts, evaluate=False)


# lora.merge-equivalence


@functools.cache
def merge_rounding() -> Derivation:
    """Derive ``|Y_merged - Y_unmerged| <= 2 gamma_{d_in + r + 3} M`` by counting roundings per term."""
    merged = _count(r, sympy.Integer(1), sympy.Integer(1), d_in + 1)
    unmerged = _count(d_in, r, sympy.Integer(1), sympy.Integer(1))
    steps = (
        Step(
            merged,
            definition(
                r"roundings met by a term $x_i\, s B_{jk} A_{ki}$ on the merged path: $r$ in $(BA)_{ji}$ (a product and "
                r"$r-1$ additions), 1 for $\times s$, 1 for $+W_0$, $d_{in}+1$ in $x \hat W^{\top} + b$"
            ),
            latex=r"k_{\text{merged}} = r + 1 + 1 + (d_{in} + 1)",
        ),
        Step(d_in + r + 3, algebra("add the counts")),
        Step(
            unmerged,
            definition(
                r"the same term on the unmerged path: $d_{in}$ in $x A^{\top}$, $r$ in $(xA^{\top})B^{\top}$, 1 for "
                r"$\times s$, 1 for adding the base output; a term $x_i W_{0,ji}$ meets only $d_{in}+2$"
            ),
            relation=Relation.GE,
            check=lambda p, c: _nonnegative(p - c),
            latex=r"k_{\text{unmerged}} = d_{in} + r + 1 + 1",
        ),
        Step(
            r"\lvert \hat Y_{\text{merged}} - Y\rvert \le \gamma_{d_{in}+r+3}\, M,\quad \lvert \hat Y_{\text{unmerged}} - Y\rvert \le \gamma_{d_{in}+r+3}\, M",
            lemma("Higham, Lemma 3.1, applied term by term; gamma_k grows with k"),
            relation=Relation.IMPLIES,
            prose=r"both outputs are sums of the terms of $M$, each multiplied by $1+\theta_k$ with $k \le d_{in}+r+3$",
        ),
        Step(
            r"\lvert \hat Y_{\text{merged}} - \hat Y_{\text{unmerged}}\rvert \le 2\,\gamma_{d_{in}+r+3}\, M",
            lemma("triangle inequality through the exact output Y"),
            relation=Relation.IMPLIES,
            prose="the two computed outputs approximate the same real Y, by the exact identity of the merge",
        ),
    )
    return Derivation(
        claim="lora.merge-equivalence",
        title="Rounding bound for the merged output",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            *SYMBOLS,
            (
                r"M = \lvert X\rvert (\lvert W_0\rvert + s\lvert B\rvert\lvert A\rvert)^{\top} + \mathbf{1}\lvert b\rvert",
                "the magnitude of the output's terms",
            ),
        ),
        conclusion=(
            "In eval mode the merged output differs from the unmerged one by at most 2 gamma_{d_in+r+3} M per entry, "
            "whatever order the kernels sum in (fused multiply-adds only remove roundings)."
        ),
    )


# lora.unmerge-restores


@functools.cache
def unmerge_rounding() -> Derivation:
    """Derive ``|unmerge(merge(W_0)) - W_0| <= gamma_2 (|W_0| + |D|)`` entrywise, with ``D`` the computed update."""
    W, D = sympy.symbols("W_0 D", real=True)
    delta_1, delta_2 = sympy.symbols("delta_1 delta_2", real=True)
    a, d = sympy.symbols("a d", nonnegative=True)  # |W_0| and |D|
    restored = ((W + D) * (1 + delta_1) - D) * (1 + delta_2)
    expanded = W + delta_1 * (W + D) * (1 + delta_2) + delta_2 * W
    triangle = u * (1 + u) * (a + d) + u * a
    loose = (2 * u + u**2) * (a + d)
    final = gamma(2) * (a + d)
    steps = (
        Step(
            restored,
            assumption(
                r"merge computes $\operatorname{fl}(W_0 + D)$ and unmerge $\operatorname{fl}(\hat W - D)$ with the same "
                r"computed update $D = \operatorname{fl}(s \cdot \operatorname{fl}(BA))$: one rounding each, $\lvert\delta_i\rvert \le u$"
            ),
            latex=r"\hat W_0' = \big((W_0 + D)(1+\delta_1) - D\big)(1+\delta_2)",
        ),
        Step(
            expanded,
            algebra("expand"),
            latex=r"W_0 + \delta_1 (W_0 + D)(1 + \delta_2) + \delta_2 W_0",
        ),
        Step(
            triangle,
            lemma(
                r"triangle inequality with $\lvert\delta_i\rvert \le u$ and $\lvert W_0 + D\rvert \le \lvert W_0\rvert + \lvert D\rvert$"
            ),
            relation=Relation.IMPLIES,
            prose="subtract W_0 and bound each term",
            latex=r"\lvert \hat W_0' - W_0\rvert \le u(1+u)(\lvert W_0\rvert + \lvert D\rvert) + u\lvert W_0\rvert",
        ),
        Step(
            loose,
            algebra(r"add $u\lvert D\rvert \ge 0$"),
            relation=Relation.LE,
            check=lambda p, c: _nonnegative(c - p),
            latex=r"(2u + u^2)(\lvert W_0\rvert + \lvert D\rvert)",
        ),
        Step(
            final,
            algebra(r"$2u + u^2 \le \gamma_2$ for $0 < u < 1/2$"),
            relation=Relation.LE,
            check=lambda p, c: _nonnegative(sympy.together(c - p).subs(u, 1 / (2 + 2 * _t))),
            latex=r"\gamma_2\,(\lvert W_0\rvert + \lvert D\rvert)",
        ),
    )
    return Derivation(
        claim="lora.unmerge-restores",
        title="Rounding bound for merge followed by unmerge",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            *SYMBOLS,
            (
                "D",
                r"the computed update $\operatorname{fl}(s\cdot\operatorname{fl}(BA))$, "
                r"$\lvert D\rvert \le (1+\gamma_{r+1})\, s\lvert B\rvert\lvert A\rvert$",
            ),
        ),
        conclusion=(
            "Unmerging restores each weight entry within two roundings, relative to |W_0| + |D|; "
            "the bound needs the update recomputed bit for bit, which holds for the same factors on the same device "
            "with deterministic kernels."
        ),
    )


# lora.svd-init


@functools.cache
def svd_init_rounding() -> Derivation:
    """Derive the bound ``gamma_{2(d_in + r + 2)} (|X| (|W_0| + |W_res| + s |B||A|)^T + 1 |b|)`` on the output change."""
    counts = (d_in + r + 3, d_in + 2 * r + 3, d_in + 1, 2 * d_in + r + 3)
    total = 2 * (d_in + r + 2)
    steps = (
        Step(
            r"\hat W_{res} + s\,BA - W_0 = E,\quad \lvert E\rvert \le \gamma_{r+1}\, s\lvert B\rvert\lvert A\rvert + \gamma_1 \lvert \hat W_{res}\rvert",
            lemma(
                r"$D = \operatorname{fl}(s\cdot\operatorname{fl}(BA))$ is within $\gamma_{r+1}$ of $s\,BA$, and "
                r"$\hat W_{res} = \operatorname{fl}(W_0 - D) = (W_0 - D)(1+\delta)$"
            ),
            prose=r"so $W_0 - D = \hat W_{res}/(1+\delta)$, which differs from $\hat W_{res}$ by at most $\gamma_1 \lvert\hat W_{res}\rvert$",
        ),
        Step(
            r"\lvert \hat Y_{\text{init}} - \hat Y_{\text{base}}\rvert \le \gamma_{d_{in}+r+2}\, M_{\text{init}} + \gamma_{d_{in}+1}\, M_{\text{base}} + \lvert X\rvert\,\lvert E\rvert^{\top}",
            lemma(
                "Higham, Lemma 3.1, on both computed outputs, and the triangle inequality through the exact outputs"
            ),
            relation=Relation.IMPLIES,
            prose=(
                r"$M_{\text{init}} = \lvert X\rvert(\lvert\hat W_{res}\rvert + s\lvert B\rvert\lvert A\rvert)^{\top} + \lvert b\rvert$, "
                r"$M_{\text{base}} = \lvert X\rvert\lvert W_0\rvert^{\top} + \lvert b\rvert$; the exact outputs differ by $X E^{\top}$"
            ),
        ),
        Step(
            r"\gamma_a + \gamma_b \le \gamma_{a+b}",
            lemma("subadditivity of gamma, for (a + b) u < 1"),
            relation=Relation.IMPLIES,
            check=lambda _p, _c: _gamma_subadditive(),
        ),
        Step(
            sympy.Max(*counts),
            algebra(
                r"collect each magnitude's factors: $\lvert X\rvert\lvert\hat W_{res}\rvert$ meets $\gamma_{d_{in}+r+2}+\gamma_1$, "
                r"$s\lvert X\rvert\lvert A\rvert\lvert B\rvert$ meets $\gamma_{d_{in}+r+2}+\gamma_{r+1}$, "
                r"$\lvert X\rvert\lvert W_0\rvert$ meets $\gamma_{d_{in}+1}$, $\lvert b\rvert$ meets $\gamma_{d_{in}+r+2}+\gamma_{d_{in}+1}$"
            ),
            relation=Relation.IMPLIES,
            check=lambda _p, c: c == sympy.Max(*counts),
            latex=r"k = \max(d_{in}+r+3,\ d_{in}+2r+3,\ d_{in}+1,\ 2d_{in}+r+3)",
        ),
        Step(
            total,
            algebra("every count is at most 2(d_in + r + 2)"),
            relation=Relation.LE,
            check=lambda _p, c: all(_nonnegative(c - count) for count in counts),
            latex=r"2(d_{in} + r + 2)",
        ),
        Step(
            r"\lvert \hat Y_{\text{init}} - \hat Y_{\text{base}}\rvert \le \gamma_{2(d_{in}+r+2)} \big(\lvert X\rvert (\lvert W_0\rvert + \lvert\hat W_{res}\rvert + s\lvert B\rvert\lvert A\rvert)^{\top} + \mathbf{1}\lvert b\rvert\big)",
            lemma("gamma_k grows with k"),
            relation=Relation.IMPLIES,
            prose="replace every factor by the largest",
        ),
    )
    return Derivation(
        claim="lora.svd-init",
        title="Rounding bound for the output after SVD initialisation",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(*SYMBOLS, (r"\hat W_{res}", "the computed residual, the new frozen weight")),
        conclusion=(
            "The residual is formed from the rounded factors, so the bound does not depend on the accuracy of the "
            "SVD: a less accurate SVD changes which part the factors carry, not the layer's output."
        ),
    )
