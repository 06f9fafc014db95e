"""Where tasks run: in-process, dask's threaded scheduler, or a dask.distributed cluster.

A session's ``run`` takes the pending tasks and a callback, runs :func:`run_task` on every
task and calls the callback with each :class:`TaskOutcome` as it arrives. The workers write
their own results into the store; only the small outcome travels back.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from ..errors import ConfigError
from .grid import Task
from .task import TaskContext, TaskOutcome, run_batch, run_task

__all__ = [
    "BLAS_ENV",
    "Execution",
    "Session",
    "batch_tasks",
    "check_backend",
    "distributed_client",
    "open_session",
]

#: Environment of worker processes: one BLAS/OpenMP thread each (parallelism is in tasks).
BLAS_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}

#: Dask settings of the local cluster's workers. The statistical profiler samples every
#: thread's stack each 10 ms (it feeds only the dashboard's profile page), and the 20 ms
#: event-loop tick and 100 ms memory monitor keep waking the worker's event loop: each wake
#: takes the GIL from the task thread, which costs most during a task's many small file
#: writes. Together they more than doubled the CPU time of small tasks
#: (benchmarks/bench_study_overhead.py).
WORKER_CONFIG_ENV = {
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1000ms",
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1000ms",
}

Callback = Callable[[TaskOutcome], None]


class Execution(NamedTuple):
    """Resolved execution settings (never recorded in the store)."""

    scheduler: str
    workers: int | None
    threads_per_worker: int
    jobqueue: dict[str, Any]


def check_backend(execution: Execution) -> None:
    """Fail early (before anything is written) when the backend cannot be used."""
    if execution.scheduler in ("slurm", "pbs"):
        try:
            import dask_jobqueue  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"execution.scheduler = {execution.scheduler!r} needs dask-jobqueue, which is "
                "not installed: pip install 'specalign[cluster]'"
            ) from None


class Session(NamedTuple):
    """An open backend: ``run(tasks, context, on_done)`` and the dashboard address."""

    run: Callable[[list[Task], TaskContext, Callback], None]
    dashboard: str | None


@contextlib.contextmanager
def open_session(execution: Execution) -> Iterator[Session]:
    """Start (or connect to) the backend; stop what was started on exit.

    Connecting comes before the store is touched, so an unreachable scheduler leaves
    nothing written.
    """
    if execution.scheduler == "synchronous":
        yield Session(_run_synchronous, None)
    elif execution.scheduler == "threads":
        yield Session(lambda *args: _run_threaded(*args, workers=execution.workers), None)
    else:
        with distributed_client(execution) as client:
            run = functools.partial(_run_distributed, client, workers=execution.workers)
            yield Session(run, client.dashboard_link)


def _run_synchronous(tasks, context, on_done) -> None:
    with _single_blas_thread(), warnings.catch_warnings():
        for task in tasks:
            on_done(run_task(task, context, limit_blas=False))


@contextlib.contextmanager
def _single_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _run_threaded(tasks, context, on_done, *, workers) -> None:
    import dask
    from dask.callbacks import Callback as DaskCallback

    def posttask(key, result, dsk, state, worker_id):
        if isinstance(result, TaskOutcome):
            on_done(result)

    calls = [dask.delayed(run_task, pure=False)(task, context, limit_blas=False) for task in tasks]
    # the outer catch_warnings restores the warning filters once every thread is done:
    # the tasks' own (thread-unsafe) catch_warnings may interleave
    with _single_blas_thread(), warnings.catch_warnings(), DaskCallback(posttask=posttask):
        dask.compute(*calls, scheduler="threads", num_workers=workers)


def _run_distributed(client, tasks, context, on_done, *, workers: int | None) -> None:
    from distributed import as_completed

    n_workers = len(client.nthreads()) or workers or 1
    batches = batch_tasks(tasks, n_workers)
    # the context goes to the workers once, not with every task
    shared = client.scatter(context, broadcast=True, hash=False)
    futures = client.map(run_batch, batches, context=shared, pure=False)
    try:
        for future in as_completed(futures):
            for outcome in future.result():
                on_done(outcome)
    finally:
        client.cancel([*futures, shared])


#: Estimated seconds a batch should take: long enough that the scheduler's few
#: milliseconds per task are negligible, short enough for progress and for load balance.
BATCH_SECONDS = 1.0
_FLOPS_PER_SECOND = 2e9
_SECONDS_PER_CHAIN_CALL = 0.01  # fixed cost of one generator + analyze_chain call


def estimated_seconds(task: Task) -> float:
    """Rough single-core time of a task (the flop count of :func:`.grid.work_estimate`)."""
    d, depth = int(task.params["d"]), int(task.params["depth"])
    flops = (task.stop - task.start) * depth * (3 * (4 + 8 / 3) + 2) * d**3
    return _SECONDS_PER_CHAIN_CALL + flops / _FLOPS_PER_SECOND


def batch_tasks(tasks: list[Task], n_workers: int) -> list[list[Task]]:
    """Group consecutive tasks into scheduler tasks of about :data:`BATCH_SECONDS`.

    At least four batches per worker are kept (load balance), and a task estimated to take
    longer than :data:`BATCH_SECONDS` stays alone. The grouping changes only the scheduling:
    each task still writes its own chunks and completion flag.
    """
    max_size = max(1, len(tasks) // (4 * max(n_workers, 1)))
    batches: list[list[Task]] = []
    current: list[Task] = []
    seconds = 0.0
    for task in tasks:
        cost = estimated_seconds(task)
        if current and (len(current) >= max_size or seconds + cost > BATCH_SECONDS):
            batches.append(current)
            current, seconds = [], 0.0
        current.append(task)
        seconds += cost
    if current:
        batches.append(current)
    return batches


@contextlib.contextmanager
def distributed_client(execution: Execution) -> Iterator[Any]:
    """A dask.distributed client for the configured scheduler; closes what it started."""
    from distributed import Client, LocalCluster

    scheduler = execution.scheduler
    if scheduler.startswith(("tcp://", "tls://")):
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise ConfigError(
                f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}"
            ) from None
        with client:
            yield client
        return
    if scheduler == "local":
        n_workers = execution.workers or os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=execution.threads_per_worker,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            env={**BLAS_ENV, **WORKER_CONFIG_ENV},
        )
    else:
        import dask_jobqueue

        cluster_class = {"slurm": dask_jobqueue.SLURMCluster, "pbs": dask_jobqueue.PBSCluster}
        try:
            cluster = cluster_class[scheduler](**execution.jobqueue)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"execution.jobqueue: {exc}") from None
        cluster.scale(n=execution.workers or 1)
    with cluster, Client(cluster) as client:
        if scheduler in ("slurm", "pbs"):
            client.wait_for_workers(1)  # batch jobs may queue; scatter needs a worker
        yield client
