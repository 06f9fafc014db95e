"""Parallel speed-up of a study with real work: 2 workers against 1.

Run from the repository root (one BLAS thread per task: threadpoolctl in-process,
OMP_NUM_THREADS=1 and friends in the worker processes)::

    python benchmarks/bench_study_scaling.py [--replicates 32] [--d 64] [--depth 24]

A 4-cell ``orbit`` study (slack × noise) with tasks of 4 replicates. Prints the wall time of
the task phase (cluster start-up excluded) on a local cluster of 1 and of 2 worker
processes, timed in the same run, and their ratio; and the CPU time of each run. Target: at
most 0.6 on 2 free cores (0.5 is perfect scaling). Other processes on the machine inflate the
ratio: run it on an idle machine.
"""

from __future__ import annotations

import argparse

from _study_timing import task_phase

STUDY = """
[study]
name = "scaling"
seed = 2
replicates = {replicates}
task_size = 4

[generator]
kind = "orbit"
d = {d}
depth = {depth}
step = 0.1
noise_modes = 1

[sweep]
slack = [0.0, 1.0]
noise = [0.0, 0.01]

[estimate]
charts = ["ls"]
bounds = ["margin", "displacement", "apriori"]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=32)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--depth", type=int, default=24)
    args = parser.parse_args()
    text = STUDY.format(replicates=args.replicates, d=args.d, depth=args.depth)
    warm_up = STUDY.format(replicates=4, d=args.d, depth=2)
    one = task_phase(text, workers=1, warm_up=warm_up)
    two = task_phase(text, workers=2, warm_up=warm_up)
    tasks = 4 * -(-args.replicates // 4)  # 4 cells x replicate blocks of 4
    print(f"{tasks} tasks of 4 chains (d = {args.d}, depth = {args.depth})")
    print(
        f"1 worker: {one.wall:.2f} s; 2 workers: {two.wall:.2f} s; ratio "
        f"{two.wall / one.wall:.3f} (target <= 0.6)"
    )
    print(
        f"CPU: 1 worker {one.cpu:.2f} s, 2 workers {two.cpu:.2f} s (equal when the parallel run "
        "adds no work; the wall ratio means something only on otherwise idle cores)"
    )


if __name__ == "__main__":
    main()
