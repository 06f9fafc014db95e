"""Grouping of tasks into scheduler tasks, and backend checks."""

from __future__ import annotations

import pytest
from studies_support import SMALL

from specalign.errors import ConfigError
from specalign.studies import Grid, parse_config
from specalign.studies.executors import (
    BATCH_SECONDS,
    Execution,
    batch_tasks,
    check_backend,
    estimated_seconds,
)
from specalign.studies.runner import resolve_execution


def _tasks(text=SMALL):
    return Grid.from_config(parse_config(text)).tasks()


def test_small_tasks_are_grouped_but_keep_four_batches_per_worker():
    tasks = _tasks(SMALL.replace("replicates = 6", "replicates = 200"))  # 400 tiny tasks
    batches = batch_tasks(tasks, n_workers=2)
    assert [task for batch in batches for task in batch] == tasks  # order kept, none lost
    assert len(batches) == 8 and {len(batch) for batch in batches} == {50}


def test_tasks_longer_than_a_batch_stay_alone():
    text = SMALL.replace("d = 10", "d = 400").replace("depth = 5", "depth = 50")
    tasks = _tasks(text)
    assert estimated_seconds(tasks[0]) > BATCH_SECONDS
    assert all(len(batch) == 1 for batch in batch_tasks(tasks, n_workers=1))


def test_execution_overrides_and_backend_checks():
    config = parse_config(SMALL)
    assert resolve_execution(config).scheduler == "synchronous"
    execution = resolve_execution(config, "tcp://127.0.0.1:8786", 3)
    assert (execution.scheduler, execution.workers) == ("tcp://127.0.0.1:8786", 3)
    with pytest.raises(ConfigError, match=r"did you mean 'threads'"):
        resolve_execution(config, "thread")
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match=r"pip install 'specalign\[cluster\]'"):
            check_backend(Execution("pbs", None, 1, {}))
