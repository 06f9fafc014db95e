"""Claim 1 (THEORY.md T1): tightness of the slack-aware margin bound, per chart.

Study ``1-margin``: ``orbit`` chains swept over eigenbasis rotation (``slack``) and
chart-orthogonal noise, charts ``ls``, ``gibbs``, ``hellinger``, ``top``. The margin bound
``max(r_l, s_l)/xbar_d + |Δρ_l|`` on ``|Δα̂_l|`` is attained (tightness 1) by aligned exact
power laws; the figure maps how it loosens.
"""

from __future__ import annotations

from pathlib import Path

from ._support import (
    ClaimSummary,
    count_violations,
    failed_replicates,
    fixed_parameter,
    new_figure,
    note,
    open_data,
    pooled_estimate,
    save_figure,
    sweep_coordinate,
)

__all__ = ["KEY", "NUMBER", "STUDIES", "TITLE", "make_figure", "summarize_claim"]

NUMBER = 1
KEY = "margin"
TITLE = "Margin bound (T1) over slack × noise, per chart"
STUDIES = ("1-margin",)


def summarize_claim(data) -> ClaimSummary:
    """Tightness at the aligned corner and at full rotation, per chart; violations."""
    ds = open_data(data)
    slack = sweep_coordinate(ds, "slack")
    noise = sweep_coordinate(ds, "noise")
    tightness = []
    corners = {
        "aligned (slack 0, noise 0)": {slack: 0, noise: 0},
        "aligned, noise max": {slack: 0, noise: -1},
        "independent bases (slack 1, noise 0)": {slack: -1, noise: 0},
    }
    for chart in ds["chart"].values:
        for label, at in corners.items():
            cell = ds.isel(at).sel(chart=chart)
            tightness.append(pooled_estimate(cell, "tightness_margin", f"{chart}: {label}"))
    flagged, checked = count_violations(ds)
    grid = ds["tightness_margin"].mean(("replicate", "interface"))
    facts = {
        f"grid_min_tightness_{chart}": float(grid.sel(chart=chart).min())
        for chart in ds["chart"].values
    }
    return ClaimSummary(
        NUMBER, KEY, TITLE, flagged, checked, failed_replicates(ds), tuple(tightness), facts
    )


def make_figure(data, path: str | Path) -> Path:
    """Tightness maps over slack × noise for each chart, and tightness against slack.

    Parameters
    ----------
    data : xarray.Dataset or path
        The ``1-margin`` study (store path or dataset).
    path : path
        PNG to write.
    """
    from ..plots import plot_tightness_map

    ds = open_data(data)
    slack = sweep_coordinate(ds, "slack")
    noise = sweep_coordinate(ds, "noise")
    charts = [str(chart) for chart in ds["chart"].values]
    fig, axes = new_figure(4.1 * len(charts), 7.6, nrows=2, ncols=len(charts))
    max_mcse = 0.0
    for i, chart in enumerate(charts):
        ax = axes[0, i]
        result = plot_tightness_map(
            ds,
            "tightness_margin",
            x=slack,
            y=noise,
            select={"chart": i},
            ax=ax,
            colorbar=i == len(charts) - 1,
        )
        max_mcse = max(max_mcse, result["max_mcse"])
        ax.set_title(f"chart {chart}", fontsize=10)
        ax.set_xlabel("eigenbasis rotation (generator slack) [1]")
        ax.set_ylabel("noise [fraction of admissible RMS]" if i == 0 else "")
    stats = _line_stats(ds, slack, noise)
    for i, chart in enumerate(charts):
        ax = axes[1, i]
        for j, (index, style) in enumerate(((0, "-o"), (-1, "--s"))):
            mean, mcse = stats[chart][j]
            level = float(ds[noise].values[index])
            ax.errorbar(
                ds[slack].values,
                mean,
                yerr=mcse,
                fmt=style,
                capsize=3,
                label=f"noise {level:g} of admissible",
            )
        ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
        ax.set_ylim(0.0, 1.05)
        ax.set_xlabel("eigenbasis rotation (generator slack) [1]")
        ax.set_ylabel("mean tightness |Δα̂| / margin bound [1]" if i == 0 else "")
        ax.set_title(f"chart {chart}: mean ± MCSE over replicates", fontsize=9)
        ax.legend(fontsize=8, loc="upper right")
    flagged, checked = count_violations(ds)
    note(axes[1, 0], f"violations: {flagged} of {checked} entries", loc="lower left")
    fig.suptitle(
        f"Claim 1 (T1): margin bound tightness |α̂_l − α̂_(l−1)| / (max(r_l, s_l)/x̄_d + |Δρ_l|)"
        f"\norbit chains, d = {fixed_parameter(ds, 'd')}, L = {fixed_parameter(ds, 'depth')}, "
        f"step {fixed_parameter(ds, 'step')}, "
        f"{ds.sizes['replicate']} replicates per cell; largest MCSE of a cell mean "
        f"{max_mcse:.1g}",
        fontsize=11,
    )
    return save_figure(fig, path)


def _line_stats(ds, slack: str, noise: str):
    from ._support import mean_and_mcse, per_replicate_mean

    per = per_replicate_mean(ds, "tightness_margin")
    out = {}
    for chart in ds["chart"].values:
        rows = []
        for j in (0, -1):
            mean, mcse = mean_and_mcse(per.sel(chart=chart).isel({noise: j}))
            rows.append((mean.transpose(slack).values, mcse.transpose(slack).values))
        out[str(chart)] = rows
    return out
