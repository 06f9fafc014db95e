"""The ``tail`` chart: power-law fit of the eigenvalue density tail (THEORY.md D2, D5).

Heavy-tail practice (Clauset, Shalizi & Newman 2009; the ``powerlaw`` package; WeightWatcher)
treats the eigenvalues ``{λ_k}`` as a sample from a density ``ρ(λ) ∝ λ^(−a)`` for
``λ >= x_min`` and fits ``a`` by maximum likelihood, choosing ``x_min`` by the smallest
Kolmogorov–Smirnov distance. This chart does the same, for comparison with that practice, and
reports the implied rank exponent ``α = 1/(a − 1)``. It estimates a different object (a
density, from a finite sample) and is not exact on the orbit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..._validation import as_float_array, as_spectrum, check_dimension
from ...errors import ChartError, InputError
from . import STATUS_NOT_CONVERGED, STATUS_OK, ChartEstimate

__all__ = ["DEFAULT_MAX_CANDIDATES", "DEFAULT_MIN_TAIL", "TailFit", "fit", "fit_tail"]

#: Fewest distinct values a tail may hold (the ``powerlaw`` package's rule: its candidates
#: for ``x_min`` exclude the two largest distinct values).
DEFAULT_MIN_TAIL = 3
#: Most ``x_min`` candidates tried per spectrum; beyond, an evenly spaced subset (by rank).
DEFAULT_MAX_CANDIDATES = 1000
# Elements of the (candidates × tail points) KS matrix evaluated at once.
_KS_BLOCK_ELEMENTS = 1 << 18


class TailFit(NamedTuple):
    """Power-law fits of eigenvalue density tails, one entry per spectrum (shape ``(...)``).

    Attributes
    ----------
    a : numpy.ndarray
        Density tail exponent, ``ρ(λ) ∝ λ^(−a)`` for ``λ >= x_min`` (``inf`` when all
        eigenvalues are equal).
    a_stderr : numpy.ndarray
        Its standard error ``(a − 1)/√n``.
    ks_distance : numpy.ndarray
        Kolmogorov–Smirnov distance ``D`` between the tail's empirical CDF and the fit.
    n_tail : numpy.ndarray of int64
        Tail size ``n`` (eigenvalues ``>= x_min``).
    x_min : numpy.ndarray
        Lower end of the tail, in the units of the input eigenvalues.
    rank_exponent : numpy.ndarray
        Implied rank exponent ``α = 1/(a − 1)`` (eigenvalue convention, ``λ_k ∝ k^(−α)``).
    status : numpy.ndarray of int8
        ``STATUS_OK``, or ``STATUS_NOT_CONVERGED`` when no tail has ``min_tail`` distinct
        values (then every other field is NaN, ``n_tail`` 0).
    """

    a: np.ndarray
    a_stderr: np.ndarray
    ks_distance: np.ndarray
    n_tail: np.ndarray
    x_min: np.ndarray
    rank_exponent: np.ndarray
    status: np.ndarray


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _fit_one(u: np.ndarray, min_tail: int, max_candidates: int | None) -> tuple:
    """Fit one ascending array of log-eigenvalues ``u``; returns the TailFit fields."""
    size = u.size
    first = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])  # first index of each distinct value
    if first.size == 1:
        # A point mass: the limit a → ∞ of the Pareto family, rank exponent 0.
        return np.inf, np.inf, 0.0, size, u[0], 0.0, STATUS_OK
    candidates = first[: first.size - min_tail + 1]
    if candidates.size == 0:
        return np.nan, np.nan, np.nan, 0, np.nan, np.nan, STATUS_NOT_CONVERGED
    if max_candidates is not None and candidates.size > max_candidates:
        pick = np.unique(np.rint(np.linspace(0, candidates.size - 1, max_candidates)))
        candidates = candidates[pick.astype(np.int64)]
    # Position of the first occurrence of each value: the empirical CDF counts points below.
    first_of = np.repeat(first, np.diff(np.r_[first, size]))
    centred = u - u[size // 2]  # smaller magnitudes for the running sums
    suffix = np.cumsum(centred[::-1])[::-1]
    n = size - candidates
    # MLE: 1/(a − 1) = mean of log(λ/x_min) over the tail.
    rank_exponent = (suffix[candidates] - n * centred[candidates]) / n
    ks = np.empty(candidates.size)
    # Blocks of consecutive candidates, over the tail points j >= the block's first index.
    start = 0
    while start < candidates.size:
        width = size - candidates[start]
        stop = min(candidates.size, start + max(1, _KS_BLOCK_ELEMENTS // width))
        block = candidates[start:stop]
        cols = np.arange(candidates[start], size)
        # |F − S| in place on one (block × tail points) array; entries j < i (outside the
        # candidate's tail) are clipped to an excess of 0 and then zeroed.
        gap = u[cols][None, :] - u[block][:, None]
        np.maximum(gap, 0.0, out=gap)
        gap /= -rank_exponent[start:stop, None]
        np.expm1(gap, out=gap)
        gap += (first_of[cols][None, :] - block[:, None]) / n[start:stop, None]
        np.abs(gap, out=gap)
        gap[cols[None, :] < block[:, None]] = 0.0
        ks[start:stop] = gap.max(axis=1)
        start = stop
    best = int(np.argmin(ks))
    alpha = rank_exponent[best]
    a = 1.0 + 1.0 / alpha
    tail = int(n[best])
    return a, (a - 1.0) / np.sqrt(tail), ks[best], tail, u[candidates[best]], alpha, STATUS_OK


def fit_tail(
    spectrum,
    *,
    log: bool = False,
    min_tail: int = DEFAULT_MIN_TAIL,
    max_candidates: int | None = DEFAULT_MAX_CANDIDATES,
) -> TailFit:
    """Continuous power-law MLE of the eigenvalue density tail, ``x_min`` by minimum KS distance.

    Parameters
    ----------
    spectrum : array_like, shape (..., d)
        Eigenvalues ``λ`` (positive, any order and scale), or their logarithms ``h = log λ``
        with ``log=True``. ``d >= 2``.
    log : bool
        Whether ``spectrum`` holds ``log λ``.
    min_tail : int
        Fewest distinct values in a tail (default 3, as in ``powerlaw``); ``>= 2``.
    max_candidates : int or None
        Most ``x_min`` candidates tried per spectrum (default 1000): beyond, an evenly spaced
        subset (by rank, always including the smallest and the largest). None tries all,
        which costs ``O(d²)`` per spectrum.

    Returns
    -------
    TailFit
        ``a``, ``a_stderr``, ``ks_distance``, ``n_tail``, ``x_min``, ``rank_exponent``,
        ``status``, each of shape ``(...)``.

    Notes
    -----
    Candidates ``x_min`` are the distinct eigenvalues whose tail ``{λ >= x_min}`` holds at
    least ``min_tail`` distinct values. For each, with tail size ``n``, the MLE

        ``a = 1 + n / Σ_{λ_k >= x_min} log(λ_k / x_min)``

    (``1/(a − 1)`` is the mean log-excess of the tail) and the KS distance
    ``D = max_j |F(y_j) − S(y_j)|`` over the tail points ``y_j``, with the fitted CDF
    ``F(y) = 1 − (y/x_min)^(1−a)`` and the empirical CDF ``S(y)`` = fraction of tail points
    strictly below ``y`` (the convention of Clauset et al.'s ``plfit`` and of ``powerlaw``).
    The ``x_min`` with the smallest ``D`` wins (the smallest such ``x_min`` on ties). Unlike
    ``powerlaw``, no candidate is discarded for an exponent outside ``(0, 3)`` (its default
    parameter range): ``a > 3``, a rank exponent below 1/2, is legitimate here. The
    standard error is ``(a − 1)/√n``. An exact orbit spectrum consists of exact quantiles of
    a Pareto law with ``a − 1 = 1/α``; the fit keeps the whole spectrum and returns
    ``α̂ = α (log d − xbar_d) = α (1 − log(2πd)/(2d) + …)`` (THEORY.md D2). See
    docs/theory/nonlinear-charts.md.
    """
    min_tail = _check_int(min_tail, "min_tail", 2)
    if max_candidates is not None:
        max_candidates = _check_int(max_candidates, "max_candidates", 2)
    if log:
        values = as_float_array(spectrum, "h")
        check_dimension(values.shape[-1], "the last axis of h (d)")
        u = np.sort(values, axis=-1)
    else:
        u = np.log(as_spectrum(spectrum, "lam")[..., ::-1])
    shape = u.shape[:-1]
    rows = u.reshape(-1, u.shape[-1])
    columns = np.empty((7, rows.shape[0]))
    for b, row in enumerate(rows):
        columns[:, b] = _fit_one(row, min_tail, max_candidates)
    a, a_stderr, ks, n_tail, log_x_min, rank_exponent, status = columns.reshape(7, *shape)
    return TailFit(
        a=a,
        a_stderr=a_stderr,
        ks_distance=ks,
        n_tail=n_tail.astype(np.int64),
        x_min=np.exp(log_x_min),
        rank_exponent=rank_exponent,
        status=status.astype(np.int8),
    )


def fit(
    h,
    *,
    window=None,
    min_tail: int = DEFAULT_MIN_TAIL,
    max_candidates: int | None = DEFAULT_MAX_CANDIDATES,
) -> ChartEstimate:
    """Implied rank exponent ``α̂ = 1/(a − 1)`` of the density-tail fit (the ``tail`` chart, D5).

    Parameters
    ----------
    h : array_like, shape (..., d)
        Cartan coordinates ``log λ`` (any order and additive constant), finite, ``d >= 2``.
    window : None
        Must be None: rank windows apply to the ``ls`` chart only.
    min_tail, max_candidates
        As in :func:`fit_tail`.

    Returns
    -------
    ChartEstimate
        ``alpha = rank_exponent`` and ``status`` of :func:`fit_tail`, shape ``(...)``.

    Notes
    -----
    Exempt from exactness on the orbit: it estimates a density exponent from a finite
    sample; on orbit spectra ``α̂ → α`` as ``d → ∞``. See :func:`fit_tail`.
    """
    if window is not None:
        raise ChartError(
            "windows apply to the 'ls' chart only; the 'tail' chart chooses its tail by "
            f"minimum KS distance: pass window=None (got window={window!r})"
        )
    result = fit_tail(h, log=True, min_tail=min_tail, max_candidates=max_candidates)
    return ChartEstimate(alpha=result.rank_exponent, status=result.status)
