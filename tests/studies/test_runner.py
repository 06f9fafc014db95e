"""Running studies: bitwise reproducibility across schedulers, task sizes and resumes;
failures stored as values."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from studies_support import SMALL, assert_bitwise_equal, write_config

from specalign.studies import load_config, run_study, summarize
from specalign.studies.status import STATUS_ERROR, STATUS_OK, STATUS_SINGULAR
from specalign.studies.store import ChunkWriter
from specalign.studies.summary import format_summary

pytestmark = pytest.mark.timeout(300)


def test_reference_run_is_complete_and_ok(small_reference):
    ds = small_reference
    assert ds["task_done"].values.all()
    assert np.all(ds["status"].values == STATUS_OK)
    assert np.all(ds["status_message"].values == "")
    # aligned exact power laws (slack = noise = 0): the margin bound is attained
    tight = ds["tightness_margin"].isel(generator_slack=0, noise=0)
    np.testing.assert_allclose(tight.values, 1.0, rtol=1e-9)
    assert not ds["violation_margin"].values.any()


def test_threaded_scheduler_matches_in_process_bitwise(small_reference, tmp_path):
    ds = run_study(
        load_config(write_config(tmp_path)),
        store=tmp_path / "t.zarr",
        scheduler="threads",
        workers=2,
    )
    assert_bitwise_equal(small_reference, ds.load())


def test_task_size_does_not_change_the_numbers(small_reference, tmp_path):
    text = SMALL.replace("task_size = 2", "task_size = 4")
    ds = run_study(load_config(write_config(tmp_path, text)), store=tmp_path / "t.zarr")
    # the completion mask has one entry per task, so its shape follows the task size
    assert_bitwise_equal(small_reference.drop_vars("task_done"), ds.load().drop_vars("task_done"))


def test_resume_recomputes_only_the_unfinished_tasks(small_reference, tmp_path):
    config = load_config(write_config(tmp_path))
    path = tmp_path / "r.zarr"
    run_study(config, store=path)
    # simulate two interrupted tasks: garbage data, completion flag unset
    writer = ChunkWriter(path)
    for position, block in (((0, 1), 0), ((1, 1), 2)):
        coords = (*position, 0, block, 0)
        writer.write("exponent", coords, np.zeros((1, 1, 2, 2, 5)), np.nan)
        writer.write("task_done", (*position, block), np.zeros((1, 1, 1), bool), False)
    log = io.StringIO()
    ds = run_study(config, store=path, resume=True, progress=log)
    assert "2 of 12 tasks to run" in log.getvalue()
    assert_bitwise_equal(small_reference, ds.load())
    log = io.StringIO()
    run_study(config, store=path, resume=True, progress=log)  # complete: nothing to do
    assert "0 of 12 tasks to run" in log.getvalue()


FAILING = (
    SMALL.replace("slack = [0.0, 0.6]", "step = [0.2, 60.0]")
    .replace("noise = [0.0, 0.01]", "noise = [0.0, 0.05]")
    .replace("step = 0.2\n", "")
)


def test_failing_cells_are_stored_with_status_and_the_rest_completes(tmp_path):
    ds = run_study(load_config(write_config(tmp_path, FAILING)), store=tmp_path / "f.zarr")
    ds = ds.load()
    assert ds["task_done"].values.all()
    status = ds["status"]
    assert np.all(status.sel(step=0.2, noise=0.0).values == STATUS_OK)
    # noise above the orbit generator's order-preserving limit: refused at draw time
    assert np.all(status.sel(step=0.2, noise=0.05).values == STATUS_ERROR)
    message = str(ds["status_message"].sel(step=0.2, noise=0.05).values[0])
    assert message.startswith("InputError:") and "noise" in message
    # a step so large that the factors are numerically singular
    assert np.all(status.sel(step=60.0, noise=0.0).values == STATUS_SINGULAR)
    assert "RankDeficientError" in str(ds["status_message"].sel(step=60.0, noise=0.0).values[0])
    assert np.isnan(ds["exponent"].sel(step=60.0, noise=0.0).values).all()
    assert np.isfinite(ds["exponent"].sel(step=0.2, noise=0.0).values).all()
    summary = summarize(ds)
    np.testing.assert_array_equal(summary["replicates_failed"].values, [[0, 6], [6, 6]])
    np.testing.assert_array_equal(summary["replicates_ok"].values, [[6, 0], [0, 0]])
    text = format_summary(summary, ds)
    assert "6 ok, 18 failed, 0 pending" in text
    assert "6 x singular: RankDeficientError" in text


@pytest.mark.distributed
def test_one_and_two_workers_match_bitwise(small_reference, tmp_path):
    from distributed import Client, LocalCluster

    from specalign.studies.executors import BLAS_ENV

    config = load_config(write_config(tmp_path))
    log = io.StringIO()
    # one cluster of worker processes, scaled from 1 to 2 workers between the runs
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
        env=dict(BLAS_ENV),
    ) as cluster:
        one = run_study(
            config, store=tmp_path / "one.zarr", scheduler=cluster.scheduler_address, progress=log
        ).load()
        cluster.scale(2)
        with Client(cluster) as client:
            client.wait_for_workers(2, timeout=120)
        two = run_study(
            config, store=tmp_path / "two.zarr", scheduler=cluster.scheduler_address
        ).load()
    assert "dashboard: http://" in log.getvalue()
    assert "12/12 tasks" in log.getvalue()
    assert_bitwise_equal(small_reference, one)
    assert_bitwise_equal(small_reference, two)


SHAPES = (
    SMALL.replace("d = 10\n", "")
    .replace("depth = 5\n", "")
    .replace("slack = [0.0, 0.6]\nnoise = [0.0, 0.01]", "d = [6, 10]\ndepth = [3, 5]")
    .replace("[estimate]", "[estimate]\nkeep_spectra = true\nfirst_order = true")
    .replace("replicates = 6", "replicates = 2")
)


def test_swept_shapes_pad_smaller_cells_with_nan(tmp_path):
    ds = run_study(load_config(write_config(tmp_path, SHAPES)), store=tmp_path / "s.zarr").load()
    assert ds.sizes["rank"] == 10 and ds.sizes["interface"] == 5
    assert np.all(ds["status"].values == STATUS_OK)
    small = ds["log_singular_values"].sel(d=6, depth=3)
    assert np.isfinite(small.sel(interface=[1, 2, 3], rank=[1, 6]).values).all()
    assert np.isnan(small.sel(interface=[4, 5]).values).all()
    assert np.isnan(small.sel(rank=[7, 10]).values).all()
    assert np.isfinite(ds["first_order_remainder_exponent"].sel(d=10, depth=5).values).all()
    summary = summarize(ds)
    # only the interfaces that exist count: 2 replicates x 3 or 5 interfaces
    assert summary["violation_margin_entries"].sel(chart="ls").values.tolist() == [[6, 10], [6, 10]]
