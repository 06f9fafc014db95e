"""Benchmark the graded product stream against the explicit running product.

Run from the repository root (single BLAS thread, set through threadpoolctl)::

    python benchmarks/bench_graded.py [--replicates 32] [--dimension 128] [--depth 64]

Prints, for ``R`` replicates of a ``d × d`` chain of ``L`` factors ``I + 0.3 G/√d``:

1. the time per interface of the graded stream (one ``graded_multiply`` and one
   ``graded_log_singular_values``) and of the explicit stream (one batched matmul and one
   batched values-only SVD of ``J``), and their ratio (target: at most 1.5);
2. the peak traced memory (tracemalloc) of a streamed graded chain at ``L = 512`` and
   ``L = 4096`` (smaller ``R``, ``d``), and their ratio (target: within 10% of 1).

Both streams are timed alternately in the same run, best of ``--repeats`` runs each.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

from specalign.estimators.graded import (
    graded_identity,
    graded_log_singular_values,
    graded_multiply,
)

STRENGTH = 0.3
POOL = 8  # distinct factor batches, cycled, so the factors are not generated in the timed loop


def factor_pool(rng: np.random.Generator, replicates: int, d: int) -> np.ndarray:
    noise = rng.standard_normal((POOL, replicates, d, d))
    return np.eye(d) + STRENGTH * noise / np.sqrt(d)


def graded_stream(pool: np.ndarray, depth: int) -> np.ndarray:
    state = graded_identity(pool.shape[1:2], pool.shape[-1])
    for layer in range(depth):
        state = graded_multiply(state, pool[layer % POOL])
        logs = graded_log_singular_values(state)
    return logs


def explicit_stream(pool: np.ndarray, depth: int) -> np.ndarray:
    J = np.broadcast_to(np.eye(pool.shape[-1]), pool.shape[1:]).copy()
    for layer in range(depth):
        J = pool[layer % POOL] @ J
        logs = np.log(np.linalg.svd(J, compute_uv=False))
    return logs


def best_time(run, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def peak_memory(depth: int, replicates: int, d: int, seed: int) -> int:
    """Peak traced bytes of a streamed graded chain of ``depth`` factors made on the fly."""
    rng = np.random.default_rng(seed)
    tracemalloc.start()
    state = graded_identity((replicates,), d)
    for _ in range(depth):
        factor = np.eye(d) + STRENGTH * rng.standard_normal((replicates, d, d)) / np.sqrt(d)
        state = graded_multiply(state, factor)
        graded_log_singular_values(state)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=32)
    parser.add_argument("--dimension", type=int, default=128)
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-replicates", type=int, default=4)
    parser.add_argument("--memory-dimension", type=int, default=32)
    args = parser.parse_args()
    rng = np.random.default_rng(20261203)
    pool = factor_pool(rng, args.replicates, args.dimension)
    with threadpool_limits(limits=1):
        graded_stream(pool, 2)  # warm-up
        explicit_stream(pool, 2)
        graded, explicit = np.inf, np.inf
        for _ in range(args.repeats):  # alternate, so both see the same machine load
            graded = min(graded, best_time(lambda: graded_stream(pool, args.depth), 1))
            explicit = min(explicit, best_time(lambda: explicit_stream(pool, args.depth), 1))
        per = 1e3 / args.depth
        print(
            f"R={args.replicates} d={args.dimension} L={args.depth} (1 BLAS thread): "
            f"graded {graded * per:.2f} ms/interface, explicit {explicit * per:.2f} "
            f"ms/interface, ratio graded/explicit = {graded / explicit:.2f} (target <= 1.5)"
        )
        short = peak_memory(512, args.memory_replicates, args.memory_dimension, seed=1)
        long = peak_memory(4096, args.memory_replicates, args.memory_dimension, seed=1)
        print(
            f"peak traced memory, R={args.memory_replicates} d={args.memory_dimension}: "
            f"L=512 {short / 2**20:.3f} MiB, L=4096 {long / 2**20:.3f} MiB, "
            f"ratio {long / short:.3f} (target within 10% of 1)"
        )


if __name__ == "__main__":
    main()
