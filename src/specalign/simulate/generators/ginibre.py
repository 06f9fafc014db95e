"""``ginibre``: near-identity factors with iid Gaussian perturbations.

Formula
-------
``A_l = I + (ε/√d) G_l`` with ``G_l`` a ``d×d`` matrix of iid standard normal entries,
independent across interfaces and replicates. The ``1/√d`` scaling keeps ``‖G_l/√d‖₂ → 2`` as
``d`` grows (largest singular value, Bai–Yin), so ``ε`` sets the operator-norm size of the
perturbation, up to that factor of 2, whatever ``d``. Draws per interface and replicate: one
``(d, d)`` standard normal array. THEORY.md D6, T5 (near-identity expansion).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ._random import ReplicateRandom
from ._spec import ParameterSpec

KIND = "ginibre"
SUMMARY = "near-identity factors I + (ε/√d)·G with iid standard Gaussian G"
PARAMETERS = {
    "epsilon": ParameterSpec(0.3, float, 0.0, math.inf, "perturbation size ε in A = I + (ε/√d)·G"),
}


def check(d: int, params: dict) -> None:
    """No constraint beyond the parameter ranges."""


def stream(d: int, depth: int, random: ReplicateRandom, *, epsilon: float) -> Iterator[np.ndarray]:
    """Yield ``depth`` factor batches of shape ``(R, d, d)`` (see the module docstring)."""
    identity = np.eye(d)
    scale = epsilon / math.sqrt(d)
    for _ in range(depth):
        yield identity + scale * random.standard_normal((d, d))
