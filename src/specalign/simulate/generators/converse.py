"""``converse``: aligned chains that attain the bounds of THEORY.md §3 (tightness 1).

All four constructions use one eigenbasis ``Q`` for the whole chain (Haar on O(d), or ``I``
with ``initial_basis="identity"``) and symmetric factors ``A_l = Q diag(exp(v_l/2)) Qᵀ`` with a
centered log-spectrum ``v_l = 2 log σ(A_l)`` in the basis order; ``J_0 = I``. Then every
``J_l = Q diag(exp(Σ_{i≤l} v_i / 2)) Qᵀ`` is diagonal in the same basis. Why each is tight
(derivations in docs/theory/generators.md, "Converse constructions"):

- ``"margin"``: power-law steps ``v_l = −δ_l (log k − xbar_d)``, ``δ_l = step · (1/2 + U_l)``
  with ``U_l`` uniform on ``[0, 1)`` (one draw per interface). Every ``J_l`` is an exact power
  law (``ρ_l = 0`` in every chart) and the top direction passes without loss (``s_l = 0``);
  ``r_l = δ_l xbar_d``, so ``|Δα̂_l| = δ_l = max(r_l, s_l)/xbar_d + |Δρ_l|`` (T1 adjacent) at
  every interface, whatever the step.
- ``"displacement"``: the same power-law factors with a backtracking walk: ``δ_l = step ·
  (n_l − n_{l−1})``, ``n_l = |n_{l−1} + s_l|``, ``s_l = −1`` with probability 1/4 (one uniform
  draw per interface), reflected at 0. ``ρ ≡ 0`` and the margin identity give
  ``α̂_l − α̂_0 = (Σ r − Σ s)/xbar_d`` exactly, so the T1 segment bound is attained at every
  interface although backtracking interfaces have ``s_l > 0`` and a loose adjacent margin.
  Where the walk is back at 0 the bound and the actual are both 0 (tightness undefined).
- ``"budget"``: uniform power-law steps ``δ_l = step``. Every ``r_l = step · xbar_d`` equals
  ``2 log M / L`` with the realized ``M = (max_l σ_1/GM)^L``, ``s = 0``, ``ρ = 0``: every
  adjacent drift equals the C1 budget ``2 log M/(L xbar_d)``.
- ``"lidskii"``: non-power-law spectra ordered like the ``ls`` weights: ``v_l`` is the
  decreasing rearrangement of ``−step · log d · U_{l,k}`` (``U`` iid uniform on ``[0, 1)``,
  ``d`` draws per interface), centered, replaced by its mirror image ``−reverse(v_l)`` when
  ``⟨w, v_l + reverse(v_l)⟩ < 0`` (``w`` the full-window ``ls`` weights). The change of
  ``h`` across the interface is then ``v_l`` in the same order as ``w``, so
  ``Δα̂_ls = ⟨sort↑ w, sort↑ v_l⟩``, and the mirror rule makes that the larger branch of the
  T2 bound: equality. The chart residual is not zero (``margin`` is not tight here).

Parameters: ``step`` (the mean exponent step, > 0) and ``initial_basis``. Condition limits as
for ``orbit``: refused with RankDeficientError beyond ``1/eps`` (dense) or ``e^700`` (diagonal).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ._powerlaw import centered_log_ranks, check_condition, symmetric_factors
from ._random import ReplicateRandom
from ._rotation import haar_orthogonal
from ._spec import ParameterSpec

KIND = "converse"
SUMMARY = "aligned constructions attaining the margin, displacement, budget or Lidskii bound"
TARGETS = ("margin", "displacement", "budget", "lidskii")
#: Reversal probability of the ``displacement`` walk.
DISPLACEMENT_REVERSAL = 0.25
#: Largest step multiplier of each target (sets the factor condition number).
_STEP_SPREAD = {"margin": 1.5, "displacement": 1.0, "budget": 1.0, "lidskii": 1.0}

PARAMETERS = {
    "target": ParameterSpec(
        "margin", str, None, None, "which bound the chain attains", choices=TARGETS
    ),
    "step": ParameterSpec(
        0.05,
        float,
        0.0,
        math.inf,
        "mean exponent step δ per interface (eigenvalue rank exponent)",
        low_open=True,
    ),
    "initial_basis": ParameterSpec(
        "haar",
        str,
        None,
        None,
        "the common eigenbasis: Haar-random or the identity (diagonal factors)",
        choices=("haar", "identity"),
    ),
}


def check(d: int, params: dict) -> None:
    """Refuse numerically singular factors."""
    step = params["step"]
    check_condition(
        0.5 * _STEP_SPREAD[params["target"]] * step * math.log(d),
        dense=params["initial_basis"] == "haar",
        kind=KIND,
        what=f"step={step:g} at d={d}",
    )


def stream(
    d: int, depth: int, random: ReplicateRandom, *, target: str, step: float, initial_basis: str
) -> Iterator[np.ndarray]:
    """Yield ``depth`` factor batches of shape ``(R, d, d)`` (see the module docstring)."""
    basis = haar_orthogonal(random, d) if initial_basis == "haar" else None
    centered = centered_log_ranks(d)
    levels = np.zeros(random.replicates, dtype=np.int64)
    for _ in range(depth):
        if target == "margin":
            steps = step * (0.5 + random.uniform())
            log_spectrum = -steps[:, None] * centered
        elif target == "displacement":
            moves = np.where(random.uniform() < DISPLACEMENT_REVERSAL, -1, 1)
            new_levels = np.abs(levels + moves)
            log_spectrum = -(step * (new_levels - levels))[:, None] * centered
            levels = new_levels
        elif target == "budget":
            log_spectrum = np.broadcast_to(-step * centered, (random.replicates, d)).copy()
        else:
            log_spectrum = _lidskii_log_spectrum(random, d, step)
        yield symmetric_factors(basis, log_spectrum)


def _lidskii_log_spectrum(random: ReplicateRandom, d: int, step: float) -> np.ndarray:
    """Decreasing centered log-spectra whose ascending T2 branch is the larger one."""
    spectrum = -step * math.log(d) * np.sort(random.uniform((d,)), axis=-1)
    spectrum -= spectrum.mean(axis=-1, keepdims=True)
    weights = -centered_log_ranks(d)  # ∝ the ls weights; only the sign of the test matters
    mirror = (spectrum + spectrum[:, ::-1]) @ weights < 0.0
    spectrum[mirror] = -spectrum[mirror, ::-1]
    return spectrum
