"""Tests of specalign.estimators.rank (THEORY.md D9, T6, T7)."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specalign.errors import DimensionError, InputError, NonFiniteError, RankDeficientError
from specalign.estimators.orbit import orbit, orbit_log_spectrum
from specalign.estimators.rank import (
    REGIME_BOUNDED,
    REGIME_LINEAR,
    REGIME_LOGARITHMIC,
    STATUS_WINDOW_OK,
    STATUS_WINDOW_TOO_NARROW,
    effective_rank,
    effective_rank_log,
    entropy_rank,
    entropy_rank_log,
    orbit_quantile_rank_bracket,
    quantile_rank_limit,
    rank_transition_report,
    stable_rank,
    stable_rank_log,
)

HYPOTHESIS = settings(max_examples=40, deadline=None)

ALPHAS = [0.0, 0.5, 0.99, 1.0, 1.01, 2.0, 5.0]
DIMS = [2, 10, 1000, 10**5]
QUANTILES = [0.5, 0.9, 0.99]


def mp_harmonic(alpha, k: int):
    """H_k(α) = Σ_{j≤k} j^(−α) exactly enough (40 digits): Hurwitz zeta for α ∉ {0, 1}."""
    if alpha == 0:
        return mp.mpf(k)
    if alpha == 1:
        return mp.harmonic(k)
    a = mp.mpf(alpha)
    return mp.zeta(a) - mp.zeta(a, k + 1)


def mp_quantile_rank(alpha: float, d: int, q: str) -> int:
    """Exact k_q on the orbit: min{k : H_k ≥ q H_d}, q a decimal string, ties reached."""
    with mp.workdps(40):
        target = mp.mpf(q) * mp_harmonic(alpha, d)
        slack = mp.mpf(10) ** -30 * target  # only exact ties (α = 0) come this close
        lo, hi = 0, d
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if mp_harmonic(alpha, mid) >= target - slack:
                hi = mid
            else:
                lo = mid
        return hi


# ----------------------------------------------------------------------------------------
# D9: effective ranks
# ----------------------------------------------------------------------------------------


def test_effective_rank_exact_cases_and_ties():
    flat = np.ones(10)
    assert effective_rank(flat, 0.5) == 5  # Σ_{i≤5} p_i = 0.5 exactly: a tie is reached
    assert effective_rank(flat, 0.9) == 9
    assert effective_rank(flat, 0.51) == 6
    assert effective_rank([0.0, 3.0, 0.0], 0.99) == 1  # unsorted, rank deficient
    assert effective_rank([1.0, 2.0, 3.0, 4.0], 0.7) == 2  # 4 + 3 = 7 of 10
    ranks = effective_rank(np.stack([flat, np.arange(10.0, 0, -1)]), q=[[0.5], [0.9]])
    np.testing.assert_array_equal(ranks, [[5, 4], [9, 8]])
    assert ranks.dtype == np.int64


def test_stable_and_entropy_rank_exact_cases():
    d = 6
    assert stable_rank(np.ones(d)) == pytest.approx(d)
    assert entropy_rank(np.ones(d)) == pytest.approx(d)
    spike = np.array([1.0, 0, 0, 0])
    assert stable_rank(spike) == 1.0
    assert entropy_rank(spike) == 1.0
    lam = np.array([4.0, 1.0, 1.0])
    assert stable_rank(lam) == pytest.approx(1.5)
    p = lam / lam.sum()
    assert entropy_rank(lam) == pytest.approx(np.exp(-np.sum(p * np.log(p))), rel=1e-14)


def random_spectrum(seed: int, d: int, spread: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(spread * rng.standard_normal(d))


@HYPOTHESIS
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(2, 60),
    spread=st.floats(0.0, 6.0),
    q1=st.floats(0.01, 0.99),
    q2=st.floats(0.01, 0.99),
)
def test_rank_properties(seed, d, spread, q1, q2):
    lam = random_spectrum(seed, d, spread)
    lo, hi = sorted((q1, q2))
    k_lo, k_hi = effective_rank(lam, lo), effective_rank(lam, hi)
    assert 1 <= k_lo <= k_hi <= d  # monotone in q
    # the definition, directly (away from ties)
    p = np.sort(lam)[::-1] / lam.sum()
    c = np.cumsum(p)
    assert c[k_hi - 1] >= hi - 1e-12
    assert k_hi == 1 or c[k_hi - 2] < hi + 1e-12
    # scale invariance and the log forms
    h = np.log(lam)
    assert effective_rank(7.5 * lam, hi) == k_hi
    assert effective_rank_log(h - 300.0, hi) == k_hi
    er, sr = entropy_rank(lam), stable_rank(lam)
    assert 1.0 <= er <= d and 1.0 <= sr <= d
    assert entropy_rank_log(h + 1000.0) == pytest.approx(er, rel=1e-12)
    assert stable_rank_log(h) == pytest.approx(sr, rel=1e-12)


def test_log_forms_handle_spectra_beyond_float_range():
    d = 200
    h = -30.0 * np.log(np.arange(1.0, d + 1))  # λ_d / λ_1 = 200^-30 ≈ 1e-69
    h_wide = 20.0 * h  # λ_d / λ_1 ≈ 1e-1380: not representable as float64
    assert effective_rank_log(h_wide, 0.99) == 1
    assert stable_rank_log(h_wide) == pytest.approx(1.0)
    with mp.workdps(30):
        w = [mp.e ** mp.mpf(v) for v in h_wide]
        s = mp.fsum(w)
        ref = mp.e ** (-mp.fsum((x / s) * mp.log(x / s) for x in w))
    assert entropy_rank_log(h_wide) == pytest.approx(float(ref), rel=1e-12)
    assert entropy_rank_log(h) == pytest.approx(entropy_rank(np.exp(h)), rel=1e-12)


def test_ranks_reject_bad_input():
    lam = np.array([3.0, 2.0, 1.0])
    for bad_q in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(InputError, match="strictly between 0 and 1"):
            effective_rank(lam, bad_q)
    with pytest.raises(NonFiniteError):
        effective_rank(lam, np.nan)
    with pytest.raises(InputError, match="non-negative"):
        effective_rank([1.0, -1.0], 0.5)
    with pytest.raises(RankDeficientError, match="all-zero"):
        stable_rank([0.0, 0.0])
    with pytest.raises(DimensionError, match="at least 2"):
        entropy_rank([1.0])
    with pytest.raises(NonFiniteError):
        effective_rank_log([0.0, np.inf], 0.5)


# ----------------------------------------------------------------------------------------
# T6: finite-width bracket
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", ALPHAS)
def test_orbit_bracket_contains_exact_quantile_rank(alpha):
    """All 7 × 4 × 3 = 84 (α, d, q) combinations; reference k_q from 40-digit sums."""
    for d in DIMS:
        h = orbit_log_spectrum(alpha, d)
        brackets = orbit_quantile_rank_bracket(alpha, d, np.array(QUANTILES))
        convex = orbit_quantile_rank_bracket(alpha, d, np.array(QUANTILES), bounds="convex")
        # the convex (midpoint/trapezoid) bracket is nested in the integral one
        assert np.all(brackets.k_lo <= convex.k_lo) and np.all(convex.k_hi <= brackets.k_hi)
        for i, q in enumerate(QUANTILES):
            exact = mp_quantile_rank(alpha, d, str(q))
            k_lo, k_hi = brackets.k_lo[i], brackets.k_hi[i]
            assert 1 <= k_lo <= exact <= k_hi <= d, (alpha, d, q)
            assert convex.k_lo[i] <= exact <= convex.k_hi[i], (alpha, d, q)
            assert effective_rank_log(h, q) == exact, (alpha, d, q)


def test_orbit_bracket_exact_at_alpha_zero_and_vectorized():
    # α = 0: the integral bounds are exact; a non-tie q gives a bracket of width 0
    for bounds in ("integral", "convex"):
        bracket = orbit_quantile_rank_bracket(0.0, 1000, 0.9005, bounds=bounds)
        assert (bracket.k_lo, bracket.k_hi) == (901, 901)
    alphas = np.array([[0.3], [1.0], [3.0]])
    qs = np.array([0.6, 0.95])
    grid = orbit_quantile_rank_bracket(alphas, 500, qs)
    assert grid.k_lo.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            single = orbit_quantile_rank_bracket(alphas[i, 0], 500, qs[j])
            assert (grid.k_lo[i, j], grid.k_hi[i, j]) == (single.k_lo, single.k_hi)


def test_orbit_bracket_rejects_bad_input():
    with pytest.raises(InputError, match=">= 0"):
        orbit_quantile_rank_bracket(-0.5, 10, 0.9)
    with pytest.raises(DimensionError):
        orbit_quantile_rank_bracket(1.0, 1, 0.9)
    with pytest.raises(InputError, match="strictly between"):
        orbit_quantile_rank_bracket(1.0, 10, 1.0)
    with pytest.raises(InputError, match="did you mean 'convex'"):
        orbit_quantile_rank_bracket(1.0, 10, 0.9, bounds="convx")


# ----------------------------------------------------------------------------------------
# T7: d → ∞ laws
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_linear_regime_alpha_half(q):
    limit = quantile_rank_limit(0.5, q)
    assert limit.regime == REGIME_LINEAR
    assert limit.value == pytest.approx(q**2)
    errors = []
    for d in (10**3, 10**4, 10**5):
        k = effective_rank_log(orbit_log_spectrum(0.5, d), q)
        errors.append(abs(k / d - limit.value))
        # first-order correction: H_k ≈ 2√k + ζ(1/2) gives k/d ≈ q² + q(q−1)ζ(1/2)/√d
        corrected = q**2 + q * (q - 1) * float(mp.zeta(0.5)) / np.sqrt(d)
        assert abs(k / d - corrected) <= 1.5 / d  # next term and the integer step: O(1/d)
    assert errors[-1] <= 2e-3  # d = 1e5
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_logarithmic_regime_alpha_one(q):
    limit = quantile_rank_limit(1.0, q)
    assert limit.regime == REGIME_LOGARITHMIC
    assert limit.value == q
    for d in (10**3, 10**5):
        k = effective_rank_log(orbit_log_spectrum(1.0, d), q)
        # H_k = log k + γ + O(1/k) gives log k_q = q log d − (1 − q) γ + O(1/k_q)
        assert abs(np.log(k) - (q * np.log(d) - (1 - q) * np.euler_gamma)) <= 1.5 / k
        assert abs(np.log(k) / np.log(d) - q) <= (1 - q) * np.euler_gamma / np.log(d) + 1.5 / k


def test_bounded_regime_zeta_quantile():
    limit = quantile_rank_limit(2.0, [0.5, 0.7, 0.9, 0.99])
    np.testing.assert_array_equal(limit.regime, REGIME_BOUNDED)
    np.testing.assert_array_equal(limit.value, [1, 2, 6, 61])
    for q, k_inf in zip([0.5, 0.7, 0.9], limit.value[:3], strict=True):
        ranks = [effective_rank_log(orbit_log_spectrum(2.0, d), q) for d in (10**3, 10**4, 10**5)]
        assert ranks == [k_inf] * 3  # frozen already at d = 1e3
    # q = 0.99 still creeps up (57, 60, 61): the margin at k = 61 is below 1/d for d < 1e5
    creeping = [effective_rank_log(orbit_log_spectrum(2.0, d), 0.99) for d in (10**3, 10**5)]
    assert creeping[0] < creeping[1] == limit.value[3]


@pytest.mark.parametrize("alpha", [1.5, 3.0, 7.0])
def test_zeta_quantile_matches_partial_sums(alpha):
    for q in (0.5, 0.8, 0.95):
        k = int(quantile_rank_limit(alpha, q).value)
        with mp.workdps(30):
            zeta = mp.zeta(alpha)
            assert mp_harmonic(alpha, k) >= mp.mpf(q) * zeta
            assert k == 1 or mp_harmonic(alpha, k - 1) < mp.mpf(q) * zeta


def test_quantile_rank_limit_near_one_and_errors():
    near = quantile_rank_limit([1.01, 1.0 + 1e-6], 0.9)
    assert 1e99 < near.value[0] < 1e100  # ≈ 10^{100}: k^{-0.01} must fall to 1/10
    assert near.value[1] == np.inf
    with pytest.raises(InputError, match=">= 0"):
        quantile_rank_limit(-1.0, 0.5)
    with pytest.raises(InputError):
        quantile_rank_limit(2.0, 0.0)


# ----------------------------------------------------------------------------------------
# T7: window-robust transition report
# ----------------------------------------------------------------------------------------


def test_transition_report_on_orbit_spectra():
    d = 400
    lam = orbit(np.array([0.4, 0.8, 1.6, 3.0]), d)
    report = rank_transition_report(lam, qs=(0.5, 0.7, 0.9, 0.99))
    assert report.alpha.shape == (4, 4) and report.k.shape == (4, 4)
    # the ls chart is exact on the orbit: every fitted window reads α
    fitted = report.status == STATUS_WINDOW_OK
    np.testing.assert_allclose(
        np.where(fitted, report.alpha, 0.0),
        np.where(fitted, np.array([0.4, 0.8, 1.6, 3.0])[:, None], 0.0),
        atol=1e-10,
    )
    np.testing.assert_array_equal(report.all_below_one, [True, True, False, False])
    np.testing.assert_array_equal(report.all_above_one, [False, False, True, True])
    assert np.all(report.agree_on_side)
    assert np.all(report.spread[:3] <= 1e-10)
    # α = 3 puts 83% of the energy on rank 1: the q = 0.5, 0.7 windows are [1, 1]
    np.testing.assert_array_equal(report.k[3, :2], [1, 1])
    np.testing.assert_array_equal(report.status[3], [STATUS_WINDOW_TOO_NARROW] * 2 + [0, 0])
    assert np.all(np.isnan(report.alpha[3, :2]))
    assert report.spread[3] <= 1e-10
    assert "2 of 16 windows" in report.message
    np.testing.assert_array_equal(report.k, effective_rank(lam[:, None, :], report.qs))


def test_transition_report_disagreeing_windows():
    # steep head (exponent 2 over 20 ranks) on a flat-ish bulk (exponent 0.3)
    d = 2000
    x = np.log(np.arange(1.0, d + 1))
    h = np.where(x <= np.log(20), -2.0 * x, -2.0 * np.log(20) - 0.3 * (x - np.log(20)))
    report = rank_transition_report(np.exp(h))
    assert report.alpha[0] > 1 > report.alpha[-1]
    assert not report.agree_on_side
    assert report.spread == pytest.approx(np.max(report.alpha) - np.min(report.alpha))
    assert report.message == "ok"
    # all windows too narrow: no flag is raised, the spread is NaN
    spike = rank_transition_report([1.0, 1e-9, 1e-9], qs=(0.5, 0.9))
    assert np.isnan(spike.spread)
    assert not (spike.all_below_one or spike.all_above_one or spike.agree_on_side)


def test_transition_report_rejects_bad_input():
    with pytest.raises(InputError, match="strictly positive"):
        rank_transition_report([1.0, 0.0, 0.5])
    with pytest.raises(InputError, match="strictly between"):
        rank_transition_report([3.0, 2.0, 1.0], qs=(0.5, 1.0))
    with pytest.raises(InputError, match="at least one"):
        rank_transition_report([3.0, 2.0, 1.0], qs=())


def test_transition_report_agrees_with_public_ls_chart():
    from specalign.estimators.charts import fit_exponent

    rng = np.random.default_rng(11)
    lam = orbit(1.3, 300) * np.exp(0.05 * rng.standard_normal((5, 300)))
    report = rank_transition_report(lam, qs=(0.7, 0.9))
    for j, q in enumerate((0.7, 0.9)):
        np.testing.assert_allclose(
            report.alpha[:, j], fit_exponent(lam, "ls", window=q), rtol=1e-10
        )
