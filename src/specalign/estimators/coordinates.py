"""Top-radial Cartan coordinates of spectra (THEORY.md D4).

Each quantity comes in two forms: from spectra ``λ`` (any positive scale, any order) and,
with the suffix ``_log``, from Cartan coordinates ``h = log λ`` (any additive constant,
any order), which is what operator chains carry once their spectra leave float64's range.

    u   = log λ_1 − (1/d) Σ_k log λ_k          top-radial coordinate (scale-free)
    ū   = u / xbar_d,  xbar_d = log(d!)/d      normalized: ū(λ(α)) = α on the orbit
    u_F = log λ_1 of the normalized spectrum   Frobenius top coordinate = log(d / srank)

The stable rank ``d/λ_1`` lives with the other effective ranks in :mod:`.rank`.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, as_spectrum, check_dimension
from .orbit import mean_log_rank_uniform

__all__ = [
    "radial_coordinate",
    "radial_coordinate_log",
    "top_frobenius_coordinate",
    "top_frobenius_coordinate_log",
    "top_radial",
    "top_radial_log",
    "top_radial_unnormalized",
    "top_radial_unnormalized_log",
]


def _cartan(h, name: str = "h") -> np.ndarray:
    """Finite log-spectra ``(..., d)`` with ``d >= 2`` (order and additive constant free)."""
    arr = as_float_array(h, name, min_ndim=1)
    check_dimension(arr.shape[-1], f"the last axis of {name} (d)")
    return arr


def _log_sum_exp(h: np.ndarray) -> np.ndarray:
    top = np.max(h, axis=-1)
    return top + np.log(np.sum(np.exp(h - top[..., None]), axis=-1))


def radial_coordinate_log(h) -> np.ndarray:
    """Top-radial coordinate ``u = max_k h_k − mean_k h_k`` from Cartan coordinates.

    Parameters
    ----------
    h : array_like, shape (..., d)
        ``log λ`` (any additive constant and order), finite, ``d >= 2``.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``u >= 0``; on the orbit ``u(λ(α)) = α·xbar_d``.

    Notes
    -----
    ``u = log λ_1 − (1/d) Σ log λ_k = 2 log(σ_1 / GM(σ))`` (THEORY.md D4). Invariant under
    scaling and orthogonal factors. See docs/theory/spectra-and-linear-charts.md.
    """
    h = _cartan(h)
    return np.max(h, axis=-1) - np.mean(h, axis=-1)


def radial_coordinate(lam) -> np.ndarray:
    """Top-radial coordinate ``u = log λ_1 − mean(log λ)`` of spectra (THEORY.md D4).

    Parameters
    ----------
    lam : array_like, shape (..., d)
        Positive spectra (any scale and order), ``d >= 2``.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``u >= 0``, ``u = 2 log(σ_1 / GM(σ))``; ``α·xbar_d`` on the orbit ``λ(α)``.
    """
    return radial_coordinate_log(np.log(as_spectrum(lam, "lam")))


#: Alias of :func:`radial_coordinate`: the unnormalized top-radial coordinate ``u``.
top_radial_unnormalized = radial_coordinate
#: Alias of :func:`radial_coordinate_log`.
top_radial_unnormalized_log = radial_coordinate_log


def top_radial_log(h) -> np.ndarray:
    """Normalized top-radial coordinate ``ū = u / xbar_d`` from Cartan coordinates.

    Parameters
    ----------
    h : array_like, shape (..., d)
        ``log λ`` (any additive constant and order), finite, ``d >= 2``.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``ū >= 0``; exactly ``α`` on the orbit ``λ(α)`` (eigenvalue rank exponent).

    Notes
    -----
    ``ū = (max h − mean h) / xbar_d`` with ``xbar_d = (1/d) Σ log k = log(d!)/d``
    (THEORY.md D4). See docs/theory/spectra-and-linear-charts.md.
    """
    h = _cartan(h)
    return radial_coordinate_log(h) / mean_log_rank_uniform(h.shape[-1])


def top_radial(lam) -> np.ndarray:
    """Normalized top-radial coordinate ``ū = u / xbar_d`` of spectra (THEORY.md D4).

    Parameters
    ----------
    lam : array_like, shape (..., d)
        Positive spectra (any scale and order), ``d >= 2``.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``ū = (log λ_1 − mean log λ) / xbar_d >= 0``; reads the exponent exactly on exact
        power laws: ``ū(λ(α)) = α`` (eigenvalue convention, ``λ_k ∝ k^(−α)``).

    Notes
    -----
    ``xbar_d = log(d!)/d``. Also the ``top`` chart. See
    docs/theory/spectra-and-linear-charts.md.
    """
    return top_radial_log(np.log(as_spectrum(lam, "lam")))


def top_frobenius_coordinate_log(h) -> np.ndarray:
    """Frobenius top coordinate ``u_F = log λ_1`` of the normalized spectrum, from ``h``.

    Parameters
    ----------
    h : array_like, shape (..., d)
        ``log λ`` (any additive constant and order), finite, ``d >= 2``.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``u_F = max h − logsumexp(h) + log d ∈ [0, log d]``; on the orbit
        ``u_F = τ(α) = log d − log H_d(α)``.
    """
    h = _cartan(h)
    return np.max(h, axis=-1) - _log_sum_exp(h) + np.log(h.shape[-1])


def top_frobenius_coordinate(lam) -> np.ndarray:
    """Frobenius top coordinate ``u_F = log λ_1 = log(d / srank)`` (THEORY.md D4).

    Parameters
    ----------
    lam : array_like, shape (..., d)
        Positive spectra (any scale and order; normalized to sum ``d`` here), ``d >= 2``.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``u_F ∈ [0, log d]``, increasing and concave along the orbit.
    """
    return top_frobenius_coordinate_log(np.log(as_spectrum(lam, "lam")))
