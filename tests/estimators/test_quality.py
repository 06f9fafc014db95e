"""Chart quality records: ρ, Cartan residual, R² and Hellinger residual (THEORY.md D5)."""

from __future__ import annotations

import dataclasses
import importlib.util
import math

import catalogue
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specalign.errors import ChartError
from specalign.estimators.charts import CHARTS, STATUS_OK
from specalign.estimators.charts.quality import ChartFit, chart_fit, chart_fit_log
from specalign.estimators.coordinates import top_radial_log


def chart_available(chart: str) -> bool:
    return importlib.util.find_spec(f"specalign.estimators.charts.{chart}") is not None


def hellinger_direct(h, h_ref):
    """``H(p, q)`` with ``H² = ½ Σ (√p − √q)²`` straight from the definition."""
    p = np.exp(h) / np.exp(h).sum()
    q = np.exp(h_ref) / np.exp(h_ref).sum()
    return math.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))


def normalized(h: np.ndarray) -> np.ndarray:
    """Sorted non-increasing and shifted to ``logsumexp(h) = log d``."""
    h = np.sort(h, axis=-1)[..., ::-1]
    top = h.max(axis=-1, keepdims=True)
    log_total = top + np.log(np.exp(h - top).sum(axis=-1, keepdims=True))
    return h - log_total + math.log(h.shape[-1])


def noisy_ordered_spectra(seed: int, batch: int, d: int, noise: float = 0.05) -> np.ndarray:
    """Normalized orbit points plus small noise, re-sorted: ordered spectra off the orbit."""
    rng = np.random.default_rng(seed)
    alphas = rng.uniform(0.0, 3.0, batch)
    return normalized(catalogue.orbit_batch(alphas, d) + noise * rng.standard_normal((batch, d)))


@pytest.mark.parametrize("chart", ["ls", "top"])
@pytest.mark.parametrize("d", [2, 10, 1000])
def test_fit_on_the_orbit_is_exact_in_every_residual(chart, d):
    alphas = np.array([0.0, 0.5, 2.0, 10.0])
    fit = chart_fit_log(catalogue.orbit_batch(alphas, d), chart)
    np.testing.assert_allclose(fit.alpha, alphas, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fit.rho, 0.0, atol=1e-10)
    assert np.all(fit.residual_sup <= 1e-9)
    np.testing.assert_allclose(fit.r2, 1.0, atol=1e-10)
    assert np.all(fit.hellinger_residual <= 1e-7)  # H ~ sqrt(rounding of H²)
    np.testing.assert_array_equal(fit.status, STATUS_OK)
    assert fit.chart == chart
    assert fit.window == "all ranks"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(2, 60))
def test_ls_rho_is_the_first_regression_residual_over_xbar(seed, d):
    h = noisy_ordered_spectra(seed, 3, d)
    fit = chart_fit_log(h, "ls")
    xbar = catalogue.mean_log_rank_uniform(d)
    np.testing.assert_allclose(fit.rho, fit.cartan_residual[:, 0] / xbar, rtol=0, atol=1e-11)
    np.testing.assert_allclose(fit.rho, top_radial_log(h) - fit.alpha, rtol=0, atol=1e-12)


def test_rho_is_top_radial_minus_exponent_and_zero_for_top():
    h = noisy_ordered_spectra(1, 5, 40)
    ls_fit = chart_fit_log(h, "ls")
    top_fit = chart_fit_log(h, "top")
    np.testing.assert_allclose(ls_fit.top_radial, top_radial_log(h), rtol=1e-14)
    np.testing.assert_allclose(ls_fit.rho, ls_fit.top_radial - ls_fit.alpha, rtol=1e-14)
    np.testing.assert_array_equal(top_fit.rho, 0.0)
    assert np.any(np.abs(ls_fit.rho) > 1e-4)  # off the orbit the charts differ


def test_top_chart_residual_is_distance_to_its_orbit_point():
    h = noisy_ordered_spectra(2, 4, 25)
    fit = chart_fit_log(h, "top")
    for row in range(4):
        h_orbit = catalogue.orbit_log_spectrum(float(fit.alpha[row]), 25)
        np.testing.assert_allclose(fit.cartan_residual[row], h[row] - h_orbit, atol=1e-12)
        assert math.isclose(fit.residual_sup[row], np.max(np.abs(h[row] - h_orbit)), rel_tol=1e-10)
        assert math.isclose(
            fit.hellinger_residual[row], hellinger_direct(h[row], h_orbit), rel_tol=1e-9
        )
        centred = h[row] - h[row].mean()
        r2 = 1 - np.sum((h[row] - h_orbit) ** 2) / np.sum(centred**2)
        assert math.isclose(fit.r2[row], r2, rel_tol=1e-10)


def test_ls_hellinger_residual_uses_the_fitted_orbit_point():
    h = noisy_ordered_spectra(3, 3, 30)
    fit = chart_fit_log(h, "ls")
    for row in range(3):
        h_orbit = catalogue.orbit_log_spectrum(float(fit.alpha[row]), 30)
        assert math.isclose(
            fit.hellinger_residual[row], hellinger_direct(h[row], h_orbit), rel_tol=1e-9
        )
    assert np.all((fit.r2 > 0) & (fit.r2 < 1))


def test_windowed_ls_residual_vanishes_off_the_window():
    h = noisy_ordered_spectra(4, 2, 50)
    fit = chart_fit_log(h, "ls", window=(5, 30))
    assert np.all(fit.cartan_residual[:, :4] == 0.0)
    assert np.all(fit.cartan_residual[:, 30:] == 0.0)
    assert fit.window == "ranks 5..30"
    quantile = chart_fit_log(h, "ls", window=0.9)
    assert quantile.window.startswith("energy quantile q=0.9")
    np.testing.assert_allclose(
        quantile.residual_sup, np.max(np.abs(quantile.cartan_residual), axis=-1)
    )


def test_inputs_are_sorted_and_normalized_first():
    h = noisy_ordered_spectra(5, 2, 20)
    shuffled = np.random.default_rng(0).permuted(h, axis=-1) + 3.7
    a, b = chart_fit_log(h, "ls"), chart_fit_log(shuffled, "ls")
    np.testing.assert_allclose(b.alpha, a.alpha, atol=1e-12)
    np.testing.assert_allclose(b.cartan_residual, a.cartan_residual, atol=1e-12)
    lam = np.exp(h) * 1e-3
    c = chart_fit(lam, "ls")
    np.testing.assert_allclose(c.alpha, a.alpha, atol=1e-12)
    np.testing.assert_allclose(c.hellinger_residual, a.hellinger_residual, atol=1e-12)


def test_single_spectrum_gives_scalar_fields():
    fit = chart_fit(catalogue.orbit_spectrum(1.0, 8), "top")
    assert fit.alpha.shape == () and fit.rho.shape == () and fit.r2.shape == ()
    assert fit.cartan_residual.shape == (8,)


def test_chart_fit_is_immutable_and_records_settings():
    fit = chart_fit_log(catalogue.orbit_log_spectrum(1.0, 8), "ls", window=(1, 4))
    assert isinstance(fit, ChartFit)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.alpha = np.zeros(())  # type: ignore[misc]
    assert fit.options == {}


def test_unknown_chart_and_bad_window_are_chart_errors():
    h = catalogue.orbit_log_spectrum(1.0, 8)
    with pytest.raises(ChartError, match="did you mean 'top'"):
        chart_fit_log(h, "tpo")
    with pytest.raises(ChartError, match="no rank window"):
        chart_fit_log(h, "top", window=(1, 3))


@pytest.mark.parametrize("chart", [c for c in CHARTS if c not in ("ls", "top")])
def test_other_registered_charts_give_a_consistent_record(chart):
    if not chart_available(chart):
        pytest.skip(f"chart module {chart!r} not written yet")
    rng = np.random.default_rng(6)
    d = 200
    h = normalized(catalogue.orbit_batch([0.5, 1.5], d) + 0.01 * rng.standard_normal((2, d)))
    fit = chart_fit_log(h, chart)
    assert fit.chart == chart
    assert fit.alpha.shape == fit.rho.shape == fit.hellinger_residual.shape == (2,)
    assert fit.cartan_residual.shape == (2, d)
    ok = fit.status != 2
    np.testing.assert_allclose(fit.rho[ok], (fit.top_radial - fit.alpha)[ok], atol=1e-12)
    for row in np.flatnonzero(ok):
        h_orbit = catalogue.orbit_log_spectrum(float(max(fit.alpha[row], 0.0)), d)
        np.testing.assert_allclose(fit.cartan_residual[row], h[row] - h_orbit, atol=1e-9)
        assert math.isclose(
            fit.hellinger_residual[row], hellinger_direct(h[row], h_orbit), rel_tol=1e-8
        )


@pytest.mark.parametrize("chart", ["gibbs", "hellinger"])
def test_exact_iterative_charts_have_zero_residual_on_the_orbit(chart):
    if not chart_available(chart):
        pytest.skip(f"chart module {chart!r} not written yet")
    alphas = np.array([0.0, 0.5, 2.0])
    fit = chart_fit_log(catalogue.orbit_batch(alphas, 100), chart)
    np.testing.assert_allclose(fit.alpha, alphas, atol=1e-8)
    np.testing.assert_allclose(fit.rho, 0.0, atol=1e-8)
    assert np.all(fit.hellinger_residual <= 1e-6)
