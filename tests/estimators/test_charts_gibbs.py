"""The ``gibbs`` chart (KL projection onto the power-law family), its family evaluator and the
shared vectorized root finder of the iterative charts."""

from __future__ import annotations

import mpmath as mp
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
    gibbs,
)
from specalign.estimators.charts._solve import find_root
from specalign.estimators.orbit import log_ranks, mean_log_rank, orbit, orbit_log_spectrum


@pytest.fixture(autouse=True)
def one_blas_thread():
    # Values, not speed, are tested: one BLAS thread avoids stalls on an oversubscribed machine.
    with threadpool_limits(limits=1):
        yield


ORBIT_ALPHAS = np.array([0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0])
ORBIT_DIMENSIONS = [2, 3, 10, 1000, 100_000]


def normalized(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    return h - logsumexp(h, axis=-1, keepdims=True) + np.log(h.shape[-1])


def empirical_mean_log_rank(h: np.ndarray) -> np.ndarray:
    """``Σ p_k log k`` computed independently of the chart (softmax in logs)."""
    logp = h - logsumexp(h, axis=-1, keepdims=True)
    return np.sum(np.exp(logp) * log_ranks(h.shape[-1]), axis=-1)


ordered_spectra = st.lists(
    st.floats(min_value=-40.0, max_value=5.0, allow_nan=False), min_size=2, max_size=40
).map(lambda values: normalized(np.sort(values)[::-1]))


# --- exactness and the moment condition -------------------------------------------------


@pytest.mark.parametrize("d", ORBIT_DIMENSIONS)
def test_exact_on_the_orbit(d):
    estimate = gibbs.fit(orbit_log_spectrum(ORBIT_ALPHAS, d))
    np.testing.assert_array_equal(estimate.status, STATUS_OK)
    np.testing.assert_allclose(estimate.alpha, ORBIT_ALPHAS, rtol=0, atol=1e-10)


def test_exact_on_the_orbit_through_fit_exponent():
    alpha = np.array([0.3, 1.0, 2.7])
    np.testing.assert_allclose(
        fit_exponent(orbit(alpha, 257) * 3.5, chart="gibbs"), alpha, rtol=0, atol=1e-10
    )


@settings(max_examples=60, deadline=None)
@given(ordered_spectra)
def test_nonnegative_and_moment_condition_on_ordered_spectra(h):
    estimate = gibbs.fit(h)
    target = empirical_mean_log_rank(h)
    alpha = float(estimate.alpha)
    assert alpha >= 0.0
    if estimate.status == STATUS_OK and alpha > 0:
        assert abs(float(mean_log_rank(alpha, h.size)) - target) <= 1e-10
    elif estimate.status == STATUS_CAPPED:
        assert alpha == gibbs.DEFAULT_ALPHA_MAX
        assert target <= float(mean_log_rank(alpha, h.size)) + 1e-15
    else:
        assert estimate.status == STATUS_OK and alpha == 0.0
        assert target >= float(mean_log_rank(0.0, h.size)) - 1e-12


def test_against_mpmath_reference():
    rng = np.random.default_rng(20261203)
    mp.mp.dps = 40
    for d in (2, 5, 17):
        h = normalized(np.sort(rng.normal(0.0, 2.0, d))[::-1])
        ranks = [mp.mpf(k) for k in range(1, d + 1)]
        weights = [mp.e ** mp.mpf(float(v)) for v in h]
        target = mp.fsum(w * mp.log(k) for w, k in zip(weights, ranks, strict=True)) / mp.fsum(
            weights
        )

        def mean(alpha, ranks=ranks):
            terms = [k ** (-alpha) for k in ranks]
            return mp.fsum(t * mp.log(k) for t, k in zip(terms, ranks, strict=True)) / mp.fsum(
                terms
            )

        reference = mp.findroot(lambda a, target=target, mean=mean: mean(a) - target, 1.0)
        assert float(gibbs.fit(h).alpha) == pytest.approx(float(reference), abs=1e-12)


def test_uniform_spectrum_gives_zero_exactly():
    estimate = gibbs.fit(np.zeros((3, 50)))
    np.testing.assert_array_equal(estimate.alpha, 0.0)
    np.testing.assert_array_equal(estimate.status, STATUS_OK)


def test_increasing_spectrum_projects_to_zero():
    # Unsorted input: the moment exceeds xbar_d, the KL projection onto α >= 0 is α = 0.
    h = orbit_log_spectrum(1.5, 30)[::-1]
    assert float(gibbs.fit(h).alpha) == 0.0


def test_capped_when_more_concentrated_than_the_cap():
    h = orbit_log_spectrum(np.array([8.0, 3.0]), 40)
    estimate = gibbs.fit(h, alpha_max=5.0)
    np.testing.assert_array_equal(estimate.status, [STATUS_CAPPED, STATUS_OK])
    np.testing.assert_allclose(estimate.alpha, [5.0, 3.0], rtol=0, atol=1e-10)
    # A spike: p_2/p_1 = e^-1000 is beyond any finite cap.
    spike = gibbs.fit(np.array([0.0, -1000.0, -1000.0]))
    assert spike.status == STATUS_CAPPED and spike.alpha == gibbs.DEFAULT_ALPHA_MAX


def test_zero_eigenvalues_are_allowed():
    # A zero eigenvalue (h = −inf) at rank 11: p_11 = 0, d = 11.
    with_zero = np.append(np.log(orbit(1.0, 10)), -np.inf)
    estimate = gibbs.fit(with_zero)
    target = empirical_mean_log_rank(with_zero)
    assert abs(float(mean_log_rank(float(estimate.alpha), 11)) - target) <= 1e-12


def test_batches_broadcast_and_match_single_spectra():
    rng = np.random.default_rng(7)
    h = normalized(-np.sort(-rng.normal(0.0, 1.5, (2, 3, 12)), axis=-1))
    estimate = gibbs.fit(h)
    assert estimate.alpha.shape == (2, 3) and estimate.status.shape == (2, 3)
    for index in np.ndindex(2, 3):
        assert estimate.alpha[index] == float(gibbs.fit(h[index]).alpha)
    assert gibbs.fit(h[0, 0]).alpha.shape == ()


def test_options_are_validated():
    h = orbit_log_spectrum(1.0, 8)
    with pytest.raises(ChartError, match="'ls' chart"):
        gibbs.fit(h, window=(1, 4))
    with pytest.raises(ChartError, match="'ls' chart"):
        fit_exponent_log(h, chart="gibbs", window=0.9)
    for bad in (0.0, -1.0, np.inf, "big"):
        with pytest.raises(InputError, match="alpha_max"):
            gibbs.fit(h, alpha_max=bad)
    with pytest.raises(InputError, match="maxiter"):
        gibbs.fit(h, maxiter=0)
    with pytest.raises(NonFiniteError):
        gibbs.fit(np.array([0.0, np.nan, -1.0]))
    with pytest.raises(NonFiniteError):
        gibbs.fit(np.array([0.0, np.inf, -1.0]))


def test_not_converged_is_a_status_and_an_error_on_request():
    h = normalized(-np.sort(-np.random.default_rng(3).normal(size=(4, 20)), axis=-1))
    estimate = gibbs.fit(h, maxiter=1)
    assert np.all(estimate.status == STATUS_NOT_CONVERGED)
    assert np.all(np.isnan(estimate.alpha))
    with pytest.raises(ChartError, match="did not converge"):
        fit_exponent_log(h, chart="gibbs", maxiter=1)


# --- the Gibbs family evaluator ----------------------------------------------------------


@pytest.mark.parametrize("d", [2, 7, 40])
def test_family_against_mpmath(d):
    mp.mp.dps = 30
    family = gibbs.GibbsFamily(d)
    alphas = np.array([0.0, 1e-3, 0.3, 0.999, 1.0, 2.5, 7.1, 19.0, 33.3, 50.0])
    log_z, mean, fisher = family.evaluate(alphas)
    for a, got in zip(alphas, zip(log_z, mean, fisher, strict=True), strict=True):
        terms = [mp.mpf(k) ** (-mp.mpf(a)) for k in range(1, d + 1)]
        logs = [mp.log(k) for k in range(1, d + 1)]
        z = mp.fsum(terms)
        mu = mp.fsum(t * x for t, x in zip(terms, logs, strict=True)) / z
        var = mp.fsum(t * (x - mu) ** 2 for t, x in zip(terms, logs, strict=True)) / z
        assert got[0] == pytest.approx(float(mp.log(z)), rel=1e-13, abs=1e-15)
        assert got[1] == pytest.approx(float(mu), rel=1e-13)
        assert got[2] == pytest.approx(float(var), rel=1e-12)


def test_family_matches_direct_sums_for_large_d():
    d = 100_000
    alphas = np.array([0.0, 0.37, 1.0, 1.9, 4.4, 12.0])
    log_z, mean, fisher = gibbs.gibbs_family(d).evaluate(alphas)
    np.testing.assert_allclose(mean, mean_log_rank(alphas, d), rtol=1e-13)
    x = log_ranks(d)
    logp = -alphas[:, None] * x
    np.testing.assert_allclose(log_z, logsumexp(logp, axis=1), rtol=1e-13)
    logp -= logsumexp(logp, axis=1, keepdims=True)
    direct = np.sum(np.exp(logp) * (x - mean[:, None]) ** 2, axis=1)
    np.testing.assert_allclose(fisher, direct, rtol=1e-11)


# --- the shared root finder --------------------------------------------------------------


def test_find_root_catalogue_with_newton_and_secant():
    lower = np.array([0.0, 1.0, -2.0, 0.0])
    upper = np.array([1.0, 2.0, 2.0, 3.0])
    constant = np.array([0.0, 2.0, 0.0, 0.0])

    def values(x, index):
        c = constant[index]
        problem = index % 4
        f = np.select(
            [problem == 0, problem == 1, problem == 2, problem == 3],
            [np.cos(x) - x, x**3 - c, np.tanh(5 * x), np.exp(x) - 10.0],
        )
        df = np.select(
            [problem == 0, problem == 1, problem == 2, problem == 3],
            [-np.sin(x) - 1, 3 * x**2, 5 / np.cosh(5 * x) ** 2, np.exp(x)],
        )
        return f, df

    expected = [0.7390851332151607, 2 ** (1 / 3), 0.0, np.log(10.0)]
    f_lo = values(lower, np.arange(4))[0]
    f_hi = values(upper, np.arange(4))[0]
    for with_derivative in (True, False):

        def func(x, index, with_derivative=with_derivative):
            f, df = values(x, index)
            return f, df if with_derivative else None

        result = find_root(func, lower, upper, f_lo, f_hi)
        assert np.all(result.converged)
        np.testing.assert_allclose(result.root, expected, rtol=0, atol=1e-12)
        assert np.all(result.iterations <= 60)


def test_find_root_special_cases():
    def linear(x, index):
        return x - 0.25, np.ones_like(x)

    result = find_root(
        linear, [0.25, 0.5, 0.0], [1.0, 1.0, 1.0], [0.0, 0.25, -0.25], [0.75, 0.75, 0.75]
    )
    np.testing.assert_array_equal(result.converged, [True, False, True])
    assert result.root[0] == 0.25 and np.isnan(result.root[1])
    assert result.root[2] == pytest.approx(0.25, abs=1e-15)
    assert result.iterations[0] == 0 and result.iterations[1] == 0

    def flat_then_nan(x, index):
        return np.full_like(x, np.nan), None

    nan_result = find_root(flat_then_nan, [0.0], [1.0], [-1.0], [1.0])
    assert not nan_result.converged[0] and np.isnan(nan_result.root[0])


def test_find_root_only_evaluates_active_elements():
    seen = []

    def record(x, index):
        seen.append(index.copy())
        return x - np.array([0.1, 0.9])[index], np.ones_like(x)

    find_root(record, [0.0, 0.0], [1.0, 1.0], [-0.1, -0.9], [0.9, 0.1], x0=[0.1, 0.5])
    assert seen[0].tolist() == [0, 1]
    assert all(len(index) <= 1 for index in seen[1:])  # element 0 converged at once


def test_find_root_bisection_safeguard_against_bad_derivative():
    # A derivative of the wrong sign sends every Newton step out of the bracket.
    def misleading(x, index):
        return x**3 - 0.3, -np.ones_like(x)

    result = find_root(misleading, [0.0], [1.0], [-0.3], [0.7])
    assert result.converged[0]
    assert result.root[0] == pytest.approx(0.3 ** (1 / 3), abs=1e-11)
