"""Tests of the power-law orbit (THEORY.md D2, D3, D4, P1, T4) against exact identities and
50-digit mpmath references (tests/data/orbit_reference.json, made by make_orbit_reference.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specalign.errors import DimensionError, InputError
from specalign.estimators import orbit as orb

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "orbit_reference.json").read_text())
MOMENTS = {
    "log_harmonic": orb.log_harmonic,
    "mean_log_rank": orb.mean_log_rank,
    "fisher_information": orb.fisher_information,
}


def spectral_bw(lam, eta):
    """Spectral Bures–Wasserstein distance of matched ordered spectra, ``‖√λ − √η‖₂``."""
    return np.linalg.norm(np.sqrt(lam) - np.sqrt(eta), axis=-1)


def hellinger(p, q):
    return np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2, axis=-1))


# --- accuracy against mpmath -------------------------------------------------------------------


@pytest.mark.parametrize("row", REFERENCE["moments"], ids=lambda r: f"d={r['d']},a={r['alpha']}")
def test_moments_match_mpmath_reference(row):
    # Covers d ∈ {2, 3, 10, 1000, 1e5, 1e6} × α ∈ {0, .5, .99, 1, 1.01, 2, 5, 20, 50}.
    for name, function in MOMENTS.items():
        got = function(float(row["alpha"]), row["d"])
        assert got == pytest.approx(float(row[name]), rel=1e-12, abs=0), name


def test_moments_match_live_mpmath_sums_for_small_d():
    mp.mp.dps = 50
    alphas = np.array([0.0, 0.3, 1.0, 2.5, 7.0, 33.0])
    for d in (2, 3, 10, 47):
        log_h = orb.log_harmonic(alphas, d)
        mean = orb.mean_log_rank(alphas, d)
        fisher = orb.fisher_information(alphas, d)
        for i, a in enumerate(alphas):
            weights = [mp.power(k, -mp.mpf(a)) for k in range(1, d + 1)]
            z = mp.fsum(weights)
            m = mp.fsum(w * mp.log(k) for k, w in enumerate(weights, 1)) / z
            var = mp.fsum(w * (mp.log(k) - m) ** 2 for k, w in enumerate(weights, 1)) / z
            assert log_h[i] == pytest.approx(float(mp.log(z)), rel=1e-13)
            assert mean[i] == pytest.approx(float(m), rel=1e-13)
            assert fisher[i] == pytest.approx(float(var), rel=1e-13)


@pytest.mark.parametrize("d", [65, 200, 257, 1000, 5000])
def test_direct_and_euler_maclaurin_paths_agree(d):
    alphas = np.concatenate(
        [
            [0.0, 1e-12, 0.5, 1 - 1e-9, 1.0, 1 + 1e-9, 3.0, 20.0, 50.0, 150.0, 200.0],
            np.random.default_rng(d).uniform(0, 10, 40),
        ]
    )
    direct = orb._moments(alphas, d, 2, method="direct")
    em = orb._moments(alphas, d, 2, method="euler_maclaurin")
    for a_part, b_part in zip(direct, em, strict=True):
        np.testing.assert_allclose(b_part, a_part, rtol=2e-14, atol=0)


def test_kl_matches_mpmath_reference_including_nearby_exponents():
    for row in REFERENCE["kl"]:
        got = orb.kl_orbit(float(row["alpha"]), float(row["beta"]), row["d"])
        assert got == pytest.approx(float(row["kl"]), rel=1e-12, abs=0), row


def test_fisher_rao_matches_mpmath_quadrature():
    for row in REFERENCE["fisher_rao"]:
        got = orb.fisher_rao_length(float(row["alpha"]), float(row["beta"]), row["d"])
        assert got == pytest.approx(float(row["fisher_rao"]), rel=1e-11, abs=0), row


def test_large_dimension_and_exponent_stay_finite():
    alphas = np.array([0.0, 1.0, 50.0, 400.0, 1e6])
    d = 10**6
    mean, fisher = orb.mean_log_rank(alphas, d), orb.fisher_information(alphas, d)
    log_h = orb.log_harmonic(alphas, d)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(fisher))
    assert log_h[0] == pytest.approx(math.log(d), rel=1e-15)
    assert mean[0] == pytest.approx(orb.mean_log_rank_uniform(d), rel=1e-14)
    # α = 50: two-rank asymptotics, relative accuracy kept by the scaled (log1p) form.
    assert log_h[2] == pytest.approx(math.log1p(2.0**-50 + 3.0**-50), rel=1e-12)
    assert mean[2] == pytest.approx(math.log(2) * 2.0**-50, rel=1e-12)
    assert fisher[2] == pytest.approx(math.log(2) ** 2 * 2.0**-50, rel=1e-12)
    assert log_h[-1] == 0.0 and mean[-1] == 0.0 and fisher[-1] == 0.0
    spectrum = orb.orbit(1.3, d)
    assert spectrum.shape == (d,) and spectrum.sum() == pytest.approx(d, rel=1e-12)


# --- exact identities ---------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 17, 300, 4096])
def test_orbit_is_a_trace_d_ordered_spectrum(d):
    alphas = np.array([[0.0, 0.4, 1.0], [2.0, 7.5, 50.0]])
    lam = orb.orbit(alphas, d)
    assert lam.shape == (2, 3, d)
    np.testing.assert_allclose(lam.sum(axis=-1), d, rtol=1e-13)
    assert np.all(np.diff(lam, axis=-1) <= 0)
    np.testing.assert_allclose(lam[0, 0], 1.0, rtol=1e-15)
    np.testing.assert_allclose(orb.orbit_probabilities(alphas, d).sum(axis=-1), 1, rtol=1e-13)
    h = orb.orbit_log_spectrum(alphas, d)
    np.testing.assert_allclose(h, np.log(lam), rtol=1e-13, atol=1e-13)
    # Power law exactly: consecutive log-ratios are −α (log(k+1) − log k).
    x = orb.log_ranks(d)
    np.testing.assert_allclose(np.diff(h, axis=-1), -alphas[..., None] * np.diff(x), atol=1e-12)


@pytest.mark.parametrize("d", [2, 10, 1000, 10**5])
def test_derivatives_mu_is_tau_prime_and_fisher_is_minus_mu_prime(d):
    alphas = np.array([0.2, 0.9, 1.0, 1.7, 4.0, 12.0])
    step = 1e-5
    mu_prime = (orb.mean_log_rank(alphas + step, d) - orb.mean_log_rank(alphas - step, d)) / (
        2 * step
    )
    tau_prime = (orb.top_frobenius(alphas + step, d) - orb.top_frobenius(alphas - step, d)) / (
        2 * step
    )
    np.testing.assert_allclose(-mu_prime, orb.fisher_information(alphas, d), rtol=1e-6)
    np.testing.assert_allclose(tau_prime, orb.mean_log_rank(alphas, d), rtol=1e-6)


def test_uniform_mean_log_rank_and_top_frobenius_limits():
    for d in (2, 5, 1000, 10**6):
        xbar = orb.mean_log_rank_uniform(d)
        assert xbar == pytest.approx(math.lgamma(d + 1) / d, rel=1e-15)
        assert orb.mean_log_rank(0.0, d) == pytest.approx(xbar, rel=1e-14)
        assert orb.top_frobenius(0.0, d) == pytest.approx(0.0, abs=1e-14)
        assert orb.top_frobenius(60.0, d) == pytest.approx(math.log(d), rel=1e-14)
        lam = orb.orbit(2.0, d)
        assert orb.top_frobenius(2.0, d) == pytest.approx(math.log(lam[0]), rel=1e-13)


def test_top_radial_reads_the_exponent_exactly_on_the_orbit():
    for d in (2, 9, 1000):
        alphas = np.array([0.0, 0.37, 1.0, 6.0])
        h = orb.orbit_log_spectrum(alphas, d)
        u_bar = (h[..., 0] - h.mean(axis=-1)) / orb.mean_log_rank_uniform(d)
        np.testing.assert_allclose(orb.alpha_from_top_radial(u_bar, d), alphas, atol=1e-12)


def test_kl_basic_properties():
    d = 500
    assert orb.kl_orbit(1.2, 1.2, d) == 0.0
    alphas = np.linspace(0, 8, 9)
    kl = orb.kl_orbit(alphas[:, None], alphas[None, :], d)
    assert kl.shape == (9, 9) and np.all(kl >= 0)
    assert np.all(kl[~np.eye(9, dtype=bool)] > 0)
    # Direct sum of p_α log(p_α/p_β).
    p = orb.orbit_probabilities(np.array([0.7, 2.9]), d)
    direct = np.sum(p[0] * (np.log(p[0]) - np.log(p[1])))
    assert orb.kl_orbit(0.7, 2.9, d) == pytest.approx(direct, rel=1e-12)
    # Second-order behaviour for tiny steps: no cancellation error.
    for a in (0.0, 1.0, 9.0):
        delta = 1e-7
        expected = 0.5 * orb.fisher_information(a + delta / 2, d) * delta**2
        assert orb.kl_orbit(a, a + delta, d) == pytest.approx(expected, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(0, 20, allow_nan=False),
    b=st.floats(0, 20, allow_nan=False),
    d=st.sampled_from([2, 3, 7, 64, 300, 5000, 10**5]),
)
def test_kl_lies_between_the_fisher_bounds(a, b, d):
    kl = orb.kl_orbit(a, b, d)
    lower, upper = orb.fisher_kl_bounds(a, b, d)
    assert kl >= 0
    assert lower <= kl * (1 + 1e-9) + 1e-300
    assert kl <= upper * (1 + 1e-9) + 1e-300


def test_fisher_information_range_matches_a_brute_force_grid():
    d = 10**4
    lo = np.array([0.0, 0.5, 0.99, 2.0, 0.0, 3.0])
    hi = np.array([3.0, 1.2, 0.995, 2.0, 50.0, 1.0])
    minimum, maximum = orb.fisher_information_range(lo, hi, d)
    for i in range(lo.size):
        t = np.linspace(min(lo[i], hi[i]), max(lo[i], hi[i]), 20001)
        values = orb.fisher_information(t, d)
        assert minimum[i] <= values.min() * (1 + 1e-12)
        assert maximum[i] >= values.max() * (1 - 1e-12)
        assert minimum[i] >= values.min() * (1 - 1e-6)
        assert maximum[i] <= values.max() * (1 + 1e-6)
    # I peaks inside (0, 1) for d >= 3: the maximum is interior, not at an endpoint.
    assert maximum[0] > max(orb.fisher_information(0.0, d), orb.fisher_information(3.0, d))


# --- geometry: Bures–Wasserstein line element, chord ≤ arc --------------------------------------


@pytest.mark.parametrize("d", [2, 10, 1000])
def test_bures_wasserstein_line_element(d):
    step = 1e-4
    for a in (0.0 + step, 0.6, 1.0, 3.0, 10.0):
        chord = spectral_bw(orb.orbit(a + step / 2, d), orb.orbit(a - step / 2, d))
        expected = 0.25 * d * orb.fisher_information(a, d) * step**2
        assert chord**2 == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("d", [2, 30, 2000])
def test_chords_are_shorter_than_arcs(d):
    rng = np.random.default_rng(d)
    a, b = rng.uniform(0, 6, 40), rng.uniform(0, 6, 40)
    fr = orb.fisher_rao_length(a, b, d)
    h = hellinger(orb.orbit_probabilities(a, d), orb.orbit_probabilities(b, d))
    assert np.all(h <= fr / (2 * math.sqrt(2)) * (1 + 1e-12))
    bw_chord = spectral_bw(orb.orbit(a, d), orb.orbit(b, d))
    np.testing.assert_allclose(bw_chord**2, 2 * d * h**2, rtol=1e-10)
    assert np.all(bw_chord <= orb.bures_wasserstein_arc_length(a, b, d) * (1 + 1e-12))


def test_fisher_rao_is_a_symmetric_additive_length():
    d = 10**6
    a, b, c = 0.3, 1.0, 4.5
    fr_ab, fr_bc, fr_ac = (orb.fisher_rao_length(x, y, d) for x, y in ((a, b), (b, c), (a, c)))
    assert fr_ac == pytest.approx(fr_ab + fr_bc, rel=1e-12)
    assert orb.fisher_rao_length(c, a, d) == pytest.approx(fr_ac, rel=1e-14)
    assert orb.fisher_rao_length(2.0, 2.0, d) == 0.0
    # Small interval: FR ≈ √I · |β − α|.
    assert orb.fisher_rao_length(2.0, 2.0 + 1e-6, d) == pytest.approx(
        math.sqrt(orb.fisher_information(2.0 + 5e-7, d)) * 1e-6, rel=1e-10
    )
    assert orb.bures_wasserstein_arc_length(a, c, d) == pytest.approx(
        0.5 * math.sqrt(d) * fr_ac, rel=1e-15
    )


# --- inverses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 100, 1024, 10**6])
def test_mean_log_rank_inverse_round_trips(d):
    alphas = np.concatenate([[0.0, 1e-10, 0.5, 1.0, 49.999], np.linspace(0.01, 49.0, 200)])
    mu = orb.mean_log_rank(alphas, d)
    alpha_hat, capped = orb.alpha_from_mean_log_rank(mu, d)
    assert not capped.any()
    assert np.all(np.abs(alpha_hat - alphas) <= 1e-12 * (1 + alphas))
    np.testing.assert_allclose(orb.mean_log_rank(alpha_hat, d), mu, rtol=1e-12)


def test_mean_log_rank_inverse_caps_and_validates():
    d = 1024
    xbar = orb.mean_log_rank_uniform(d)
    mu = np.array([[0.0, orb.mean_log_rank(60.0, d)], [xbar, xbar * (1 + 1e-13)]])
    alpha_hat, capped = orb.alpha_from_mean_log_rank(mu, d, alpha_max=50.0)
    assert alpha_hat.shape == (2, 2)
    np.testing.assert_array_equal(capped, [[True, True], [False, False]])
    np.testing.assert_array_equal(alpha_hat[0], 50.0)
    np.testing.assert_allclose(alpha_hat[1], 0.0, atol=1e-12)
    assert orb.alpha_from_mean_log_rank(orb.mean_log_rank(7.0, d), d, alpha_max=5.0).capped
    with pytest.raises(InputError, match="xbar_d"):
        orb.alpha_from_mean_log_rank(1.01 * xbar, d)
    with pytest.raises(InputError, match="xbar_d"):
        orb.alpha_from_mean_log_rank(-0.1, d)
    with pytest.raises(InputError, match="alpha_max"):
        orb.alpha_from_mean_log_rank(1.0, d, alpha_max=0.0)


@pytest.mark.parametrize("d", [2, 10, 1024, 10**6])
def test_tau_inverse_round_trips_to_its_conditioning(d):
    alphas = np.concatenate([[0.0, 1e-9, 1.0], np.linspace(0.05, 30.0, 120)])
    tau = orb.top_frobenius(alphas, d)
    alpha_hat = orb.alpha_from_tau(tau, d)
    # τ carries absolute rounding ~ ε log d and dα = dτ / μ(α): the round trip can do no better.
    conditioning = 8 * np.finfo(float).eps * math.log(d) / orb.mean_log_rank(alphas, d)
    assert np.all(np.abs(alpha_hat - alphas) <= 1e-12 + conditioning)
    np.testing.assert_allclose(
        orb.top_frobenius(alpha_hat, d), tau, rtol=1e-14, atol=8 * np.finfo(float).eps * math.log(d)
    )
    with pytest.raises(InputError, match="log d"):
        orb.alpha_from_tau(math.log(d), d)
    with pytest.raises(InputError, match="log d"):
        orb.alpha_from_tau(-0.5, d)


def test_inverses_handle_batches_of_targets():
    d = 1024
    alphas = np.random.default_rng(3).uniform(0, 12, (50, 40))
    alpha_hat, capped = orb.alpha_from_mean_log_rank(orb.mean_log_rank(alphas, d), d)
    assert alpha_hat.shape == alphas.shape and capped.shape == alphas.shape
    np.testing.assert_allclose(alpha_hat, alphas, atol=1e-11)
    np.testing.assert_allclose(
        orb.alpha_from_tau(orb.top_frobenius(alphas, d), d), alphas, atol=1e-9
    )


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda d: orb.log_harmonic(1.0, d),
        lambda d: orb.orbit(1.0, d),
        lambda d: orb.log_ranks(d),
        lambda d: orb.kl_orbit(1.0, 2.0, d),
        lambda d: orb.alpha_from_mean_log_rank(0.1, d),
    ],
)
def test_dimension_below_two_is_rejected(call):
    for d in (0, 1):
        with pytest.raises(DimensionError, match="at least 2"):
            call(d)


@pytest.mark.parametrize(
    "function",
    [orb.log_harmonic, orb.mean_log_rank, orb.fisher_information, orb.orbit, orb.top_frobenius],
)
def test_bad_exponents_are_rejected(function):
    with pytest.raises(InputError, match=">= 0"):
        function(np.array([1.0, -0.5]), 10)
    with pytest.raises(InputError, match="non-finite"):
        function(np.array([np.nan]), 10)
    with pytest.raises(InputError, match="non-finite"):
        function(np.inf, 10)
    with pytest.raises(InputError, match="beta"):
        orb.kl_orbit(1.0, -1.0, 10)


def test_scalar_in_scalar_out():
    assert np.ndim(orb.log_harmonic(1.0, 10)) == 0
    assert np.ndim(orb.kl_orbit(1.0, 2.0, 10)) == 0
    assert orb.orbit(1.0, 10).shape == (10,)
    assert np.ndim(orb.alpha_from_mean_log_rank(1.0, 10).alpha) == 0
