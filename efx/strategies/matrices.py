"""Hypothesis strategies for matrices with a prescribed singular spectrum.

Gaussian random matrices almost never have repeated or zero singular values, so properties
about ranks, ties and truncation would never meet those cases. These strategies build
``W = U diag(sigma) V^T`` from Haar-distributed orthogonal factors and a spectrum drawn to
include decaying, flat, repeated and exactly-zero singular values, or a chosen condition number.

The factors are built in float64 and the product is cast to the requested dtype at the end,
so the singular values of the result equal ``sigma`` up to one rounding of each entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from efx.errors import invalid_argument

SPECTRUM_KINDS = ("decaying", "flat", "repeated", "with-zeros", "conditioned")
_SIZES = st.integers(1, 8)


def random_orthogonal(n: int, generator: torch.Generator) -> torch.Tensor:
    """Return an ``n x n`` Haar-distributed orthogonal matrix (float64).

    QR of a Gaussian matrix, with the signs of R's diagonal moved into Q: without that sign
    fix the distribution of Q is not uniform.
    """
    if n < 1:
        raise invalid_argument("n", n, "must be >= 1", "pass the matrix size")
    gaussian = torch.randn(n, n, generator=generator, dtype=torch.float64)
    Q, R = torch.linalg.qr(gaussian)
    signs = torch.sign(torch.diagonal(R))
    signs[signs == 0] = 1
    orthogonal: torch.Tensor = Q * signs
    return orthogonal


def matrix_from_spectrum(
    sigma: torch.Tensor, rows: int, cols: int, seed: int, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Return ``U[:, :p] diag(sigma) V[:, :p]^T`` with random orthogonal U, V and ``p = len(sigma)``.

    Args:
        sigma: non-negative singular values, ``len(sigma) <= min(rows, cols)``, any order.
        rows, cols: the shape of the result.
        seed: seeds the orthogonal factors, so a drawn example replays exactly.
        dtype: dtype of the result; the product is formed in float64 first.
    """
    p = sigma.numel()
    if p > min(rows, cols):
        raise invalid_argument(
            "sigma",
            tuple(sigma.shape),
            f"must have at most min(rows, cols) = {min(rows, cols)} values",
            "pass fewer singular values or a larger shape",
        )
    if bool((sigma < 0).any()):
        raise invalid_argument(
            "sigma", sigma.tolist(), "must be non-negative", "pass absolute values"
        )
    generator = torch.Generator().manual_seed(seed)
    U = random_orthogonal(rows, generator)[:, :p]
    V = random_orthogonal(cols, generator)[:, :p]
    W = (U * sigma.to(torch.float64)) @ V.T
    return W.to(dtype)


@dataclass(frozen=True)
class SpectralMatrix:
    """A drawn matrix with the spectrum it was built from.

    Attributes:
        W: the matrix, in the requested dtype.
        sigma: its singular values in descending order (float64), ``min(rows, cols)`` of them.
        kind: which spectrum family it came from.
        rank: the number of exactly nonzero values in ``sigma``.
    """

    W: torch.Tensor
    sigma: torch.Tensor
    kind: str
    rank: int


@st.composite
def spectra(
    draw: st.DrawFn, size: int, kind: str | None = None, max_condition: float = 1e6
) -> tuple[str, torch.Tensor]:
    """Draw ``(kind, sigma)``: ``size`` non-negative singular values in descending order.

    Kinds: ``decaying`` (sigma_i = i^-p), ``flat`` (all equal), ``repeated`` (a few distinct
    values, each repeated), ``with-zeros`` (exact zeros: rank < size), ``conditioned``
    (geometric from 1 down to 1 / condition, condition at most ``max_condition``).
    """
    if size < 1:
        raise invalid_argument("size", size, "must be >= 1", "pass the number of singular values")
    if kind is not None and kind not in SPECTRUM_KINDS:
        raise invalid_argument(
            "kind", kind, f"must be one of {SPECTRUM_KINDS}", "pick a listed kind or None"
        )
    kind = kind or draw(st.sampled_from(SPECTRUM_KINDS), label="kind")
    scale = draw(st.sampled_from([1.0, 0.01, 100.0]), label="scale")
    index = torch.arange(1, size + 1, dtype=torch.float64)
    if kind == "decaying":
        power = draw(st.sampled_from([0.5, 1.0, 2.0]), label="power")
        sigma = index ** (-power)
    elif kind == "flat":
        sigma = torch.ones(size, dtype=torch.float64)
    elif kind == "repeated":
        distinct = draw(
            st.lists(st.sampled_from([1.0, 2.0, 3.0, 5.0]), min_size=1, max_size=3, unique=True),
            label="distinct",
        )
        sigma = torch.tensor(
            [distinct[i % len(distinct)] for i in range(size)], dtype=torch.float64
        )
    elif kind == "with-zeros":
        rank = draw(st.integers(0, size - 1), label="rank")
        sigma = torch.zeros(size, dtype=torch.float64)
        sigma[:rank] = index[:rank] ** -1.0
    else:
        condition = draw(st.floats(1.0, max_condition), label="condition")
        sigma = condition ** (-(index - 1) / max(size - 1, 1))
    return kind, torch.sort(sigma * scale, descending=True).values


@st.composite
def spectral_matrices(
    draw: st.DrawFn,
    rows: st.SearchStrategy[int] | int = _SIZES,
    cols: st.SearchStrategy[int] | int = _SIZES,
    kind: str | None = None,
    dtype: torch.dtype = torch.float64,
) -> SpectralMatrix:
    """Draw a matrix with a prescribed spectrum (see :func:`spectra`) and random singular vectors."""
    n_rows = rows if isinstance(rows, int) else draw(rows, label="rows")
    n_cols = cols if isinstance(cols, int) else draw(cols, label="cols")
    drawn_kind, sigma = draw(spectra(min(n_rows, n_cols), kind), label="spectrum")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    W = matrix_from_spectrum(sigma, n_rows, n_cols, seed, dtype)
    return SpectralMatrix(W=W, sigma=sigma, kind=drawn_kind, rank=int((sigma > 0).sum()))
