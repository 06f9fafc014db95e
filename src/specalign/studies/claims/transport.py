"""Claim 6 (THEORY.md T4): transport and action budgets along residual-MLP chains.

Study ``6-transport-action``: ``residual_mlp`` Jacobian chains of depth 128 swept over the
branch scale ``ε``. With the spectral Bures–Wasserstein steps ``b_i`` and the measured
``ε_i = ‖A_i − I‖₂``, at every depth ``l``

    T_l = Σ_{i≤l} b_i ≤ √d Σ_{i≤l} 2ε_i/(1 − ε_i)     (transport, while every ε_i < 1)
    T_l ≤ √(l 𝒜_l),  𝒜_l = Σ_{i≤l} b_i²               (action, Cauchy–Schwarz).

The interface axis is the depth, so one chain gives every depth ``l ≤ 128``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._support import (
    ClaimSummary,
    Estimate,
    count_violations,
    failed_replicates,
    fixed_parameter,
    max_finite,
    mean_and_mcse,
    new_figure,
    note,
    open_data,
    save_figure,
)

__all__ = ["KEY", "NUMBER", "STUDIES", "TITLE", "make_figure", "summarize_claim"]

NUMBER = 6
KEY = "transport-action"
TITLE = "Transport and action budgets (T4) over depth and ε"
STUDIES = ("6-transport-action",)
BOUNDS = ("transport", "action")


def _estimate(ds, bound: str, label: str, **at) -> Estimate:
    mean, mcse = mean_and_mcse(ds[f"tightness_{bound}"].isel(at))
    return Estimate(label, float(mean), float(mcse))


def summarize_claim(data) -> ClaimSummary:
    """Tightness at the first and last interface for the smallest and largest ε."""
    ds = open_data(data)
    eps = ds["epsilon"].values
    last = int(ds["interface"].values[-1])
    defined = ds["tightness_transport"].notnull().all(("replicate", "interface")).values
    largest_defined = int(np.nonzero(defined)[0][-1]) if defined.any() else 0
    tightness = [
        _estimate(ds, "transport", f"transport, ε = {eps[0]:g}, l = 1", epsilon=0, interface=0),
        _estimate(
            ds, "transport", f"transport, ε = {eps[0]:g}, l = {last}", epsilon=0, interface=-1
        ),
        _estimate(
            ds,
            "transport",
            f"transport, ε = {eps[largest_defined]:g}, l = {last}",
            epsilon=largest_defined,
            interface=-1,
        ),
        _estimate(ds, "action", f"action, ε = {eps[0]:g}, l = {last}", epsilon=0, interface=-1),
        _estimate(ds, "action", f"action, ε = {eps[-1]:g}, l = {last}", epsilon=-1, interface=-1),
    ]
    radius = ds["near_identity_radius"].mean(("replicate", "interface")) / ds["epsilon"]
    undefined = int(ds["tightness_transport"].isnull().sum())
    flagged, checked = count_violations(ds)
    facts = {
        "transport_max_mean_tightness": max_finite(
            ds["tightness_transport"].mean("replicate").values
        ),
        "action_min_mean_tightness": float(ds["tightness_action"].mean("replicate").min()),
        "transport_undefined_entries": float(undefined),
        "transport_entries": float(ds["tightness_transport"].size),
        "largest_epsilon_with_transport_defined": float(eps[largest_defined]),
        "radius_over_epsilon_min": float(radius.min()),
        "radius_over_epsilon_max": float(radius.max()),
    }
    return ClaimSummary(
        NUMBER, KEY, TITLE, flagged, checked, failed_replicates(ds), tuple(tightness), facts
    )


def _norm(z, scale: str):
    from matplotlib.colors import LogNorm, Normalize

    finite = np.asarray(z.compressed(), dtype=np.float64)
    low = float(finite.min()) if finite.size else 0.01
    high = float(finite.max()) if finite.size else 1.0
    if scale == "log":
        return LogNorm(vmin=max(low, 1e-6) / 1.05, vmax=high * 1.05)
    return Normalize(vmin=min(low, 0.999), vmax=1.0)


def make_figure(data, path: str | Path) -> Path:
    """Tightness maps over depth × ε for both budgets, and profiles along depth.

    Parameters
    ----------
    data : xarray.Dataset or path
        The ``6-transport-action`` study.
    path : path
        PNG to write.
    """
    ds = open_data(data)
    fig, axes = new_figure(18.0, 5.8, ncols=3)
    depth = ds["interface"].values
    eps = ds["epsilon"].values
    largest = 0.0
    scales = {
        "transport": ("log", [0.03, 0.05, 0.1, 0.2], "tightness [1] (log)"),
        "action": ("linear", [0.8, 0.9, 0.95], "tightness [1]"),
    }
    for ax, bound in zip(axes[0, :2], BOUNDS, strict=True):
        mean, mcse = mean_and_mcse(ds[f"tightness_{bound}"])
        largest = max(largest, max_finite(mcse.values))
        z = np.ma.masked_invalid(mean.transpose("epsilon", "interface").values)
        scale, levels, label = scales[bound]
        norm = _norm(z, scale)
        ax.set_facecolor("0.85")
        ax.patch.set_hatch("//")
        mesh = ax.pcolormesh(depth, eps, z, shading="nearest", cmap="viridis", norm=norm)
        levels = [level for level in levels if norm.vmin < level < norm.vmax]
        if z.count() >= 4 and levels:
            contours = ax.contour(depth, eps, z, levels=levels, colors="white", linewidths=1.0)
            ax.clabel(contours, fmt="%.2g", fontsize=8)
        fig.colorbar(mesh, ax=ax, label=f"mean {label}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(depth[0], depth[-1])
        ax.set_xlabel("depth l (interface) [1]")
    axes[0, 0].set_ylabel("branch scale ε (generator parameter) [1]")
    axes[0, 1].set_ylabel("ε [1]")
    axes[0, 0].set_title(
        "(a) transport: T_l / (√d Σ 2ε_i/(1−ε_i)), mean over replicates", fontsize=9
    )
    axes[0, 1].set_title(
        "(b) action: T_l / √(l · Act_l), Act_l = Σ_(i≤l) b_i², mean over replicates", fontsize=9
    )
    note(axes[0, 0], "hatched: bound undefined (some ε_i = ‖A_i − I‖₂ ≥ 1)", loc="upper right")

    ax = axes[0, 2]
    defined = ds["tightness_transport"].notnull().all(("replicate", "interface")).values
    largest_defined = int(np.nonzero(defined)[0][-1]) if defined.any() else 0
    picks = sorted({0, len(eps) // 2, largest_defined, len(eps) - 1})
    for c, j in enumerate(picks):
        for bound, style in (("transport", "-"), ("action", "--")):
            mean, mcse = mean_and_mcse(ds[f"tightness_{bound}"].isel(epsilon=j))
            if not np.any(np.isfinite(mean.values)):
                ax.plot(
                    [],
                    [],
                    style,
                    color=f"C{c}",
                    label=f"{bound}, ε = {eps[j]:.3g}: undefined (ε_i ≥ 1)",
                )
                continue
            ax.plot(depth, mean.values, style, color=f"C{c}", label=f"{bound}, ε = {eps[j]:.3g}")
            ax.fill_between(depth, mean - 2 * mcse, mean + 2 * mcse, color=f"C{c}", alpha=0.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("depth l (interface) [1]")
    ax.set_ylabel("tightness T_l / bound [1] (mean, band ±2 MCSE)")
    ax.set_title("(c) tightness along depth at selected ε", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    flagged, checked = count_violations(ds)
    fig.suptitle(
        f"Claim 6 (T4): transport and action budgets of the spectral Bures–Wasserstein path, "
        f"residual-MLP Jacobian chains (tanh), d = {fixed_parameter(ds, 'd')}, "
        f"{ds.sizes['replicate']} replicates per ε\n"
        f"violations {flagged} of {checked}; largest MCSE of a mapped mean {largest:.1g}",
        fontsize=11,
    )
    return save_figure(fig, path)
