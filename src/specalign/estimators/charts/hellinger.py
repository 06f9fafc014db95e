"""The ``hellinger`` chart: the power law nearest in Hellinger distance (THEORY.md D5).

``α̂ = argmin_{0 <= α <= alpha_max} H(p, p(α))``, ``H² = ½ Σ (√p_k − √p_k(α))² = 1 − BC(α)``,
found as the global maximizer of the Bhattacharyya coefficient ``BC`` among the roots of its
stationarity condition and the two ends of the interval.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from ...errors import NonFiniteError
from ..orbit import log_ranks
from . import STATUS_CAPPED, STATUS_NOT_CONVERGED, STATUS_OK, ChartEstimate
from ._solve import DEFAULT_ATOL, DEFAULT_MAXITER, DEFAULT_RTOL, find_root
from .gibbs import (
    DEFAULT_ALPHA_MAX,
    INVERSE_FACTORIALS,
    TAYLOR_ORDER,
    TAYLOR_REACH,
    as_cartan,
    block_buffer,
    check_chart_options,
    gibbs_family,
    horner,
    row_blocks,
    row_stable_matmul,
)

__all__ = ["fit", "scan_grid"]

# Scan grid: step 1/2 up to α = 2, then ratio 1.35 (the exponent's resolution scales with α).
_FINE_STEP, _FINE_END, _COARSE_RATIO = 0.5, 2.0, 1.35
# Most elements of cached rows exp(−α_j x/2) during the scan (32 MiB).
_DECAY_CACHE_ELEMENTS = 1 << 22


def scan_grid(alpha_max: float) -> np.ndarray:
    """Nodes at which the stationarity condition is scanned: ``0 = α_0 < … < α_G = alpha_max``.

    Step ``1/2`` on ``[0, 2]``, then a geometric progression of ratio ``1.35`` (16 nodes up to
    ``alpha_max = 50``).
    """
    fine = np.arange(0.0, _FINE_END, _FINE_STEP)
    n_coarse = int(np.ceil(np.log(max(alpha_max, _FINE_END) / _FINE_END) / np.log(_COARSE_RATIO)))
    coarse = _FINE_END * _COARSE_RATIO ** np.arange(n_coarse + 1)
    grid = np.concatenate([fine, coarse])
    return np.append(grid[grid < alpha_max], alpha_max)


class _LocalExpansion:
    """Taylor expansions in ``α`` of ``S_i(α) = Σ_k s_k k^(−α/2)`` for a set of problems.

    Problem ``i`` belongs to spectrum ``elements[i]`` (row of ``rows``, its ``h``), with
    ``s = exp((h − shift)/2)``. It keeps an expansion node ``α_j = j ρ`` (``ρ = 2 y / log d``)
    and the Taylor coefficients ``M_{n+r}/n!`` of the sums ``M_n = Σ_k s_k k^(−α_j/2) (log k)^n``
    (``n <= N + 2``), valid for ``|α − α_j| <= ρ``; it moves to the node nearest ``α`` when
    ``α`` leaves that range (recomputing ``s`` for those spectra).
    """

    def __init__(self, rows: np.ndarray, shift: np.ndarray, elements: np.ndarray) -> None:
        self._rows = rows
        self._shift = shift
        self._elements = elements
        self._x = log_ranks(rows.shape[1])
        self._powers = gibbs_family(rows.shape[1]).powers
        self.radius = 2.0 * TAYLOR_REACH / float(self._x[-1])
        self._node = np.full(elements.size, -1, dtype=np.int64)
        self._series = np.zeros((TAYLOR_ORDER + 1, 3, elements.size))

    def set_sums(self, positions: np.ndarray, node: np.ndarray, sums: np.ndarray) -> None:
        """Install the sums ``M_n`` (shape ``(m, N + 3)``) at ``node`` for ``positions``."""
        for r in range(3):
            self._series[:, r, positions] = (
                sums[:, r : r + TAYLOR_ORDER + 1] * INVERSE_FACTORIALS
            ).T
        self._node[positions] = node

    def _expand(self, alpha: np.ndarray, index: np.ndarray) -> None:
        node = self._node[index]
        stale = (node < 0) | (np.abs(alpha - node * self.radius) > self.radius)
        if not np.any(stale):
            return
        positions = index[stale]
        new_node = np.rint(alpha[stale] / self.radius).astype(np.int64)
        for j in np.unique(new_node):
            group = positions[new_node == j]
            spectra = self._elements[group]
            s = np.exp(0.5 * (self._rows[spectra] - self._shift[spectra, None]))
            decay = np.exp(-0.5 * j * self.radius * self._x)
            self.set_sums(group, j, row_stable_matmul(s, decay[:, None] * self._powers))

    def sums(self, alpha: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``Σ_k s_k k^(−α/2) (log k)^r`` for ``r = 0, 1, 2``, shape ``(3, m)``."""
        self._expand(alpha, index)
        t = -0.5 * (alpha - self._node[index] * self.radius)
        return horner(np.take(self._series, index, axis=2), t)


def start_point(grid: np.ndarray, cell: np.ndarray, g: np.ndarray, log_bc: np.ndarray):
    """Starting point for the root of ``g`` in ``[grid[cell], grid[cell + 1]]`` (per row).

    The maximizer of the cubic Hermite interpolant of ``log BC`` on the cell (values
    ``log BC``, slopes ``g/2`` at both ends): the root in ``[0, 1]`` of the quadratic
    ``A t² + B t + C`` (its derivative in ``t``). The regula falsi point where that fails.
    """
    rows = np.arange(cell.size)
    lo, hi = grid[cell], grid[cell + 1]
    width = hi - lo
    g_lo, g_hi = g[rows, cell], g[rows, cell + 1]
    slope_lo, slope_hi = 0.5 * width * g_lo, 0.5 * width * g_hi
    rise = log_bc[rows, cell + 1] - log_bc[rows, cell]
    a = 3.0 * (slope_lo + slope_hi) - 6.0 * rise
    b = 6.0 * rise - 4.0 * slope_lo - 2.0 * slope_hi
    c = slope_lo
    with np.errstate(invalid="ignore", divide="ignore"):
        # Stable roots q/a and c/q; p'(0) > 0 >= p'(1) leaves exactly one in [0, 1].
        q = -0.5 * (b + np.copysign(np.sqrt(np.maximum(b * b - 4.0 * a * c, 0.0)), b))
        first, second = q / a, c / q
        t = np.where((first >= 0) & (first <= 1), first, second)
        falsi = lo - g_lo * width / (g_hi - g_lo)
        start = lo + width * t
    return np.where((t >= 0) & (t <= 1), start, falsi)


class _Scan(NamedTuple):
    stationarity: np.ndarray  # g on the grid, (n, G)
    log_bc: np.ndarray  # log BC on the grid up to a constant per spectrum, (n, G)
    first_node: np.ndarray  # expansion node of the first + to − cell of each spectrum, or -1
    first_sums: np.ndarray  # the sums M_n at that node, (n, N + 3)


@functools.lru_cache(maxsize=4)
def _scan_columns(d: int, alpha_max: float) -> np.ndarray:
    """Read-only ``[k^(−α_j/2), k^(−α_j/2) log k]`` over :func:`scan_grid`, shape ``(d, 2G)``."""
    x = log_ranks(d)
    decay = np.exp(-0.5 * scan_grid(alpha_max)[:, None] * x)
    columns = np.ascontiguousarray(np.concatenate([decay, decay * x], axis=0).T)
    columns.flags.writeable = False
    return columns


def _scan(
    rows: np.ndarray, shift: np.ndarray, grid: np.ndarray, mean: np.ndarray, log_z: np.ndarray
) -> _Scan:
    """One streamed pass over the batch: ``g`` and ``log BC`` on the grid, and the Taylor sums
    for the first bracketed root of every spectrum while its row is still in cache.

    ``s = exp((h − shift)/2)``, with ``shift`` the largest entry of each row.
    """
    n_spectra, d = rows.shape
    x = log_ranks(d)
    radius = 2.0 * TAYLOR_REACH / float(x[-1])
    powers = gibbs_family(d).powers
    columns = _scan_columns(d, float(grid[-1]))
    n_grid = grid.size
    g = np.empty((n_spectra, n_grid))
    log_bc = np.empty((n_spectra, n_grid))
    first_node = np.full(n_spectra, -1, dtype=np.int64)
    first_sums = np.zeros((n_spectra, TAYLOR_ORDER + 3))
    decay_at: dict[int, np.ndarray] = {}

    def decay_row(j: int) -> np.ndarray:
        """``exp(−α_j x / 2)`` at expansion node ``j``, kept while the cache is small."""
        row = decay_at.get(j)
        if row is None:
            row = np.exp(-0.5 * j * radius * x)
            if len(decay_at) * d < _DECAY_CACHE_ELEMENTS:
                decay_at[j] = row
        return row

    buffer = block_buffer(n_spectra, d)
    for start, stop in row_blocks(n_spectra, d):
        n = stop - start
        s = buffer[: n + n % 2]
        # Non-finite results (a wrong shift for unsorted rows, NaN input) are handled by fit().
        with np.errstate(over="ignore", invalid="ignore"):
            np.subtract(rows[start:stop], shift[start:stop, None], out=s[:n])
            s[:n] *= 0.5
            np.exp(s[:n], out=s[:n])
        s[n:] = 0.0  # padding row: an even row count (row_stable_matmul)
        sums = (s @ columns)[:n]
        sum_s, sum_sx = sums[:, :n_grid], sums[:, n_grid:]
        with np.errstate(divide="ignore", invalid="ignore"):
            g_part = mean - sum_sx / sum_s
            log_bc[start:stop] = np.log(sum_s) - 0.5 * log_z
        g[start:stop] = g_part
        down = (g_part[:, :-1] > 0) & (g_part[:, 1:] <= 0)
        bracketed = down.any(axis=1)
        if not np.any(bracketed):
            continue
        # Expand where the root finder will start (fit() computes the same point); rows
        # without a bracket ride along at node 0 and are ignored.
        start_alpha = start_point(grid, np.argmax(down, axis=1), g_part, log_bc[start:stop])
        node = np.rint(np.where(bracketed, start_alpha, 0.0) / radius).astype(np.int64)
        unique_node, which = np.unique(node, return_inverse=True)
        decay_rows = np.stack([decay_row(int(j)) for j in unique_node])
        s[:n] *= decay_rows[which]  # in place: s is not needed any more
        block_sums = (s @ powers)[:n]
        first_sums[start:stop][bracketed] = block_sums[bracketed]
        first_node[start:stop][bracketed] = node[bracketed]
    return _Scan(g, log_bc, first_node, first_sums)


def fit(
    h,
    *,
    window=None,
    alpha_max: float = DEFAULT_ALPHA_MAX,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    maxiter: int = DEFAULT_MAXITER,
) -> ChartEstimate:
    """Fit the exponent of the power law nearest in Hellinger distance (the metric chart, D5).

    Parameters
    ----------
    h : array_like, shape (..., d)
        Normalized Cartan coordinates ``log λ`` (sorted non-increasing; any additive
        constant), ``d >= 2``. Entries ``−inf`` (zero eigenvalues) are allowed; NaN and
        ``+inf`` raise :class:`~specalign.errors.NonFiniteError`.
    window : None
        Must be None: rank windows apply to the ``ls`` chart only.
    alpha_max : float
        Upper end of the search interval (default 50).
    rtol, atol : float
        Step tolerance of the root finder: converged when ``|Δα| <= atol + rtol |α|``.
    maxiter : int
        Most evaluations of the stationarity condition per root.

    Returns
    -------
    ChartEstimate
        ``alpha`` (shape ``(...)``, eigenvalue rank convention) and ``status``:
        ``STATUS_OK``; ``STATUS_CAPPED`` (``α̂ = alpha_max``: ``H(p, p(α))`` still decreases
        at the cap); ``STATUS_NOT_CONVERGED`` (``α̂`` NaN).

    Notes
    -----
    With ``p = exp(h)/d``, ``BC(α) = Σ_k √p_k √p_k(α) = Σ_k √p_k k^(−α/2) / √Z(α)`` and

        ``d/dα log BC(α) = ½ g(α)``,  ``g(α) = μ(α) − E_{q_α}[log k]``,

    where ``q_{α,k} ∝ √p_k k^(−α/2)``; ``g'(α) = −I(α) + ½ Var_{q_α}(log k)``. Procedure:
    (1) evaluate ``g`` and ``log BC`` exactly on :func:`scan_grid` (one streamed matrix
    product over the batch); (2) in every grid cell where ``g`` changes sign from ``+`` to
    ``−`` (a local maximum of ``BC``), solve ``g = 0`` by safeguarded Newton steps from
    :func:`start_point`, with the sums over ``k`` evaluated by Taylor expansions in ``α``
    (``_LocalExpansion``); (3) the candidates are these roots, ``0`` if ``g(0) <= 0`` and
    ``alpha_max`` if ``g(alpha_max) > 0`` (ends where ``BC`` does not increase inwards); a
    single candidate is the answer, several are compared by ``BC``. Two extra roots inside
    one grid cell would go unseen; in random trials on ordered spectra ``g`` never had more
    than one root. For ordered spectra ``g(0) >= 0`` (Chebyshev), so ``α̂ >= 0``; on the orbit,
    ``q_α = p(α)`` at the true ``α``, which is therefore a root with ``BC = 1``. See
    docs/theory/nonlinear-charts.md.
    """
    alpha_max, maxiter = check_chart_options("hellinger", window, alpha_max, maxiter)
    h = as_cartan(h)
    d = h.shape[-1]
    rows = np.ascontiguousarray(h.reshape(-1, d))
    family = gibbs_family(d)
    grid = scan_grid(alpha_max)
    log_z, mean, _ = family.evaluate(grid)
    # Shift by the first entry, the largest for sorted rows: s_1 = 1, no overflow.
    shift = rows[:, 0].copy()
    scan = _scan(rows, shift, grid, mean, log_z)
    g, log_bc = scan.stationarity, scan.log_bc
    finite = np.all(np.isfinite(g), axis=1) & np.all(np.isfinite(log_bc), axis=1)
    if not np.all(finite):
        # Unsorted rows can overflow exp((h − h_1)/2): redo them shifted by their maximum.
        redo = np.flatnonzero(~finite)
        shift[redo] = rows[redo].max(axis=1)
        again = _scan(rows[redo], shift[redo], grid, mean, log_z)
        for field, value in zip(scan, again, strict=True):
            field[redo] = value
        finite = np.all(np.isfinite(g), axis=1) & np.all(np.isfinite(log_bc), axis=1)
    if not np.all(finite):
        raise NonFiniteError(
            f"h holds NaN or +inf in {int(np.count_nonzero(~finite))} spectrum(s); Cartan "
            "coordinates must be finite (log of positive eigenvalues)"
        )

    # Candidates: an end of [0, alpha_max] where BC does not increase inwards, and the root
    # of g in every cell where g changes sign from + to −. A spectrum with a single
    # candidate takes it without comparing BC values: near the cap BC differs from 1 by less
    # than the rounding error of its logarithm, so comparisons there would be noise.
    best = np.where(g[:, 0] <= 0, log_bc[:, 0], -np.inf)
    alpha = np.where(g[:, 0] <= 0, 0.0, np.nan)
    at_cap = (g[:, -1] > 0) & (log_bc[:, -1] > best)
    alpha[at_cap] = alpha_max
    best[at_cap] = log_bc[at_cap, -1]
    status = np.where(at_cap, STATUS_CAPPED, STATUS_OK).astype(np.int8)

    spectrum, cell = np.nonzero((g[:, :-1] > 0) & (g[:, 1:] <= 0))
    if spectrum.size:
        local = _LocalExpansion(rows, shift, spectrum)
        # The first bracket of each spectrum was expanded during the scan.
        first = np.flatnonzero(np.r_[True, spectrum[1:] != spectrum[:-1]])
        local.set_sums(first, scan.first_node[spectrum[first]], scan.first_sums[spectrum[first]])

        def stationarity(a: np.ndarray, index: np.ndarray):
            s0, s1, s2 = local.sums(a, index)
            nu = s1 / s0
            _, mu, fisher = family.evaluate(a)
            return mu - nu, 0.5 * (s2 / s0 - nu * nu) - fisher

        roots = find_root(
            stationarity,
            grid[cell],
            grid[cell + 1],
            g[spectrum, cell],
            g[spectrum, cell + 1],
            x0=start_point(grid, cell, g[spectrum], log_bc[spectrum]),
            rtol=rtol,
            atol=atol,
            maxiter=maxiter,
        )
        value = np.full(spectrum.size, -np.inf)
        ok = np.flatnonzero(roots.converged)
        if ok.size:
            s0 = local.sums(roots.root[ok], ok)[0]
            value[ok] = np.log(s0) - 0.5 * family.evaluate(roots.root[ok])[0]
        # Best root of each spectrum: sort by (spectrum, value), keep the last of each run.
        order = np.lexsort((value, spectrum))
        last = order[np.r_[spectrum[order][1:] != spectrum[order][:-1], True]]
        wins = value[last] >= best[spectrum[last]]
        winner = last[wins]
        alpha[spectrum[winner]] = roots.root[winner]
        status[spectrum[winner]] = STATUS_OK
        failed = np.unique(spectrum[~roots.converged])
        alpha[failed] = np.nan
        status[failed] = STATUS_NOT_CONVERGED
    status[np.isnan(alpha)] = STATUS_NOT_CONVERGED
    shape = h.shape[:-1]
    return ChartEstimate(alpha=alpha.reshape(shape), status=status.reshape(shape))
