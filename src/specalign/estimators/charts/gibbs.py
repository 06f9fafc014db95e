"""The ``gibbs`` chart: KL projection of a spectrum onto the power-law family (THEORY.md D3, D5).

``α̂`` solves the moment condition ``μ(α̂) = Σ_k p_k log k`` of maximum likelihood in the Gibbs
family ``p_k(α) = k^(−α) / H_d(α)``. The family itself, evaluated at many different ``α`` at
once, is :class:`GibbsFamily`; the ``hellinger`` chart uses it too.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np

from ..._validation import as_float_array, check_dimension
from ...errors import ChartError, DimensionError, InputError, NonFiniteError
from ..orbit import log_ranks
from . import STATUS_CAPPED, STATUS_NOT_CONVERGED, STATUS_OK, ChartEstimate
from ._solve import DEFAULT_ATOL, DEFAULT_MAXITER, DEFAULT_RTOL, find_root

__all__ = [
    "DEFAULT_ALPHA_MAX",
    "GibbsFamily",
    "fit",
    "gibbs_family",
    "mean_log_rank_of",
    "solve_mean_log_rank",
]

#: Default cap of the iterative charts: beyond it ``p_2(α)/p_1(α) = 2^(−α) < 1e-15``.
DEFAULT_ALPHA_MAX = 50.0

#: Order ``N`` of the Taylor series in ``α`` used between table nodes.
TAYLOR_ORDER = 20
#: Largest ``|δ| max_k log k`` (``δ`` the distance to the node) the series is used for: the
#: truncation error of ``exp(−δ x)`` is then at most ``y^(N+1)/(N+1)! e^(2y) < 1e-17`` relative.
TAYLOR_REACH = 1.2

INVERSE_FACTORIALS = 1.0 / np.array([math.factorial(n) for n in range(TAYLOR_ORDER + 1)])
# Nodes of the coarse grid that brackets every root before Newton's method (clipped to
# alpha_max, which is always added).
_COARSE_GRID = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
# Table nodes are filled in aligned groups of this many (see GibbsFamily._fill).
_NODE_GROUP = 8
# Elements per block of a streamed pass over a batch of spectra (2 MiB of float64).
CACHE_BLOCK_ELEMENTS = 1 << 18


def horner(coefficients: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Evaluate ``Σ_n c[n, ...] t^n`` (first axis = power) at ``t`` broadcast over the rest."""
    total = coefficients[-1].copy()
    for n in range(coefficients.shape[0] - 2, -1, -1):
        total *= t
        total += coefficients[n]
    return total


def row_stable_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a 2-D ``a``, each result row independent of the other rows of ``a``.

    BLAS kernels round a lone or odd last row differently from rows they process in pairs
    (OpenBLAS); padding to an even number of rows makes every spectrum's result independent,
    bitwise, of the batch it arrives in, so studies reproduce whatever their task size.
    """
    if a.shape[0] % 2 == 0:
        return a @ b
    return (np.concatenate([a, np.zeros((1, a.shape[1]))]) @ b)[:-1]


def row_blocks(n_rows: int, d: int):
    """Yield ``(start, stop)`` of consecutive blocks of about ``CACHE_BLOCK_ELEMENTS`` entries.

    Streaming a batch through a reused buffer of this size keeps each block in cache between
    its exponential and its matrix product; the block length is even (see
    :func:`row_stable_matmul`).
    """
    block = max(2, (CACHE_BLOCK_ELEMENTS // d) & ~1)
    for start in range(0, n_rows, block):
        yield start, min(n_rows, start + block)


def block_buffer(n_rows: int, d: int) -> np.ndarray:
    """A buffer for :func:`row_blocks`, with room for one padding row."""
    return np.empty((min(max(2, (CACHE_BLOCK_ELEMENTS // d) & ~1), n_rows + n_rows % 2), d))


class GibbsFamily:
    """The Gibbs family ``p_k(α) ∝ k^(−α)`` of one dimension ``d``, at any array of ``α``.

    Evaluates ``log Z(α)`` (``Z = H_d``), the mean log-rank ``μ(α) = E_α[log k]`` and the
    Fisher information ``I(α) = Var_α(log k)`` at arbitrary ``α >= 0`` with ``O(1)`` work per
    value, to about ``1e-15`` relative accuracy, after a one-off ``O(d)`` cost per table node.

    Parameters
    ----------
    d : int
        Dimension, ``>= 2``.

    Notes
    -----
    Nodes ``α_j = j Δ`` with ``Δ = 2 y / log d`` (``y`` = ``TAYLOR_REACH``) hold the exact
    raw moments ``m_n(α_j) = E_{α_j}[x^n]``, ``x = log k``, ``n <= N + 2``, computed by direct
    summation when first needed. Between nodes, with ``δ = α − α_j`` (``|δ| <= Δ/2``),

        ``Z(α)/Z(α_j) = Σ_n (−δ)^n/n! m_n``,  ``E_α[x^r] = Σ_n (−δ)^n/n! m_{n+r} / (Z(α)/Z(α_j))``,

    the Taylor series of ``E_{α_j}[x^r e^(−δ x)]`` truncated at ``n = N``. Term by term (each
    rank ``k``) the relative truncation error is at most ``y^(N+1)/(N+1)! e^(2y)``, so ``μ``
    keeps its relative accuracy even where it is tiny (large ``α``). Instances are filled
    lazily and are safe to share between threads. See docs/theory/nonlinear-charts.md.
    """

    def __init__(self, d: int) -> None:
        self.d = check_dimension(d)
        self._x = log_ranks(self.d)
        self._powers = self._x[:, None] ** np.arange(TAYLOR_ORDER + 3)
        self._powers.flags.writeable = False
        #: Node spacing ``Δ``.
        self.spacing = 2.0 * TAYLOR_REACH / float(self._x[-1])
        self._log_z = np.zeros(0)
        # Taylor coefficients m_{n+r}(α_j)/n!, shape (N + 1, 3, nodes), for r = 0, 1, 2
        # (nodes last: a gather of nodes gives contiguous rows for Horner's scheme).
        self._series = np.zeros((TAYLOR_ORDER + 1, 3, 0))
        self._ready = np.zeros(0, dtype=bool)
        self._lock = threading.Lock()

    @property
    def powers(self) -> np.ndarray:
        """Read-only ``(log k)^n``, shape ``(d, N + 3)``, ``n = 0..N + 2``."""
        return self._powers

    def _fill(self, nodes: np.ndarray) -> None:
        """Compute the table rows of the node indices not yet filled.

        Nodes are computed in aligned groups of ``_NODE_GROUP`` (one matrix product of fixed
        shape each), so a node's values never depend on which other nodes were needed.
        """
        with self._lock:
            groups = np.unique(nodes // _NODE_GROUP)
            size = (int(groups[-1]) + 1) * _NODE_GROUP
            if size > self._ready.size:
                extra = size - self._ready.size
                self._log_z = np.concatenate([self._log_z, np.zeros(extra)])
                self._series = np.concatenate(
                    [self._series, np.zeros((TAYLOR_ORDER + 1, 3, extra))], axis=2
                )
                self._ready = np.concatenate([self._ready, np.zeros(extra, dtype=bool)])
            for group in groups[~self._ready[groups * _NODE_GROUP]]:
                rows = np.arange(group * _NODE_GROUP, (group + 1) * _NODE_GROUP)
                # x_1 = 0, so exp(−α x) <= 1 with its largest term 1: Z >= 1, no overflow.
                weights = np.exp(-(rows * self.spacing)[:, None] * self._x)
                z_minus_one = weights[:, 1:].sum(axis=1)
                moments = (weights @ self._powers) / (1.0 + z_minus_one)[:, None]
                moments[:, 0] = 1.0  # E[x^0], exactly
                for r in range(3):
                    self._series[:, r, rows] = (
                        moments[:, r : r + TAYLOR_ORDER + 1] * INVERSE_FACTORIALS
                    ).T
                self._log_z[rows] = np.log1p(z_minus_one)
                self._ready[rows] = True

    def evaluate(self, alpha) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(log Z(α), μ(α), I(α))`` at ``alpha`` (any shape, values ``>= 0``).

        Returns
        -------
        log_z, mean, fisher : numpy.ndarray, each of the shape of ``alpha``
            ``log H_d(α)``, ``μ(α) = E_α[log k]``, ``I(α) = Var_α(log k)``.
        """
        alpha = np.asarray(alpha, dtype=np.float64)
        flat = alpha.ravel()
        node = np.rint(flat / self.spacing).astype(np.int64)
        if flat.size and (node.max() >= self._ready.size or not self._ready[node].all()):
            self._fill(np.unique(node))
        t = node * self.spacing - flat  # = −δ
        series = np.take(self._series, node, axis=2)
        # a_r = c_0r + t Σ_{n>=1} c_nr t^(n−1); a_0 − 1 is kept apart for log Z's accuracy.
        rest = t * horner(series[1:], t)
        a0, a1, a2 = series[0] + rest
        mean = a1 / a0
        fisher = a2 / a0 - mean * mean
        log_z = self._log_z[node] + np.log1p(rest[0])
        shape = alpha.shape
        return log_z.reshape(shape), mean.reshape(shape), fisher.reshape(shape)


@functools.lru_cache(maxsize=8)
def gibbs_family(d: int) -> GibbsFamily:
    """The shared :class:`GibbsFamily` of dimension ``d`` (its table persists across calls)."""
    return GibbsFamily(d)


def check_chart_options(chart: str, window, alpha_max, maxiter) -> tuple[float, int]:
    """Validate the options shared by the iterative charts; return ``(alpha_max, maxiter)``."""
    if window is not None:
        raise ChartError(
            f"windows apply to the 'ls' chart only; the {chart!r} chart fits the whole "
            f"spectrum: pass window=None (got window={window!r})"
        )
    try:
        alpha_max = float(alpha_max)
    except (TypeError, ValueError):
        raise InputError(f"alpha_max must be a positive number, got {alpha_max!r}") from None
    if not (math.isfinite(alpha_max) and alpha_max > 0):
        raise InputError(f"alpha_max must be a positive finite number, got {alpha_max!r}")
    if isinstance(maxiter, bool) or int(maxiter) != maxiter or maxiter < 1:
        raise InputError(f"maxiter must be a positive integer, got {maxiter!r}")
    return alpha_max, int(maxiter)


def as_cartan(h) -> np.ndarray:
    """``h`` as float64 ``(..., d)``, ``d >= 2``.

    Finiteness is checked by the callers on their row sums (NaN and +inf propagate into
    them), which saves a full pass over the batch.
    """
    arr = np.asarray(h)
    if arr.dtype != np.float64:
        arr = as_float_array(arr, "h")
    if arr.ndim < 1:
        raise DimensionError(f"h must have at least 1 axis, got shape {arr.shape}")
    check_dimension(arr.shape[-1], "the last axis of h (d)")
    return arr


def mean_log_rank_of(h) -> np.ndarray:
    """Empirical mean log-rank ``Σ_k p_k log k`` of Cartan coordinates ``h``.

    Parameters
    ----------
    h : array_like, shape (..., d)
        ``log λ`` sorted non-increasing (any additive constant), ``d >= 2``.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``Σ_k p_k log k`` with ``p = softmax(h)`` (``= exp(h)/d`` when ``logsumexp h = log d``).
    """
    h = as_cartan(h)
    d = h.shape[-1]
    rows = h.reshape(-1, d)
    basis = np.stack([np.ones(d), log_ranks(d)], axis=1)
    sums = np.empty((rows.shape[0], 2))
    # The exponential is the dominant cost of the whole chart: one cache-sized buffer.
    buffer = block_buffer(rows.shape[0], d)
    for start, stop in row_blocks(rows.shape[0], d):
        n = stop - start
        work = buffer[: n + n % 2]
        # Shift by the first (largest, for sorted input) entry: no overflow, and the rank-1
        # term is exactly 1, so relative accuracy survives even when p_2, p_3, ... are 1e-15.
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite rows: see below
            np.subtract(rows[start:stop], rows[start:stop, :1], out=work[:n])
            np.exp(work[:n], out=work[:n])
        work[n:] = 0.0  # padding row: an even row count (row_stable_matmul)
        sums[start:stop] = (work @ basis)[:n]
    with np.errstate(invalid="ignore", divide="ignore"):  # non-finite rows handled below
        target = sums[:, 1] / sums[:, 0]
    bad = ~np.isfinite(target)
    if np.any(bad):
        # Unsorted input can overflow the shift above: redo those rows with the row maximum.
        sub = rows[bad]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            sums = row_stable_matmul(np.exp(sub - sub.max(axis=1, keepdims=True)), basis)
            target[bad] = sums[:, 1] / sums[:, 0]
        if not np.all(np.isfinite(target)):
            n_bad = int(np.count_nonzero(~np.isfinite(target)))
            raise NonFiniteError(
                f"h holds NaN or +inf in {n_bad} spectrum(s); Cartan coordinates must be "
                "finite (log of positive eigenvalues)"
            )
    return target.reshape(h.shape[:-1])


def solve_mean_log_rank(
    target,
    d: int,
    *,
    alpha_max: float = DEFAULT_ALPHA_MAX,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    maxiter: int = DEFAULT_MAXITER,
) -> ChartEstimate:
    """Solve ``μ(α̂) = target`` on ``[0, alpha_max]`` for a batch of targets (fixed ``d``).

    Parameters
    ----------
    target : array_like, shape (...)
        Mean log-ranks ``Σ_k p_k log k``.
    d : int
        Dimension.
    alpha_max : float
        Cap on ``α̂``.
    rtol, atol, maxiter
        Step tolerance ``|Δα| <= atol + rtol |α|`` and evaluation cap of the root finder
        (:func:`specalign.estimators.charts._solve.find_root`).

    Returns
    -------
    ChartEstimate
        ``alpha`` and ``status``, shape ``(...)``: ``α̂ = 0`` (OK) where
        ``target >= μ(0) = xbar_d``; ``α̂ = alpha_max`` with ``STATUS_CAPPED`` where
        ``target < μ(alpha_max)``; NaN with ``STATUS_NOT_CONVERGED`` if Newton's method
        fails (it is bracketed, so only when ``maxiter`` is too small).

    Notes
    -----
    ``μ`` decreases strictly (``μ' = −I < 0``), so the root is unique. Each root is first
    bracketed on a coarse grid of ``α`` (interpolating ``log μ`` linearly for the start),
    then found by safeguarded Newton steps with ``f = μ(α) − target``, ``f' = −I(α)``.
    """
    target = np.asarray(target, dtype=np.float64)
    shape = target.shape
    flat = target.ravel()
    family = gibbs_family(check_dimension(d))
    grid = np.array([a for a in _COARSE_GRID if a < alpha_max] + [alpha_max])
    _, mean_grid, _ = family.evaluate(grid)

    alpha = np.full(flat.shape, np.nan)
    status = np.full(flat.shape, STATUS_OK, dtype=np.int8)
    # Chebyshev's sum inequality gives target <= xbar_d for sorted spectra; rounding can
    # push it a few ulps above, which is α̂ = 0 (the KL projection onto α >= 0).
    at_zero = flat >= mean_grid[0]
    capped = flat < mean_grid[-1]
    alpha[at_zero] = 0.0
    alpha[capped] = alpha_max
    status[capped] = STATUS_CAPPED

    todo = np.flatnonzero(~at_zero & ~capped)
    if todo.size:
        goal = flat[todo]
        # μ decreases along the grid: cell i has mean_grid[i] >= goal > mean_grid[i + 1].
        cell = np.searchsorted(-mean_grid, -goal, side="right") - 1
        cell = np.clip(cell, 0, grid.size - 2)
        lo, hi = grid[cell], grid[cell + 1]
        mu_lo, mu_hi = mean_grid[cell], mean_grid[cell + 1]
        # log μ is close to linear in α (exactly so for large α: μ ≈ 2^(−α) log 2).
        fraction = np.log(mu_lo / goal) / np.log(mu_lo / mu_hi)
        x0 = lo + (hi - lo) * fraction

        def residual(a: np.ndarray, index: np.ndarray):
            _, mean, fisher = family.evaluate(a)
            return mean - goal[index], -fisher

        result = find_root(
            residual,
            lo,
            hi,
            mu_lo - goal,
            mu_hi - goal,
            x0=x0,
            rtol=rtol,
            atol=atol,
            maxiter=maxiter,
        )
        alpha[todo] = np.where(result.converged, result.root, np.nan)
        status[todo] = np.where(result.converged, STATUS_OK, STATUS_NOT_CONVERGED)
    return ChartEstimate(alpha=alpha.reshape(shape), status=status.reshape(shape))


def fit(
    h,
    *,
    window=None,
    alpha_max: float = DEFAULT_ALPHA_MAX,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    maxiter: int = DEFAULT_MAXITER,
) -> ChartEstimate:
    """Fit the exponent by KL projection (maximum likelihood) onto the Gibbs family (D5).

    Parameters
    ----------
    h : array_like, shape (..., d)
        Normalized Cartan coordinates ``log λ`` (sorted non-increasing; any additive
        constant), ``d >= 2``. Entries ``−inf`` (zero eigenvalues) are allowed; NaN and
        ``+inf`` raise :class:`~specalign.errors.NonFiniteError`.
    window : None
        Must be None: rank windows apply to the ``ls`` chart only.
    alpha_max : float
        Cap on ``α̂`` (default 50).
    rtol, atol : float
        Step tolerance of Newton's method: converged when ``|Δα| <= atol + rtol |α|``.
    maxiter : int
        Most evaluations of ``μ`` per spectrum.

    Returns
    -------
    ChartEstimate
        ``alpha`` (shape ``(...)``, eigenvalue rank convention ``λ_k ∝ k^(−α)``) and
        ``status``: ``STATUS_OK``; ``STATUS_CAPPED`` (``α̂ = alpha_max``: the spectrum is more
        concentrated than ``p(alpha_max)``, i.e. ``Σ p_k log k < μ(alpha_max)``);
        ``STATUS_NOT_CONVERGED`` (``α̂`` NaN).

    Notes
    -----
    ``α̂ = argmin_{0 <= α <= alpha_max} KL(p ‖ p(α))`` with ``p = exp(h)/d``. Since
    ``KL(p ‖ p(α)) = −H(p) + α Σ p_k x_k + log Z(α)`` is strictly convex in ``α`` with
    derivative ``Σ p_k x_k − μ(α)``, ``α̂`` is the unique root of the moment condition
    ``μ(α̂) = Σ_k p_k log k``, clipped to ``[0, alpha_max]``. For sorted spectra Chebyshev's sum
    inequality gives ``Σ p_k log k <= xbar_d = μ(0)``, hence ``α̂ >= 0``, with equality iff ``p``
    is uniform. Exact on the orbit: ``p = p(α)`` gives ``α̂ = α``. See THEORY.md D3, D5 and
    docs/theory/nonlinear-charts.md.
    """
    alpha_max, maxiter = check_chart_options("gibbs", window, alpha_max, maxiter)
    h = as_cartan(h)
    target = mean_log_rank_of(h)
    return solve_mean_log_rank(
        target, h.shape[-1], alpha_max=alpha_max, rtol=rtol, atol=atol, maxiter=maxiter
    )
