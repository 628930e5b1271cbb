"""torch's BatchNorm buffers after one train-mode call per section against the closed forms.

torch updates ``running_mean``, ``running_var`` and ``num_batches_tracked`` in a loop, once per
forward call; ``impl.running_statistics`` evaluates the unrolled closed form.

Tolerance: update ``t`` feeds a statistic ``z_t`` with a rounding error of at most ``d_t``. For
the mean ``d_t = gamma(N_t + 2) mean|x|``, for the unbiased variance
``d_t = 2 gamma(N_t + 6) mean((|x| + |mu|)^2) N_t / (N_t - 1)``. Each update also rounds three
times a buffer value of at most ``R``, the largest of the buffer's start and the statistics
fed in. After the step a buffer is within ``sum_t (alpha_t d_t + gamma(3) (R + alpha_t |z_t|))``
of the real value, for the loop and the closed form alike, so the two differ by at most
twice that.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.claims import claim
from efx.strategies.normalization import ChannelBatch, channel_batches
from efx.tolerance import gamma

# device and dtype are fixed per test item, so sharing them across examples is intended.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

MOMENTA = st.sampled_from([0.1, 0.5, 1.0, None]) | st.floats(0.0, 1.0)


def skip_unless_torch_seen(claim_id: str) -> None:
    seen = claim(claim_id).torch_seen
    running = torch.__version__.split("+")[0]
    if running != seen:
        pytest.skip(f"{claim_id} describes torch {seen}; this is torch {running}")


def batchnorm_for(x: torch.Tensor, momentum: float | None) -> torch.nn.Module:
    layers = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d}
    return layers[x.dim()](x.shape[1], momentum=momentum).to(device=x.device, dtype=x.dtype).train()


def update_bound(x: torch.Tensor, sizes, momentum, tracked: int, start_mean, start_var):
    """Return the rounding bounds of running_mean and running_var after one update per section."""
    dtype = x.dtype
    x64 = x.double()
    dims = [0, *range(2, x.dim())]
    parts = torch.split(x64, list(sizes))
    means = [p.mean(dim=dims) for p in parts]
    unbiased = [p.var(dim=dims, unbiased=True) for p in parts]
    # Every buffer value is a convex combination of its start and the statistics fed in.
    largest_mean = (
        torch.stack([start_mean.double().abs(), *(m.abs() for m in means)]).max(dim=0).values
    )
    largest_var = torch.stack([start_var.double().abs(), *unbiased]).max(dim=0).values

    mean_bound = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    var_bound = torch.zeros_like(mean_bound)
    for t, (part, mean, variance) in enumerate(zip(parts, means, unbiased, strict=True), start=1):
        count = part.numel() // part.shape[1]
        alpha = 1.0 / (tracked + t) if momentum is None else momentum
        spread = ((part.abs() + mean.abs().reshape(1, -1, *([1] * (x.dim() - 2)))) ** 2).mean(
            dim=dims
        )
        d_mean = gamma(count + 2, dtype) * part.abs().mean(dim=dims)
        d_var = 2 * gamma(count + 6, dtype) * spread * count / (count - 1)
        mean_bound += alpha * d_mean + gamma(3, dtype) * (largest_mean + alpha * mean.abs())
        var_bound += alpha * d_var + gamma(3, dtype) * (largest_var + alpha * variance)
    return mean_bound, var_bound


@pytest.mark.claim("bn.running-stats")
@fixed_fixtures
@given(batch=channel_batches(min_section_values=2), momentum=MOMENTA, tracked=st.integers(0, 5))
def test_buffers_after_sections_match_closed_form(
    batch: ChannelBatch, momentum, tracked, device, dtype, impl
):
    skip_unless_torch_seen("bn.running-stats")
    x = batch.values(dtype, device)
    module = batchnorm_for(x, momentum)
    generator = torch.Generator().manual_seed(batch.seed + 4)
    start_mean = torch.randn(batch.channels, generator=generator, dtype=torch.float64).to(
        dtype=dtype, device=device
    )
    start_var = (torch.rand(batch.channels, generator=generator, dtype=torch.float64) + 0.5).to(
        dtype=dtype, device=device
    )
    with torch.no_grad():
        module.running_mean.copy_(start_mean)
        module.running_var.copy_(start_var)
        module.num_batches_tracked.fill_(tracked)
    note(f"sizes={batch.sizes}, momentum={momentum}, tracked={tracked}")

    for part in torch.split(x, list(batch.sizes)):
        module(part)
    closed = impl.running_statistics(x, batch.sizes, start_mean, start_var, tracked, momentum)

    mean_bound, var_bound = update_bound(x, batch.sizes, momentum, tracked, start_mean, start_var)
    mean_error = (module.running_mean.double() - closed.mean.double()).abs()
    var_error = (module.running_var.double() - closed.variance.double()).abs()
    assert bool((mean_error <= 2 * mean_bound).all()), f"running_mean error {mean_error.tolist()}"
    assert bool((var_error <= 2 * var_bound).all()), f"running_var error {var_error.tolist()}"
    assert (
        int(module.num_batches_tracked) == closed.num_batches_tracked == tracked + len(batch.sizes)
    )


@pytest.mark.claim("bn.running-stats")
def test_sections_move_buffers_unlike_one_batch_update(device, dtype, impl):
    skip_unless_torch_seen("bn.running-stats")
    # Every section has the batch's mean 2 and variance 1, yet two updates are not one.
    x = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=dtype, device=device).reshape(4, 1)
    alpha = 0.1

    one, two = batchnorm_for(x, alpha), batchnorm_for(x, alpha)
    one(x)
    for part in torch.split(x, [2, 2]):
        two(part)

    # Closed forms from the claim: r_0 = 0, z = 2 for the mean; r_0 = 1 and z = 2 (unbiased, q = 2)
    # against z = 4/3 (unbiased, n = 4) for the variance.
    gap = (1 - alpha) ** 2 - (1 - alpha)
    tolerance = 8 * gamma(8, dtype)  # a few roundings of numbers below 2
    assert two.running_mean.item() - one.running_mean.item() == pytest.approx(
        gap * (0 - 2), abs=tolerance
    )
    assert one.running_var.item() == pytest.approx((1 - alpha) + alpha * 4 / 3, abs=tolerance)
    assert two.running_var.item() == pytest.approx(
        (1 - alpha) ** 2 + alpha * (1 - alpha) * 2 + alpha * 2, abs=tolerance
    )
    assert (int(one.num_batches_tracked), int(two.num_batches_tracked)) == (1, 2)
    assert torch.nn.BatchNorm1d(1).momentum == alpha  # torch's default momentum
    closed = impl.running_statistics(x, [2, 2], momentum=alpha)
    assert closed.mean.item() == pytest.approx(two.running_mean.item(), abs=tolerance)
    assert closed.variance.item() == pytest.approx(two.running_var.item(), abs=tolerance)
