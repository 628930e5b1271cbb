"""Derivations for LoRA in exact arithmetic: output at initialisation, gradients, rank, parameters, merge.

Symbols follow the notation page and ``efx.lora``. A batch ``X`` is ``N x d_in``, the frozen
weight ``W_0`` is ``d_out x d_in`` and the bias row ``b`` is ``1 x d_out``, added to every row
through the all-ones column ``1``. The factors are ``A`` (``r x d_in``) and ``B``
(``d_out x r``), the scale is ``s > 0`` and the output is ``Y = X W_0^T + 1 b + s X A^T B^T``. Dropout replaces ``X`` by the
dropped-out batch on the adapter path; every identity below holds with that substitution.

The general derivations use matrix symbols of symbolic shape and sympy's matrix calculus;
the instance derivations rebuild each statement entry by entry for every size up to a bound.
The gradients are in :mod:`efx.proofs.lora_gradients`, the floating-point bounds in
:mod:`efx.proofs.lora_rounding`.
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
    algebra,
    assumption,
    computation,
    definition,
    lemma,
)

N, d_in, d_out, r = sympy.symbols("N d_in d_out r", integer=True, positive=True)
s = sympy.Symbol("s", positive=True)
X = sympy.MatrixSymbol("X", N, d_in)
G = sympy.MatrixSymbol("G", N, d_out)
W0 = sympy.MatrixSymbol("W_0", d_out, d_in)
A = sympy.MatrixSymbol("A", r, d_in)
B = sympy.MatrixSymbol("B", d_out, r)
b = sympy.MatrixSymbol("b", 1, d_out)
ones = sympy.OneMatrix(N, 1)

Y = X * W0.T + ones * b + s * X * A.T * B.T
Y_LATEX = r"Y = X W_0^{\top} + \mathbf{1} b + s\, X A^{\top} B^{\top}"

SYMBOLS = (
    (r"X \in \mathbb{R}^{N \times d_{in}}", "a batch of inputs, one row per sample"),
    (r"W_0 \in \mathbb{R}^{d_{out} \times d_{in}},\ b", "the frozen weight and bias"),
    (
        r"A \in \mathbb{R}^{r \times d_{in}},\ B \in \mathbb{R}^{d_{out} \times r}",
        "the trainable factors",
    ),
    (r"s > 0", r"the scale, $\alpha / r$ or $\alpha / \sqrt{r}$"),
    (r"\mathbf{1}", "the all-ones column of length N"),
)

RANK_BOUND = 3
"""The instance cross-check of the rank covers every ``d_in, d_out <= RANK_BOUND`` and ``r < RANK_BOUND``."""


def zero_B(expression: sympy.Expr) -> sympy.Expr:
    """Return the expression with B replaced by the zero matrix, evaluated."""
    return expression.subs(B, sympy.ZeroMatrix(d_out, r)).doit()


def matrix_equal(left: sympy.Expr, right: sympy.Expr) -> bool:
    """Return True when sympy simplifies ``left - right`` to zero (a scalar or a zero matrix)."""
    difference = sympy.simplify((left - right).expand())
    return bool(difference == 0 or getattr(difference, "is_ZeroMatrix", False))


# lora.init-identity


@functools.cache
def init_output() -> Derivation:
    """Derive that the output at ``B = 0`` is the base layer's, in real and in floating-point arithmetic."""
    base = X * W0.T + ones * b
    steps = (
        Step(Y, definition("the LoRA layer's output"), latex=Y_LATEX),
        Step(
            base,
            assumption("B = 0 at initialisation: the product with the zero matrix vanishes"),
            check=lambda _p, c: matrix_equal(zero_B(Y), c),
            latex=r"X W_0^{\top} + \mathbf{1} b",
        ),
        Step(
            r"\operatorname{fl}(\hat Y_{\text{base}} + \operatorname{fl}(s \cdot \operatorname{fl}(\operatorname{fl}(XA^{\top}) B^{\top}))) = \hat Y_{\text{base}}",
            lemma("IEEE 754 arithmetic with an exact zero"),
            relation=Relation.IMPLIES,
            prose=(
                "every product of a finite number with an entry 0 of B is +0 or -0, a sum of signed zeros is a "
                "signed zero, s times a signed zero is a signed zero, and adding a signed zero to a nonzero "
                "computed base output returns it unchanged, because the exact sum is representable; "
                "-0 + (+0) gives +0, equal in value. This needs X A^T finite (no overflow)"
            ),
        ),
    )
    return Derivation(
        claim="lora.init-identity",
        title="With B = 0 the adapter adds an exact zero",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion="At initialisation the computed output equals the base layer's computed output, not only up to rounding.",
    )


# lora.update-rank


@functools.cache
def update_rank() -> Derivation:
    """Derive ``rank(s B A) <= r`` for symbolic sizes: every column of ``B A`` lies in the column space of ``B``."""
    e = sympy.MatrixSymbol("e", d_in, 1)
    steps = (
        Step(
            r"\operatorname{rank}(\Delta W) = \operatorname{rank}(s\,BA)",
            definition(r"the update $\Delta W = s\,BA$"),
        ),
        Step(
            r"\operatorname{rank}(BA)",
            algebra("s > 0 scales every column and leaves the rank unchanged"),
            prose="multiplying by a nonzero scalar is invertible",
        ),
        Step(
            B * (A * e),
            algebra(r"the column $(BA)e_j$ equals $B(Ae_j)$: a combination of the r columns of B"),
            relation=Relation.IMPLIES,
            check=lambda _p, c: matrix_equal((B * A) * e, c),
            latex=r"(BA)\,e_j = B\,(A e_j) \in \operatorname{col}(B)",
        ),
        Step(
            r"\operatorname{rank}(BA) \le \operatorname{rank}(B)",
            lemma(r"$\operatorname{col}(BA) \subseteq \operatorname{col}(B)$"),
            relation=Relation.IMPLIES,
            prose="the dimension of a subspace is at most that of the space containing it",
        ),
        Step(
            r"\operatorname{rank}(B) \le \min(r, d_{out})",
            lemma("a matrix with r columns has rank at most r"),
            relation=Relation.IMPLIES,
            prose="rank is the dimension of the span of the r columns",
        ),
        Step(
            r"\operatorname{rank}(\Delta W) \le \min(r, d_{out}, d_{in})",
            lemma(
                r"the same argument on rows: $\operatorname{row}(BA) \subseteq \operatorname{row}(A)$, and rank(A) <= d_in"
            ),
            relation=Relation.IMPLIES,
            prose="row rank equals column rank",
        ),
    )
    return Derivation(
        claim="lora.update-rank",
        title="The update has rank at most r",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion="Whatever the training does to A and B, the update s B A stays in the set of matrices of rank <= r.",
    )


def _minors(P: sympy.Matrix, size: int) -> list[sympy.Expr]:
    rows, cols = P.shape
    return [
        sympy.expand(P.extract(list(i), list(j)).det(method="berkowitz"))
        for i in itertools.combinations(range(rows), size)
        for j in itertools.combinations(range(cols), size)
    ]


def _rank_instance_holds(outputs: int, inputs: int, rank: int) -> bool:
    A_ = sympy.Matrix(rank, inputs, lambda i, j: sympy.Symbol(f"a_{i}{j}"))
    B_ = sympy.Matrix(outputs, rank, lambda i, j: sympy.Symbol(f"b_{i}{j}"))
    P = B_ * A_
    attained = min(rank, outputs, inputs)
    # rank(BA) <= r: every (r+1) x (r+1) minor is the zero polynomial (none exist when r >= min).
    bounded = (
        all(minor == 0 for minor in _minors(P, rank + 1)) if rank < min(outputs, inputs) else True
    )
    # and the bound is attained for generic factors: some min(r, d_out, d_in) minor is a nonzero polynomial.
    generic = any(minor != 0 for minor in _minors(P, attained))
    return bounded and generic


@functools.cache
def update_rank_instances() -> Derivation:
    """Check with symbolic factors that every (r+1)-minor of B A vanishes and some r-minor does not, up to a bound."""
    sizes = [
        (outputs, inputs, rank)
        for outputs, inputs in itertools.product(range(1, RANK_BOUND + 1), repeat=2)
        for rank in range(1, RANK_BOUND)
    ]
    statement = (
        rf"\forall\, d_{{out}}, d_{{in}} \le {RANK_BOUND},\ r < {RANK_BOUND}:\ "
        r"\text{every } (r{+}1)\text{-minor of } BA \equiv 0,\ \text{some } \min(r, d_{out}, d_{in})\text{-minor} \not\equiv 0"
    )
    return Derivation(
        claim="lora.update-rank",
        title="Minors of a product of symbolic factors",
        scope=Scope.INSTANCES,
        bound=f"every d_out, d_in <= {RANK_BOUND} and r < {RANK_BOUND}, each factor entry a free symbol",
        steps=(
            Step(
                statement,
                computation(
                    "sympy expands each minor's determinant as a polynomial in the entries"
                ),
                check=lambda _p, _c: all(_rank_instance_holds(*size) for size in sizes),
            ),
        ),
        conclusion=(
            "rank(BA) <= r as a polynomial identity, and rank(BA) = min(r, d_out, d_in) except on the zero set of a "
            "nonzero polynomial (measure zero), at every listed size."
        ),
    )


# lora.parameter-count


@functools.cache
def parameter_count() -> Derivation:
    """Derive the adapter's parameter count ``r (d_in + d_out)`` and when it is below the full ``d_in d_out``."""
    count = r * d_in + d_out * r
    ratio = r * (d_in + d_out) / (d_in * d_out)
    threshold = d_in * d_out / (d_in + d_out)
    n = sympy.Symbol("n", integer=True, positive=True)
    steps = (
        Step(
            count,
            definition(r"A holds $r \cdot d_{in}$ entries and B holds $d_{out} \cdot r$"),
            latex=r"\#A + \#B = r\,d_{in} + d_{out}\,r",
        ),
        Step(r * (d_in + d_out), algebra("factor r")),
        Step(
            ratio,
            algebra(r"divide by the full weight's $d_{in} d_{out}$ entries"),
            relation=Relation.IMPLIES,
            check=lambda p, c: bool(sympy.simplify(p / (d_in * d_out) - c) == 0),
            latex=r"\frac{r\,(d_{in} + d_{out})}{d_{in}\, d_{out}}",
        ),
        Step(
            2 * r / n,
            algebra(r"a square layer, $d_{in} = d_{out} = n$"),
            check=lambda p, c: bool(sympy.simplify(p.subs({d_in: n, d_out: n}) - c) == 0),
            latex=r"\frac{2r}{n}",
        ),
        Step(
            sympy.StrictLessThan(r, threshold),
            algebra(r"$r(d_{in}+d_{out}) < d_{in} d_{out}$, divided by $d_{in}+d_{out} > 0$"),
            relation=Relation.IFF,
            check=lambda _p, c: bool(
                sympy.simplify(
                    (d_in * d_out - r * (d_in + d_out)) / (d_in + d_out) - (c.rhs - c.lhs)
                )
                == 0
                and (d_in + d_out).is_positive
            ),
            latex=r"\text{fewer parameters} \iff r < \frac{d_{in}\, d_{out}}{d_{in} + d_{out}}",
        ),
    )
    return Derivation(
        claim="lora.parameter-count",
        title="Trainable parameters of the adapter",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion="A rank-r adapter trains r (d_in + d_out) numbers, a fraction 2r/n of a square n x n weight.",
    )


# lora.merge-equivalence


@functools.cache
def merge_identity() -> Derivation:
    """Derive that the merged layer computes the same function as the unmerged one, in real arithmetic."""
    merged = X * (W0 + s * B * A).T + ones * b
    steps = (
        Step(
            merged,
            definition(
                r"merged weight $W = W_0 + s\,BA$; the merged layer computes $X W^{\top} + \mathbf{1} b$"
            ),
            latex=r"X (W_0 + s\,BA)^{\top} + \mathbf{1} b",
        ),
        Step(
            Y,
            algebra("transpose of a sum and of a product, distributivity"),
            check=lambda p, c: matrix_equal(p, c),
            latex=r"X W_0^{\top} + \mathbf{1} b + s\, X A^{\top} B^{\top}",
        ),
        Step(
            r"\text{train mode, dropout } p > 0:\ X \ne \operatorname{dropout}(X)",
            lemma("the identity needs the same X on both paths"),
            relation=Relation.IMPLIES,
            prose=(
                "in training mode the unmerged adapter path sees dropout(X), which zeroes entries and scales the rest "
                "by 1/(1-p), while the merged layer applies W to X itself: the outputs differ whenever the mask drops "
                "an entry that meets a nonzero column of A. Merging is exact only in eval mode (or with p = 0)"
            ),
        ),
    )
    return Derivation(
        claim="lora.merge-equivalence",
        title="Merged and unmerged layers compute the same function in eval mode",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=SYMBOLS,
        conclusion="In eval mode, folding s B A into the weight changes only the rounding, never the function.",
    )


# lora.svd-init


@functools.cache
def svd_init_identity() -> Derivation:
    """Derive that the SVD initialisation trains the principal part and leaves the output unchanged."""
    k, i, j = sympy.symbols("k i j", integer=True, positive=True)
    U_ = sympy.IndexedBase("U")
    V_ = sympy.IndexedBase("V")
    sigma = sympy.IndexedBase(r"\sigma")
    root = sympy.sqrt(sigma[k] / s)
    product = s * sympy.Sum(U_[i, k] * root * root * V_[j, k], (k, 1, r))
    principal = sympy.Sum(sigma[k] * U_[i, k] * V_[j, k], (k, 1, r))
    residual = W0 - s * B * A
    steps = (
        Step(
            product,
            definition(
                r"$B_{ik} = U_{ik}\sqrt{\sigma_k / s}$, $A_{kj} = \sqrt{\sigma_k / s}\, V_{jk}$ from the top-r triplets of $W_0 = U\Sigma V^{\top}$"
            ),
            latex=r"s\,(BA)_{ij} = s \sum_{k=1}^{r} U_{ik} \sqrt{\sigma_k/s}\,\sqrt{\sigma_k/s}\, V_{jk}",
        ),
        Step(
            principal,
            algebra(r"$\sqrt{t}\sqrt{t} = t$, then $s \cdot \sigma_k / s = \sigma_k$"),
            latex=r"\sum_{k=1}^{r} \sigma_k U_{ik} V_{jk} = (U_r \Sigma_r V_r^{\top})_{ij}",
        ),
        Step(
            residual + s * B * A,
            definition(r"the frozen base weight becomes the residual $W_0 - s\,BA$"),
            relation=Relation.IMPLIES,
            check=lambda _p, c: matrix_equal(c, W0),
            latex=r"(W_0 - s\,BA) + s\,BA = W_0",
        ),
        Step(
            X * residual.T + ones * b + s * X * A.T * B.T,
            algebra("the initialised layer's output"),
            relation=Relation.IMPLIES,
            check=lambda _p, c: matrix_equal(c, X * W0.T + ones * b),
            latex=r"X (W_0 - s\,BA)^{\top} + \mathbf{1} b + s\, X A^{\top} B^{\top} = X W_0^{\top} + \mathbf{1} b",
        ),
    )
    return Derivation(
        claim="lora.svd-init",
        title="SVD initialisation: the factors carry the principal part, the output is unchanged",
        scope=Scope.GENERAL,
        steps=steps,
        symbols=(
            *SYMBOLS,
            (r"\sigma_1 \ge \dots \ge \sigma_r \ge 0", r"the top singular values of $W_0$"),
        ),
        conclusion=(
            "s B A is the truncated SVD U_r Sigma_r V_r^T, a best rank-r approximation of W_0 (Eckart-Young), and the "
            "layer computes the same function as before; the factors are real because sigma_k >= 0 and s > 0."
        ),
    )
