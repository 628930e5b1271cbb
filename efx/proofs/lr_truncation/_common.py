"""Symbols and sympy helpers shared by the truncated-SVD derivations.

Notation (the notation page): ``W`` is ``m x n`` with SVD ``W = U Sigma V^T`` and ``p =
min(m, n)`` singular values ``sigma(1) >= ... >= sigma(p) >= 0``. Blocks: ``U = [U_k U_r]``,
``V = [V_k V_r]``, ``Sigma = diag(Sigma_k, Sigma_r)``, so ``W_k = U_k Sigma_k V_k^T``.

sympy does not rename bound variables when it compares sums, does not use the cyclic property
of the trace, and does not know that ``U_r^T U_r = I``. The helpers below make each of those
rewrites explicit, so each step check names the rule it used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sympy

i, j = sympy.symbols("i j", integer=True, positive=True)
k = sympy.Symbol("k", integer=True, nonnegative=True)
m, n, p = sympy.symbols("m n p", integer=True, positive=True)


class sigma(sympy.Function):  # type: ignore[misc]  # noqa: N801 -- the math name
    """The i-th singular value ``sigma(i)``, real, printed as ``\\sigma_{i}`` in LaTeX."""

    def _eval_is_real(self) -> bool:
        return True

    def _latex(self, printer: Any, exp: Any = None) -> str:
        base = rf"\sigma_{{{printer._print(self.args[0])}}}"
        return base if exp is None else rf"{base}^{{{exp}}}"


_CANONICAL = sympy.Symbol("i", integer=True, positive=True)


def svd_blocks() -> dict[str, Any]:
    """Return the block symbols of a full SVD of an ``m x n`` matrix split after the k-th value."""
    U_k = sympy.MatrixSymbol("U_k", m, k)
    U_r = sympy.MatrixSymbol("U_r", m, m - k)
    V_k = sympy.MatrixSymbol("V_k", n, k)
    V_r = sympy.MatrixSymbol("V_r", n, n - k)
    S_k = sympy.MatrixSymbol(r"\Sigma_k", k, k)
    S_r = sympy.MatrixSymbol(r"\Sigma_r", m - k, n - k)
    U = sympy.BlockMatrix([[U_k, U_r]])
    V = sympy.BlockMatrix([[V_k, V_r]])
    S = sympy.BlockMatrix([[S_k, sympy.ZeroMatrix(k, n - k)], [sympy.ZeroMatrix(m - k, k), S_r]])
    return {
        "U_k": U_k,
        "U_r": U_r,
        "V_k": V_k,
        "V_r": V_r,
        "S_k": S_k,
        "S_r": S_r,
        "U": U,
        "V": V,
        "S": S,
    }


def orthonormality(blocks: dict[str, Any]) -> list[tuple[Any, Any]]:
    """Return the rewrites ``U^T U = I`` and ``V^T V = I`` by blocks, with the cross blocks zero."""
    U_k, U_r, V_k, V_r = blocks["U_k"], blocks["U_r"], blocks["V_k"], blocks["V_r"]
    return [
        (U_k.T * U_k, sympy.Identity(k)),
        (U_r.T * U_r, sympy.Identity(m - k)),
        (U_k.T * U_r, sympy.ZeroMatrix(k, m - k)),
        (U_r.T * U_k, sympy.ZeroMatrix(m - k, k)),
        (V_k.T * V_k, sympy.Identity(k)),
        (V_r.T * V_r, sympy.Identity(n - k)),
        (V_k.T * V_r, sympy.ZeroMatrix(k, n - k)),
        (V_r.T * V_k, sympy.ZeroMatrix(n - k, k)),
    ]


def rewrite(expr: Any, rules: Iterable[tuple[Any, Any]]) -> Any:
    """Expand ``expr`` and apply the matrix rewrites until nothing changes."""
    current = sympy.expand(expr.doit())
    for _ in range(10):
        updated = current
        for pattern, replacement in rules:
            updated = updated.subs(pattern, replacement)
        updated = sympy.expand(updated.doit())
        if updated == current:
            break
        current = updated
    return current


def matrices_equal(previous: Any, current: Any, rules: Iterable[tuple[Any, Any]] = ()) -> bool:
    """Check two matrix expressions equal after block multiplication and the given rewrites."""
    rules = list(rules)
    left = rewrite(sympy.block_collapse(previous), rules)
    right = rewrite(sympy.block_collapse(current), rules)
    return bool(sympy.simplify(left - right) == sympy.ZeroMatrix(*left.shape)) or left == right


def is_trace_rotation(previous: Any, current: Any) -> bool:
    """Check ``tr(X_1 ... X_r) = tr(X_s ... X_r X_1 ... X_{s-1})``: the factors are rotated, nothing else."""
    if not (isinstance(previous, sympy.Trace) and isinstance(current, sympy.Trace)):
        return False
    before = list(sympy.MatMul.make_args(previous.arg))
    after = list(sympy.MatMul.make_args(current.arg))
    return len(before) == len(after) and any(
        before[s:] + before[:s] == after for s in range(1, len(before))
    )


def canonical(expr: Any) -> Any:
    """Rename the bound variable of every one-limit Sum to one symbol, so equal sums compare equal."""

    def rename(total: sympy.Sum) -> sympy.Sum:
        ((variable, low, high),) = total.limits
        return sympy.Sum(total.function.subs(variable, _CANONICAL), (_CANONICAL, low, high))

    return expr.replace(lambda e: isinstance(e, sympy.Sum) and len(e.limits) == 1, rename)


def sums_equal(previous: Any, current: Any) -> bool:
    """Check two expressions with Sums equal up to the names of bound variables."""
    return bool(sympy.simplify(canonical(previous) - canonical(current)) == 0)


def evaluate_linear_sums(expr: Any) -> Any:
    """Split every Sum over its addends and evaluate the sums that are over constants.

    For a multiple sum, the limits whose variable an addend does not contain are summed
    first (innermost), so ``sum_i sum_j sigma(j)^2`` becomes ``k * sum_j sigma(j)^2``.
    """

    def split(total: sympy.Sum) -> Any:
        result = sympy.Integer(0)
        for term in sympy.Add.make_args(sympy.expand(total.function)):
            limits = sorted(total.limits, key=lambda limit: term.has(limit[0]))
            result += sympy.Sum(term, *limits).doit()
        return result

    return expr.replace(lambda e: isinstance(e, sympy.Sum), split)


def tail_sum(start: Any, power: int = 2) -> sympy.Sum:
    """Return ``sum_{i=start}^{p} sigma(i)^power``."""
    return sympy.Sum(sigma(i) ** power, (i, start, p))


def head_sum(stop: Any, power: int = 2) -> sympy.Sum:
    """Return ``sum_{i=1}^{stop} sigma(i)^power``."""
    return sympy.Sum(sigma(i) ** power, (i, 1, stop))


def trace_normal_form(expr: Any, rules: Iterable[tuple[Any, Any]]) -> Any:
    """Return the trace of a matrix expression as a sum of canonical traces, using cyclicity and rewrites.

    Each term ``c X_1 ... X_r`` is rotated through every cyclic order; each rotation is
    simplified with ``rules`` (orthonormality). A term that some rotation sends to a zero
    matrix drops out; otherwise the shortest rotation, then the smallest by its string, names
    the term. Two traces are equal when their normal forms are.
    """
    rules = list(rules)
    total = sympy.Integer(0)
    for term in sympy.Add.make_args(rewrite(sympy.block_collapse(expr), rules)):
        coefficient, factors = term.as_coeff_mmul()
        factors = list(sympy.MatMul.make_args(factors))
        best = None
        for shift in range(len(factors)):
            rotated = rewrite(sympy.MatMul(*(factors[shift:] + factors[:shift])), rules)
            if isinstance(rotated, sympy.ZeroMatrix) or rotated == 0:
                best = None
                break
            key = (len(sympy.MatMul.make_args(rotated)), str(rotated))
            if best is None or key < best[0]:
                best = (key, rotated)
        if best is not None:
            total += coefficient * sympy.Trace(best[1])
    return total


def traces_equal(rules: Iterable[tuple[Any, Any]]) -> Any:
    """Return a step check: two trace expressions have the same :func:`trace_normal_form`."""
    rules = list(rules)

    def check(previous: Any, current: Any) -> bool:
        def normal(expression: Any) -> Any:
            result = sympy.Integer(0)
            for part in sympy.Add.make_args(expression):
                coefficient, rest = part.as_coeff_Mul()
                if isinstance(rest, sympy.Trace):
                    result += coefficient * trace_normal_form(rest.arg, rules)
                else:
                    result += part
            return sympy.expand(result)

        return bool(sympy.simplify(normal(previous) - normal(current)) == 0)

    return check
