"""Plots of a study: tightness maps, line plots, exponent profiles, spectra.

Every function takes ``ax=None`` (then the current pyplot axes), returns the artists it drew,
and imports matplotlib only when called. :func:`save_study_plots` writes PNGs without pyplot
(``matplotlib.figure.Figure``), so it works headless and from any thread.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import xarray as xr

from .._validation import closest_match
from ..errors import InputError
from .summary import cell_statistics

__all__ = [
    "metric_figure",
    "plot_exponent_profile",
    "plot_metric_line",
    "plot_spectra",
    "plot_tightness_map",
    "save_study_plots",
]

#: Contour levels drawn on tightness maps.
TIGHTNESS_LEVELS = (0.5, 0.9)
_MAX_FACETS = 36


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def sweep_dims(ds: xr.Dataset) -> list[str]:
    """The sweep axes of a study dataset (in the order of the config)."""
    import json

    try:
        return [dim for dim in json.loads(ds.attrs["sweep_axes"]) if dim in ds.dims]
    except (KeyError, ValueError):
        return [dim for dim in ds["status"].dims if dim != "replicate"]


def _label(ds: xr.Dataset, name: str) -> str:
    units = ds[name].attrs.get("units", "")
    text = name.replace("_", " ")
    return f"{text} [{units}]" if units else text


def _check_metric(ds: xr.Dataset, metric: str) -> None:
    if metric not in ds.data_vars:
        names = [str(v) for v in ds.data_vars]
        raise InputError(
            f"unknown metric {metric!r}{closest_match(metric, names)}; variables of the study: "
            f"{', '.join(names)}"
        )


def resolve_axis(ds: xr.Dataset, axis: str, what: str = "x") -> str:
    """The sweep dimension named ``axis``, or the one sweeping generator parameter ``axis``."""
    import json

    dims = sweep_dims(ds)
    if axis in dims:
        return axis
    try:
        by_parameter = {p: d for d, p in json.loads(ds.attrs["sweep_axes"]).items()}
    except (KeyError, ValueError, AttributeError):
        by_parameter = {}
    if by_parameter.get(axis) in dims:
        return by_parameter[axis]
    names = [*dims, *(p for p, d in by_parameter.items() if d in dims)]
    raise InputError(
        f"--{what} {axis!r} is not a sweep axis{closest_match(axis, names)}; sweep axes: "
        f"{', '.join(dims) or 'none'}"
    )


def _select(stats: xr.Dataset, select: dict | None) -> xr.Dataset:
    return stats.isel(select) if select else stats


def _is_geometric(values: np.ndarray) -> bool:
    values = np.asarray(values, dtype=np.float64)
    if values.size < 3 or np.any(values <= 0):
        return False
    steps = np.diff(np.log(values))
    return bool(np.allclose(steps, steps[0], rtol=1e-6) and abs(steps[0]) > 0.2)


def plot_tightness_map(
    ds: xr.Dataset,
    metric: str,
    x: str,
    y: str,
    *,
    select: dict | None = None,
    ax=None,
    colorbar: bool = True,
) -> dict:
    """Map of the per-cell mean of ``metric`` over two sweep axes.

    The mean is over replicates and interfaces (mean of the per-replicate interface means;
    see :mod:`~specalign.studies.summary`), with contours at 0.5 and 0.9 for tightness.

    Parameters
    ----------
    ds : xarray.Dataset
        A study dataset.
    metric : str
        A variable, e.g. ``"tightness_margin"``.
    x, y : str
        Sweep axes for the horizontal and vertical axes.
    select : dict, optional
        Positional index (``isel``) of every other dimension of the cell statistics
        (remaining sweep axes, ``chart``).
    ax : matplotlib Axes, optional

    Returns
    -------
    dict
        ``mesh``, ``contours`` (or None), ``colorbar`` (or None), ``max_mcse`` (float).
    """
    _check_metric(ds, metric)
    stats = _select(cell_statistics(ds, metric), select)
    mean = stats["mean"].transpose(y, x)
    ax = _axes(ax)
    xs, ys = ds[x].values, ds[y].values
    z = np.ma.masked_invalid(mean.values)
    tightness = metric.startswith("tightness_")
    mesh = ax.pcolormesh(
        xs,
        ys,
        z,
        shading="nearest",
        cmap="viridis",
        vmin=0.0 if tightness else None,
        vmax=1.0 if tightness else None,
    )
    contours = None
    if tightness and len(xs) > 1 and len(ys) > 1 and z.count() >= 4:
        contours = ax.contour(
            xs, ys, z, levels=list(TIGHTNESS_LEVELS), colors=["white", "black"], linewidths=1.2
        )
        ax.clabel(contours, fmt="%.1f", fontsize=8)
    empty = stats["n"].transpose(y, x).values == 0
    for j, i in zip(*np.nonzero(empty), strict=True):  # cells without one ok replicate
        ax.text(xs[i], ys[j], "no data", ha="center", va="center", fontsize=7, color="grey")
    for name, setter in ((x, ax.set_xscale), (y, ax.set_yscale)):
        if _is_geometric(ds[name].values):
            setter("log")
    ax.set_xlabel(_label(ds, x))
    ax.set_ylabel(_label(ds, y))
    max_mcse = (
        float(np.nanmax(stats["mcse"].values))
        if np.any(np.isfinite(stats["mcse"].values))
        else float("nan")
    )
    bar = None
    if colorbar:
        attrs = ds[metric].attrs
        label = f"mean {attrs.get('long_name', metric)} [{attrs.get('units', '1')}]"
        bar = ax.figure.colorbar(mesh, ax=ax, label=label)
    return {"mesh": mesh, "contours": contours, "colorbar": bar, "max_mcse": max_mcse}


def plot_metric_line(
    ds: xr.Dataset, metric: str, x: str, *, select: dict | None = None, ax=None
) -> dict:
    """Per-cell mean of ``metric`` along one sweep axis with ±MCSE error bars.

    One line per chart when the metric has a ``chart`` dimension. Returns ``{"lines": [...],
    "max_mcse": float}``.
    """
    _check_metric(ds, metric)
    stats = _select(cell_statistics(ds, metric), select)
    ax = _axes(ax)
    lines = []
    groups = [dim for dim in stats["mean"].dims if dim != x]
    for index in itertools.product(*(range(stats.sizes[dim]) for dim in groups)):
        at = dict(zip(groups, index, strict=True))
        part = stats.isel(at)
        label = ", ".join(f"{dim} = {ds[dim].values[i]}" for dim, i in at.items()) or None
        lines.append(
            ax.errorbar(
                ds[x].values,
                part["mean"].values,
                yerr=part["mcse"].values,
                marker="o",
                capsize=3,
                label=label,
            )
        )
    if _is_geometric(ds[x].values):
        ax.set_xscale("log")
    ax.set_xlabel(_label(ds, x))
    ax.set_ylabel(f"mean {metric} ± MCSE")
    if metric.startswith("tightness_"):
        for level in TIGHTNESS_LEVELS:
            ax.axhline(level, color="grey", linewidth=0.8, linestyle=":")
    if any(line.get_label() and not line.get_label().startswith("_") for line in lines):
        ax.legend(fontsize=8)
    mcse = stats["mcse"].values
    max_mcse = float(np.nanmax(mcse)) if np.any(np.isfinite(mcse)) else float("nan")
    return {"lines": lines, "max_mcse": max_mcse}


def _cell_index(ds: xr.Dataset, cell: dict | None) -> dict:
    """Positional index of a cell from ``{axis: index}`` (default: the first cell)."""
    return {axis: int((cell or {}).get(axis, 0)) for axis in sweep_dims(ds)}


def _cell_title(ds: xr.Dataset, at: dict) -> str:
    return ", ".join(f"{axis} = {_fmt(ds[axis].values[i])}" for axis, i in at.items())


def plot_exponent_profile(
    ds: xr.Dataset,
    *,
    cell: dict | None = None,
    replicate: int = 0,
    chart: str | None = None,
    bound: str = "margin",
    ax=None,
) -> dict:
    """Exponent profile ``α̂_l`` over interfaces with the bound as a band.

    The band at interface ``l`` is ``α̂_{l−1} ± bound_l`` (for ``margin``: the T1 adjacent
    bound), so a point outside its band is a violation (marked red).

    Parameters
    ----------
    cell : dict, optional
        ``{sweep axis: positional index}``; default the first cell.
    replicate : int
        Replicate index.
    chart : str, optional
        Chart (default the first of the study).
    bound : str
        Bound whose band is drawn (must have an interface dimension).
    """
    at = _cell_index(ds, cell)
    chart = chart if chart is not None else str(ds["chart"].values[0])
    point = ds.isel(at).isel(replicate=replicate).sel(chart=chart)
    alpha = np.concatenate([[float(point["initial_exponent"])], point["exponent"].values])
    steps = np.arange(alpha.size)
    ax = _axes(ax)
    artists = {
        "profile": ax.plot(
            steps, alpha, marker="o", markersize=3, color="C0", label=f"α̂_l ({chart})"
        )[0]
    }
    name = f"bound_{bound}"
    if name in point and "interface" in point[name].dims:
        width = point[name].values
        previous = alpha[:-1]
        artists["band"] = ax.fill_between(
            steps[1:],
            previous - width,
            previous + width,
            step="mid",
            alpha=0.3,
            color="C1",
            label=f"α̂_(l−1) ± bound_{bound}",
        )
        outside = np.abs(alpha[1:] - previous) > width * (1 + 1e-9) + 1e-12
        if np.any(outside):
            artists["violations"] = ax.plot(
                steps[1:][outside], alpha[1:][outside], "x", color="red", label="violation"
            )[0]
    ax.set_xlabel("interface l")
    ax.set_ylabel("fitted exponent α̂ [1] (λ_k ∝ k^-α)")
    ax.set_title(
        f"{_cell_title(ds, at)}; replicate {replicate}{_study_line(ds)}".strip(), fontsize=9
    )
    ax.legend(fontsize=8)
    return artists


def plot_spectra(
    ds: xr.Dataset,
    *,
    cell: dict | None = None,
    replicate: int = 0,
    interfaces=None,
    chart: str | None = None,
    ax=None,
) -> dict:
    """Normalized spectra ``λ_k(J_l)`` (log-log) with the fitted orbit ``λ(α̂_l)`` dashed.

    Needs a study run with ``keep_spectra = true``. ``λ_k = d σ_k² / Σ σ_j²``.
    """
    from ..estimators.orbit import orbit

    if "log_singular_values" not in ds:
        raise InputError("the study kept no spectra: set keep_spectra = true in [estimate]")
    at = _cell_index(ds, cell)
    chart = chart if chart is not None else str(ds["chart"].values[0])
    point = ds.isel(at).isel(replicate=replicate)
    log_sigma = point["log_singular_values"]
    depth = int(np.sum(np.isfinite(log_sigma.values[:, 0])))
    if interfaces is None:
        interfaces = sorted({1, max(1, depth // 2), depth})
    ax = _axes(ax)
    artists = {"spectra": [], "orbits": []}
    for i, interface in enumerate(interfaces):
        values = log_sigma.sel(interface=interface).values
        values = values[np.isfinite(values)]
        d = values.size
        log_lam = 2 * values - np.logaddexp.reduce(2 * values) + np.log(d)
        ranks = np.arange(1, d + 1)
        color = f"C{i}"
        artists["spectra"].append(
            ax.loglog(ranks, np.exp(log_lam), color=color, label=f"J_{interface}")[0]
        )
        alpha = float(point["exponent"].sel(chart=chart, interface=interface))
        if np.isfinite(alpha):
            artists["orbits"].append(
                ax.loglog(
                    ranks,
                    orbit(max(alpha, 0.0), d),
                    "--",
                    color=color,
                    label=f"orbit α̂ = {alpha:.3g}",
                )[0]
            )
    ax.set_xlabel("rank k")
    ax.set_ylabel("normalized eigenvalue λ_k [1] (Σ λ = d)")
    ax.set_title(
        f"{_cell_title(ds, at)}; replicate {replicate}; chart {chart}{_study_line(ds)}".strip(),
        fontsize=9,
    )
    ax.legend(fontsize=8)
    return artists


def metric_figure(ds: xr.Dataset, metric: str, x: str | None = None, y: str | None = None):
    """A figure for ``metric``: maps over ``x × y`` faceted by the other dimensions.

    With one sweep axis, a line plot with MCSE error bars. Returns a
    :class:`matplotlib.figure.Figure` (not attached to pyplot), or None without sweep axes.
    """
    from matplotlib.figure import Figure

    _check_metric(ds, metric)
    axes = sweep_dims(ds)
    x = resolve_axis(ds, x, "x") if x is not None else None
    y = resolve_axis(ds, y, "y") if y is not None else None
    if not axes:
        return None
    x = x or axes[0]
    if y is None:
        y = next((a for a in axes if a != x), None)
    if y == x:
        raise InputError(f"--x and --y must be different sweep axes, got {x!r} twice")
    stats_dims = [d for d in cell_statistics(ds, metric)["mean"].dims if d not in (x, y)]
    facets = list(itertools.product(*(range(ds.sizes[dim]) for dim in stats_dims)))
    if y is None or len(axes) < 2:
        fig = Figure(figsize=(6, 4.2), layout="constrained")
        result = plot_metric_line(ds, metric, x, ax=fig.add_subplot())
        fig.suptitle(f"{metric}{_study_line(ds)}\nmax MCSE {result['max_mcse']:.2g}", fontsize=10)
        return fig
    if len(facets) > _MAX_FACETS:
        raise InputError(
            f"{len(facets)} facets for {metric!r} over {', '.join(stats_dims)}; choose --x and "
            f"--y among the longest axes, or plot fewer dimensions (limit {_MAX_FACETS})"
        )
    ncols = min(len(facets), 3)
    nrows = -(-len(facets) // ncols)
    fig = Figure(figsize=(4.6 * ncols, 3.8 * nrows), layout="constrained")
    max_mcse = 0.0
    for k, index in enumerate(facets):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        select = dict(zip(stats_dims, index, strict=True))
        result = plot_tightness_map(ds, metric, x, y, select=select, ax=ax)
        max_mcse = np.nanmax([max_mcse, result["max_mcse"]])
        if select:
            ax.set_title(
                ", ".join(f"{dim} = {_fmt(ds[dim].values[i])}" for dim, i in select.items()),
                fontsize=9,
            )
    contours = (
        f"; contours at {', '.join(map(str, TIGHTNESS_LEVELS))}"
        if metric.startswith("tightness_")
        else ""
    )
    fig.suptitle(
        f"{metric}: mean over replicates and interfaces{_study_line(ds)}\n"
        f"max MCSE {max_mcse:.2g}{contours}",
        fontsize=10,
    )
    return fig


def _study_line(ds: xr.Dataset) -> str:
    """``" — study 'x': orbit, 16 interfaces, 32 replicates per cell"`` from the attributes."""
    attrs = ds.attrs
    if "study_name" not in attrs:
        return ""
    parts = [str(attrs.get("generator", "?"))]
    if "interface" in ds.sizes:
        parts.append(f"{ds.sizes['interface']} interfaces")
    if "replicates" in attrs:
        parts.append(f"{attrs['replicates']} replicates per cell")
    return f"\nstudy {attrs['study_name']!r}: " + ", ".join(parts)


def save_study_plots(
    ds: xr.Dataset,
    outdir: str | Path,
    *,
    x: str | None = None,
    y: str | None = None,
    metrics: list[str] | None = None,
    extras: bool = False,
    dpi: int = 120,
) -> list[Path]:
    """Write one PNG per metric (default: every ``tightness_<bound>``) into ``outdir``.

    With ``extras``, also ``exponent_profile.png`` (the cell where the first metric's mean
    is largest) and ``spectra.png`` when spectra were kept. Returns the paths written.
    """
    if metrics is None:
        metrics = [str(v) for v in ds.data_vars if str(v).startswith("tightness_")]
    figures = []
    for metric in metrics:  # build everything first: a bad option writes nothing
        figure = metric_figure(ds, metric, x, y)
        if figure is not None:
            figures.append((f"{metric}.png", figure))
    if extras:
        figures.extend(_extra_figures(ds, metrics))
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures:
        figure.savefig(outdir / name, dpi=dpi)
        written.append(outdir / name)
    return written


def _extra_figures(ds: xr.Dataset, metrics: list[str]) -> list:
    from matplotlib.figure import Figure

    cell = None
    if metrics and sweep_dims(ds):
        mean = cell_statistics(ds, metrics[0])["mean"]
        mean = mean.max([d for d in mean.dims if d not in sweep_dims(ds)]) if mean.ndim else mean
        if np.any(np.isfinite(mean.values)):
            flat = int(np.nanargmax(mean.values))
            cell = dict(zip(mean.dims, np.unravel_index(flat, mean.shape), strict=True))
    figures = []
    bound = next(
        (
            m[len("tightness_") :]
            for m in metrics
            if m.startswith("tightness_") and "interface" in ds[m].dims
        ),
        "margin",
    )
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    plot_exponent_profile(ds, cell=cell, bound=bound, ax=fig.add_subplot())
    figures.append(("exponent_profile.png", fig))
    if "log_singular_values" in ds:
        fig = Figure(figsize=(6, 4.2), layout="constrained")
        plot_spectra(ds, cell=cell, ax=fig.add_subplot())
        figures.append(("spectra.png", fig))
    return figures


def _fmt(value) -> str:
    return f"{float(value):.4g}" if isinstance(value, float | np.floating) else str(value)
