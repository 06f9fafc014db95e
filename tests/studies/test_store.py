"""The study store: layout, chunk writes, completion mask, refusals, NetCDF export."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
import zarr
from studies_support import SMALL, assert_bitwise_equal

from specalign.errors import StoreError
from specalign.studies import Grid, export_netcdf, open_study, parse_config
from specalign.studies.layout import build_layout
from specalign.studies.store import ChunkWriter, completion_mask, prepare_store


def _setup(text=SMALL):
    config = parse_config(text)
    grid = Grid.from_config(config)
    return config, grid, build_layout(config, grid)


def test_new_store_has_every_variable_chunked_by_task(tmp_path):
    config, grid, layout = _setup()
    path = tmp_path / "s.zarr"
    done = prepare_store(path, config, grid, layout)
    assert done.shape == (2, 2, 3) and not done.any()
    ds = open_study(path)
    # generator parameter 'slack' collides with the chain variable 'slack'
    assert ds["exponent"].dims == ("generator_slack", "noise", "chart", "replicate", "interface")
    assert ds["status"].dtype == np.int8 and np.all(ds["status"].values == -1)
    assert not ds["task_done"].values.any()
    assert np.all(np.isnan(ds["tightness_margin"].values))
    group = zarr.open_group(path, mode="r")
    assert group["exponent"].chunks == (1, 1, 2, 2, 5)
    assert group["status"].chunks == (1, 1, 2)
    assert group["task_done"].chunks == (1, 1, 1)
    for name in ("exponent", "slack", "bound_margin", "status"):
        assert {"long_name", "units", "description"} <= set(ds[name].attrs)
    assert ds["generator_slack"].attrs["generator_parameter"] == "slack"
    attrs = ds.attrs
    assert attrs["config_sha256"] == config.config_hash()
    assert parse_config(attrs["config"]).config_hash() == config.config_hash()
    assert "λ_k ∝ k^-α" in attrs["exponent_convention"]
    for key in (
        "numpy_version",
        "scipy_version",
        "xarray_version",
        "dask_version",
        "zarr_version",
        "specalign_version",
        "git_commit",
        "created",
        "seeding",
    ):
        assert attrs[key]
    assert attrs["seed"] == 11 and attrs["charts"] == "ls, top"
    assert "scheduler" not in attrs["config"]  # execution resources are not recorded


def test_chunk_writer_writes_whole_chunks_that_zarr_reads(tmp_path):
    config, grid, layout = _setup(SMALL.replace("replicates = 6", "replicates = 5"))
    path = tmp_path / "s.zarr"
    prepare_store(path, config, grid, layout)
    writer = ChunkWriter(path)
    values = np.arange(2 * 1 * 5, dtype=np.float64).reshape(1, 1, 2, 1, 5)  # last block: 1
    coords = layout.chunk_coords("exponent", (1, 0), 2)
    assert coords == (1, 0, 0, 2, 0)
    writer.write("exponent", coords, values, np.nan)
    message = np.array([["hello ∝"]], dtype="<U160")
    writer.write("status_message", layout.chunk_coords("status_message", (1, 0), 2), message, "")
    ds = open_study(path, load=True)
    np.testing.assert_array_equal(ds["exponent"].values[1, 0, :, 4, :], values[0, 0, :, 0, :])
    assert np.isnan(ds["exponent"].values[1, 0, :, :4, :]).all()
    assert ds["status_message"].values[1, 0, 4] == "hello ∝"
    assert ds["status_message"].values[0, 0, 0] == ""


def test_existing_store_is_refused_without_resume_or_force(tmp_path):
    config, grid, layout = _setup()
    path = tmp_path / "s.zarr"
    prepare_store(path, config, grid, layout)
    with pytest.raises(
        StoreError,
        match=r"already exists \(0 of 12 tasks done\).*--resume.*"
        r"--force",
    ):
        prepare_store(path, config, grid, layout)
    assert prepare_store(path, config, grid, layout, resume=True).shape == (2, 2, 3)


def test_store_of_another_config_is_refused_unless_forced(tmp_path):
    config, grid, layout = _setup()
    path = tmp_path / "s.zarr"
    prepare_store(path, config, grid, layout)
    other, other_grid, other_layout = _setup(SMALL.replace("seed = 11", "seed = 12"))
    with pytest.raises(StoreError, match="made by a different config"):
        prepare_store(path, other, other_grid, other_layout, resume=True)
    prepare_store(path, other, other_grid, other_layout, resume=True, force=True)
    assert open_study(path).attrs["config_sha256"] == other.config_hash()


def test_foreign_directory_is_refused_and_left_alone(tmp_path):
    config, grid, layout = _setup()
    path = tmp_path / "data"
    path.mkdir()
    (path / "keep.txt").write_text("mine")
    for flags in ({"resume": True}, {"force": True}, {"resume": True, "force": True}):
        with pytest.raises(StoreError, match="not a specalign study store"):
            prepare_store(path, config, grid, layout, **flags)
    assert (path / "keep.txt").read_text() == "mine"
    with pytest.raises(StoreError, match="no study store"):
        open_study(tmp_path / "missing.zarr")
    with pytest.raises(StoreError, match="not a specalign study store"):
        open_study(path)


def test_completion_mask_reads_written_flags(tmp_path):
    config, grid, layout = _setup()
    path = tmp_path / "s.zarr"
    prepare_store(path, config, grid, layout)
    ChunkWriter(path).write(
        "task_done",
        layout.chunk_coords("task_done", (0, 1), 2),
        np.ones((1, 1, 1), dtype=bool),
        False,
    )
    mask = completion_mask(path)
    assert mask.sum() == 1 and mask[0, 1, 2]


@pytest.mark.parametrize("engine", [None, "scipy"])
def test_netcdf_export_round_trips(small_reference, tmp_path, engine):
    path = export_netcdf(small_reference, tmp_path / "small.nc", engine=engine)
    again = xr.open_dataset(path).load()
    assert again["violation_margin"].dtype == bool
    assert_bitwise_equal(small_reference, again)
    assert again.attrs["config_sha256"] == small_reference.attrs["config_sha256"]
    assert not list(tmp_path.glob(".*tmp*"))
