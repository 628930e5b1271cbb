"""Fault: every gradient tensor is clipped by its own norm instead of the total norm.

What is wrong: :func:`clip_accumulated` scales each tensor ``g_t`` by
``min(1, max_norm / ||g_t||)``. The total norm can then reach ``sqrt(T) * max_norm`` for
``T`` tensors, and the relative sizes of the tensors change, so the step points elsewhere.
The full-batch rule clips the concatenated gradient once, by one coefficient.

Seen in practice: loops that call ``clip_grad_norm_(p, max_norm)`` for each parameter in
turn, or that clip each layer's gradient separately.

Caught by: ``ga.clip-once`` (clipped gradients against the definition, with more than one
tensor, in ``verify/test_faults_extra.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from efx.faults._reference import reference_attribute as __getattr__  # noqa: F401


def clip_accumulated(
    gradients: Mapping[str, torch.Tensor], max_norm: float
) -> tuple[dict[str, torch.Tensor], float]:
    """Clip each tensor by its own norm (wrong) and return the total norm before clipping."""
    total = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g) for g in gradients.values()])
    )
    clipped = {}
    for name, g in gradients.items():
        norm = torch.linalg.vector_norm(g)
        coefficient = torch.clamp(max_norm / norm, max=1.0) if bool(norm > 0) else 1.0
        clipped[name] = g * coefficient
    return clipped, float(total)
