"""``orbit``: exact power-law factors with controlled backtracking, basis rotation and noise.

Formula
-------
Each factor is symmetric positive definite,

    A_l = Q_l diag(exp(h_l / 2)) Q_lᵀ,    h_{l,k} = −δ_l (log k − xbar_d) + η ξ_{l,k},

so with ``η = 0`` its eigenvalue rank exponent is exactly ``δ_l`` (singular values
``σ_k ∝ k^(−δ_l/2)``) and ``|det A_l| = 1`` (``h`` is centered). THEORY.md D2, D6, §6.

*Exponent steps* (``step``, ``backtrack``). ``δ_l = step · (n_l − n_{l−1})`` with the level
walk ``n_0 = 0``, ``n_l = |n_{l−1} + s_l|``: ``s_l = −1`` (a reversal) independently with
probability ``backtrack`` (one uniform draw per interface, only when ``backtrack > 0``), else
``+1``. A reversal at level 0 is reflected into a forward step, so the cumulative exponent
``Σ_{i≤l} δ_i = step · n_l`` never goes below 0 and, at ``slack = noise = 0``, ``J_l`` is an
exact power law of exponent ``step · n_l``. A reversed factor has its spectrum increasing in the
eigenbasis order: its top direction is the chain's bottom one, so it creates slack ``s_l > 0``
even with aligned bases (the "non-backtracking" slack of THEORY.md D6).

*Eigenbases* (``slack`` = ``t``, ``initial_basis``). ``Q_0`` is Haar on O(d)
(``initial_basis="haar"``, one Gaussian ``(d, d)`` draw before the first interface) or ``I``
(``"identity"``: factors are exactly diagonal while ``t = 0``); ``J_0 = I`` either way.
``Q_l = Q_{l−1} exp(t log H_l)`` with ``H_l`` Haar on SO(d) (drawn only when ``t > 0``): the
point at fraction ``t`` of the geodesic from ``I`` to ``H_l``. ``t = 0`` keeps one common
eigenbasis (zero slack, exact chart); ``t = 1`` gives ``Q_l = Q_{l−1} H_l``, Haar and
independent of ``Q_{l−1}``. ``Q_l`` is re-orthonormalized (QR) at every interface.

*Off-chart noise* (``noise``, ``noise_units``, ``noise_modes`` = ``m``, ``keep_top``).
``ξ_l = Σ_j c_{lj} φ_j`` with ``c_l`` uniform on the unit sphere of R^m (``m`` normal draws)
and ``φ_j`` the orthonormal smooth modes of :class:`~._powerlaw.NoiseBasis` (Legendre
polynomials in ``k/d``, orthogonalized by least squares over all ranks against ``1`` and
``log k``, and against ``e_1`` when ``keep_top``). Hence the full-window ``ls`` exponent of
every factor is still ``δ_l``, its fit residual is ``η ξ_l`` with RMS exactly ``η``, and with
``keep_top`` the top-radial coordinate ``ū`` is unchanged too (equal ``ū`` and ``α̂``,
different shapes: THEORY.md T3). The largest slope in ``log k`` of any unit-RMS ``ξ`` is
``g(d, m)`` (about 5, 17, 38 for ``m = 1, 2, 3``, nearly independent of ``d``), so the factor
spectrum stays monotone for every draw iff ``η ≤ step / g``: larger noise is **refused** with
an InputError naming that limit (``step = 0`` with ``η > 0`` is refused too). ``η = noise``
with ``noise_units="rms"`` (default); with ``"admissible"``, ``noise ∈ [0, 1]`` is a fraction
of the limit, ``η = noise · step / g``, so a sweep never hits the refusal. The guarantee is
per factor; at ``slack = 0`` without backtracking ``J_l`` stays ordered as well (slopes add),
with backtracking the accumulated noise may reorder ``J_l``.

Factors whose condition number ``exp((step·log d + η·|ξ_1 − ξ_d|_max)/2)`` exceeds ``1/eps``
(dense factors) or ``e^700`` (diagonal factors, ``initial_basis="identity"``, ``slack=0``) are
refused with RankDeficientError.

Draw order per interface and replicate: reversal uniform (if ``backtrack > 0``), noise
coefficients (if ``noise > 0``), rotation ``(d, d)`` Gaussian (if ``slack > 0``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ._powerlaw import (
    centered_log_ranks,
    check_condition,
    check_noise,
    draw_deformation,
    noise_basis,
    symmetric_factors,
)
from ._random import ReplicateRandom
from ._rotation import geodesic_power, haar_orthogonal, reorthonormalize
from ._spec import ParameterSpec

KIND = "orbit"
SUMMARY = (
    "exact power-law factors Q diag(k^(−δ/2)) Qᵀ with backtracking, eigenbasis rotation (slack) "
    "and chart-orthogonal noise"
)
PARAMETERS = {
    "step": ParameterSpec(
        0.05, float, 0.0, math.inf, "exponent step δ per interface (eigenvalue rank exponent)"
    ),
    "backtrack": ParameterSpec(
        0.0,
        float,
        0.0,
        1.0,
        "probability that a step is reversed (δ_l = −step), walk reflected at exponent 0",
        high_open=True,
    ),
    "slack": ParameterSpec(
        0.0,
        float,
        0.0,
        1.0,
        "fraction of the SO(d) geodesic to an independent Haar rotation between consecutive "
        "eigenbases (0 aligned, 1 independent)",
    ),
    "noise": ParameterSpec(
        0.0,
        float,
        0.0,
        math.inf,
        "RMS η of the chart-orthogonal deformation of each factor's log-spectrum 2 log σ "
        "(in units of the largest order-preserving η when noise_units='admissible')",
    ),
    "noise_units": ParameterSpec(
        "rms",
        str,
        None,
        None,
        "noise is the RMS η itself, or a fraction in [0, 1] of the largest admissible η",
        choices=("rms", "admissible"),
    ),
    "noise_modes": ParameterSpec(
        2, int, 1, 16, "number m of smooth modes spanning the random deformation"
    ),
    "keep_top": ParameterSpec(
        False, bool, None, None, "also keep the top rank fixed (ū unchanged by the noise)"
    ),
    "initial_basis": ParameterSpec(
        "haar",
        str,
        None,
        None,
        "eigenbasis Q_0: Haar-random, or the identity (diagonal factors while slack = 0)",
        choices=("haar", "identity"),
    ),
}


def max_admissible_noise(
    d: int, step: float, noise_modes: int = 2, keep_top: bool = False
) -> float:
    """Largest ``noise`` that keeps every factor spectrum ordered: ``step / g(d, noise_modes)``.

    ``g`` is the largest slope in ``log k`` of a unit-RMS deformation (module docstring); the
    limit is sharp (some coefficient direction reaches a tie). It is 0 when
    ``d < noise_modes + 2`` (``+ 3`` with ``keep_top``): no deformation fits.
    """
    fixed = 3 if keep_top else 2
    if d < noise_modes + fixed:
        return 0.0
    return step / noise_basis(d, noise_modes, keep_top).slope_bound


def noise_rms(
    d: int, step: float, noise: float, noise_units: str, modes: int, keep_top: bool
) -> float:
    """The RMS ``η`` of the deformation: ``noise``, or ``noise · step / g`` (admissible units)."""
    if noise_units == "rms" or noise == 0.0:
        return noise
    return noise * max_admissible_noise(d, step, modes, keep_top)


def check(d: int, params: dict) -> None:
    """Refuse order-breaking noise and numerically singular factors (module docstring)."""
    step, modes, keep_top = params["step"], params["noise_modes"], params["keep_top"]
    relative = params["noise_units"] == "admissible"
    check_noise(d, step, params["noise"], modes, keep_top, KIND, relative=relative)
    noise = noise_rms(d, step, params["noise"], params["noise_units"], modes, keep_top)
    span = noise_basis(d, modes, keep_top).span_bound if noise else 0.0
    dense = params["initial_basis"] == "haar" or params["slack"] > 0.0
    check_condition(
        0.5 * (step * math.log(d) + noise * span),
        dense=dense,
        kind=KIND,
        what=f"step={step:g}, noise={noise:g} at d={d}",
    )


def stream(
    d: int,
    depth: int,
    random: ReplicateRandom,
    *,
    step: float,
    backtrack: float,
    slack: float,
    noise: float,
    noise_units: str,
    noise_modes: int,
    keep_top: bool,
    initial_basis: str,
) -> Iterator[np.ndarray]:
    """Yield ``depth`` factor batches of shape ``(R, d, d)`` (see the module docstring)."""
    replicates = random.replicates
    noise = noise_rms(d, step, noise, noise_units, noise_modes, keep_top)
    centered = centered_log_ranks(d)
    basis = haar_orthogonal(random, d) if initial_basis == "haar" else None
    if basis is None and slack > 0.0:
        basis = np.broadcast_to(np.eye(d), (replicates, d, d)).copy()
    deformations = noise_basis(d, noise_modes, keep_top) if noise > 0.0 else None
    levels = np.zeros(replicates, dtype=np.int64)
    for _ in range(depth):
        if backtrack > 0.0:
            moves = np.where(random.uniform() < backtrack, -1, 1)
            new_levels = np.abs(levels + moves)
            steps = step * (new_levels - levels)
            levels = new_levels
        else:
            steps = np.full(replicates, step)
        log_spectrum = -steps[:, None] * centered
        if deformations is not None:
            log_spectrum = log_spectrum + noise * draw_deformation(random, deformations)
        if slack > 0.0:
            rotation = geodesic_power(haar_orthogonal(random, d, special=True), slack)
            basis = reorthonormalize(basis @ rotation)
        yield symmetric_factors(basis, log_spectrum)
