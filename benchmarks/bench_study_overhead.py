"""Per-task overhead of the study machinery on a study with trivial work.

Run from the repository root (one BLAS thread per process, set through OMP_NUM_THREADS and
friends before numpy loads)::

    python benchmarks/bench_study_overhead.py [--tasks 400] [--workers 2]

A study of ``--tasks`` tasks, each one replicate of a depth-1 chain of 2×2 ``ginibre``
factors, so the computation is a few milliseconds. Prints:

1. the baseline: the in-process computation of one task (``compute_task``: generator and
   chain analysis, no I/O), best of 3 passes over all tasks;
2. for the synchronous scheduler and for a local cluster of ``--workers`` processes, the wall
   time per task of the task phase (cluster start-up excluded) and the overhead per task:
   ``wall × workers / tasks − baseline``, the worker time not spent computing (scheduling,
   shipping the task, writing the store, the completion flag). Target: at most 10 ms.
"""

from __future__ import annotations

import argparse
import time

from _study_timing import task_phase_seconds

from specalign.studies import Grid, parse_config
from specalign.studies.layout import build_layout
from specalign.studies.task import TaskContext, compute_task

TRIVIAL = """
[study]
name = "overhead"
seed = 1
replicates = {tasks}
task_size = 1

[generator]
kind = "ginibre"
d = 2
depth = 1

[estimate]
charts = ["ls"]
bounds = ["margin"]
"""


def baseline_seconds(text: str) -> float:
    """Best-of-3 in-process time of ``compute_task`` per task (no store, no scheduler)."""
    config = parse_config(text)
    grid = Grid.from_config(config)
    layout = build_layout(config, grid)
    context = TaskContext("unused", config.config_hash(), config.kind, config.study.seed,
                          config.estimate.charts, config.estimate.bounds, None, False, layout)
    tasks = grid.tasks()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for task in tasks:
            compute_task(task, context)
        best = min(best, (time.perf_counter() - start) / len(tasks))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    text = TRIVIAL.format(tasks=args.tasks)
    work = baseline_seconds(text)
    print(f"tasks: {args.tasks}; baseline computation per task: {1e3 * work:.2f} ms")
    for scheduler, workers in (("synchronous", 1), ("local", args.workers)):
        wall = task_phase_seconds(text, scheduler=scheduler, workers=workers)
        per_task = wall / args.tasks
        overhead = wall * workers / args.tasks - work
        print(f"{scheduler:>11} x{workers}: wall {1e3 * per_task:6.2f} ms/task, overhead "
              f"{1e3 * overhead:6.2f} ms/task ({overhead / 0.010:.2f} of the 10 ms target)")


if __name__ == "__main__":
    main()
