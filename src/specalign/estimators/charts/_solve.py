"""Vectorized safeguarded root finding for the iterative charts (``gibbs``, ``hellinger``).

One scalar equation per element of a flat batch, all solved at once: each iteration calls
the user function once on the elements that are still active (per-element convergence
masks), so converged elements cost nothing further. The method is Newton's, safeguarded by a
bracket that is kept for every element (``rtsafe`` of Numerical Recipes, vectorized): a Newton
step that leaves the bracket, or does not at least halve the step before last, is replaced
by bisection. Without a derivative the secant through the last two iterates takes the place
of the Newton step, under the same safeguard.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["DEFAULT_ATOL", "DEFAULT_MAXITER", "DEFAULT_RTOL", "RootResult", "find_root"]

#: Default absolute step tolerance (same meaning as ``xtol`` of ``scipy.optimize.brentq``).
DEFAULT_ATOL = 1e-12
#: Default relative step tolerance (``4 eps``, the smallest ``rtol`` brentq accepts).
DEFAULT_RTOL = 4.0 * float(np.finfo(np.float64).eps)
#: Default cap on the number of function evaluations per element.
DEFAULT_MAXITER = 100

#: ``func(x, index) -> (f, dfdx)``: values (and derivatives, or None) at the iterates ``x``
#: of the active elements, whose flat positions in the problem are ``index``.
RootFunction = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]]


class RootResult(NamedTuple):
    """Roots of a batch of bracketed scalar equations (all arrays flat, one entry per element).

    Attributes
    ----------
    root : numpy.ndarray of float64
        The root; NaN where the element did not converge or had no sign change.
    converged : numpy.ndarray of bool
        The step tolerance was met (or ``f`` vanished exactly) within ``maxiter`` evaluations.
    iterations : numpy.ndarray of int64
        Function evaluations spent on the element.
    """

    root: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def find_root(
    func: RootFunction,
    lower,
    upper,
    f_lower,
    f_upper,
    *,
    x0=None,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    maxiter: int = DEFAULT_MAXITER,
) -> RootResult:
    """Solve ``f_i(x_i) = 0`` for every element ``i`` of a flat batch, inside its bracket.

    Parameters
    ----------
    func : callable ``(x, index) -> (f, dfdx)``
        Evaluates the active elements only: ``x`` (shape ``(m,)``) are their iterates and
        ``index`` (int, shape ``(m,)``) their positions in the batch. Returns the values
        ``f`` and the derivatives ``dfdx`` (shape ``(m,)``), or ``(f, None)`` to use secant
        steps instead of Newton steps.
    lower, upper : array_like, shape (n,)
        Bracket ends, ``lower <= upper``.
    f_lower, f_upper : array_like, shape (n,)
        ``f`` at the bracket ends (the caller usually has them already). Elements without a
        sign change (``f_lower * f_upper > 0``) or with a non-finite end value are not
        solved: ``root`` NaN, ``converged`` False.
    x0 : array_like, shape (n,), optional
        Starting points (moved to the bracket midpoint when outside ``[lower, upper]``).
        Default: the regula falsi point of the bracket.
    rtol, atol : float
        Step tolerance: an element has converged when its Newton (or secant) step satisfies
        ``|Δx| <= atol + rtol |x|``; the root returned is then ``x + Δx``. Also when the
        bracket has shrunk below ``2 (atol + rtol |x|)``.
    maxiter : int
        Most evaluations of ``func`` per element.

    Returns
    -------
    RootResult
        ``root``, ``converged``, ``iterations``, each of shape ``(n,)``.

    Notes
    -----
    Safeguard (per element, vectorized): after each evaluation the bracket end whose value
    has the sign of ``f(x)`` moves to ``x``. The candidate step is Newton's ``−f/f'`` (or the
    secant step); it is rejected in favour of bisection when the new point would leave the
    open bracket, when ``f'`` is zero or not finite, or when the step is not at most half
    the step before last (``rtsafe``). Each iteration therefore either converges
    quadratically (Newton) or at least halves the bracket within two iterations, so the
    bracket ends always enclose a sign change and the method cannot diverge. See
    docs/theory/nonlinear-charts.md.
    """
    lo = np.array(lower, dtype=np.float64, copy=True).ravel()
    hi = np.array(upper, dtype=np.float64, copy=True).ravel()
    f_lo = np.array(f_lower, dtype=np.float64, copy=True).ravel()
    f_hi = np.array(f_upper, dtype=np.float64, copy=True).ravel()
    n = lo.size
    root = np.full(n, np.nan)
    converged = np.zeros(n, dtype=bool)
    iterations = np.zeros(n, dtype=np.int64)

    finite = np.isfinite(f_lo) & np.isfinite(f_hi)
    at_lo = finite & (f_lo == 0)
    at_hi = finite & (f_hi == 0) & ~at_lo
    root[at_lo], root[at_hi] = lo[at_lo], hi[at_hi]
    converged[at_lo | at_hi] = True
    bracketed = finite & (np.sign(f_lo) * np.sign(f_hi) < 0)

    if x0 is None:
        x = lo - f_lo * (hi - lo) / (f_hi - f_lo)
    else:
        x = np.array(np.broadcast_to(np.asarray(x0, dtype=np.float64).ravel(), (n,)))

    # State of the active elements only, compacted as elements finish.
    index = np.flatnonzero(bracketed)
    lo, hi, f_lo, f_hi, x = lo[index], hi[index], f_lo[index], f_hi[index], x[index]
    outside = ~((x >= lo) & (x <= hi))  # also catches NaN
    x[outside] = 0.5 * (lo[outside] + hi[outside])
    # Sign of f at the `lo` end; the end whose value shares the sign of f(x) moves to x.
    sign_lo = np.sign(f_lo)
    step_before_last = hi - lo
    last_step = hi - lo
    x_prev = np.full(index.size, np.nan)
    f_prev = np.full(index.size, np.nan)

    for _ in range(maxiter):
        if index.size == 0:
            break
        f, dfdx = func(x, index)
        f = np.asarray(f, dtype=np.float64)
        iterations[index] += 1

        moves_lo = np.sign(f) == sign_lo
        lo = np.where(moves_lo, x, lo)
        hi = np.where(moves_lo, hi, x)
        if dfdx is None:
            # Secant through the last two iterates; the first step uses the other bracket end.
            first = ~np.isfinite(x_prev)
            xp = np.where(first, np.where(moves_lo, hi, lo), x_prev)
            fp = np.where(first, np.where(moves_lo, f_hi, f_lo), f_prev)
            slope = (f - fp) / (x - xp)
            x_prev, f_prev = x, f
        else:
            slope = np.asarray(dfdx, dtype=np.float64)
        f_lo = np.where(moves_lo, f, f_lo)
        f_hi = np.where(moves_lo, f_hi, f)

        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / slope
        x_new = x - step
        tolerance = atol + rtol * np.abs(x)
        usable = np.isfinite(x_new)
        # A step below the tolerance is accepted even onto a bracket end: near the root a
        # Newton step smaller than half an ulp rounds back onto x, which is an end.
        final = usable & (x_new >= lo) & (x_new <= hi) & (np.abs(step) <= tolerance)
        newton_ok = final | (
            usable & (x_new > lo) & (x_new < hi) & (np.abs(step) <= 0.5 * step_before_last)
        )
        midpoint = lo + 0.5 * (hi - lo)
        x_new = np.where(newton_ok, x_new, midpoint)
        step_before_last = last_step
        last_step = np.where(newton_ok, np.abs(step), hi - midpoint)
        exact = f == 0
        x_new = np.where(exact, x, x_new)
        # A non-finite value of f leaves no usable sign: the element stops, not converged.
        failed = ~np.isfinite(f)
        done = exact | final | ((hi - lo) <= 2.0 * tolerance)
        done &= ~failed
        x = x_new
        if np.any(done | failed):
            root[index[done]] = x[done]
            converged[index[done]] = True
            keep = ~(done | failed)
            index, x, lo, hi = index[keep], x[keep], lo[keep], hi[keep]
            f_lo, f_hi, sign_lo = f_lo[keep], f_hi[keep], sign_lo[keep]
            step_before_last, last_step = step_before_last[keep], last_step[keep]
            x_prev, f_prev = x_prev[keep], f_prev[keep]

    return RootResult(root=root, converged=converged, iterations=iterations)
