"""Claim 4 (THEORY.md T5): the near-identity expansion, remainder of order ε².

Studies ``4-near-identity-ginibre`` and ``4-near-identity-residual-mlp``: chains of
``A_l = I + ε B_l`` swept over ``ε`` with ``first_order = true``. With ``S = Σ_l B_l`` and
``ν = eig↓(S + Sᵀ)``, ``h(J_L) = ε (ν − mean ν) + O(ε²)``, hence ``α̂_ls ≈ ε ⟨w, ν⟩`` and
``ū ≈ ε (ν_1 − mean ν)/xbar_d``. The remainders at the last interface must fall as ``ε²``:
log-log slope 2, while the coordinates themselves scale as ``ε`` (slope 1). The slope is fitted
where the expansion parameter is small, ``ε ≤ FIT_MAX_EPSILON`` (``ε ‖S‖₂ ≲ 0.2`` at depth 8);
beyond it the higher orders bend the projected remainders (reported as the full-range slope).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._support import (
    ClaimSummary,
    count_violations,
    datasets_by_generator,
    failed_replicates,
    fixed_parameter,
    log_log_slope,
    mean_and_mcse,
    new_figure,
    note,
    pooled_estimate,
    save_figure,
)

__all__ = [
    "KEY",
    "NUMBER",
    "STUDIES",
    "TITLE",
    "make_figure",
    "remainder_slopes",
    "summarize_claim",
]

NUMBER = 4
KEY = "near-identity"
TITLE = "Near-identity expansion (T5): remainder of order ε²"
STUDIES = ("4-near-identity-ginibre", "4-near-identity-residual-mlp")
GENERATORS = ("ginibre", "residual_mlp")

#: Largest ε of the slope fit (the asymptotic range of the expansion).
FIT_MAX_EPSILON = 0.04

#: Remainders at the last interface: variable, label, units.
REMAINDERS = (
    ("first_order_remainder_cartan", "Cartan coordinate: max_k |h_k − ε(ν_k − mean ν)|", "nat"),
    ("first_order_remainder_exponent", "ls exponent: |α̂_ls − ε⟨w, ν⟩|", "1"),
    ("first_order_remainder_top_radial", "top-radial: |ū − ε(ν_1 − mean ν)/x̄_d|", "1"),
)


def _magnitudes(ds, name: str):
    """Per-replicate magnitude of a variable at the last interface (dims epsilon, replicate)."""
    return np.abs(ds[name].isel(interface=-1).astype(np.float64))


def remainder_slopes(
    ds, max_epsilon: float | None = FIT_MAX_EPSILON
) -> dict[str, tuple[float, float]]:
    """Log-log slope (and MCSE) of each mean remainder against ``ε ≤ max_epsilon``.

    ``max_epsilon=None`` fits every ``ε`` of the sweep. Keys: the remainder variables and
    ``top_radial`` (the coordinate itself, slope 1).
    """
    eps = ds["epsilon"].values
    keep = eps <= max_epsilon if max_epsilon is not None else np.ones(eps.size, dtype=bool)
    out = {}
    for name, _, _ in (*REMAINDERS, ("top_radial", "", "")):
        mean, mcse = mean_and_mcse(_magnitudes(ds, name))
        out[name] = log_log_slope(eps[keep], mean.values[keep], mcse.values[keep])
    return out


def summarize_claim(data) -> ClaimSummary:
    """Remainder slopes (target 2) per generator; bound violations of both studies."""
    studies = datasets_by_generator(data, GENERATORS)
    facts: dict[str, float] = {}
    tightness = []
    flagged = checked = failed = 0
    for kind, ds in studies.items():
        full_range = remainder_slopes(ds, None)
        for name, (slope, slope_mcse) in remainder_slopes(ds).items():
            short = name.replace("first_order_remainder_", "remainder_")
            facts[f"{kind}_slope_{short}"] = slope
            facts[f"{kind}_slope_{short}_mcse"] = slope_mcse
            facts[f"{kind}_full_range_slope_{short}"] = full_range[name][0]
        cartan = _magnitudes(ds, "first_order_remainder_cartan")
        eps = ds["epsilon"]
        mean, _ = mean_and_mcse(cartan / eps**2)
        facts[f"{kind}_cartan_remainder_over_eps2_smallest_eps"] = float(mean.isel(epsilon=0))
        facts[f"{kind}_cartan_remainder_over_eps2_largest_eps"] = float(mean.isel(epsilon=-1))
        facts[f"{kind}_largest_epsilon"] = float(eps.values[-1])
        tightness.append(
            pooled_estimate(ds, "tightness_margin", f"{kind}: margin (T1) tightness, all ε")
        )
        tightness.append(
            pooled_estimate(ds, "tightness_transport", f"{kind}: transport (T4) tightness, all ε")
        )
        k, n = count_violations(ds)
        flagged, checked, failed = flagged + k, checked + n, failed + failed_replicates(ds)
    return ClaimSummary(NUMBER, KEY, TITLE, flagged, checked, failed, tuple(tightness), facts)


def make_figure(data, path: str | Path) -> Path:
    """Remainders against ``ε`` (log-log) for both generators, with the slope-2 reference.

    Parameters
    ----------
    data : mapping or sequence of datasets or store paths
        The two studies of the claim (identified by their generator).
    path : path
        PNG to write.
    """
    studies = datasets_by_generator(data, GENERATORS)
    fig, axes = new_figure(14.0, 6.0, ncols=2)
    largest_relative = 0.0
    flagged = checked = 0
    for ax, (kind, ds) in zip(axes[0], studies.items(), strict=True):
        eps = ds["epsilon"].values
        slopes = remainder_slopes(ds)
        for k, (name, label, units) in enumerate(REMAINDERS):
            mean, mcse = mean_and_mcse(_magnitudes(ds, name))
            largest_relative = max(largest_relative, float(np.nanmax(mcse / mean)))
            slope, slope_mcse = slopes[name]
            ax.errorbar(
                eps,
                mean.values,
                yerr=mcse.values,
                fmt="-o",
                color=f"C{k}",
                capsize=3,
                markersize=5,
                label=f"{label} [{units}]: slope {slope:.3f} ± {slope_mcse:.2g}",
            )
        mean, _ = mean_and_mcse(_magnitudes(ds, "top_radial"))
        slope, slope_mcse = slopes["top_radial"]
        ax.plot(
            eps,
            mean.values,
            ":",
            color="0.4",
            marker="x",
            label=f"the coordinate itself, |ū_L| [1]: slope {slope:.3f}",
        )
        cartan, _ = mean_and_mcse(_magnitudes(ds, "first_order_remainder_cartan"))
        reference = float(cartan.values[0]) * (eps / eps[0]) ** 2
        ax.plot(eps, reference, "--", color="black", lw=1, label="reference ∝ ε² (slope 2)")
        if eps[-1] > FIT_MAX_EPSILON:
            ax.axvspan(
                FIT_MAX_EPSILON,
                eps[-1] * 1.3,
                color="0.9",
                zorder=0,
                label=f"ε > {FIT_MAX_EPSILON:g}: outside the slope fit",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(eps[0] / 1.3, eps[-1] * 1.3)
        ax.set_xlabel("perturbation size ε (generator parameter) [1]")
        ax.set_ylabel("mean remainder at the last interface (± MCSE) [nat or 1]")
        ax.set_title(
            f"{kind}: d = {fixed_parameter(ds, 'd')}, L = {fixed_parameter(ds, 'depth')}, "
            f"{ds.sizes['replicate']} replicates per ε",
            fontsize=10,
        )
        ax.legend(fontsize=7, loc="upper left")
        k, n = count_violations(ds)
        flagged, checked = flagged + k, checked + n
        note(ax, f"bound violations (margin, transport): {k} of {n}", loc="lower right")
    fig.suptitle(
        "Claim 4 (T5): near-identity expansion h(J_L) = ε(ν − mean ν) + O(ε²), "
        "ν = eig↓(S + Sᵀ), S = Σ_l B_l\n"
        f"slopes: least-squares fits of log(mean) on log ε for ε ≤ {FIT_MAX_EPSILON:g}, ± MCSE; "
        f"largest relative MCSE "
        f"of a plotted mean {largest_relative:.1g}",
        fontsize=11,
    )
    return save_figure(fig, path)
