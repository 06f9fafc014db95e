"""Singular values, normalized spectra and Cartan coordinates (THEORY.md D1)."""

from __future__ import annotations

import math

import catalogue
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specalign.errors import DimensionError, InputError, NonFiniteError, RankDeficientError
from specalign.estimators import spectra
from specalign.estimators.spectra import (
    cartan_coordinates,
    cartan_coordinates_from_log_singular_values,
    gram_relative_error_bound,
    log_singular_values,
    singular_values,
    spectrum,
)

METHODS = ("auto", "svd", "gram")


# --------------------------------------------------------------------------------------
# Exact cases
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", catalogue.known_spectrum_cases(), ids=lambda c: c.name)
@pytest.mark.parametrize("method", METHODS)
def test_diagonal_matrices_have_their_known_spectrum(case, method):
    lam = spectrum(catalogue.diagonal_matrix(case.sigma), method=method)
    np.testing.assert_allclose(lam, case.lam, rtol=1e-13)
    assert math.isclose(lam.sum(), case.sigma.size, rel_tol=1e-14)


@pytest.mark.parametrize("case", catalogue.known_spectrum_cases(), ids=lambda c: c.name)
def test_rotated_matrices_have_their_known_spectrum(case):
    rng = np.random.default_rng(1)
    A = catalogue.matrix_with_singular_values(case.sigma, rng)
    np.testing.assert_allclose(spectrum(A), case.lam, rtol=1e-11)
    # The SVD's error on σ_k is absolute, about d·eps·σ_1.
    np.testing.assert_allclose(
        singular_values(A), np.sort(case.sigma)[::-1], rtol=0, atol=1e-13 * case.sigma.max()
    )


def test_orbit_matrix_gives_the_orbit_spectrum():
    rng = np.random.default_rng(2)
    for alpha in (0.0, 0.5, 2.0):
        lam = spectrum(catalogue.orbit_matrix(alpha, 40, rng))
        np.testing.assert_allclose(lam, catalogue.orbit_spectrum(alpha, 40), rtol=1e-11)


@pytest.mark.parametrize("shape", [(7, 4), (4, 7), (40, 25), (25, 40), (150, 130), (130, 150)])
def test_rectangular_matrices_use_the_smaller_dimension(shape):
    rng = np.random.default_rng(3)
    sigma = np.linspace(2.0, 0.5, min(shape))
    A = catalogue.matrix_with_singular_values(sigma, rng, shape)
    lam = spectrum(A)
    assert lam.shape == (min(shape),)
    np.testing.assert_allclose(lam, catalogue.normalized_spectrum(sigma), rtol=1e-12)
    np.testing.assert_allclose(singular_values(A), sigma, rtol=1e-12)


def test_batches_broadcast_over_leading_axes():
    rng = np.random.default_rng(4)
    A = catalogue.near_identity_batch(6, 5, rng).reshape(2, 3, 5, 5)
    lam = spectrum(A)
    assert lam.shape == (2, 3, 5)
    np.testing.assert_allclose(lam.sum(axis=-1), 5.0, rtol=1e-14)
    assert np.all(np.diff(lam, axis=-1) <= 0)
    np.testing.assert_allclose(lam[1, 2], spectrum(A[1, 2]), rtol=1e-14)


def test_float32_and_integer_inputs_are_computed_in_float64():
    A64 = np.array([[3.0, 1.0], [0.0, 2.0]])
    expected = spectrum(A64, method="svd")
    lam32 = spectrum(A64.astype(np.float32))
    assert lam32.dtype == np.float64
    np.testing.assert_allclose(lam32, expected, rtol=1e-14)  # 3, 1, 2 are exact in float32
    np.testing.assert_allclose(spectrum(np.array([[3, 1], [0, 2]])), expected, rtol=1e-14)


def test_singular_values_and_logs_agree_with_numpy():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((3, 9, 6))
    reference = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(singular_values(A), reference, rtol=1e-13)
    np.testing.assert_allclose(log_singular_values(A), np.log(reference), atol=1e-13)


# --------------------------------------------------------------------------------------
# Cartan coordinates from log singular values
# --------------------------------------------------------------------------------------


def test_cartan_coordinates_match_log_of_spectrum():
    rng = np.random.default_rng(6)
    A = catalogue.near_identity_batch(4, 8, rng)
    np.testing.assert_allclose(cartan_coordinates(A), np.log(spectrum(A)), atol=1e-14)


def test_cartan_coordinates_never_exponentiate_huge_numbers():
    # log σ spanning e^-5000..e^5000: σ itself is far outside float64, h is not.
    log_sigma = np.array([5000.0, 0.0, -5000.0, 4999.0])
    h = cartan_coordinates_from_log_singular_values(log_sigma)
    top = math.log1p(math.exp(-2.0))  # logsumexp(2 log σ) − 10000
    expected = np.array([-top, -2.0 - top, -10000.0 - top, -20000.0 - top]) + math.log(4)
    np.testing.assert_allclose(h, expected, rtol=1e-15, atol=1e-12)
    assert np.all(np.isfinite(h))


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(-300, 300), min_size=2, max_size=12),
    shift=st.floats(-1e3, 1e3),
)
def test_cartan_coordinates_are_sorted_normalized_and_shift_free(values, shift):
    log_sigma = np.array(values)
    h = cartan_coordinates_from_log_singular_values(log_sigma)
    assert np.all(np.diff(h) <= 0)
    top = h.max()
    assert math.isclose(top + math.log(np.exp(h - top).sum()), math.log(h.size), abs_tol=1e-12)
    shifted = cartan_coordinates_from_log_singular_values(log_sigma[::-1] + shift)
    # Rounding of 2·(log σ + shift) is about eps·(|log σ| + |shift|).
    assert np.all(np.abs(shifted - h) <= 1e-12 * (1 + np.abs(h) + abs(shift)))


def test_cartan_coordinates_reject_zero_singular_values_and_nan():
    with pytest.raises(RankDeficientError, match="-inf"):
        cartan_coordinates_from_log_singular_values([0.0, -np.inf])
    with pytest.raises(NonFiniteError, match="non-finite"):
        cartan_coordinates_from_log_singular_values([0.0, np.nan])
    with pytest.raises(DimensionError, match="d >= 2"):
        cartan_coordinates_from_log_singular_values([1.0])


# --------------------------------------------------------------------------------------
# Numerical routes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [16, 160])  # batched eigvalsh and per-matrix LAPACK paths
def test_gram_route_is_taken_and_agrees_with_the_svd(d):
    rng = np.random.default_rng(7)
    A = catalogue.near_identity_batch(6, d, rng)
    lam, used_gram = spectrum(A, return_route=True)
    assert used_gram.shape == (6,)
    assert np.all(used_gram)
    np.testing.assert_allclose(lam, spectrum(A, method="svd"), rtol=1e-10)


def test_both_gram_implementations_agree():
    rng = np.random.default_rng(8)
    A = catalogue.near_identity_batch(3, 130, rng)
    eig_loop, ok_loop = spectra._gram_lapack(A)
    eig_batched, ok_batched = spectra._gram_batched(A)
    assert np.all(ok_loop) and np.all(ok_batched)
    np.testing.assert_allclose(eig_loop, eig_batched, rtol=1e-12)
    rectangular = rng.standard_normal((2, 140, 130))
    np.testing.assert_allclose(
        spectra._gram_lapack(rectangular)[0], spectra._gram_batched(rectangular)[0], rtol=1e-9
    )


def test_ill_conditioned_batch_takes_the_svd_route():
    rng = np.random.default_rng(9)
    A = catalogue.conditioned_batch(4, 20, 1e6, rng)  # κ² = 1e12: the Gram route loses digits
    lam, used_gram = spectrum(A, return_route=True)
    assert not np.any(used_gram)
    np.testing.assert_allclose(lam, spectrum(A, method="svd"), rtol=0)


def test_gaussian_batch_is_rejected_by_the_probe():
    rng = np.random.default_rng(10)
    _, used_gram = spectrum(catalogue.gaussian_batch(3, 64, rng), return_route=True)
    assert not np.any(used_gram)


def test_mixed_batch_falls_back_per_matrix():
    rng = np.random.default_rng(11)
    good = catalogue.near_identity_batch(2, 12, rng)
    bad = catalogue.conditioned_batch(1, 12, 1e7, rng)
    A = np.concatenate([good[:1], bad, good[1:]])
    lam, used_gram = spectrum(A, return_route=True)
    np.testing.assert_array_equal(used_gram, [True, False, True])
    np.testing.assert_allclose(lam, spectrum(A, method="svd"), rtol=1e-10)


def test_looser_rtol_admits_more_matrices_to_the_gram_route():
    rng = np.random.default_rng(12)
    A = catalogue.conditioned_batch(2, 10, 1e3, rng)  # κ² = 1e6
    assert not np.any(spectrum(A, return_route=True)[1])
    lam, used_gram = spectrum(A, rtol=1e-6, return_route=True)
    assert np.all(used_gram)
    np.testing.assert_allclose(lam, spectrum(A, method="svd"), rtol=1e-6)


def test_extreme_scales_fall_back_to_the_svd():
    rng = np.random.default_rng(13)
    A = catalogue.near_identity_batch(1, 6, rng)[0]
    expected = spectrum(A, method="svd")
    for scale in (1e200, 1e-200):
        lam, used_gram = spectrum(A * scale, return_route=True)
        assert not used_gram
        np.testing.assert_allclose(lam, expected, rtol=1e-13)
    with pytest.raises(InputError, match="method='svd'"):
        spectrum(A * 1e200, method="gram")


def test_gram_error_bound_formula_and_validity():
    eig = np.array([1.0, 2.0, 4.0])
    u = np.finfo(float).eps / 2
    L, d = 5, 3
    gamma = L * u / (1 - L * u)
    tiny = np.finfo(float).smallest_subnormal
    expected = gamma * 7.0 + d * u * 4.0 + L * d * tiny
    assert math.isclose(gram_relative_error_bound(eig, 5, 3), expected, rel_tol=1e-14)
    assert gram_relative_error_bound([0.0, 1.0], 2, 2) == np.inf
    # The bound holds on matrices where the Gram route is exact-enough to compare.
    rng = np.random.default_rng(14)
    A = catalogue.conditioned_batch(5, 30, 1e3, rng)
    eig, _ = spectra._gram_batched(A)
    truth = np.sort(np.linalg.svd(A, compute_uv=False) ** 2, axis=-1)
    actual = np.max(np.abs(eig - truth) / truth, axis=-1)
    assert np.all(actual <= gram_relative_error_bound(eig, 30, 30))


def test_spectrum_spanning_seven_decades_is_accurate():
    rng = np.random.default_rng(15)
    sigma = np.logspace(0.0, -7.0, 48)
    A = catalogue.matrix_with_singular_values(sigma, rng)
    h = np.log(spectrum(A))
    np.testing.assert_allclose(h, catalogue.normalized_log_spectrum(sigma), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------------------
# Invariances (hypothesis)
# --------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(2, 12),
    log_scale=st.floats(-30.0, 30.0),
)
def test_spectrum_is_invariant_under_scaling_and_orthogonal_factors(seed, d, log_scale):
    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.uniform(-2.0, 2.0, d))
    A = catalogue.matrix_with_singular_values(sigma, rng)
    U, V = catalogue.random_orthogonal(d, rng), catalogue.random_orthogonal(d, rng)
    lam = spectrum(A)
    np.testing.assert_allclose(spectrum(math.exp(log_scale) * A), lam, rtol=1e-10)
    np.testing.assert_allclose(spectrum(U @ A @ V), lam, rtol=1e-10)
    np.testing.assert_allclose(lam, catalogue.normalized_spectrum(sigma), rtol=1e-10)


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_entries_are_named(bad):
    A = np.eye(3)
    A[1, 2] = bad
    with pytest.raises(NonFiniteError, match="non-finite"):
        spectrum(A)


def test_zero_matrix_is_rank_deficient():
    with pytest.raises(RankDeficientError, match="zero matrix") as info:
        spectrum(np.zeros((3, 3)))
    assert "rank_tol" in str(info.value)


def test_zero_singular_value_is_rank_deficient_even_with_rank_tol_zero():
    singular = np.diag([1.0, 2.0, 0.0])
    for method in METHODS:
        with pytest.raises(RankDeficientError, match="exactly zero singular value"):
            spectrum(singular, method=method, rank_tol=0)


def test_nearly_singular_matrix_respects_rank_tol():
    nearly = np.diag([1.0, 1e-17, 2.0])
    with pytest.raises(RankDeficientError, match="rank_tol") as info:
        spectrum(nearly)
    assert "smallest σ_min/σ_max = 5e-18" in str(info.value)
    lam = spectrum(nearly, rank_tol=0)
    np.testing.assert_allclose(lam, catalogue.normalized_spectrum([1.0, 1e-17, 2.0]))
    with pytest.raises(RankDeficientError):
        spectrum(np.diag([1.0, 1e-3]), rank_tol=1e-2)


def test_rank_deficient_batch_message_counts_and_locates():
    A = np.stack([np.eye(3), np.zeros((3, 3)), np.eye(3), np.diag([1.0, 1.0, 0.0])])
    with pytest.raises(RankDeficientError, match=r"2 of 4 matrices") as info:
        spectrum(A)
    assert "batch indices [1, 3]" in str(info.value)
    big = np.tile(np.eye(3), (30, 1, 1))
    big[[4, 7, 9]] = 0.0
    with pytest.raises(RankDeficientError, match=r"3 of 30 matrices") as info:
        spectrum(big)
    assert "batch indices" not in str(info.value)


def test_dimension_errors_name_the_problem():
    with pytest.raises(DimensionError, match="at least 2 axes"):
        spectrum(np.ones(4))
    with pytest.raises(DimensionError, match="at least 2 rows and 2 columns"):
        spectrum(np.ones((1, 5)))
    with pytest.raises(DimensionError, match="at least 2 rows and 2 columns"):
        singular_values(np.ones((3, 6, 1)))


def test_bad_options_are_named():
    with pytest.raises(InputError, match="did you mean 'svd'"):
        spectrum(np.eye(2), method="svdd")
    with pytest.raises(InputError, match="rtol"):
        spectrum(np.eye(2), rtol=0.0)
    with pytest.raises(InputError, match="rank_tol"):
        spectrum(np.eye(2), rank_tol=-1.0)
    with pytest.raises(InputError, match="real"):
        spectrum(np.eye(2) * 1j)
