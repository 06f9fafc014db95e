"""Shared machinery of the claim studies: configs, runs, Monte Carlo statistics, figures.

Every claim module uses the same few steps: find its study files (``studies/claims``, or
``studies/claims/smoke`` for the CI size), run them into Zarr stores, reduce the stores to
means with Monte Carlo standard errors and a violation count, and draw one PNG.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import xarray as xr

from ...errors import ConfigError, InputError
from ..status import STATUS_OK

__all__ = [
    "ClaimSummary",
    "Estimate",
    "claims_config_dir",
    "count_violations",
    "datasets_by_generator",
    "log_log_slope",
    "mean_and_mcse",
    "new_figure",
    "open_data",
    "run_claim_study",
    "save_figure",
]

#: Figure resolution (dots per inch) of the committed PNGs.
FIGURE_DPI = 110


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo mean with its standard error (``mcse = sd/√n`` over replicates)."""

    label: str
    mean: float
    mcse: float

    def text(self, digits: int = 3) -> str:
        """``mean ± mcse`` with ``digits`` significant digits for the mean."""
        return f"{_fmt(self.mean, digits)} ± {_fmt(self.mcse, 2)}"


@dataclass(frozen=True)
class ClaimSummary:
    """The numbers a claim reports in docs/results.md.

    Attributes
    ----------
    number, key, title : identity of the claim.
    violations : int
        Flagged (replicate, interface) entries over every bound of every study of the claim
        (for claim 5: ranks outside the T6 bracket). Must be 0.
    entries : int
        Entries checked for violations.
    failed_replicates : int
        Replicates whose computation failed (status not ok). Must be 0.
    tightness : tuple of Estimate
        Selected tightness means with their MCSE.
    facts : dict
        Further named numbers (slopes, fractions, limits) the claim's text cites.
    figure : str
        Path of the figure.
    stores : tuple of str
        Paths of the datasets the figure was drawn from.
    """

    number: int
    key: str
    title: str
    violations: int
    entries: int
    failed_replicates: int
    tightness: tuple[Estimate, ...] = ()
    facts: dict[str, float] = field(default_factory=dict)
    figure: str = ""
    stores: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (non-finite floats become ``None``)."""
        return _finite(asdict(self))

    def replace(self, **changes) -> ClaimSummary:
        """A copy with ``changes`` applied (e.g. the figure and store paths)."""
        return replace(self, **changes)


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _fmt(value: float, digits: int) -> str:
    if not math.isfinite(value):
        return "nan"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


# ---------------------------------------------------------------------------------------
# configs and runs


def claims_config_dir(config_dir: str | Path | None = None) -> Path:
    """The folder of the claim study files (``studies/claims`` of the repository).

    Default: ``studies/claims`` of the source tree this package was installed from
    (editable installs), else ``./studies/claims``.

    Raises
    ------
    ConfigError
        Neither exists (pass ``config_dir``).
    """
    if config_dir is not None:
        path = Path(config_dir)
        if not path.is_dir():
            raise ConfigError(f"claim study folder {str(path)!r} does not exist")
        return path
    candidates = (
        Path(__file__).resolve().parents[4] / "studies" / "claims",
        Path.cwd() / "studies" / "claims",
    )
    for path in candidates:
        if path.is_dir():
            return path
    raise ConfigError(
        "cannot find the claim study files (studies/claims); run from the repository root "
        "or pass config_dir"
    )


def run_claim_study(
    stem: str,
    *,
    smoke: bool = False,
    output_dir: str | Path = "outputs/claims",
    config_dir: str | Path | None = None,
    fresh: bool = False,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: TextIO | None = None,
) -> Path:
    """Run the study ``<stem>.toml`` (smoke or full size) and return its store path.

    The store is ``<output_dir>[/smoke]/<study name>.zarr``. By default an existing store of
    the same config is resumed (only missing tasks run) and one of another config is
    replaced; ``fresh`` recomputes everything.
    """
    from .. import load_config, run_study

    folder = claims_config_dir(config_dir)
    path = (folder / "smoke" if smoke else folder) / f"{stem}.toml"
    config = load_config(path)
    out = Path(output_dir) / ("smoke" if smoke else "")
    out.mkdir(parents=True, exist_ok=True)
    store = out / f"{config.name}.zarr"
    run_study(
        config,
        store=store,
        resume=not fresh,
        force=True,
        scheduler=scheduler,
        workers=workers,
        progress=progress,
    )
    return store


def open_data(data) -> xr.Dataset:
    """A loaded dataset from a dataset or a store path (study store or plain Zarr)."""
    if isinstance(data, xr.Dataset):
        return data.load()
    path = Path(data)
    if not path.exists():
        raise InputError(f"no dataset at {str(path)!r}; run the claim first")
    from ...errors import StoreError
    from ..store import open_study

    try:
        return open_study(path, load=True)
    except StoreError:  # not a study store: a plain Zarr dataset (claim 5)
        return xr.open_zarr(path, consolidated=True, zarr_format=2).load()


def datasets_by_generator(data, kinds: Iterable[str]) -> dict[str, xr.Dataset]:
    """Map generator kind -> dataset for a claim made of several studies.

    ``data`` is a mapping or a sequence of datasets or store paths; each is identified by
    its ``generator`` attribute.
    """
    items = data.values() if isinstance(data, Mapping) else data
    if isinstance(items, xr.Dataset | str | Path):
        items = [items]
    found = {}
    for item in items:
        ds = open_data(item)
        found[str(ds.attrs.get("generator", ""))] = ds
    missing = [kind for kind in kinds if kind not in found]
    if missing:
        raise InputError(
            f"this claim needs the studies of generators {list(kinds)}; missing "
            f"{missing} (got {sorted(found)})"
        )
    return {kind: found[kind] for kind in kinds}


# ---------------------------------------------------------------------------------------
# statistics


def valid(ds: xr.Dataset, variable: xr.DataArray) -> xr.DataArray:
    """Entries that count: replicate status ok and ``interface <= depth`` of the cell."""
    from ..summary import valid_mask

    return valid_mask(ds, variable)


def mean_and_mcse(
    values: xr.DataArray, dim: str = "replicate"
) -> tuple[xr.DataArray, xr.DataArray]:
    """Mean over ``dim`` and its Monte Carlo standard error ``sd/√n`` (NaNs skipped).

    Replicates are independent, so ``n`` is the number of non-NaN replicates; a cell with
    fewer than two has NaN MCSE.
    """
    n = values.notnull().sum(dim)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = values.sum(dim, skipna=True) / n.where(n > 0)
        centered = (values - mean) ** 2
        var = centered.sum(dim, skipna=True) / (n - 1).where(n > 1)
        mcse = np.sqrt(var / n.where(n > 1))
    return mean, mcse


def per_replicate_mean(ds: xr.Dataset, name: str) -> xr.DataArray:
    """Mean of variable ``name`` over the valid interfaces of each replicate (NaN skipped)."""
    values = ds[name].astype(np.float64)
    values = values.where(valid(ds, values))
    if "interface" not in values.dims:
        return values
    n = values.notnull().sum("interface")
    return values.sum("interface", skipna=True) / n.where(n > 0)


def pooled_estimate(ds: xr.Dataset, name: str, label: str, **select) -> Estimate:
    """Mean (over replicates of the per-replicate interface means) and MCSE, pooled over the
    cells selected by ``select`` (``sel`` keyword arguments): each cell's replicates are
    independent chains, so they pool as replicates."""
    per = per_replicate_mean(ds, name)
    per = per.sel(select) if select else per
    flat = per.values.reshape(-1)
    flat = flat[np.isfinite(flat)]
    return _estimate(label, flat)


def _estimate(label: str, values: np.ndarray) -> Estimate:
    n = values.size
    if n == 0:
        return Estimate(label, float("nan"), float("nan"))
    mcse = float(np.std(values, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return Estimate(label, float(np.mean(values)), mcse)


def count_violations(ds: xr.Dataset) -> tuple[int, int]:
    """``(flagged, checked)`` entries over every ``violation_<bound>`` of a study dataset."""
    flagged = checked = 0
    for name in ds.data_vars:
        if not str(name).startswith("violation_"):
            continue
        flags = ds[name].astype(bool)
        mask = valid(ds, flags)
        flagged += int((flags & mask).sum())
        checked += int(mask.sum())
    return flagged, checked


def failed_replicates(ds: xr.Dataset) -> int:
    """Replicates whose status is not ok (failed or never computed)."""
    return int((ds["status"] != STATUS_OK).sum())


def log_log_slope(x, mean, mcse) -> tuple[float, float]:
    """Least-squares slope of ``log mean`` on ``log x`` and its Monte Carlo standard error.

    Notes
    -----
    With ``X = log x`` centered as ``c_i = X_i − mean X`` the slope is
    ``Σ c_i log m_i / Σ c_i²``. The cells are independent and ``log m_i`` has standard
    error ``≈ mcse_i / m_i`` (delta method), so the slope's is
    ``√(Σ c_i² (mcse_i/m_i)²) / Σ c_i²``.
    """
    x = np.log(np.asarray(x, dtype=np.float64))
    m = np.asarray(mean, dtype=np.float64)
    se = np.asarray(mcse, dtype=np.float64) / m
    c = x - x.mean()
    denominator = np.sum(c**2)
    slope = float(np.sum(c * np.log(m)) / denominator)
    slope_se = float(np.sqrt(np.sum(c**2 * np.nan_to_num(se) ** 2)) / denominator)
    return slope, slope_se


def fixed_parameter(ds: xr.Dataset, name: str):
    """Value of a fixed generator parameter recorded in the study's attributes (or "?")."""
    import json

    params = json.loads(ds.attrs.get("generator_parameters", "{}"))
    return params.get(name, "?")


def sweep_coordinate(ds: xr.Dataset, parameter: str) -> str:
    """Dimension name of the sweep of generator ``parameter`` (e.g. ``generator_slack``)."""
    from ..plots import resolve_axis

    return resolve_axis(ds, parameter)


# ---------------------------------------------------------------------------------------
# figures


def new_figure(width: float, height: float, *, nrows: int = 1, ncols: int = 1, **kwargs):
    """A matplotlib Figure (Agg, no pyplot) and its axes grid, constrained layout."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as PNG at :data:`FIGURE_DPI` (creating the folder); returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=FIGURE_DPI)
    return path


def note(ax, text: str, *, loc: str = "lower left", fontsize: float = 8) -> None:
    """A text box in a corner of ``ax`` (MCSE statements, violation counts)."""
    positions = {
        "lower left": (0.02, 0.02, "left", "bottom"),
        "lower right": (0.98, 0.02, "right", "bottom"),
        "upper left": (0.02, 0.98, "left", "top"),
        "upper right": (0.98, 0.98, "right", "top"),
    }
    x, y, ha, va = positions[loc]
    ax.text(
        x,
        y,
        text,
        transform=ax.transAxes,
        ha=ha,
        va=va,
        fontsize=fontsize,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"},
    )


def max_finite(values) -> float:
    """Largest finite value (NaN when there is none)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else float("nan")
