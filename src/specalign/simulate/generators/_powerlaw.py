"""Power-law log-spectra, their off-chart deformations, and symmetric factors built from them.

Shared by the ``orbit`` and ``converse`` generators. Conventions (THEORY.md D2): the exponent is
on the eigenvalues of ``P``, so a factor with exponent ``δ`` has singular values
``σ_k ∝ k^(−δ/2)``; its log-spectrum ``h_k = 2 log σ_k`` is centered (``Σ_k h_k = 0``, i.e.
``|det A| = 1``). See docs/theory/generators.md.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.polynomial import legendre

from ...errors import InputError, RankDeficientError

#: Largest ``log(σ_1/σ_d)`` of a diagonal factor: ``σ`` stays far inside float64's range.
MAX_LOG_CONDITION_DIAGONAL = 700.0
#: Largest ``log(σ_1/σ_d)`` of a dense factor: beyond ``1/eps`` it is numerically singular.
MAX_LOG_CONDITION_DENSE = -math.log(np.finfo(np.float64).eps)


@functools.lru_cache(maxsize=64)
def centered_log_ranks(d: int) -> np.ndarray:
    """``x_k − xbar_d`` with ``x_k = log k``, shape ``(d,)`` (read-only)."""
    x = np.log(np.arange(1, d + 1, dtype=np.float64))
    out = x - x.mean()
    out.setflags(write=False)
    return out


class NoiseBasis:
    """Orthonormal smooth deformations of a log-spectrum that leave the ``ls`` chart unchanged.

    Attributes
    ----------
    modes : ndarray, shape (d, m)
        Columns ``φ_j`` with ``(1/d) Σ_k φ_jk φ_ik = δ_ij`` (unit RMS, orthogonal), orthogonal
        to ``1`` and ``log k`` (and to ``e_1`` when ``keep_top``).
    slope_bound : float
        ``g = max_k ‖(φ_{j,k+1} − φ_{j,k})_j‖₂ / (log(k+1) − log k)``: the largest slope in
        ``log k`` of any unit-RMS deformation ``ξ = Σ c_j φ_j`` with ``‖c‖₂ = 1`` (attained).
    span_bound : float
        ``‖(φ_{j,1} − φ_{j,d})_j‖₂``: the largest ``|ξ_1 − ξ_d|`` of such a deformation.

    Notes
    -----
    The modes span Legendre polynomials ``P_1..P_m`` in ``t = 2(k − 1/2)/d − 1`` (smooth
    functions of ``k/d``, hence of ``log k``, with slope ``dξ/d log k = (k/d) dξ/d(k/d)``
    bounded), orthogonalized by least squares over all ranks against ``1``, ``log k`` (and
    ``e_1``). Functions of ``k/d`` keep ``g`` bounded in ``d`` (about 5 for one mode, 17 for
    two, 38 for three); polynomials in ``log k`` would not, because least squares over all
    ranks puts almost no weight on the head.
    """

    def __init__(self, d: int, modes: int, keep_top: bool):
        k = np.arange(1, d + 1, dtype=np.float64)
        x = np.log(k)
        t = 2.0 * (k - 0.5) / d - 1.0
        fixed = [np.ones(d), x] + ([np.eye(d)[0]] if keep_top else [])
        smooth = [legendre.legval(t, np.eye(modes + 1)[j]) for j in range(1, modes + 1)]
        design = np.stack(fixed + smooth, axis=1)
        q, r = np.linalg.qr(design)
        diag = np.abs(np.diagonal(r))
        if np.any(diag < 1e-10 * diag.max()):
            raise InputError(  # pragma: no cover - excluded by the d >= modes + fixed check
                f"noise basis of {modes} mode(s) is degenerate at d={d}; lower noise_modes"
            )
        self.modes = math.sqrt(d) * q[:, len(fixed) :]
        self.modes.setflags(write=False)
        slopes = np.diff(self.modes, axis=0) / np.diff(x)[:, None]
        self.slope_bound = float(np.sqrt(np.sum(slopes**2, axis=1)).max())
        self.span_bound = float(np.linalg.norm(self.modes[0] - self.modes[-1]))


@functools.lru_cache(maxsize=64)
def noise_basis(d: int, modes: int, keep_top: bool) -> NoiseBasis:
    """Cached :class:`NoiseBasis` for ``(d, modes, keep_top)``."""
    return NoiseBasis(d, modes, keep_top)


def check_noise(
    d: int, step: float, noise: float, modes: int, keep_top: bool, kind: str, *, relative: bool
) -> None:
    """Refuse a deformation that could reorder a factor's spectrum (THEORY.md §6).

    The factor log-spectrum ``∓step·(log k − xbar) + η·ξ`` stays monotone in ``k`` for every
    draw iff ``η · slope_bound ≤ step``. With ``relative``, ``noise`` is ``η`` in units of that
    limit and must be at most 1.
    """
    if noise == 0.0:
        return
    fixed = 3 if keep_top else 2
    if d < modes + fixed:
        raise InputError(
            f"generator {kind!r}: noise={noise:g} with noise_modes={modes}"
            f"{' and keep_top=True' if keep_top else ''} needs d >= {modes + fixed} (the "
            f"deformation must be orthogonal to {fixed} fixed directions); got d={d}. Lower "
            "noise_modes or raise d"
        )
    if step == 0.0:
        raise InputError(
            f"generator {kind!r}: noise={noise:g} with step=0 is impossible: a flat spectrum "
            "has no room for an order-preserving deformation; set step > 0 or noise = 0"
        )
    if relative:
        if noise > 1.0:
            raise InputError(
                f"generator {kind!r}: noise={noise:g} with noise_units='admissible' is a "
                "fraction of the largest order-preserving noise and must be at most 1"
            )
        return
    basis = noise_basis(d, modes, keep_top)
    max_noise = step / basis.slope_bound
    if noise > max_noise:
        raise InputError(
            f"generator {kind!r}: noise={noise:g} could reorder the factor spectrum (the "
            f"deformation's slope in log k would exceed step={step:g}). With d={d}, "
            f"noise_modes={modes}{', keep_top=True' if keep_top else ''} the largest "
            f"admissible noise is step/{basis.slope_bound:.4g} = {max_noise:.4g}; lower noise, "
            "raise step, use fewer noise_modes, or give noise as a fraction of that limit with "
            "noise_units='admissible'"
        )


def check_condition(log_condition: float, *, dense: bool, kind: str, what: str) -> None:
    """Refuse factors that are numerically singular (dense) or leave float64's range."""
    limit = MAX_LOG_CONDITION_DENSE if dense else MAX_LOG_CONDITION_DIAGONAL
    if log_condition > limit:
        cure = (
            "use initial_basis='identity' with slack=0 (diagonal factors keep every singular "
            "value exactly) or lower it"
            if dense
            else "lower it"
        )
        raise RankDeficientError(
            f"generator {kind!r}: {what} gives factors with condition number up to "
            f"exp({log_condition:.4g}), beyond the float64 limit exp({limit:.4g}) for "
            f"{'dense' if dense else 'diagonal'} factors (numerically singular); {cure}"
        )


def draw_deformation(random, basis: NoiseBasis) -> np.ndarray:
    """Random unit-RMS deformations ``ξ = Σ_j c_j φ_j``, ``c`` uniform on the unit sphere.

    Draws ``m`` standard normals per replicate; returns shape ``(R, d)``.
    """
    coefficients = random.standard_normal((basis.modes.shape[1],))
    coefficients /= np.linalg.norm(coefficients, axis=-1, keepdims=True)
    return coefficients @ basis.modes.T


def symmetric_factors(basis: np.ndarray | None, log_spectrum: np.ndarray) -> np.ndarray:
    """``A = Q diag(exp(h/2)) Qᵀ``, shape ``(R, d, d)``; ``basis=None`` means ``Q = I``.

    ``log_spectrum`` has shape ``(R, d)``: ``h_k = 2 log σ_k`` in the eigenbasis order.
    """
    sigma = np.exp(0.5 * log_spectrum)
    if basis is None:
        factors = np.zeros(sigma.shape + sigma.shape[-1:])
        index = np.arange(sigma.shape[-1])
        factors[:, index, index] = sigma
        return factors
    return (basis * sigma[:, None, :]) @ np.swapaxes(basis, -1, -2)
