"""Derivations for inference memory (question ``ckpt-inference``).

Two facts are derived for symbolic sizes. The gradient of a linear layer's weight contains
the layer's input, which is why training keeps every layer's input until the backward pass.
The key-value cache of autoregressive decoding has a closed-form size that grows with the
number of layers and the sequence length.
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
    definition,
    lemma,
)

# Linear layer y = W x with W of shape m x n. The entry (p, q) of the weight is generic; the
# sizes are written m = p + c and n = q + a with c, a >= 0, so sympy simplifies with p <= m and q <= n.
i, j, p, q = sympy.symbols("i j p q", integer=True, positive=True)
a, c = sympy.symbols("a c", integer=True, nonnegative=True)
W = sympy.IndexedBase("W")
x = sympy.IndexedBase("x")
g = sympy.IndexedBase("g")

# Key-value cache: L layers, T cached positions, H heads of dimension D, s bytes per element,
# B sequences in the batch.
L, T, H, D, s, B = sympy.symbols("L T H D s B", integer=True, positive=True)
layer, position = sympy.symbols("l t", integer=True, positive=True)


def _equal_after_doit(previous: sympy.Expr, current: sympy.Expr) -> bool:
    return bool(sympy.simplify(sympy.sympify(previous).doit() - sympy.sympify(current).doit()) == 0)


@functools.cache
def weight_gradient_needs_input() -> Derivation:
    """Derive ``dl/dW_pq = g_p x_q`` for ``y = W x``: the weight's gradient contains the input."""
    m = p + c
    n = q + a
    y_i = sympy.Sum(W[i, j] * x[j], (j, 1, n))
    chain_rule = sympy.Sum(g[i] * sympy.Derivative(y_i, W[p, q]), (i, 1, m))
    delta = sympy.Sum(g[i] * sympy.KroneckerDelta(i, p) * x[q], (i, 1, m))
    steps = (
        Step(
            r"\frac{\partial \ell}{\partial W_{pq}}",
            definition("the gradient of the loss with respect to one weight"),
        ),
        Step(
            chain_rule,
            lemma(
                "chain rule through $y_i = \\sum_{j=1}^{n} W_{ij} x_j$, with $g_i = \\partial \\ell / \\partial y_i$"
            ),
            prose="the loss depends on $W$ only through $y$; $\\ell$ is any differentiable function of $y$",
        ),
        Step(
            delta,
            algebra(
                "differentiate the linear form: $\\partial y_i / \\partial W_{pq} = \\delta_{ip} x_q$"
            ),
            check=_equal_after_doit,
        ),
        Step(g[p] * x[q], algebra("the Kronecker delta picks the term $i = p$")),
        Step(
            r"\nabla_W \ell = g\, x^\top \text{, so the backward pass needs } x",
            lemma("what the backward pass computes, it must be able to read"),
            relation=Relation.IMPLIES,
            prose=(
                "the entries $g_p x_q$ for all $p, q$ form the outer product, and each is a multiple of an "
                "entry of $x$: autograd keeps $x$ from the forward pass, or $x$ must be recomputed"
            ),
        ),
    )
    return Derivation(
        claim="infer.grad-saves-activations",
        title="The weight gradient of a linear layer is the outer product of the output gradient and the input",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("W", "the layer's $m \\times n$ weight, $y = W x$"),
            ("x", "the layer's input, $n$ entries"),
            ("g", "the gradient of the loss $\\ell$ with respect to $y$"),
            ("p, q", "a weight entry, $1 \\le p \\le m$ and $1 \\le q \\le n$"),
        ),
        conclusion=(
            "For all sizes m, n, the gradient with respect to W is $g x^\\top$, which contains the input x; "
            "a bias adds a term without x but does not remove this one."
        ),
    )


@functools.cache
def kv_cache_bytes() -> Derivation:
    """Derive the key-value cache size ``2 L T H D s`` per sequence and its growth per token."""
    per_sequence = sympy.Sum(sympy.Sum(2 * H * D * s, (position, 1, T)), (layer, 1, L))
    steps = (
        Step(
            r"\text{bytes}_{\text{cache}}",
            definition(
                "for every cached position, each layer keeps a key and a value of $H \\times D$ entries"
            ),
        ),
        Step(
            per_sequence,
            definition(
                "sum over layers $l$ and cached positions $t$ of $2 H D$ entries of $s$ bytes"
            ),
            prose="a key $k_{l,t}$ and a value $v_{l,t}$, each $H \\times D$, for every layer and position",
        ),
        Step(
            2 * L * T * H * D * s,
            algebra("the summand does not depend on $l$ or $t$"),
            check=_equal_after_doit,
        ),
        Step(
            2 * B * L * T * H * D * s,
            definition("a batch of $B$ sequences keeps one cache per sequence"),
            check=lambda previous, current: bool(sympy.simplify(B * previous - current) == 0),
        ),
        Step(
            sympy.Derivative(2 * B * L * T * H * D * s, T),
            algebra("growth per generated token"),
            relation=Relation.IMPLIES,
            check=lambda previous, current: bool(
                sympy.simplify(current.doit() - 2 * B * L * H * D * s) == 0
            ),
        ),
        Step(
            2 * B * L * H * D * s,
            algebra("the cache grows linearly in T, by this many bytes per token"),
            check=_equal_after_doit,
        ),
    )
    return Derivation(
        claim="infer.kv-cache-size",
        title="Size of the key-value cache of autoregressive decoding",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("L", "decoder layers"),
            ("T", "cached positions (prompt plus generated tokens)"),
            ("H, D", "attention heads and the dimension of each head"),
            ("s", "bytes per element (4 for float32, 2 for float16 and bfloat16)"),
            ("B", "sequences in the batch"),
        ),
        conclusion="The cache holds $2 B L T H D s$ bytes and grows by $2 B L H D s$ bytes per token, with no bound in $T$.",
    )
