"""Initialise LoRA factors: random ``A`` with ``B = 0``, or the principal part of ``W0`` (PiSSA).

Random initialisation keeps the layer's output equal to the base layer's at the start
(``B = 0``), and ``A`` random makes the gradient of ``B`` nonzero, so training can start.

SVD initialisation (Meng et al. 2024, "PiSSA", arXiv:2404.02948) trains the principal part
of the weight. With the top-``r`` singular triplets of ``W0 = U S V^T``, it sets
``B = U_r S_r^{1/2} / sqrt(scale)`` and ``A = S_r^{1/2} V_r^T / sqrt(scale)``, so
``scale * B A = U_r S_r V_r^T``, and freezes the residual as the base weight. The residual is
computed as ``W0 - scale * B A`` from the rounded factors, not from ``U, S, V``: then
``residual + scale * B A`` reproduces ``W0`` up to the roundings of that product and of the
subtraction, whatever the accuracy of the SVD itself.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from efx.errors import EfxWarning, invalid_argument

INIT_KINDS = ("kaiming", "gaussian", "svd")


def init_factors_randomly(
    A: torch.Tensor, B: torch.Tensor, kind: str, generator: torch.Generator | None = None
) -> None:
    """Fill ``A`` at random and ``B`` with zeros, in place.

    ``"kaiming"`` draws ``A`` Kaiming-uniform with ``a = sqrt(5)``, the scheme of
    ``nn.Linear``'s own weight (entries uniform in ``+-1/sqrt(in_features)``). ``"gaussian"``
    draws entries from ``N(0, 1 / in_features)``, so the entries of ``A x`` have the size of
    the root mean square of ``x``.

    Raises:
        InvalidArgumentError: if ``kind`` is not ``"kaiming"`` or ``"gaussian"``.
    """
    with torch.no_grad():
        if kind == "kaiming":
            nn.init.kaiming_uniform_(A, a=math.sqrt(5), generator=generator)
        elif kind == "gaussian":
            nn.init.normal_(A, mean=0.0, std=1 / math.sqrt(A.shape[1]), generator=generator)
        else:
            raise invalid_argument(
                "kind",
                kind,
                "must be 'kaiming' or 'gaussian'",
                "use init_factors_from_svd for 'svd'",
            )
        B.zero_()


def init_factors_from_svd(
    weight: torch.Tensor, A: torch.Tensor, B: torch.Tensor, scale: float
) -> None:
    """Set ``scale * B A`` to the best rank-``r`` approximation of ``weight`` and leave the residual in ``weight``.

    ``r`` is ``A.shape[0]``. The SVD runs in float32 for 16-bit weights (``torch.linalg.svd``
    supports no half precision) and in the weight's dtype otherwise. Warns when the weight's
    numerical rank is below ``r``. The factor columns for zero singular values are then zero.
    A zero column of ``B`` with the matching zero row of ``A`` gets zero gradient, so that part
    of the adapter never trains.

    Args:
        weight: ``W0`` (``out x in``), overwritten in place with ``W0 - scale * B A``.
        A: ``r x in``, overwritten.
        B: ``out x r``, overwritten.
        scale: the adapter's scale, > 0.

    Raises:
        InvalidArgumentError: if ``scale`` is not > 0 or ``r`` exceeds ``min(out, in)``.
    """
    r = A.shape[0]
    if not scale > 0:
        raise invalid_argument("scale", scale, "must be > 0", "pass alpha / r or alpha / sqrt(r)")
    if r > min(weight.shape):
        raise invalid_argument(
            "r", r, f"must be <= min(out, in) = {min(weight.shape)}", "pass a smaller rank"
        )

    with torch.no_grad():
        svd_dtype = torch.float32 if torch.finfo(weight.dtype).bits < 32 else weight.dtype
        U, S, Vh = torch.linalg.svd(weight.to(svd_dtype), full_matrices=False)
        # The same threshold as torch.linalg.matrix_rank's default: max(m, n) * eps * sigma_1.
        threshold = max(weight.shape) * torch.finfo(svd_dtype).eps * S[0]
        if bool(S[r - 1] <= threshold):
            numerical_rank = int((threshold < S).sum())
            warnings.warn(
                f"init='svd' with r={r}, but the weight's numerical rank is {numerical_rank}: the "
                f"{r - numerical_rank} factor columns for zero singular values are zero and get zero "
                f"gradient, so they never train. Pass r <= {max(numerical_rank, 1)} or a random init.",
                EfxWarning,
                stacklevel=3,
            )

        # Split sqrt(S_r / scale) evenly between B and A, so scale * B A = U_r S_r V_r^T.
        root = torch.sqrt(S[:r] / scale)
        B.copy_(U[:, :r] * root)
        A.copy_(root[:, None] * Vh[:r])
        weight.sub_((B @ A) * scale)
