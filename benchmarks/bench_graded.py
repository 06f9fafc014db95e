"""Benchmark the graded product stream against the explicit running product.

Run from the repository root (single BLAS thread, set through threadpoolctl)::

    python benchmarks/bench_graded.py [--replicates 32] [--dimension 128] [--depth 64]

Prints, for ``R`` replicates of a ``d × d`` chain of ``L`` factors ``I + 0.3 G/√d``:

1. the time per interface of the graded stream (one ``graded_multiply`` and one
   ``graded_log_singular_values``) and of the explicit stream (one batched matmul and one
   batched values-only SVD of ``J``), and their ratio (target: at most 1.5); then the same
   with the values-only SVD of each factor batch added to both (work ``analyze_chain`` does
   per interface whichever product it keeps);
2. the peak traced memory (tracemalloc) of a streamed graded chain at ``L = 512`` and
   ``L = 4096`` (smaller ``R``, ``d``), and their ratio (target: within 10% of 1).

Both streams are timed alternately, interface by interface, in the same run (the machine is
shared, so the ratio is what to read), over ``--repeats`` runs.
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


def lockstep(pool: np.ndarray, depth: int, factor_svd: bool) -> tuple[float, float]:
    """Seconds spent in the graded and in the explicit stream, timed step by step in turn.

    Alternating the two streams interface by interface exposes both to the same machine
    load. With ``factor_svd`` each step of both streams also takes the values-only SVD of the
    factor batch, which ``analyze_chain`` computes anyway (r_l, κ_l).
    """
    d = pool.shape[-1]
    state = graded_identity(pool.shape[1:2], d)
    J = np.broadcast_to(np.eye(d), pool.shape[1:]).copy()
    graded = explicit = 0.0
    for layer in range(depth):
        factor = pool[layer % POOL]
        start = time.perf_counter()
        state = graded_multiply(state, factor)
        graded_log_singular_values(state)
        if factor_svd:
            np.linalg.svd(factor, compute_uv=False)
        middle = time.perf_counter()
        J = factor @ J
        np.log(np.linalg.svd(J, compute_uv=False))
        if factor_svd:
            np.linalg.svd(factor, compute_uv=False)
        end = time.perf_counter()
        graded += middle - start
        explicit += end - middle
    return graded, explicit


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
        lockstep(pool, 2, factor_svd=False)  # warm-up
        for factor_svd, label in ((False, "stream core"), (True, "with the factor SVD")):
            runs = [lockstep(pool, args.depth, factor_svd) for _ in range(args.repeats)]
            graded = min(r[0] for r in runs)
            explicit = min(r[1] for r in runs)
            ratios = sorted(r[0] / r[1] for r in runs)
            per = 1e3 / args.depth
            print(
                f"{label}: R={args.replicates} d={args.dimension} L={args.depth} "
                f"(1 BLAS thread): graded {graded * per:.2f} ms/interface, explicit "
                f"{explicit * per:.2f} ms/interface, ratio graded/explicit: best-times "
                f"{graded / explicit:.2f}, median of runs {ratios[len(ratios) // 2]:.2f} "
                "(target <= 1.5)"
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
