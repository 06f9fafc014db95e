"""Tests of specalign.estimators.geometry (THEORY.md P1, T3)."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from specalign.errors import DimensionError, InputError, NonFiniteError
from specalign.estimators.geometry import (
    bures_wasserstein,
    fisher_rao_distance,
    hellinger,
    hellinger_log,
    kl_divergence,
    spectral_bures_wasserstein,
)
from specalign.estimators.orbit import (
    fisher_information,
    log_harmonic,
    mean_log_rank,
    orbit,
    orbit_log_spectrum,
)

HYPOTHESIS = settings(max_examples=40, deadline=None)


def random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def spd_with_condition(d: int, kappa: float, rng: np.random.Generator) -> np.ndarray:
    """SPD matrix with eigenvalues log-spaced from 1 down to 1/kappa, random eigenbasis."""
    u = random_orthogonal(d, rng)
    p = (u * np.logspace(0.0, -np.log10(kappa), d)) @ u.T
    return 0.5 * (p + p.T)


def random_spd(rng: np.random.Generator, d: int, log10_kappa: float) -> np.ndarray:
    u = random_orthogonal(d, rng)
    w = 10.0 ** rng.uniform(-log10_kappa, 0.0, d) * 10.0 ** rng.uniform(-2, 2)
    p = (u * w) @ u.T
    return 0.5 * (p + p.T)


def mp_bures_wasserstein(P: np.ndarray, Q: np.ndarray) -> float:
    """Trace formula in 60-digit arithmetic with symmetric square roots from mpmath.eigsy."""
    with mp.workdps(60):

        def sqrt_sym(m):
            e, v = mp.eigsy(m)
            return v * mp.diag([mp.sqrt(max(e[i], 0)) for i in range(m.rows)]) * v.T

        pm, qm = mp.matrix(P.tolist()), mp.matrix(Q.tolist())
        a = sqrt_sym(pm)
        k = sqrt_sym(a * qm * a)
        tr = lambda m: sum(m[i, i] for i in range(m.rows))  # noqa: E731
        return float(mp.sqrt(tr(pm) + tr(qm) - 2 * tr(k)))


# ----------------------------------------------------------------------------------------
# Bures–Wasserstein
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3, 8, 30, 80])
def test_bures_wasserstein_self_distance_vanishes_at_condition_1e12(d):
    rng = np.random.default_rng(100 + d)
    P = np.stack([spd_with_condition(d, 1e12, rng) for _ in range(3)])
    dist = bures_wasserstein(P, P)
    scale = np.sqrt(np.trace(P, axis1=-2, axis2=-1))
    assert dist.shape == (3,)
    assert np.all(dist <= 1e-12 * scale)


def test_bures_wasserstein_commuting_matches_spectral_formula():
    rng = np.random.default_rng(1)
    d = 7
    u = random_orthogonal(d, rng)
    lam = np.sort(rng.uniform(0.1, 3.0, d))[::-1]
    eta = np.sort(rng.uniform(0.0, 3.0, d))[::-1]
    P, Q = (u * lam) @ u.T, (u * eta) @ u.T
    expected = np.sqrt(np.sum((np.sqrt(lam) - np.sqrt(eta)) ** 2))
    assert bures_wasserstein(P, Q) == pytest.approx(expected, rel=1e-12)
    assert spectral_bures_wasserstein(lam, eta) == pytest.approx(expected, rel=1e-14)
    # a common eigenbasis but mismatched order: the given pairing, not the sorted one
    eta_mixed = eta[::-1]
    Q_mixed = (u * eta_mixed) @ u.T
    paired = np.sqrt(np.sum((np.sqrt(lam) - np.sqrt(eta_mixed)) ** 2))
    assert bures_wasserstein(P, Q_mixed) == pytest.approx(paired, rel=1e-12)
    assert spectral_bures_wasserstein(lam, eta_mixed, sort=False) == pytest.approx(paired)
    assert spectral_bures_wasserstein(lam, eta_mixed) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("log10_kappa", [0.0, 4.0, 8.0])
def test_bures_wasserstein_matches_mpmath(log10_kappa):
    rng = np.random.default_rng(int(7 + log10_kappa))
    d = 4
    P = spd_with_condition(d, 10.0**log10_kappa, rng)
    near = P + 1e-5 * spd_with_condition(d, 10.0, rng)
    far = spd_with_condition(d, 10.0**log10_kappa, rng)
    for Q in (near, far):
        ref = mp_bures_wasserstein(P, Q)
        assert abs(bures_wasserstein(P, Q) - ref) <= 1e-11 * np.sqrt(np.trace(P))


def test_bures_wasserstein_scaling_and_zero_matrix():
    rng = np.random.default_rng(3)
    P, Q = random_spd(rng, 5, 3.0), random_spd(rng, 5, 3.0)
    assert bures_wasserstein(9.0 * P, 9.0 * Q) == pytest.approx(3.0 * bures_wasserstein(P, Q))
    # d_BW(P, 0) = ‖P^{1/2}‖_F = √tr P
    assert bures_wasserstein(P, np.zeros((5, 5))) == pytest.approx(np.sqrt(np.trace(P)))


def test_bures_wasserstein_accepts_rounding_negative_eigenvalues():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 2))
    P = x @ x.T  # rank 2: four eigenvalues are rounding noise, some negative
    assert np.min(np.linalg.eigvalsh(P)) < 0
    assert bures_wasserstein(P, P) <= 1e-13 * np.sqrt(np.trace(P))
    assert bures_wasserstein(P, np.eye(6)) > 0


def test_bures_wasserstein_broadcasts_leading_axes():
    rng = np.random.default_rng(5)
    P = np.stack([random_spd(rng, 4, 2.0) for _ in range(3)])
    Q = random_spd(rng, 4, 2.0)
    batched = bures_wasserstein(P, Q)
    assert batched.shape == (3,)
    np.testing.assert_allclose(batched, [bures_wasserstein(p, Q) for p in P], rtol=1e-13)
    assert np.ndim(bures_wasserstein(Q, Q)) == 0


def spd_triple(seed: int, d: int, log10_kappa: float):
    rng = np.random.default_rng(seed)
    return [random_spd(rng, d, log10_kappa) for _ in range(3)]


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(1, 7),
    log10_kappa=st.floats(0.0, 8.0),
)
def test_bures_wasserstein_metric_properties_and_spectral_lower_bound(seed, d, log10_kappa):
    P, Q, R = spd_triple(seed, d, log10_kappa)
    scale = np.sqrt(max(np.trace(P), np.trace(Q), np.trace(R)))
    atol = 1e-10 * scale
    pq, qp = bures_wasserstein(P, Q), bures_wasserstein(Q, P)
    assert abs(pq - qp) <= atol
    assert bures_wasserstein(P, R) <= pq + bures_wasserstein(Q, R) + atol
    spectral = spectral_bures_wasserstein(np.linalg.eigvalsh(P), np.linalg.eigvalsh(Q))
    assert spectral <= pq + atol


def test_bures_wasserstein_rejects_bad_input():
    good = np.eye(3)
    with pytest.raises(DimensionError, match="square"):
        bures_wasserstein(np.ones((3, 2)), good)
    with pytest.raises(DimensionError, match="same size"):
        bures_wasserstein(np.eye(2), good)
    asym = np.eye(3)
    asym[0, 1] = 0.5
    with pytest.raises(InputError, match="symmetric"):
        bures_wasserstein(asym, good)
    with pytest.raises(InputError, match="positive semidefinite"):
        bures_wasserstein(np.diag([1.0, 1.0, -1e-3]), good)
    with pytest.raises(NonFiniteError):
        bures_wasserstein(np.diag([1.0, np.nan, 1.0]), good)
    with pytest.raises(DimensionError, match="broadcast"):
        bures_wasserstein(np.stack([good, good]), np.stack([good, good, good]))


# ----------------------------------------------------------------------------------------
# Spectral distances
# ----------------------------------------------------------------------------------------


def test_hellinger_exact_values():
    assert hellinger([1.0, 0.0], [0.0, 1.0]) == 1.0
    assert hellinger([0.2, 0.8], [0.2, 0.8]) == 0.0
    # unnormalized weights are normalized: spectra summing to d are rank distributions
    assert hellinger([2.0, 6.0], [0.25, 0.75]) == 0.0
    expected = np.sqrt(1.0 - (np.sqrt(0.5 * 0.25) + np.sqrt(0.5 * 0.75)))
    assert hellinger([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected, rel=1e-14)


def spectrum_pair(seed: int, d: int, spread: float):
    rng = np.random.default_rng(seed)
    lam, eta = np.exp(spread * rng.standard_normal((2, d)))
    return d * lam / lam.sum(), d * eta / eta.sum()


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), d=st.integers(2, 50), spread=st.floats(0.0, 5.0))
def test_hellinger_range_and_bures_identity(seed, d, spread):
    lam, eta = spectrum_pair(seed, d, spread)
    h = hellinger(lam, eta)
    assert 0.0 <= h <= 1.0
    # ‖√λ − √η‖² = 2d H²(λ/d, η/d) for spectra with Σλ = Ση = d (THEORY.md P1)
    assert spectral_bures_wasserstein(lam, eta, sort=False) ** 2 == pytest.approx(
        2 * d * h**2, rel=1e-10, abs=1e-14
    )
    assert hellinger_log(np.log(lam), np.log(eta)) == pytest.approx(h, rel=1e-10, abs=1e-15)
    fr = fisher_rao_distance(lam, eta)
    bc = np.sum(np.sqrt(lam * eta)) / d
    assert fr == pytest.approx(2 * np.arccos(min(bc, 1.0)), abs=1e-7)
    assert 2 * np.sqrt(2) * h <= fr + 1e-15


def test_hellinger_log_survives_underflow():
    d = 50
    x = np.log(np.arange(1.0, d + 1))
    hp = -400.0 * x  # exp(hp) underflows to 0 beyond k = 6
    hq = -400.0 * x + 1e-3 * np.sin(np.arange(d))
    with mp.workdps(50):
        p = [mp.e ** mp.mpf(v) for v in hp]
        q = [mp.e ** mp.mpf(v) for v in hq]
        sp, sq = mp.fsum(p), mp.fsum(q)
        ref = mp.sqrt(
            mp.fsum((mp.sqrt(a / sp) - mp.sqrt(b / sq)) ** 2 for a, b in zip(p, q, strict=True)) / 2
        )
    assert hellinger_log(hp, hq) == pytest.approx(float(ref), rel=1e-12)
    assert hellinger_log(hp, hp) == 0.0
    assert hellinger_log([0.0, -np.inf], [-np.inf, 0.0]) == pytest.approx(1.0)


def test_kl_divergence_matches_orbit_closed_form():
    d = 200
    for a, b in [(0.3, 0.7), (1.0, 1.2), (2.0, 0.5), (0.9, 0.9 + 1e-6)]:
        # KL(p_α ‖ p_β) = (β − α) μ(α) + log Z(β) − log Z(α)  (THEORY.md D3)
        expected = (b - a) * mean_log_rank(a, d) + log_harmonic(b, d) - log_harmonic(a, d)
        got = kl_divergence(orbit(a, d), orbit(b, d))
        assert got == pytest.approx(float(expected), rel=1e-7, abs=1e-15)
    assert kl_divergence([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(np.log(2.0))


def test_fisher_rao_distance_values_and_small_distance_accuracy():
    assert fisher_rao_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(np.pi)
    assert fisher_rao_distance([1.0, 1.0], [1.0, 1.0]) == 0.0
    p = np.array([0.5, 0.5])
    q = np.array([0.5 + 1e-9, 0.5 - 1e-9])
    with mp.workdps(50):
        q0, q1 = mp.mpf(q[0]), mp.mpf(q[1])
        q0, q1 = q0 / (q0 + q1), q1 / (q0 + q1)
        ref = float(2 * mp.acos(mp.sqrt(q0 / 2) + mp.sqrt(q1 / 2)))
    assert ref == pytest.approx(2e-9, rel=1e-6)  # √(Σ δp²/p) to first order
    assert fisher_rao_distance(p, q) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("d", [2, 10, 300])
@pytest.mark.parametrize(("a", "b"), [(0.0, 0.5), (0.5, 1.5), (1.0, 1.01), (2.0, 5.0)])
def test_orbit_chord_arc_chain(d, a, b):
    """2√2 H ≤ FR_sphere ≤ ∫_a^b √I (chord ≤ geodesic ≤ orbit arc)."""
    length, _ = quad(lambda t: float(np.sqrt(fisher_information(t, d))), a, b, epsabs=1e-13)
    pa, pb = orbit(a, d), orbit(b, d)
    h, fr = hellinger(pa, pb), fisher_rao_distance(pa, pb)
    assert 2 * np.sqrt(2) * h <= fr * (1 + 1e-12)
    assert fr <= length * (1 + 1e-9)
    assert h <= length / (2 * np.sqrt(2)) * (1 + 1e-9)


def test_orbit_bures_line_element():
    """ds²_BW = (d/4) I dα² along the orbit (THEORY.md P1)."""
    d, a, step = 100, 0.8, 1e-5
    ds = spectral_bures_wasserstein(orbit(a - step, d), orbit(a + step, d)) / (2 * step)
    assert ds == pytest.approx(np.sqrt(d / 4 * fisher_information(a, d)), rel=1e-8)
    h = hellinger_log(orbit_log_spectrum(a - step, d), orbit_log_spectrum(a + step, d))
    assert 2 * np.sqrt(2) * h / (2 * step) == pytest.approx(
        np.sqrt(fisher_information(a, d)), rel=1e-8
    )


def test_spectral_distances_reject_bad_input():
    with pytest.raises(InputError, match="non-negative"):
        hellinger([1.0, -1.0], [1.0, 1.0])
    with pytest.raises(InputError, match="positive total"):
        hellinger([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(DimensionError, match="same length"):
        spectral_bures_wasserstein([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(NonFiniteError):
        kl_divergence([1.0, np.inf], [1.0, 1.0])
    with pytest.raises(NonFiniteError, match="log-weights"):
        hellinger_log([0.0, np.nan], [0.0, 0.0])
    with pytest.raises(InputError, match="all -inf"):
        hellinger_log([-np.inf, -np.inf], [0.0, 0.0])
