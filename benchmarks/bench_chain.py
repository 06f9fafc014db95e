"""Benchmark analyze_chain against the bare linear algebra it needs, and its memory.

Run from the repository root::

    python benchmarks/bench_chain.py [--replicates 32] [--dimension 128] [--depth 64]

Prints, for ``R`` replicates of a ``d × d`` ``ginibre`` chain (``I + 0.3 G/√d``) of ``L``
factors, all timed in the same run with one BLAS thread (threadpoolctl), best of
``--repeats``:

1. ``analyze_chain`` (chart ``ls``, every bound but ``transport``) against the bare cost of
   the ``2L`` batched values-only SVDs and ``L`` batched matmuls an explicit analysis needs
   (issue target: at most 1.3);
2. the same with the ``transport`` bound (it needs ``‖A_l − I‖₂``, one more SVD per factor);
3. ``analyze_chain`` with the graded product against ``product="explicit"``
   (issue target: at most 1.5);
4. peak traced memory (tracemalloc) at ``L = 512`` against ``L = 64`` (streamed factors),
   in total and net of the returned dataset, whose O(R L) size is the result itself
   (target: working memory within 10%).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from threadpoolctl import threadpool_limits

from specalign.estimators.bounds import BOUNDS
from specalign.estimators.chain import analyze_chain

STRENGTH = 0.3


def make_factors(rng, depth, replicates, d):
    return np.eye(d) + STRENGTH * rng.standard_normal((depth, replicates, d, d)) / np.sqrt(d)


def bare(factors):
    J = np.broadcast_to(np.eye(factors.shape[-1]), factors.shape[1:]).copy()
    for A in factors:
        np.linalg.svd(A, compute_uv=False)
        J = A @ J
        np.linalg.svd(J, compute_uv=False)


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def peak_memory(depth, replicates, d):
    rng = np.random.default_rng(1)

    def stream():
        for _ in range(depth):
            yield np.eye(d) + STRENGTH * rng.standard_normal((replicates, d, d)) / np.sqrt(d)

    tracemalloc.start()
    ds = analyze_chain(stream(), charts=("ls",))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, ds.nbytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=32)
    parser.add_argument("--dimension", type=int, default=128)
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    factors = make_factors(np.random.default_rng(0), args.depth, args.replicates, args.dimension)
    no_transport = tuple(b for b in BOUNDS if b != "transport")
    with threadpool_limits(1):
        t_bare = best_of(lambda: bare(factors), args.repeats)
        t_chain = best_of(lambda: analyze_chain(factors, bounds=no_transport), args.repeats)
        t_all = best_of(lambda: analyze_chain(factors), args.repeats)
        t_explicit = best_of(
            lambda: analyze_chain(factors, bounds=no_transport, product="explicit"), args.repeats
        )
        print(f"R={args.replicates} d={args.dimension} L={args.depth}, 1 BLAS thread")
        print(f"bare 2L SVDs + L matmuls          {t_bare:8.3f} s")
        print(
            f"analyze_chain (no transport)      {t_chain:8.3f} s  ratio {t_chain / t_bare:.2f}"
            "  (target <= 1.3)"
        )
        print(f"analyze_chain (all bounds)        {t_all:8.3f} s  ratio {t_all / t_bare:.2f}")
        print(
            f"analyze_chain, explicit product   {t_explicit:8.3f} s  graded/explicit "
            f"{t_chain / t_explicit:.2f}  (target <= 1.5)"
        )
        size = dict(replicates=args.replicates, d=args.dimension // 2)
        peak_memory(8, **size)  # warm-up: lazy imports and caches are not chain memory
        (m64, out64), (m512, out512) = peak_memory(64, **size), peak_memory(512, **size)
        print(
            f"peak memory (R={size['replicates']}, d={size['d']}): L=64 {m64 / 1e6:.2f} MB, "
            f"L=512 {m512 / 1e6:.2f} MB, ratio {m512 / m64:.3f}"
        )
        print(
            f"  of which the returned dataset (O(R L) by nature): {out64 / 1e6:.2f} MB, "
            f"{out512 / 1e6:.2f} MB; working memory ratio "
            f"{(m512 - out512) / (m64 - out64):.3f}  (target within 10%)"
        )


if __name__ == "__main__":
    main()
