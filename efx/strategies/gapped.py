"""Hypothesis strategies for matrices with a gap in the spectrum after a chosen rank k.

A randomized SVD recovers the leading k singular triplets quickly when ``sigma_{k+1}`` is well
below ``sigma_k``; its error bound carries the factor ``(sigma_{k+1} / sigma_k)^{4q}``. These
strategies draw a decaying head ``sigma_1 >= ... >= sigma_k``, then a tail whose largest value
is ``gap * sigma_k`` and which keeps decaying, with random orthogonal singular vectors. The
head decays as a power ``i^-a`` or geometrically, so ``sigma_k / sigma_1`` ranges from mild to
below the float32 unit roundoff after a few powers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from efx.errors import invalid_argument
from efx.strategies.matrices import matrix_from_spectrum

SIZES = st.integers(3, 12)
"""The default row and column counts: small enough for many examples per second."""


@dataclass(frozen=True)
class GappedMatrix:
    """A drawn matrix whose spectrum drops by the factor ``gap`` after ``sigma_k``.

    Attributes:
        W: the matrix, in the requested dtype.
        sigma: its singular values in descending order (float64), ``min(rows, cols)`` of them.
        k: the rank after which the gap sits, ``1 <= k < min(rows, cols)``.
        gap: ``sigma_{k+1} / sigma_k``, in ``(0, 1)``.
        seed: the seed of the singular vectors.
    """

    W: torch.Tensor
    sigma: torch.Tensor
    k: int
    gap: float
    seed: int


@st.composite
def gapped_spectra(
    draw: st.DrawFn, size: int, k: int, max_gap: float = 0.5
) -> tuple[float, torch.Tensor]:
    """Draw ``(gap, sigma)``: ``size`` decaying singular values with ``sigma_{k+1} = gap * sigma_k``.

    Args:
        size: the number of singular values, at least 2.
        k: the position of the gap, ``1 <= k < size``.
        max_gap: the largest ratio ``sigma_{k+1} / sigma_k`` drawn, in ``(0, 1)``.
    """
    if size < 2:
        raise invalid_argument(
            "size", size, "must be >= 2 so that a gap fits", "pass a larger size"
        )
    if not 1 <= k < size:
        raise invalid_argument(
            "k", k, f"must satisfy 1 <= k < size = {size}", "put the gap inside the spectrum"
        )
    if not 0 < max_gap < 1:
        raise invalid_argument("max_gap", max_gap, "must be in (0, 1)", "pass for example 0.5")
    gap = draw(st.floats(max_gap / 1000, max_gap), label="gap")
    head = draw(st.sampled_from(["power", "geometric"]), label="head")
    scale = draw(st.sampled_from([1.0, 0.01, 100.0]), label="scale")
    index = torch.arange(1, size + 1, dtype=torch.float64)
    if head == "power":
        sigma = index ** (-draw(st.sampled_from([0.5, 1.0, 2.0]), label="power"))
    else:
        # Geometric decay: with ratio 0.1, sigma_5 / sigma_1 is already 1e-4.
        sigma = draw(st.sampled_from([0.1, 0.3, 0.6]), label="ratio") ** (index - 1)
    sigma[k:] = sigma[k:] * (gap * sigma[k - 1] / sigma[k])
    return gap, sigma * scale


@st.composite
def gapped_matrices(
    draw: st.DrawFn,
    rows: st.SearchStrategy[int] | int = SIZES,
    cols: st.SearchStrategy[int] | int = SIZES,
    k: st.SearchStrategy[int] | int | None = None,
    max_gap: float = 0.5,
    dtype: torch.dtype = torch.float64,
) -> GappedMatrix:
    """Draw a matrix with a gap after ``sigma_k`` and random orthogonal singular vectors.

    Args:
        rows, cols: sizes or strategies for them (at least 2 each).
        k: the gap's position, or a strategy, or None to draw it from ``1..min(rows, cols) - 1``.
        max_gap: the largest ``sigma_{k+1} / sigma_k``.
        dtype: the dtype of ``W``.
    """
    n_rows = rows if isinstance(rows, int) else draw(rows, label="rows")
    n_cols = cols if isinstance(cols, int) else draw(cols, label="cols")
    size = min(n_rows, n_cols)
    if size < 2:
        raise invalid_argument(
            "rows, cols", (n_rows, n_cols), "must both be >= 2", "draw larger matrices"
        )
    if k is None:
        rank = draw(st.integers(1, size - 1), label="k")
    else:
        rank = k if isinstance(k, int) else draw(k, label="k")
    gap, sigma = draw(gapped_spectra(size, rank, max_gap), label="spectrum")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    W = matrix_from_spectrum(sigma, n_rows, n_cols, seed, dtype)
    return GappedMatrix(W=W, sigma=sigma, k=rank, gap=gap, seed=seed)
