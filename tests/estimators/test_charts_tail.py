"""The ``tail`` chart: power-law MLE of the eigenvalue density tail, x_min by minimum KS."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
from scipy.special import gammaln

from specalign.errors import ChartError, InputError
from specalign.estimators.charts import STATUS_NOT_CONVERGED, STATUS_OK, fit_exponent, tail
from specalign.estimators.orbit import orbit, orbit_log_spectrum

powerlaw = pytest.importorskip("powerlaw")


def pareto_sample(a: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws of the density ``(a − 1) x^(−a)`` on ``[1, ∞)`` (inverse CDF)."""
    return (1.0 - rng.random(n)) ** (-1.0 / (a - 1.0))


def powerlaw_fit(data: np.ndarray, **options):
    """``powerlaw.Fit`` with its progress output and warnings silenced (test-only)."""
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(data, xmin=None, discrete=False, verbose=0, **options)
        return fit.xmin, fit.power_law.alpha, fit.D


# powerlaw discards x_min candidates whose fitted exponent leaves its default range (0, 3)
# (and flags those within 0.01 of the ends); this chart does not, since a > 3 is a legitimate
# rank exponent below 1/2. For a = 3 about half the candidates are affected, so the
# comparison widens powerlaw's range to give both the same rule.
POWERLAW_OPTIONS = {1.5: {}, 2.0: {}, 3.0: {"parameter_ranges": {"alpha": [1.0, None]}}}


@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_powerlaw_on_pareto_samples(a, seed):
    rng = np.random.default_rng([int(10 * a), seed])
    data = pareto_sample(a, int(rng.integers(500, 1001)), rng)
    ours = tail.fit_tail(data, max_candidates=None)
    x_min, a_powerlaw, ks_powerlaw = powerlaw_fit(data, **POWERLAW_OPTIONS[a])
    ordered = np.sort(data)
    # Same x_min (powerlaw's candidates: the distinct values but the two largest).
    assert abs(np.searchsorted(ordered, ours.x_min) - np.searchsorted(ordered, x_min)) <= 1
    assert abs(ours.a - a_powerlaw) <= ours.a_stderr
    if ours.x_min == x_min:
        assert ours.a == pytest.approx(a_powerlaw, rel=1e-12)
        assert ours.ks_distance == pytest.approx(ks_powerlaw, rel=1e-9)
    assert ours.status == STATUS_OK
    assert ours.n_tail == np.count_nonzero(data >= ours.x_min)
    assert ours.a_stderr == pytest.approx((ours.a - 1.0) / np.sqrt(ours.n_tail))
    assert ours.rank_exponent == pytest.approx(1.0 / (ours.a - 1.0))
    # And the estimate is near the truth (a few standard errors).
    assert abs(ours.a - a) <= 4 * ours.a_stderr


@pytest.mark.slow
@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
def test_agrees_with_powerlaw_on_many_seeds(a):
    for seed in range(2, 12):
        rng = np.random.default_rng([int(10 * a), seed])
        data = pareto_sample(a, int(rng.integers(500, 2001)), rng)
        ours = tail.fit_tail(data, max_candidates=None)
        x_min, a_powerlaw, _ = powerlaw_fit(data, **POWERLAW_OPTIONS[a])
        ordered = np.sort(data)
        assert abs(np.searchsorted(ordered, ours.x_min) - np.searchsorted(ordered, x_min)) <= 1
        assert abs(ours.a - a_powerlaw) <= ours.a_stderr


@pytest.mark.parametrize("d", [100, 10_000, 100_000])
def test_rank_exponent_converges_to_alpha_on_the_orbit(d):
    alpha = 1.3
    result = tail.fit_tail(orbit_log_spectrum(alpha, d), log=True)
    # The orbit spectrum is the exact quantiles of a Pareto law with a − 1 = 1/α: the KS
    # distance is smallest for the whole spectrum, whose MLE is α (log d − log(d!)/d).
    assert result.n_tail == d
    expected = alpha * (np.log(d) - gammaln(d + 1.0) / d)
    assert result.rank_exponent == pytest.approx(expected, rel=1e-10)
    # Relative error ≈ log(2πd)/(2d): 0.03 at d = 100, 6e-4 at 10^4, 7e-5 at 10^5.
    assert abs(result.rank_exponent / alpha - 1.0) <= np.log(2 * np.pi * d) / d


def test_rank_exponent_is_scale_free_and_proportional_to_alpha():
    d = 500
    fits = tail.fit_tail(orbit_log_spectrum(np.array([0.5, 1.0, 4.0]), d), log=True)
    np.testing.assert_allclose(fits.rank_exponent / [0.5, 1.0, 4.0], fits.rank_exponent[1])
    np.testing.assert_array_equal(fits.n_tail, d)


def test_log_and_linear_inputs_agree_and_any_order_or_scale():
    rng = np.random.default_rng(3)
    lam = pareto_sample(2.2, 300, rng)
    linear = tail.fit_tail(lam)
    logged = tail.fit_tail(np.log(lam)[::-1], log=True)
    scaled = tail.fit_tail(7.0 * rng.permutation(lam))
    assert logged.a == pytest.approx(linear.a, rel=1e-12)
    assert logged.x_min == pytest.approx(linear.x_min, rel=1e-12)
    assert scaled.a == pytest.approx(linear.a, rel=1e-12)
    assert scaled.x_min == pytest.approx(7.0 * linear.x_min, rel=1e-12)
    assert scaled.ks_distance == pytest.approx(linear.ks_distance, rel=1e-9)


def test_candidate_subsampling():
    rng = np.random.default_rng(4)
    data = pareto_sample(2.0, 600, rng)
    full = tail.fit_tail(data, max_candidates=None)
    assert tail.fit_tail(data, max_candidates=1000) == full  # fewer candidates than the cap
    coarse = tail.fit_tail(data, max_candidates=50)
    assert coarse.ks_distance >= full.ks_distance
    assert abs(coarse.a - full.a) <= 3 * full.a_stderr


def test_ties_and_degenerate_spectra():
    # All equal: the limit a → ∞ of the Pareto family, rank exponent 0.
    flat = tail.fit_tail(np.ones(10))
    assert flat.status == STATUS_OK and flat.rank_exponent == 0 and flat.a == np.inf
    assert flat.n_tail == 10 and flat.x_min == 1.0
    assert tail.fit(np.zeros(5)).alpha == 0.0
    # Two distinct values leave no tail with three distinct values.
    two = tail.fit_tail(np.array([1.0, 1.0, 2.0]))
    assert two.status == STATUS_NOT_CONVERGED and np.isnan(two.a) and two.n_tail == 0
    assert tail.fit_tail(np.array([1.0, 1.0, 2.0]), min_tail=2).status == STATUS_OK
    # Ties: n_tail counts every eigenvalue >= x_min.
    tied = tail.fit_tail(np.array([1.0, 1.0, 2.0, 2.0, 3.0, 5.0, 8.0, 8.0]))
    assert tied.n_tail == np.count_nonzero(np.array([1, 1, 2, 2, 3, 5, 8, 8]) >= tied.x_min)


def test_tied_sample_agrees_with_powerlaw():
    rng = np.random.default_rng(8)
    data = np.round(pareto_sample(2.5, 700, rng), 2)  # many ties
    ours = tail.fit_tail(data, max_candidates=None)
    x_min, a_powerlaw, ks_powerlaw = powerlaw_fit(data)
    assert ours.x_min == x_min
    assert ours.a == pytest.approx(a_powerlaw, rel=1e-12)
    assert ours.ks_distance == pytest.approx(ks_powerlaw, rel=1e-9)


def test_chart_interface_and_batches():
    h = orbit_log_spectrum(np.array([[0.5, 1.0], [2.0, 3.0]]), 64)
    estimate = tail.fit(h)
    assert estimate.alpha.shape == (2, 2) and estimate.status.shape == (2, 2)
    record = tail.fit_tail(h, log=True)
    np.testing.assert_array_equal(estimate.alpha, record.rank_exponent)
    assert record.n_tail.dtype == np.int64 and record.status.dtype == np.int8
    assert fit_exponent(orbit(1.0, 64), chart="tail") == pytest.approx(record.rank_exponent[0, 1])
    with pytest.raises(ChartError, match="'ls' chart"):
        tail.fit(h, window=(1, 10))


def test_inputs_are_validated():
    with pytest.raises(InputError):
        tail.fit_tail(np.array([1.0, -2.0, 3.0]))
    with pytest.raises(InputError, match="min_tail"):
        tail.fit_tail(np.array([1.0, 2.0, 3.0]), min_tail=1)
    with pytest.raises(InputError, match="max_candidates"):
        tail.fit_tail(np.array([1.0, 2.0, 3.0]), max_candidates=1)
    with pytest.raises(InputError):
        tail.fit_tail(np.array([0.0, np.nan]), log=True)
