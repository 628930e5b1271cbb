"""Section statistics against the batch's: weighted means, the law of total variance, the bound.

``impl.section_statistics`` computes each section's per-channel mean and biased variance;
torch's own reductions over the whole batch are the reference. Both are float computations
of the same real numbers. Means are sums of ``n`` values, and ``gamma(n + m + 2) * mean|x|``
per side covers the section sums, the weighting by ``q_j / n`` and the division. Variances
are two-pass sums of squares, and ``2 gamma(n + m + 6) * mean((|x| + |mu|)^2)`` per side
covers the error of the centring mean, the squares, the sums and the weighted combination.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings

from efx.claims.ga_batchnorm import SECTION_MEANS
from efx.strategies.normalization import ChannelBatch, channel_batches
from efx.tolerance import gamma

# device and dtype are fixed per test item, so sharing them across examples is intended.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def reduced_dims(x: torch.Tensor) -> list[int]:
    return [0, *range(2, x.dim())]


def weights(counts: tuple[int, ...], x: torch.Tensor) -> torch.Tensor:
    sizes = torch.tensor(counts, dtype=x.dtype, device=x.device)
    return (sizes / sizes.sum())[:, None]


@pytest.mark.claim("bn.section-mean")
@fixed_fixtures
@given(batch=channel_batches())
def test_weighted_section_means_give_batch_mean(batch: ChannelBatch, device, dtype, impl):
    x = batch.values(dtype, device)
    stats = impl.section_statistics(x, batch.sizes)

    weighted = (weights(stats.counts, x) * stats.mean).sum(dim=0)
    direct = x.mean(dim=reduced_dims(x))

    n, m = x.numel() // x.shape[1], len(batch.sizes)
    # Both sides sum the same n values per channel in different orders: see the module docstring.
    tolerance = 2 * gamma(n + m + 2, dtype) * x.abs().mean(dim=reduced_dims(x)).double()
    error = (weighted - direct).abs().double()
    note(f"sizes={batch.sizes}, error={error.tolist()}, tolerance={tolerance.tolist()}")
    assert bool((error <= tolerance).all())


@pytest.mark.claim("bn.section-mean")
def test_equal_sizes_plain_mean_is_batch_mean(device, dtype, impl):
    # Values with exact binary sums, so every mean below is computed without rounding.
    x = torch.tensor([[1.0], [3.0], [-2.0], [6.0], [0.5], [0.5]], dtype=dtype, device=device)
    stats = impl.section_statistics(x, [2, 2, 2])

    assert stats.mean.flatten().tolist() == [2.0, 2.0, 0.5]
    assert stats.mean.mean().item() == x.mean().item() == 1.5


@pytest.mark.claim("bn.section-mean")
def test_section_means_use_own_samples(device, dtype, impl):
    x = torch.tensor([[1.0], [2.0], [3.0], [10.0]], dtype=dtype, device=device)
    stats = impl.section_statistics(x, [2, 2])

    first_q_samples = x[:2].mean().item()
    assert [Fraction(v) for v in stats.mean.flatten().tolist()] == [
        Fraction(s) for s in SECTION_MEANS
    ]
    assert first_q_samples == stats.mean[0].item()
    assert first_q_samples != stats.mean[1].item()


@pytest.mark.claim("bn.section-mean")
def test_unequal_sizes_need_weights(device, dtype, impl):
    x = torch.tensor([[0.0], [2.0], [4.0]], dtype=dtype, device=device)
    stats = impl.section_statistics(x, [1, 2])

    plain = stats.mean.mean().item()
    weighted = (weights(stats.counts, x) * stats.mean).sum().item()

    assert plain == 1.5
    # The weights 1/3 and 2/3 are rounded: a few roundings of a sum whose terms add up to 2.
    assert weighted == pytest.approx(2.0, abs=gamma(4, dtype) * 2.0)
    assert x.mean().item() == 2.0


@pytest.mark.claim("bn.section-variance")
@fixed_fixtures
@given(batch=channel_batches())
def test_law_of_total_variance(batch: ChannelBatch, device, dtype, impl):
    x = batch.values(dtype, device)
    stats = impl.section_statistics(x, batch.sizes)
    mean = x.mean(dim=reduced_dims(x))
    w = weights(stats.counts, x)

    within = (w * stats.variance).sum(dim=0)
    between = (w * (stats.mean - mean) ** 2).sum(dim=0)
    direct = x.var(dim=reduced_dims(x), unbiased=False)

    n, m = x.numel() // x.shape[1], len(batch.sizes)
    magnitude = ((x.abs() + mean.abs().reshape(1, -1, *([1] * (x.dim() - 2)))) ** 2).mean(
        dim=reduced_dims(x)
    )
    # Two-pass variances of the same values on both sides: see the module docstring.
    tolerance = 4 * gamma(n + m + 6, dtype) * magnitude.double()
    error = (within + between - direct).abs().double()
    note(f"sizes={batch.sizes}, error={error.tolist()}, tolerance={tolerance.tolist()}")
    assert bool((error <= tolerance).all())
    # The identity is not vacuous: the between-section term is the gap to the mean section variance.
    assert bool(((direct - within).double() >= -tolerance).all())


@pytest.mark.claim("bn.section-variance")
def test_sections_below_and_above_batch_variance(device, dtype, impl):
    x = torch.tensor([[0.0], [0.0], [-1.0], [1.0]], dtype=dtype, device=device)
    stats = impl.section_statistics(x, [2, 2])

    batch_variance = x.var(unbiased=False).item()

    assert batch_variance == 0.5
    assert stats.variance.flatten().tolist() == [0.0, 1.0]
    assert stats.variance.mean().item() == 0.5
