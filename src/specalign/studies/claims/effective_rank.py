"""Claim 5 (THEORY.md T6, T7): the effective-rank transition at α = 1.

Computed directly from orbit spectra (no Monte Carlo, no chains): for each exponent ``α``,
energy fraction ``q`` and width ``d`` from 64 to 8192, the quantile rank
``k_q = min{k : Σ_{i≤k} p_i ≥ q}`` of ``λ(α)``, the closed-form T6 brackets (THEORY.md's
``integral`` comparison and the narrower ``convex`` one) and the T7 limits
``k_q/d → q^{1/(1−α)}`` (α < 1), ``log k_q/log d → q`` (α = 1), ``k_q → `` the zeta quantile
(α > 1). A rank outside its bracket is a violation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ...estimators.orbit import orbit
from ...estimators.rank import (
    REGIME_BOUNDED,
    effective_rank,
    orbit_quantile_rank_bracket,
    quantile_rank_limit,
)
from ._support import ClaimSummary, Estimate, new_figure, note, open_data, save_figure

__all__ = [
    "ALPHAS",
    "KEY",
    "NUMBER",
    "QS",
    "STUDIES",
    "TITLE",
    "compute_and_store",
    "compute_rank_transition",
    "make_figure",
    "summarize_claim",
    "widths",
]

NUMBER = 5
KEY = "effective-rank"
TITLE = "Effective-rank transition at α = 1 (T6, T7)"
STUDIES: tuple[str, ...] = ()

#: Exponents (eigenvalue rank exponent) and energy fractions of the full computation.
ALPHAS = (0.5, 0.8, 0.9, 1.0, 1.1, 1.5, 2.0)
QS = (0.5, 0.9)


def widths(smoke: bool = False) -> np.ndarray:
    """Widths ``d = 64 · 2^(j/2)`` up to 8192 (full, 15 values) or 1024 (smoke, 5 values)."""
    if smoke:
        return np.array([64, 128, 256, 512, 1024])
    return np.round(64 * 2.0 ** (np.arange(15) / 2)).astype(np.int64)


def compute_rank_transition(alphas=ALPHAS, dims=None, qs=QS) -> xr.Dataset:
    """Quantile ranks of orbit spectra, their T6 brackets and T7 limits.

    Parameters
    ----------
    alphas : sequence of float
        Exponents ``α ≥ 0`` (``λ_k ∝ k^-α``).
    dims : sequence of int, optional
        Widths ``d ≥ 2`` (default :func:`widths`).
    qs : sequence of float
        Energy fractions in ``(0, 1)``.

    Returns
    -------
    xarray.Dataset
        Dims ``(alpha, q, d)``: ``k_q``, ``bracket_low``/``bracket_high`` (T6, integral
        comparison), ``convex_low``/``convex_high`` (midpoint/trapezoid comparison),
        ``violation`` (``k_q`` outside either bracket); dims ``(alpha, q)``: ``limit``
        and ``limit_regime`` (see :func:`~specalign.estimators.rank.quantile_rank_limit`).

    Notes
    -----
    One orbit spectrum ``λ(α)`` per ``(α, d)`` (batched over ``α``); widths differ in
    length, hence the loop over ``d``. Exact: there is no Monte Carlo error.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    qs = np.asarray(qs, dtype=np.float64)
    dims = widths() if dims is None else np.asarray(dims, dtype=np.int64)
    shape = (alphas.size, qs.size, dims.size)
    k = np.empty(shape, dtype=np.int64)
    brackets = {
        name: np.empty(shape, dtype=np.int64)
        for name in ("bracket_low", "bracket_high", "convex_low", "convex_high")
    }
    a_grid, q_grid = np.meshgrid(alphas, qs, indexing="ij")
    for j, d in enumerate(dims):
        lam = orbit(alphas, int(d))  # (alpha, d)
        for i, q in enumerate(qs):
            k[:, i, j] = effective_rank(lam, float(q))
        low, high = orbit_quantile_rank_bracket(a_grid, int(d), q_grid)
        brackets["bracket_low"][:, :, j], brackets["bracket_high"][:, :, j] = low, high
        low, high = orbit_quantile_rank_bracket(a_grid, int(d), q_grid, bounds="convex")
        brackets["convex_low"][:, :, j], brackets["convex_high"][:, :, j] = low, high
    violation = (
        (k < brackets["bracket_low"])
        | (k > brackets["bracket_high"])
        | (k < brackets["convex_low"])
        | (k > brackets["convex_high"])
    )
    limit = quantile_rank_limit(a_grid, q_grid)
    dims3 = ("alpha", "q", "d")
    rank_attrs = {"units": "1"}
    data = {
        "k_q": (dims3, k, {"long_name": "energy-quantile rank k_q of λ(α)", **rank_attrs}),
        "violation": (dims3, violation, {"long_name": "k_q outside a T6 bracket", "units": "1"}),
        "limit": (
            ("alpha", "q"),
            limit.value,
            {
                "long_name": "T7 limit: lim k_q/d (α<1), lim log k_q/log d (α=1), lim k_q (α>1)",
                "units": "1",
            },
        ),
        "limit_regime": (
            ("alpha", "q"),
            limit.regime,
            {"long_name": "0 linear (α<1), 1 logarithmic (α=1), 2 bounded (α>1)", "units": "1"},
        ),
    }
    for name, values in brackets.items():
        kind = "T6 integral" if name.startswith("bracket") else "convex (midpoint/trapezoid)"
        attrs = {"long_name": f"{kind} bracket, {name.split('_')[1]} end", **rank_attrs}
        data[name] = (dims3, values, attrs)
    return xr.Dataset(
        data,
        coords={"alpha": alphas, "q": qs, "d": dims},
        attrs={
            "title": "claim 5: effective-rank transition on the power-law orbit",
            "exponent_convention": "eigenvalue rank exponent: λ_k ∝ k^-α (σ_k ∝ k^-α/2)",
            "generator": "orbit spectra (exact, no sampling)",
        },
    )


def compute_and_store(output_dir: str | Path = "outputs/claims", *, smoke: bool = False) -> Path:
    """Compute the claim's dataset and write it as Zarr; returns the store path."""
    out = Path(output_dir) / ("smoke" if smoke else "")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"claim-5-effective-rank{'-smoke' if smoke else ''}.zarr"
    ds = compute_rank_transition(dims=widths(smoke))
    ds.to_zarr(path, mode="w", zarr_format=2, consolidated=True)
    return path


def _relative_width(ds, low: str, high: str) -> xr.DataArray:
    return (ds[high] - ds[low]) / ds["k_q"]


def summarize_claim(data) -> ClaimSummary:
    """Bracket violations (must be 0), bracket widths and the approach to the T7 limits."""
    ds = open_data(data)
    integral = _relative_width(ds, "bracket_low", "bracket_high")
    convex = _relative_width(ds, "convex_low", "convex_high")
    d_max = int(ds["d"].values[-1])
    tightness = [
        Estimate(
            "largest relative width (k_hi − k_lo)/k_q, T6 integral bracket",
            float(integral.max()),
            0.0,
        ),
        Estimate("largest relative width, convex bracket", float(convex.max()), 0.0),
        Estimate(
            f"median relative width at d = {d_max}, T6 integral bracket",
            float(integral.sel(d=d_max).median()),
            0.0,
        ),
    ]
    facts = {}
    last = ds.sel(d=d_max)
    for q in ds["q"].values:
        at_one = last.sel(alpha=1.0, q=q)
        facts[f"log_kq_over_log_d_alpha1_q{q:g}_d{d_max}"] = float(
            np.log(at_one["k_q"]) / np.log(d_max)
        )
        facts[f"kq_over_d_alpha0.5_q{q:g}_d{d_max}"] = float(
            last.sel(alpha=0.5, q=q)["k_q"] / d_max
        )
        facts[f"limit_kq_over_d_alpha0.5_q{q:g}"] = float(ds["limit"].sel(alpha=0.5, q=q))
        facts[f"kq_alpha2_q{q:g}_d{d_max}"] = float(last.sel(alpha=2.0, q=q)["k_q"])
        facts[f"limit_kq_alpha2_q{q:g}"] = float(ds["limit"].sel(alpha=2.0, q=q))
    violations = int(ds["violation"].sum())
    return ClaimSummary(
        NUMBER, KEY, TITLE, violations, int(ds["violation"].size), 0, tuple(tightness), facts
    )


def make_figure(data, path: str | Path) -> Path:
    """(a) ``k_q/d`` for α < 1; (b) ``log k_q/log d`` around α = 1; (c) ``k_q`` for α > 1.

    Parameters
    ----------
    data : xarray.Dataset or path
        The output of :func:`compute_rank_transition` (or its store).
    path : path
        PNG to write.
    """
    ds = open_data(data)
    d = ds["d"].values.astype(np.float64)
    fig, axes = new_figure(18.0, 6.0, ncols=3)
    q_main = float(ds["q"].values[-1])

    def band(ax, low, high, color, transform, label=None, alpha=0.15):
        ax.fill_between(
            d, transform(low), transform(high), color=color, alpha=alpha, lw=0, label=label
        )

    ax = axes[0, 0]
    for c, alpha in enumerate(a for a in ds["alpha"].values if a < 1):
        part = ds.sel(alpha=alpha, q=q_main)
        scale = lambda v: np.asarray(v, dtype=np.float64) / d  # noqa: E731
        band(
            ax,
            part["bracket_low"],
            part["bracket_high"],
            f"C{c}",
            scale,
            "T6 bracket (integral)" if c == 0 else None,
        )
        band(
            ax,
            part["convex_low"],
            part["convex_high"],
            f"C{c}",
            scale,
            "convex bracket (inside)" if c == 0 else None,
            alpha=0.35,
        )
        ax.plot(
            d, scale(part["k_q"]), "-o", color=f"C{c}", markersize=4, label=f"α = {alpha:g}: k_q/d"
        )
        ax.axhline(
            float(part["limit"]),
            color=f"C{c}",
            ls=":",
            lw=1.2,
            label=f"α = {alpha:g}: limit q^(1/(1−α)) = {float(part['limit']):.3f}",
        )
    ax.set_ylabel(f"k_q / d [1] (q = {q_main:g})")
    ax.set_title("(a) α < 1: the energy spreads over a fixed fraction of ranks", fontsize=10)

    ax = axes[0, 1]
    styles = {float(ds["q"].values[0]): "--", q_main: "-"}
    near = [a for a in ds["alpha"].values if 0.85 <= a <= 1.15]
    for c, alpha in enumerate(near):
        for q in ds["q"].values:
            part = ds.sel(alpha=alpha, q=q)
            scale = lambda v: np.log(np.asarray(v, dtype=np.float64)) / np.log(d)  # noqa: E731
            first = c == 0 and q == ds["q"].values[0]
            band(
                ax,
                part["bracket_low"],
                part["bracket_high"],
                f"C{c + 3}",
                scale,
                "bands: T6 bracket (integral)" if first else None,
            )
            ax.plot(
                d,
                scale(part["k_q"]),
                styles[float(q)],
                marker="o",
                markersize=3,
                color=f"C{c + 3}",
                label=f"α = {alpha:g}, q = {q:g}",
            )
    for q in ds["q"].values:
        ax.axhline(float(q), color="black", ls=":", lw=1.0)
        ax.text(
            d[-1], float(q) - 0.012, f"α = 1 limit: q = {q:g}", fontsize=8, ha="right", va="top"
        )
    ax.set_ylabel("log k_q / log d [1]")
    ax.set_title("(b) around α = 1: log k_q / log d → q at α = 1 (slowly, O(1/log d))", fontsize=10)

    ax = axes[0, 2]
    above = [a for a in ds["alpha"].values if a > 1]
    for c, alpha in enumerate(above):
        part = ds.sel(alpha=alpha, q=q_main)
        same = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
        band(
            ax,
            part["bracket_low"],
            part["bracket_high"],
            f"C{c + 6}",
            same,
            "T6 bracket (integral)" if c == 0 else None,
        )
        ax.plot(
            d,
            part["k_q"].values,
            "-o",
            markersize=4,
            color=f"C{c + 6}",
            label=f"α = {alpha:g}: k_q",
        )
        limit = float(part["limit"])
        if int(part["limit_regime"]) == REGIME_BOUNDED and limit < 10 * d[-1]:
            ax.axhline(
                limit,
                color=f"C{c + 6}",
                ls=":",
                lw=1.2,
                label=f"α = {alpha:g}: zeta-quantile limit {limit:.0f}",
            )
        else:
            ax.plot([], [], " ", label=f"α = {alpha:g}: limit {limit:.3g} (off the chart)")
    ax.set_yscale("log")
    ax.set_ylabel(f"k_q [1] (q = {q_main:g})")
    ax.set_title("(c) α > 1: k_q stays bounded (the zeta quantile)", fontsize=10)

    for ax in axes[0]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("width d (number of ranks) [1]")
        ax.legend(fontsize=7, loc="best")
    violations = int(ds["violation"].sum())
    note(
        axes[0, 0],
        f"k_q outside a bracket: {violations} of {ds['violation'].size}",
        loc="lower left",
    )
    fig.suptitle(
        "Claim 5 (T6, T7): energy-quantile rank k_q = min{k : Σ_(i≤k) p_i ≥ q} of the power-law "
        "orbit λ_k ∝ k^(−α), bands = closed-form T6 brackets\n"
        "exact computation on orbit spectra: no Monte Carlo error (MCSE = 0)",
        fontsize=11,
    )
    return save_figure(fig, path)
