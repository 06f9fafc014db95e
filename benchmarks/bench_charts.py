"""Speed of the vectorized ``gibbs`` and ``hellinger`` charts against per-spectrum brentq loops.

Run: ``python benchmarks/bench_charts.py [--spectra 10000] [--d 1024] [--subset 500]``

Both sides run single-threaded (threadpoolctl limits BLAS to one thread) and solve the same
equations with the same tolerance (``xtol = atol = 1e-12``, ``rtol = 4 eps``):

- gibbs: ``μ(α) = Σ p_k log k``;
- hellinger: ``g(α) = μ(α) − E_{q_α}[log k] = 0``, ``q_{α,k} ∝ √p_k k^(−α/2)``.

The baseline is a lean per-spectrum loop (plain numpy, one ``exp`` of length ``d`` per
function evaluation, ``p`` or ``√p`` computed once per spectrum) calling
``scipy.optimize.brentq`` on ``[0, alpha_max]``. It is timed on the first ``--subset``
spectra and scaled to the whole batch (stated in the output); the vectorized charts are
timed on the whole batch (best of ``--repeat`` runs). Both timings come from the same run,
as wall-clock and as CPU (process) time: on a shared machine the CPU-time ratio is the
steadier measure of work. The script also checks that both sides agree.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from specalign.estimators.charts import gibbs, hellinger
from specalign.estimators.charts._solve import DEFAULT_ATOL, DEFAULT_RTOL

ALPHA_MAX = 50.0


def noisy_power_laws(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted, normalized log-spectra: power laws ``α ~ U(0.2, 3)`` with log-normal noise."""
    x = np.log(np.arange(1, d + 1.0))
    alpha = rng.uniform(0.2, 3.0, n)
    h = -alpha[:, None] * x + rng.normal(0.0, 0.3, (n, d))
    h = -np.sort(-h, axis=1)
    return h - logsumexp(h, axis=1, keepdims=True) + np.log(d)


def gibbs_brentq(h: np.ndarray) -> np.ndarray:
    d = h.shape[1]
    x = np.log(np.arange(1, d + 1.0))
    out = np.empty(h.shape[0])
    for b, row in enumerate(h):
        p = np.exp(row - row[0])
        target = (p @ x) / p.sum()

        def moment(alpha, target=target):
            t = np.exp(-alpha * x)
            return (t @ x) / t.sum() - target

        if moment(0.0) <= 0:
            out[b] = 0.0
        elif moment(ALPHA_MAX) > 0:
            out[b] = ALPHA_MAX
        else:
            out[b] = brentq(moment, 0.0, ALPHA_MAX, xtol=DEFAULT_ATOL, rtol=DEFAULT_RTOL)
    return out


def hellinger_brentq(h: np.ndarray) -> np.ndarray:
    d = h.shape[1]
    x = np.log(np.arange(1, d + 1.0))
    out = np.empty(h.shape[0])
    for b, row in enumerate(h):
        s = np.exp(0.5 * (row - row[0]))

        def stationarity(alpha, s=s):
            t = np.exp(-0.5 * alpha * x)
            w = s * t
            t *= t
            return (t @ x) / t.sum() - (w @ x) / w.sum()

        if stationarity(0.0) <= 0:
            out[b] = 0.0
        elif stationarity(ALPHA_MAX) > 0:
            out[b] = ALPHA_MAX
        else:
            out[b] = brentq(stationarity, 0.0, ALPHA_MAX, xtol=DEFAULT_ATOL, rtol=DEFAULT_RTOL)
    return out


def best_time(function, *args, repeat: int) -> tuple[float, float, object]:
    """Best wall-clock and best CPU (process) time of ``repeat`` calls, and the last result."""
    best_wall, best_cpu, result = np.inf, np.inf, None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function(*args)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spectra", type=int, default=10_000)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--subset", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args()

    h = noisy_power_laws(args.spectra, args.d, np.random.default_rng(args.seed))
    subset = h[: args.subset]
    scale = args.spectra / args.subset
    print(
        f"{args.spectra} spectra, d = {args.d}, one BLAS thread; brentq loop timed on "
        f"{args.subset} spectra and scaled x{scale:g}"
    )
    with threadpool_limits(limits=1):
        gibbs.fit(h[:2])  # fill the shared table of the Gibbs family once, like a long run
        for name, chart, baseline in (
            ("gibbs", gibbs.fit, gibbs_brentq),
            ("hellinger", hellinger.fit, hellinger_brentq),
        ):
            vector_wall, vector_cpu, estimate = best_time(chart, h, repeat=args.repeat)
            loop_wall, loop_cpu, reference = best_time(baseline, subset, repeat=1)
            agreement = np.max(np.abs(estimate.alpha[: args.subset] - reference))
            print(
                f"{name:10s} vectorized {vector_wall:6.3f} s wall, {vector_cpu:6.3f} s CPU | "
                f"brentq loop {loop_wall * scale:6.2f} s wall, {loop_cpu * scale:6.2f} s CPU "
                f"({1e6 * loop_cpu / args.subset:5.0f} us/spectrum) | ratio "
                f"{loop_wall * scale / vector_wall:5.1f}x wall, "
                f"{loop_cpu * scale / vector_cpu:5.1f}x CPU | max |alpha diff| {agreement:.1e}"
            )


if __name__ == "__main__":
    main()
