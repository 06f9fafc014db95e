"""Benchmark the spectrum pipeline against a bare batched SVD timed in the same run.

Pipeline: ``spectrum(A)`` + ``fit_exponent(lam, chart="ls")`` + ``top_radial(lam)``.
Baseline: ``numpy.linalg.svd(A, compute_uv=False)`` on the same batch.

Two batches of ``R`` matrices ``d×d`` (default 256 of 256×256):

* ``gaussian``: entries N(0, 1), condition number ~ d: the Gram route cannot certify
  ``rtol = 1e-10``, the probe sends the batch to the SVD. Target ratio <= 1.15.
* ``near-identity``: ``I + 0.3 G/√d``: the Gram route is certified. Target ratio <= 0.5.

Each ratio is the best pipeline time over the best baseline time, both the best of
``--repeats`` runs interleaved (baseline, pipeline, baseline, ...) so that load from other
processes hits both alike. Run once with BLAS pinned to one thread (threadpoolctl) and once
with the default thread count. Usage::

    python benchmarks/bench_spectrum.py [--batch 256] [--dim 256] [--repeats 5]
                                        [--threads 1|default|both]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from specalign.estimators.charts import fit_exponent
from specalign.estimators.coordinates import top_radial
from specalign.estimators.spectra import spectrum

TARGETS = {"gaussian": 1.15, "near-identity": 0.5}


def make_batches(batch: int, dim: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    gaussian = rng.standard_normal((batch, dim, dim))
    near_identity = np.eye(dim) + 0.3 * rng.standard_normal((batch, dim, dim)) / np.sqrt(dim)
    return {"gaussian": gaussian, "near-identity": near_identity}


def baseline(A: np.ndarray) -> None:
    np.linalg.svd(A, compute_uv=False)


def pipeline(A: np.ndarray) -> None:
    lam = spectrum(A)
    fit_exponent(lam, chart="ls")
    top_radial(lam)


def best_times(A: np.ndarray, repeats: int) -> tuple[float, float]:
    best_base = best_pipe = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        baseline(A)
        best_base = min(best_base, time.perf_counter() - start)
        start = time.perf_counter()
        pipeline(A)
        best_pipe = min(best_pipe, time.perf_counter() - start)
    return best_base, best_pipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument(
        "--threads",
        choices=("1", "default", "both"),
        default="both",
        help="BLAS threads: pinned to 1, the library default, or both runs (default)",
    )
    args = parser.parse_args()
    settings = {"1": (1,), "default": (None,), "both": (1, None)}[args.threads]

    batches = make_batches(args.batch, args.dim, args.seed)
    blas = ", ".join(
        f"{info['internal_api']} {info.get('version')} ({info['num_threads']} threads)"
        for info in threadpool_info()
    )
    print(f"{args.batch} matrices {args.dim}×{args.dim}, best of {args.repeats}; BLAS: {blas}")
    print(
        f"{'batch':<14} {'threads':<8} {'svd [s]':>8} {'pipeline [s]':>13} "
        f"{'ratio':>6} {'target':>7} {'gram route':>11}"
    )
    for threads in settings:
        with threadpool_limits(limits=threads):
            for name, A in batches.items():
                route = spectrum(A, return_route=True)[1]
                base, pipe = best_times(A, args.repeats)
                label = "1" if threads == 1 else "default"
                ratio = pipe / base
                verdict = "ok" if ratio <= TARGETS[name] else "MISSED"
                print(
                    f"{name:<14} {label:<8} {base:8.3f} {pipe:13.3f} {ratio:6.3f} "
                    f"{'<=' + str(TARGETS[name]):>7} {route.mean():10.0%}  {verdict}"
                )


if __name__ == "__main__":
    main()
