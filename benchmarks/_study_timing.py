"""Shared helpers of the study benchmarks: time the task phase of a run, wall and CPU.

The task phase starts when :func:`~specalign.studies.run_study` announces the tasks (after the
cluster is up and the store exists) and ends with the last task's outcome: cluster start-up
and the final opening of the dataset are excluded. Every task
runs with one BLAS thread (threadpoolctl in-process; OMP_NUM_THREADS=1 and friends in the
worker processes).

CPU time (the main process, which also runs the local cluster's scheduler, plus every
worker process) is reported beside wall time because it does not grow when other programs
share the machine's cores.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from specalign.studies import parse_config, run_study
from specalign.studies.executors import BLAS_ENV, WORKER_CONFIG_ENV


class TaskPhase(NamedTuple):
    wall: float  # seconds
    cpu: float  # seconds, main process + workers


class TimedStream:
    """A text stream that records when the run announces its tasks and when it ends."""

    def __init__(self):
        self.start = self.end = None
        self.cpu_start = self.cpu_end = None

    def write(self, text: str) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        if self.start is None and "tasks to run" in text:
            self.start, self.cpu_start = now, cpu
        self.end, self.cpu_end = now, cpu

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True  # one write per finished task: the last one is the end of the phase


def _worker_cpu() -> float:
    return time.process_time()


def task_phase(config_text: str, *, workers: int | None, warm_up: str) -> TaskPhase:
    """Task phase of one fresh run: in-process (``workers=None``) or on a local cluster.

    ``warm_up`` is a small study run first, on the same process or cluster, to pay the
    one-time costs (imports, first calls into scipy and xarray): start-up, not per-task work.
    """
    config = parse_config(config_text)
    with tempfile.TemporaryDirectory() as directory:
        store = Path(directory) / "bench.zarr"
        stream = TimedStream()
        if workers is None:
            run_study(
                parse_config(warm_up),
                store=Path(directory) / "warm-up.zarr",
                scheduler="synchronous",
            )
            run_study(config, store=store, scheduler="synchronous", progress=stream)
            return TaskPhase(stream.end - stream.start, stream.cpu_end - stream.cpu_start)
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                env={**BLAS_ENV, **WORKER_CONFIG_ENV},
            ) as cluster,
            Client(cluster) as client,
        ):
            run_study(
                parse_config(warm_up),
                store=Path(directory) / "warm-up.zarr",
                scheduler=cluster.scheduler_address,
            )
            before = sum(client.run(_worker_cpu).values())
            run_study(config, store=store, scheduler=cluster.scheduler_address, progress=stream)
            after = sum(client.run(_worker_cpu).values())
        cpu = stream.cpu_end - stream.cpu_start + after - before
        return TaskPhase(stream.end - stream.start, cpu)
