"""The ``orbit`` generator: exact power laws, backtracking walk, slack, chart-orthogonal noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from inline_chain import (
    chain_products,
    interface_quantities,
    log_ranks,
    ls_exponent,
    ls_exponent_of_log_spectrum,
    ls_residual,
    top_radial,
    xbar,
)

from specalign.errors import InputError, RankDeficientError
from specalign.simulate import generate
from specalign.simulate.generators.orbit import max_admissible_noise


def orbit_chain(d, depth, seed=0, replicates=2, **params):
    return list(
        generate(
            "orbit",
            d=d,
            depth=depth,
            replicates=replicates,
            rng=np.random.default_rng(seed),
            **params,
        )
    )


def basis_order_log_spectrum(factor: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``2 log`` of the diagonal of ``Qᵀ A Q``: the factor's log-spectrum in the basis order."""
    return 2.0 * np.log(np.diagonal(basis.T @ factor @ basis))


@pytest.mark.parametrize("backtrack", [0.0, 0.4])
def test_aligned_chain_is_an_exact_power_law(backtrack):
    d, depth, step = 16, 24, 0.07
    factors = orbit_chain(d, depth, seed=3, replicates=2, step=step, backtrack=backtrack)
    products = chain_products(factors)
    for r in range(2):
        # the common eigenbasis, ordered like the power law: A_1 is always a forward step
        _, basis = np.linalg.eigh(factors[0][r])
        basis = basis[:, ::-1]
        cumulative = 0.0
        signs = []
        for a, j in zip(factors, products[1:], strict=True):
            # factors commute and are diagonal in the common basis
            np.testing.assert_allclose(a[r] @ factors[0][r], factors[0][r] @ a[r], atol=1e-13)
            off = basis.T @ j[r] @ basis
            assert np.max(np.abs(off - np.diag(np.diagonal(off)))) < 1e-13 * np.max(np.abs(off))
            delta = ls_exponent_of_log_spectrum(basis_order_log_spectrum(a[r], basis))
            assert abs(abs(delta) - step) < 1e-12
            signs.append(np.sign(delta))
            cumulative += delta
            assert cumulative > -1e-12  # the walk is reflected at 0
            # the chain's fitted exponent is the sum of the steps, exactly
            assert abs(ls_exponent(j[r]) - cumulative) < 1e-12
        if backtrack:
            assert -1 in signs
        else:
            assert all(s == 1 for s in signs)


def test_identity_basis_gives_exactly_diagonal_factors():
    d, step = 10, 0.2
    factors = orbit_chain(d, 3, step=step, initial_basis="identity")
    expected = np.diag(np.exp(-0.5 * step * (log_ranks(d) - xbar(d))))
    for a in factors:
        assert np.array_equal(a, np.broadcast_to(expected, a.shape))


def test_factor_determinant_is_one_and_radial_amplitude_is_step_xbar():
    d, step = 12, 0.3
    factors = np.stack(orbit_chain(d, 4, step=step))
    np.testing.assert_allclose(np.linalg.slogdet(factors)[1], 0.0, atol=1e-13)
    # on the orbit u = α · xbar_d (THEORY.md D4)
    np.testing.assert_allclose(top_radial(factors), step * xbar(d), rtol=1e-12)


def test_zero_slack_has_zero_slack_and_full_slack_has_positive_slack():
    d, depth = 16, 12
    aligned = interface_quantities(orbit_chain(d, depth, seed=1, replicates=3, step=0.2))
    assert np.max(np.abs(aligned["s"])) < 1e-12
    rotated = interface_quantities(orbit_chain(d, depth, seed=1, replicates=3, step=0.2, slack=1.0))
    assert np.all(rotated["s"] > -1e-12)
    assert np.mean(rotated["s"]) > 0.05
    half = interface_quantities(orbit_chain(d, depth, seed=1, replicates=3, step=0.2, slack=0.05))
    # a small rotation leaves a small slack
    assert 0 < np.mean(half["s"]) < np.mean(rotated["s"])


def test_backtracking_creates_slack_at_reversed_steps():
    d, step = 12, 0.1
    factors = orbit_chain(
        d, 30, seed=2, replicates=1, step=step, backtrack=0.4, initial_basis="identity"
    )
    q = interface_quantities(factors)
    drift = np.diff(q["alpha"], axis=0)[:, 0]
    reversed_steps = drift < 0
    assert reversed_steps.any() and (~reversed_steps).any()
    np.testing.assert_allclose(np.abs(drift), step, atol=1e-12)
    # aligned reversed step: s = r + step·xbar = step(log d − xbar) + step·xbar = step·log d
    np.testing.assert_allclose(q["s"][reversed_steps, 0], step * np.log(d), rtol=1e-12)
    assert np.max(np.abs(q["s"][~reversed_steps, 0])) < 1e-12


@pytest.mark.parametrize("keep_top", [False, True])
@pytest.mark.parametrize("slack", [0.0, 0.6])
def test_noise_is_orthogonal_to_the_chart(keep_top, slack):
    d, step, modes = 40, 0.2, 3
    noise = 0.95 * max_admissible_noise(d, step, modes, keep_top)
    factors = np.stack(
        orbit_chain(
            d,
            6,
            seed=4,
            replicates=3,
            step=step,
            noise=noise,
            noise_modes=modes,
            keep_top=keep_top,
            slack=slack,
        )
    )
    h = 2.0 * np.log(np.linalg.svd(factors, compute_uv=False))  # sorted: order is preserved
    # the fitted exponent of every factor is the step, the residual has RMS = noise
    np.testing.assert_allclose(ls_exponent_of_log_spectrum(h), step, atol=1e-12)
    residual = ls_residual(h)
    np.testing.assert_allclose(np.sqrt(np.mean(residual**2, axis=-1)), noise, rtol=1e-10)
    rho = top_radial(factors) / xbar(d) - ls_exponent_of_log_spectrum(h)
    if keep_top:
        np.testing.assert_allclose(rho, 0.0, atol=1e-12)  # equal ū and α̂, different shapes
    else:
        assert np.max(np.abs(rho)) > 1e-3


def test_noise_keeps_order_in_the_basis_order():
    d, step = 30, 0.1
    noise = max_admissible_noise(d, step, 2)
    factors = orbit_chain(
        d, 20, seed=9, replicates=4, step=step, noise=noise, backtrack=0.5, initial_basis="identity"
    )
    for a in factors:
        h = 2.0 * np.log(np.diagonal(a, axis1=1, axis2=2))
        slopes = np.diff(h, axis=-1)
        # forward factors are non-increasing, reversed ones non-decreasing
        assert np.all((slopes <= 1e-14).all(axis=-1) | (slopes >= -1e-14).all(axis=-1))


@settings(max_examples=25, deadline=None)
@given(
    d=st.integers(4, 300),
    modes=st.integers(1, 4),
    keep_top=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_noise_at_the_limit_never_reorders(d, modes, keep_top, seed):
    fixed = 3 if keep_top else 2
    if d < modes + fixed:
        assert max_admissible_noise(d, 1.0, modes, keep_top) == 0.0
        return
    step = 0.5
    noise = max_admissible_noise(d, step, modes, keep_top)
    (a,) = orbit_chain(
        d,
        1,
        seed=seed,
        replicates=8,
        step=step,
        noise=noise,
        noise_modes=modes,
        keep_top=keep_top,
        initial_basis="identity",
    )
    h = 2.0 * np.log(np.diagonal(a, axis1=1, axis2=2))
    assert np.all(np.diff(h, axis=-1) <= 1e-12)
    np.testing.assert_allclose(np.sqrt(np.mean(ls_residual(h) ** 2, axis=-1)), noise, rtol=1e-9)


def test_noise_limit_scales_with_step_and_is_nearly_dimension_free():
    limits = [max_admissible_noise(d, 0.05, 2) for d in (64, 256, 1024)]
    assert max(limits) / min(limits) < 1.1
    assert max_admissible_noise(64, 0.1, 2) == pytest.approx(2 * limits[0], rel=1e-14)
    assert max_admissible_noise(64, 0.05, 1) > limits[0]


def test_too_much_noise_is_refused_with_the_limit():
    limit = max_admissible_noise(32, 0.05, 2)
    with pytest.raises(InputError, match=rf"largest admissible noise is .* = {limit:.4g}"):
        generate("orbit", d=32, depth=1, rng=np.random.default_rng(0), noise=1.01 * limit)
    generate("orbit", d=32, depth=1, rng=np.random.default_rng(0), noise=limit)


def test_noise_without_step_is_refused():
    with pytest.raises(InputError, match="step=0 is impossible"):
        generate("orbit", d=8, depth=1, rng=np.random.default_rng(0), step=0.0, noise=0.01)


def test_noise_needs_room_for_the_modes():
    with pytest.raises(InputError, match="needs d >= 5"):
        generate(
            "orbit",
            d=4,
            depth=1,
            rng=np.random.default_rng(0),
            noise=1e-4,
            noise_modes=2,
            keep_top=True,
        )


def test_numerically_singular_factors_are_refused():
    # dense factors: condition number d^(step/2) beyond 1/eps
    with pytest.raises(RankDeficientError, match=r"numerically singular.*initial_basis='identity'"):
        generate("orbit", d=8, depth=1, rng=np.random.default_rng(0), step=50.0)
    # diagonal factors hold it exactly...
    (a,) = generate(
        "orbit", d=8, depth=1, rng=np.random.default_rng(0), step=50.0, initial_basis="identity"
    )
    assert a[0, 0, 0] / a[0, -1, -1] == pytest.approx(8.0**25, rel=1e-12)
    # ...until float64's range ends
    with pytest.raises(RankDeficientError, match="diagonal factors"):
        generate(
            "orbit",
            d=8,
            depth=1,
            rng=np.random.default_rng(0),
            step=1000.0,
            initial_basis="identity",
        )


def test_full_slack_bases_are_orthogonal_after_many_steps():
    factors = orbit_chain(6, 300, seed=5, replicates=1, step=0.0, slack=1.0)
    # step 0 factors are Q I Qᵀ: the identity, to the orthogonality of Q
    np.testing.assert_allclose(factors[-1][0], np.eye(6), atol=1e-13)
    assert math.isclose(np.linalg.norm(factors[-1][0]), math.sqrt(6), rel_tol=1e-14)


def test_admissible_noise_units_scale_the_limit():
    d, step, fraction = 50, 0.1, 0.6
    limit = max_admissible_noise(d, step, 2)
    common = {"step": step, "slack": 0.3, "noise_modes": 2}
    relative = np.stack(
        orbit_chain(d, 3, seed=6, noise=fraction, noise_units="admissible", **common)
    )
    absolute = np.stack(orbit_chain(d, 3, seed=6, noise=fraction * limit, **common))
    np.testing.assert_allclose(relative, absolute, rtol=1e-13, atol=1e-15)
    h = 2.0 * np.log(np.linalg.svd(relative, compute_uv=False))
    rms = np.sqrt(np.mean(ls_residual(h) ** 2, axis=-1))
    np.testing.assert_allclose(rms, fraction * limit, rtol=1e-10)
    with pytest.raises(InputError, match="must be at most 1"):
        generate(
            "orbit", d=d, depth=1, rng=np.random.default_rng(0), noise=1.5, noise_units="admissible"
        )
    with pytest.raises(InputError, match="step=0 is impossible"):
        generate(
            "orbit",
            d=d,
            depth=1,
            rng=np.random.default_rng(0),
            noise=0.5,
            step=0.0,
            noise_units="admissible",
        )
