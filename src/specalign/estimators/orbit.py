"""The power-law orbit (THEORY.md D2, D3, D4): partition function, moments and inverses.

PROVISIONAL direct implementation; to be replaced by the accurate large-d version.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, logsumexp

from .._validation import check_dimension


def log_ranks(d: int) -> np.ndarray:
    """``x_k = log k`` for ``k = 1..d``, shape ``(d,)``."""
    d = check_dimension(d)
    return np.log(np.arange(1, d + 1, dtype=np.float64))


def mean_log_rank_uniform(d: int) -> float:
    """``xbar_d = (1/d) Σ_k log k = log(d!)/d``."""
    d = check_dimension(d)
    return float(gammaln(d + 1.0) / d)


def log_harmonic(alpha, d: int) -> np.ndarray:
    """``log H_d(α)``, ``H_d(α) = Σ_{k≤d} k^(−α)``; broadcasts over ``alpha``."""
    alpha = np.asarray(alpha, dtype=np.float64)
    x = log_ranks(d)
    return logsumexp(-alpha[..., None] * x, axis=-1)


def mean_log_rank(alpha, d: int) -> np.ndarray:
    """``μ(α) = E_α[log k]``."""
    alpha = np.asarray(alpha, dtype=np.float64)
    x = log_ranks(d)
    logp = -alpha[..., None] * x
    logp = logp - logsumexp(logp, axis=-1, keepdims=True)
    return np.sum(np.exp(logp) * x, axis=-1)


def fisher_information(alpha, d: int) -> np.ndarray:
    """``I(α) = Var_α(log k)``."""
    alpha = np.asarray(alpha, dtype=np.float64)
    x = log_ranks(d)
    logp = -alpha[..., None] * x
    logp = logp - logsumexp(logp, axis=-1, keepdims=True)
    p = np.exp(logp)
    mu = np.sum(p * x, axis=-1, keepdims=True)
    return np.sum(p * (x - mu) ** 2, axis=-1)


def orbit_log_spectrum(alpha, d: int) -> np.ndarray:
    """``h(α) = log λ(α) = log d − α log k − log H_d(α)``, shape ``alpha.shape + (d,)``."""
    alpha = np.asarray(alpha, dtype=np.float64)
    x = log_ranks(d)
    return np.log(d) - alpha[..., None] * x - log_harmonic(alpha, d)[..., None]


def orbit(alpha, d: int) -> np.ndarray:
    """``λ_k(α) = d k^(−α) / H_d(α)``, shape ``alpha.shape + (d,)``, summing to ``d``."""
    return np.exp(orbit_log_spectrum(alpha, d))
