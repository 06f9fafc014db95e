"""``heavy_tailed``: near-identity factors with iid Student-t perturbations.

Formula
-------
``A_l = I + (ε / (c_ν √d)) T_l`` with ``T_l`` a ``d×d`` matrix of iid Student-t entries with
``ν`` degrees of freedom, independent across interfaces and replicates. The scale ``c_ν`` is set
by ``normalize``:

- ``"quartile"`` (default): ``c_ν = t_ν^{-1}(3/4) / Φ^{-1}(3/4)``, so the entries of ``T/c_ν``
  have the quartiles of a standard normal. Defined for every ``ν > 0``, continuous in ``ν``,
  and ``→ 1`` as ``ν → ∞``, where the kind becomes ``ginibre`` with the same ``ε``.
- ``"std"``: ``c_ν = √(ν/(ν − 2))``, unit-variance entries (requires ``ν > 2``).
- ``"none"``: ``c_ν = 1``.

Draws per interface and replicate: one ``(d, d)`` array from ``Generator.standard_t``. A draw
that overflows (possible only for tiny ``ν``) raises NonFiniteError. THEORY.md D6.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from scipy.special import ndtri, stdtrit

from ...errors import InputError, NonFiniteError
from ._random import ReplicateRandom
from ._spec import ParameterSpec

KIND = "heavy_tailed"
SUMMARY = "near-identity factors I + (ε/(c_ν √d))·T with iid Student-t(ν) entries T"
PARAMETERS = {
    "epsilon": ParameterSpec(
        0.3, float, 0.0, math.inf, "perturbation size ε in A = I + (ε/(c_ν √d))·T"
    ),
    "nu": ParameterSpec(
        3.0, float, 0.0, math.inf, "Student-t degrees of freedom ν (tail index)", low_open=True
    ),
    "normalize": ParameterSpec(
        "quartile",
        str,
        None,
        None,
        "scale c_ν of the t entries: match normal quartiles, unit variance (ν > 2), or none",
        choices=("quartile", "std", "none"),
    ),
}


def entry_scale(nu: float, normalize: str) -> float:
    """The divisor ``c_ν`` of the Student-t entries (see the module docstring)."""
    if normalize == "quartile":
        return float(stdtrit(nu, 0.75) / ndtri(0.75))
    if normalize == "std":
        return math.sqrt(nu / (nu - 2.0))
    return 1.0


def check(d: int, params: dict) -> None:
    """``normalize="std"`` needs a finite variance, ``ν > 2``."""
    if params["normalize"] == "std" and params["nu"] <= 2.0:
        raise InputError(
            f"generator 'heavy_tailed': normalize='std' needs nu > 2 (the Student-t variance "
            f"is infinite for nu <= 2); got nu={params['nu']:g}. Use normalize='quartile'"
        )


def stream(
    d: int, depth: int, random: ReplicateRandom, *, epsilon: float, nu: float, normalize: str
) -> Iterator[np.ndarray]:
    """Yield ``depth`` factor batches of shape ``(R, d, d)`` (see the module docstring)."""
    identity = np.eye(d)
    scale = epsilon / (entry_scale(nu, normalize) * math.sqrt(d))
    for interface in range(1, depth + 1):
        entries = random.standard_t(nu, (d, d))
        if not np.all(np.isfinite(entries)):
            raise NonFiniteError(
                f"generator 'heavy_tailed': a Student-t draw with nu={nu:g} overflowed at "
                f"interface {interface}; raise nu"
            )
        yield identity + scale * entries
