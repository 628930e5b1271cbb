"""Derivations from losses to updates for question ``ga-division``: the MSE gradient and its
block form, and what a gradient scaled by the section count m does to SGD, weight decay, Adam
and clipping.

The linear model is ``y_hat = X w + b 1``, written ``Z v`` with ``Z = [X 1]`` and
``v = [w; b]`` so that one matrix derivative gives both gradients.
"""

from __future__ import annotations

import functools

import sympy

from efx.proofs.derivation import Derivation, Scope, Step, algebra, computation, definition, lemma

n, d = sympy.symbols("n d", integer=True, positive=True)
BLOCK_COUNTS = (1, 2, 3, 4)
"""The block check covers these section counts, each with symbolic section sizes."""


def _linear_model() -> tuple[sympy.MatrixSymbol, ...]:
    X = sympy.MatrixSymbol("X", n, d)
    w = sympy.MatrixSymbol("w", d, 1)
    b = sympy.MatrixSymbol("b", 1, 1)
    y = sympy.MatrixSymbol("y", n, 1)
    return X, w, b, y


def _same_matrix(previous: sympy.Expr, current: sympy.Expr) -> bool:
    return bool(
        sympy.simplify(previous - current) == sympy.ZeroMatrix(*previous.shape)
        or sympy.simplify(previous - current) == 0
    )


@functools.cache
def mse_gradient() -> Derivation:
    """Derive grad_w = -(2/n) X^T r and grad_b = -(2/n) 1^T r for MSE with symbolic n and d."""
    X, w, b, y = _linear_model()
    Z = sympy.MatrixSymbol("Z", n, d + 1)
    v = sympy.MatrixSymbol("v", d + 1, 1)
    one = sympy.OneMatrix(n, 1)
    loss = (y - Z * v).T * (y - Z * v) / n
    gradient = -2 * Z.T * (y - Z * v) / n
    r = y - X * w - one * b
    blocks = sympy.BlockMatrix([[-2 * X.T * r / n], [-2 * one.T * r / n]])

    def differentiate(previous: sympy.Expr, current: sympy.Expr) -> bool:
        return _same_matrix(previous.diff(v), current)

    def split_blocks(previous: sympy.Expr, current: sympy.Expr) -> bool:
        as_blocks = previous.subs(
            {Z: sympy.BlockMatrix([[X, one]]), v: sympy.BlockMatrix([[w], [b]])}
        )
        collapsed = sympy.block_collapse(as_blocks)
        return all(_same_matrix(collapsed.blocks[k, 0], current.blocks[k, 0]) for k in range(2))

    steps = (
        Step(
            loss,
            definition(
                r"MSE $L = \frac{1}{n}\lVert y - Zv\rVert^2$ with $Z=[X\ \mathbf{1}]$, $v=[w; b]$"
            ),
        ),
        Step(
            gradient,
            lemma(r"matrix calculus: $\nabla_v\, r^\top r = -2 Z^\top r$ for $r = y - Zv$"),
            check=differentiate,
        ),
        Step(
            blocks,
            algebra(r"block product with $Z=[X\ \mathbf{1}]$: rows $w$ and $b$ of the gradient"),
            check=split_blocks,
        ),
    )
    return Derivation(
        claim="ga.gradient-identity",
        title="MSE gradient of the linear model",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            ("X \\in \\mathbb{R}^{n \\times d}", "inputs, one sample per row"),
            ("y \\in \\mathbb{R}^{n}", "targets"),
            ("w, b", "weights and bias; $\\hat y = Xw + b\\mathbf{1}$"),
            ("r = y - \\hat y", "residuals"),
        ),
        conclusion=r"$\nabla_w L = -\frac{2}{n}X^\top r$ and $\nabla_b L = -\frac{2}{n}\mathbf{1}^\top r$ for every n and d.",
    )


def _blocks_match(m: int) -> bool:
    sizes = sympy.symbols(f"q1:{m + 1}", integer=True, positive=True)
    total = sum(sizes, sympy.Integer(0))
    Zs = [sympy.MatrixSymbol(f"Z{k + 1}", s, d + 1) for k, s in enumerate(sizes)]
    ys = [sympy.MatrixSymbol(f"y{k + 1}", s, 1) for k, s in enumerate(sizes)]
    v = sympy.MatrixSymbol("v", d + 1, 1)
    Z = sympy.BlockMatrix([[Zk] for Zk in Zs])
    y = sympy.BlockMatrix([[yk] for yk in ys])
    full = sympy.block_collapse(-2 * Z.T * (y - Z * v) / total)
    residuals = [yk - Zk * v for yk, Zk in zip(ys, Zs, strict=True)]
    per_block = sympy.MatAdd(
        *(-2 * Zk.T * rk / total for Zk, rk in zip(Zs, residuals, strict=True))
    )
    section_gradients = [-2 * Zk.T * rk / s for Zk, rk, s in zip(Zs, residuals, sizes, strict=True)]
    weighted = sympy.MatAdd(
        *((s / total) * g for s, g in zip(sizes, section_gradients, strict=True))
    )
    return _same_matrix(sympy.expand(full), sympy.expand(per_block)) and _same_matrix(
        sympy.expand(weighted), sympy.expand(per_block)
    )


@functools.cache
def mse_gradient_blocks() -> Derivation:
    """Check grad = -(2/n) sum_j Z_j^T r_j = sum_j (q_j/n) grad L_j for m row blocks of symbolic sizes."""
    statement = (
        r"-\tfrac{2}{n} Z^\top r = -\tfrac{2}{n}\sum_{j=1}^{m} Z_j^\top r_j "
        r"= \sum_{j=1}^{m} \tfrac{q_j}{n}\, \nabla_v L_j, \quad L_j = \tfrac{1}{q_j}\lVert y_j - Z_j v\rVert^2"
    )
    return Derivation(
        claim="ga.gradient-identity",
        title="Block form of the MSE gradient over sections",
        scope=Scope.INSTANCES,
        bound=f"m in {BLOCK_COUNTS} row blocks, each of symbolic size q_j, symbolic d",
        steps=(
            Step(
                statement,
                computation(
                    "block_collapse of the block product, compared with the sum over blocks"
                ),
                check=lambda _p, _c: all(_blocks_match(m) for m in BLOCK_COUNTS),
            ),
        ),
        conclusion=(
            "Sizes are symbolic, the number of blocks is not; the general-m statement is the "
            "gradient derivation above with the weighted-sections lemma."
        ),
    )


@functools.cache
def sgd_scale() -> Derivation:
    """Derive that an m-times gradient in plain SGD is an m-times learning rate."""
    theta, eta, g = sympy.symbols(r"\theta \eta g", real=True)
    m = sympy.Symbol("m", positive=True)
    steps = (
        Step(
            theta - eta * (m * g), definition(r"SGD step on the summed, undivided gradient $m g$")
        ),
        Step(theta - (m * eta) * g, algebra(r"regroup: a step of size $m\eta$ on $g$")),
    )
    return Derivation(
        claim="ga.division-scale",
        title="Plain SGD: an m-times gradient is an m-times learning rate",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(("g", "one component of the full-batch gradient"), (r"\eta", "learning rate")),
        conclusion="Without the division, plain SGD takes the full-batch step with learning rate m times larger.",
    )


@functools.cache
def coupled_decay_scale() -> Derivation:
    """Derive that with weight decay added to the gradient, an m-times gradient is not an m-times learning rate."""
    theta, eta, g, lam = sympy.symbols(r"\theta \eta g \lambda", real=True)
    m = sympy.Symbol("m", positive=True)
    steps = (
        Step(
            (theta - eta * (m * g + lam * theta)) - (theta - m * eta * (g + lam * theta)),
            definition(
                r"decay $\lambda\theta$ added to the undivided gradient, minus SGD with learning rate $m\eta$"
            ),
        ),
        Step((m - 1) * eta * lam * theta, algebra("expand")),
    )
    return Derivation(
        claim="ga.division-scale",
        title="SGD with coupled weight decay: an m-times gradient is not an m-times learning rate",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=((r"\lambda", "weight decay coefficient, added to the gradient"),),
        conclusion=r"The two updates differ by $(m-1)\eta\lambda\theta$: non-zero unless $m=1$, $\lambda=0$ or $\theta=0$.",
    )


@functools.cache
def adam_scale() -> Derivation:
    """Derive that Adam's update under gradients scaled by c changes only through epsilon."""
    eta, c, eps, moment = sympy.symbols(r"\eta c \epsilon \hat{m}", positive=True)
    second = sympy.Symbol(r"\hat{v}", positive=True)
    difference = eta * (c * moment) / (sympy.sqrt(c**2 * second) + eps) - eta * moment / (
        sympy.sqrt(second) + eps
    )
    factored = (
        eta * moment * eps * (c - 1) / ((c * sympy.sqrt(second) + eps) * (sympy.sqrt(second) + eps))
    )
    steps = (
        Step(
            difference,
            definition(
                r"Adam's update with every gradient scaled by $c>0$ minus the unscaled one; "
                r"the moment averages are linear in $g$ and in $g^2$, so $\hat m \to c\hat m$, $\hat v \to c^2 \hat v$"
            ),
        ),
        Step(factored, algebra("common denominator")),
    )
    return Derivation(
        claim="ga.division-scale",
        title="Adam under gradients scaled by c",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            (r"\hat m, \hat v", "bias-corrected first and second moment estimates"),
            (r"\epsilon", "Adam's offset"),
        ),
        conclusion=(
            r"Every factor but $c - 1$ is positive, so the updates agree exactly when $c = 1$ or $\epsilon = 0$: "
            r"an m-times gradient acts like Adam with $\epsilon / m$. Coupled weight decay (added to the gradient "
            r"before the moments) is not scaled and so weighs m times less."
        ),
    )


@functools.cache
def clip_scale() -> Derivation:
    """Derive that clipping an m-times gradient at C is clipping the true gradient at C / m, times m."""
    c, norm, limit = sympy.symbols(r"c \lVert{g}\rVert C", positive=True)
    steps = (
        Step(
            sympy.Min(1, limit / (c * norm)) * c,
            definition(r"clipping coefficient of $c\,g$ at threshold $C$, times $c$"),
        ),
        Step(
            c * sympy.Min(1, (limit / c) / norm),
            algebra(r"the coefficient of $g$ at threshold $C/c$, times $c$"),
        ),
    )
    return Derivation(
        claim="ga.division-scale",
        title="Clipping under gradients scaled by c",
        scope=Scope.GENERAL,
        steps=steps,
        conclusion="Without the division, a threshold C acts like C / m on the true gradient.",
    )
