"""Catalogue of exact cases shared by the estimator tests (plain functions, no fixtures).

Everything here is computed independently of the package under test (numpy and the
standard library only), so a test can compare an estimator with a known answer:

* power-law orbit spectra ``λ_k(α) = d k^(−α) / H_d(α)`` over a grid of ``α`` and ``d``;
* matrices with prescribed singular values: diagonal, or ``U diag(σ) Vᵀ`` with Haar-random
  orthogonal ``U, V`` (square or rectangular);
* the exact normalized spectrum ``d σ² / Σ σ²`` of such matrices;
* batches used for the numerical routes: near-identity ``I + ε G/√d`` and Gaussian.

Import it from a test module in this folder with ``import catalogue``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

#: Exponents of the orbit grid (eigenvalue convention, ``λ_k ∝ k^(−α)``).
ORBIT_ALPHAS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
#: Dimensions of the orbit grid.
ORBIT_DIMS: tuple[int, ...] = (2, 3, 10, 1000, 100_000)


# --------------------------------------------------------------------------------------
# Power-law orbit
# --------------------------------------------------------------------------------------


def orbit_grid(
    alphas: Sequence[float] = ORBIT_ALPHAS, dims: Sequence[int] = ORBIT_DIMS
) -> list[tuple[float, int]]:
    """All pairs ``(α, d)`` of the grid (for ``pytest.mark.parametrize``)."""
    return [(float(alpha), int(d)) for d in dims for alpha in alphas]


def log_ranks(d: int) -> np.ndarray:
    """``x_k = log k``, ``k = 1..d``."""
    return np.log(np.arange(1, d + 1, dtype=np.float64))


def mean_log_rank_uniform(d: int) -> float:
    """``xbar_d = log(d!) / d`` by ``math.lgamma``."""
    return math.lgamma(d + 1.0) / d


def log_harmonic(alpha: float, d: int) -> float:
    """``log H_d(α)`` with ``H_d(α) = Σ_{k<=d} k^(−α)`` (terms ``<= 1``, ``math.fsum``)."""
    return math.log(math.fsum(np.exp(-alpha * log_ranks(d))))


def orbit_log_spectrum(alpha: float, d: int) -> np.ndarray:
    """Cartan coordinates of the orbit ``h_k = log d − α log k − log H_d(α)``, shape (d,)."""
    return math.log(d) - alpha * log_ranks(d) - log_harmonic(alpha, d)


def orbit_spectrum(alpha: float, d: int) -> np.ndarray:
    """``λ(α)``, shape (d,), summing to ``d`` (may underflow to 0 for large ``α``, ``d``)."""
    return np.exp(orbit_log_spectrum(alpha, d))


class OrbitCase(NamedTuple):
    alpha: float
    d: int
    h: np.ndarray


def orbit_cases(
    alphas: Sequence[float] = ORBIT_ALPHAS, dims: Sequence[int] = ORBIT_DIMS
) -> Iterator[OrbitCase]:
    """Every orbit case of the grid with its Cartan coordinates."""
    for alpha, d in orbit_grid(alphas, dims):
        yield OrbitCase(alpha, d, orbit_log_spectrum(alpha, d))


def orbit_batch(alphas: Sequence[float], d: int) -> np.ndarray:
    """Cartan coordinates of several orbit points, shape ``(len(alphas), d)``."""
    return np.stack([orbit_log_spectrum(float(a), d) for a in alphas])


# --------------------------------------------------------------------------------------
# Matrices with known singular values
# --------------------------------------------------------------------------------------


def random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-distributed orthogonal ``d×d`` matrix (QR of a Gaussian with sign fix)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def diagonal_matrix(sigma: Sequence[float]) -> np.ndarray:
    """``diag(σ)``: singular values ``σ`` exactly (up to order)."""
    return np.diag(np.asarray(sigma, dtype=np.float64))


def matrix_with_singular_values(
    sigma: Sequence[float],
    rng: np.random.Generator,
    shape: tuple[int, int] | None = None,
) -> np.ndarray:
    """``U diag(σ) Vᵀ`` with Haar-random orthogonal factors.

    ``shape = (m, n)`` with ``min(m, n) = len(σ)`` gives a rectangular matrix (default
    square ``d×d``).
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    d = sigma.size
    m, n = (d, d) if shape is None else shape
    if min(m, n) != d:
        raise ValueError(f"min(m, n) must equal len(sigma) = {d}, got shape {(m, n)}")
    u = random_orthogonal(m, rng)[:, :d]
    v = random_orthogonal(n, rng)[:, :d]
    return (u * sigma) @ v.T


def normalized_spectrum(sigma: Sequence[float]) -> np.ndarray:
    """Exact-to-rounding ``λ = d σ² / Σ σ²`` sorted non-increasing (``math.fsum``)."""
    sq = np.sort(np.asarray(sigma, dtype=np.float64) ** 2)[::-1]
    return sq.size * sq / math.fsum(sq)


def normalized_log_spectrum(sigma: Sequence[float]) -> np.ndarray:
    """``h = log λ`` of :func:`normalized_spectrum`, from ``log σ`` (no squaring)."""
    log_sigma = np.sort(np.log(np.asarray(sigma, dtype=np.float64)))[::-1]
    y = 2.0 * log_sigma
    top = y[0]
    return y - top - math.log(math.fsum(np.exp(y - top))) + math.log(y.size)


def orbit_matrix(alpha: float, d: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """A ``d×d`` matrix whose normalized spectrum is the orbit ``λ(α)``.

    ``σ_k = k^(−α/2)``; diagonal when ``rng`` is None, else randomly rotated on both sides.
    """
    sigma = np.exp(-0.5 * alpha * log_ranks(d))
    return diagonal_matrix(sigma) if rng is None else matrix_with_singular_values(sigma, rng)


class KnownSpectrum(NamedTuple):
    name: str
    sigma: np.ndarray
    lam: np.ndarray


def known_spectrum_cases() -> list[KnownSpectrum]:
    """Named singular-value profiles with their exact normalized spectra."""
    profiles = {
        "identity-4": np.ones(4),
        "two-level-6": np.array([3.0, 3.0, 3.0, 1.0, 1.0, 1.0]),
        "geometric-8": 0.5 ** np.arange(8.0),
        "orbit-alpha1-d16": np.exp(-0.5 * log_ranks(16)),
        "spread-1e-3-d5": np.array([1.0, 0.3, 0.1, 0.01, 0.001]),
        "unsorted-3": np.array([0.2, 5.0, 1.0]),
    }
    return [
        KnownSpectrum(name, sigma, normalized_spectrum(sigma)) for name, sigma in profiles.items()
    ]


# --------------------------------------------------------------------------------------
# Batches for the numerical routes
# --------------------------------------------------------------------------------------


def near_identity_batch(
    batch: int, d: int, rng: np.random.Generator, eps: float = 0.3
) -> np.ndarray:
    """``I + ε G / √d``, ``G`` standard Gaussian, shape ``(batch, d, d)`` (well conditioned)."""
    return np.eye(d) + eps * rng.standard_normal((batch, d, d)) / math.sqrt(d)


def gaussian_batch(batch: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Standard Gaussian matrices, shape ``(batch, d, d)`` (condition number ~ d)."""
    return rng.standard_normal((batch, d, d))


def conditioned_batch(batch: int, d: int, condition: float, rng: np.random.Generator) -> np.ndarray:
    """Rotated matrices with log-uniform singular values from 1 to ``1/condition``."""
    sigma = np.logspace(0.0, -math.log10(condition), d)
    return np.stack([matrix_with_singular_values(sigma, rng) for _ in range(batch)])
