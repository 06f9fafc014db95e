"""The ``ls`` chart: least squares of ``log λ_k`` on ``log k`` over a rank window (D5).

``α̂ = ⟨w, h⟩`` with ``w_k = −(x_k − x̄_W) / S_W`` on the window ``W`` and 0 elsewhere,
``x_k = log k``, ``x̄_W`` the mean of ``x`` over ``W``, ``S_W = Σ_W (x_k − x̄_W)²``. The
weights satisfy ``Σ w = 0`` (the normalization constant of ``h`` drops out) and
``⟨w, x⟩ = −1`` (so ``α̂ = α`` on the orbit ``h = c − α x``). Linear in ``h``; a fixed window
is one matrix-vector product over the batch.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np

from ..._validation import as_float_array, check_dimension
from ...errors import ChartError
from ..orbit import log_ranks
from . import ChartEstimate
from .windows import check_window, resolve_window, window_mask

__all__ = [
    "LsRegression",
    "fit",
    "ls_r2",
    "ls_regression",
    "ls_residual",
    "ls_weights",
    "ls_weights_masked",
]

_EPS = float(np.finfo(np.float64).eps)
# A window where h is flat up to this many ulps (of 1 + max|h|) counts as an exact fit.
_FLAT_ULPS = 8.0


class LsRegression(NamedTuple):
    """The log-log least-squares fit of each spectrum on its window.

    Attributes
    ----------
    alpha : numpy.ndarray, shape (...)
        ``α̂ = −slope`` (eigenvalue rank exponent).
    residual : numpy.ndarray, shape (..., d)
        Regression residual ``e_k = h_k − (a + b x_k)`` on the window, 0 off it.
    r2 : numpy.ndarray, shape (...)
        Coefficient of determination on the window, in ``[0, 1]``.
    k_lo, k_hi : numpy.ndarray of int64, shape (...)
        The window, 1-based inclusive.
    """

    alpha: np.ndarray
    residual: np.ndarray
    r2: np.ndarray
    k_lo: np.ndarray
    k_hi: np.ndarray


def _cartan(h) -> np.ndarray:
    arr = as_float_array(h, "h", min_ndim=1)
    check_dimension(arr.shape[-1], "the last axis of h (d)")
    return arr


def ls_weights(d: int, window=None) -> np.ndarray:
    """Weights ``w`` of the ``ls`` chart for a fixed window: ``α̂ = ⟨w, h⟩``.

    Parameters
    ----------
    d : int
        Dimension, ``>= 2``.
    window : None or (k_lo, k_hi)
        All ranks, or the 1-based inclusive ranks ``k_lo..k_hi``. An energy-quantile window
        depends on the spectrum: use :func:`ls_weights_masked`.

    Returns
    -------
    numpy.ndarray, shape (d,)
        ``w_k = −(x_k − x̄_W) / S_W`` on ``W``, 0 elsewhere; ``Σ w = 0``, ``⟨w, x⟩ = −1``.

    Notes
    -----
    ``x_k = log k``, ``x̄_W = mean_W x``, ``S_W = Σ_W (x_k − x̄_W)²`` (THEORY.md D5). See
    docs/theory/spectra-and-linear-charts.md.
    """
    d = check_dimension(d)
    window = check_window(window, d)
    if isinstance(window, float):
        raise ChartError(
            f"the energy-quantile window q={window} depends on each spectrum: use "
            "ls_weights_masked(window_mask(*resolve_window(q, h), d)) or fit(h, window=q)"
        )
    k_lo, k_hi = (1, d) if window is None else window
    return _fixed_weights(d, k_lo, k_hi).copy()


@functools.lru_cache(maxsize=64)
def _fixed_weights(d: int, k_lo: int, k_hi: int) -> np.ndarray:
    """Read-only weights of a fixed window (cached: chains refit every interface)."""
    x = log_ranks(d)[k_lo - 1 : k_hi]
    # Correctly rounded mean plus one refinement pass: Σ (x − x̄) = 0 to rounding, which
    # keeps ⟨w, x⟩ = −1 and Σ w = 0 to ~1e-15 even for d = 10^5 (exactness on the orbit).
    centred = x - math.fsum(x) / x.size
    centred -= math.fsum(centred) / x.size
    weights = np.zeros(d)
    weights[k_lo - 1 : k_hi] = -centred / math.fsum(centred * centred)
    weights.flags.writeable = False
    return weights


def ls_weights_masked(mask) -> np.ndarray:
    """Per-spectrum weights ``(..., d)`` for windows given as a boolean mask ``(..., d)``.

    Each row of ``mask`` must select at least two ranks; the weights are those of
    :func:`ls_weights` on the selected ranks.
    """
    mask = np.asarray(mask, dtype=bool)
    x = log_ranks(mask.shape[-1])
    count = np.sum(mask, axis=-1, keepdims=True)
    mean = np.sum(np.where(mask, x, 0.0), axis=-1, keepdims=True) / count
    centred = np.where(mask, x - mean, 0.0)
    # One refinement pass, as in _window_weights: Σ_W (x − x̄_W) = 0 to rounding.
    centred -= np.where(mask, np.sum(centred, axis=-1, keepdims=True) / count, 0.0)
    return -centred / np.sum(centred * centred, axis=-1, keepdims=True)


def _weights_for(window, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights (``(d,)`` or ``(..., d)``) and window bounds for ``h``."""
    d = h.shape[-1]
    k_lo, k_hi = resolve_window(window, h)
    window = check_window(window, d)
    if isinstance(window, float):
        return ls_weights_masked(window_mask(k_lo, k_hi, d)), k_lo, k_hi
    return _fixed_weights(d, *((1, d) if window is None else window)), k_lo, k_hi


def fit(h, *, window=None) -> ChartEstimate:
    """Fit the exponent by least squares of ``h_k`` on ``log k`` over a window (D5).

    Parameters
    ----------
    h : array_like, shape (..., d)
        Normalized Cartan coordinates ``log λ``, sorted non-increasing (any additive
        constant: it drops out), finite, ``d >= 2``.
    window : None, (k_lo, k_hi) or float q
        Rank window (:mod:`specalign.estimators.charts.windows`).

    Returns
    -------
    ChartEstimate
        ``alpha`` ``(...)`` (``α̂ >= 0`` for ordered spectra, exact on the orbit) and
        ``status`` (always ``STATUS_OK``).

    Notes
    -----
    ``α̂ = ⟨w, h⟩ = −Σ_W (x_k − x̄_W) h_k / S_W``. Chebyshev's sum inequality (``x``
    increasing, ``h`` non-increasing) gives ``α̂ >= 0``. See
    docs/theory/spectra-and-linear-charts.md.
    """
    h = _cartan(h)
    weights, _, _ = _weights_for(window, h)
    # Not `h @ weights`: BLAS gemv rounds differently with the batch size, and studies
    # must give the same bits whatever the task size.
    alpha = np.sum(weights * h, axis=-1)
    return ChartEstimate(np.asarray(alpha), np.zeros(np.shape(alpha), dtype=np.int8))


def ls_regression(h, window=None) -> LsRegression:
    """Exponent, regression residual and ``R²`` of the ``ls`` fit on each window.

    Parameters
    ----------
    h : array_like, shape (..., d)
        Cartan coordinates ``log λ``, sorted non-increasing, finite, ``d >= 2``.
    window : None, (k_lo, k_hi) or float q
        Rank window.

    Returns
    -------
    LsRegression
        ``alpha``, ``residual`` (zeros off the window), ``r2``, ``k_lo``, ``k_hi``.

    Notes
    -----
    On ``W``: ``e_k = (h_k − h̄_W) + α̂ (x_k − x̄_W)``;
    ``R² = 1 − Σ_W e² / Σ_W (h − h̄_W)²``. When ``h`` is flat on ``W`` up to rounding
    (``Σ_W (h − h̄_W)² <= n_W (8 eps (1 + max_W |h|))²``) the fit is exact and ``R² = 1``.
    On the full window ``e_1 = u − α̂ xbar_d``, so ``ρ = ū − α̂ = e_1 / xbar_d``.
    """
    h = _cartan(h)
    d = h.shape[-1]
    weights, k_lo, k_hi = _weights_for(window, h)
    mask = window_mask(k_lo, k_hi, d)
    # Not `h @ weights`: BLAS gemv rounds differently with the batch size, and studies
    # must give the same bits whatever the task size.
    alpha = np.sum(weights * h, axis=-1)
    count = np.sum(mask, axis=-1)
    x = log_ranks(d)
    x_mean = np.sum(np.where(mask, x, 0.0), axis=-1) / count
    h_mean = np.sum(np.where(mask, h, 0.0), axis=-1) / count
    h_centred = np.where(mask, h - h_mean[..., None], 0.0)
    x_centred = np.where(mask, x - x_mean[..., None], 0.0)
    residual = h_centred + np.asarray(alpha)[..., None] * x_centred
    ss_res = np.sum(residual * residual, axis=-1)
    ss_tot = np.sum(h_centred * h_centred, axis=-1)
    scale = 1.0 + np.max(np.where(mask, np.abs(h), 0.0), axis=-1)
    flat = ss_tot <= count * (_FLAT_ULPS * _EPS * scale) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(flat, 1.0, 1.0 - ss_res / np.where(flat, 1.0, ss_tot))
    return LsRegression(np.asarray(alpha), residual, np.clip(r2, 0.0, 1.0), k_lo, k_hi)


def ls_residual(h, window=None) -> np.ndarray:
    """Regression residual ``e`` ``(..., d)`` of the ``ls`` fit on the window, 0 off it.

    ``e_k = h_k − (a + b log k)`` with the least-squares intercept ``a`` and slope
    ``b = −α̂`` on ``W`` (see :func:`ls_regression`).
    """
    return ls_regression(h, window).residual


def ls_r2(h, window=None) -> np.ndarray:
    """``R²`` ``(...)`` of the log-log least-squares fit on the window (see
    :func:`ls_regression`)."""
    return ls_regression(h, window).r2
