"""Benchmark efx's checkpointing strategies: exact counts, measured memory and wall time.

Run, from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/checkpointing.py --output benchmarks/results/checkpointing.json

It prints one JSON document (and writes it with ``--output``) with three parts:

- ``counts``: for each strategy and chain length n = 2, 4, ..., 1024, the forward calls and the
  peak number of stored states of one forward and backward pass through
  :class:`efx.checkpointing.Checkpointed`, next to the formulas of ``efx.proofs.ckpt_complexity``.
  Counts are exact, so one run suffices.
- ``memory``: the peak bytes the torch profiler measures (``efx.measure.peak_memory``) for a chain
  of elementwise modules, and the log-log slopes of counted and measured memory against n.
- ``timing``: the wall time of forward plus backward of a chain of ``Linear`` + ``GELU`` blocks
  under each strategy and under torch's ``checkpoint_sequential`` with the same number of
  segments. All variants run side by side in one process, in a shuffled order in every
  repetition, and each ratio is taken within a repetition, then summarised by its median and a
  bootstrap confidence interval. Each segment ratio is reported with its recompute limit
  ``1 + f (1 - L/n)``, where ``f`` is the forward's share of forward plus backward measured in
  the same run and ``L`` the length of the last segment.

Timings on a shared machine drift between runs while ratios within one run hold, which is why
only ratios are reported. The default run takes about two to three minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint_sequential

from efx.checkpointing import (
    Binomial,
    Checkpointed,
    MemoryPoor,
    Segments,
    StoreAll,
    TorchSequential,
    binomial_advances,
    sqrt_segment_count,
)
from efx.measure import peak_memory
from efx.proofs import ckpt_complexity as proofs

BINOMIAL_SLOTS = 10
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


class Scale(nn.Module):
    """``a -> w a`` with a scalar weight: autograd saves only the input, so states dominate memory."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(1.0, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def strategies() -> dict[str, Callable[[], Any]]:
    """Return the strategies counted and measured, by name."""
    return {
        "store-all": StoreAll,
        "memory-poor": MemoryPoor,
        "sqrt(n)": Segments,
        f"binomial({BINOMIAL_SLOTS})": lambda: Binomial(BINOMIAL_SLOTS),
    }


def formula(name: str, length: int) -> dict[str, int | None]:
    """Return the proved forward calls and peak stored states of a strategy at ``length``.

    The expressions come from ``efx.proofs.ckpt_complexity``; binomial's peak has no closed
    form there, only the bound ``slots + 1``, so it is None.
    """
    at = {proofs.n: length, proofs.k: sqrt_segment_count(length)}
    if name == "store-all":
        return {"forward_calls": length, "peak_stored": length}
    if name == "memory-poor":
        return {
            "forward_calls": int(proofs.MEMORY_POOR_TOTAL.subs(at)),
            "peak_stored": min(length, 2),
        }
    if name == "sqrt(n)":
        return {
            "forward_calls": int(proofs.SEGMENTS_TOTAL.subs(at)),
            "peak_stored": int(proofs.SQRT_PEAK.subs(at)),
        }
    return {
        "forward_calls": binomial_advances(length, BINOMIAL_SLOTS) + length,
        "peak_stored": None,
    }


def count_strategies(lengths: list[int]) -> list[dict[str, Any]]:
    """Run every strategy on chains of ``lengths`` modules and return the exact counts."""
    rows = []
    for length in lengths:
        for name, make in strategies().items():
            model = Checkpointed([Scale() for _ in range(length)], make())
            model(torch.ones(1, dtype=torch.float64, requires_grad=True)).sum().backward()
            counts = model.last_counts
            assert counts is not None
            expected = formula(name, length)
            rows.append(
                {
                    "strategy": name,
                    "n": length,
                    "forward_calls": counts.total_forward_calls,
                    "forward_calls_per_module_min": min(counts.forward_calls),
                    "forward_calls_per_module_max": max(counts.forward_calls),
                    "peak_stored": counts.peak_stored,
                    "formula_forward_calls": expected["forward_calls"],
                    "formula_peak_stored": expected["peak_stored"],
                }
            )
    return rows


def measure_memory(lengths: list[int], width: int, poor_limit: int) -> list[dict[str, Any]]:
    """Measure the profiler's peak bytes of one forward and backward pass for each strategy and length."""
    rows = []
    state_bytes = width * 8
    for length in lengths:
        for name, make in strategies().items():
            if name == "memory-poor" and length > poor_limit:
                continue
            model = Checkpointed([Scale() for _ in range(length)], make())
            x = torch.ones(width, dtype=torch.float64, requires_grad=True)
            _, peak = peak_memory(
                lambda model=model, x=x: model(x).sum().backward(), torch.device("cpu")
            )
            counts = model.last_counts
            assert counts is not None
            rows.append(
                {
                    "strategy": name,
                    "n": length,
                    "peak_bytes": peak.peak_bytes,
                    "state_bytes": state_bytes,
                    "peak_in_states": peak.peak_bytes / state_bytes,
                    "counted_peak_stored": counts.peak_stored,
                }
            )
    return rows


def slope(points: list[tuple[int, float]]) -> float:
    """Return the least-squares slope of log(value) against log(n)."""
    logs = np.log(np.array(points, dtype=np.float64))
    return float(np.polyfit(logs[:, 0], logs[:, 1], 1)[0])


def slopes(rows: list[dict[str, Any]], key: str, smallest: int) -> dict[str, float]:
    """Return the fitted log-log slope of ``key`` against n for each strategy, over n >= ``smallest``."""
    result = {}
    for name in strategies():
        points = [
            (row["n"], float(row[key]))
            for row in rows
            if row["strategy"] == name and row["n"] >= smallest
        ]
        if len(points) >= 2:
            result[name] = slope(points)
    return result


def _block_chain(depth: int, width: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.GELU()) for _ in range(depth)])


def _median_interval(values: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    # Percentile bootstrap of the median over repetitions.
    resamples = rng.choice(values, size=(BOOTSTRAP_RESAMPLES, values.size), replace=True)
    medians = np.median(resamples, axis=1)
    tail = (1 - CONFIDENCE) / 2
    return {
        "median": float(np.median(values)),
        "ci_low": float(np.quantile(medians, tail)),
        "ci_high": float(np.quantile(medians, 1 - tail)),
    }


def time_strategies(
    depth: int, width: int, batch: int, repetitions: int, warmup: int
) -> dict[str, Any]:
    """Time forward plus backward of every variant side by side and return ratios with intervals.

    Segment strategies are compared with torch's ``checkpoint_sequential`` at two segment
    counts: the sqrt(n) choice ``k`` and ``k + 1``. efx runs each with and without its
    recomputation check (``Segments(check=...)``).
    """
    x = torch.randn(batch, width, generator=torch.Generator().manual_seed(1))
    counts = (sqrt_segment_count(depth), sqrt_segment_count(depth) + 1)

    runs: dict[str, Callable[[], None]] = {}
    models: dict[str, nn.Sequential] = {}
    limits: dict[str, float] = {}  # last-segment share L/n of each segment variant

    def add(name: str, run: Callable[[nn.Sequential], None]) -> None:
        model = models[name] = _block_chain(depth, width, seed=0)
        runs[name] = lambda: run(model)

    add("store-all", lambda m: m(x).sum().backward())
    add("forward only", lambda m: m(x).sum())
    for segments in counts:
        efx_lengths = Segments(segments).lengths(depth)
        torch_lengths = TorchSequential(segments).lengths(depth)
        for check in (True, False):
            name = f"efx segments({segments})" + ("" if check else ", no check")
            model = models[name] = _block_chain(depth, width, seed=0)
            wrapped = Checkpointed(model, Segments(segments, check=check))
            runs[name] = lambda wrapped=wrapped: wrapped(x).sum().backward()
            limits[name] = efx_lengths[-1] / depth
        name = f"torch segments({segments})"
        add(
            name,
            lambda m, k=segments: (
                checkpoint_sequential(m, k, x, use_reentrant=False).sum().backward()
            ),
        )
        limits[name] = torch_lengths[-1] / depth
    for name, strategy in (
        ("efx store-all", StoreAll()),
        ("efx memory-poor", MemoryPoor()),
        (f"efx binomial({BINOMIAL_SLOTS})", Binomial(BINOMIAL_SLOTS)),
    ):
        model = models[name] = _block_chain(depth, width, seed=0)
        wrapped = Checkpointed(model, strategy)
        runs[name] = lambda wrapped=wrapped: wrapped(x).sum().backward()

    def timed(run: Callable[[], None]) -> float:
        for model in models.values():
            model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        run()
        return time.perf_counter() - start

    order = list(runs)
    shuffle = random.Random(0)
    times: dict[str, list[float]] = {name: [] for name in order}
    for repetition in range(warmup + repetitions):
        shuffle.shuffle(order)
        for name in order:
            elapsed = timed(runs[name])
            if repetition >= warmup:
                times[name].append(elapsed)

    # Every variant starts its measured pass without gradients, so each peak includes allocating them.
    peaks = {}
    for name, run in runs.items():
        for model in models.values():
            model.zero_grad(set_to_none=True)
        _, peak = peak_memory(run, torch.device("cpu"))
        peaks[name] = peak.peak_bytes

    rng = np.random.default_rng(0)
    base = np.array(times["store-all"])
    forward_share = _median_interval(np.array(times["forward only"]) / base, rng)
    f = forward_share["median"]
    result: dict[str, Any] = {
        "chain": {
            "depth": depth,
            "width": width,
            "batch": batch,
            "block": "Linear + GELU",
            "dtype": "float32",
        },
        "segment_counts": list(counts),
        "segment_lengths": {
            f"{owner} segments({k})": list(split(k).lengths(depth))
            for k in counts
            for owner, split in (("efx", Segments), ("torch", TorchSequential))
        },
        "repetitions": repetitions,
        "warmup": warmup,
        "forward_share": forward_share,
        "variants": {},
        "efx_over_torch": {},
    }
    for name in runs:
        if name == "forward only":
            continue
        entry: dict[str, Any] = {
            "median_seconds": float(np.median(times[name])),
            "ratio_to_store_all": _median_interval(np.array(times[name]) / base, rng),
            "peak_bytes": peaks[name],
        }
        if name in limits:
            entry["recompute_limit"] = 1 + f * (1 - limits[name])
        result["variants"][name] = entry
    for segments in counts:
        reference = f"torch segments({segments})"
        for suffix in ("", ", no check"):
            name = f"efx segments({segments}){suffix}"
            ratio = np.array(times[name]) / np.array(times[reference])
            result["efx_over_torch"][name] = {
                "time": _median_interval(ratio, rng),
                "peak": peaks[name] / peaks[reference],
            }
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", help="also write the JSON document to this file")
    parser.add_argument(
        "--max-length", type=int, default=1024, help="maximum chain length counted, in modules"
    )
    parser.add_argument(
        "--repetitions", type=int, default=30, help="timed repetitions of every variant"
    )
    parser.add_argument("--depth", type=int, default=32, help="blocks in the timed chain")
    parser.add_argument("--width", type=int, default=128, help="features of each timed block")
    parser.add_argument("--batch", type=int, default=512, help="rows of the timed input")
    arguments = parser.parse_args(argv)
    torch.set_num_threads(1)

    started = time.perf_counter()
    lengths = [2**power for power in range(1, 11) if 2**power <= arguments.max_length]
    counts = count_strategies(lengths)
    memory_lengths = [length for length in lengths if length >= 16]
    memory = measure_memory(memory_lengths, width=2**12, poor_limit=256)
    timing = time_strategies(
        arguments.depth, arguments.width, arguments.batch, arguments.repetitions, warmup=3
    )
    document = {
        "command": "OMP_NUM_THREADS=1 python benchmarks/checkpointing.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
        },
        "counts": counts,
        "memory": {
            "rows": memory,
            "counted_slopes": slopes(counts, "peak_stored", smallest=16),
            "measured_slopes": slopes(memory, "peak_bytes", smallest=16),
        },
        "timing": timing,
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(document, indent=2)
    print(text)
    if arguments.output:
        with open(arguments.output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
