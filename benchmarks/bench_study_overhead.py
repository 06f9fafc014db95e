"""Per-task overhead of the study machinery on a study with trivial work.

Run from the repository root (one BLAS thread per task: threadpoolctl in-process,
OMP_NUM_THREADS=1 and friends in the worker processes)::

    python benchmarks/bench_study_overhead.py [--tasks 400] [--workers 2]

A study of ``--tasks`` tasks, each one replicate of a depth-1 chain of 2×2 ``ginibre``
factors, so the computation is a few milliseconds. Prints:

1. the baseline: the in-process computation of one task (``compute_task``: generator and
   chain analysis, no I/O), CPU time, best of 3 passes over all tasks;
2. in-process (synchronous) and on a local cluster of ``--workers`` processes: the wall time
   per task of the task phase (cluster start-up excluded), the CPU time per task (main
   process, which runs the scheduler, plus the workers), and the overhead per task,
   ``CPU per task − baseline``: the work spent on anything but the computation (scheduling,
   shipping tasks, writing the store and the completion flag). Target: at most 10 ms.
   The CPU-based overhead does not grow when other programs share the cores; the wall-based
   one, ``wall × workers / tasks − baseline``, is printed too.
"""

from __future__ import annotations

import argparse
import time

from _study_timing import task_phase

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
    context = TaskContext(
        "unused",
        config.config_hash(),
        config.kind,
        config.study.seed,
        config.estimate.charts,
        config.estimate.bounds,
        None,
        False,
        layout,
    )
    tasks = grid.tasks()
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for task in tasks:
            compute_task(task, context)
        best = min(best, (time.process_time() - start) / len(tasks))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    text = TRIVIAL.format(tasks=args.tasks)
    work = baseline_seconds(text)
    print(f"tasks: {args.tasks}; baseline computation per task: {1e3 * work:.2f} ms")
    for label, workers in (("in-process", None), (f"{args.workers} workers", args.workers)):
        phase = task_phase(text, workers=workers, warm_up=TRIVIAL.format(tasks=20))
        wall, cpu = phase.wall / args.tasks, phase.cpu / args.tasks
        overhead = cpu - work
        wall_overhead = wall * (workers or 1) - work
        print(
            f"{label:>11}: wall {1e3 * wall:6.2f} ms/task, CPU {1e3 * cpu:6.2f} ms/task, "
            f"overhead {1e3 * overhead:6.2f} ms/task ({overhead / 0.010:.2f} of the 10 ms "
            f"target; wall-based {1e3 * wall_overhead:.2f} ms)"
        )


if __name__ == "__main__":
    main()
