"""Shared helpers of the study benchmarks: time the task phase of a run.

The task phase starts when :func:`~specalign.studies.run_study` announces the tasks (after the
cluster is up and the store exists) and ends with the last task's outcome: cluster start-up
and the final opening of the dataset are excluded.
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy loads BLAS: one thread per process

import tempfile
import time
from pathlib import Path

from specalign.studies import parse_config, run_study


class TimedStream:
    """A text stream that records when the run announces its tasks and when it ends."""

    def __init__(self):
        self.start = None
        self.end = None

    def write(self, text: str) -> None:
        now = time.perf_counter()
        if self.start is None and "tasks to run" in text:
            self.start = now
        self.end = now

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True  # one write per finished task: the last one is the end of the phase


def task_phase_seconds(config_text: str, *, scheduler: str, workers: int | None) -> float:
    """Wall time of the task phase of one fresh run of ``config_text``."""
    config = parse_config(config_text)
    with tempfile.TemporaryDirectory() as directory:
        stream = TimedStream()
        run_study(config, store=Path(directory) / "bench.zarr", scheduler=scheduler,
                  workers=workers, progress=stream)
        return stream.end - stream.start
