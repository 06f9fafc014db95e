"""``residual_mlp``: Jacobians of a random residual MLP along a forward pass.

Formula
-------
The map of block ``l`` is ``F_l(x) = x + ε W2_l φ(W1_l n(x))`` and the chain runs
``x_l = F_l(x_{l−1})`` from ``x_0 ~ N(0, I_d)``. The factor is its Jacobian at the current state:

    A_l = DF_l(x_{l−1}) = I + ε W2_l diag(φ'(W1_l n(x_{l−1}))) W1_l Dn(x_{l−1}),

so ``J_l = A_l ⋯ A_1`` is the input–output Jacobian of the first ``l`` blocks (chain rule).

- Weights: hidden width ``p = max(1, ⌊width_factor · d + 1/2⌋)``; ``W1_l`` is ``p × d`` with iid
  ``N(0, 1/d)`` entries and ``W2_l`` is ``d × p`` with iid ``N(0, 1/p)`` entries (fan-in
  variance scaling, so ``W1 x`` and ``W2 φ`` have O(1) entries), fresh at every block.
- ``φ`` (``activation``): ``tanh`` (``φ' = 1 − tanh²``); ``relu`` (``φ' = 1[z > 0]``, 0 at the
  kink); ``gelu`` in the exact erf form ``φ(z) = z Φ(z)``, ``φ'(z) = Φ(z) + z ϕ(z)``
  (``Φ``, ``ϕ`` the standard normal cdf and density).
- ``n`` (``layer_norm``): the identity, or layer norm without affine parameters and without
  epsilon, ``n(x) = y = (x − m 1)/s`` with ``m = mean(x)``, ``s² = mean((x − m)²)``, whose
  Jacobian is ``Dn(x) = (I − 11ᵀ/d − y yᵀ/d)/s`` (docs/theory/generators.md).

Draw order per replicate: ``x_0`` (``d`` normals) once, then per block ``W1`` (``p·d``) and
``W2`` (``d·p``) normals. A state that overflows (possible without layer norm after very many
blocks) raises NonFiniteError. THEORY.md D6.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
from scipy.special import ndtr

from ...errors import NonFiniteError
from ._random import ReplicateRandom
from ._spec import ParameterSpec

KIND = "residual_mlp"
SUMMARY = "Jacobians I + ε W2 diag(φ') W1 Dn of a random residual MLP along a forward pass"
ACTIVATIONS = ("tanh", "relu", "gelu")
PARAMETERS = {
    "epsilon": ParameterSpec(
        0.1, float, 0.0, math.inf, "residual branch scale ε in x + ε W2 φ(W1 n(x))"
    ),
    "activation": ParameterSpec(
        "tanh", str, None, None, "nonlinearity φ of the hidden layer", choices=ACTIVATIONS
    ),
    "width_factor": ParameterSpec(
        4.0,
        float,
        0.0,
        math.inf,
        "hidden width p = round(width_factor · d) (at least 1)",
        low_open=True,
    ),
    "layer_norm": ParameterSpec(
        False, bool, None, None, "apply layer norm (no affine, no epsilon) before the block"
    ),
}

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _tanh(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    value = np.tanh(z)
    return value, 1.0 - value**2


def _relu(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    positive = z > 0.0
    return np.where(positive, z, 0.0), positive.astype(np.float64)


def _gelu(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cdf = ndtr(z)
    return z * cdf, cdf + z * _INV_SQRT_2PI * np.exp(-0.5 * z**2)


#: ``name -> z ↦ (φ(z), φ'(z))``.
ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "tanh": _tanh,
    "relu": _relu,
    "gelu": _gelu,
}


def hidden_width(d: int, width_factor: float) -> int:
    """``p = max(1, ⌊width_factor · d + 1/2⌋)``."""
    return max(1, math.floor(width_factor * d + 0.5))


def normalize_layer(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Layer norm ``y = (x − mean x)/std x`` and its Jacobian, shapes ``(R, d)``, ``(R, d, d)``.

    Notes
    -----
    ``Dn(x) = (I − 11ᵀ/d − y yᵀ/d) / s`` with ``s`` the population standard deviation of ``x``
    (docs/theory/generators.md, "Layer-norm Jacobian").
    """
    d = x.shape[-1]
    centered = x - x.mean(axis=-1, keepdims=True)
    std = np.sqrt(np.mean(centered**2, axis=-1, keepdims=True))
    y = centered / std
    projector = np.eye(d) - 1.0 / d - y[:, :, None] * y[:, None, :] / d
    return y, projector / std[:, :, None]


def block_map(
    x: np.ndarray,
    w_in: np.ndarray,
    w_out: np.ndarray,
    *,
    epsilon: float,
    activation: str,
    layer_norm_on: bool,
) -> np.ndarray:
    """``F(x) = x + ε W2 φ(W1 n(x))`` for a batch.

    Shapes: ``x (R, d)``, ``w_in = W1 (R, p, d)``, ``w_out = W2 (R, d, p)``; returns ``(R, d)``.
    """
    normalized = normalize_layer(x)[0] if layer_norm_on else x
    value, _ = ACTIVATION_FUNCTIONS[activation](np.einsum("rpd,rd->rp", w_in, normalized))
    return x + epsilon * np.einsum("rdp,rp->rd", w_out, value)


def block_jacobian(
    x: np.ndarray,
    w_in: np.ndarray,
    w_out: np.ndarray,
    *,
    epsilon: float,
    activation: str,
    layer_norm_on: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(DF(x), F(x))`` for a batch, shapes ``(R, d, d)`` and ``(R, d)`` (module docstring)."""
    if layer_norm_on:
        normalized, norm_jacobian = normalize_layer(x)
        w_in_eff = w_in @ norm_jacobian
    else:
        normalized, w_in_eff = x, w_in
    value, slope = ACTIVATION_FUNCTIONS[activation](np.einsum("rpd,rd->rp", w_in, normalized))
    jacobian = np.eye(x.shape[-1]) + epsilon * (w_out @ (slope[:, :, None] * w_in_eff))
    return jacobian, x + epsilon * np.einsum("rdp,rp->rd", w_out, value)


def check(d: int, params: dict) -> None:
    """No constraint beyond the parameter ranges."""


def stream(
    d: int,
    depth: int,
    random: ReplicateRandom,
    *,
    epsilon: float,
    activation: str,
    width_factor: float,
    layer_norm: bool,
) -> Iterator[np.ndarray]:
    """Yield ``depth`` factor batches of shape ``(R, d, d)`` (see the module docstring)."""
    hidden = hidden_width(d, width_factor)
    state = random.standard_normal((d,))
    for block in range(1, depth + 1):
        w_in = random.standard_normal((hidden, d)) / math.sqrt(d)
        w_out = random.standard_normal((d, hidden)) / math.sqrt(hidden)
        # overflow is detected below and reported as one NonFiniteError, not as warnings
        with np.errstate(over="ignore", invalid="ignore"):
            factor, state = block_jacobian(
                state,
                w_in,
                w_out,
                epsilon=epsilon,
                activation=activation,
                layer_norm_on=layer_norm,
            )
        if not np.all(np.isfinite(factor)) or not np.all(np.isfinite(state)):
            raise NonFiniteError(
                f"generator 'residual_mlp': the forward pass overflowed at block {block}; "
                "use layer_norm=True, a smaller epsilon, or a shallower chain"
            )
        yield factor
