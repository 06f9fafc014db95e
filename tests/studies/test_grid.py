"""Cells, tasks and seeds of the study grid."""

from __future__ import annotations

import numpy as np
from studies_support import SMALL

from specalign.studies import Grid, parse_config, replicate_rngs
from specalign.studies.grid import work_estimate


def _grid(text=SMALL) -> Grid:
    return Grid.from_config(parse_config(text))


def test_cells_are_in_c_order_with_their_parameters():
    grid = _grid()
    assert grid.shape == (2, 2) and grid.n_cells == 4
    cells = list(grid.cells())
    assert cells == [(0, (0, 0)), (1, (0, 1)), (2, (1, 0)), (3, (1, 1))]
    params = grid.cell_params((1, 0))
    assert params["slack"] == 0.6 and params["noise"] == 0.0 and params["d"] == 10


def test_tasks_cover_every_replicate_of_every_cell_once():
    grid = _grid(SMALL.replace("replicates = 6", "replicates = 5"))
    tasks = grid.tasks()
    assert grid.n_blocks == 3 and len(tasks) == grid.n_tasks == 12
    covered = sorted((task.cell, r) for task in tasks for r in task.replicates)
    assert covered == [(cell, r) for cell in range(4) for r in range(5)]
    last = [task for task in tasks if task.block == 2]
    assert all((task.start, task.stop) == (4, 5) for task in last)


def test_single_cell_study_has_one_cell():
    text = SMALL.replace("[sweep]\nslack = [0.0, 0.6]\nnoise = [0.0, 0.01]\n", "")
    grid = _grid(text)
    assert grid.shape == () and grid.n_cells == 1
    assert [task.position for task in grid.tasks()] == [(), (), ()]


def test_replicate_streams_come_from_spawn_keys():
    rngs = replicate_rngs(11, 3, range(2, 4))
    for r, rng in zip(range(2, 4), rngs, strict=True):
        expected = np.random.default_rng(np.random.SeedSequence(11, spawn_key=(3, r)))
        assert rng.standard_normal(4).tobytes() == expected.standard_normal(4).tobytes()
    other_cell = replicate_rngs(11, 4, range(2, 3))[0].standard_normal(4)
    assert (
        other_cell.tobytes() != replicate_rngs(11, 3, range(2, 3))[0].standard_normal(4).tobytes()
    )


def test_work_estimate_counts_two_svds_per_interface_and_scales_as_d_cubed():
    grid = _grid()
    work = work_estimate(grid)
    assert work["svds"] == 2 * 4 * 6 * 5
    doubled = work_estimate(_grid(SMALL.replace("d = 10", "d = 20")))
    assert doubled["flops"] == 8 * work["flops"]
