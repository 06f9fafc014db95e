"""The linear charts ``ls`` and ``top``, rank windows and top-radial coordinates (D4, D5, D9)."""

from __future__ import annotations

import importlib.util
import math

import catalogue
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from specalign.errors import ChartError
from specalign.estimators.charts import fit_exponent, fit_exponent_log, ls, top
from specalign.estimators.charts.windows import (
    check_window,
    describe_window,
    energy_quantile_rank_log,
    is_fixed_window,
    resolve_window,
    window_mask,
)
from specalign.estimators.coordinates import (
    radial_coordinate,
    radial_coordinate_log,
    top_frobenius_coordinate,
    top_frobenius_coordinate_log,
    top_radial,
    top_radial_log,
    top_radial_unnormalized,
)
from specalign.estimators.rank import stable_rank, stable_rank_log

ORBIT = list(catalogue.orbit_cases())


def ordered_cartan(max_d: int = 40):
    """Strategy: sorted non-increasing log-spectra of length 2..max_d."""
    return hnp.arrays(
        np.float64,
        st.integers(2, max_d),
        elements=st.floats(-50.0, 50.0, allow_nan=False, allow_infinity=False),
    ).map(lambda h: np.sort(h)[::-1])


# --------------------------------------------------------------------------------------
# Exactness on the orbit
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ORBIT, ids=lambda c: f"alpha={c.alpha}-d={c.d}")
@pytest.mark.parametrize("chart", ["ls", "top"])
def test_linear_charts_are_exact_on_the_orbit(case, chart):
    alpha = fit_exponent_log(case.h, chart)
    assert abs(alpha - case.alpha) <= 1e-10


@pytest.mark.parametrize("d", catalogue.ORBIT_DIMS)
def test_linear_charts_are_exact_on_an_orbit_batch(d):
    alphas = np.array(catalogue.ORBIT_ALPHAS)
    h = catalogue.orbit_batch(alphas, d)
    np.testing.assert_allclose(ls.fit(h).alpha, alphas, rtol=0, atol=1e-10)
    np.testing.assert_allclose(top.fit(h).alpha, alphas, rtol=0, atol=1e-10)
    assert ls.fit(h).status.dtype == np.int8
    assert not np.any(ls.fit(h).status)


@pytest.mark.parametrize("d", [10, 1000, 100_000])
@pytest.mark.parametrize("window", [(1, 2), (2, 9), 0.5, 0.9, 0.999])
def test_ls_is_exact_on_the_orbit_for_every_window(d, window):
    alphas = np.array([0.0, 0.5, 1.0, 2.0, 5.0, 20.0])
    h = catalogue.orbit_batch(alphas, d)
    np.testing.assert_allclose(ls.fit(h, window=window).alpha, alphas, rtol=0, atol=1e-10)


def test_orbit_spectrum_underflows_but_its_cartan_coordinates_do_not():
    h = catalogue.orbit_log_spectrum(100.0, 100_000)
    assert np.exp(h[-1]) == 0.0  # λ_d = e^-1140 underflows; the charts work in h
    assert abs(ls.fit(h).alpha - 100.0) <= 1e-10
    assert abs(top.fit(h).alpha - 100.0) <= 1e-10


def test_fit_exponent_on_spectra_matches_the_cartan_route():
    lam = catalogue.orbit_spectrum(1.5, 50) * 7.0  # any scale
    assert abs(fit_exponent(lam, chart="ls") - 1.5) <= 1e-12
    assert abs(fit_exponent(lam[::-1], chart="top") - 1.5) <= 1e-12


# --------------------------------------------------------------------------------------
# ls weights
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "window"),
    [(d, None) for d in catalogue.ORBIT_DIMS]
    + [(d, (1, 2)) for d in catalogue.ORBIT_DIMS]
    + [(d, (2, d)) for d in catalogue.ORBIT_DIMS if d > 2]
    + [(1000, (10, 500))],
)
def test_ls_weights_sum_to_zero_and_read_minus_one_on_log_ranks(d, window):
    w = ls.ls_weights(d, window)
    x = catalogue.log_ranks(d)
    assert abs(math.fsum(w)) <= 1e-14
    assert abs(math.fsum(w * x) + 1.0) <= 1e-14
    k_lo, k_hi = (1, d) if window is None else window
    outside = np.ones(d, bool)
    outside[k_lo - 1 : k_hi] = False
    assert np.all(w[outside] == 0.0)


def test_ls_weights_closed_form_for_two_ranks():
    # W = {1, 2}: x = (0, log 2), w = (1, −1)/log 2: α̂ = (h_1 − h_2)/log 2.
    np.testing.assert_allclose(ls.ls_weights(2), [1 / math.log(2), -1 / math.log(2)], rtol=1e-15)


def test_masked_weights_match_fixed_weights():
    d = 12
    mask = window_mask(np.array([1, 3]), np.array([12, 7]), d)
    w = ls.ls_weights_masked(mask)
    np.testing.assert_allclose(w[0], ls.ls_weights(d, None), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(w[1], ls.ls_weights(d, (3, 7)), rtol=1e-13, atol=1e-16)


def test_quantile_window_needs_spectra_for_weights():
    with pytest.raises(ChartError, match="depends on each spectrum"):
        ls.ls_weights(10, 0.9)


# --------------------------------------------------------------------------------------
# Properties of the ls chart (hypothesis)
# --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(h=ordered_cartan())
def test_ls_exponent_is_non_negative_on_ordered_spectra(h):
    # Chebyshev's sum inequality gives α̂ >= 0 exactly; rounding can leave a negative value
    # of the order eps·Σ|w_k h_k|, bounded here by 1e-12·(1 + max|h|).
    scale = 1.0 + np.max(np.abs(h))
    assert ls.fit(h).alpha >= -1e-12 * scale
    for window in (0.5, 0.9, (1, h.size)):
        assert ls.fit(h, window=window).alpha >= -1e-12 * scale


@settings(max_examples=40, deadline=None)
@given(
    h1=ordered_cartan(), seed=st.integers(0, 2**32 - 1), a=st.floats(-3, 3), c=st.floats(-1e3, 1e3)
)
def test_ls_is_linear_and_ignores_constants(h1, seed, a, c):
    rng = np.random.default_rng(seed)
    h2 = np.sort(rng.standard_normal(h1.size))[::-1]
    combined = ls.fit(a * h1 + h2 + c).alpha
    expected = a * ls.fit(h1).alpha + ls.fit(h2).alpha
    scale = 1.0 + abs(a) * np.max(np.abs(h1)) + abs(c) + np.max(np.abs(h2))
    assert abs(combined - expected) <= 1e-11 * scale


@settings(max_examples=40, deadline=None)
@given(h=ordered_cartan(), q=st.floats(0.05, 0.99))
def test_ls_regression_residual_satisfies_the_normal_equations(h, q):
    for window in (None, q):
        fit = ls.ls_regression(h, window)
        mask = window_mask(fit.k_lo, fit.k_hi, h.size)
        x = catalogue.log_ranks(h.size)
        scale = 1.0 + np.max(np.abs(h))
        assert np.all(fit.residual[~mask] == 0.0)
        assert abs(fit.residual.sum()) <= 1e-10 * scale * h.size  # ⟂ 1 on W
        assert abs(fit.residual @ x) <= 1e-10 * scale * h.size * (1 + x[-1])  # ⟂ x on W
        assert 0.0 <= fit.r2 <= 1.0
        assert math.isclose(fit.alpha, ls.fit(h, window=window).alpha, abs_tol=1e-12 * scale)


def test_ls_regression_on_the_orbit_has_zero_residual_and_unit_r2():
    h = catalogue.orbit_batch([0.0, 0.7, 3.0], 300)
    for window in (None, (5, 200), 0.8):
        fit = ls.ls_regression(h, window)
        assert np.max(np.abs(fit.residual)) <= 1e-11
        np.testing.assert_allclose(fit.r2, 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ls.ls_r2(h), 1.0)
    np.testing.assert_array_equal(ls.ls_residual(h), ls.ls_regression(h).residual)


def test_ls_r2_of_a_curved_spectrum_is_below_one():
    x = catalogue.log_ranks(50)
    h = -(x**2)  # concave in log k: not a power law
    fit = ls.ls_regression(h)
    assert 0.5 < fit.r2 < 0.99
    assert fit.alpha > 0


# --------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------


def test_resolve_window_forms():
    h = catalogue.orbit_batch([0.0, 1.0], 10)
    k_lo, k_hi = resolve_window(None, h)
    np.testing.assert_array_equal(k_lo, [1, 1])
    np.testing.assert_array_equal(k_hi, [10, 10])
    k_lo, k_hi = resolve_window((3, 8), h)
    np.testing.assert_array_equal(k_lo, [3, 3])
    np.testing.assert_array_equal(k_hi, [8, 8])
    k_lo, k_hi = resolve_window(0.5, h)
    np.testing.assert_array_equal(k_lo, [1, 1])
    assert k_hi[0] == 5  # flat spectrum: exactly half the energy in 5 ranks (a tie)
    assert k_hi[1] == 2  # 1 + 1/2 >= 0.5·H_10(1) = 1.464… > 1
    mask = window_mask(k_lo, k_hi, 10)
    np.testing.assert_array_equal(mask.sum(axis=-1), [5, 2])


def test_quantile_window_with_one_rank_is_widened_to_two():
    h = np.log([100.0, 1.0, 1.0, 1.0])
    assert energy_quantile_rank_log(h, 0.5) == 1
    k_lo, k_hi = resolve_window(0.5, h)
    assert (int(k_lo), int(k_hi)) == (1, 2)
    assert ls.fit(h, window=0.5).alpha == pytest.approx(math.log(100.0) / math.log(2.0))


@settings(max_examples=50, deadline=None)
@given(h=ordered_cartan(30), q=st.floats(0.01, 0.99))
def test_energy_quantile_rank_matches_its_definition(h, q):
    p = np.exp(h - h.max())
    cumulative = np.cumsum(p) / p.sum()
    k_q = int(energy_quantile_rank_log(h, q))
    assert cumulative[k_q - 1] >= q - 1e-12
    if k_q > 1:
        assert cumulative[k_q - 2] < q + 1e-12


@pytest.mark.skipif(
    importlib.util.find_spec("specalign.estimators.rank") is None, reason="rank module missing"
)
def test_energy_quantile_rank_agrees_with_effective_rank():
    from specalign.estimators.rank import effective_rank

    rng = np.random.default_rng(20)
    lam = np.sort(rng.lognormal(0.0, 2.0, (50, 30)), axis=-1)[:, ::-1]
    for q in (0.1, 0.5, 0.9, 0.99):
        np.testing.assert_array_equal(
            energy_quantile_rank_log(np.log(lam), q), effective_rank(lam, q)
        )


@pytest.mark.parametrize(
    ("window", "reason"),
    [
        ((0, 5), "1-based"),
        ((5, 5), "k_lo < k_hi"),
        ((6, 2), "k_lo < k_hi"),
        ((1, 11), "exceeds the dimension d = 10"),
        ((1.0, 5), "integers"),
        ((1, 2, 3), "expected None"),
        ("all", "expected None"),
        (1.0, "strictly between 0 and 1"),
        (0.0, "strictly between 0 and 1"),
        (1, "an integer is not a window"),
        (True, "boolean"),
    ],
)
def test_bad_windows_name_the_allowed_forms(window, reason):
    h = catalogue.orbit_log_spectrum(1.0, 10)
    with pytest.raises(ChartError, match=reason) as info:
        ls.fit(h, window=window)
    assert "Allowed: None (all ranks)" in str(info.value)


def test_window_helpers():
    assert check_window(None) is None
    assert check_window((np.int64(2), 5), 10) == (2, 5)
    assert check_window(np.float32(0.5)) == 0.5
    assert is_fixed_window(None) and is_fixed_window((1, 3)) and not is_fixed_window(0.9)
    assert describe_window(None) == "all ranks"
    assert describe_window((3, 50)) == "ranks 3..50"
    assert describe_window(0.9).startswith("energy quantile q=0.9")


# --------------------------------------------------------------------------------------
# The top chart and the top-radial coordinates
# --------------------------------------------------------------------------------------


def test_top_chart_has_no_window():
    with pytest.raises(ChartError, match="no rank window"):
        top.fit(np.zeros(4), window=(1, 2))


@pytest.mark.parametrize("case", ORBIT, ids=lambda c: f"alpha={c.alpha}-d={c.d}")
def test_top_coordinates_on_the_orbit(case):
    xbar = catalogue.mean_log_rank_uniform(case.d)
    assert abs(top_radial_log(case.h) - case.alpha) <= 1e-10
    assert abs(radial_coordinate_log(case.h) - case.alpha * xbar) <= 1e-10 * (1 + xbar)
    tau = math.log(case.d) - catalogue.log_harmonic(case.alpha, case.d)
    assert abs(top_frobenius_coordinate_log(case.h) - tau) <= 1e-12 * (1 + tau)
    assert math.isclose(stable_rank_log(case.h), math.exp(math.log(case.d) - tau), rel_tol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(2, 30), log_scale=st.floats(-20, 20))
def test_coordinates_from_spectra_and_from_logs_agree(seed, d, log_scale):
    rng = np.random.default_rng(seed)
    lam = rng.lognormal(0.0, 1.5, d) * math.exp(log_scale)
    h = np.log(lam)
    assert math.isclose(top_radial(lam), top_radial_log(h[::-1]), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(radial_coordinate(lam), radial_coordinate_log(h), abs_tol=1e-12)
    assert top_radial_unnormalized is radial_coordinate
    assert math.isclose(
        top_frobenius_coordinate(lam), top_frobenius_coordinate_log(h), abs_tol=1e-12
    )
    normalized = d * lam / lam.sum()
    assert math.isclose(stable_rank(lam), d / normalized.max(), rel_tol=1e-12)
    assert math.isclose(stable_rank_log(h), stable_rank(lam), rel_tol=1e-12)
    assert 1.0 - 1e-12 <= stable_rank(lam) <= d + 1e-12
    assert top_radial(lam) >= 0.0
    # u = 2 log(σ_1 / GM(σ)) for λ = σ²
    sigma = np.sqrt(lam)
    gm = math.exp(np.mean(np.log(sigma)))
    assert math.isclose(radial_coordinate(lam), 2 * math.log(sigma.max() / gm), abs_tol=1e-12)


def test_top_chart_equals_top_radial():
    rng = np.random.default_rng(21)
    h = np.sort(rng.standard_normal((5, 9)), axis=-1)[:, ::-1]
    np.testing.assert_array_equal(top.fit(h).alpha, top_radial_log(h))
