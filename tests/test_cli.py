"""The ``specalign`` command: exit codes, messages, and files written (or not)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

from specalign.cli import main

CONFIG = """
[study]
name = "cli"
seed = 3
replicates = 4
task_size = 2

[generator]
kind = "orbit"
d = 8
depth = 4
step = 0.2
noise_modes = 1

[sweep]
slack = [0.0, 0.5]
noise = [0.0, 0.05]

[estimate]
charts = ["ls"]
bounds = ["margin", "budget"]

[execution]
scheduler = "synchronous"
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(CONFIG)
    return tmp_path


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_validate_prints_grid_tasks_and_work_and_writes_nothing(workdir):
    result = _invoke("validate", "study.toml")
    assert result.exit_code == 0, result.output
    assert "sweep: 2 axes, 4 cells" in result.stdout
    assert "slack (2): 0, 0.5" in result.stdout
    assert "tasks: 4 cells x 2 replicate blocks = 8" in result.stdout
    assert "d×d SVDs" in result.stdout and "flops" in result.stdout
    assert sorted(p.name for p in workdir.iterdir()) == ["study.toml"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("seed = 3", "seed = 3\ncolour = 1", "unknown key 'study.colour'"),
        ("replicates = 4", 'replicates = "four"', "study.replicates: expected an integer"),
        ("noise = [0.0, 0.05]", "noise = []", "sweep.noise: the sweep axis is empty"),
        ('kind = "orbit"', 'kind = "gnibre"', "did you mean 'ginibre'"),
        ('charts = ["ls"]', 'charts = ["lss"]', "unknown chart 'lss' (did you mean 'ls'?)"),
        ('"budget"]', '"budgets"]', "unknown bound 'budgets' (did you mean 'budget'?)"),
        ("step = 0.2", "step = 0.2\nspin = 1", "generator.spin: unknown parameter"),
    ],
)
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_config_exits_2_with_one_message_and_writes_nothing(
    workdir, command, old, new, message
):
    (workdir / "study.toml").write_text(CONFIG.replace(old, new, 1))
    result = _invoke(command, "study.toml")
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in workdir.iterdir()) == ["study.toml"]


def test_run_summary_plot_and_resume(workdir):
    result = _invoke("run", "study.toml", "--netcdf", "cli.nc")
    assert result.exit_code == 0, result.stderr
    store = workdir / "outputs" / "cli.zarr"
    assert store.is_dir()
    assert (workdir / "outputs" / "cli" / "tightness_margin.png").is_file()
    assert (workdir / "outputs" / "cli" / "tightness_budget.png").is_file()
    assert "4/4 tasks" not in result.stderr and "8/8 tasks" in result.stderr
    assert "replicate(s) failed" in result.stderr  # noise 0.05 is refused by the generator
    assert xr.open_dataset(workdir / "cli.nc").sizes["replicate"] == 4

    again = _invoke("run", "study.toml")
    assert again.exit_code == 2
    assert "--resume" in again.stderr and "--force" in again.stderr
    resumed = _invoke("run", "study.toml", "--resume", "--no-plots")
    assert resumed.exit_code == 0 and "0 of 8 tasks to run" in resumed.stderr

    summary = _invoke("summary", store)
    assert summary.exit_code == 0
    assert "bound 'margin'" in summary.stdout and "95% Wilson" in summary.stdout
    assert "replicates: 8 ok, 8 failed, 0 pending" in summary.stdout
    assert "8 x error: InputError" in summary.stdout

    plots = _invoke(
        "plot",
        store,
        "--x",
        "noise",
        "--y",
        "slack",
        "--metric",
        "tightness_margin",
        "--output",
        "maps",
    )
    assert plots.exit_code == 0, plots.stderr
    assert {p.name for p in Path(workdir / "maps").iterdir()} == {
        "tightness_margin.png",
        "exponent_profile.png",
    }
    bad = _invoke("plot", store, "--x", "noize")
    assert bad.exit_code == 2 and "did you mean 'noise'" in bad.stderr


def test_changed_config_is_refused_on_resume_unless_forced(workdir):
    assert _invoke("run", "study.toml", "--no-plots").exit_code == 0
    (workdir / "study.toml").write_text(CONFIG.replace("seed = 3", "seed = 4"))
    refused = _invoke("run", "study.toml", "--resume", "--no-plots")
    assert refused.exit_code == 2 and "different config" in refused.stderr
    forced = _invoke("run", "study.toml", "--resume", "--force", "--no-plots")
    assert forced.exit_code == 0 and "8 of 8 tasks to run" in forced.stderr


def test_missing_cluster_extra_is_a_clear_error(workdir):
    pytest.importorskip("distributed")
    try:
        import dask_jobqueue  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("dask-jobqueue is installed")
    result = _invoke("run", "study.toml", "--scheduler", "slurm")
    assert result.exit_code == 2 and "specalign[cluster]" in result.stderr
    assert not (workdir / "outputs").exists()


def test_bad_scheduler_and_missing_store(workdir):
    result = _invoke("run", "study.toml", "--scheduler", "lcoal")
    assert result.exit_code == 2 and "did you mean 'local'" in result.stderr
    missing = _invoke("summary", "outputs/none.zarr")
    assert missing.exit_code == 2 and "no study store" in missing.stderr


def test_profile_of_a_missing_file_is_a_clear_error(workdir):
    result = _invoke("profile", "weights.safetensors")
    assert result.exit_code == 2 and result.stderr.startswith("Error:")
    assert "weights.safetensors" in result.stderr
    assert not Path("outputs").exists() or not any(Path("outputs").iterdir())


def test_profile_of_an_npz_file_writes_table_store_and_plots(workdir):
    import numpy as np

    rng = np.random.default_rng(0)
    d = 12
    arrays = {}
    for block in range(3):
        prefix = f"encoder.layer.{block}"
        for name in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ):
            arrays[f"{prefix}.{name}.weight"] = rng.standard_normal((d, d)) / np.sqrt(d)
        arrays[f"{prefix}.intermediate.dense.weight"] = rng.standard_normal((4 * d, d)) / d
        arrays[f"{prefix}.output.dense.weight"] = rng.standard_normal((d, 4 * d)) / d
        arrays[f"{prefix}.output.dense.bias"] = np.zeros(d)
    np.savez("tiny.npz", **arrays)
    result = _invoke("profile", "tiny.npz", "--output", "prof", "--scale", "0.3", "--no-plots")
    assert result.exit_code == 0, result.stderr
    assert Path("prof/profile.csv").is_file()
    rows = Path("prof/profile.csv").read_text().splitlines()
    assert len(rows) == 1 + len(arrays)  # header, then one row per tensor (bias skipped)
