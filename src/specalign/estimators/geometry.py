"""Distances between spectra and between PSD matrices (THEORY.md P1, T3).

Bures–Wasserstein distance of PSD matrices and its spectral lower bound, and the
Hellinger, Kullback–Leibler and Fisher–Rao divergences of rank distributions. All
functions broadcast over leading axes and compute in float64. Derivations:
docs/theory.md, section "Geometry and effective rank".
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack
from scipy.special import kl_div, logsumexp

from .._validation import as_float_array
from ..errors import DimensionError, InputError, NonFiniteError

__all__ = [
    "bures_wasserstein",
    "fisher_rao_distance",
    "hellinger",
    "hellinger_log",
    "kl_divergence",
    "spectral_bures_wasserstein",
]

_EPS = np.finfo(np.float64).eps


# --------------------------------------------------------------------------------------
# Bures–Wasserstein distance of PSD matrices
# --------------------------------------------------------------------------------------


def _input_eps(x) -> float:
    """Machine epsilon of the floating dtype ``x`` arrived in (float64 for integers)."""
    dtype = np.asarray(x).dtype
    return float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else _EPS


def _psd_square_root_factors(M: np.ndarray, name: str, sym_rtol: float, eps_in: float):
    """Symmetrize, check PSD and return ``(V, s)`` with ``M^{1/2} = V diag(s) Vᵀ``.

    ``M`` has shape ``(..., d, d)``. Raises :class:`InputError` when a matrix is not
    symmetric within ``sym_rtol`` or has an eigenvalue below the clipping tolerance.
    """
    d = M.shape[-1]
    scale = np.max(np.abs(M), axis=(-2, -1))
    asym = np.max(np.abs(M - np.swapaxes(M, -1, -2)), axis=(-2, -1))
    bad = asym > sym_rtol * scale
    if np.any(bad):
        idx = np.argwhere(np.atleast_1d(bad))[0]
        worst = float(np.max(asym / np.where(scale > 0, scale, 1.0)))
        raise InputError(
            f"{name} must be symmetric: max|{name} - {name}ᵀ| / max|{name}| = {worst:.3g} "
            f"exceeds sym_rtol = {sym_rtol:.3g} (first at batch index {tuple(idx)}); pass a "
            "symmetric PSD matrix such as X @ X.T, or raise sym_rtol"
        )
    M = 0.5 * (M + np.swapaxes(M, -1, -2))
    w, V = np.linalg.eigh(M)
    # Clipping rule: eigenvalues in [-tol, 0) are rounding noise of a PSD matrix and are set
    # to 0; tol = d * eps_in * max|w| (eps of the input dtype: float32 input carries float32
    # rounding). Anything more negative means the matrix is not PSD.
    tol = d * eps_in * np.max(np.abs(w), axis=-1, keepdims=True)
    if np.any(w < -tol):
        ratio = np.min(w / np.where(tol > 0, tol, 1.0), axis=-1)
        idx = np.argwhere(np.atleast_1d(ratio < -1))[0]
        lowest = float(np.min(w))
        raise InputError(
            f"{name} must be positive semidefinite: smallest eigenvalue {lowest:.3g} is below "
            f"the clipping tolerance -d*eps*max|eig| (first at batch index {tuple(idx)}); "
            "pass a PSD matrix (e.g. X @ X.T) or its PSD part"
        )
    s = np.sqrt(np.clip(w, 0.0, None))
    return V, s


def _polar_factor(C: np.ndarray) -> np.ndarray:
    """Orthogonal polar factor ``W Zᵀ`` of a square matrix ``C = W Σ Zᵀ``.

    Uses LAPACK's preconditioned Jacobi SVD (``dgejsv``, JOBA='F'), which keeps high relative
    accuracy for two-sided graded matrices ``D1 X D2`` with well-conditioned ``X``; that is
    exactly the form ``C = diag(s_Q) G diag(s_P)`` takes, and it is what makes the distance
    of a matrix to itself vanish to rounding even at condition number 1e12 (the stacked
    ``numpy.linalg.svd`` loses up to 1e-10 there). Falls back to ``numpy.linalg.svd`` if the
    Jacobi routine reports a failure.
    """
    _sva, u, v, _work, _iwork, info = lapack.dgejsv(C, joba=2, jobu=0, jobv=0)
    if info != 0:
        u, _s, vt = np.linalg.svd(C)
        return u @ vt
    return u @ v.T


def bures_wasserstein(P, Q, *, sym_rtol: float = 1e-8) -> np.ndarray:
    """Bures–Wasserstein distance between positive semidefinite matrices.

    Parameters
    ----------
    P, Q : array_like, shape (..., d, d)
        Symmetric positive semidefinite matrices; leading axes broadcast against each other.
        Each is checked for symmetry (``max|P − Pᵀ| ≤ sym_rtol · max|P|``) and symmetrized.
    sym_rtol : float
        Relative tolerance of the symmetry check.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``d_BW(P, Q) ≥ 0`` (a NumPy scalar when there are no leading axes).

    Raises
    ------
    DimensionError
        If the matrices are not square or their sizes differ.
    NonFiniteError
        If an entry is NaN or infinite.
    InputError
        If a matrix is not symmetric within ``sym_rtol`` or not PSD (see Notes).

    Notes
    -----
    ``d_BW² = tr P + tr Q − 2 tr (P^{1/2} Q P^{1/2})^{1/2}``. The trace formula cancels
    catastrophically when ``P ≈ Q`` (error ``≈ √(eps · tr P)``), so it is evaluated as the
    orthogonal Procrustes problem

        d_BW(P, Q) = min_{U orthogonal} ‖P^{1/2} − Q^{1/2} U‖_F.

    With ``P^{1/2} = V_P S_P V_Pᵀ`` and ``Q^{1/2} = V_Q S_Q V_Qᵀ`` from ``eigh`` and
    ``G = V_Qᵀ V_P``, this equals ``min_Ω ‖G S_P − S_Q Ω‖_F``, attained at the polar factor
    ``Ω`` of ``C = S_Q G S_P``; the Frobenius norm of the difference is then taken directly,
    so ``d_BW(P, P)`` is a sum of rounding errors of size ``eps · ‖P^{1/2}‖_F``, not a
    difference of large traces.

    Clipping rule: eigenvalues in ``[−d · eps · max|λ|, 0)`` (``eps`` of the input dtype)
    are set to 0 before the square root; more negative eigenvalues raise ``InputError``.

    The polar factor uses LAPACK's Jacobi SVD one matrix at a time (a Python loop over the
    batch): a stacked SVD lacks the relative accuracy on the graded matrix ``C``.
    See docs/theory.md, "Geometry and effective rank".
    """
    eps_p, eps_q = _input_eps(P), _input_eps(Q)
    P = as_float_array(P, "P", min_ndim=2)
    Q = as_float_array(Q, "Q", min_ndim=2)
    for name, M in (("P", P), ("Q", Q)):
        if M.shape[-1] != M.shape[-2]:
            raise DimensionError(f"{name} must be square in its last two axes, got {M.shape}")
    if P.shape[-1] != Q.shape[-1]:
        raise DimensionError(
            f"P and Q must have the same size d, got {P.shape[-1]} and {Q.shape[-1]}"
        )
    try:
        batch = np.broadcast_shapes(P.shape[:-2], Q.shape[:-2])
    except ValueError as exc:
        raise DimensionError(
            f"leading axes of P {P.shape[:-2]} and Q {Q.shape[:-2]} do not broadcast"
        ) from exc
    d = P.shape[-1]
    Vp, sp = _psd_square_root_factors(P, "P", sym_rtol, eps_p)
    Vq, sq = _psd_square_root_factors(Q, "Q", sym_rtol, eps_q)
    Vp, sp = np.broadcast_to(Vp, (*batch, d, d)), np.broadcast_to(sp, (*batch, d))
    Vq, sq = np.broadcast_to(Vq, (*batch, d, d)), np.broadcast_to(sq, (*batch, d))
    G = np.swapaxes(Vq, -1, -2) @ Vp
    GSp = G * sp[..., None, :]
    C = sq[..., :, None] * GSp
    flat_C = C.reshape(-1, d, d)
    omega = np.stack([_polar_factor(c) for c in flat_C]).reshape(C.shape)
    diff = GSp - sq[..., :, None] * omega
    return np.sqrt(np.sum(diff * diff, axis=(-2, -1)))[()]


# --------------------------------------------------------------------------------------
# Spectral distances
# --------------------------------------------------------------------------------------


def _nonnegative(x, name: str) -> np.ndarray:
    arr = as_float_array(x, name, min_ndim=1)
    if np.any(arr < 0):
        raise InputError(
            f"{name} must be non-negative (eigenvalues of a PSD matrix or probabilities); "
            f"found {int(np.count_nonzero(arr < 0))} negative entries"
        )
    return arr


def _pair(x, y, xname: str, yname: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate two non-negative batches of vectors with equal last axes; broadcast them."""
    a, b = _nonnegative(x, xname), _nonnegative(y, yname)
    if a.shape[-1] != b.shape[-1]:
        raise DimensionError(
            f"{xname} and {yname} must have the same length d in the last axis, "
            f"got {a.shape[-1]} and {b.shape[-1]}"
        )
    try:
        return np.broadcast_arrays(a, b)
    except ValueError as exc:
        raise DimensionError(
            f"leading axes of {xname} {a.shape[:-1]} and {yname} {b.shape[:-1]} do not broadcast"
        ) from exc


def _normalize(x: np.ndarray, name: str) -> np.ndarray:
    total = np.sum(x, axis=-1, keepdims=True)
    if np.any(total <= 0):
        raise InputError(
            f"{name} must have a positive total in every vector (an all-zero vector is not a "
            "distribution)"
        )
    return x / total


def spectral_bures_wasserstein(lam, eta, *, sort: bool = True) -> np.ndarray:
    """Bures–Wasserstein distance of commuting PSD matrices from their spectra.

    Parameters
    ----------
    lam, eta : array_like, shape (..., d)
        Non-negative eigenvalues; leading axes broadcast. Not normalized.
    sort : bool
        Pair the eigenvalues in matched (non-increasing) order (default). With
        ``sort=False`` they are paired as given (commuting matrices whose common eigenbasis
        pairs ``lam[k]`` with ``eta[k]``).

    Returns
    -------
    numpy.ndarray, shape (...)
        ``‖√λ − √η‖₂``.

    Notes
    -----
    For commuting PSD matrices with common eigenbasis, ``d_BW = ‖√λ − √η‖₂``. With matched
    order ``λ = eig↓(P)``, ``η = eig↓(Q)`` it is a lower bound for every pair ``P, Q``:
    ``tr (P^{1/2} Q P^{1/2})^{1/2} = ‖P^{1/2} Q^{1/2}‖_* ≤ Σ_k √λ_k √η_k`` (von Neumann's
    trace inequality for singular values of a product), hence
    ``d_BW(P, Q)² ≥ Σ λ + Σ η − 2 Σ √λ_k √η_k = ‖√λ↓ − √η↓‖₂²``. Equality holds when P and
    Q commute with matched order. THEORY.md P1; docs/theory.md, "Geometry and effective rank".
    """
    a, b = _pair(lam, eta, "lam", "eta")
    if sort:
        a, b = -np.sort(-a, axis=-1), -np.sort(-b, axis=-1)
    diff = np.sqrt(a) - np.sqrt(b)
    return np.sqrt(np.sum(diff * diff, axis=-1))[()]


def hellinger(p, q) -> np.ndarray:
    """Hellinger distance between distributions given by non-negative weights.

    Parameters
    ----------
    p, q : array_like, shape (..., d)
        Non-negative weights, each vector with a positive total. **Each vector is divided by
        its sum**, so probability vectors and spectra (e.g. ``λ`` with ``Σλ = d``, giving the
        rank distribution ``p = λ/d``) are both accepted. Entries are paired as given.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``H(p, q) ∈ [0, 1]``.

    Notes
    -----
    ``H²(p, q) = ½ Σ_k (√p_k − √q_k)² = 1 − Σ_k √(p_k q_k)``, evaluated as the sum of
    squares (no cancellation for ``p ≈ q``). For spectra with ``Σλ = Ση = d``,
    ``‖√λ − √η‖₂² = 2d · H²(λ/d, η/d)``. THEORY.md P1.
    """
    a, b = _pair(p, q, "p", "q")
    diff = np.sqrt(_normalize(a, "p")) - np.sqrt(_normalize(b, "q"))
    h2 = 0.5 * np.sum(diff * diff, axis=-1)
    return np.sqrt(np.clip(h2, 0.0, 1.0))[()]


def _log_weights(x, name: str) -> np.ndarray:
    """Validate log-weights: -inf (zero weight) is allowed, NaN and +inf are not."""
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise InputError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim < 1:
        raise DimensionError(f"{name} must have at least 1 axis, got shape {arr.shape}")
    if np.any(np.isnan(arr) | (arr == np.inf)):
        raise NonFiniteError(f"{name} holds NaN or +inf; log-weights may only be finite or -inf")
    if np.any(np.all(arr == -np.inf, axis=-1)):
        raise InputError(f"{name} has a vector of all -inf (zero total weight)")
    return arr


def hellinger_log(hp, hq) -> np.ndarray:
    """Hellinger distance from log-weights (underflow-safe form of :func:`hellinger`).

    Parameters
    ----------
    hp, hq : array_like, shape (..., d)
        Logarithms of non-negative weights (``-inf`` for a zero weight), e.g. Cartan
        coordinates ``h = log λ``. Each vector is normalized by its ``logsumexp``.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``H(p, q) ∈ [0, 1]`` with ``p ∝ exp(hp)``, ``q ∝ exp(hq)``.

    Notes
    -----
    With ``a = (hp − logsumexp hp)/2`` and ``b`` likewise, each term is
    ``|√p_k − √q_k| = e^{max(a,b)} (1 − e^{−|a−b|})``, taken as
    ``max(a,b) + log(−expm1(−|a−b|))`` in log space; ``H² = ½ Σ exp(2 ·term)`` is summed
    with ``logsumexp``. No weight is exponentiated on its own, so spectra spanning far more
    than float64's range (and tiny distances) keep their relative accuracy.
    """
    a, b = (_log_weights(hp, "hp"), _log_weights(hq, "hq"))
    if a.shape[-1] != b.shape[-1]:
        raise DimensionError(
            f"hp and hq must have the same length d, got {a.shape[-1]} and {b.shape[-1]}"
        )
    a, b = np.broadcast_arrays(a, b)
    a = 0.5 * (a - logsumexp(a, axis=-1, keepdims=True))
    b = 0.5 * (b - logsumexp(b, axis=-1, keepdims=True))
    top = np.maximum(a, b)
    both_zero = top == -np.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(both_zero, 0.0, np.abs(a - b))
        log_term = np.where(both_zero, -np.inf, top + np.log(-np.expm1(-gap)))
        log_h2 = np.log(0.5) + logsumexp(2.0 * log_term, axis=-1)
    return np.sqrt(np.clip(np.exp(log_h2), 0.0, 1.0))[()]


def kl_divergence(p, q) -> np.ndarray:
    """Kullback–Leibler divergence ``KL(p ‖ q)`` between normalized non-negative weights.

    Parameters
    ----------
    p, q : array_like, shape (..., d)
        Non-negative weights; each vector is divided by its sum (as in :func:`hellinger`).

    Returns
    -------
    numpy.ndarray, shape (...)
        ``KL(p ‖ q) ≥ 0``; ``inf`` where some ``q_k = 0 < p_k``.

    Notes
    -----
    ``KL = Σ_k p_k log(p_k/q_k)``, summed as ``Σ_k (p_k log(p_k/q_k) − p_k + q_k)``
    (equal since both sum to 1) whose terms are all non-negative, so ``p ≈ q`` does not
    cancel; ``0 log 0 = 0``. On the orbit, ``KL(p_α ‖ p_β) = (β − α) μ(α) + log Z(β) −
    log Z(α)`` (THEORY.md D3).
    """
    a, b = _pair(p, q, "p", "q")
    return np.sum(kl_div(_normalize(a, "p"), _normalize(b, "q")), axis=-1)[()]


def fisher_rao_distance(p, q) -> np.ndarray:
    """Fisher–Rao geodesic distance between distributions on ``d`` points.

    Parameters
    ----------
    p, q : array_like, shape (..., d)
        Non-negative weights; each vector is divided by its sum (as in :func:`hellinger`).

    Returns
    -------
    numpy.ndarray, shape (...)
        ``FR(p, q) = 2 arccos(Σ_k √(p_k q_k)) ∈ [0, π]``.

    Notes
    -----
    The Fisher metric ``ds² = Σ dp_k² / p_k = 4 Σ (d√p_k)²`` makes ``p ↦ 2√p`` an
    isometry onto the sphere of radius 2, so the geodesic distance is twice the angle
    ``θ = arccos BC`` between ``√p`` and ``√q`` (``BC`` the Bhattacharyya coefficient). It is
    computed as ``4 arcsin(H/√2)`` (``‖√p − √q‖ = √2 H = 2 sin(θ/2)``), which keeps full
    relative accuracy for nearby distributions, where ``arccos`` near 1 loses half the digits.

    Along the power-law orbit ``ds_FR² = I(α) dα²``, so the orbit's arc length
    ``∫_α^β √I`` is at least ``FR(p_α, p_β)`` (the orbit is not a geodesic), and chord ≤ arc
    gives ``2√2 · H ≤ FR ≤ ∫_α^β √I``, i.e. ``H(p_α, p_β) ≤ FR(α, β)/(2√2)`` with THEORY.md's
    orbit length ``FR(α, β)``.
    """
    return (4.0 * np.arcsin(hellinger(p, q) / np.sqrt(2.0)))[()]
