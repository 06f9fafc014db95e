"""Run a study: config -> grid -> store -> tasks on an executor -> dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import xarray as xr

from .config import StudyConfig, load_config
from .executors import Execution, check_backend, open_session
from .grid import Grid
from .layout import build_layout
from .progress import ProgressBar
from .store import check_store, export_netcdf, open_study, prepare_store
from .task import TaskContext

__all__ = ["default_store_path", "resolve_execution", "run_study"]


def default_store_path(config: StudyConfig) -> Path:
    """``outputs/<study name>.zarr`` (relative to the working directory)."""
    return Path("outputs") / f"{config.name}.zarr"


def resolve_execution(
    config: StudyConfig, scheduler: str | None = None, workers: int | None = None
) -> Execution:
    """The config's ``[execution]`` section, overridden by explicit arguments."""
    from .config import _check_execution

    section = config.execution
    if scheduler is not None or workers is not None:
        section = section.model_copy(
            update={
                **({"scheduler": scheduler} if scheduler is not None else {}),
                **({"workers": workers} if workers is not None else {}),
            }
        )
        if workers is not None and workers < 1:
            from ..errors import ConfigError

            raise ConfigError(f"workers must be at least 1, got {workers}")
        _check_execution(section)
    return Execution(
        section.scheduler, section.workers, section.threads_per_worker, dict(section.jobqueue)
    )


def run_study(
    config: StudyConfig | str | Path,
    *,
    store: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    netcdf: str | Path | None = None,
    progress: TextIO | None = None,
) -> xr.Dataset:
    """Run (or resume) a study and return its dataset.

    Parameters
    ----------
    config : StudyConfig, or path of a TOML study file
        The study (docs/studies.md).
    store : path, optional
        Zarr store to write; default ``outputs/<study name>.zarr``.
    resume : bool
        Reuse an existing store of the same config and compute only the tasks whose
        completion flag is unset.
    force : bool
        Replace an existing store that cannot be resumed (other config, or no ``resume``).
    scheduler : str, optional
        Overrides ``[execution].scheduler``: ``"local"`` (a local Dask cluster of worker
        processes), ``"tcp://host:port"`` (an existing cluster), ``"slurm"`` / ``"pbs"``
        (dask-jobqueue), ``"threads"`` (dask's threaded scheduler) or ``"synchronous"``.
    workers : int, optional
        Overrides ``[execution].workers`` (local cluster size, jobqueue workers, threads).
    netcdf : path, optional
        Also export the finished dataset to this NetCDF file.
    progress : text stream, optional
        Where to draw the progress bar and the dashboard address (e.g. ``sys.stderr``).

    Returns
    -------
    xarray.Dataset
        The store opened lazily: dims ``(*sweep axes, replicate, chart, interface[, rank])``.

    Raises
    ------
    ConfigError
        Invalid config or execution settings (nothing is written).
    StoreError
        The store exists and may not be reused (see :func:`~.store.prepare_store`).

    Notes
    -----
    Replicate ``r`` of cell ``c`` draws from ``SeedSequence(seed, spawn_key=(c, r))`` and
    every task runs with one BLAS thread, so the data are bitwise identical whatever the
    scheduler, number of workers, task size, order, or interruption and resume.
    """
    if not isinstance(config, StudyConfig):
        config = load_config(config)
    grid = Grid.from_config(config)
    layout = build_layout(config, grid)
    execution = resolve_execution(config, scheduler, workers)
    check_backend(execution)
    path = Path(store) if store is not None else default_store_path(config)
    check_store(path, config, resume=resume, force=force)
    with open_session(execution) as session:
        done = prepare_store(path, config, grid, layout, resume=resume, force=force)
        pending = [task for task in grid.tasks() if not done[(*task.position, task.block)]]
        context = TaskContext(
            store=str(path.resolve()),
            config_hash=config.config_hash(),
            kind=config.kind,
            seed=config.study.seed,
            charts=tuple(config.estimate.charts),
            bounds=tuple(config.estimate.bounds),
            window=config.estimate.window,
            keep_spectra=config.estimate.keep_spectra,
            layout=layout,
            first_order=config.estimate.first_order,
        )
        bar = ProgressBar(progress, len(pending))
        bar.note(
            f"study {config.name!r}: {len(pending)} of {grid.n_tasks} tasks to run "
            f"({grid.n_cells} cells x {grid.n_blocks} blocks) -> {path}"
        )
        if session.dashboard is not None:
            bar.note(f"dashboard: {session.dashboard}{_dashboard_note()}")
        try:
            if pending:
                session.run(pending, context, lambda outcome: bar.update(outcome.status))
        finally:
            bar.close()
    dataset = open_study(path)
    if netcdf is not None:
        export_netcdf(dataset, netcdf)
    return dataset


def _dashboard_note() -> str:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return " (install bokeh to serve it)"
    return ""
