"""Rank windows of the ``ls`` chart (THEORY.md D5, D9).

A window selects the ranks ``W = [k_lo, k_hi]`` (1-based, inclusive) on which the log-log
least-squares fit runs. Three forms are accepted:

* ``None``: all ranks ``[1, d]``;
* ``(k_lo, k_hi)``: fixed integer ranks with ``1 <= k_lo < k_hi <= d``;
* a float ``q`` in ``(0, 1)``: the energy-quantile window ``[1, k_q]`` of each spectrum,
  ``k_q = min{k : Σ_{i<=k} p_i >= q}``, ``p = λ / d``. When ``k_q = 1`` (the top eigenvalue
  alone carries the fraction ``q``) the window is widened to ``[1, 2]``, the smallest on
  which a slope is defined.
"""

from __future__ import annotations

import numbers

import numpy as np

from ...errors import ChartError

__all__ = [
    "ALLOWED_WINDOWS",
    "check_window",
    "describe_window",
    "energy_quantile_rank_log",
    "is_fixed_window",
    "resolve_window",
    "window_mask",
]

#: The allowed forms, quoted by every window error message.
ALLOWED_WINDOWS = (
    "None (all ranks), a pair (k_lo, k_hi) of 1-based inclusive ranks with "
    "1 <= k_lo < k_hi <= d, or a float q in (0, 1) for the energy-quantile window [1, k_q] "
    "(THEORY.md D9)"
)


def _bad(window, reason: str) -> ChartError:
    return ChartError(f"invalid rank window {window!r}: {reason}. Allowed: {ALLOWED_WINDOWS}")


def check_window(window, d: int | None = None):
    """Validate a window and return it in canonical form.

    Parameters
    ----------
    window : None, (int, int) or float
        See the module docstring.
    d : int, optional
        Dimension; when given, fixed windows are checked against it.

    Returns
    -------
    None, tuple[int, int] or float
        ``None``, ``(k_lo, k_hi)`` as Python ints, or ``q`` as a Python float.

    Raises
    ------
    ChartError
        Any other value; the message lists the allowed forms.
    """
    if window is None:
        return None
    if isinstance(window, bool | np.bool_):
        raise _bad(window, "a boolean is not a window")
    if isinstance(window, numbers.Integral):
        raise _bad(window, "an integer is not a window (a quantile q is a float in (0, 1))")
    if isinstance(window, numbers.Real):
        q = float(window)
        if not 0.0 < q < 1.0:
            raise _bad(window, "an energy quantile q must lie strictly between 0 and 1")
        return q
    if isinstance(window, str | bytes) or not hasattr(window, "__len__") or len(window) != 2:
        raise _bad(window, "expected None, a pair of ranks or a float quantile")
    k_lo, k_hi = window
    if not all(
        isinstance(k, numbers.Integral) and not isinstance(k, bool | np.bool_) for k in (k_lo, k_hi)
    ):
        raise _bad(window, "ranks must be integers")
    k_lo, k_hi = int(k_lo), int(k_hi)
    if not 1 <= k_lo < k_hi:
        raise _bad(window, "ranks are 1-based and need k_lo < k_hi (two ranks at least)")
    if d is not None and k_hi > d:
        raise _bad(window, f"k_hi = {k_hi} exceeds the dimension d = {d}")
    return (k_lo, k_hi)


def is_fixed_window(window) -> bool:
    """True for ``None`` and ``(k_lo, k_hi)`` windows (same ranks for every spectrum)."""
    return not isinstance(check_window(window), float)


def describe_window(window) -> str:
    """Short human-readable description of a window, for dataset attributes.

    Examples: ``"all ranks"``, ``"ranks 3..50"``,
    ``"energy quantile q=0.9: ranks 1..k_q of each spectrum"``.
    """
    window = check_window(window)
    if window is None:
        return "all ranks"
    if isinstance(window, float):
        return f"energy quantile q={window:g}: ranks 1..k_q of each spectrum (at least 1..2)"
    return f"ranks {window[0]}..{window[1]}"


def energy_quantile_rank_log(h, q: float) -> np.ndarray:
    """Energy-quantile rank ``k_q`` from Cartan coordinates (THEORY.md D9).

    Parameters
    ----------
    h : array_like, shape (..., d)
        ``log λ``, sorted non-increasing (any additive constant).
    q : float
        Energy fraction in ``(0, 1)``.

    Returns
    -------
    numpy.ndarray of int64, shape (...)
        ``k_q = min{k : Σ_{i<=k} p_i >= q}`` with ``p = exp(h) / Σ exp(h)``.

    Notes
    -----
    ``p = exp(h − max h) / Σ exp(h − max h)`` (no overflow, underflow only of negligible
    terms); the cumulative sum of the non-increasing ``p`` runs from the large terms down.
    Sequential summation of ``d`` non-negative terms errs by at most ``(d − 1)·eps`` of the
    total, so a prefix within ``d·eps`` of ``q`` counts as reaching it: exact ties (e.g. a
    flat spectrum with ``q·d`` an integer) give the exact ``k_q``. Computed by
    :func:`specalign.estimators.rank.effective_rank_log` (one implementation of the rule).
    """
    # Imported here: rank imports the charts package (its transition report fits ls windows).
    from ..rank import effective_rank_log

    return np.asarray(effective_rank_log(h, float(q)), dtype=np.int64)


def resolve_window(window, h) -> tuple[np.ndarray, np.ndarray]:
    """Per-spectrum inclusive 1-based rank bounds ``(k_lo, k_hi)`` of a window.

    Parameters
    ----------
    window : None, (k_lo, k_hi) or float q
        See the module docstring.
    h : array_like, shape (..., d)
        Cartan coordinates ``log λ``, sorted non-increasing (used by quantile windows).

    Returns
    -------
    k_lo, k_hi : numpy.ndarray of int64, shape (...)
        Window bounds for each spectrum, ``1 <= k_lo < k_hi <= d``. A quantile window is
        ``[1, max(k_q, 2)]``.

    Raises
    ------
    ChartError
        Invalid window (the message lists the allowed forms).
    """
    h = np.asarray(h, dtype=np.float64)
    d = h.shape[-1]
    window = check_window(window, d)
    batch = h.shape[:-1]
    if window is None:
        return np.ones(batch, np.int64), np.full(batch, d, np.int64)
    if isinstance(window, float):
        k_q = energy_quantile_rank_log(h, window)
        return np.ones(batch, np.int64), np.maximum(k_q, 2)
    return np.full(batch, window[0], np.int64), np.full(batch, window[1], np.int64)


def window_mask(k_lo, k_hi, d: int) -> np.ndarray:
    """Boolean mask ``(..., d)``, True on ranks ``k_lo..k_hi`` (1-based, inclusive)."""
    ranks = np.arange(1, d + 1)
    k_lo = np.asarray(k_lo)[..., None]
    k_hi = np.asarray(k_hi)[..., None]
    return (ranks >= k_lo) & (ranks <= k_hi)
