"""Tests of the graded factored form of long matrix products (THEORY.md D6).

References: a 300-digit mpmath computation (tests/data/deep_product_reference.json), closed
forms for diagonal, commuting and scaled-orthogonal chains, explicit float64 products where
they are themselves accurate, and direct mpmath products for wide spans.
"""

from __future__ import annotations

import json
from pathlib import Path

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

import specalign.estimators.graded as graded_module
from specalign.errors import DimensionError, InputError, NonFiniteError, RankDeficientError
from specalign.estimators.graded import (
    GradedProduct,
    graded_accuracy_estimate,
    graded_from_matrix,
    graded_identity,
    graded_log_singular_values,
    graded_multiply,
    graded_to_matrix,
    lyapunov_spectrum,
    product_log_singular_values,
)

EPS = np.finfo(np.float64).eps
REFERENCE = Path(__file__).parents[1] / "data" / "deep_product_reference.json"


def run(factors, state=None) -> GradedProduct:
    for factor in factors:
        if state is None:
            state = graded_identity(np.shape(factor)[:-2], np.shape(factor)[-1])
        state = graded_multiply(state, factor)
    return state


def explicit_log_singular_values(J: np.ndarray) -> np.ndarray:
    return np.log(np.linalg.svd(J, compute_uv=False))


def mpmath_log_singular_values(factors: np.ndarray, span: float) -> np.ndarray:
    """log σ of A_L ⋯ A_1 from the exact float64 entries, with digits to cover ``span``."""
    with mpmath.workdps(int(span / 2.3) + 60):
        product = mpmath.eye(factors.shape[-1])
        for factor in factors:
            product = mpmath.matrix(factor.tolist()) * product
        sigma = mpmath.svd_r(product, compute_uv=False)
        return np.array(sorted((float(mpmath.log(s)) for s in sigma), reverse=True))


# ---------------------------------------------------------------------------------------------
# Acceptance 1: the 300-digit reference


def test_deep_product_matches_300_digit_reference():
    reference = json.loads(REFERENCE.read_text())
    noise = np.random.default_rng(reference["seed"]).standard_normal((1000, 16, 16))
    factors = np.eye(16) + 0.3 * noise / np.sqrt(16.0)
    expected = {
        record["depth"]: np.array([float(v) for v in record["log_singular_values"]])
        for record in reference["partial_products"]
    }
    assert sorted(expected) == list(range(100, 1001, 100))
    state = graded_identity((), 16)
    worst = 0.0
    for depth, factor in enumerate(factors, start=1):
        state = graded_multiply(state, factor)
        if depth in expected:
            error = np.abs(graded_log_singular_values(state) - expected[depth]).max()
            worst = max(worst, error)
            assert error < 1e-8, (depth, error)
    # Observed about 1e-13; the spectrum spans e^86 at depth 1000.
    assert worst < 1e-11
    assert expected[1000][0] - expected[1000][-1] > 80
    assert graded_accuracy_estimate(state).max() > worst


def test_explicit_product_loses_the_small_singular_values_of_the_deep_chain():
    # Why the graded form exists: the explicit product is wrong in the tail by O(1).
    reference = json.loads(REFERENCE.read_text())
    noise = np.random.default_rng(reference["seed"]).standard_normal((1000, 16, 16))
    J = np.eye(16)
    for factor in np.eye(16) + 0.3 * noise / 4.0:
        J = factor @ J
    expected = np.array(
        [float(v) for v in reference["partial_products"][-1]["log_singular_values"]]
    )
    with np.errstate(divide="ignore"):
        error = np.abs(explicit_log_singular_values(J) - expected)
    assert error[0] < 1e-10
    assert error[-1] > 1.0


# ---------------------------------------------------------------------------------------------
# Acceptance 2: agreement with explicit products where those are accurate


@settings(max_examples=60, deadline=None)
@given(
    d=st.integers(2, 12),
    depth=st.integers(1, 40),
    strength=st.floats(0.0, 1.0),
    log_gain=st.floats(-0.7, 0.7),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_explicit_product_where_that_is_accurate(d, depth, strength, log_gain, seed):
    rng = np.random.default_rng(seed)
    factors = np.exp(log_gain) * (
        np.eye(d) + strength * rng.standard_normal((depth, d, d)) / np.sqrt(d)
    )
    J = np.eye(d)
    norm_product = 1.0
    for factor in factors:
        J = factor @ J
        norm_product *= np.linalg.norm(factor, 2)
    state = run(factors)
    # The explicit product: forming it costs ≲ L d ε Π‖A_l‖ in norm, its SVD ≲ d ε ‖J‖.
    sigma = np.linalg.svd(J, compute_uv=False)
    explicit_error = 4 * (depth * d * EPS * norm_product + d * EPS * sigma[0]) / sigma
    np.testing.assert_allclose(
        graded_to_matrix(state), J, rtol=0, atol=4 * depth * d * EPS * norm_product
    )
    if sigma[0] / sigma[-1] < 1e8:
        error = np.abs(graded_log_singular_values(state) - np.log(sigma))
        assert np.all(error <= 1e-10 + explicit_error), (error, explicit_error)


def test_matches_explicit_product_on_a_batch_with_a_shared_factor():
    rng = np.random.default_rng(3)
    d, R = 5, 4
    shared = np.eye(d) + 0.5 * rng.standard_normal((d, d)) / np.sqrt(d)
    own = np.eye(d) + 0.5 * rng.standard_normal((6, R, d, d)) / np.sqrt(d)
    state = graded_multiply(graded_identity((R,), d), shared)
    J = np.broadcast_to(shared, (R, d, d))
    for factor in own:
        state = graded_multiply(state, factor)
        J = factor @ J
    np.testing.assert_allclose(graded_to_matrix(state), J, atol=1e-13)
    np.testing.assert_allclose(
        graded_log_singular_values(state), explicit_log_singular_values(J), atol=1e-11
    )
    # Each replicate alone gives the same as the batch.
    for r in range(R):
        alone = run([shared, *own[:, r]])
        np.testing.assert_allclose(
            graded_log_singular_values(alone), graded_log_singular_values(state)[r], atol=1e-13
        )


def test_state_invariants():
    rng = np.random.default_rng(4)
    d = 7
    state = run(np.eye(d) + 0.8 * rng.standard_normal((30, 2, d, d)) / np.sqrt(d))
    np.testing.assert_allclose(
        state.Q.swapaxes(-1, -2) @ state.Q, np.broadcast_to(np.eye(d), (2, d, d)), atol=1e-13
    )
    np.testing.assert_array_equal(np.tril(state.U, -1), 0.0)
    np.testing.assert_array_equal(np.diagonal(state.U, axis1=-2, axis2=-1), 1.0)
    later_max = np.maximum.accumulate(state.log_scale[..., ::-1], axis=-1)[..., ::-1]
    assert np.all(later_max[..., 1:] - state.log_scale[..., :-1] <= graded_module.SORT_TOLERANCE)
    np.testing.assert_array_equal(
        np.sort(state.column_order, axis=-1), np.tile(np.arange(d), (2, 1))
    )
    assert state.condition_sum.shape == (2,)
    assert np.all(state.condition_sum >= 30)  # each κ ≥ 1


# ---------------------------------------------------------------------------------------------
# Acceptance 3: beyond float64's range, against closed forms


def test_diagonal_chain_far_beyond_float64_range_with_reversals():
    # log σ of a diagonal chain is the sorted sum of log|entries|. Phase 1 grows entries 0 and 2
    # to e^2000 and e^1000; phase 2 overtakes entry 0 by entry 2 (a reversal, pivoted away).
    rng = np.random.default_rng(5)
    phases = [np.array([1.0, -1.0, 0.5, -0.5])] * 2000 + [np.array([-1.2, 1.1, 0.1, 0.0])] * 1000
    logs = np.array(phases) + 0.01 * rng.standard_normal((3000, 4))
    signs = rng.choice([-1.0, 1.0], size=(3000, 4))
    factors = np.stack([np.diag(s * np.exp(v)) for s, v in zip(signs, logs, strict=True)])
    state = run(factors)
    expected = np.sort(logs.sum(axis=0))[::-1]
    result = graded_log_singular_values(state)
    assert np.all(np.isfinite(result))
    assert expected[0] > 1000 and expected[-1] < -900
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9)
    with pytest.raises(InputError, match="left float64's range"):
        graded_to_matrix(state)


def test_rotated_commuting_chain_far_beyond_float64_range():
    # A = B diag(e^s) Bᵀ, J_L = B diag(e^{L s}) Bᵀ: log σ = L sort(s), spanning e^{±3000}.
    d = 6
    basis = ortho_group.rvs(d, random_state=1)
    s = np.array([1.0, -1.0, 0.3, -0.25, 0.0, 0.7])
    factor = basis @ np.diag(np.exp(s)) @ basis.T
    depth = 3000
    result = product_log_singular_values([factor] * depth)
    # Per-factor error ≈ d ε κ(A) (κ = e²) accumulates linearly: ≲ 1e-10 at this depth.
    np.testing.assert_allclose(result, depth * np.sort(s)[::-1], rtol=0, atol=1e-9)


def test_reversed_scales_then_a_shear():
    # diag(e^{-1}, e^{+1})^500 reverses the QR order; a shear then couples the two columns.
    # J = [[e^-500, e^500], [0, e^500]]: det 1 and ‖J‖_F² = e^-1000 + 2 e^1000.
    factors = [np.diag([np.exp(-1.0), np.exp(1.0)])] * 500 + [np.array([[1.0, 1.0], [0.0, 1.0]])]
    state = run(factors)
    log_top = 500 + 0.5 * np.log(2.0)
    np.testing.assert_allclose(
        graded_log_singular_values(state), [log_top, -log_top], rtol=0, atol=1e-11
    )
    assert np.abs(state.U).max() <= 1.0  # the pivoted form keeps U bounded (no e^1000 entry)


def test_reversed_scales_then_random_coupling_against_mpmath():
    rng = np.random.default_rng(6)
    d = 4
    reversed_diagonal = np.diag(np.exp([-1.0, -0.5, 0.5, 1.0]))
    couplings = np.eye(d) + 0.3 * rng.standard_normal((5, d, d))
    factors = np.concatenate([np.broadcast_to(reversed_diagonal, (400, d, d)), couplings])
    expected = mpmath_log_singular_values(factors, span=800.0)
    np.testing.assert_allclose(product_log_singular_values(factors), expected, rtol=0, atol=1e-10)


def test_nearly_equal_exponents():
    d = 5
    basis = ortho_group.rvs(d, random_state=2)
    s = np.array([0.3, 0.3 + 1e-12, 0.3 - 1e-12, -0.5, -0.5 + 1e-9])
    factor = basis @ np.diag(np.exp(s)) @ basis.T
    result = product_log_singular_values([factor] * 500)
    np.testing.assert_allclose(result, 500 * np.sort(s)[::-1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("gain", [0.1, 10.0])
def test_scaled_orthogonal_chains_contract_or_expand_out_of_range(gain):
    # A_l = c_l O_l: every singular value of J_L is Π c_l (e^{∓3000} here).
    rng = np.random.default_rng(7)
    depth, d = 1300, 4
    gains = gain * np.exp(0.3 * rng.standard_normal(depth))
    rotations = ortho_group.rvs(d, size=depth, random_state=8)
    result = product_log_singular_values(gains[:, None, None] * rotations)
    expected = np.log(gains).sum()
    assert abs(expected) > 2900
    np.testing.assert_allclose(result, np.full(d, expected), rtol=0, atol=1e-9)


def test_identity_factor_changes_nothing():
    rng = np.random.default_rng(9)
    d = 6
    state = run(np.eye(d) + 0.5 * rng.standard_normal((20, 3, d, d)) / np.sqrt(d))
    after = graded_multiply(state, np.eye(d))
    np.testing.assert_allclose(after.log_scale, state.log_scale, rtol=0, atol=1e-14)
    np.testing.assert_allclose(after.U, state.U, rtol=0, atol=1e-13)
    np.testing.assert_allclose(
        graded_log_singular_values(after), graded_log_singular_values(state), rtol=0, atol=1e-13
    )


def test_contracting_low_rank_residual_chain_against_mpmath(monkeypatch):
    # A_l = I + B M_l Bᵀ with a fixed 2-dimensional B and contracting M_l: ten exponents are
    # exactly 0 (mutually orthogonal large rows) above two very small ones. A plain SVD of the
    # graded factor loses the small pair by O(100) here; the log-det check must catch it and
    # the Jacobi fallback must fix it.
    rng = np.random.default_rng(21)
    d, depth, rank = 12, 150, 2
    basis = np.linalg.qr(rng.standard_normal((d, rank)))[0]
    inner = 0.2 * rng.standard_normal((depth, rank, rank)) - 0.6 * np.eye(rank)
    factors = np.eye(d) + basis @ inner @ basis.T
    fallbacks = []
    jacobi = graded_module._jacobi_log_singular_values
    monkeypatch.setattr(
        graded_module,
        "_jacobi_log_singular_values",
        lambda scaled: fallbacks.append(1) or jacobi(scaled),
    )
    result = product_log_singular_values(factors)
    expected = mpmath_log_singular_values(factors, span=result[0] - result[-1])
    assert expected[-1] < -150
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-10)
    assert fallbacks


def test_wide_span_generic_chain_against_mpmath():
    # Spans of about 1000 are evaluated by windows (span > DIRECT_SPAN).
    rng = np.random.default_rng(11)
    d, depth = 6, 700
    factors = np.eye(d) + 3.0 * rng.standard_normal((depth, d, d)) / np.sqrt(d)
    result = product_log_singular_values(factors)
    assert result[0] - result[-1] > graded_module.DIRECT_SPAN
    expected = mpmath_log_singular_values(factors, span=result[0] - result[-1])
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-10)


def test_windows_agree_with_one_direct_svd(monkeypatch):
    rng = np.random.default_rng(12)
    d, depth = 12, 120
    state = run(np.eye(d) + 2.0 * rng.standard_normal((depth, 2, d, d)) / np.sqrt(d))
    span = np.ptp(state.log_scale, axis=-1)
    assert np.all((span > 150) & (span < graded_module.DIRECT_SPAN))
    direct = graded_log_singular_values(state)
    monkeypatch.setattr(graded_module, "DIRECT_SPAN", 100.0)
    monkeypatch.setattr(graded_module, "WINDOW_MARGIN", 20.0)
    windowed = graded_log_singular_values(state)
    np.testing.assert_allclose(windowed, direct, rtol=0, atol=1e-11)


# ---------------------------------------------------------------------------------------------
# Starting matrices, input forms, accuracy estimate


def test_from_matrix_round_trip_with_reversed_column_scales():
    rng = np.random.default_rng(13)
    d = 5
    J0 = rng.standard_normal((2, d, d)) * np.exp([-6.0, -3.0, 0.0, 3.0, 6.0])
    state = graded_from_matrix(J0)
    assert np.any(state.column_order != np.arange(d))  # the increasing scales were pivoted
    np.testing.assert_allclose(graded_to_matrix(state), J0, rtol=0, atol=1e-12 * np.abs(J0).max())
    np.testing.assert_allclose(
        graded_log_singular_values(state), explicit_log_singular_values(J0), rtol=0, atol=1e-10
    )


def test_product_input_forms_agree():
    rng = np.random.default_rng(14)
    d, R, depth = 4, 3, 9
    batches = np.eye(d) + 0.4 * rng.standard_normal((depth, R, d, d))
    J0 = np.eye(d) + 0.2 * rng.standard_normal((R, d, d))
    stacked = product_log_singular_values(batches, J0=J0)
    assert stacked.shape == (R, d)
    from_list = product_log_singular_values(list(batches), J0=J0)
    from_generator = product_log_singular_values((b for b in batches), J0=J0)
    np.testing.assert_array_equal(stacked, from_list)
    np.testing.assert_array_equal(stacked, from_generator)
    J = J0
    for factor in batches:
        J = factor @ J
    np.testing.assert_allclose(stacked, explicit_log_singular_values(J), atol=1e-12)
    single = product_log_singular_values(batches[:, 0])
    assert single.shape == (d,)
    np.testing.assert_allclose(single, product_log_singular_values(batches[:, :1])[0], atol=1e-14)


def test_accuracy_estimate_grows_with_conditioning():
    rng = np.random.default_rng(15)
    d = 6
    mild = run(np.eye(d) + 0.1 * rng.standard_normal((50, d, d)) / np.sqrt(d))
    harsh = run(np.eye(d) + 3.0 * rng.standard_normal((50, d, d)) / np.sqrt(d))
    mild_error, harsh_error = graded_accuracy_estimate(mild), graded_accuracy_estimate(harsh)
    assert mild_error.shape == (d,)
    assert np.all(mild_error > 0) and np.all(np.isfinite(harsh_error))
    assert harsh_error[0] > 10 * mild_error[0]
    assert graded_accuracy_estimate(graded_identity((3,), d)).shape == (3, d)


def test_ill_conditioned_factors_keep_q_orthogonal():
    # κ(A) ≈ 1e8: Q' is then formed from the Householder reflectors.
    rng = np.random.default_rng(16)
    d = 6
    left, right = ortho_group.rvs(d, size=2, random_state=17)
    factor = left @ np.diag(np.logspace(0, -8, d)) @ right
    state = run([factor, np.eye(d) + 0.1 * rng.standard_normal((d, d)), factor])
    np.testing.assert_allclose(state.Q.T @ state.Q, np.eye(d), atol=1e-14)
    assert state.condition_sum > 1e8


# ---------------------------------------------------------------------------------------------
# Acceptance 4: Lyapunov exponents


def test_lyapunov_estimates_converge_to_known_exponents():
    # Upper triangular factors diag(e^λ) + N_l (bounded N_l), in a fixed rotated basis: the
    # Lyapunov exponents are λ. Both estimates converge like O(1/L).
    rng = np.random.default_rng(18)
    d = 5
    exponents = np.array([0.4, 0.1, 0.0, -0.2, -0.6])
    basis = ortho_group.rvs(d, random_state=19)

    def chain(depth):
        upper = np.triu(0.5 * rng.standard_normal((depth, d, d)), 1)
        return basis @ (np.diag(np.exp(exponents[::-1])) + upper) @ basis.T

    errors = {}
    for depth in (100, 2000):
        spectrum = lyapunov_spectrum(chain(depth))
        assert spectrum.depth == depth
        errors[depth] = (
            np.abs(spectrum.from_singular_values - exponents).max(),
            np.abs(spectrum.benettin - exponents).max(),
        )
    assert max(errors[2000]) < 2e-3
    assert errors[2000][0] < errors[100][0] and errors[2000][1] < errors[100][1]


def test_lyapunov_of_iid_chain_estimates_agree():
    rng = np.random.default_rng(20)
    d = 4
    spectrum = lyapunov_spectrum(np.eye(d) + 0.5 * rng.standard_normal((3000, 2, d, d)))
    assert spectrum.from_singular_values.shape == (2, d)
    np.testing.assert_allclose(spectrum.from_singular_values, spectrum.benettin, atol=2e-3)
    # Σ_k λ_k = mean log|det A_l|, exactly for both (log|det| is additive).
    np.testing.assert_allclose(
        spectrum.from_singular_values.sum(axis=-1), spectrum.benettin.sum(axis=-1), atol=1e-12
    )


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_inputs_raise_specific_errors():
    state = graded_identity((2,), 3)
    with pytest.raises(DimensionError, match=r"\(\.\.\., 3, 3\)"):
        graded_multiply(state, np.eye(4))
    with pytest.raises(DimensionError, match="does not broadcast"):
        graded_multiply(state, np.broadcast_to(np.eye(3), (5, 3, 3)))
    with pytest.raises(NonFiniteError):
        graded_multiply(state, np.full((3, 3), np.nan))
    with pytest.raises(RankDeficientError, match="singular"):
        graded_multiply(state, np.diag([1.0, 0.0, 1.0]))
    with pytest.raises(RankDeficientError, match="full-rank"):
        graded_from_matrix(np.ones((3, 3)))
    with pytest.raises(DimensionError, match="square"):
        graded_from_matrix(np.ones((3, 4)))
    with pytest.raises(DimensionError, match="at least 2"):
        graded_identity((), 1)
    with pytest.raises(InputError, match="empty"):
        product_log_singular_values([])
    with pytest.raises(DimensionError):
        product_log_singular_values(np.ones((3, 3)))
    with pytest.raises(DimensionError):
        product_log_singular_values(np.ones((2, 1, 1, 3, 3)))
    with pytest.raises(InputError, match="iterable"):
        product_log_singular_values(3.0)
