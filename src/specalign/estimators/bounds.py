"""Deterministic drift bounds of THEORY.md §3 and their tightness (THEORY.md §5).

Pure functions of interface quantities. Each bound comes with the quantity it bounds (the
"actual"); :func:`tightness` turns the pair into ``actual / bound`` and a violation flag.
Derivations: docs/theory.md, "Chains and bounds".
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BOUNDS",
    "CHART_BOUNDS",
    "VIOLATION_ATOL",
    "VIOLATION_RTOL",
    "action_bound",
    "apriori_bound",
    "budget_bound",
    "displacement_bound",
    "hellinger_bound",
    "lidskii_bound",
    "margin_bound",
    "tightness",
    "transport_bound",
]

#: Bound names, as used in configs and in the dataset variables bound_<name>.
BOUNDS = (
    "margin",
    "displacement",
    "apriori",
    "budget",
    "lidskii",
    "hellinger",
    "transport",
    "action",
)

#: Bounds whose value depends on the chart (they carry a ``chart`` dimension).
CHART_BOUNDS = ("margin", "displacement", "apriori", "budget", "hellinger")

#: A bound is violated when ``actual > bound * (1 + VIOLATION_RTOL) + VIOLATION_ATOL``.
VIOLATION_RTOL = 1e-9
VIOLATION_ATOL = 1e-12


def margin_bound(r, s, residual_step, xbar):
    """T1 adjacent bound ``max(r_l, s_l)/xbar_d + |ρ_l − ρ_{l−1}|`` on ``|α̂_l − α̂_{l−1}|``.

    Notes
    -----
    From the exact identity ``xbar_d Δα̂_l = r_l − s_l − xbar_d Δρ_l`` and
    ``|r − s| ≤ max(r, s)`` for ``r, s ≥ 0``.
    """
    return np.maximum(r, s) / xbar + np.abs(residual_step)


def displacement_bound(net_margin_sum, residual_displacement, xbar):
    """T1 segment bound ``|Σ_{i≤l} (r_i − s_i)|/xbar_d + |ρ_l − ρ_0|`` on ``|α̂_l − α̂_0|``.

    ``net_margin_sum`` is the running sum of ``m_i = r_i − s_i`` from the chain's start.
    """
    return np.abs(net_margin_sum) / xbar + np.abs(residual_displacement)


def apriori_bound(kappa, residual_step, xbar):
    """T1 factor-only bound ``2 κ_l/xbar_d + |Δρ_l|`` (uses ``r_l, s_l ≤ 2 κ_l``)."""
    return 2.0 * np.asarray(kappa) / xbar + np.abs(residual_step)


def budget_bound(r, s, residual_step, xbar, axis=-1):
    """C1 depth budget with the chain's realized uniform budget, on ``max_l |Δα̂_l|``.

    ``M = (max_l σ_1(A_l)/GM(σ(A_l)))^L`` so ``2 log M / (L xbar_d) = max_l r_l / xbar_d``;
    to it are added ``max_l s_l / xbar_d`` and ``max_l |Δρ_l|`` (THEORY.md C1, general case).
    Reduces over ``axis`` (the interface axis).
    """
    return (
        np.max(r, axis=axis) / xbar
        + np.max(s, axis=axis) / xbar
        + np.max(np.abs(residual_step), axis=axis)
    )


def lidskii_bound(weights, log_sigma_factor):
    """T2 rearrangement bound on ``|α̂_l − α̂_{l−1}|`` for the ``ls`` chart.

    Parameters
    ----------
    weights : ndarray, shape (d,)
        The ``ls`` weights ``w`` of a *fixed* rank window (``Σ w = 0``).
    log_sigma_factor : ndarray, shape (..., d)
        ``log σ(A_l)``; ``v = 2 log σ(A_l)``.

    Returns
    -------
    ndarray, shape (...)
        ``max(⟨sort↑ w, sort↑ v⟩, −⟨sort↑ w, sort↓ v⟩)``.

    Notes
    -----
    Multiplicative Lidskii: ``log σ↓(A J) − log σ↓(J) ≺ log σ↓(A)``, so the change of the
    Cartan coordinate lies (up to a constant that ``Σ w = 0`` removes) in the permutohedron
    of ``v``, on which the linear form ``⟨w, ·⟩`` ranges over
    ``[⟨sort↑ w, sort↓ v⟩, ⟨sort↑ w, sort↑ v⟩]`` (rearrangement inequality).
    """
    w_up = np.sort(np.asarray(weights, dtype=np.float64))
    v_up = np.sort(2.0 * np.asarray(log_sigma_factor, dtype=np.float64), axis=-1)
    upper = np.sum(w_up * v_up, axis=-1)
    lower = np.sum(w_up * v_up[..., ::-1], axis=-1)
    return np.maximum(upper, -lower)


def hellinger_bound(residual_start, fisher_rao, residual_end):
    """T3 ``H(p_0, p_l) ≤ H(p_0, p(α̂_0)) + FR(α̂_0, α̂_l)/(2√2) + H(p(α̂_l), p_l)``."""
    return residual_start + np.abs(fisher_rao) / (2.0 * np.sqrt(2.0)) + residual_end


def transport_bound(epsilon, d, axis=-1):
    """T4 near-identity transport budget ``√d Σ_{i≤l} 2ε_i/(1 − ε_i)`` (running sum).

    ``epsilon`` holds ``ε_i = ‖A_i − I‖_2`` along ``axis``. Where some ``ε_i ≥ 1`` up to
    interface ``l`` the near-identity expansion gives no control: the bound is NaN there
    (and stays NaN further down the chain).
    """
    epsilon = np.asarray(epsilon, dtype=np.float64)
    applicable = np.cumprod(epsilon < 1.0, axis=axis).astype(bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(epsilon < 1.0, 2.0 * epsilon / (1.0 - epsilon), np.nan)
    total = np.sqrt(d) * np.cumsum(step, axis=axis)
    return np.where(applicable, total, np.nan)


def action_bound(bw_step, axis=-1):
    """T4 Cauchy–Schwarz ``T_l = Σ_{i≤l} b_i ≤ √(l · Σ_{i≤l} b_i²)`` (running)."""
    bw_step = np.asarray(bw_step, dtype=np.float64)
    n = np.cumsum(np.ones_like(bw_step), axis=axis)
    return np.sqrt(n * np.cumsum(bw_step**2, axis=axis))


def tightness(actual, bound, *, rtol=VIOLATION_RTOL, atol=VIOLATION_ATOL):
    """Tightness ratio ``actual / bound`` and violation flag.

    Returns
    -------
    ratio : ndarray
        ``actual / bound`` where ``bound > atol``; NaN where the bound is 0 up to rounding
        (``bound ≤ atol``: then the actual is 0 up to rounding too, unless the entry is a
        violation, and the entry is neither tight nor loose) or not defined (NaN bound).
    violation : ndarray of bool
        ``actual > bound · (1 + rtol) + atol`` (THEORY.md §5); False where the bound is NaN.
    """
    actual = np.asarray(actual, dtype=np.float64)
    bound = np.asarray(bound, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > atol, actual / bound, np.nan)
    violation = np.greater(
        actual,
        bound * (1.0 + rtol) + atol,
        where=np.isfinite(bound),
        out=np.zeros(np.broadcast(actual, bound).shape, dtype=bool),
    )
    return ratio, violation
