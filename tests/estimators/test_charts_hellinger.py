"""The ``hellinger`` chart: the power law nearest in Hellinger distance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from specalign.errors import ChartError, InputError, NonFiniteError
from specalign.estimators.charts import (
    STATUS_CAPPED,
    STATUS_NOT_CONVERGED,
    STATUS_OK,
    fit_exponent,
    fit_exponent_log,
    hellinger,
)
from specalign.estimators.charts.gibbs import DEFAULT_ALPHA_MAX
from specalign.estimators.orbit import log_ranks, orbit, orbit_log_spectrum


@pytest.fixture(autouse=True)
def one_blas_thread():
    # Values, not speed, are tested: one BLAS thread avoids stalls on an oversubscribed machine.
    with threadpool_limits(limits=1):
        yield


ORBIT_ALPHAS = np.array([0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0])
ORBIT_DIMENSIONS = [2, 3, 10, 1000, 100_000]


def normalized(h) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    return h - logsumexp(h, axis=-1, keepdims=True) + np.log(h.shape[-1])


def sqrt_orbit(alpha: np.ndarray, d: int) -> np.ndarray:
    """``√p_k(α)``, shape ``alpha.shape + (d,)``."""
    logp = -np.asarray(alpha, dtype=np.float64)[..., None] * log_ranks(d)
    return np.exp(0.5 * (logp - logsumexp(logp, axis=-1, keepdims=True)))


def hellinger_squared(h: np.ndarray, alpha) -> np.ndarray:
    """``H²(p, p(α)) = ½ Σ (√p_k − √p_k(α))²`` by direct summation, for a 1-D ``h``."""
    sqrt_p = np.exp(0.5 * (h - logsumexp(h)))
    return 0.5 * np.sum((sqrt_p - sqrt_orbit(alpha, h.size)) ** 2, axis=-1)


def stationarity(h: np.ndarray, alpha: float) -> float:
    """``g(α) = μ(α) − E_{q_α}[log k]``, ``q_α ∝ √p k^(−α/2)``, by direct summation."""
    x = log_ranks(h.size)
    logp = -alpha * x
    logq = 0.5 * h - 0.5 * alpha * x
    mean_p = np.exp(logp - logsumexp(logp)) @ x
    mean_q = np.exp(logq - logsumexp(logq)) @ x
    return float(mean_p - mean_q)


def random_ordered_spectra(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Sorted spectra of four shapes: Dirichlet, noisy and broken power laws, log-normal."""
    x = log_ranks(d)
    out = np.empty((n, d))
    for i in range(n):
        kind = i % 4
        if kind == 0:
            h = np.log(rng.dirichlet(np.full(d, rng.uniform(0.05, 3.0))) + 1e-300)
        elif kind == 1:
            h = -rng.uniform(0.0, 4.0) * x + rng.normal(0.0, rng.uniform(0.0, 1.0), d)
        elif kind == 2:
            knee = int(rng.integers(1, d))
            slopes = rng.uniform(0.0, 8.0, 2)
            h = np.where(np.arange(d) < knee, -slopes[0] * x, -slopes[0] * x[knee])
            h = h - np.where(np.arange(d) < knee, 0.0, slopes[1] * (x - x[knee]))
        else:
            h = rng.normal(0.0, rng.uniform(0.1, 5.0), d)
        out[i] = normalized(np.sort(h)[::-1])
    return out


ordered_spectra = st.lists(
    st.floats(min_value=-40.0, max_value=5.0, allow_nan=False), min_size=2, max_size=40
).map(lambda values: normalized(np.sort(values)[::-1]))


# --- exactness ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", ORBIT_DIMENSIONS)
def test_exact_on_the_orbit(d):
    estimate = hellinger.fit(orbit_log_spectrum(ORBIT_ALPHAS, d))
    np.testing.assert_array_equal(estimate.status, STATUS_OK)
    np.testing.assert_allclose(estimate.alpha, ORBIT_ALPHAS, rtol=0, atol=1e-10)


def test_exact_on_the_orbit_off_the_scan_grid():
    alpha = np.array([1e-3, 0.3, 1.1, 2.2, 3.3, 7.0, 13.0, 31.0, 49.9])
    for d in (2, 50, 4096):
        estimate = hellinger.fit(orbit_log_spectrum(alpha, d))
        np.testing.assert_array_equal(estimate.status, STATUS_OK)
        np.testing.assert_allclose(estimate.alpha, alpha, rtol=0, atol=1e-10)


def test_exact_on_the_orbit_through_fit_exponent():
    alpha = np.array([0.3, 1.0, 2.7])
    np.testing.assert_allclose(
        fit_exponent(orbit(alpha, 257) * 0.25, chart="hellinger"), alpha, rtol=0, atol=1e-10
    )


# --- global minimization -----------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 5, 20, 100])
def test_matches_dense_grid_brute_force_on_random_spectra(d):
    alpha_max = 10.0
    grid = np.linspace(0.0, alpha_max, 20_001)
    step = grid[1] - grid[0]
    spectra = random_ordered_spectra(np.random.default_rng(1000 + d), 40, d)
    estimate = hellinger.fit(spectra, alpha_max=alpha_max)
    assert np.all(estimate.status != STATUS_NOT_CONVERGED)
    sqrt_grid = sqrt_orbit(grid, d)
    for h, alpha in zip(spectra, estimate.alpha, strict=True):
        on_grid = 0.5 * np.sum((np.exp(0.5 * (h - logsumexp(h))) - sqrt_grid) ** 2, axis=1)
        best = int(np.argmin(on_grid))
        found = float(hellinger_squared(h, alpha))
        # At least as good as every grid point, and next to the grid's minimizer.
        assert found <= on_grid[best] + 1e-15
        assert abs(alpha - grid[best]) <= step or found >= on_grid[best] - 1e-15


@pytest.mark.parametrize(
    ("h", "expected"),
    [
        # Unordered spectra with two local maxima of BC (found by random search).
        ([8.4, 0.0, -6.3, -3.7, -4.8, 8.8], 10.94561508),  # the second is the global one
        ([3.4, -6.2, -6.5, -9.3, 0.2, 4.0], 0.877613),  # the first is the global one
        ([17.8, 4.8, -8.5, 3.2, -6.2, 18.4, 4.2], 2.67321828),
    ],
)
def test_global_maximizer_among_several_stationary_points(h, expected):
    h = normalized(h)
    grid = np.linspace(0.0, 20.0, 40_001)
    g = np.array([stationarity(h, a) for a in grid[::40]])
    assert np.count_nonzero((g[:-1] > 0) & (g[1:] <= 0)) == 2
    alpha = float(hellinger.fit(h).alpha)
    assert alpha == pytest.approx(expected, abs=1e-7)
    assert hellinger_squared(h, alpha) <= np.min(hellinger_squared(h, grid)) + 1e-15
    assert abs(stationarity(h, alpha)) < 1e-12


@settings(max_examples=60, deadline=None)
@given(ordered_spectra)
def test_nonnegative_and_stationary_on_ordered_spectra(h):
    estimate = hellinger.fit(h)
    alpha = float(estimate.alpha)
    assert alpha >= 0.0
    assert estimate.status in (STATUS_OK, STATUS_CAPPED)
    if estimate.status == STATUS_OK and alpha > 0:
        assert abs(stationarity(h, alpha)) <= 1e-10
    # Never worse than the ends of the interval.
    ends = hellinger_squared(h, np.array([0.0, DEFAULT_ALPHA_MAX]))
    assert hellinger_squared(h, alpha) <= ends.min() + 1e-15


# --- boundaries, options, batches --------------------------------------------------------


def test_uniform_spectrum_gives_zero_exactly():
    estimate = hellinger.fit(np.zeros((2, 64)))
    np.testing.assert_array_equal(estimate.alpha, 0.0)
    np.testing.assert_array_equal(estimate.status, STATUS_OK)


def test_capped_when_more_concentrated_than_the_cap():
    h = orbit_log_spectrum(np.array([8.0, 3.0]), 40)
    estimate = hellinger.fit(h, alpha_max=5.0)
    np.testing.assert_array_equal(estimate.status, [STATUS_CAPPED, STATUS_OK])
    np.testing.assert_allclose(estimate.alpha, [5.0, 3.0], rtol=0, atol=1e-10)
    spike = hellinger.fit(np.array([0.0, -1000.0, -1000.0]))
    assert spike.status == STATUS_CAPPED and spike.alpha == DEFAULT_ALPHA_MAX


def test_unsorted_rows_whose_first_entry_is_not_the_largest():
    # exp((h − h_1)/2) overflows for these rows; the chart redoes them with the row maximum.
    h = normalized([-2000.0, 0.0, -0.5, -1.0, -3.0])
    grid = np.linspace(0.0, 10.0, 10_001)
    alpha = float(hellinger.fit(h, alpha_max=10.0).alpha)
    assert hellinger_squared(h, alpha) <= np.min(hellinger_squared(h, grid)) + 1e-15


def test_batches_broadcast_and_do_not_change_single_results():
    spectra = random_ordered_spectra(np.random.default_rng(5), 7, 33).reshape(7, 1, 33)
    estimate = hellinger.fit(spectra)
    assert estimate.alpha.shape == (7, 1) and estimate.status.shape == (7, 1)
    for i in range(7):
        # Bitwise: a spectrum's result does not depend on the batch it arrives in.
        assert estimate.alpha[i, 0] == float(hellinger.fit(spectra[i, 0]).alpha)
    assert hellinger.fit(spectra[0, 0]).alpha.shape == ()


def test_options_are_validated():
    h = orbit_log_spectrum(1.0, 8)
    with pytest.raises(ChartError, match="'ls' chart"):
        hellinger.fit(h, window=(1, 4))
    with pytest.raises(InputError, match="alpha_max"):
        hellinger.fit(h, alpha_max=-2.0)
    with pytest.raises(NonFiniteError):
        hellinger.fit(np.array([0.0, np.nan, -1.0]))
    with pytest.raises(NonFiniteError):
        hellinger.fit(np.array([0.0, np.inf, -1.0]))


def test_not_converged_is_a_status_and_an_error_on_request():
    h = orbit_log_spectrum(np.array([0.7, 1.3]), 50) + np.sin(np.arange(50)) * 1e-3
    h = normalized(-np.sort(-h, axis=-1))
    estimate = hellinger.fit(h, maxiter=1)
    np.testing.assert_array_equal(estimate.status, STATUS_NOT_CONVERGED)
    assert np.all(np.isnan(estimate.alpha))
    with pytest.raises(ChartError, match="did not converge"):
        fit_exponent_log(h, chart="hellinger", maxiter=1)


def test_scan_grid():
    grid = hellinger.scan_grid(50.0)
    assert grid[0] == 0.0 and grid[-1] == 50.0 and np.all(np.diff(grid) > 0)
    assert grid.size == 16
    np.testing.assert_array_equal(hellinger.scan_grid(1.0), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(hellinger.scan_grid(0.3), [0.0, 0.3])
