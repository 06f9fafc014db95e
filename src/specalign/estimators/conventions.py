"""Conversions between power-law exponent conventions (THEORY.md D2).

specalign reports one exponent: the **eigenvalue rank exponent** ``α`` of the normalized Gram
``P = Âᵀ Â``, ``λ_k ∝ k^(−α)`` (rank ``k = 1`` the largest). Other conventions in use:

=====================================  ===================  ==========================
convention                             symbol here          relation to ``α``
=====================================  ===================  ==========================
eigenvalue rank exponent (specalign)   ``α``                ``λ_k ∝ k^(−α)``
singular-value rank exponent           ``β``                ``σ_k ∝ k^(−β)``, ``β = α/2``
eigenvalue-density tail exponent       ``a``                ``ρ(λ) ∝ λ^(−a)``, ``a = 1 + 1/α``
=====================================  ===================  ==========================

The density exponent is the "alpha" of heavy-tail practice (WeightWatcher, the ``powerlaw``
package). Each function below converts in one direction and says so in its name.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array
from ..errors import InputError

__all__ = [
    "density_tail_exponent_from_rank",
    "rank_exponent_from_density_tail",
    "rank_exponent_from_singular_value",
    "singular_value_exponent_from_rank",
]


def _non_negative(x, name: str, meaning: str) -> np.ndarray:
    arr = as_float_array(x, name, min_ndim=0)
    if np.any(arr < 0):
        raise InputError(
            f"{name} must be >= 0 ({meaning}); got {int(np.count_nonzero(arr < 0))} negative "
            f"value(s), the smallest {arr.min()!r}"
        )
    return arr


def singular_value_exponent_from_rank(alpha) -> np.ndarray:
    """Singular-value rank exponent ``β = α / 2`` from the eigenvalue rank exponent ``α``.

    Parameters
    ----------
    alpha : array_like
        Eigenvalue rank exponents ``α ≥ 0`` (``λ_k ∝ k^(−α)``), any shape.

    Returns
    -------
    numpy.ndarray, shape ``alpha.shape``
        ``β`` with ``σ_k ∝ k^(−β)``.

    Notes
    -----
    ``λ_k = d σ_k² / Σ_j σ_j²`` (THEORY.md D1), so ``λ_k ∝ k^(−α)`` iff ``σ_k ∝ k^(−α/2)``.
    """
    alpha = _non_negative(alpha, "alpha", "an eigenvalue rank exponent")
    return (0.5 * alpha)[()]


def rank_exponent_from_singular_value(beta) -> np.ndarray:
    """Eigenvalue rank exponent ``α = 2β`` from the singular-value rank exponent ``β``.

    Parameters
    ----------
    beta : array_like
        Singular-value rank exponents ``β ≥ 0`` (``σ_k ∝ k^(−β)``), any shape.

    Returns
    -------
    numpy.ndarray, shape ``beta.shape``
        ``α`` with ``λ_k ∝ k^(−α)``; inverse of :func:`singular_value_exponent_from_rank`.
    """
    beta = _non_negative(beta, "beta", "a singular-value rank exponent")
    return (2.0 * beta)[()]


def density_tail_exponent_from_rank(alpha) -> np.ndarray:
    """Eigenvalue-density tail exponent ``a = 1 + 1/α`` from the rank exponent ``α``.

    Parameters
    ----------
    alpha : array_like
        Eigenvalue rank exponents ``α ≥ 0``, any shape.

    Returns
    -------
    numpy.ndarray, shape ``alpha.shape``
        ``a ∈ (1, ∞]``; ``α = 0`` (flat spectrum, no tail) gives ``a = inf``.

    Notes
    -----
    If ``λ_k = C k^(−α)``, the number of eigenvalues above ``t`` is ``N(t) = (C/t)^(1/α)``, so
    the eigenvalue density ``ρ(t) = −N'(t)`` falls off as ``t^(−1 − 1/α)``: ``a = 1 + 1/α``
    (THEORY.md D2). This is the exponent WeightWatcher calls ``alpha``: a power-law fit to the
    tail of the empirical density of the eigenvalues of ``WᵀW`` (WeightWatcher does not
    normalize by the trace, and may divide by the layer width; a constant rescaling of the
    eigenvalues leaves a tail exponent unchanged, so its ``alpha`` compares directly with
    ``1 + 1/α`` from specalign's trace-``d`` spectrum). The relation is exact for the
    continuum limit of a pure power law; on a finite spectrum a density fit estimates it with
    bias and noise (see the ``tail`` chart). The density of the singular values
    ``σ = √λ`` has tail exponent ``1 + 2/α`` instead.
    """
    alpha = _non_negative(alpha, "alpha", "an eigenvalue rank exponent")
    out = np.full(alpha.shape, np.inf)
    positive = alpha > 0
    with np.errstate(over="ignore"):  # subnormal α: 1/α = inf is the right limit
        out[positive] = 1.0 + 1.0 / alpha[positive]
    return out[()]


def rank_exponent_from_density_tail(a) -> np.ndarray:
    """Eigenvalue rank exponent ``α = 1/(a − 1)`` from the density tail exponent ``a``.

    Parameters
    ----------
    a : array_like
        Eigenvalue-density tail exponents ``a > 1`` (``ρ(λ) ∝ λ^(−a)``; WeightWatcher's and
        ``powerlaw``'s ``alpha``), any shape; ``a = inf`` is allowed and gives ``α = 0``.

    Returns
    -------
    numpy.ndarray, shape ``a.shape``
        ``α ≥ 0``; inverse of :func:`density_tail_exponent_from_rank`.

    Raises
    ------
    InputError
        If any ``a ≤ 1`` (a density with such a tail is not normalizable: no rank exponent
        corresponds to it) or ``a`` is NaN or ``-inf``.
    """
    raw = np.asarray(a)
    if raw.dtype.kind not in "biuf":
        raise InputError(f"a must be a real numeric array, got dtype {raw.dtype}")
    arr = raw.astype(np.float64)
    finite = np.isfinite(arr)
    if np.any(np.isnan(arr)) or np.any(arr == -np.inf):
        raise InputError("a holds NaN or -inf; a density tail exponent must be > 1 (or +inf)")
    if np.any(arr[finite] <= 1):
        raise InputError(
            f"a must be > 1 (a density ∝ λ^(−a) with a ≤ 1 is not normalizable); got "
            f"{int(np.count_nonzero(arr[finite] <= 1))} value(s) <= 1, the smallest "
            f"{arr[finite].min()!r}"
        )
    out = np.zeros(arr.shape)
    out[finite] = 1.0 / (arr[finite] - 1.0)
    return out[()]
