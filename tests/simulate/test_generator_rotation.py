"""Haar draws and the SO(d) geodesic used to rotate eigenbases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from specalign.simulate.generators._random import ReplicateRandom
from specalign.simulate.generators._rotation import (
    _geodesic_power_schur,
    geodesic_power,
    haar_orthogonal,
)


def haar(d, replicates=4, seed=0, special=True):
    return haar_orthogonal(
        ReplicateRandom(np.random.default_rng(seed), replicates), d, special=special
    )


@pytest.mark.parametrize("d", [2, 3, 7, 16])
def test_haar_is_special_orthogonal(d):
    h = haar(d)
    np.testing.assert_allclose(
        h @ np.swapaxes(h, 1, 2), np.broadcast_to(np.eye(d), h.shape), atol=1e-14
    )
    np.testing.assert_allclose(np.linalg.det(h), 1.0, atol=1e-13)


def test_haar_moments():
    # E[H_11] = 0 and E[H_11²] = 1/d for Haar on O(d) and SO(d) (d >= 3)
    h = haar(5, replicates=4000, seed=1)
    entries = h[:, 0, 0]
    assert abs(entries.mean()) < 4 * np.sqrt(0.2 / 4000)
    assert entries.var() == pytest.approx(0.2, rel=0.1)


@pytest.mark.parametrize("d", [2, 3, 8, 15])
def test_geodesic_endpoints_and_semigroup(d):
    h = haar(d, seed=d)
    assert np.array_equal(geodesic_power(h, 1.0), h)
    assert np.array_equal(geodesic_power(h, 0.0), np.broadcast_to(np.eye(d), h.shape))
    quarter, half = geodesic_power(h, 0.25), geodesic_power(h, 0.5)
    np.testing.assert_allclose(half @ half, h, atol=1e-13)
    np.testing.assert_allclose(quarter @ quarter, half, atol=1e-13)
    third, two_thirds = geodesic_power(h, 1 / 3), geodesic_power(h, 2 / 3)
    np.testing.assert_allclose(third @ two_thirds, h, atol=1e-13)
    np.testing.assert_allclose(np.linalg.det(half), 1.0, atol=1e-13)


def test_geodesic_matches_the_principal_logarithm():
    h = haar(6, replicates=3, seed=4)
    for t in (0.3, 0.7):
        expected = [np.real(scipy.linalg.expm(t * scipy.linalg.logm(x))) for x in h]
        np.testing.assert_allclose(geodesic_power(h, t), np.stack(expected), atol=1e-12)


def test_geodesic_handles_eigenvalue_minus_one():
    # a rotation by π in the plane (e1, e2) and the identity elsewhere
    h = np.diag([-1.0, -1.0, 1.0])[None]
    half = geodesic_power(h, 0.5)
    np.testing.assert_allclose(half @ half, h, atol=1e-14)
    np.testing.assert_allclose(half[0, 2, 2], 1.0, atol=1e-15)


@pytest.mark.parametrize("d", [3, 10, 41])
@pytest.mark.parametrize("t", [0.1, 0.5, 0.93])
def test_spectral_calculus_agrees_with_the_schur_form(d, t):
    h = haar(d, replicates=3, seed=d + 1)
    fast = geodesic_power(h, t)
    reference = np.stack([_geodesic_power_schur(x, t) for x in h])
    np.testing.assert_allclose(fast, reference, atol=1e-12)


@pytest.mark.parametrize("gap", [1e-3, 1e-6, 1e-10])
def test_angles_close_to_pi(gap):
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    angle = np.pi - gap
    block = np.eye(5)
    block[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    block[2:4, 2:4] = [[np.cos(0.4), -np.sin(0.4)], [np.sin(0.4), np.cos(0.4)]]
    h = (basis @ block @ basis.T)[None]
    half = geodesic_power(h, 0.5)
    np.testing.assert_allclose(half @ half, h, atol=1e-13)
    # the principal branch: the plane turns by (π − gap)/2, not by its negative
    expected = np.eye(5)
    expected[:2, :2] = [
        [np.cos(angle / 2), -np.sin(angle / 2)],
        [np.sin(angle / 2), np.cos(angle / 2)],
    ]
    expected[2:4, 2:4] = [[np.cos(0.2), -np.sin(0.2)], [np.sin(0.2), np.cos(0.2)]]
    np.testing.assert_allclose(half[0], basis @ expected @ basis.T, atol=1e-12)
