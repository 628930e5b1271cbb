"""Benchmark efx.lowrank.randomized_svd against torch.svd_lowrank and the full torch.linalg.svd.

For each square size, spectrum and rank k, one run times the three methods side by side and
measures their errors relative to the Eckart-Young optimum of rank k:

- ``full_svd``: ``torch.linalg.svd(W, full_matrices=False)``, then the first k triplets;
- ``torch_svd_lowrank``: ``torch.svd_lowrank(W, q=k + oversample, niter=power_iterations)``,
  truncated to its first k triplets (it returns ``q`` of them);
- ``efx_randomized_svd``: ``efx.lowrank.randomized_svd(W, k, oversample=..., power_iterations=...)``.

Timing: repetitions are interleaved (every repetition runs each method once, in a shuffled
order), and ratios are taken within a repetition where both methods ran, so drift of a shared
machine cancels. Each ratio is reported as a median with a 95% bootstrap interval. The full SVD
is slow, so it runs only in the first ``--full-repeats`` repetitions and its ratios compare
medians of independent samples.

Errors: the Frobenius error is exact (float64). The spectral error ``||W - W_hat||_2`` is
estimated by block Krylov iteration, which gives a lower bound that converges from below. On
the smallest size the estimate is compared once with the exact value, and the report gives
the largest relative gap.

Spectra: ``decaying`` builds ``W = U diag(1/i) V^T`` from Haar-random orthogonal factors. Its
reference singular values are the prescribed ones, which storing W in float32 moves by at most
``u ||W||_F``. ``gaussian`` has i.i.d. N(0, 1/n) entries, and its reference singular values come
from a float64 SVD. A flat spectrum is left out on purpose: there every k-dimensional subspace is
optimal, so it cannot separate accurate from inaccurate methods.

Run: ``python benchmarks/lowrank.py --output benchmarks/results/lowrank.json`` (a few minutes on
2 cores; ``OMP_NUM_THREADS=1`` gives steadier timings). The JSON is printed to stdout as well.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy
import torch

from efx.lowrank import randomized_svd
from efx.strategies import random_orthogonal

METHODS = ("full_svd", "torch_svd_lowrank", "efx_randomized_svd")
BOOTSTRAP_SAMPLES = 2000
KRYLOV_BLOCK = 8
KRYLOV_STEPS = 24


def build_matrix(size: int, spectrum: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the float32 matrix and its reference singular values (float64, descending)."""
    generator = torch.Generator().manual_seed(seed)
    if spectrum == "decaying":
        sigma = 1 / torch.arange(1, size + 1, dtype=torch.float64)
        U = random_orthogonal(size, generator)
        V = random_orthogonal(size, generator)
        return ((U * sigma) @ V.T).float(), sigma
    if spectrum == "gaussian":
        W = torch.randn(size, size, generator=generator, dtype=torch.float64) / size**0.5
        return W.float(), torch.linalg.svdvals(W.float().double())
    raise SystemExit(f"--spectra: unknown spectrum {spectrum!r}; use 'decaying' or 'gaussian'")


def spectral_norm_estimate(E: torch.Tensor, generator: torch.Generator) -> float:
    """Return a lower bound on ``||E||_2`` from a block Krylov space of ``E^T E`` (float64)."""
    block = torch.randn(E.shape[1], KRYLOV_BLOCK, generator=generator, dtype=torch.float64)
    basis = torch.linalg.qr(block).Q
    blocks = [basis]
    for _ in range(KRYLOV_STEPS):
        block = E.mT @ (E @ blocks[-1])
        for previous in blocks:  # full re-orthogonalisation keeps the basis orthonormal
            block = block - previous @ (previous.mT @ block)
        blocks.append(torch.linalg.qr(block).Q)
    space = torch.cat(blocks, dim=1)
    space = torch.linalg.qr(space).Q
    return float(torch.linalg.svdvals(E @ space)[0])


def bootstrap_median(values: list[float], rng: numpy.random.Generator) -> dict[str, float]:
    """Return the median of ``values`` and a 95% percentile-bootstrap interval for it."""
    data = numpy.asarray(values)
    resamples = rng.choice(data, size=(BOOTSTRAP_SAMPLES, data.size), replace=True)
    medians = numpy.median(resamples, axis=1)
    return {
        "median": float(numpy.median(data)),
        "ci_low": float(numpy.percentile(medians, 2.5)),
        "ci_high": float(numpy.percentile(medians, 97.5)),
        "n": int(data.size),
    }


def bootstrap_ratio_of_medians(
    numerator: list[float], denominator: list[float], rng: numpy.random.Generator
) -> dict[str, float]:
    """Return median(numerator) / median(denominator) with a bootstrap interval over both samples."""
    top, bottom = numpy.asarray(numerator), numpy.asarray(denominator)
    top_medians = numpy.median(rng.choice(top, size=(BOOTSTRAP_SAMPLES, top.size)), axis=1)
    bottom_medians = numpy.median(rng.choice(bottom, size=(BOOTSTRAP_SAMPLES, bottom.size)), axis=1)
    ratios = top_medians / bottom_medians
    return {
        "median": float(numpy.median(top) / numpy.median(bottom)),
        "ci_low": float(numpy.percentile(ratios, 2.5)),
        "ci_high": float(numpy.percentile(ratios, 97.5)),
        "n": int(min(top.size, bottom.size)),
    }


def runners(
    W: torch.Tensor, ranks: list[int], args: argparse.Namespace, seed: int
) -> dict[tuple[str, int], Callable[[], Any]]:
    """Return the timed calls: the full SVD once (k = 0 stands for all ranks), the two randomized methods per k."""
    calls: dict[tuple[str, int], Callable[[], Any]] = {
        ("full_svd", 0): lambda: torch.linalg.svd(W, full_matrices=False)
    }
    for k in ranks:
        calls[("torch_svd_lowrank", k)] = lambda k=k: torch.svd_lowrank(
            W, q=k + args.oversample, niter=args.power_iterations
        )
        generator = torch.Generator().manual_seed(seed + k)
        calls[("efx_randomized_svd", k)] = lambda k=k, generator=generator: randomized_svd(
            W,
            k,
            oversample=args.oversample,
            power_iterations=args.power_iterations,
            generator=generator,
        )
    return calls


def rank_k_approximation(method: str, output: Any, k: int) -> torch.Tensor:
    """Return the rank-k matrix a method's output stands for, in float64."""
    if method == "torch_svd_lowrank":
        U, S, V = output
        return (U[:, :k].double() * S[:k].double()) @ V[:, :k].double().mT
    U, S, Vh = output
    return (U[:, :k].double() * S[:k].double()) @ Vh[:k, :].double()


def measure_errors(
    W: torch.Tensor,
    approximation: torch.Tensor,
    sigma: torch.Tensor,
    k: int,
    generator: torch.Generator,
) -> dict[str, float]:
    difference = W.double() - approximation
    frobenius = float(torch.linalg.matrix_norm(difference))
    spectral = spectral_norm_estimate(difference, generator)
    return {
        "frobenius": frobenius / float(torch.linalg.vector_norm(sigma[k:])),
        "spectral": spectral / float(sigma[k]),
    }


def summarise_errors(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        norm: {
            "median": statistics.median(sample[norm] for sample in samples),
            "min": min(sample[norm] for sample in samples),
            "max": max(sample[norm] for sample in samples),
        }
        for norm in ("frobenius", "spectral")
    }


def benchmark_matrix(
    size: int, spectrum: str, args: argparse.Namespace, rng: numpy.random.Generator
) -> list[dict[str, Any]]:
    """Time and measure every method on one matrix, for every rank; return one record per rank."""
    W, sigma = build_matrix(size, spectrum, args.seed)
    calls = runners(W, args.ranks, args, args.seed)
    times: dict[tuple[str, int], list[float]] = {key: [] for key in calls}
    errors: dict[tuple[str, int], list[dict[str, float]]] = {
        key: [] for key in calls if key[0] != "full_svd"
    }
    full_errors: dict[int, dict[str, float]] = {}
    error_generator = torch.Generator().manual_seed(args.seed)
    order = random.Random(args.seed)

    for call in calls.values():  # warm-up: first calls pay for lazy initialisation
        call()
    for repetition in range(args.repeats):
        keys = [key for key in calls if key[0] != "full_svd" or repetition < args.full_repeats]
        order.shuffle(keys)
        for key in keys:
            started = time.perf_counter()
            output = calls[key]()
            times[key].append(time.perf_counter() - started)
            if key[0] == "full_svd" and repetition == 0:
                for k in args.ranks:
                    full_errors[k] = measure_errors(
                        W, rank_k_approximation("full_svd", output, k), sigma, k, error_generator
                    )
            elif key[0] != "full_svd" and repetition < args.error_repeats:
                errors[key].append(
                    measure_errors(
                        W,
                        rank_k_approximation(key[0], output, key[1]),
                        sigma,
                        key[1],
                        error_generator,
                    )
                )

    records = []
    full_times = times[("full_svd", 0)]
    for k in args.ranks:
        efx, theirs = times[("efx_randomized_svd", k)], times[("torch_svd_lowrank", k)]
        records.append(
            {
                "size": size,
                "spectrum": spectrum,
                "k": k,
                "time_s": {
                    "full_svd": bootstrap_median(full_times, rng),
                    "torch_svd_lowrank": bootstrap_median(theirs, rng),
                    "efx_randomized_svd": bootstrap_median(efx, rng),
                },
                "time_ratio": {
                    "efx_over_torch": bootstrap_median(
                        [a / b for a, b in zip(efx, theirs, strict=True)], rng
                    ),
                    "torch_over_full": bootstrap_ratio_of_medians(theirs, full_times, rng),
                    "efx_over_full": bootstrap_ratio_of_medians(efx, full_times, rng),
                },
                "error_ratio": {
                    "full_svd": {
                        norm: {"median": value, "min": value, "max": value}
                        for norm, value in full_errors[k].items()
                    },
                    "torch_svd_lowrank": summarise_errors(errors[("torch_svd_lowrank", k)]),
                    "efx_randomized_svd": summarise_errors(errors[("efx_randomized_svd", k)]),
                },
            }
        )
    return records


def check_spectral_estimate(size: int, args: argparse.Namespace) -> float:
    """Return the largest relative gap between the Krylov estimate and the exact spectral norm of an error."""
    W, _ = build_matrix(size, "gaussian", args.seed + 1)
    generator = torch.Generator().manual_seed(args.seed)
    worst = 0.0
    for k in args.ranks:
        output = randomized_svd(
            W,
            k,
            oversample=args.oversample,
            power_iterations=args.power_iterations,
            generator=generator,
        )
        E = W.double() - rank_k_approximation("efx_randomized_svd", output, k)
        exact = float(torch.linalg.matrix_norm(E, ord=2))
        worst = max(worst, (exact - spectral_norm_estimate(E, generator)) / exact)
    return worst


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1024, 2048], help="square matrix sizes n"
    )
    parser.add_argument("--ranks", type=int, nargs="+", default=[16, 64], help="target ranks k")
    parser.add_argument(
        "--spectra",
        nargs="+",
        default=["decaying", "gaussian"],
        help="'decaying' and/or 'gaussian'",
    )
    parser.add_argument(
        "--repeats", type=int, default=21, help="interleaved repetitions of the randomized methods"
    )
    parser.add_argument(
        "--full-repeats", type=int, default=3, help="repetitions that also run the full SVD"
    )
    parser.add_argument(
        "--error-repeats", type=int, default=3, help="repetitions whose errors are measured"
    )
    parser.add_argument(
        "--oversample", type=int, default=10, help="extra sample columns, l = k + oversample"
    )
    parser.add_argument(
        "--power-iterations", type=int, default=2, help="power iterations q (torch's niter)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the matrices, test matrices and shuffles"
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="also write the JSON to this file"
    )
    args = parser.parse_args(argv)

    if not 1 <= args.full_repeats <= args.repeats or not 1 <= args.error_repeats <= args.repeats:
        parser.error("--full-repeats and --error-repeats must be between 1 and --repeats")
    if any(k + args.oversample > n for k in args.ranks for n in args.sizes):
        parser.error("every k + --oversample must fit in every size")
    return args


def main(argv: list[str]) -> int:
    args = parse_arguments(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rng = numpy.random.default_rng(args.seed)
    started = time.perf_counter()

    records = []
    for size in args.sizes:
        for spectrum in args.spectra:
            print(f"benchmarking n={size} {spectrum}", file=sys.stderr, flush=True)
            records.extend(benchmark_matrix(size, spectrum, args, rng))
    estimate_gap = check_spectral_estimate(min(args.sizes), args)

    report = {
        "schema": 1,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/lowrank.py " + " ".join(argv),
        "environment": {
            "torch": torch.__version__,
            "numpy": numpy.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "settings": {
            "dtype": "float32",
            "oversample": args.oversample,
            "power_iterations": args.power_iterations,
            "repeats": args.repeats,
            "full_repeats": args.full_repeats,
            "error_repeats": args.error_repeats,
            "seed": args.seed,
        },
        "spectral_estimate_max_relative_gap": estimate_gap,
        "results": records,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
