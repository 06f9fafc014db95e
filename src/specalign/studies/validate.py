"""``specalign validate``: a readable description of a study before it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from .config import StudyConfig, load_config
from .grid import Grid, work_estimate
from .layout import build_layout
from .provenance import describe_window

__all__ = ["describe_study", "refused_cells"]

#: Rough sustained single-core rate for d×d LAPACK work, for the time estimate only.
_FLOPS_PER_SECOND = 2e9


def refused_cells(config: StudyConfig, grid: Grid) -> list[tuple[dict, str]]:
    """Cells whose parameters the generator refuses (they will be stored as failures)."""
    from ..simulate import validate_generator

    refused = []
    for _, position in grid.cells():
        params = grid.cell_params(position)
        try:
            validate_generator(config.kind, **params)
        except InputError as exc:
            swept = {axis: params[axis] for axis in grid.axes}
            refused.append((swept, str(exc)))
    return refused


def describe_study(config: StudyConfig | str | Path) -> str:
    """Expanded grid, task count, store layout and a work estimate, as text.

    Raises
    ------
    ConfigError
        The config is invalid (the same checks as ``specalign run``).
    """
    if not isinstance(config, StudyConfig):
        config = load_config(config)
    grid = Grid.from_config(config)
    layout = build_layout(config, grid)
    study, estimate = config.study, config.estimate
    lines = [
        f"study {config.name!r}: generator {config.kind!r}, seed {study.seed}, "
        f"{study.replicates} replicates per cell, {config.task_size} per task",
        "fixed parameters: "
        + ", ".join(f"{key} = {value!r}" for key, value in config.fixed.items()),
    ]
    if grid.axes:
        lines.append(f"sweep: {len(grid.axes)} axes, {grid.n_cells} cells")
        for axis, values in grid.axes.items():
            shown = ", ".join(_fmt(v) for v in values)
            lines.append(f"  {axis} ({len(values)}): {shown}")
    else:
        lines.append("sweep: none (a single cell)")
    lines.append(f"tasks: {grid.n_cells} cells x {grid.n_blocks} replicate blocks = {grid.n_tasks}")
    lines.append(
        f"estimate: charts {', '.join(estimate.charts)}; bounds "
        f"{', '.join(estimate.bounds) or 'none'}; window {describe_window(estimate.window)}; "
        f"keep_spectra {str(estimate.keep_spectra).lower()}; first_order "
        f"{str(estimate.first_order).lower()}"
    )
    used = [dim for dim in layout.sizes if any(dim in v.dims for v in layout.variables.values())]
    dims = ", ".join(f"{dim}: {layout.sizes[dim]}" for dim in used)
    size = sum(
        np.prod(layout.shape(name)) * np.dtype(var.dtype).itemsize
        for name, var in layout.variables.items()
    )
    lines.append(
        f"store: dims ({dims}); {len(layout.variables)} variables, {_bytes(size)} uncompressed"
    )
    work = work_estimate(grid)
    chains = grid.n_cells * study.replicates
    lines.append(
        f"work: {chains} chains, about {work['svds']:.3g} d×d SVDs and {work['flops']:.3g} "
        f"flops (~{work['flops'] / _FLOPS_PER_SECOND:.3g} core-seconds at "
        f"{_FLOPS_PER_SECOND:.0e} flop/s)"
    )
    execution = config.execution
    lines.append(
        f"execution: scheduler {execution.scheduler}, workers "
        f"{execution.workers or 'one per core'} (not recorded in the store)"
    )
    refused = refused_cells(config, grid)
    if refused:
        lines.append(
            f"generator: {len(refused)} of {grid.n_cells} cells will be refused "
            "(stored with status error):"
        )
        for swept, message in refused[:5]:
            where = ", ".join(f"{k} = {_fmt(v)}" for k, v in swept.items()) or "the cell"
            lines.append(f"  {where}: {message}")
        if len(refused) > 5:
            lines.append(f"  ... and {len(refused) - 5} more")
    else:
        lines.append("generator: every cell accepted")
    return "\n".join(lines)


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _bytes(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.3g} {unit}"
        size /= 1000
    return f"{size:.3g} TB"
