"""Interrupted and faulty runs on real processes give the complete, identical dataset.

- the CLI killed with SIGKILL midway (its whole process group: scheduler and workers), then
  resumed (``resume=True``, what ``--resume`` calls): bitwise equal to an uninterrupted run;
- a real ``dask scheduler`` with two ``dask worker`` processes on 127.0.0.1, one worker
  killed mid-run: the study still completes, bitwise equal.

Every process a test starts is stopped in a ``finally`` block.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from studies_support import assert_bitwise_equal, write_config

from specalign.errors import StoreError
from specalign.studies import completion_mask, load_config, open_study, run_study

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(300)]

#: 16 tasks of about 0.2 s each: long enough to interrupt midway.
KILLABLE = """
[study]
name = "killable"
seed = 5
replicates = 8
task_size = 1

[generator]
kind = "orbit"
d = 32
depth = 32
step = 0.1

[sweep]
slack = [0.0, 1.0]

[estimate]
charts = ["ls"]
bounds = ["margin", "displacement"]
"""

BLAS_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def killable(tmp_path_factory):
    """The config path and its uninterrupted, in-process result."""
    directory = tmp_path_factory.mktemp("killable")
    path = write_config(directory, KILLABLE)
    reference = run_study(
        load_config(path), store=directory / "reference.zarr", scheduler="synchronous"
    ).load()
    return path, reference


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "specalign.cli", *map(str, args)]


def _done(store: Path) -> int:
    try:
        return int(completion_mask(store).sum())
    except StoreError:
        return 0  # not created yet


def _wait_for_tasks(store: Path, at_least: int, process, timeout: float = 120.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = _done(store)
        if done >= at_least:
            return done
        if process.poll() is not None:
            raise AssertionError(f"the run ended early with code {process.returncode}")
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} tasks done after {timeout} s")


def _kill_group(process) -> None:
    """SIGKILL a process group started with start_new_session, and wait until it is gone."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def test_sigkill_midway_then_resume_is_bitwise_identical(killable, tmp_path):
    config, reference = killable
    store = tmp_path / "killed.zarr"
    env = {**os.environ, **BLAS_ENV}
    with open(tmp_path / "killed.log", "wb") as log:
        process = subprocess.Popen(
            _cli(
                "run",
                config,
                "--output",
                store,
                "--scheduler",
                "local",
                "--workers",
                "2",
                "--no-plots",
            ),
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            _wait_for_tasks(store, 3, process)
        finally:
            _kill_group(process)
    done = _done(store)
    assert 3 <= done < 16, f"kill came too late ({done} of 16 tasks done)"
    with pytest.raises(StoreError, match="--resume"):
        run_study(load_config(config), store=store, scheduler="synchronous")
    log = io.StringIO()
    resumed = run_study(
        load_config(config), store=store, resume=True, scheduler="threads", workers=2, progress=log
    )
    assert f"{16 - done} of 16 tasks to run" in log.getvalue()
    assert_bitwise_equal(reference, resumed.load())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_workers(address: str, count: int, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(count, timeout=timeout)


def test_tcp_cluster_survives_a_killed_worker(killable, tmp_path):
    config, reference = killable
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, **BLAS_ENV}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    processes = []
    try:
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-dashboard",
                ],
                **quiet,
            )
        )
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                **quiet,
            )
            for _ in range(2)
        ]
        processes.extend(workers)
        _wait_for_workers(address, 2)
        store = tmp_path / "tcp.zarr"
        run = subprocess.Popen(
            _cli("run", config, "--output", store, "--scheduler", address, "--no-plots"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        processes.append(run)
        _wait_for_tasks(store, 2, run)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=30)
        _, err = run.communicate(timeout=240)
        assert run.returncode == 0, err
        assert "dashboard:" in err
        ds = open_study(store, load=True)
        assert ds["task_done"].values.all()
        assert_bitwise_equal(reference, ds)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
