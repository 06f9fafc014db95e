"""The public names DESIGN.md promises, reached from the top-level package."""

import numpy as np
import pytest

import specalign


def test_contract_names_exist():
    for name in (
        "spectrum",
        "orbit",
        "fit_exponent",
        "top_radial",
        "effective_rank",
        "analyze_chain",
        "run_study",
        "product_log_singular_values",
        "lyapunov_spectrum",
    ):
        assert callable(getattr(specalign, name)), name
    assert callable(specalign.simulate.generate)


def test_orbit_round_trip_through_the_public_api():
    lam = specalign.orbit(np.array([0.0, 0.7, 2.5]), 50)
    assert lam.shape == (3, 50)
    np.testing.assert_allclose(lam.sum(axis=-1), 50.0, rtol=1e-13)
    np.testing.assert_allclose(specalign.fit_exponent(lam), [0.0, 0.7, 2.5], atol=1e-10)
    np.testing.assert_allclose(specalign.top_radial(lam), [0.0, 0.7, 2.5], atol=1e-10)


def test_spectrum_of_a_diagonal_matrix():
    s = np.array([3.0, 2.0, 1.0])
    lam = specalign.spectrum(np.diag(s[::-1]))
    np.testing.assert_allclose(lam, 3 * s**2 / np.sum(s**2), rtol=1e-14)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        specalign.does_not_exist  # noqa: B018
