"""Benchmark the orbit module against a direct-sum baseline timed in the same run.

Run: ``python benchmarks/bench_orbit.py`` (BLAS limited to one thread with threadpoolctl).
Prints seconds and ratios; the baseline is the textbook evaluation of ``μ(α)`` by an explicit
``(batch, d)`` sum over ranks, i.e. one moment evaluation with no Euler–Maclaurin tail.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from specalign.estimators import orbit


def best_of(repeats: int, function, *args) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def direct_mean_log_rank(alpha: np.ndarray, d: int) -> np.ndarray:
    x = np.log(np.arange(1, d + 1, dtype=np.float64))
    logp = -alpha[:, None] * x
    logp -= logsumexp(logp, axis=1, keepdims=True)
    return np.exp(logp) @ x


def main() -> None:
    rng = np.random.default_rng(0)
    with threadpool_limits(1):
        for d, batch in ((1024, 10_000), (100_000, 200)):
            alpha = rng.uniform(0, 10, batch)
            mu = orbit.mean_log_rank(alpha, d)
            baseline = best_of(3, direct_mean_log_rank, alpha, d)
            moments = best_of(3, orbit.mean_log_rank, alpha, d)
            inverse = best_of(3, orbit.alpha_from_mean_log_rank, mu, d)
            print(f"d={d} batch={batch}: direct-sum μ (baseline) {baseline:.4f} s")
            print(f"  mean_log_rank            {moments:.4f} s  ratio {moments / baseline:.3f}")
            print(f"  alpha_from_mean_log_rank {inverse:.4f} s  ratio {inverse / baseline:.3f}")
        d, batch = 10**6, 1000
        alpha = rng.uniform(0, 3, batch)
        beta = rng.uniform(0, 3, batch)
        reference = best_of(3, orbit.fisher_information, alpha, d)
        print(f"d={d} batch={batch}: fisher_information {reference:.4f} s (unit)")
        for name in ("kl_orbit", "fisher_rao_length", "fisher_kl_bounds"):
            elapsed = best_of(1, getattr(orbit, name), alpha, beta, d)
            print(f"  {name:<22} {elapsed:.4f} s  ratio {elapsed / reference:.1f}")


if __name__ == "__main__":
    main()
