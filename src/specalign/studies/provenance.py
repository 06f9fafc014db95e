"""Provenance attributes of a study dataset: what was computed, with which software.

Only the science is recorded (the normalized config without its ``[execution]`` section):
the same study run on a laptop or a cluster gives the same attributes, bar the time.
"""

from __future__ import annotations

import datetime as _dt
import json
import subprocess
from importlib import metadata
from pathlib import Path

from .config import StudyConfig

__all__ = ["EXPONENT_CONVENTION", "SEEDING", "git_commit", "provenance_attrs"]

EXPONENT_CONVENTION = "eigenvalue rank exponent: λ_k ∝ k^-α (σ_k ∝ k^-α/2)"
SEEDING = (
    "replicate r of cell c draws from numpy.random.default_rng("
    "numpy.random.SeedSequence(seed, spawn_key=(c, r))); c is the C-order index of the cell "
    "over the sweep axes (last axis fastest)"
)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    """Commit of the specalign source tree (``+dirty`` if modified), or ``"unknown"``."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=source,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=source.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def describe_window(window) -> str:
    """Readable rank window of the ``ls`` chart."""
    if window is None:
        return "all ranks"
    if isinstance(window, float):
        return f"energy quantile window [1, k_q] with q = {window}"
    return f"ranks {window[0]}..{window[1]} (1-based, inclusive)"


def provenance_attrs(config: StudyConfig) -> dict:
    """Dataset attributes: config, hash, versions, commit, seed, conventions, time."""
    estimate = config.estimate
    return {
        "title": f"specalign study {config.name!r}",
        "study_name": config.name,
        "config": config.science_toml(),
        "config_sha256": config.config_hash(),
        "generator": config.kind,
        "generator_parameters": json.dumps(config.fixed, sort_keys=True),
        "seed": config.study.seed,
        "replicates": config.study.replicates,
        "task_size": config.task_size,
        "seeding": SEEDING,
        "charts": ", ".join(estimate.charts),
        "bounds": ", ".join(estimate.bounds),
        "window": describe_window(estimate.window),
        "exponent_convention": EXPONENT_CONVENTION,
        "specalign_version": _version("specalign"),
        "git_commit": git_commit(),
        **{
            f"{name}_version": _version(name)
            for name in ("numpy", "scipy", "xarray", "dask", "distributed", "zarr")
        },
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
