"""Claim 2 (THEORY.md C1): the depth-L uniform budget, adjacent drift of order (log M)/L.

Study ``2-depth-budget``: ``orbit`` chains of depth ``L = 4 … 256`` at two exponent steps,
swept over eigenbasis rotation (slack) and chart-orthogonal noise, ``ls`` chart. With the
chain's realized budget ``M = (max_l σ_1(A_l)/GM(σ(A_l)))^L`` (so ``log M = L max_l r_l/2``)
C1 reads

    max_l |Δα̂_l| ≤ 2 log M/(L xbar_d) + max_l s_l/xbar_d + max_l |Δρ_l|,

and at zero slack with an exact chart only the first term remains: ``(xbar_d/2) L max|Δα̂|``
against ``log M`` is the identity line (slope 1), attained by aligned power-law chains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ...estimators.orbit import mean_log_rank_uniform
from ._support import (
    ClaimSummary,
    count_violations,
    failed_replicates,
    fixed_parameter,
    log_log_slope,
    mean_and_mcse,
    new_figure,
    note,
    open_data,
    pooled_estimate,
    save_figure,
    sweep_coordinate,
    valid,
)

__all__ = ["KEY", "NUMBER", "STUDIES", "TITLE", "budget_terms", "make_figure", "summarize_claim"]

NUMBER = 2
KEY = "depth-budget"
TITLE = "Depth budget (C1): the (log M)/L law and how slack and residuals augment it"
STUDIES = ("2-depth-budget",)


def budget_terms(ds: xr.Dataset) -> xr.Dataset:
    """Per replicate: ``log M``, the drift, the three terms of the C1 bound (``ls`` chart).

    Returns
    -------
    xarray.Dataset
        Dims ``(*sweep axes, replicate)``: ``log_M = L max_l r_l / 2`` [nat],
        ``max_drift = max_l |α̂_l − α̂_{l−1}|`` [1], ``scaled_drift = (xbar_d/2) L max_drift``
        [nat], ``base = max r/xbar_d``, ``slack_term = max s/xbar_d``,
        ``residual_term = max |Δρ|`` [1] (``base + slack_term + residual_term`` is
        ``bound_budget``).
    """
    d = int(fixed_parameter(ds, "d"))
    xbar = mean_log_rank_uniform(d)
    sel = ds.sel(chart="ls")
    mask = valid(ds, sel["radial_amplitude"])
    r = sel["radial_amplitude"].where(mask)
    s = sel["slack"].where(mask)
    alpha = xr.concat(
        [sel["initial_exponent"].expand_dims(interface=[0]), sel["exponent"]], dim="interface"
    )
    drift = np.abs(alpha.diff("interface", label="upper")).where(mask)
    u0 = sel["initial_top_radial"]
    rho0 = (u0 - sel["initial_exponent"]).expand_dims(interface=[0])
    rho = xr.concat([rho0, sel["chart_residual"]], dim="interface")
    residual = np.abs(rho.diff("interface", label="upper")).where(mask)
    depth = ds["depth"] if "depth" in ds.coords else int(fixed_parameter(ds, "depth"))
    max_r = r.max("interface", skipna=True)
    max_drift = drift.max("interface", skipna=True)
    return xr.Dataset(
        {
            "log_M": depth * max_r / 2.0,
            "max_drift": max_drift,
            "scaled_drift": xbar / 2.0 * depth * max_drift,
            "base": max_r / xbar,
            "slack_term": s.max("interface", skipna=True) / xbar,
            "residual_term": residual.max("interface", skipna=True),
        }
    )


def _law_cells(ds: xr.Dataset, terms: xr.Dataset):
    """Cell means and MCSE of ``log M`` and the scaled drift at zero slack and noise."""
    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    at = {slack: 0, noise: 0}
    x, _ = mean_and_mcse(terms["log_M"].isel(at))
    y, y_mcse = mean_and_mcse(terms["scaled_drift"].isel(at))
    return x, y, y_mcse


def summarize_claim(data) -> ClaimSummary:
    """Slope of the (log M)/L law at zero slack; budget tightness at the corners."""
    ds = open_data(data)
    terms = budget_terms(ds)
    x, y, y_mcse = _law_cells(ds, terms)
    slope, slope_mcse = log_log_slope(x.values.ravel(), y.values.ravel(), y_mcse.values.ravel())
    ratio = (y / x).values.ravel()
    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    last = int(ds["depth"].values[-1])
    tightness = [
        pooled_estimate(
            ds.isel({slack: 0, noise: 0}), "tightness_budget", "slack 0, noise 0 (all L, steps)"
        ),
        pooled_estimate(
            ds.isel({slack: 0, noise: -1}), "tightness_budget", "slack 0, noise max (all L, steps)"
        ),
        pooled_estimate(
            ds.isel({slack: -1, noise: 0}).sel(depth=last),
            "tightness_budget",
            f"slack 1, noise 0, L = {last}",
        ),
        pooled_estimate(
            ds.isel({slack: 0, noise: 0}),
            "tightness_margin",
            "margin (T1 adjacent), slack 0, noise 0",
        ),
    ]
    augmentation = _augmentation(ds, terms)
    flagged, checked = count_violations(ds)
    facts = {
        "law_slope": slope,
        "law_slope_mcse": slope_mcse,
        "law_ratio_min": float(np.nanmin(ratio)),
        "law_ratio_max": float(np.nanmax(ratio)),
        **augmentation,
    }
    return ClaimSummary(
        NUMBER, KEY, TITLE, flagged, checked, failed_replicates(ds), tuple(tightness), facts
    )


def _augmentation(ds, terms) -> dict[str, float]:
    """Mean slack and residual terms relative to the base term at the deepest chains."""
    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    last = ds["depth"].values[-1]
    cell = terms.sel(depth=last).isel(step=-1)
    out = {}
    for name, at in (("slack1", {slack: -1, noise: 0}), ("noise", {slack: 0, noise: -1})):
        part = cell.isel(at)
        out[f"slack_term_over_base_{name}"] = float((part["slack_term"] / part["base"]).mean())
        out[f"residual_term_over_base_{name}"] = float(
            (part["residual_term"] / part["base"]).mean()
        )
    return out


def make_figure(data, path: str | Path) -> Path:
    """(a) the (log M)/L law; (b) budget tightness against depth; (c) the bound's terms.

    Parameters
    ----------
    data : xarray.Dataset or path
        The ``2-depth-budget`` study.
    path : path
        PNG to write.
    """
    ds = open_data(data)
    terms = budget_terms(ds)
    fig, axes = new_figure(18.0, 5.8, ncols=3)
    mcse_law = _plot_law(ds, terms, axes[0, 0])
    mcse_tight = _plot_tightness(ds, axes[0, 1])
    mcse_terms = _plot_terms(ds, terms, axes[0, 2])
    flagged, checked = count_violations(ds)
    fig.suptitle(
        f"Claim 2 (C1): depth budget, orbit chains d = {fixed_parameter(ds, 'd')}, "
        f"{ds.sizes['replicate']} replicates per cell; violations {flagged} of {checked}\n"
        f"largest MCSE: (a) {mcse_law:.1g} nat, (b) {mcse_tight:.1g}, (c) {mcse_terms:.1g}",
        fontsize=11,
    )
    return save_figure(fig, path)


def _plot_law(ds, terms, ax) -> float:
    from matplotlib import colormaps

    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    depths = ds["depth"].values
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, len(depths)))
    markers = ("o", "s", "^", "D")
    largest = 0.0
    for j_noise, fill in ((0, True), (-1, False)):
        at = {slack: 0, noise: j_noise}
        x, _ = mean_and_mcse(terms["log_M"].isel(at))
        y, y_mcse = mean_and_mcse(terms["scaled_drift"].isel(at))
        largest = max(largest, float(np.nanmax(y_mcse.values)))
        for i, depth in enumerate(depths):
            for k in range(ds.sizes["step"]):
                point = {"depth": i, "step": k}
                ax.plot(
                    float(x.isel(point)),
                    float(y.isel(point)),
                    markers[k % 4],
                    color=colors[i],
                    markerfacecolor=colors[i] if fill else "none",
                    markersize=7,
                    label=(f"L = {depth}" if k == 0 and j_noise == 0 else None),
                )
    lo = float(np.nanmin(terms["log_M"])) / 1.5
    hi = float(np.nanmax(terms["log_M"])) * 1.5
    ax.plot([lo, hi], [lo, hi], color="black", lw=1.0, label="C1 bound: equality")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("log M = L · max_l r_l / 2 [nat]")
    ax.set_ylabel("(x̄_d / 2) · L · max_l |α̂_l − α̂_(l−1)| [nat]")
    slope, slope_mcse = log_log_slope(*(v.values.ravel() for v in _law_cells(ds, terms)))
    shapes = ("circle", "square", "triangle", "diamond")
    steps = "; ".join(f"{shapes[k % 4]}: step {s:g}" for k, s in enumerate(ds["step"].values))
    ax.set_title(
        f"(a) the (log M)/L law at slack 0: slope {slope:.4f} ± {slope_mcse:.1g}", fontsize=10
    )
    ax.legend(fontsize=7, loc="upper left", ncols=2)
    note(ax, f"markers: {steps}\nfilled: noise 0; open: noise max", loc="lower right")
    return largest


def _plot_tightness(ds, ax) -> float:
    from ._support import per_replicate_mean

    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    per = per_replicate_mean(ds, "tightness_budget").sel(chart="ls").isel(step=-1)
    largest = 0.0
    for i, slack_value in enumerate(ds[slack].values):
        for j, (style, label) in enumerate((("-o", "noise 0"), ("--s", "noise max"))):
            mean, mcse = mean_and_mcse(per.isel({slack: i, noise: -j if j else 0}))
            largest = max(largest, float(np.nanmax(mcse.values)))
            ax.errorbar(
                ds["depth"].values,
                mean.values,
                yerr=mcse.values,
                fmt=style,
                color=f"C{i}",
                capsize=3,
                markersize=4,
                label=f"slack {slack_value:g}, {label}",
            )
    ax.set_xscale("log")
    ax.set_xticks(ds["depth"].values, [str(v) for v in ds["depth"].values])
    ax.minorticks_off()
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("depth L (number of interfaces) [1]")
    ax.set_ylabel("tightness max|Δα̂| / C1 budget bound [1] (mean ± MCSE)")
    ax.set_title(f"(b) budget tightness, step {float(ds['step'].values[-1]):g}", fontsize=10)
    ax.legend(fontsize=7, ncols=2, loc="lower left")
    return largest


def _plot_terms(ds, terms, ax) -> float:
    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    depths = ds["depth"].values
    depth = int(depths[depths <= 64][-1]) if np.any(depths <= 64) else int(depths[0])
    cell = terms.sel(depth=depth).isel(step=-1)
    labels, parts, drift, drift_mcse = [], [], [], []
    largest = 0.0
    for i, slack_value in enumerate(ds[slack].values):
        for j in (0, -1):
            part = cell.isel({slack: i, noise: j})
            labels.append(f"s{slack_value:g}\nn{float(ds[noise].values[j]):g}")
            means = []
            for name in ("base", "slack_term", "residual_term"):
                mean, mcse = mean_and_mcse(part[name])
                means.append(float(mean))
                largest = max(largest, float(mcse))
            parts.append(means)
            mean, mcse = mean_and_mcse(part["max_drift"])
            drift.append(float(mean))
            drift_mcse.append(float(mcse))
    parts = np.array(parts)
    positions = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    names = ("2 log M/(L x̄_d) (base)", "max s/x̄_d (slack)", "max |Δρ| (residual)")
    for k, name in enumerate(names):
        ax.bar(positions, parts[:, k], bottom=bottom, color=f"C{k}", alpha=0.75, label=name)
        bottom += parts[:, k]
    ax.errorbar(
        positions, drift, yerr=drift_mcse, fmt="kD", markersize=5, label="actual max_l |Δα̂_l|"
    )
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_xlabel("generator slack s, noise n [1]")
    ax.set_ylabel("exponent drift and bound terms [1] (means)")
    ax.set_title(
        f"(c) terms of the C1 bound at L = {depth}, step {float(ds['step'].values[-1]):g}",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="upper left")
    return largest
