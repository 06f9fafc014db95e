"""Per-interface amplitudes of an operator chain (THEORY.md D6).

All functions take log-singular values (descending along the last axis), never the
singular values themselves, so that chains whose spectra leave float64's range still work.
"""

from __future__ import annotations

import numpy as np

__all__ = ["condition_amplitude", "radial_amplitude", "slack"]


def radial_amplitude(log_sigma: np.ndarray) -> np.ndarray:
    """Geometric-mean radial amplitude ``r = u(A) = 2 log(σ_1 / GM(σ))``.

    Parameters
    ----------
    log_sigma : ndarray, shape (..., d)
        ``log σ_k(A)``, descending in ``k``.

    Returns
    -------
    ndarray, shape (...)
        ``r ≥ 0``; zero exactly when all singular values are equal.

    Notes
    -----
    ``r = 2 (log σ_1 − (1/d) Σ_k log σ_k)``: the top component of the traceless Cartan
    projection of ``A``; scale-invariant and invariant under orthogonal factors.
    """
    log_sigma = np.asarray(log_sigma, dtype=np.float64)
    return 2.0 * (log_sigma[..., 0] - log_sigma.mean(axis=-1))


def condition_amplitude(log_sigma: np.ndarray) -> np.ndarray:
    """Condition amplitude ``κ = log(σ_1 / σ_d)``, shape ``(...)``; ``r ≤ 2κ`` and ``s ≤ 2κ``."""
    log_sigma = np.asarray(log_sigma, dtype=np.float64)
    return log_sigma[..., 0] - log_sigma[..., -1]


def slack(log_top_factor, log_top_previous, log_top_product) -> np.ndarray:
    """Non-backtracking slack ``s_l = 2 [log σ_1(A_l) + log σ_1(J_{l−1}) − log σ_1(J_l)]``.

    The defect of subadditivity of the top coordinate (``σ_1(A J) ≤ σ_1(A) σ_1(J)``), so
    ``s ≥ 0`` up to rounding; zero when the top direction of ``J_{l−1}`` passes through
    ``A_l`` without loss. Inputs broadcast; output has their common shape.
    """
    return 2.0 * (
        np.asarray(log_top_factor, dtype=np.float64)
        + np.asarray(log_top_previous, dtype=np.float64)
        - np.asarray(log_top_product, dtype=np.float64)
    )
