"""Devices and numerical modes for checks: cpu always, cuda when present, set up for exact claims.

On CUDA, float32 matrix products may use TF32 (10-bit mantissa) unless told otherwise, and
some kernels are nondeterministic. Checks of float32 claims turn TF32 off; checks of exact
claims also turn deterministic algorithms on, which needs ``CUBLAS_WORKSPACE_CONFIG`` set
before cuBLAS starts: :func:`prepare_environment` sets it, so call it before any CUDA work.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

CUBLAS_WORKSPACE = ":4096:8"


def prepare_environment() -> None:
    """Set ``CUBLAS_WORKSPACE_CONFIG`` (if unset) so deterministic cuBLAS is available later."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)


def cuda_skip_reason() -> str | None:
    """Return why cuda checks cannot run here, or None when a CUDA device is available."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU build (torch.version.cuda is None)"
    return "torch.cuda.is_available() is False: no usable CUDA device"


def disable_tf32() -> None:
    """Make float32 matrix products and convolutions on CUDA use full float32 precision."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Run the block with deterministic algorithms (and cuDNN benchmarking off), then restore."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_benchmark = torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.backends.cudnn.benchmark = previous_benchmark
