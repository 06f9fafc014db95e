"""Per-cell summaries of a study: tightness statistics with MCSE, violation rates.

Only replicates with status ``ok`` and interfaces that exist in the cell (``l <= depth``)
enter. Interfaces of one replicate are correlated, replicates are independent; hence

- ``mean``, ``sd``, ``mcse``: of the per-replicate mean over interfaces ``m_r``:
  ``mean = (1/n) Σ m_r``, ``sd`` with ``n − 1``, ``mcse = sd/√n`` (n replicates);
- ``q05``, ``q50``, ``q95``: quantiles of all (replicate, interface) values: how tight the
  bound gets at single interfaces;
- violations: ``k`` flagged entries out of ``n`` (replicate, interface) entries with a
  95% Wilson score interval for the rate;
- ``undefined``: entries whose tightness is NaN (a bound exactly 0, so the actual is 0 too;
  or an undefined bound such as ``transport`` once ``ε ≥ 1``): neither tight nor loose.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .status import STATUS_OK, STATUS_PENDING

__all__ = [
    "bound_names",
    "cell_statistics",
    "failure_counts",
    "format_summary",
    "summarize",
    "wilson_interval",
]

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson_interval(k, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial rate ``k/n`` (NaN where ``n = 0``).

    Notes
    -----
    ``(p̂ + z²/2n ± z √(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)`` with ``p̂ = k/n``.
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denominator = 1 + z**2 / n
        center = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    # exact ends: the interval of k = 0 starts at 0, that of k = n ends at 1
    low = np.where(k == 0, 0.0, np.clip(center - half, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(center + half, 0.0, 1.0))
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def bound_names(ds: xr.Dataset) -> list[str]:
    """Bounds present in a study dataset (from its ``tightness_<name>`` variables)."""
    return [
        str(name)[len("tightness_") :]
        for name in ds.data_vars
        if str(name).startswith("tightness_")
    ]


def valid_mask(ds: xr.Dataset, variable: xr.DataArray) -> xr.DataArray:
    """Entries that count: replicate status ok, and ``interface <= depth`` of the cell."""
    valid = ds["status"] == STATUS_OK
    if "interface" in variable.dims and "depth" in ds.coords and "depth" in ds.dims:
        valid = valid & (ds["interface"] <= ds["depth"])
    return valid.broadcast_like(variable)


def cell_statistics(ds: xr.Dataset, name: str) -> xr.Dataset:
    """Mean, sd, MCSE, n and quantiles of variable ``name`` per cell (module doc).

    Cells without valid entries get NaN (numpy's all-NaN warnings are silenced: an empty
    cell is a normal outcome, counted in ``n``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _cell_statistics(ds, name)


def _cell_statistics(ds: xr.Dataset, name: str) -> xr.Dataset:
    values = ds[name].astype(np.float64)
    values = values.where(valid_mask(ds, values))
    per_replicate = values.mean("interface", skipna=True) if "interface" in values.dims else values
    n = per_replicate.notnull().sum("replicate")
    mean = per_replicate.mean("replicate", skipna=True)
    sd = per_replicate.std("replicate", ddof=1, skipna=True)
    pooled = [dim for dim in ("replicate", "interface") if dim in values.dims]
    quantiles = values.quantile([0.05, 0.5, 0.95], dim=pooled, skipna=True)
    return xr.Dataset(
        {
            "mean": mean,
            "sd": sd,
            "n": n,
            "mcse": sd / np.sqrt(n.where(n > 0)),
            "q05": quantiles.sel(quantile=0.05, drop=True),
            "q50": quantiles.sel(quantile=0.5, drop=True),
            "q95": quantiles.sel(quantile=0.95, drop=True),
        }
    )


def summarize(ds: xr.Dataset) -> xr.Dataset:
    """Per-cell summary of every bound of a study dataset.

    Returns
    -------
    xarray.Dataset
        Dims ``(*sweep axes[, chart])``; for each bound ``b``: ``tightness_b_mean``,
        ``_sd``, ``_mcse``, ``_n`` (replicates), ``_q05``, ``_q50``, ``_q95``,
        ``_undefined`` (NaN-tightness entries); ``violation_b_count``, ``_entries``,
        ``_rate``, ``_wilson_low``, ``_wilson_high``; and per cell ``replicates_ok``,
        ``replicates_failed``, ``replicates_pending``.
    """
    ds = ds.load()
    out: dict[str, xr.DataArray] = {}
    status = ds["status"]
    out["replicates_ok"] = (status == STATUS_OK).sum("replicate")
    out["replicates_pending"] = (status == STATUS_PENDING).sum("replicate")
    out["replicates_failed"] = ((status != STATUS_OK) & (status != STATUS_PENDING)).sum("replicate")
    for bound in bound_names(ds):
        name = f"tightness_{bound}"
        stats = cell_statistics(ds, name)
        for stat, value in stats.data_vars.items():
            out[f"{name}_{stat}"] = value
        tightness = ds[name]
        valid = valid_mask(ds, tightness)
        pooled = [dim for dim in ("replicate", "interface") if dim in tightness.dims]
        out[f"{name}_undefined"] = (valid & tightness.isnull()).sum(pooled)
        violation = f"violation_{bound}"
        if violation in ds:
            k = (ds[violation].astype(bool) & valid).sum(pooled)
            n = valid.sum(pooled)
            low, high = wilson_interval(k.values, n.values)
            out[f"{violation}_count"] = k
            out[f"{violation}_entries"] = n
            out[f"{violation}_rate"] = k / n.where(n > 0)
            out[f"{violation}_wilson_low"] = k.copy(data=low)
            out[f"{violation}_wilson_high"] = k.copy(data=high)
    summary = xr.Dataset(out)
    summary.attrs = {
        "description": "per-cell summary of a specalign study (see specalign.studies.summary)",
        "study_name": ds.attrs.get("study_name", ""),
    }
    return summary


def failure_counts(ds: xr.Dataset) -> list[tuple[str, str, int]]:
    """Distinct ``(status meaning, message, number of replicates)`` of the failed replicates."""
    from .status import STATUS_MEANINGS

    status = ds["status"].values.ravel()
    messages = ds["status_message"].values.astype(str).ravel()
    failed = (status != STATUS_OK) & (status != STATUS_PENDING)
    counts: dict[tuple[str, str], int] = {}
    for code, message in zip(status[failed], messages[failed], strict=True):
        key = (STATUS_MEANINGS.get(int(code), str(code)), message)
        counts[key] = counts.get(key, 0) + 1
    return [(meaning, message, n) for (meaning, message), n in sorted(counts.items())]


def format_summary(summary: xr.Dataset, ds: xr.Dataset | None = None) -> str:
    """A readable plain-text table of :func:`summarize`'s output, one row per cell.

    With the study dataset ``ds``, a header (generator, seed, charts) and the distinct
    failure messages are added.
    """
    lines = []
    attrs = dict(ds.attrs) if ds is not None else {}
    if attrs:
        lines.append(
            f"study {attrs.get('study_name', '?')!r}: generator {attrs.get('generator', '?')}, "
            f"{attrs.get('replicates', '?')} replicates per cell, seed {attrs.get('seed', '?')}, "
            f"charts {attrs.get('charts', '?')}, window: {attrs.get('window', '?')}"
        )
    ok = int(summary["replicates_ok"].sum())
    failed = int(summary["replicates_failed"].sum())
    pending = int(summary["replicates_pending"].sum())
    lines.append(f"replicates: {ok} ok, {failed} failed, {pending} pending")
    if ds is not None and failed:
        for meaning, message, n in failure_counts(ds):
            lines.append(f"  {n} x {meaning}: {message}")
    bounds = [
        str(v)[len("tightness_") : -len("_mean")]
        for v in summary.data_vars
        if str(v).startswith("tightness_") and str(v).endswith("_mean")
    ]
    header = (
        f"{'mean':>8} {'±mcse':>8} {'sd':>8} {'q05':>7} {'q50':>7} {'q95':>7} "
        f"{'violations':>11} {'95% Wilson':>15} {'undef':>6} {'failed':>6}"
    )
    for bound in bounds:
        t = f"tightness_{bound}"
        v = f"violation_{bound}"
        mean = summary[f"{t}_mean"]
        cell_dims = list(mean.dims)
        labels = {dim: [_fmt_coord(value) for value in mean[dim].values] for dim in cell_dims}
        widths = {dim: max(len(dim), *(len(text) for text in labels[dim])) for dim in cell_dims}
        lines.append("")
        lines.append(f"bound {bound!r}: tightness = actual / bound (1 = tight)")
        lines.append(
            "  mean, ±mcse, sd: over the chains' own mean tightness (chains are independent);"
            " q05/q50/q95: over all chain × interface entries; violations and the Wilson"
            " interval count entries as if independent (interfaces of one chain are not)"
        )
        lines.append(" ".join(f"{dim:>{widths[dim]}}" for dim in cell_dims) + " " + header)
        for index in np.ndindex(*mean.shape):
            at = dict(zip(cell_dims, index, strict=True))
            label = " ".join(f"{labels[dim][i]:>{widths[dim]}}" for dim, i in at.items())
            failed_cell = summary["replicates_failed"].isel(
                {dim: i for dim, i in at.items() if dim in summary["replicates_failed"].dims}
            )
            row = [_num(summary[f"{t}_{s}"].isel(at)) for s in ("mean", "mcse", "sd")]
            row += [_num(summary[f"{t}_{s}"].isel(at), 7) for s in ("q05", "q50", "q95")]
            if f"{v}_count" in summary:
                k = int(summary[f"{v}_count"].isel(at))
                n = int(summary[f"{v}_entries"].isel(at))
                lo = float(summary[f"{v}_wilson_low"].isel(at))
                hi = float(summary[f"{v}_wilson_high"].isel(at))
                row.append(f"{f'{k}/{n}':>11}")
                row.append(f"{f'[{lo:.3f}, {hi:.3f}]':>15}" if n else f"{'-':>15}")
            else:
                row += [f"{'-':>11}", f"{'-':>15}"]
            row.append(f"{int(summary[f'{t}_undefined'].isel(at)):>6}")
            row.append(f"{int(failed_cell):>6}")
            lines.append((label + " " if label else "") + " ".join(row))
    return "\n".join(lines)


def _num(value, width: int = 8) -> str:
    value = float(value)
    return f"{'nan':>{width}}" if not np.isfinite(value) else f"{value:>{width}.4f}"


def _fmt_coord(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(value)
