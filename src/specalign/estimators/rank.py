"""Effective ranks of spectra and their laws on the power-law orbit (THEORY.md D9, T6, T7).

- D9: the energy-quantile rank ``k_q`` (:func:`effective_rank`), the stable rank and the
  entropy rank, each also from Cartan coordinates ``h = log λ``;
- T6: a closed-form bracket ``[k_lo, k_hi] ∋ k_q`` on the orbit at finite width ``d``;
- T7: the ``d → ∞`` laws of ``k_q`` and the window-robust transition report.

Derivations: docs/theory.md, section "Geometry and effective rank".
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import entr, logsumexp, zeta

from .._validation import as_float_array, check_choice, check_dimension
from ..errors import InputError, RankDeficientError
from .charts import fit_exponent_log

__all__ = [
    "REGIME_BOUNDED",
    "REGIME_LINEAR",
    "REGIME_LOGARITHMIC",
    "STATUS_WINDOW_OK",
    "STATUS_WINDOW_TOO_NARROW",
    "QuantileRankLimit",
    "RankBracket",
    "RankTransitionReport",
    "effective_rank",
    "effective_rank_log",
    "entropy_rank",
    "entropy_rank_log",
    "orbit_quantile_rank_bracket",
    "quantile_rank_limit",
    "rank_transition_report",
    "stable_rank",
    "stable_rank_log",
]

_EPS = float(np.finfo(np.float64).eps)

#: Relative safety margin of the T6 bracket: the closed-form tail bounds are compared with
#: ``1 − q`` only after moving them outwards by this factor, which covers their rounding
#: error (a few ulps) and the representation error of ``q`` itself.
_BRACKET_RTOL = 1e-12


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _quantile(q, name: str = "q") -> np.ndarray:
    arr = as_float_array(q, name, min_ndim=0)
    if np.any((arr <= 0) | (arr >= 1)):
        raise InputError(
            f"{name} must lie strictly between 0 and 1 (an energy fraction), got "
            f"{arr.ravel()[((arr <= 0) | (arr >= 1)).ravel()][0]!r}"
        )
    return arr


def _weights(lam, name: str = "lam") -> np.ndarray:
    """Non-negative spectra ``(..., d)``, ``d >= 2``, positive total; sorted non-increasing.

    Zero eigenvalues are allowed (effective ranks are defined for rank-deficient spectra).
    """
    arr = as_float_array(lam, name, min_ndim=1)
    check_dimension(arr.shape[-1], f"the last axis of {name} (d)")
    if np.any(arr < 0):
        raise InputError(
            f"{name} must be non-negative (eigenvalues of a PSD matrix); found "
            f"{int(np.count_nonzero(arr < 0))} negative entries"
        )
    if np.any(np.all(arr == 0, axis=-1)):
        raise RankDeficientError(
            f"{name} has an all-zero spectrum; its effective rank is undefined"
        )
    return -np.sort(-arr, axis=-1)


def _cartan(h, name: str = "h") -> np.ndarray:
    """Finite Cartan coordinates ``(..., d)``, ``d >= 2``, sorted non-increasing."""
    arr = as_float_array(h, name, min_ndim=1)
    check_dimension(arr.shape[-1], f"the last axis of {name} (d)")
    return -np.sort(-arr, axis=-1)


# --------------------------------------------------------------------------------------
# D9: effective ranks of a spectrum
# --------------------------------------------------------------------------------------


def _quantile_rank_sorted(lam: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``k_q`` of spectra already sorted non-increasing; broadcasts ``q`` with the batch."""
    d = lam.shape[-1]
    partial = np.cumsum(lam, axis=-1)
    # The total is the last partial sum, so the prefix k = d always reaches q.
    # Tie tolerance: sequential summation of d non-negative terms errs by at most
    # (d − 1)·eps relative to the total, so a prefix within d·eps·total of q·total counts
    # as reaching q (an exact tie in real arithmetic is reached, as the definition says).
    threshold = (q - d * _EPS) * partial[..., -1]
    below = partial[..., :] < threshold[..., None]
    return (1 + np.sum(below, axis=-1)).astype(np.int64)


def effective_rank(lam, q=0.9) -> np.ndarray:
    """Energy-quantile effective rank ``k_q`` (THEORY.md D9).

    Parameters
    ----------
    lam : array_like, shape (..., d)
        Non-negative spectra (eigenvalues ``λ``; any scale, any order), ``d >= 2``, each
        with a positive total. Zero eigenvalues are allowed.
    q : float or array_like
        Energy fraction(s) in ``(0, 1)``; broadcasts against the leading axes of ``lam``.

    Returns
    -------
    numpy.ndarray of int64, shape ``broadcast(lam.shape[:-1], q.shape)``
        ``k_q ∈ {1, …, d}``.

    Notes
    -----
    ``k_q = min{k : Σ_{i≤k} p_i ≥ q}`` with ``p = λ/Σλ`` sorted non-increasing: the number
    of leading eigen-directions holding a fraction ``q`` of the energy. Ties count as
    reached: a partial sum counts when ``Σ_{i≤k} λ_i ≥ (q − d·eps) Σλ``, where ``d·eps``
    bounds the rounding error of the float64 cumulative sum relative to the total. On the
    power-law orbit ``k_q`` lies in :func:`orbit_quantile_rank_bracket`. See docs/theory.md,
    "Geometry and effective rank".
    """
    lam = _weights(lam)
    return _quantile_rank_sorted(lam, _quantile(q))[()]


def effective_rank_log(h, q=0.9) -> np.ndarray:
    """:func:`effective_rank` from Cartan coordinates ``h = log λ`` (any additive constant).

    Notes
    -----
    ``λ ∝ exp(h − max h)``: entries that underflow are below ``e^{−745}`` of the top
    eigenvalue and cannot move a partial sum by one ulp, so nothing is lost.
    """
    h = _cartan(h)
    lam = np.exp(h - h[..., :1])
    return _quantile_rank_sorted(lam, _quantile(q))[()]


def stable_rank(lam) -> np.ndarray:
    """Stable rank ``Σλ / λ_1`` (``= d/λ_1`` for ``Σλ = d``), in ``[1, d]``.

    Parameters
    ----------
    lam : array_like, shape (..., d)
        Non-negative spectra, ``d >= 2``, positive totals.

    Returns
    -------
    numpy.ndarray, shape (...)

    Notes
    -----
    For a matrix ``A`` with ``λ = σ²``, this is ``‖A‖_F² / σ_1²`` (THEORY.md D4, D9).
    """
    lam = _weights(lam)
    return (np.sum(lam, axis=-1) / lam[..., 0])[()]


def stable_rank_log(h) -> np.ndarray:
    """:func:`stable_rank` from Cartan coordinates: ``exp(logsumexp(h) − max h)``."""
    h = _cartan(h)
    return np.exp(logsumexp(h - h[..., :1], axis=-1))[()]


def entropy_rank(lam) -> np.ndarray:
    """Entropy effective rank ``exp(−Σ p log p)``, ``p = λ/Σλ``, in ``[1, d]``.

    Parameters
    ----------
    lam : array_like, shape (..., d)
        Non-negative spectra, ``d >= 2``, positive totals (``0 log 0 = 0``).

    Returns
    -------
    numpy.ndarray, shape (...)
        Clipped to ``[1, d]`` against rounding.
    """
    lam = _weights(lam)
    p = lam / np.sum(lam, axis=-1, keepdims=True)
    rank = np.exp(np.sum(entr(p), axis=-1))
    return np.clip(rank, 1.0, lam.shape[-1])[()]


def entropy_rank_log(h) -> np.ndarray:
    """:func:`entropy_rank` from Cartan coordinates ``h = log λ`` (no ``log`` of a tiny ``p``).

    Notes
    -----
    ``log p = h − logsumexp(h)`` exactly, and ``−Σ p log p`` with ``p = exp(log p)``; an
    underflowed ``p`` contributes ``0 · finite = 0``, its true (negligible) value.
    """
    h = _cartan(h)
    log_p = h - logsumexp(h, axis=-1, keepdims=True)
    rank = np.exp(-np.sum(np.exp(log_p) * log_p, axis=-1))
    return np.clip(rank, 1.0, h.shape[-1])[()]


# --------------------------------------------------------------------------------------
# T6: finite-width bracket on the orbit
# --------------------------------------------------------------------------------------


class RankBracket(NamedTuple):
    """Closed-form bracket ``k_lo ≤ k_q(α, d) ≤ k_hi`` (int64 arrays of one shape)."""

    k_lo: np.ndarray
    k_hi: np.ndarray


def _power_integral(a, b, alpha):
    """``∫_a^b t^(−α) dt`` for ``1 ≤ a ≤ b``, without cancellation near ``α = 1``.

    ``= a^(1−α) · expm1((1−α) log(b/a)) / (1−α)``, and ``log(b/a)`` at ``α = 1``; ``log(b/a)``
    is ``log1p((b − a)/a)`` so that adjacent integers keep their digits.
    """
    s = 1.0 - alpha
    log_ratio = np.log1p((b - a) / a)
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(s == 0.0, log_ratio, np.expm1(s * log_ratio) / np.where(s == 0, 1, s))
    return np.exp(s * np.log(a)) * shape


def _tail_fraction_bounds(k, alpha, d: int, bounds: str):
    """Lower and upper bounds on the orbit tail mass ``T_k = (H_d − H_k)/H_d``.

    ``T_k = R/(H_k + R)`` with ``R = H_d − H_k`` is increasing in ``R`` and decreasing in
    ``H_k``, so bounds on ``R`` and ``H_k`` combine into bounds on ``T_k``. With
    ``f(t) = t^(−α)`` (decreasing and convex for ``α ≥ 0``):

    - ``"integral"`` (THEORY.md T6): ``∫_{k+1}^{d+1} f ≤ R ≤ ∫_k^d f`` and
      ``∫_1^{k+1} f ≤ H_k ≤ 1 + ∫_1^k f``;
    - ``"convex"``: midpoint rule below and trapezoid rule above the integral of a convex
      function, ``∫_{k+1}^d f + (f(k+1) + f(d))/2 ≤ R ≤ ∫_{k+1/2}^{d+1/2} f`` and
      ``∫_1^k f + (1 + f(k))/2 ≤ H_k ≤ 1 + ∫_{3/2}^{k+1/2} f``.
    """
    k = np.asarray(k, dtype=np.float64)
    dd = float(d)
    if bounds == "integral":
        tail_lo = _power_integral(k + 1.0, dd + 1.0, alpha)
        tail_hi = _power_integral(k, dd, alpha)
        head_lo = _power_integral(1.0, k + 1.0, alpha)
        head_hi = 1.0 + _power_integral(1.0, k, alpha)
    else:
        f = lambda t: np.exp(-alpha * np.log(t))  # noqa: E731
        k_in = np.minimum(k + 1.0, dd)  # the trapezoid form needs k + 1 <= d; R_d = 0
        tail_lo = np.where(k < dd, _power_integral(k_in, dd, alpha) + 0.5 * (f(k_in) + f(dd)), 0.0)
        tail_hi = _power_integral(k + 0.5, dd + 0.5, alpha)
        head_lo = _power_integral(1.0, k, alpha) + 0.5 * (1.0 + f(k))
        head_hi = 1.0 + _power_integral(np.minimum(1.5, k + 0.5), k + 0.5, alpha)
    return tail_lo / (head_hi + tail_lo), tail_hi / (head_lo + tail_hi)


def orbit_quantile_rank_bracket(alpha, d: int, q=0.9, *, bounds: str = "integral") -> RankBracket:
    """Closed-form bracket of the quantile rank on the power-law orbit (THEORY.md T6).

    Parameters
    ----------
    alpha : float or array_like
        Rank exponents ``α ≥ 0`` (eigenvalue convention ``λ_k ∝ k^(−α)``).
    d : int
        Dimension, ``d ≥ 2``.
    q : float or array_like
        Energy fractions in ``(0, 1)``; broadcasts with ``alpha``.
    bounds : {"integral", "convex"}
        Which sum–integral comparison bounds the partial sums: ``"integral"`` is THEORY.md
        T6's (each term against the integral over a unit interval beside it); ``"convex"``
        uses the midpoint and trapezoid rules, valid because ``t^(−α)`` is convex, and gives
        a bracket several times narrower (see Notes).

    Returns
    -------
    RankBracket
        ``k_lo``, ``k_hi`` (int64, shape ``broadcast(alpha, q)``) with
        ``1 ≤ k_lo ≤ k_q(λ(α)) ≤ k_hi ≤ d``.

    Notes
    -----
    ``k_q = min{k : T_k ≤ 1 − q}`` with the tail mass ``T_k = (H_d − H_k)/H_d``. Writing
    ``T_k = R_k/(H_k + R_k)`` and bounding ``R_k = H_d − H_k`` and ``H_k`` by integrals of
    ``t^(−α)`` gives ``T_k^- ≤ T_k ≤ T_k^+`` in closed form, both non-increasing in ``k``::

        T_k^+ = ∫_k^d / (∫_1^{k+1} + ∫_k^d),   T_k^- = ∫_{k+1}^{d+1} / (1 + ∫_1^k + ∫_{k+1}^{d+1})

    with ``∫_a^b t^(−α) dt = (b^{1−α} − a^{1−α})/(1 − α)`` (``log(b/a)`` at ``α = 1``,
    evaluated with ``expm1`` near it). Then ``k_hi = min{k : T_k^+ ≤ 1 − q}`` and
    ``k_lo = 1 + max{k : T_k^- > 1 − q}`` (``k_lo = 1`` if there is none), each found by a
    vectorized bisection over ``k`` (``⌈log₂ d⌉`` steps). Both comparisons are moved
    outwards by a relative margin of 1e-12 against rounding, so when ``T_k`` equals
    ``1 − q`` exactly (e.g. ``α = 0`` and ``q d`` an integer) the bracket is
    ``[k_q, k_q + 1]``; otherwise at ``α = 0`` it is exact (both variants are exact sums
    there). The ``"convex"`` variant replaces the integrals by the midpoint (upper) and
    trapezoid (lower) comparisons of a convex integrand. See docs/theory.md, "Geometry and
    effective rank", for the derivation and the widths observed.
    """
    d = check_dimension(d)
    check_choice(bounds, ("integral", "convex"), "bounds")
    alpha = as_float_array(alpha, "alpha", min_ndim=0)
    if np.any(alpha < 0):
        raise InputError(f"alpha must be >= 0 (alpha = 0 is the flat spectrum), got {alpha.min()}")
    q = _quantile(q)
    alpha, q = np.broadcast_arrays(alpha, q)
    budget = 1.0 - q
    steps = int(np.ceil(np.log2(d))) + 1

    # k_hi: smallest k in [1, d] with T_k^+ <= (1 − q)(1 − rtol). Invariant: the predicate
    # is false at `lo` (k = 0 by convention) and true at `hi` (T_d^+ = 0).
    lo, hi = np.zeros(alpha.shape), np.full(alpha.shape, float(d))
    for _ in range(steps):
        mid = np.floor(0.5 * (lo + hi))
        active = hi - lo > 1
        safe_mid = np.maximum(mid, 1.0)
        _, upper = _tail_fraction_bounds(safe_mid, alpha, d, bounds)
        ok = upper <= budget * (1.0 - _BRACKET_RTOL)
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid, lo)
    k_hi = hi

    # k_lo − 1: largest k in [0, d] with T_k^- > (1 − q)(1 + rtol). The predicate is true
    # at `lo` (k = 0 by convention) and false at `hi` (T_d^- = 0).
    lo, hi = np.zeros(alpha.shape), np.full(alpha.shape, float(d))
    for _ in range(steps):
        mid = np.floor(0.5 * (lo + hi))
        active = hi - lo > 1
        safe_mid = np.maximum(mid, 1.0)
        lower, _ = _tail_fraction_bounds(safe_mid, alpha, d, bounds)
        surely_short = lower > budget * (1.0 + _BRACKET_RTOL)
        lo = np.where(active & surely_short, mid, lo)
        hi = np.where(active & ~surely_short, mid, hi)
    k_lo = lo + 1.0
    return RankBracket(k_lo.astype(np.int64)[()], k_hi.astype(np.int64)[()])


# --------------------------------------------------------------------------------------
# T7: d → ∞ laws and the window-robust transition report
# --------------------------------------------------------------------------------------

#: ``quantile_rank_limit`` regimes: which quantity ``value`` holds.
REGIME_LINEAR = 0  # α < 1: lim k_q / d
REGIME_LOGARITHMIC = 1  # α = 1: lim log k_q / log d
REGIME_BOUNDED = 2  # α > 1: lim k_q (the zeta quantile), a finite integer


class QuantileRankLimit(NamedTuple):
    """Limit law of ``k_q(α, d)`` as ``d → ∞``.

    ``value`` (float64) holds, per entry of ``regime`` (int8): ``lim k_q/d`` for
    ``REGIME_LINEAR`` (α < 1), ``lim log k_q / log d`` for ``REGIME_LOGARITHMIC`` (α = 1), and
    the integer ``lim k_q`` for ``REGIME_BOUNDED`` (α > 1).
    """

    value: np.ndarray
    regime: np.ndarray


def _zeta_quantile(alpha: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``min{k ≥ 1 : ζ(α, k+1) ≤ (1 − q) ζ(α)}`` for ``α > 1`` (1-d arrays).

    The tail ``ζ(α, k+1) = Σ_{j>k} j^(−α)`` lies between ``(k+1)^{1−α}/(α−1)`` and
    ``k^{1−α}/(α−1)``, so the answer is within one of
    ``X = ((1−q) ζ(α) (α−1))^{−1/(α−1)}``; the few integers around ``X`` are checked with
    the Hurwitz zeta function. Beyond 2^53 the float ``X`` itself is returned (exact to a
    relative 1e-16, which is all float64 can hold).
    """
    budget = (1.0 - q) * zeta(alpha)
    log_x = -np.log(budget * (alpha - 1.0)) / (alpha - 1.0)
    too_big = log_x > 709.0  # exp would overflow float64
    x = np.where(too_big, np.inf, np.exp(np.where(too_big, 0.0, log_x)))
    result = x.copy()
    small = x < 2.0**53
    if np.any(small):
        base = np.maximum(np.floor(x[small]) - 2.0, 1.0)
        candidates = base[:, None] + np.arange(5.0)
        reached = zeta(alpha[small, None], candidates + 1.0) <= budget[small, None]
        # the tail decreases in k, so the first reached candidate is the answer
        first = np.argmax(reached, axis=-1)
        result[small] = np.where(
            np.any(reached, axis=-1), candidates[np.arange(first.size), first], np.nan
        )
    return result


def quantile_rank_limit(alpha, q=0.9) -> QuantileRankLimit:
    """Limit of the quantile rank ``k_q(α, d)`` on the orbit as ``d → ∞`` (THEORY.md T7).

    Parameters
    ----------
    alpha : float or array_like
        Rank exponents ``α ≥ 0``.
    q : float or array_like
        Energy fractions in ``(0, 1)``; broadcasts with ``alpha``.

    Returns
    -------
    QuantileRankLimit
        ``value`` and ``regime`` of shape ``broadcast(alpha, q)``. Each ``value`` is a
        different quantity depending on ``regime``:

        - ``REGIME_LINEAR`` (``α < 1``): ``lim k_q/d = q^{1/(1−α)}``;
        - ``REGIME_LOGARITHMIC`` (``α == 1`` exactly): ``lim log k_q / log d = q``;
        - ``REGIME_BOUNDED`` (``α > 1``): ``lim k_q = min{k : H_k(α) ≥ q ζ(α)}``, an
          integer (``inf`` if it exceeds float64's range, as it does for ``α → 1⁺``).

    Notes
    -----
    ``H_d(α) ~ d^{1−α}/(1−α)`` for ``α < 1`` gives ``(k/d)^{1−α} → q``; ``H_d(1) = log d +
    γ + o(1)`` gives ``log k_q = q log d − (1 − q)γ + o(1)``; for ``α > 1``,
    ``H_d(α) → ζ(α)`` and ``k_q`` freezes at the zeta quantile. Convergence is slow near
    ``α = 1``: the corrections are ``O(d^{α−1})`` and ``O(1/log d)``. See docs/theory.md.
    """
    alpha = as_float_array(alpha, "alpha", min_ndim=0)
    if np.any(alpha < 0):
        raise InputError(f"alpha must be >= 0, got {alpha.min()}")
    q = _quantile(q)
    alpha, q = np.broadcast_arrays(alpha, q)
    regime = np.select([alpha < 1, alpha == 1], [REGIME_LINEAR, REGIME_LOGARITHMIC], REGIME_BOUNDED)
    value = np.empty(alpha.shape)
    linear = regime == REGIME_LINEAR
    with np.errstate(under="ignore"):
        value[linear] = q[linear] ** (1.0 / (1.0 - alpha[linear]))
    value[regime == REGIME_LOGARITHMIC] = q[regime == REGIME_LOGARITHMIC]
    bounded = regime == REGIME_BOUNDED
    if np.any(bounded):
        value[bounded] = _zeta_quantile(alpha[bounded], q[bounded])
    return QuantileRankLimit(value[()], regime.astype(np.int8)[()])


#: Per-window status codes of :func:`rank_transition_report`.
STATUS_WINDOW_OK = 0
STATUS_WINDOW_TOO_NARROW = 3  # k_q < 2: one rank cannot carry a slope; exponent is NaN


class RankTransitionReport(NamedTuple):
    """Exponents fitted on several energy windows ``W_q = [1, k_q]`` (THEORY.md T7).

    Shapes: ``batch`` is the leading shape of the spectra, ``n = len(qs)``.

    Attributes
    ----------
    qs : ndarray (n,)
        The energy fractions.
    alpha : ndarray batch + (n,)
        ``α̂`` of the ``ls`` chart (``charts.fit_exponent_log(h, "ls", window=q)``) on
        ``W_q``; NaN where the window is too narrow.
    k : ndarray batch + (n,)
        ``k_q`` (int64), the window's last rank.
    status : ndarray batch + (n,)
        int8: ``STATUS_WINDOW_OK`` or ``STATUS_WINDOW_TOO_NARROW`` (``k_q < 2``).
    spread : ndarray batch
        ``max α̂ − min α̂`` over the fitted windows (NaN if none was fitted).
    all_below_one, all_above_one, agree_on_side : ndarray batch
        bool: every fitted ``α̂ < 1``; every fitted ``α̂ > 1``; either of the two. False when
        no window was fitted.
    message : str
        ``"ok"`` or a sentence saying how many windows were too narrow.
    chart : str
        The chart used (``"ls"``).
    """

    qs: np.ndarray
    alpha: np.ndarray
    k: np.ndarray
    status: np.ndarray
    spread: np.ndarray
    all_below_one: np.ndarray
    all_above_one: np.ndarray
    agree_on_side: np.ndarray
    message: str
    chart: str = "ls"


def rank_transition_report(lam, qs=(0.5, 0.7, 0.9, 0.99)) -> RankTransitionReport:
    """Fit the exponent on several energy windows and say which side of 1 they agree on.

    Parameters
    ----------
    lam : array_like, shape (..., d)
        Positive spectra (any scale and order), ``d >= 2``.
    qs : sequence of float
        Energy fractions in ``(0, 1)``; each defines the window ``W_q = [1, k_q]``.

    Returns
    -------
    RankTransitionReport
        Per-window ``α̂`` (``ls`` chart) and ``k_q``, their spread and the side-of-1 flags.
        Windows with ``k_q < 2`` get ``α̂ = NaN`` and ``STATUS_WINDOW_TOO_NARROW``; the
        report says how many.

    Notes
    -----
    T7: for ``α < 1`` the energy spreads over a fixed fraction of all ranks and
    ``k_q/d → q^{1/(1−α)}``; for ``α > 1`` it stays in the first ``O(1)`` ranks. A single
    window can mislead near the transition (a finite-``d`` spectrum can look steeper at the
    top than in the bulk); agreement of ``α̂`` across windows on one side of 1 is the robust
    reading, the spread measures the disagreement. On an exact orbit spectrum every
    window returns ``α`` (the chart is exact). See docs/theory.md.
    """
    lam = as_float_array(lam, "lam", min_ndim=1)
    if np.any(lam <= 0):
        raise InputError(
            "lam must be strictly positive to fit log-log slopes; found "
            f"{int(np.count_nonzero(lam <= 0))} entries <= 0. Drop null directions first"
        )
    lam = _weights(lam)
    qs_arr = _quantile(np.asarray(qs, dtype=np.float64).reshape(-1), "qs")
    if qs_arr.size == 0:
        raise InputError("qs must hold at least one energy fraction")
    d = lam.shape[-1]
    batch = lam.shape[:-1]
    h = np.log(lam) - np.log(np.sum(lam, axis=-1, keepdims=True)) + np.log(d)
    h2 = h.reshape(-1, d)
    k = _quantile_rank_sorted(lam.reshape(-1, d)[:, None, :], qs_arr)  # (m, n)
    narrow = k < 2
    # The ls chart's quantile window [1, k_q] uses the same k_q rule as effective_rank (ties
    # reached within d·eps) but widens k_q = 1 to [1, 2]; those windows are reported as NaN.
    alpha = np.stack([fit_exponent_log(h2, "ls", window=float(q)) for q in qs_arr], axis=-1)
    alpha = np.where(narrow, np.nan, alpha)
    status = np.where(narrow, STATUS_WINDOW_TOO_NARROW, STATUS_WINDOW_OK).astype(np.int8)

    fitted = ~narrow
    any_fitted = np.any(fitted, axis=-1)
    with np.errstate(invalid="ignore"):
        hi = np.max(np.where(fitted, alpha, -np.inf), axis=-1)
        lo = np.min(np.where(fitted, alpha, np.inf), axis=-1)
    spread = np.where(any_fitted, hi - lo, np.nan)
    below = any_fitted & np.all(~fitted | (alpha < 1), axis=-1)
    above = any_fitted & np.all(~fitted | (alpha > 1), axis=-1)

    n_narrow = int(np.count_nonzero(narrow))
    message = (
        "ok"
        if n_narrow == 0
        else f"{n_narrow} of {narrow.size} windows have k_q < 2 (too narrow to fit a slope); "
        "their exponent is NaN with status STATUS_WINDOW_TOO_NARROW"
    )
    n = qs_arr.size
    return RankTransitionReport(
        qs=qs_arr,
        alpha=alpha.reshape(*batch, n),
        k=k.reshape(*batch, n),
        status=status.reshape(*batch, n),
        spread=spread.reshape(batch)[()],
        all_below_one=below.reshape(batch)[()],
        all_above_one=above.reshape(batch)[()],
        agree_on_side=(below | above).reshape(batch)[()],
        message=message,
    )
