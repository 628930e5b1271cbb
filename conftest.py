"""Shared test set-up for verify/ and tests/: Hypothesis profiles, devices, dtypes, the efx plugin.

Hypothesis profiles (chosen with ``HYPOTHESIS_PROFILE``, default ``dev``):

- ``ci``: derandomized and bounded, the profile CI runs (about 2 minutes on 2 cores);
- ``dev``: random, a few more examples, for everyday work;
- ``thorough``: ten times the ``ci`` examples, for a pre-release run.
"""

from __future__ import annotations

import os

from efx.devices import prepare_environment

prepare_environment()  # before torch starts cuBLAS, so deterministic checks can run on CUDA

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from efx.devices import cuda_skip_reason, disable_tf32  # noqa: E402

pytest_plugins = ["efx.pytest_plugin"]

CI_EXAMPLES = 20
settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None, print_blob=True)
settings.register_profile(
    "thorough",
    max_examples=10 * CI_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

disable_tf32()

# The checks run on tiny tensors, where starting worker threads costs more than the work
# (a QR of an 8 x 8 matrix took about 5 ms with 2 threads and 0.05 ms with one, torch 2.13 on
# 2 cores), so one intra-op thread keeps the suite inside its time budget.
torch.set_num_threads(1)

_CUDA_SKIP = cuda_skip_reason()
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=pytest.mark.skipif(_CUDA_SKIP is not None, reason=f"cuda: {_CUDA_SKIP}"),
    ),
]


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    """The device a numerical check runs on: cpu always, cuda when available."""
    return torch.device(request.param)


@pytest.fixture(params=[torch.float64, torch.float32], ids=["float64", "float32"])
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """The floating dtype a numerical check runs in."""
    return request.param
