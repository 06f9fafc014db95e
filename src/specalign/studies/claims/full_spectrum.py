"""Claim 3 (THEORY.md T3): scalar versus full-spectrum (Hellinger) control.

Study ``3-full-spectrum``: ``orbit`` chains with ``keep_top`` noise, orthogonal to ``1``,
``log k`` and the top rank, swept over noise and eigenbasis rotation; charts ``ls``, ``top``,
``hellinger``; bound ``hellinger``

    H(p_0, p_l) ≤ H(p_0, p(α̂_0)) + FR(α̂_0, α̂_l)/(2√2) + H(p(α̂_l), p_l).

At zero rotation every ``J_l`` has exactly the ``ū`` and full-window ``α̂_ls`` of the noise-free
chain (``step · l``), yet a different spectrum: the scalar coordinates cannot see the shape,
the Hellinger residual terms of T3 can.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...estimators.geometry import hellinger
from ...estimators.orbit import orbit_probabilities
from ._support import (
    ClaimSummary,
    Estimate,
    count_violations,
    failed_replicates,
    fixed_parameter,
    mean_and_mcse,
    new_figure,
    note,
    open_data,
    per_replicate_mean,
    pooled_estimate,
    save_figure,
    sweep_coordinate,
)

__all__ = ["KEY", "NUMBER", "STUDIES", "TITLE", "make_figure", "summarize_claim"]

NUMBER = 3
KEY = "full-spectrum"
TITLE = "Scalar versus full-spectrum control (T3)"
STUDIES = ("3-full-spectrum",)


def _aligned_deviation(ds) -> dict[str, float]:
    """At zero rotation: how far ``α̂_ls``, ``ū`` and ``ρ_ls`` are from the noise-free chain."""
    slack = sweep_coordinate(ds, "slack")
    aligned = ds.isel({slack: 0})
    step = float(fixed_parameter(ds, "step"))
    exact = step * aligned["interface"]
    alpha = aligned["exponent"].sel(chart="ls")
    return {
        "aligned_max_abs_alpha_error": float(np.abs(alpha - exact).max()),
        "aligned_max_abs_top_radial_error": float(np.abs(aligned["top_radial"] - exact).max()),
        "aligned_max_abs_residual_ls": float(
            np.abs(aligned["chart_residual"].sel(chart="ls")).max()
        ),
    }


def summarize_claim(data) -> ClaimSummary:
    """Hellinger residual invisible to ū and α̂; T3 tightness at the corners; violations."""
    ds = open_data(data)
    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    last = ds.isel(interface=-1)
    residual = last["hellinger_residual"].sel(chart="ls").isel({slack: 0, noise: -1})
    tightness = [
        Estimate(
            "Hellinger residual H(p_L, p(α̂_L)), slack 0, noise max (ls)",
            *(float(v) for v in mean_and_mcse(residual)),
        ),
    ]
    for chart in ds["chart"].values:
        for label, at in (
            ("slack 0, noise 0", {slack: 0, noise: 0}),
            ("slack 0, noise max", {slack: 0, noise: -1}),
            ("slack 1, noise max", {slack: -1, noise: -1}),
        ):
            cell = ds.isel(at).sel(chart=chart)
            tightness.append(
                pooled_estimate(cell, "tightness_hellinger", f"T3 tightness {chart}: {label}")
            )
    flagged, checked = count_violations(ds)
    facts = _aligned_deviation(ds)
    clean = last["hellinger_residual"].sel(chart="ls").isel({slack: 0, noise: 0})
    facts["aligned_noise_free_residual_max"] = float(clean.max())
    return ClaimSummary(
        NUMBER, KEY, TITLE, flagged, checked, failed_replicates(ds), tuple(tightness), facts
    )


def make_figure(data, path: str | Path) -> Path:
    """(a, b) scalar displacements against the Hellinger displacement; (c) the residual the
    scalars miss; (d) T3 tightness.

    Parameters
    ----------
    data : xarray.Dataset or path
        The ``3-full-spectrum`` study.
    path : path
        PNG to write.
    """
    ds = open_data(data)
    fig, axes = new_figure(13.0, 10.5, nrows=2, ncols=2)
    _plot_scalar(ds, axes[0, 0], "exponent", "|α̂_ls,l − α̂_ls,0| (ls chart) [1]", "(a)")
    _plot_scalar(ds, axes[0, 1], "top_radial", "|ū_l − ū_0| (top-radial) [1]", "(b)")
    mcse_c = _plot_residual(ds, axes[1, 0])
    mcse_d = _plot_tightness(ds, axes[1, 1])
    flagged, checked = count_violations(ds)
    fig.suptitle(
        f"Claim 3 (T3): scalar (ū, α̂) versus full-spectrum (Hellinger) control — orbit chains "
        f"with top-preserving chart-orthogonal noise\nd = {fixed_parameter(ds, 'd')}, "
        f"L = {fixed_parameter(ds, 'depth')}, step {fixed_parameter(ds, 'step')}, "
        f"{ds.sizes['replicate']} replicates per cell; T3 violations {flagged} of {checked}; "
        f"largest MCSE (c) {mcse_c:.1g}, (d) {mcse_d:.1g}",
        fontsize=11,
    )
    return save_figure(fig, path)


def _plot_scalar(ds, ax, variable: str, ylabel: str, tag: str) -> None:
    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    markers = ("o", "^", "s", "D")
    for i, slack_value in enumerate(ds[slack].values):
        for j, noise_value in enumerate(ds[noise].values):
            cell = ds.isel({slack: i, noise: j})
            h = cell["hellinger_displacement"].values.ravel()
            if variable == "exponent":
                value = cell["exponent"].sel(chart="ls") - cell["initial_exponent"].sel(chart="ls")
            else:
                value = cell["top_radial"] - cell["initial_top_radial"]
            ax.plot(
                h,
                np.abs(value.values).ravel(),
                markers[j % 4],
                color=f"C{i}",
                markersize=3 if j == 0 else 4,
                alpha=0.5,
                markerfacecolor="none" if j else None,
                label=f"slack {slack_value:g}, noise {noise_value:g}",
            )
    d = int(fixed_parameter(ds, "d"))
    top = float(np.nanmax(np.abs(ds["exponent"].sel(chart="ls"))))
    grid = np.linspace(0.0, 1.05 * top, 200)
    curve = hellinger(orbit_probabilities(0.0, d)[None, :], orbit_probabilities(grid, d))
    ax.plot(curve, grid, color="black", lw=1.2, label="exact power laws: H(p(0), p(α))")
    ax.set_xlabel("Hellinger displacement H(p_0, p_l) [1]")
    ax.set_ylabel(ylabel)
    ax.set_title(
        f"{tag} scalar displacement against spectral displacement (every replicate and interface)",
        fontsize=9,
    )
    ax.legend(fontsize=7, ncols=2, loc="lower right", markerscale=1.5)


def _plot_residual(ds, ax) -> float:
    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    aligned = ds.isel({slack: 0})
    interface = ds["interface"].values
    largest = 0.0
    for j, noise_value in enumerate(ds[noise].values):
        values = aligned["hellinger_residual"].sel(chart="ls").isel({noise: j})
        mean, mcse = mean_and_mcse(values)
        largest = max(largest, float(np.nanmax(mcse.values)))
        ax.plot(
            interface,
            mean.values,
            "-o",
            markersize=3,
            color=f"C{j}",
            label=f"noise {noise_value:g}: H(p_l, p(α̂_l)) (ls)",
        )
        ax.fill_between(interface, mean - 2 * mcse, mean + 2 * mcse, color=f"C{j}", alpha=0.25)
    facts = _aligned_deviation(ds)
    note(
        ax,
        "slack 0, every noise level and replicate:\n"
        f"max |α̂_ls,l − step·l| = {facts['aligned_max_abs_alpha_error']:.1e}\n"
        f"max |ū_l − step·l| = {facts['aligned_max_abs_top_radial_error']:.1e}\n"
        f"max |ρ_l| (ls) = {facts['aligned_max_abs_residual_ls']:.1e}",
        loc="upper left",
    )
    ax.set_xlabel("interface l [1]")
    ax.set_ylabel("Hellinger residual of the ls chart [1] (mean, band ±2 MCSE)")
    ax.set_title(
        "(c) slack 0: equal ū and α̂ as without noise, different spectral shape", fontsize=9
    )
    ax.legend(fontsize=8, loc="center left")
    return largest


def _plot_tightness(ds, ax) -> float:
    slack, noise = sweep_coordinate(ds, "slack"), sweep_coordinate(ds, "noise")
    per = per_replicate_mean(ds, "tightness_hellinger")
    styles = ("-o", "--s", ":^", "-.D")
    largest = 0.0
    for c, chart in enumerate(ds["chart"].values):
        for j, noise_value in enumerate(ds[noise].values):
            mean, mcse = mean_and_mcse(per.sel(chart=chart).isel({noise: j}))
            largest = max(largest, float(np.nanmax(mcse.values)))
            ax.errorbar(
                ds[slack].values + 0.01 * (c - 1),
                mean.values,
                yerr=mcse.values,
                fmt=styles[j % 4],
                color=f"C{c}",
                capsize=3,
                markersize=4,
                label=f"{chart}, noise {noise_value:g}",
            )
    ax.set_ylim(0.0, 1.05)
    ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("eigenbasis rotation (generator slack) [1]")
    ax.set_ylabel("T3 tightness H(p_0, p_l) / bound [1] (mean ± MCSE)")
    ax.set_title("(d) tightness of the T3 Hellinger bound, per chart", fontsize=9)
    ax.legend(fontsize=7, ncols=3, loc="lower left")
    return largest
