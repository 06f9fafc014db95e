"""Chart quality: the record of one chart fit and its residuals (THEORY.md D5).

For a chart ``c`` with exponent ``α̂`` the package reports

* the signed orbit-chart residual ``ρ = ū − α̂`` (``ū`` the normalized top-radial
  coordinate): the term the margin identity T1 carries from interface to interface;
* the Cartan residual vector ``e = h − h(α̂)`` (``h(α)`` the orbit's Cartan coordinates); for
  ``ls`` the regression residual on its window ``W`` (zeros off ``W``), so that on the full
  window ``ρ = e_1 / xbar_d``;
* ``max_k |e_k|``, the ``R²`` of the fit, and the Hellinger residual ``H(p, p(α̂))``, the
  distance of the whole rank distribution from the chart's orbit point (THEORY.md T3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..._validation import as_float_array, as_spectrum, check_dimension
from ..coordinates import top_radial_log
from ..geometry import hellinger_log
from ..orbit import orbit_log_spectrum
from . import chart_module
from .ls import ls_regression
from .windows import check_window, describe_window

__all__ = ["ChartFit", "chart_fit", "chart_fit_log"]

_EPS = float(np.finfo(np.float64).eps)
_FLAT_ULPS = 8.0  # same flatness rule as the ls chart's R² (charts/ls.py)


@dataclass(frozen=True, eq=False)
class ChartFit:
    """Immutable record of a chart fit on a batch of spectra (shapes: ``batch = (...)``).

    Attributes
    ----------
    alpha : numpy.ndarray, shape batch
        Fitted exponent ``α̂`` (eigenvalue rank convention, ``λ_k ∝ k^(−α)``); NaN where the
        chart did not converge (see ``status``).
    status : numpy.ndarray of int8, shape batch
        ``STATUS_OK`` (0), ``STATUS_CAPPED`` (1) or ``STATUS_NOT_CONVERGED`` (2).
    chart : str
        Chart name (``"ls"``, ``"gibbs"``, ``"hellinger"``, ``"top"``, ``"tail"``).
    window : str
        Description of the rank window (:func:`~.windows.describe_window`).
    top_radial : numpy.ndarray, shape batch
        ``ū = (h_1 − mean h) / xbar_d``.
    rho : numpy.ndarray, shape batch
        Signed orbit-chart residual ``ρ = ū − α̂``.
    cartan_residual : numpy.ndarray, shape batch + (d,)
        ``e = h − h(α̂)``; for ``ls`` the regression residual on the window, 0 off it.
    residual_sup : numpy.ndarray, shape batch
        ``max_k |e_k|``.
    r2 : numpy.ndarray, shape batch
        ``ls``: ``R²`` of the log-log fit on the window (in ``[0, 1]``). Other charts:
        ``1 − Σ e² / Σ (h − h̄)²`` over all ranks (the orbit point has no free intercept,
        so it can be negative). ``1`` for spectra flat up to rounding.
    hellinger_residual : numpy.ndarray, shape batch
        ``H(p, p(α̂))``, ``H² = ½ Σ (√p_k − √q_k)²``, ``p = λ/d``.
    options : dict
        Chart options used (e.g. ``alpha_max``).
    """

    alpha: np.ndarray
    status: np.ndarray
    chart: str
    window: str
    top_radial: np.ndarray
    rho: np.ndarray
    cartan_residual: np.ndarray
    residual_sup: np.ndarray
    r2: np.ndarray
    hellinger_residual: np.ndarray
    options: dict[str, Any] = field(default_factory=dict)


def _normalized_cartan(h) -> np.ndarray:
    """Finite ``h`` (``d >= 2``), sorted non-increasing, shifted to ``logsumexp = log d``."""
    arr = as_float_array(h, "h", min_ndim=1)
    check_dimension(arr.shape[-1], "the last axis of h (d)")
    arr = -np.sort(-arr, axis=-1)
    top = arr[..., :1]
    log_total = top + np.log(np.sum(np.exp(arr - top), axis=-1, keepdims=True))
    return arr - log_total + np.log(arr.shape[-1])


def _orbit_r2(h: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """``1 − Σ e² / Σ (h − h̄)²`` over all ranks, ``1`` for spectra flat to rounding."""
    centred = h - np.mean(h, axis=-1, keepdims=True)
    ss_tot = np.sum(centred * centred, axis=-1)
    ss_res = np.sum(residual * residual, axis=-1)
    scale = 1.0 + np.max(np.abs(h), axis=-1)
    flat = ss_tot <= h.shape[-1] * (_FLAT_ULPS * _EPS * scale) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, 1.0, 1.0 - ss_res / np.where(flat, 1.0, ss_tot))


def chart_fit_log(h, chart: str = "ls", window=None, **options) -> ChartFit:
    """Fit a chart to Cartan coordinates and measure how well the orbit describes them.

    Parameters
    ----------
    h : array_like, shape (..., d)
        Cartan coordinates ``log λ`` (any order and additive constant; sorted and shifted to
        ``logsumexp(h) = log d`` here), finite, ``d >= 2``.
    chart : str
        Any registered chart (:data:`specalign.estimators.charts.CHARTS`).
    window : None, (k_lo, k_hi) or float q
        Rank window (only the ``ls`` chart accepts one).
    **options
        Chart options, passed to the chart's ``fit``.

    Returns
    -------
    ChartFit
        Exponent, status and residuals. A fit that did not converge gives NaN residuals
        with ``status = STATUS_NOT_CONVERGED`` (no exception).

    Notes
    -----
    ``ρ = ū − α̂``; ``e = h − h(max(α̂, 0))`` (the clip only absorbs rounding below 0),
    for ``ls`` the regression residual ``e_k = (h_k − h̄_W) + α̂ (x_k − x̄_W)`` on ``W``, for
    which ``ρ = e_1 / xbar_d`` on the full window; ``H(p, p(α̂))`` by
    :func:`specalign.estimators.geometry.hellinger_log`. See
    docs/theory/spectra-and-linear-charts.md.
    """
    h = _normalized_cartan(h)
    d = h.shape[-1]
    estimate = chart_module(chart).fit(h, window=window, **options)
    alpha = np.asarray(estimate.alpha, dtype=np.float64)
    status = np.asarray(estimate.status, dtype=np.int8)
    ubar = np.asarray(top_radial_log(h))
    fitted = np.isfinite(alpha)
    h_orbit = orbit_log_spectrum(np.where(fitted, np.maximum(alpha, 0.0), 0.0), d)
    if chart == "ls":
        regression = ls_regression(h, window)
        residual, r2 = regression.residual, regression.r2
    else:
        residual = np.where(fitted[..., None], h - h_orbit, np.nan)
        r2 = np.where(fitted, _orbit_r2(h, np.where(fitted[..., None], residual, 0.0)), np.nan)
    hellinger = np.full(alpha.shape, np.nan)
    if np.any(fitted):
        hellinger[fitted] = hellinger_log(h[fitted], h_orbit[fitted])
    return ChartFit(
        alpha=alpha,
        status=status,
        chart=chart,
        window=describe_window(check_window(window, d)),
        top_radial=ubar,
        rho=np.asarray(ubar - alpha),
        cartan_residual=residual,
        residual_sup=np.asarray(np.max(np.abs(residual), axis=-1)),
        r2=np.asarray(r2),
        hellinger_residual=hellinger,
        options=dict(options),
    )


def chart_fit(lam, chart: str = "ls", window=None, **options) -> ChartFit:
    """Fit a chart to spectra and measure the fit (see :func:`chart_fit_log`).

    Parameters
    ----------
    lam : array_like, shape (..., d)
        Positive spectra (any scale and order; normalized to sum ``d``), ``d >= 2``.
    chart, window, **options
        As in :func:`chart_fit_log`.

    Returns
    -------
    ChartFit
    """
    return chart_fit_log(np.log(as_spectrum(lam, "lam")), chart, window, **options)
