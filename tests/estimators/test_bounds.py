"""Unit tests of the bound formulas (THEORY.md §3, §5) on hand-computed cases."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from specalign.estimators import bounds as bnd


def test_bound_names_are_the_theory_table():
    assert bnd.BOUNDS == (
        "margin",
        "displacement",
        "apriori",
        "budget",
        "lidskii",
        "hellinger",
        "transport",
        "action",
    )


def test_margin_bound_value():
    got = bnd.margin_bound(
        np.array([0.3, 0.1]), np.array([0.1, 0.4]), np.array([-0.02, 0.0]), xbar=2.0
    )
    np.testing.assert_allclose(got, [0.3 / 2 + 0.02, 0.4 / 2])


def test_budget_bound_is_max_r_plus_max_s_plus_max_residual_step():
    r = np.array([[0.1, 0.5, 0.2]])
    s = np.array([[0.0, 0.1, 0.3]])
    step = np.array([[0.01, -0.05, 0.0]])
    np.testing.assert_allclose(bnd.budget_bound(r, s, step, xbar=0.5), [1.0 + 0.6 + 0.05])


def test_tightness_ratio_nan_where_bound_zero_and_violation_rule():
    ratio, violation = bnd.tightness(
        np.array([0.0, 0.5, 1.0 + 1e-10, 1.1]), np.array([0.0, 1.0, 1.0, 1.0])
    )
    assert np.isnan(ratio[0])
    np.testing.assert_allclose(ratio[1:], [0.5, 1.0 + 1e-10, 1.1])
    np.testing.assert_array_equal(violation, [False, False, False, True])


def test_tightness_nan_bound_is_not_a_violation():
    ratio, violation = bnd.tightness(np.array([1.0]), np.array([np.nan]))
    assert np.isnan(ratio[0]) and not violation[0]


@settings(max_examples=60, deadline=None)
@given(
    w=arrays(np.float64, 5, elements=st.floats(-3, 3)),
    v=arrays(np.float64, 5, elements=st.floats(-3, 3)),
)
def test_lidskii_bound_is_the_max_over_permutations(w, v):
    w = w - w.mean()
    extremes = [np.dot(w, 2 * np.asarray(p)) for p in itertools.permutations(v)]
    expected = max(max(extremes), -min(extremes))
    np.testing.assert_allclose(bnd.lidskii_bound(w, v), expected, rtol=1e-12, atol=1e-12)


def test_transport_bound_running_sum_and_nan_after_eps_one():
    eps = np.array([0.1, 0.2, 1.5, 0.1])
    got = bnd.transport_bound(eps, d=4)
    step = 2 * eps[:2] / (1 - eps[:2])
    np.testing.assert_allclose(got[:2], 2 * np.cumsum(step))
    assert np.all(np.isnan(got[2:]))


def test_action_bound_is_cauchy_schwarz():
    b = np.array([0.1, 0.3, 0.2])
    got = bnd.action_bound(b)
    np.testing.assert_allclose(got, np.sqrt(np.arange(1, 4) * np.cumsum(b**2)))
    assert np.all(np.cumsum(b) <= got + 1e-15)


def test_hellinger_bound_formula():
    got = bnd.hellinger_bound(0.01, -0.4, 0.02)
    assert got == pytest.approx(0.03 + 0.4 / (2 * np.sqrt(2)))


def test_bound_at_rounding_level_has_undefined_tightness():
    ratio, violation = bnd.tightness(np.array([1.8e-15]), np.array([1e-15]))
    assert np.isnan(ratio[0]) and not violation[0]
