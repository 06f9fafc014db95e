"""Singular values, normalized spectra and Cartan coordinates of matrices (THEORY.md D1).

Every function takes a batch ``A`` of shape ``(..., m, n)`` and works on its last two axes;
``d = min(m, n)``. Inputs of any real dtype are computed in float64.

Two numerical routes give the squared singular values ``σ_k²``:

* ``"svd"``: ``numpy.linalg.svd(A, compute_uv=False)``; small singular values keep an
  absolute error of about ``d·eps·σ_1``, the best float64 can do without extra precision.
* ``"gram"``: the eigenvalues of the smaller Gram matrix ``AᵀA`` or ``AAᵀ``. About twice as
  fast, but forming the Gram matrix squares the condition number, so the small eigenvalues
  lose digits on ill-conditioned matrices.

``"auto"`` (the default) takes the Gram route only for the matrices whose *computed* Gram
eigenvalues certify, by the error bound in :func:`gram_relative_error_bound`, that every
``σ_k²`` is as accurate as ``rtol`` asks; the others go to the SVD. The derivation is in
docs/theory/spectra-and-linear-charts.md.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_choice
from ..errors import DimensionError, InputError, NonFiniteError, RankDeficientError

try:  # Per-matrix LAPACK calls: the fast Gram route for large matrices (see _gram_lapack).
    from scipy.linalg import blas as _blas
    from scipy.linalg import lapack as _lapack

    _HAVE_LAPACK_LOOP = all(
        hasattr(module, name)
        for module, name in (
            (_blas, "dsyrk"),
            (_lapack, "dsytrd"),
            (_lapack, "dsytrd_lwork"),
            (_lapack, "dsterf"),
        )
    )
except ImportError:  # pragma: no cover - scipy is a dependency; keep numpy working anyway
    _HAVE_LAPACK_LOOP = False

__all__ = [
    "METHODS",
    "cartan_coordinates",
    "cartan_coordinates_from_log_singular_values",
    "gram_relative_error_bound",
    "log_singular_values",
    "singular_values",
    "spectrum",
]

#: Routes for the singular values: ``"auto"`` chooses per matrix, the others force one.
METHODS = ("auto", "svd", "gram")

_EPS = float(np.finfo(np.float64).eps)
_UNIT_ROUNDOFF = _EPS / 2
_SMALLEST_SUBNORMAL = float(np.finfo(np.float64).smallest_subnormal)
# Below this Gram diagonal no Gram entry can overflow: |a_ij| <= 2^500 so every product is
# <= 2^1000 and a sum of m < 2^22 of them stays below 2^1023.
_MAX_GRAM_DIAGONAL = 2.0**1000
# From this Gram dimension on, per-matrix LAPACK calls (dsyrk, dsytrd, dsterf) beat the
# batched matmul + eigvalsh by about 10 % (benchmarks/bench_spectrum.py); below it the
# Python loop's call overhead wins back the gain.
_LAPACK_LOOP_MIN_DIM = 128
# Matrices per chunk when the sharper |A|-norm bound is evaluated (bounded temporaries).
_ABS_NORM_CHUNK = 64


# --------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------


def _as_matrix_batch(A, name: str = "A") -> np.ndarray:
    """Float64, C-contiguous batch ``(..., m, n)`` with ``min(m, n) >= 2``, all finite."""
    arr = as_float_array(A, name, min_ndim=2)
    m, n = arr.shape[-2:]
    if min(m, n) < 2:
        raise DimensionError(
            f"{name} must have at least 2 rows and 2 columns (d = min(m, n) >= 2: a "
            f"power-law exponent needs two ranks), got matrices of shape {m}×{n}"
        )
    return np.ascontiguousarray(arr)


def _check_rtol(rtol) -> float:
    rtol = float(rtol)
    if not 0.0 < rtol < 1.0:
        raise InputError(
            f"rtol must lie in (0, 1) (requested relative accuracy of every σ_k²), got {rtol!r}"
        )
    return rtol


def default_rank_tol(m: int, n: int) -> float:
    """Default ``rank_tol = max(m, n)·eps`` (eps of float64), numpy's ``matrix_rank`` rule."""
    return max(m, n) * _EPS


# --------------------------------------------------------------------------------------
# The two routes
# --------------------------------------------------------------------------------------


def _svd_log_sigma(A3: np.ndarray) -> np.ndarray:
    """``log σ`` (descending) by the SVD, ``-inf`` for an exact zero singular value."""
    if A3.shape[0] == 0:
        return np.empty((0, min(A3.shape[-2:])))
    try:
        sigma = np.linalg.svd(A3, compute_uv=False)
    except np.linalg.LinAlgError as exc:  # LAPACK's dgesdd did not converge
        raise InputError(
            f"the SVD did not converge ({exc}); the matrices are probably badly scaled, "
            "rescale them or check them for garbage values"
        ) from exc
    with np.errstate(divide="ignore"):
        return np.log(sigma)


def _gram_batched(A3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending Gram eigenvalues by one stacked matmul and ``numpy.linalg.eigvalsh``."""
    m, n = A3.shape[-2:]
    At = np.swapaxes(A3, -1, -2)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected just below
        gram = A3 @ At if m <= n else At @ A3
    diag = np.diagonal(gram, axis1=-2, axis2=-1)
    ok = np.all(np.isfinite(diag), axis=-1) & (np.max(diag, axis=-1) <= _MAX_GRAM_DIAGONAL)
    if not np.all(ok):
        gram[~ok] = np.eye(gram.shape[-1])  # keep LAPACK away from inf/NaN; rows discarded
    eig = np.linalg.eigvalsh(gram)
    eig[~ok] = np.nan
    return eig, ok


def _gram_lapack(A3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending Gram eigenvalues by per-matrix ``dsyrk`` + ``dsytrd`` + ``dsterf``.

    Why a loop: ``dsyrk`` forms only one triangle of the Gram matrix (half the flops of a
    matmul), the values-only tridiagonal QR ``dsterf`` is LAPACK's fastest for this size,
    and no copy is made between the steps. Together about 10 % faster than the stacked
    ``eigvalsh`` for ``d >= 128``, where the per-call overhead (~20 µs) is negligible.
    """
    N, m, n = A3.shape
    d = min(m, n)
    # A C-contiguous (m, n) matrix is the Fortran-contiguous (n, m) array X = Aᵀ:
    # dsyrk with trans=0 gives X Xᵀ = AᵀA (n×n), with trans=1 XᵀX = AAᵀ (m×m).
    trans = 1 if m <= n else 0
    lwork = int(_lapack.dsytrd_lwork(d, lower=1)[0])
    eig = np.full((N, d), np.nan)
    ok = np.zeros(N, dtype=bool)
    for i in range(N):
        gram = _blas.dsyrk(1.0, A3[i].T, trans=trans, lower=1)
        # Diagonal entries are sums of squares: NaN or inf fail the comparison as well.
        if not gram.diagonal().max() <= _MAX_GRAM_DIAGONAL:
            continue
        _, diagonal, off, _, info = _lapack.dsytrd(gram, lower=1, lwork=lwork, overwrite_a=1)
        if info != 0:  # pragma: no cover - dsytrd only reports illegal arguments
            continue
        values, info = _lapack.dsterf(diagonal, off, overwrite_d=1, overwrite_e=1)
        if info == 0:
            eig[i] = values
            ok[i] = True
    return eig, ok


def _gram_eigenvalues(A3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues ``(N, d)`` of the smaller Gram matrices and an ``ok`` mask.

    ``ok`` is False where a Gram entry could overflow or the eigensolver failed (eigenvalues
    NaN there); those matrices need the SVD.
    """
    if A3.shape[0] == 0:
        return np.empty((0, min(A3.shape[-2:]))), np.zeros(0, dtype=bool)
    if _HAVE_LAPACK_LOOP and min(A3.shape[-2:]) >= _LAPACK_LOOP_MIN_DIM:
        return _gram_lapack(A3)
    return _gram_batched(A3)


def _abs_norm_product(A3: np.ndarray) -> np.ndarray:
    """``‖|A|‖_1 · ‖|A|‖_∞`` (max column sum times max row sum of ``|A|``) per matrix."""
    out = np.empty(A3.shape[0])
    for start in range(0, A3.shape[0], _ABS_NORM_CHUNK):
        block = np.abs(A3[start : start + _ABS_NORM_CHUNK])
        out[start : start + _ABS_NORM_CHUNK] = block.sum(axis=-2).max(axis=-1) * block.sum(
            axis=-1
        ).max(axis=-1)
    return out


def gram_relative_error_bound(eig, m: int, n: int, gram_norm=None) -> np.ndarray:
    """Bound on the relative error of every Gram-route ``σ_k²``, from the computed values.

    Parameters
    ----------
    eig : array_like, shape (..., d)
        Computed eigenvalues of the Gram matrix of an ``m×n`` matrix ``A`` (any order).
    m, n : int
        Shape of ``A``; the Gram entries are dot products of length ``L = max(m, n)``.
    gram_norm : array_like, shape (...), optional
        A bound ``N(A) >= ‖|A|ᵀ|A|‖_2`` for the Gram formation term. Default
        ``‖A‖_F² = Σ eig`` (free); ``‖|A|‖_1 ‖|A|‖_∞`` is sharper for near-identity matrices.

    Returns
    -------
    numpy.ndarray, shape (...)
        ``max_k |σ̂_k² − σ_k²| / σ_k²`` bound (``inf`` where an eigenvalue is ``<= 0``).

    Notes
    -----
    ``[γ_L · N(A) + d·u·λ_max + L·d·η] / λ_min`` with ``u = eps/2``, ``γ_L = L·u/(1 − L·u)``,
    ``η`` the smallest subnormal. The first term is the rigorous forward error of the Gram
    entries (``|ΔG| <= γ_L |A|ᵀ|A|``, so ``‖ΔG‖_2 <= γ_L ‖|A|ᵀ|A|‖_2``), the second the
    backward error ``p(d)·u·‖G‖_2`` of the symmetric eigensolver with the customary
    ``p(d) = d``, the third the underflow in the Gram products; Weyl's inequality turns the
    sum into an absolute eigenvalue error. See docs/theory/spectra-and-linear-charts.md.
    """
    eig = np.asarray(eig, dtype=np.float64)
    L, d = max(m, n), min(m, n)
    gamma = L * _UNIT_ROUNDOFF / (1.0 - L * _UNIT_ROUNDOFF)
    lam_min = np.min(eig, axis=-1)
    lam_max = np.max(eig, axis=-1)
    norm = np.sum(eig, axis=-1) if gram_norm is None else np.asarray(gram_norm, np.float64)
    absolute = gamma * norm + d * _UNIT_ROUNDOFF * lam_max + L * d * _SMALLEST_SUBNORMAL
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(lam_min > 0, absolute / lam_min, np.inf)
    return np.where(np.isnan(bound), np.inf, bound)


def _gram_accepted(A3: np.ndarray, eig: np.ndarray, ok: np.ndarray, rtol: float) -> np.ndarray:
    """Which Gram results meet ``rtol``: the free Frobenius bound, then the ``|A|`` bound."""
    m, n = A3.shape[-2:]
    bound = gram_relative_error_bound(eig, m, n)
    accepted = ok & (bound <= rtol)
    # The |A|-norm bound can only win by the factor ‖A‖_F² / ‖A‖_2² = Σλ/λ_max: evaluate it
    # (one pass over the matrix) only where that factor could make the difference.
    with np.errstate(invalid="ignore"):
        reachable = ok & ~accepted & (bound * eig.max(axis=-1) / eig.sum(axis=-1) <= rtol)
    if np.any(reachable):
        sharp = gram_relative_error_bound(
            eig[reachable], m, n, gram_norm=_abs_norm_product(A3[reachable])
        )
        accepted[np.flatnonzero(reachable)[sharp <= rtol]] = True
    return accepted


def _log_sigma_routes(A3: np.ndarray, method: str, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    """``log σ`` descending ``(N, d)`` and the mask of matrices that took the Gram route."""
    N = A3.shape[0]
    if method == "svd":
        return _svd_log_sigma(A3), np.zeros(N, dtype=bool)
    if method == "gram":
        eig, ok = _gram_eigenvalues(A3)
        if not np.all(ok):
            raise InputError(
                f"the Gram route failed on {int(np.count_nonzero(~ok))} of {N} matrices "
                "(entries too large to square in float64, or no convergence); use "
                "method='svd' or method='auto'"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            log_sigma = 0.5 * np.log(np.where(eig > 0, eig, 0.0))[:, ::-1]
        return log_sigma, np.ones(N, dtype=bool)
    # method == "auto": probe one matrix first, so that a batch of ill-conditioned matrices
    # (e.g. Gaussian, κ ~ d) goes straight to the SVD instead of paying for both routes.
    if N == 0:
        return _svd_log_sigma(A3), np.zeros(0, dtype=bool)
    probe_eig, probe_ok = _gram_eigenvalues(A3[:1])
    if not _gram_accepted(A3[:1], probe_eig, probe_ok, rtol)[0]:
        return _svd_log_sigma(A3), np.zeros(N, dtype=bool)
    rest_eig, rest_ok = _gram_eigenvalues(A3[1:])
    eig = np.concatenate([probe_eig, rest_eig])
    ok = np.concatenate([probe_ok, rest_ok])
    gram = _gram_accepted(A3, eig, ok, rtol)
    log_sigma = np.empty_like(eig)
    log_sigma[gram] = 0.5 * np.log(eig[gram][:, ::-1])
    if not np.all(gram):
        log_sigma[~gram] = _svd_log_sigma(A3[~gram])
    return log_sigma, gram


def _check_full_rank(
    log_sigma: np.ndarray, rank_tol: float, batch_shape: tuple, hint: str = ""
) -> None:
    """Raise :class:`RankDeficientError` for zero or numerically singular matrices."""
    top, bottom = log_sigma[..., 0], log_sigma[..., -1]
    zero_matrix = top == -np.inf
    with np.errstate(invalid="ignore"):
        log_ratio = np.where(zero_matrix, -np.inf, bottom - top)
    limit = np.log(rank_tol) if rank_tol > 0 else -np.inf
    deficient = (log_ratio <= limit) | (bottom == -np.inf)
    if not np.any(deficient):
        return
    n_zero = int(np.count_nonzero(zero_matrix))
    n_exact = int(np.count_nonzero((bottom == -np.inf) & ~zero_matrix))
    details = []
    if deficient.size > 1 and deficient.size <= 20:
        indices = [tuple(int(i) for i in idx) for idx in np.argwhere(deficient)]
        details.append(
            f"batch indices {[i[0] for i in indices] if len(batch_shape) == 1 else indices}"
        )
    if n_zero:
        details.append(f"{n_zero} zero matrix" if n_zero == 1 else f"{n_zero} zero matrices")
    if n_exact:
        details.append(f"{n_exact} with an exactly zero singular value")
    finite = log_ratio[deficient & np.isfinite(log_ratio)]
    if finite.size:
        details.append(f"smallest σ_min/σ_max = {float(np.exp(finite.min())):.3g}")
    who = (
        "A is"
        if deficient.size == 1
        else f"{int(np.count_nonzero(deficient))} of {deficient.size} matrices in A are"
    )
    raise RankDeficientError(
        f"{who} rank-deficient ({'; '.join(details)}): σ_min <= rank_tol·σ_max with "
        f"rank_tol = {rank_tol:.3g}. Normalized spectra and their logarithms need full-rank "
        "matrices. Pass a smaller `rank_tol` to accept nearly singular matrices "
        "(rank_tol=0 accepts any σ_min > 0; an exactly zero singular value always fails, "
        "log 0 being undefined), or drop the null directions first" + hint
    )


def _log_singular_values(A, method, rtol, rank_tol) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``log σ`` ``(..., d)`` and the Gram-route mask ``(...)``."""
    check_choice(method, METHODS, "method")
    rtol = _check_rtol(rtol)
    arr = _as_matrix_batch(A)
    batch_shape, (m, n) = arr.shape[:-2], arr.shape[-2:]
    if rank_tol is None:
        rank_tol = default_rank_tol(m, n)
    rank_tol = float(rank_tol)
    if not (rank_tol >= 0 and np.isfinite(rank_tol)):
        raise InputError(f"rank_tol must be a finite number >= 0, got {rank_tol!r}")
    log_sigma, gram = _log_sigma_routes(arr.reshape(-1, m, n), method, rtol)
    log_sigma = log_sigma.reshape(*batch_shape, min(m, n))
    hint = (
        ". The Gram route squares the condition number: try method='svd'"
        if method == "gram"
        else ""
    )
    _check_full_rank(log_sigma, rank_tol, batch_shape, hint)
    return log_sigma, gram.reshape(batch_shape)


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def log_singular_values(
    A,
    *,
    method: str = "auto",
    rtol: float = 1e-10,
    rank_tol: float | None = None,
    return_route: bool = False,
):
    """Logarithms of the singular values of a batch of full-rank matrices, descending.

    Parameters
    ----------
    A : array_like, shape (..., m, n)
        Real matrices (any real dtype; computed in float64), ``d = min(m, n) >= 2``.
    method : {"auto", "svd", "gram"}
        Numerical route (see Notes).
    rtol : float
        Relative accuracy required of every ``σ_k²`` before the Gram route is accepted.
    rank_tol : float, optional
        Matrices with ``σ_min <= rank_tol·σ_max`` are rejected (default ``max(m, n)·eps``).
    return_route : bool
        Also return the boolean mask, shape ``(...)``, of the matrices that took the Gram
        route.

    Returns
    -------
    numpy.ndarray, shape (..., d)
        ``log σ_1 >= … >= log σ_d`` (natural logs). With ``return_route``, a pair
        ``(log_sigma, used_gram)``.

    Raises
    ------
    DimensionError
        ``A`` has fewer than 2 axes or ``min(m, n) < 2``.
    NonFiniteError
        ``A`` holds NaN or Inf.
    RankDeficientError
        A matrix is zero or numerically singular (see ``rank_tol``).

    Notes
    -----
    Routes, the Gram acceptance bound and the rank check are described in :func:`spectrum`.
    """
    log_sigma, gram = _log_singular_values(A, method, rtol, rank_tol)
    return (log_sigma, gram) if return_route else log_sigma


def singular_values(
    A, *, method: str = "auto", rtol: float = 1e-10, rank_tol: float | None = None
) -> np.ndarray:
    """Singular values ``σ_1 >= … >= σ_d > 0`` of a batch of full-rank matrices.

    Parameters
    ----------
    A : array_like, shape (..., m, n)
        Real matrices, ``d = min(m, n) >= 2``.
    method, rtol, rank_tol
        As in :func:`log_singular_values`.

    Returns
    -------
    numpy.ndarray, shape (..., d)
        Descending singular values, ``exp`` of :func:`log_singular_values` (the extra
        relative rounding is ``eps·|log σ|``).

    Notes
    -----
    Routes, the Gram acceptance bound and the rank check are described in :func:`spectrum`.
    """
    return np.exp(_log_singular_values(A, method, rtol, rank_tol)[0])


def cartan_coordinates_from_log_singular_values(log_sigma) -> np.ndarray:
    """Normalized Cartan coordinates ``h = log λ`` from log singular values.

    Parameters
    ----------
    log_sigma : array_like, shape (..., d)
        ``log σ_k`` in any order and with any additive constant (the scale of the matrix
        drops out), finite, ``d >= 2``. May lie far outside float64's range once
        exponentiated (deep chains).

    Returns
    -------
    numpy.ndarray, shape (..., d)
        ``h_1 >= … >= h_d`` with ``logsumexp(h) = log d``.

    Notes
    -----
    ``h = 2 log σ − logsumexp(2 log σ) + log d`` (THEORY.md D1: ``λ_k = d σ_k² / Σ σ_j²``),
    with ``logsumexp(y) = max y + log Σ exp(y − max y)``: only non-positive numbers are
    exponentiated, so nothing overflows. See docs/theory/spectra-and-linear-charts.md.
    """
    try:
        arr = as_float_array(log_sigma, "log_sigma", min_ndim=1)
    except NonFiniteError:
        n_zero = int(np.count_nonzero(np.asarray(log_sigma, dtype=np.float64) == -np.inf))
        if n_zero == 0:
            raise
        raise RankDeficientError(
            f"log_sigma holds {n_zero} value(s) equal to -inf (zero singular values): "
            "normalized spectra need full-rank matrices"
        ) from None
    d = arr.shape[-1]
    if d < 2:
        raise DimensionError(
            f"log_sigma must hold d >= 2 values on its last axis (a power-law exponent "
            f"needs two ranks), got shape {arr.shape}"
        )
    y = 2.0 * -np.sort(-arr, axis=-1)
    top = y[..., :1]
    return y - top - np.log(np.sum(np.exp(y - top), axis=-1, keepdims=True)) + np.log(d)


def cartan_coordinates(
    A,
    *,
    method: str = "auto",
    rtol: float = 1e-10,
    rank_tol: float | None = None,
    return_route: bool = False,
):
    """Normalized Cartan coordinates ``h_k = log λ_k`` of a batch of matrices (D1).

    Parameters
    ----------
    A : array_like, shape (..., m, n)
        Real full-rank matrices, ``d = min(m, n) >= 2``.
    method, rtol, rank_tol, return_route
        As in :func:`log_singular_values`.

    Returns
    -------
    numpy.ndarray, shape (..., d)
        ``h`` descending with ``logsumexp(h) = log d`` (and the route mask if asked).

    Notes
    -----
    ``h = 2 log σ − logsumexp(2 log σ) + log d``
    (:func:`cartan_coordinates_from_log_singular_values`); routes and the rank check as in
    :func:`spectrum`.
    """
    log_sigma, gram = _log_singular_values(A, method, rtol, rank_tol)
    h = cartan_coordinates_from_log_singular_values(log_sigma)
    return (h, gram) if return_route else h


def spectrum(
    A,
    *,
    method: str = "auto",
    rtol: float = 1e-10,
    rank_tol: float | None = None,
    return_route: bool = False,
):
    """Frobenius-normalized spectrum ``λ_k = d σ_k² / Σ σ_j²`` of a batch of matrices (D1).

    Parameters
    ----------
    A : array_like, shape (..., m, n)
        Real full-rank matrices (float32, float64 or integer; computed in float64). For a
        rectangular ``m×n`` matrix ``d = min(m, n)`` (the smaller Gram matrix). ``d >= 2``.
    method : {"auto", "svd", "gram"}
        Numerical route (see Notes).
    rtol : float
        Relative accuracy required of every ``λ_k`` before the Gram route is accepted.
    rank_tol : float, optional
        Matrices with ``σ_min <= rank_tol·σ_max`` are rejected (default ``max(m, n)·eps``).
    return_route : bool
        Also return the boolean mask, shape ``(...)``, of the matrices that took the Gram
        route.

    Returns
    -------
    numpy.ndarray, shape (..., d)
        Eigenvalues of ``P(A) = ÂᵀÂ``, ``Â = √d A/‖A‖_F``: descending, positive, summing to
        ``d``. Invariant under scaling of ``A`` and under orthogonal factors on either side.
        Computed as ``exp(h)`` from :func:`cartan_coordinates`; for spectra spanning more
        than float64's range use the Cartan coordinates directly.

    Raises
    ------
    DimensionError, NonFiniteError, RankDeficientError
        Wrong number of axes or ``d < 2``; NaN or Inf entries; a zero or numerically
        singular matrix (the message counts them and names ``rank_tol``).

    Notes
    -----
    Route (``method``): ``"svd"`` uses ``numpy.linalg.svd(A, compute_uv=False)``; ``"gram"``
    the eigenvalues ``g`` of the smaller Gram matrix (``AᵀA`` or ``AAᵀ``); ``"auto"`` the
    Gram route only for the matrices whose computed ``g`` certify
    ``[γ_L N(A) + d·u·g_max + L·d·η] / g_min <= rtol`` (:func:`gram_relative_error_bound`,
    ``L = max(m, n)``, ``u = eps/2``), the SVD for the others. One matrix is probed first;
    if it fails, the whole batch goes to the SVD. ``rtol`` constrains the Gram route only:
    the SVD route's error on ``σ_k²`` is about ``2·d·eps·σ_1/σ_k`` whatever ``rtol`` says.

    Rank check: a matrix with ``σ_min <= rank_tol·σ_max`` raises
    :class:`~specalign.errors.RankDeficientError`. Default ``rank_tol = max(m, n)·eps``
    (float64 eps; numpy's ``matrix_rank`` rule: below it the computed ``σ_min`` is
    indistinguishable from rounding). ``rank_tol=0`` accepts any ``σ_min > 0``. Inputs
    stored in float32 are taken as exact values (the computation is float64).
    See docs/theory/spectra-and-linear-charts.md.
    """
    h, gram = cartan_coordinates(A, method=method, rtol=rtol, rank_tol=rank_tol, return_route=True)
    lam = np.exp(h)
    return (lam, gram) if return_route else lam
