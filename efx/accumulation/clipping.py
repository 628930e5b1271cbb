"""Gradient-norm clipping applied once, to the accumulated gradient of a window.

Clipping is not linear: ``clip(a + b) != clip(a) + clip(b)``. The full-batch step clips the
window's gradient ``g``. Clipping the running buffer after each micro-step, or each
micro-batch's share before summing, clips something else, and the total norm can end above
the maximum. So clip once, after the last micro-step (and after any sum across ranks).

The coefficient is ``min(1, max_norm / ||g||)``. ``torch.nn.utils.clip_grad_norm_`` divides
by ``||g|| + 1e-6`` instead (torch 2.13.0), so its clipped norm ends slightly below
``max_norm``; here it is ``max_norm`` up to rounding, which the worked examples rely on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import torch

from efx.errors import invalid_argument


def _check_max_norm(max_norm: float) -> float:
    if (
        isinstance(max_norm, bool)
        or not isinstance(max_norm, int | float)
        or not math.isfinite(max_norm)
        or max_norm <= 0
    ):
        raise invalid_argument(
            "max_norm",
            max_norm,
            "must be a positive finite number",
            "pass the largest allowed gradient norm, e.g. 1.0",
        )
    return float(max_norm)


def total_norm(gradients: Iterable[torch.Tensor]) -> torch.Tensor:
    """Return the Euclidean norm of all gradients taken together, as a 0-d tensor.

    Raises:
        InvalidArgumentError: if there is no gradient or the norm is not finite.
    """
    tensors = list(gradients)
    if not tensors:
        raise invalid_argument(
            "gradients", tensors, "must hold at least one tensor", "pass the accumulated gradients"
        )
    norm: torch.Tensor = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g) for g in tensors])
    )
    if not bool(torch.isfinite(norm)):
        raise invalid_argument(
            "gradients",
            f"tensors with total norm {norm.item()}",
            "must be finite to be clipped",
            "skip this step (a loss scaler does) or find the micro-batch that overflowed",
        )
    return norm


def clip_coefficient(norm: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Return ``min(1, max_norm / norm)``: the factor that brings the norm down to ``max_norm``.

    Raises:
        InvalidArgumentError: if ``max_norm`` is not a positive finite number, or ``norm`` is
            negative or not finite.
    """
    limit = _check_max_norm(max_norm)
    if not bool(torch.isfinite(norm)) or bool(norm < 0):
        raise invalid_argument(
            "norm",
            float(norm),
            "must be a finite number >= 0",
            "pass the total norm of the gradients, for example from total_norm",
        )
    # A zero norm (-0.0 included) means zero gradients: nothing to scale.
    if not bool(norm > 0):
        return torch.ones_like(norm)
    coefficient: torch.Tensor = torch.clamp(limit / norm, max=1.0)
    return coefficient


def clip_accumulated(
    gradients: Mapping[str, torch.Tensor], max_norm: float
) -> tuple[dict[str, torch.Tensor], float]:
    """Clip a window's accumulated gradients once, by their total norm.

    Args:
        gradients: the accumulated gradients, for example from
            :func:`~efx.accumulation.accumulated_gradients`.
        max_norm: the largest total Euclidean norm allowed, > 0.

    Returns:
        New clipped gradients (the inputs are not changed) and the total norm before clipping.

    Raises:
        InvalidArgumentError: if ``max_norm`` is not a positive finite number, or the
            gradients are empty or have a non-finite norm.

    >>> clipped, norm = clip_accumulated({"w": torch.tensor([3.0, 4.0])}, max_norm=1.0)
    >>> clipped["w"].tolist(), norm
    ([0.6000000238418579, 0.800000011920929], 5.0)
    """
    limit = _check_max_norm(max_norm)
    norm = total_norm(gradients.values())
    coefficient = clip_coefficient(norm, limit)
    # Type promotion lets a 0-d coefficient keep each gradient's dtype.
    return {name: g * coefficient for name, g in gradients.items()}, float(norm)


def clip_gradients_(parameters: Iterable[torch.nn.Parameter], max_norm: float) -> float:
    """Clip the ``.grad`` of parameters in place, once, by their total norm; return the norm before.

    Parameters without a gradient are skipped. Nothing changes if the check of ``max_norm``
    or of the norm raises.
    """
    limit = _check_max_norm(max_norm)
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = total_norm(grads)
    coefficient = clip_coefficient(norm, limit)
    for g in grads:
        g.mul_(coefficient)
    return float(norm)
