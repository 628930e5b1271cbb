"""The factors A and B of a truncated SVD, when A B = W, optimality, small tails, LoRA's letters.

Matrices come from ``efx.strategies.spectral_matrices`` (prescribed spectra with random
singular vectors), so the optimal errors are known from the drawn ``sigma``. Factor checks
compare invariants (products, Gram matrices, errors), never raw singular vectors, which are
unique only up to signs and rotations within repeated values.

Tolerance: ``truncation_error_tolerance(||W||_F, shape, k, dtype)`` from
``efx.lowrank.rounding`` (twice the SVD's backward error, the reconstruction's inner products,
one rounding per stored entry), with the reasons for any multiple given where it is used.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from efx.claims.lr_truncation.factors import SMALL_TAIL_EXAMPLE, small_tail_example_error
from efx.lowrank import svd_backward_error, truncation_error_tolerance
from efx.strategies import random_orthogonal, spectral_matrices
from efx.tolerance import gamma

SPLITS = ("left", "balanced", "right")

# device and dtype hold one value per test item, so sharing them across the examples of the
# item is intended.
fixed_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def tolerance(W: torch.Tensor, k: int) -> float:
    return truncation_error_tolerance(
        float(torch.linalg.matrix_norm(W.double())), tuple(W.shape), k, W.dtype
    )


def errors(W: torch.Tensor, approximation: torch.Tensor) -> tuple[float, float]:
    difference = W.double() - approximation.double()
    return float(torch.linalg.matrix_norm(difference)), float(
        torch.linalg.matrix_norm(difference, ord=2)
    )


def optimum(sigma: torch.Tensor, k: int) -> tuple[float, float]:
    return float(torch.linalg.vector_norm(sigma[k:])), float(sigma[k]) if k < sigma.numel() else 0.0


@pytest.mark.claim("tsvd.factors")
@pytest.mark.parametrize("split", SPLITS)
@fixed_fixtures
@given(data=st.data())
def test_factors_have_shapes_and_product_of_truncation(data, device, dtype, impl, split):
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    W = sm.W.to(device)
    m, n = W.shape
    k = data.draw(st.integers(1, min(m, n)), label="k")
    note(f"kind={sm.kind} shape={(m, n)} k={k} sigma={sm.sigma.tolist()}")

    A, B = impl.low_rank_factors(W, k, split=split)
    product = A.double() @ B.double()

    assert tuple(A.shape) == (m, k)
    assert tuple(B.shape) == (k, n)
    tol = tolerance(W, k)
    assert errors(W, product)[0] == pytest.approx(optimum(sm.sigma, k)[0], abs=tol)
    # Gram matrices are invariants of each split. Computed singular vectors are orthonormal to
    # within the SVD's relative backward error, and computed singular values lie within tol
    # of the drawn ones, so a Gram entry is off by at most tol + 2 sigma_1 * orthogonality.
    orthogonality = svd_backward_error(1.0, (m, n), dtype)
    identity = torch.eye(k, dtype=torch.float64, device=device)
    if split == "left":
        assert torch.allclose(A.double().mT @ A.double(), identity, rtol=0, atol=2 * orthogonality)
    elif split == "right":
        assert torch.allclose(B.double() @ B.double().mT, identity, rtol=0, atol=2 * orthogonality)
    else:
        values = torch.diag(sm.sigma[:k]).to(device)
        gram_tol = tol + 2 * float(sm.sigma[0]) * orthogonality
        assert torch.allclose(A.double().mT @ A.double(), values, rtol=0, atol=gram_tol)
        assert torch.allclose(B.double() @ B.double().mT, values, rtol=0, atol=gram_tol)


@pytest.mark.claim("tsvd.factors")
@fixed_fixtures
@given(data=st.data())
def test_one_based_slice_drops_the_first_triplet(data, device, dtype, impl):
    sm = data.draw(
        spectral_matrices(rows=st.integers(2, 8), cols=st.integers(2, 8), dtype=dtype),
        label="matrix",
    )
    W = sm.W.to(device)
    p = min(W.shape)
    k = data.draw(st.integers(2, p), label="k")

    U, _, _ = impl.truncated_svd(W, p)
    A = U[:, 1:k].double()
    B = A.mT @ W.double()  # the best B for this A: the projection of W onto its columns

    assert A.shape[1] == k - 1
    expected = math.sqrt(float(sm.sigma[0]) ** 2 + float(torch.sum(sm.sigma[k:] ** 2)))
    assert errors(W, A @ B)[0] == pytest.approx(expected, abs=2 * tolerance(W, p))


@pytest.mark.claim("tsvd.factors")
def test_elementwise_product_is_not_the_factor(dtype):
    generator = torch.Generator().manual_seed(0)
    W = torch.randn(4, 4, generator=generator, dtype=dtype)
    _, S, Vh = torch.linalg.svd(W)
    Sigma = torch.diag(S)
    k = 3

    with pytest.raises(RuntimeError, match="size"):
        Sigma[1:k, :] * Vh  # a 2 x 4 tensor times a 4 x 4 tensor does not broadcast
    elementwise = Sigma[:k, :k] * Vh[:k, :k]
    assert torch.count_nonzero(elementwise - torch.diag(torch.diagonal(elementwise))) == 0
    assert not torch.allclose(elementwise, (S[:k, None] * Vh[:k, :])[:, :k])


@pytest.mark.claim("tsvd.exact-iff-tail-zero")
@fixed_fixtures
@given(data=st.data())
def test_product_equals_matrix_iff_discarded_values_are_zero(data, device, dtype, impl):
    sm = data.draw(spectral_matrices(kind="with-zeros", dtype=dtype), label="matrix")
    W = sm.W.to(device)
    k = data.draw(st.integers(1, min(W.shape)), label="k")
    note(f"shape={tuple(W.shape)} rank={sm.rank} k={k} sigma={sm.sigma.tolist()}")

    A, B = impl.low_rank_factors(W, k)
    frobenius = errors(W, A.double() @ B.double())[0]

    tol = tolerance(W, k)
    if k >= sm.rank:
        assert frobenius <= tol, "rank(W) <= k: A B reproduces W"
    else:
        # The with-zeros spectra keep nonzero values >= sigma_1 / 8, so the two cases separate.
        assert float(sm.sigma[k]) > 3 * tol
        assert frobenius >= float(sm.sigma[k]) - tol, "rank(W) > k: A B misses sigma_{k+1}"


def competitors(
    W: torch.Tensor, k: int, generator: torch.Generator
) -> list[tuple[str, torch.Tensor]]:
    """Return rank-k matrices built without the SVD: random factors, projections, least-squares fits."""
    m, n = W.shape
    Wd = W.double().cpu()
    G1 = torch.randn(m, k, generator=generator, dtype=torch.float64)
    G2 = torch.randn(k, n, generator=generator, dtype=torch.float64)
    left = torch.linalg.qr(torch.randn(m, k, generator=generator, dtype=torch.float64)).Q
    right = torch.linalg.qr(torch.randn(n, k, generator=generator, dtype=torch.float64)).Q
    random_product = G1 @ G2
    # The least-squares multiple of the random product: the best competitor along that direction.
    scale = float((random_product * Wd).sum() / (random_product * random_product).sum())
    return [
        ("scaled random product", scale * random_product),
        ("left projection", left @ (left.mT @ Wd)),
        ("right projection", (Wd @ right) @ right.mT),
        ("least-squares B for random A", G1 @ torch.linalg.lstsq(G1, Wd).solution),
    ]


@pytest.mark.claim("tsvd.eckart-young")
@fixed_fixtures
@given(data=st.data())
def test_no_rank_k_competitor_beats_truncation(data, device, dtype, impl):
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    W = sm.W.to(device)
    k = data.draw(st.integers(1, min(W.shape)), label="k")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    generator = torch.Generator().manual_seed(seed)

    U, S, Vh = impl.truncated_svd(W, k)
    ours = errors(W, (U.double() * S.double()) @ Vh.double())
    best = optimum(sm.sigma, k)

    tol = tolerance(W, k)
    assert ours[0] == pytest.approx(best[0], abs=tol)
    assert ours[1] == pytest.approx(best[1], abs=tol)
    for name, X in competitors(W, k, generator):
        # The competitor is exact rank k in float64; W carries one rounding per entry.
        frobenius, spectral = errors(W.cpu(), X)
        note(f"{name}: {frobenius:.6g} vs optimum {best[0]:.6g}")
        assert frobenius >= best[0] - tol, name
        assert spectral >= best[1] - tol, name


@pytest.mark.claim("tsvd.eckart-young")
@fixed_fixtures
@given(data=st.data())
def test_rank_k_perturbations_never_lower_the_error(data, device, dtype, impl):
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    W = sm.W.to(device)
    k = data.draw(st.integers(1, min(W.shape)), label="k")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    generator = torch.Generator().manual_seed(seed)

    A, B = (factor.double().cpu() for factor in impl.low_rank_factors(W, k, split="balanced"))
    Wd = W.double().cpu()
    base = errors(Wd, A @ B)[0]
    tol = tolerance(W, k)
    steps = (0.3, 0.03, 0.003, -0.003, -0.03, -0.3)

    # Random factor directions: (A + t dA)(B + t dB) has rank <= k for every t.
    dA = torch.randn(A.shape, generator=generator, dtype=torch.float64)
    dB = torch.randn(B.shape, generator=generator, dtype=torch.float64)
    dA *= float(torch.linalg.matrix_norm(A)) / float(torch.linalg.matrix_norm(dA))
    dB *= float(torch.linalg.matrix_norm(B)) / float(torch.linalg.matrix_norm(dB))
    for t in steps:
        perturbed = errors(Wd, (A + t * dA) @ (B + t * dB))[0]
        assert perturbed >= base - tol, f"factor step t={t}: {perturbed} < {base}"

    # Any k singular triplets form a stationary point, so random directions can miss a wrong
    # choice (a saddle). Rotating the column space towards the residual's top left singular
    # vector x is the direction that would help: for the optimal space no rotation does.
    residual = Wd - A @ B
    X, residual_values, _ = torch.linalg.svd(residual)
    if float(residual_values[0]) <= tol:
        return  # k >= rank: A B = W, nothing left to improve
    basis = torch.linalg.svd(A @ B, full_matrices=False).U[:, :k]
    x = X[:, :1]
    for column in range(k):
        for t in steps:
            rotated = basis.clone()
            rotated[:, column : column + 1] += t * x
            Q = torch.linalg.qr(rotated).Q
            perturbed = errors(Wd, Q @ (Q.mT @ Wd))[0]
            assert perturbed >= base - tol, (
                f"rotation of column {column}, t={t}: {perturbed} < {base}"
            )


@pytest.mark.claim("tsvd.small-tail")
@fixed_fixtures
@given(data=st.data())
def test_small_discarded_values_bound_the_error(data, device, dtype, impl):
    sm = data.draw(spectral_matrices(dtype=dtype), label="matrix")
    W = sm.W.to(device)
    p = min(W.shape)
    k = data.draw(st.integers(1, p - 1) if p > 1 else st.just(1), label="k")
    delta = float(sm.sigma[k]) if k < p else 0.0

    U, S, Vh = impl.truncated_svd(W, k)
    frobenius, spectral = errors(W, (U.double() * S.double()) @ Vh.double())

    tol = tolerance(W, k)
    assert spectral <= delta + tol
    assert frobenius <= math.sqrt(p - k) * delta + tol


@pytest.mark.claim("tsvd.small-tail")
def test_near_zero_tail_example_is_a_poor_approximation(device, dtype, impl):
    p, k, head, tail = (SMALL_TAIL_EXAMPLE[key] for key in ("p", "k", "head", "tail"))
    sigma = torch.tensor([head] * k + [tail] * (p - k), dtype=dtype, device=device)

    relative = float(impl.relative_frobenius_error_from_spectrum(sigma, k))

    # The statement prints the value to 3 decimals, and float32 carries about 7 significant digits.
    assert round(relative, 3) == round(small_tail_example_error(), 3)
    # The same effect on an actual matrix, 10 times smaller: 10 values 1, 90 values 0.1.
    small = torch.tensor([head] * k + [tail] * (100 - k), dtype=torch.float64)
    Q1 = random_orthogonal(100, torch.Generator().manual_seed(1))
    Q2 = random_orthogonal(100, torch.Generator().manual_seed(2))
    W = ((Q1 * small) @ Q2.T).to(dtype=dtype, device=device)
    U, S, Vh = impl.truncated_svd(W, k)
    measured = errors(W, (U.double() * S.double()) @ Vh.double())[0] / float(
        torch.linalg.matrix_norm(W.double())
    )
    expected = math.sqrt(float(torch.sum(small[k:] ** 2)) / float(torch.sum(small**2)))
    assert measured == pytest.approx(
        expected, abs=2 * tolerance(W, k) / float(torch.linalg.matrix_norm(W.double()))
    )
    assert measured > 0.25, "large leading values and a near-zero tail, yet more than 25% error"


@pytest.mark.claim("tsvd.lora-notation")
def test_question_factors_sit_in_lora_swapped_positions(device, dtype, impl):
    in_features, out_features, rank = 7, 5, 3
    torch.manual_seed(0)  # nn.Linear draws its weight from the global generator
    layer = torch.nn.Linear(in_features, out_features, bias=False).to(device=device, dtype=dtype)
    weight = layer.weight.detach()

    A_question, B_question = impl.low_rank_factors(weight, rank, split="balanced")
    x = torch.randn(4, in_features, dtype=dtype, generator=torch.Generator().manual_seed(0)).to(
        device
    )

    # LoRA: B is d x r with d = out_features, A is r x k with k = in_features.
    assert tuple(weight.shape) == (out_features, in_features)
    assert tuple(A_question.shape) == (out_features, rank)
    assert tuple(B_question.shape) == (rank, in_features)
    through_lora_path = (
        x @ B_question.mT
    ) @ A_question.mT  # x meets LoRA's A (the question's B) first
    merged = torch.nn.functional.linear(x, A_question @ B_question)
    # Two products of length <= max(in, out) each, on entries bounded by ||W||_2 ||x||.
    bound = (
        gamma(2 * max(in_features, out_features), dtype)
        * float(torch.linalg.matrix_norm(weight.double()))
        * float(x.double().abs().sum(dim=1).max())
    )
    assert torch.allclose(through_lora_path, merged, rtol=0, atol=4 * bound)
