"""Monte Carlo studies: config, grid and seeds, Dask execution, Zarr store, summaries, plots.

A study is a TOML file (docs/studies.md) run by :func:`run_study` (or ``specalign run``)
into one Zarr store; :func:`summarize` and the functions of :mod:`.plots` read it back.
"""

from __future__ import annotations

from .config import StudyConfig, load_config, parse_config
from .grid import Grid, Task, replicate_rngs
from .runner import default_store_path, run_study
from .status import STATUS_MEANINGS
from .store import completion_mask, export_netcdf, open_study
from .summary import format_summary, summarize, wilson_interval
from .validate import describe_study

__all__ = [
    "STATUS_MEANINGS",
    "Grid",
    "StudyConfig",
    "Task",
    "completion_mask",
    "default_store_path",
    "describe_study",
    "export_netcdf",
    "format_summary",
    "load_config",
    "open_study",
    "parse_config",
    "replicate_rngs",
    "run_study",
    "summarize",
    "wilson_interval",
]
