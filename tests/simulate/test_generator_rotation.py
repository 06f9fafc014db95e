"""Haar draws and the SO(d) geodesic used to rotate eigenbases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from specalign.simulate.generators._random import ReplicateRandom
from specalign.simulate.generators._rotation import geodesic_power, haar_orthogonal


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
