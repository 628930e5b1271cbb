"""Derivations for the gradients of LoRA's factors, in general and entry by entry (claim ``lora.init-gradients``).

Symbols are those of :mod:`efx.proofs.lora`: ``Y = X W_0^T + 1 b + s X A^T B^T`` and the upstream
gradient ``G = dL/dY`` (``N x d_out``).
"""

from __future__ import annotations

import functools
import itertools

import sympy

from efx.proofs.derivation import (
    Derivation,
    Relation,
    Scope,
    Step,
    assumption,
    computation,
    definition,
    lemma,
)
from efx.proofs.lora import SYMBOLS, A, B, G, X, Y, d_in, matrix_equal, r, s, zero_B

GRADIENT_BOUND = 2
"""The instance cross-check of the gradients covers every ``N, d_in, d_out, r <= GRADIENT_BOUND``."""


# lora.init-gradients


@functools.cache
def gradients() -> Derivation:
    """Derive ``dL/dB = s G^T X A^T`` and ``dL/dA = s B^T G^T X``, and ``dL/dA = 0`` at ``B = 0``, for symbolic sizes."""
    inner = sympy.Trace(G.T * Y)
    grad_B = s * G.T * X * A.T
    grad_A = s * B.T * G.T * X
    steps = (
        Step(
            r"\frac{\partial L}{\partial B_{pq}}",
            definition("gradient of a loss L(Y) with respect to an entry of B"),
        ),
        Step(
            sympy.Derivative(inner, B),
            lemma("chain rule with G = dL/dY held fixed"),
            prose=(
                r"$\partial L/\partial B_{pq} = \sum_{n,j} G_{nj}\, \partial Y_{nj}/\partial B_{pq}$, which is the "
                r"derivative of $\operatorname{tr}(G^{\top} Y)$ with $G$ constant; the same holds for $A$"
            ),
            latex=r"\frac{\partial}{\partial B} \operatorname{tr}\left(G^{\top} Y\right)",
        ),
        Step(
            grad_B,
            computation("sympy matrix differentiation of the trace"),
            check=lambda _p, c: matrix_equal(sympy.diff(inner, B), c),
        ),
        Step(
            grad_A,
            computation("the same for A: sympy differentiates tr(G^T Y) with respect to A"),
            relation=Relation.IMPLIES,
            check=lambda _p, c: matrix_equal(sympy.diff(inner, A), c),
            latex=r"\frac{\partial L}{\partial A} = s\, B^{\top} G^{\top} X",
        ),
        Step(
            sympy.ZeroMatrix(r, d_in),
            assumption("B = 0 at initialisation"),
            check=lambda _p, c: matrix_equal(zero_B(sympy.diff(inner, A)), c),
            latex=r"\left.\frac{\partial L}{\partial A}\right\rvert_{B=0} = 0",
        ),
        Step(
            r"N = 1:\ \frac{\partial L}{\partial B} = s\, g\,(A x)^{\top} \ne 0 \iff g \ne 0 \text{ and } A x \ne 0",
            lemma("an outer product u v^T is zero only when u = 0 or v = 0"),
            relation=Relation.IMPLIES,
            prose=(
                r"for one sample $X = x^{\top}$, $G = g^{\top}$ the gradient $s\,G^{\top} X A^{\top}$ is the outer "
                r"product $s\, g (A x)^{\top}$. With $A$ drawn from a continuous distribution and $x \ne 0$, "
                r"$A x \ne 0$ with probability 1, since each entry of $A x$ is a nonzero combination of independent "
                r"continuous variables"
            ),
        ),
    )
    return Derivation(
        claim="lora.init-gradients",
        title="Gradients of the factors, and their values at B = 0",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(*SYMBOLS, (r"G = \partial L / \partial Y", "the upstream gradient, N x d_out")),
        conclusion=(
            "For any differentiable loss, dL/dB = s G^T X A^T and dL/dA = s B^T G^T X. At B = 0 the gradient of A "
            "vanishes and the gradient of B does not (for a single sample: when g != 0 and A x != 0), so B moves "
            "first and A follows."
        ),
    )


def _gradient_instance_holds(rows: int, inputs: int, outputs: int, rank: int) -> bool:
    X_ = sympy.Matrix(rows, inputs, lambda i, j: sympy.Symbol(f"x_{i}{j}"))
    W_ = sympy.Matrix(outputs, inputs, lambda i, j: sympy.Symbol(f"w_{i}{j}"))
    A_ = sympy.Matrix(rank, inputs, lambda i, j: sympy.Symbol(f"a_{i}{j}"))
    B_ = sympy.Matrix(outputs, rank, lambda i, j: sympy.Symbol(f"b_{i}{j}"))
    c_ = sympy.Matrix(1, outputs, lambda _i, j: sympy.Symbol(f"c_{j}"))
    Y_ = X_ * W_.T + sympy.ones(rows, 1) * c_ + s * X_ * A_.T * B_.T

    # The loss is an undefined function of every entry of Y, so sympy's chain rule produces
    # its partial derivatives evaluated at Y. Naming each partial g_k turns the gradients into
    # polynomials that expand quickly, and G collects the g_k.
    loss = sympy.Function("L")
    slots = sympy.symbols(f"y0:{rows * outputs}")
    at_Y = dict(zip(slots, Y_, strict=True))
    g = sympy.symbols(f"g0:{rows * outputs}")
    named = {sympy.diff(loss(*slots), y).subs(at_Y): g_k for y, g_k in zip(slots, g, strict=True)}
    G_ = sympy.Matrix(rows, outputs, lambda i, j: g[i * outputs + j])
    L_ = loss(*Y_)

    grad_B = sympy.Matrix(outputs, rank, lambda p, q: sympy.diff(L_, B_[p, q])).xreplace(named)
    grad_A = sympy.Matrix(rank, inputs, lambda p, q: sympy.diff(L_, A_[p, q])).xreplace(named)
    B_formula = (grad_B - s * G_.T * X_ * A_.T).expand() == sympy.zeros(outputs, rank)
    A_formula = (grad_A - s * B_.T * G_.T * X_).expand() == sympy.zeros(rank, inputs)
    A_vanishes = grad_A.subs(dict.fromkeys(B_, 0)) == sympy.zeros(rank, inputs)
    return bool(B_formula and A_formula and A_vanishes)


@functools.cache
def gradients_instances() -> Derivation:
    """Cross-check the gradient formulas entry by entry, for a general loss L(Y), at every size up to a bound."""
    sizes = list(itertools.product(range(1, GRADIENT_BOUND + 1), repeat=4))
    statement = (
        rf"\forall\, N, d_{{in}}, d_{{out}}, r \le {GRADIENT_BOUND}:\ "
        r"\frac{\partial L}{\partial B} = s\,G^{\top} X A^{\top},\ \frac{\partial L}{\partial A} = s\,B^{\top} G^{\top} X,"
        r"\ \left.\frac{\partial L}{\partial A}\right\rvert_{B = 0} = 0"
    )
    return Derivation(
        claim="lora.init-gradients",
        title="Entrywise cross-check with an arbitrary loss function",
        scope=Scope.INSTANCES,
        bound=f"every N, d_in, d_out, r <= {GRADIENT_BOUND}; every entry a free symbol, L an undefined function of all entries of Y",
        steps=(
            Step(
                statement,
                computation(
                    "sympy differentiates L(Y) entry by entry; the difference expands to 0"
                ),
                check=lambda _p, _c: all(_gradient_instance_holds(*size) for size in sizes),
            ),
        ),
        conclusion="The formulas hold at every listed size; this cross-checks the general derivation, including its chain-rule step.",
    )
