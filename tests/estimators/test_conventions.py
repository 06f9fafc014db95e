"""Tests of the exponent-convention conversions (THEORY.md D2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specalign.errors import InputError
from specalign.estimators import orbit as orb
from specalign.estimators.conventions import (
    density_tail_exponent_from_rank,
    rank_exponent_from_density_tail,
    rank_exponent_from_singular_value,
    singular_value_exponent_from_rank,
)


def test_exact_values():
    assert singular_value_exponent_from_rank(2.0) == 1.0
    assert rank_exponent_from_singular_value(0.25) == 0.5
    assert density_tail_exponent_from_rank(1.0) == 2.0
    assert density_tail_exponent_from_rank(0.5) == 3.0
    assert rank_exponent_from_density_tail(2.0) == 1.0
    assert rank_exponent_from_density_tail(5.0) == 0.25


def test_flat_spectrum_has_infinite_tail_exponent_and_back():
    assert density_tail_exponent_from_rank(0.0) == math.inf
    assert rank_exponent_from_density_tail(math.inf) == 0.0
    out = rank_exponent_from_density_tail(np.array([np.inf, 3.0]))
    np.testing.assert_array_equal(out, [0.0, 0.5])
    assert density_tail_exponent_from_rank(5e-324) == math.inf


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False, allow_subnormal=False), min_size=1, max_size=8))
def test_round_trips(values):
    alpha = np.array(values)
    np.testing.assert_allclose(
        rank_exponent_from_singular_value(singular_value_exponent_from_rank(alpha)), alpha
    )
    positive = alpha[alpha > 1e-6]
    np.testing.assert_allclose(
        rank_exponent_from_density_tail(density_tail_exponent_from_rank(positive)),
        positive,
        rtol=1e-9,
    )


def test_shapes_broadcast():
    alpha = np.linspace(0.1, 4, 12).reshape(3, 4)
    assert singular_value_exponent_from_rank(alpha).shape == (3, 4)
    assert density_tail_exponent_from_rank(alpha).shape == (3, 4)
    assert rank_exponent_from_density_tail(1 + alpha).shape == (3, 4)
    assert np.ndim(density_tail_exponent_from_rank(1.0)) == 0


def test_singular_values_of_an_orbit_spectrum_have_half_the_exponent():
    d, alpha = 200, 1.6
    sigma = np.sqrt(orb.orbit(alpha, d))
    slope = np.polyfit(np.log(np.arange(1, d + 1)), np.log(sigma), 1)[0]
    assert -slope == pytest.approx(singular_value_exponent_from_rank(alpha), rel=1e-12)


def test_density_exponent_matches_the_counting_function_of_a_power_law():
    # λ_k = k^(−α): N(t) = #{λ > t} = t^(−1/α), the density falls as t^(−a), a = 1 + 1/α.
    alpha = 0.8
    lam = np.arange(1, 10**6 + 1, dtype=float) ** -alpha
    t = np.array([1e-4, 1e-3, 1e-2])
    counts = np.array([np.count_nonzero(lam > x) for x in t])
    slope = np.polyfit(np.log(t), np.log(counts), 1)[0]
    assert 1 - slope == pytest.approx(density_tail_exponent_from_rank(alpha), rel=1e-3)


def test_bad_inputs():
    with pytest.raises(InputError, match="> 1"):
        rank_exponent_from_density_tail(1.0)
    with pytest.raises(InputError, match="> 1"):
        rank_exponent_from_density_tail([3.0, 0.5])
    with pytest.raises(InputError, match="NaN"):
        rank_exponent_from_density_tail(np.nan)
    with pytest.raises(InputError, match="real numeric"):
        rank_exponent_from_density_tail("two")
    for function in (
        singular_value_exponent_from_rank,
        rank_exponent_from_singular_value,
        density_tail_exponent_from_rank,
    ):
        with pytest.raises(InputError, match=">= 0"):
            function(-1.0)
        with pytest.raises(InputError):
            function(np.nan)
