"""The ``residual_mlp`` generator: Jacobians against finite differences of the actual map."""

from __future__ import annotations

import math

import numpy as np
import pytest

from specalign.errors import NonFiniteError
from specalign.simulate import generate
from specalign.simulate.generators.residual_mlp import (
    ACTIVATION_FUNCTIONS,
    ACTIVATIONS,
    block_jacobian,
    block_map,
    hidden_width,
    normalize_layer,
)

STEP = 1e-6


def central_difference(function, x: np.ndarray) -> np.ndarray:
    """Jacobian of ``function: (R, d) -> (R, n)`` by central differences, shape ``(R, n, d)``."""
    columns = []
    for j in range(x.shape[-1]):
        shift = np.zeros_like(x)
        shift[:, j] = STEP
        columns.append((function(x + shift) - function(x - shift)) / (2 * STEP))
    return np.stack(columns, axis=-1)


def draws(d=7, hidden=11, replicates=3, seed=0):
    rng = np.random.default_rng(seed)
    x = 1.5 * rng.standard_normal((replicates, d))
    w_in = rng.standard_normal((replicates, hidden, d)) / math.sqrt(d)
    w_out = rng.standard_normal((replicates, d, hidden)) / math.sqrt(hidden)
    return x, w_in, w_out


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_derivatives(activation):
    z = np.linspace(-3.1, 2.9, 41)[None]
    _, slope = ACTIVATION_FUNCTIONS[activation](z)
    numeric = (
        ACTIVATION_FUNCTIONS[activation](z + STEP)[0]
        - ACTIVATION_FUNCTIONS[activation](z - STEP)[0]
    ) / (2 * STEP)
    np.testing.assert_allclose(slope, numeric, rtol=1e-7, atol=1e-9)


def test_gelu_is_the_exact_erf_form():
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    value, slope = ACTIVATION_FUNCTIONS["gelu"](z)
    expected = 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    np.testing.assert_allclose(value, expected, rtol=1e-15, atol=1e-16)
    assert slope[0, 2] == 0.5


def test_layer_norm_jacobian_matches_finite_differences():
    x, _, _ = draws(d=9)
    y, jacobian = normalize_layer(x)
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-15)
    np.testing.assert_allclose(np.mean(y**2, axis=-1), 1.0, rtol=1e-14)
    numeric = central_difference(lambda v: normalize_layer(v)[0], x)
    np.testing.assert_allclose(jacobian, numeric, rtol=1e-6, atol=1e-9)
    # Dn kills 1 and x − mean (scale and shift invariance of layer norm)
    np.testing.assert_allclose(jacobian @ np.ones(9), 0.0, atol=1e-14)
    np.testing.assert_allclose(np.einsum("rij,rj->ri", jacobian, y), 0.0, atol=1e-14)


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_block_jacobian_matches_finite_differences(activation, layer_norm):
    x, w_in, w_out = draws(seed=2 * ACTIVATIONS.index(activation) + layer_norm)
    options = {"epsilon": 0.3, "activation": activation, "layer_norm_on": layer_norm}
    jacobian, image = block_jacobian(x, w_in, w_out, **options)
    np.testing.assert_array_equal(image, block_map(x, w_in, w_out, **options))
    numeric = central_difference(lambda v: block_map(v, w_in, w_out, **options), x)
    np.testing.assert_allclose(jacobian, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_stream_is_the_jacobian_along_the_forward_pass(layer_norm):
    d, depth, width_factor, epsilon = 5, 4, 1.3, 0.25
    hidden = hidden_width(d, width_factor)
    factors = list(
        generate(
            "residual_mlp",
            d=d,
            depth=depth,
            replicates=2,
            rng=np.random.default_rng(8),
            epsilon=epsilon,
            activation="relu",
            width_factor=width_factor,
            layer_norm=layer_norm,
        )
    )
    rng = np.random.default_rng(8)  # the documented draw order
    x = rng.standard_normal((2, d))
    for factor in factors:
        w_in = rng.standard_normal((2, hidden, d)) / math.sqrt(d)
        w_out = rng.standard_normal((2, d, hidden)) / math.sqrt(hidden)
        options = {"epsilon": epsilon, "activation": "relu", "layer_norm_on": layer_norm}
        numeric = central_difference(
            lambda v, a=w_in, b=w_out, o=options: block_map(v, a, b, **o), x
        )
        np.testing.assert_allclose(factor, numeric, rtol=1e-6, atol=1e-9)
        x = block_map(x, w_in, w_out, **options)


@pytest.mark.parametrize(
    ("d", "factor", "width"), [(4, 4.0, 16), (5, 0.5, 3), (5, 0.3, 2), (3, 0.01, 1), (10, 1.25, 13)]
)
def test_hidden_width(d, factor, width):
    assert hidden_width(d, factor) == width


def test_overflow_is_reported():
    iterator = generate(
        "residual_mlp",
        d=4,
        depth=10,
        rng=np.random.default_rng(0),
        epsilon=1e155,
        activation="relu",
    )
    with pytest.raises(NonFiniteError, match=r"overflowed at block .*layer_norm=True"):
        list(iterator)
