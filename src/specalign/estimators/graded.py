"""Graded factored form of a long matrix product (THEORY.md D6; DESIGN.md, Data model).

A running product ``J_l = A_l ⋯ A_1 J_0`` of ``d × d`` factors is carried as

    J_l[:, column_order] = Q · diag(e^g) · U

with ``Q`` orthogonal, the log-scales ``g`` kept as logs (never exponentiated outside float64
range), ``U`` unit upper triangular and ``column_order`` a column permutation (the identity
unless a reversal of the scales had to be pivoted away). Singular values do not see ``Q`` or the
permutation, so ``σ(J_l) = σ(diag(e^g) U)``: a row-graded triangular matrix whose small singular
values keep their relative accuracy when its rows are sorted by decreasing scale. One QR per
interface updates the form; one SVD of the (shifted) graded factor gives the log-spectrum.

Derivations, accuracy and the failure modes are in docs/theory/graded-product.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np
from scipy.linalg import blas, lapack

from .._validation import as_float_array, check_dimension
from ..errors import DimensionError, InputError, RankDeficientError, SpecalignError

__all__ = [
    "GradedProduct",
    "LyapunovSpectrum",
    "graded_accuracy_estimate",
    "graded_from_matrix",
    "graded_identity",
    "graded_log_singular_values",
    "graded_multiply",
    "graded_to_matrix",
    "lyapunov_spectrum",
    "product_log_singular_values",
]

_EPS = float(np.finfo(np.float64).eps)
# Below this reciprocal condition of R' (LAPACK dtrcon estimate), Q' is formed from the
# Householder reflectors rather than by a triangular solve (whose orthogonality is ε κ(R')).
_TRSM_RCOND = 1e-3
# Largest reversal max_{j>i}(g_j − g_i) tolerated before the scales are re-sorted by pivoting.
# The update multiplies coupling entries by e^{g_j − g_i}, so this bounds that amplification
# (e^2 ≈ 7.4); a plain SVD of the graded factor stays relatively accurate well beyond it.
SORT_TOLERANCE = 2.0
# Largest span max(g) − min(g) evaluated by one SVD of exp(g − max g) · U: e^-600 ≈ 1e-261
# stays clear of float64's subnormal range (below e^-708) with room for the conditioning of U.
DIRECT_SPAN = 600.0
# Tolerance of the log-det and majorization checks of a fast SVD, in units of d ε (1 + max|g|):
# an accurate SVD misses the exact log|det| by a few d ε max|g| (rounding of the shifts and
# logs); the failures it guards against miss it by O(1).
_CHECK_ULPS = 1e3
# Distance (in log-scale) between a window's core and its cut rows: the decoupling error of the
# windowed evaluation is about e^{−2·WINDOW_MARGIN} κ(U)², negligible for κ(U) up to 1e10.
WINDOW_MARGIN = 40.0


class GradedProduct(NamedTuple):
    """A matrix product in graded factored form, batched over leading axes.

    ``J[..., :, column_order] = Q @ (exp(log_scale)[..., :, None] * U)``.

    Attributes
    ----------
    Q : ndarray, shape (..., d, d)
        Orthogonal factor.
    log_scale : ndarray, shape (..., d)
        Natural logs ``g`` of the row scales, kept non-increasing up to ``SORT_TOLERANCE``.
    U : ndarray, shape (..., d, d)
        Unit upper triangular factor.
    column_order : ndarray of int, shape (..., d)
        Column permutation of ``J`` (``arange(d)`` until a reversal is pivoted away).
    condition_sum : ndarray, shape (...)
        ``Σ_l κ_1(A_l)`` over the factors applied so far (and ``κ(J_0)``), from LAPACK's
        condition estimate of each update's triangular factor: the update-error budget read by
        :func:`graded_accuracy_estimate`.
    """

    Q: np.ndarray
    log_scale: np.ndarray
    U: np.ndarray
    column_order: np.ndarray
    condition_sum: np.ndarray


class LyapunovSpectrum(NamedTuple):
    """Finite-depth Lyapunov exponents of a chain, both descending, shape (..., d).

    ``from_singular_values = log σ_k(J_L) / L``; ``benettin = sort↓(g_L) / L`` (the diagonal of
    the QR of ``J_L``, the classical Benettin estimate); ``depth = L``.
    """

    from_singular_values: np.ndarray
    benettin: np.ndarray
    depth: int


# ---------------------------------------------------------------------------------------------
# Construction


def graded_identity(batch_shape: int | tuple[int, ...], d: int) -> GradedProduct:
    """Graded form of the identity ``J = I_d`` for every batch element.

    Parameters
    ----------
    batch_shape : int or tuple of int
        Leading (replicate) shape, e.g. ``(R,)``; ``()`` for a single chain.
    d : int
        Dimension, ``d >= 2``.

    Returns
    -------
    GradedProduct
        ``Q = U = I``, ``log_scale = 0``, ``column_order = arange(d)``.
    """
    d = check_dimension(d)
    shape = (batch_shape,) if isinstance(batch_shape, int | np.integer) else tuple(batch_shape)
    if any(int(n) < 0 for n in shape):
        raise DimensionError(f"batch_shape must hold non-negative sizes, got {shape}")
    eye = np.broadcast_to(np.eye(d), (*shape, d, d))
    return GradedProduct(
        Q=eye.copy(),
        log_scale=np.zeros((*shape, d)),
        U=eye.copy(),
        column_order=np.broadcast_to(np.arange(d), (*shape, d)).copy(),
        condition_sum=np.zeros(shape),
    )


def graded_from_matrix(J0) -> GradedProduct:
    """Graded form of explicit full-rank matrices ``J0``, shape (..., d, d).

    Parameters
    ----------
    J0 : array_like, shape (..., d, d)
        Finite, square, full rank (numerically: every pivot of its QR above ``d·ε·‖J0‖``).

    Returns
    -------
    GradedProduct
        Sorted graded form with ``J0[..., :, column_order] = Q diag(e^g) U``.

    Raises
    ------
    DimensionError
        ``J0`` is not a (batch of) square matrices with ``d >= 2``.
    RankDeficientError
        ``J0`` is singular to working precision.

    Notes
    -----
    ``J0 = Q R`` (Householder QR), ``g = log|R_ii|``, ``U = diag(R)^{-1} R``; the scales are then
    sorted by the pivoting swaps of docs/theory/graded-product.md.
    """
    J0 = _as_square_batch(J0, "J0")
    d = J0.shape[-1]
    Q, R = np.linalg.qr(J0)
    pivots = np.abs(np.diagonal(R, axis1=-2, axis2=-1))
    size = np.linalg.norm(J0, axis=(-2, -1))
    singular = pivots.min(axis=-1) <= d * _EPS * size
    if np.any(singular):
        raise RankDeficientError(
            f"J0 is singular to working precision in {int(np.count_nonzero(singular))} batch "
            "element(s) (a QR pivot below d·eps·‖J0‖); start the chain from a full-rank matrix"
        )
    signs = np.where(np.diagonal(R, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    U = R / (signs * pivots)[..., :, None]
    U[..., np.arange(d), np.arange(d)] = 1.0
    state = GradedProduct(
        Q=Q * signs[..., None, :],
        log_scale=np.log(pivots),
        U=U,
        column_order=np.broadcast_to(np.arange(d), pivots.shape).copy(),
        condition_sum=np.linalg.cond(J0),
    )
    return _sorted(state)


# ---------------------------------------------------------------------------------------------
# Update


def graded_multiply(state: GradedProduct, A) -> GradedProduct:
    """Apply one factor on the left: ``J ← A J``, in graded form.

    Parameters
    ----------
    state : GradedProduct
        Current product, batch shape ``S``.
    A : array_like, shape (..., d, d)
        Factor(s); the batch shape broadcasts against ``S``.

    Returns
    -------
    GradedProduct
        The graded form of ``A J`` (batch shape: the broadcast of both).

    Raises
    ------
    DimensionError
        ``A`` is not square of the state's dimension, or the batch shapes do not broadcast.
    RankDeficientError
        A factor is exactly singular (a zero pivot: ``log σ_d`` would be ``−∞``).

    Notes
    -----
    With ``J = Q D U``, ``D = diag(e^g)``: ``A Q = Q' R'`` (QR, ``diag R' > 0``), and
    ``R' D = D (D^{-1} R' D)`` with ``(D^{-1} R' D)_ij = R'_ij e^{g_j − g_i}``, damped (``≤ R'_ij``)
    for ``j > i`` when ``g`` is non-increasing. Hence ``g ← g + log R'_ii``,
    ``U ← V U`` with ``V_ij = R'_ij e^{g_j − g_i} / R'_ii``, ``Q ← Q'``. When a reversal
    ``max_{j>i}(g_j − g_i)`` exceeds ``SORT_TOLERANCE`` the scales are re-sorted by adjacent
    pivoting swaps (exact orthogonal transformations). See docs/theory/graded-product.md.
    """
    A = as_float_array(A, "A", min_ndim=2)
    d = state.U.shape[-1]
    if A.shape[-2:] != (d, d):
        raise DimensionError(
            f"factor A must have shape (..., {d}, {d}) to multiply a product of dimension {d}; "
            f"got {A.shape}"
        )
    try:
        batch = np.broadcast_shapes(A.shape[:-2], state.log_scale.shape[:-1])
    except ValueError as exc:
        raise DimensionError(
            f"the batch shape {A.shape[:-2]} of A does not broadcast against the product's "
            f"batch shape {state.log_scale.shape[:-1]}"
        ) from exc
    Q_new, R, condition = _positive_qr(A, state.Q, batch)
    pivots = np.diagonal(R, axis1=-2, axis2=-1).copy()
    g = state.log_scale
    V = _damp_in_place(R, g, pivots)
    V[..., np.arange(d), np.arange(d)] = 1.0
    column_order = state.column_order
    if column_order.shape[:-1] != batch:
        column_order = np.broadcast_to(column_order, (*batch, d)).copy()
    new = GradedProduct(
        Q=Q_new,
        log_scale=g + np.log(pivots),
        U=V @ state.U,
        column_order=column_order,
        condition_sum=state.condition_sum + condition,
    )
    return _sorted(new)


def _positive_qr(A: np.ndarray, Q: np.ndarray, batch: tuple[int, ...]):
    """``A Q = Q' R'`` with ``diag R' > 0``; returns ``(Q', R', κ_1(R'))``, batch ``batch``.

    Householder QR (LAPACK ``dgeqrf``, in place on a Fortran view, no copies). ``Q'`` is then
    ``(A Q) R'^{-1}`` by one triangular solve (BLAS-3, cheaper than forming it from the
    reflectors), orthogonal to ``≈ ε κ(A)``; where the estimated ``κ(R') = κ(A)`` exceeds
    ``1/_TRSM_RCOND`` it is formed from the reflectors instead (orthogonal to ``≈ ε``). The
    batch loop calls LAPACK directly because numpy's stacked QR copies every matrix and always
    forms ``Q'`` from the reflectors (about 1.5 times slower here).
    """
    d = Q.shape[-1]
    # C-ordered (A Q)^T, i.e. A Q in Fortran order per matrix: LAPACK works in place on it.
    product_t = np.matmul(Q.swapaxes(-1, -2), A.swapaxes(-1, -2))
    if product_t.shape != (*batch, d, d):
        product_t = np.broadcast_to(product_t, (*batch, d, d)).copy()
    flat = product_t.reshape(-1, d, d)
    q_t = flat.copy()  # (A Q)^T, overwritten by Q'^T below
    from_reflectors = np.zeros(len(flat), dtype=bool)
    rcond = np.empty(len(flat))
    lwork = _geqrf_lwork(d)
    for n in range(len(flat)):
        fortran = flat[n].T
        _, tau, _, _ = lapack.dgeqrf(fortran, lwork=lwork, overwrite_a=1)
        if np.any(np.diagonal(fortran) == 0.0):
            raise RankDeficientError(
                "a factor A is exactly singular (zero QR pivot), so the product has a zero "
                "singular value and log σ = −inf; perturb or drop the singular factor"
            )
        rcond[n] = lapack.dtrcon(fortran)[0]
        if rcond[n] < _TRSM_RCOND:
            from_reflectors[n] = True
            q_t[n] = lapack.dorgqr(fortran, tau, lwork=lwork, overwrite_a=0)[0].T
    flat *= _lower_mask(d)  # drop the reflectors: R' is the upper triangle of each Fortran view
    R = flat.swapaxes(-1, -2)  # views; R[n] is Fortran-contiguous
    signs = np.where(np.diagonal(R, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    R *= signs[:, :, None]
    for n in np.flatnonzero(~from_reflectors):
        # Q'^T in C order = Q' in Fortran order: solve X R' = A Q in place.
        blas.dtrsm(1.0, R[n], q_t[n].T, side=1, lower=0, overwrite_b=1)
    if np.any(from_reflectors):
        q_t[from_reflectors] *= signs[from_reflectors][:, :, None]
    return (
        q_t.reshape(*batch, d, d).swapaxes(-1, -2),
        R.reshape(*batch, d, d),
        (1.0 / rcond).reshape(batch),
    )


@functools.cache
def _geqrf_lwork(d: int) -> int:
    return max(int(lapack.dgeqrf_lwork(d, d)[0]), d)


@functools.cache
def _lower_mask(d: int) -> np.ndarray:
    return np.tril(np.ones((d, d)))


def _damp_in_place(R: np.ndarray, g: np.ndarray, pivots: np.ndarray) -> np.ndarray:
    """Turn ``R'`` into ``V = D^{-1} R' D / diag(R')``: ``V_ij = R'_ij e^{g_j − g_i} / R'_ii``.

    Two in-place scalings by ``e^{±(g − max g)}`` when every span is small enough for them to
    stay in float64's range (cheap); one exponential per entry otherwise.
    """
    top = g.max(axis=-1, keepdims=True)
    if np.all(top - g.min(axis=-1, keepdims=True) <= DIRECT_SPAN):
        R *= (np.exp(top - g) / pivots)[..., :, None]
        R *= np.exp(g - top)[..., None, :]
        return R
    gap = np.triu(g[..., None, :] - g[..., :, None])
    # Above the diagonal gap <= SORT_TOLERANCE (sorted scales); very negative gaps underflow to
    # 0, which is their correct (negligible) value.
    return R * np.exp(np.minimum(gap, 700.0)) / pivots[..., :, None]


# ---------------------------------------------------------------------------------------------
# Sorting the scales by adjacent pivoting swaps


def _reversal(g: np.ndarray) -> np.ndarray:
    """``max_{j>i} (g_j − g_i)`` over ``i`` (0 when sorted), shape (...)."""
    later_max = np.maximum.accumulate(g[..., ::-1], axis=-1)[..., ::-1][..., 1:]
    return np.maximum((later_max - g[..., :-1]).max(axis=-1), 0.0)


def _sorted(state: GradedProduct) -> GradedProduct:
    """Return ``state`` with non-increasing scales where a reversal exceeds SORT_TOLERANCE.

    Odd-even transposition passes of adjacent swaps, each swap an exact pivoting step
    (docs/theory/graded-product.md, "Reversals"), until no adjacent pair is reversed.
    """
    g = state.log_scale
    needs = _reversal(g) > SORT_TOLERANCE
    if not np.any(needs):
        return state
    d = g.shape[-1]
    arrays = [np.array(a, copy=True) for a in state[:4]]  # Q, g, U, column_order
    flat = needs.reshape(-1)
    parts = [a.reshape(-1, *a.shape[needs.ndim :])[flat] for a in arrays]
    parts = _sort_by_swaps(*parts, d)
    for full, part in zip(arrays, parts, strict=True):
        full.reshape(-1, *full.shape[needs.ndim :])[flat] = part
    return GradedProduct(*arrays, condition_sum=state.condition_sum)


def _sort_by_swaps(Q, g, U, order, d: int):
    """Odd-even transposition sort of ``g`` (batch (N, d)) by exact pivoting swaps."""
    rows = np.arange(len(g))[:, None]
    quiet_rounds = 0
    for sweep in range(4 * d + 4):
        first = np.arange(sweep % 2, d - 1, 2)
        if first.size == 0:
            continue
        second = first + 1
        a, b = g[:, first], g[:, second]
        swap = b > a
        if not np.any(swap):
            quiet_rounds += 1
            if quiet_rounds >= 2:
                break
            continue
        quiet_rounds = 0
        coupling = np.where(swap, U[:, first, second], 0.0)
        # Pivot: swap columns i, i+1 of U (and of J via column_order) ...
        ci, cj = U[:, :, first], U[:, :, second]
        s3 = swap[:, None, :]
        U[:, :, first], U[:, :, second] = np.where(s3, cj, ci), np.where(s3, ci, cj)
        oi, oj = order[:, first], order[:, second]
        order[:, first], order[:, second] = np.where(swap, oj, oi), np.where(swap, oi, oj)
        # ... then re-triangularize rows i, i+1 with a reflection absorbed into Q. With
        # c = U_{i,i+1} (before the column swap) and t = e^{a−b} <= 1:
        #   new row i   = (c t² row_i + row_{i+1}) / (1 + c² t²)   at scale b + ½ log(1 + c² t²)
        #   new row i+1 = row_i − c row_{i+1}                       at scale a − ½ log(1 + c² t²)
        c = coupling
        t = np.exp(np.minimum(a - b, 0.0))
        ct = c * t
        h = 1.0 + ct * ct
        alpha = (ct * t / h)[:, :, None]
        beta = (1.0 / h)[:, :, None]
        ri, rj = U[:, first, :], U[:, second, :]
        new_i = alpha * ri + beta * rj
        new_j = ri - c[:, :, None] * rj
        new_i[rows, np.arange(first.size)[None, :], first[None, :]] = 1.0
        new_j[rows, np.arange(first.size)[None, :], first[None, :]] = 0.0
        new_j[rows, np.arange(first.size)[None, :], second[None, :]] = 1.0
        s2 = swap[:, :, None]
        U[:, first, :] = np.where(s2, new_i, ri)
        U[:, second, :] = np.where(s2, new_j, rj)
        half_log = 0.5 * np.log1p(ct * ct)
        g[:, first] = np.where(swap, b + half_log, a)
        g[:, second] = np.where(swap, a - half_log, b)
        cos, sin = ct / np.sqrt(h), 1.0 / np.sqrt(h)
        qi, qj = Q[:, :, first], Q[:, :, second]
        Q[:, :, first] = np.where(s3, cos[:, None, :] * qi + sin[:, None, :] * qj, qi)
        Q[:, :, second] = np.where(s3, sin[:, None, :] * qi - cos[:, None, :] * qj, qj)
    return Q, g, U, order


# ---------------------------------------------------------------------------------------------
# Spectrum


def graded_log_singular_values(state: GradedProduct) -> np.ndarray:
    """Natural-log singular values of the product, descending, shape (..., d).

    Parameters
    ----------
    state : GradedProduct

    Returns
    -------
    ndarray, shape (..., d)
        ``log σ_1(J) ≥ … ≥ log σ_d(J)``, finite whatever the range of ``σ``.

    Notes
    -----
    ``σ(J) = σ(diag(e^g) U)``. When ``span(g) <= DIRECT_SPAN`` this is one values-only SVD
    (LAPACK ``gesdd``) of ``diag(e^{g − max g}) U``, accepted when it passes the exact
    identity ``Σ_k log σ_k = Σ_k g_k`` (``log|det|``, as ``U`` is unit triangular) and the
    Weyl–Horn inequalities ``Σ_{k≤m} log σ_k ≥ Σ_{k≤m} sort↓(g)_k``. Bidiagonalization has no
    pivoting, so it can lose the small singular values of a graded matrix (when the large
    rows are nearly mutually orthogonal, e.g. equal leading exponents over a large gap);
    the check catches that and the matrix is then redone by LAPACK ``gejsv`` (preconditioned
    one-sided Jacobi, relative accuracy ``≈ d ε κ(U)``, about 7 times slower). Wider spans are
    cut into overlapping windows (each one QR and one checked SVD). See
    docs/theory/graded-product.md.
    """
    g, U = state.log_scale, state.U
    d = g.shape[-1]
    batch = g.shape[:-1]
    g_flat = g.reshape(-1, d)
    U_flat = np.broadcast_to(U, (*batch, d, d)).reshape(-1, d, d)
    span = np.ptp(g_flat, axis=-1)
    direct = span <= DIRECT_SPAN
    out = np.empty_like(g_flat)
    if np.all(direct):  # the common case: no boolean-index copies
        out = _checked_log_singular_values(g_flat, U_flat, g_flat)
    elif np.any(direct):
        out[direct] = _checked_log_singular_values(g_flat[direct], U_flat[direct], g_flat[direct])
    for n in np.flatnonzero(~direct):
        out[n] = _windowed_log_singular_values(g_flat[n], U_flat[n])
    return out.reshape(*batch, d)


def _checked_log_singular_values(
    g: np.ndarray, T: np.ndarray, log_diagonal: np.ndarray
) -> np.ndarray:
    """Descending ``log σ(diag(e^g) T)`` for a batch (N, d) / (N, d, d), span(g) <= 700.

    ``T`` is triangular and ``log_diagonal = g + log|diag T|`` (exact, from the factors):
    ``Σ log σ = Σ log_diagonal`` and the majorization of ``sort↓(log_diagonal)`` by ``log σ``
    are the checks; the fast SVD is redone by preconditioned Jacobi where they fail.
    """
    top = g.max(axis=-1, keepdims=True)
    with np.errstate(under="ignore"):
        scaled = np.exp(g - top)[..., :, None] * T
    logs = _safe_log(np.linalg.svd(scaled, compute_uv=False)) + top
    for n in np.flatnonzero(~_passes_checks(logs, log_diagonal)):
        logs[n] = _jacobi_log_singular_values(scaled[n]) + top[n]
    return logs


def _passes_checks(logs: np.ndarray, log_diagonal: np.ndarray) -> np.ndarray:
    """``Σ log σ = log|det|`` and Weyl–Horn ``Σ_{k≤m} log σ_k ≥ Σ_{k≤m} sort↓(log|T_kk|)``.

    Shapes (N, d) → (N,). For a triangular matrix the eigenvalues are the diagonal entries,
    which the singular values majorize multiplicatively (equality of the full products).
    """
    d = log_diagonal.shape[-1]
    scale = 1.0 + np.abs(log_diagonal).max(axis=-1)
    tolerance = _CHECK_ULPS * d * _EPS * scale
    diagonal_sorted = -np.sort(-log_diagonal, axis=-1)
    excess = np.cumsum(logs, axis=-1) - np.cumsum(diagonal_sorted, axis=-1)
    finite = np.isfinite(logs).all(axis=-1)
    with np.errstate(invalid="ignore"):
        det_ok = np.abs(excess[..., -1]) <= tolerance
        majorized = (excess >= -tolerance[:, None]).all(axis=-1)
    return finite & det_ok & majorized


def _jacobi_log_singular_values(scaled: np.ndarray) -> np.ndarray:
    """Descending ``log σ`` of one row-graded matrix by LAPACK ``dgejsv`` (JOBA='C').

    ``dgejsv`` (Drmač–Veselić) is QR with column pivoting and row sorting followed by one-sided
    Jacobi; for ``B = D X`` it has relative accuracy ``≈ d ε κ(X)`` for every singular value.
    It is applied to ``Bᵀ = Xᵀ D`` (the column-scaled form its accuracy statement is about).
    """
    sva, _, _, work, _, info = lapack.dgejsv(
        np.asfortranarray(scaled.T), joba=0, jobu=3, jobv=3, jobr=1, jobt=0, jobp=0
    )
    if info != 0:
        raise SpecalignError(
            f"LAPACK dgejsv failed (info={info}) on a graded factor; the product is too "
            "ill-conditioned for float64 log-spectra"
        )
    return np.sort(_safe_log(sva))[::-1] + (math.log(work[0]) - math.log(work[1]))


def _safe_log(x: np.ndarray) -> np.ndarray:
    """``log x`` with ``−inf`` (no warning) for zeros; the checks then reject the result."""
    with np.errstate(divide="ignore"):
        return np.log(x)


def _windowed_log_singular_values(g: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Log-singular values of ``diag(e^g) U`` for one matrix whose span of ``g`` is wide.

    For a core of indices ``[i0, i1)``, rows ``[m, k)`` with every row above ``m`` at least
    ``WINDOW_MARGIN`` above the core and every row from ``k`` on at least ``WINDOW_MARGIN``
    below it: ``U[:k]ᵀ = Q R`` and ``σ_i(J) ≈ σ_{i−m}(diag(e^{g_w}) R_wwᵀ)``, ``w = [m, k)``.
    """
    d = g.size
    # Span of the singular values taken from one window (its rows span this + 2 margins).
    core_span = DIRECT_SPAN - 2.0 * (WINDOW_MARGIN + SORT_TOLERANCE)
    prefix_min = np.minimum.accumulate(g)
    suffix_max = np.maximum.accumulate(g[::-1])[::-1]
    out = np.empty(d)
    start = 0
    while start < d:
        # Core: indices from `start` whose scales stay within core_span of its top.
        core_top = suffix_max[start]
        stop = start + 1
        while stop < d and core_top - prefix_min[stop] <= core_span:
            stop += 1
        core_low = prefix_min[stop - 1]
        m = int(np.count_nonzero(prefix_min[:start] >= core_top + WINDOW_MARGIN))
        below = np.flatnonzero(suffix_max[stop:] <= core_low - WINDOW_MARGIN)
        k = stop + int(below[0]) if below.size else d
        window = np.linalg.qr(U[:k].T, mode="r")[m:k, m:k]
        g_window = g[m:k]
        log_diagonal = g_window + np.log(np.abs(np.diagonal(window)))
        logs = _checked_log_singular_values(g_window[None], window.T[None], log_diagonal[None])
        out[start:stop] = logs[0, start - m : stop - m]
        start = stop
    return out


def graded_to_matrix(state: GradedProduct) -> np.ndarray:
    """Explicit product ``J``, shape (..., d, d) — only when ``e^g`` fits in float64 (tests).

    Raises
    ------
    InputError
        Some ``e^{g}`` overflows float64: the product has left float64's range; use
        :func:`graded_log_singular_values` instead.
    """
    g = state.log_scale
    if np.any(g > math.log(np.finfo(np.float64).max) - 1.0):
        raise InputError(
            f"the product has left float64's range (largest log-scale {float(g.max()):.1f} > "
            "708); it cannot be formed explicitly — use graded_log_singular_values"
        )
    with np.errstate(under="ignore"):
        permuted = state.Q @ (np.exp(g)[..., :, None] * state.U)
    J = np.empty_like(permuted)
    order = np.broadcast_to(state.column_order[..., None, :], permuted.shape)
    np.put_along_axis(J, order, permuted, axis=-1)
    return J


def graded_accuracy_estimate(state: GradedProduct) -> np.ndarray:
    """Estimated absolute error of each computed log-singular value, shape (..., d).

    Parameters
    ----------
    state : GradedProduct

    Returns
    -------
    ndarray, shape (..., d)
        ``δ = 4 d ε (κ(U) + Σ_l κ_1(A_l))``, the same for every ``k`` (a relative error of
        ``σ_k`` is an absolute error of ``log σ_k``); ``Σ_l κ_1(A_l)`` is
        ``state.condition_sum``.

    Notes
    -----
    First-order bound, usually pessimistic by one to three orders of magnitude (errors add up
    like a random walk, not linearly). Each QR update is a relative backward perturbation
    ``≲ d ε`` of ``A_l``, i.e. a left multiplicative perturbation ``(I + F_l)`` of the product
    with ``‖F_l‖ ≲ d ε κ(A_l)``, which moves every ``log σ_k`` by at most ``‖F_l‖``; the SVD of
    the row-graded factor is a row-wise relative perturbation ``≲ d ε`` of ``U``, i.e. a right
    multiplicative perturbation of size ``≲ d ε κ(U)``. A chain analysis should flag its
    log-spectra when ``δ`` exceeds its tolerance, e.g. ``1e-6`` (docs/theory/graded-product.md,
    "When accuracy is lost"). Cost: one values-only SVD of ``U``.
    """
    d = state.U.shape[-1]
    sigma = np.linalg.svd(state.U, compute_uv=False)
    kappa = sigma[..., 0] / np.maximum(sigma[..., -1], np.finfo(np.float64).tiny)
    bound = 4.0 * d * _EPS * (kappa + state.condition_sum)
    return np.broadcast_to(bound[..., None], (*bound.shape, d)).copy()


# ---------------------------------------------------------------------------------------------
# Whole chains


def product_log_singular_values(factors, J0=None) -> np.ndarray:
    """Log-singular values of ``J_L = A_L ⋯ A_1 J_0``, descending.

    Parameters
    ----------
    factors : array_like or iterable
        Array of shape (L, d, d) or (L, R, d, d), or an iterable of (d, d) / (R, d, d)
        batches; the first factor is applied first.
    J0 : array_like, shape (d, d) or (R, d, d), optional
        Starting matrix (identity by default).

    Returns
    -------
    ndarray, shape (d,) or (R, d)
        ``log σ_k(J_L)`` (natural logs), finite however far ``σ`` leaves float64's range.

    Notes
    -----
    Streams the factors through :func:`graded_multiply` (memory ``O(R d²)``, whatever ``L``)
    and evaluates :func:`graded_log_singular_values` once at the end (THEORY.md D6).
    """
    state, _ = _run_chain(factors, J0)
    return graded_log_singular_values(state)


def lyapunov_spectrum(factors, J0=None) -> LyapunovSpectrum:
    """Finite-depth Lyapunov exponents of a chain by two estimates.

    Parameters
    ----------
    factors : array_like or iterable
        As in :func:`product_log_singular_values`.
    J0 : array_like, optional
        Starting matrix (identity by default).

    Returns
    -------
    LyapunovSpectrum
        ``from_singular_values = log σ_k(J_L) / L`` and ``benettin = sort↓(g_L) / L`` (the
        classical QR estimate ``Σ_l log R^{(l)}_ii / L``), both shape (..., d), and ``depth``.

    Notes
    -----
    Both converge to the Lyapunov exponents ``λ_1 ≥ … ≥ λ_d`` of an ergodic chain; their
    difference at depth ``L`` is ``O(1/L)`` (the graded factor ``U`` stays bounded).
    """
    state, depth = _run_chain(factors, J0)
    return LyapunovSpectrum(
        from_singular_values=graded_log_singular_values(state) / depth,
        benettin=-np.sort(-state.log_scale, axis=-1) / depth,
        depth=depth,
    )


def _run_chain(factors, J0) -> tuple[GradedProduct, int]:
    state = None if J0 is None else graded_from_matrix(J0)
    depth = 0
    for factor in _factor_stream(factors):
        if state is None:
            state = graded_identity(factor.shape[:-2], factor.shape[-1])
        state = graded_multiply(state, factor)
        depth += 1
    if depth == 0:
        raise InputError("factors is empty: a chain needs at least one factor")
    return state, depth


def _factor_stream(factors) -> Iterator[np.ndarray]:
    """Yield the factor batches of ``factors`` one interface at a time, validated."""
    if isinstance(factors, np.ndarray):
        if factors.ndim not in (3, 4):
            raise DimensionError(
                f"factors must have shape (L, d, d) or (L, R, d, d), got {factors.shape}"
            )
        stream: Iterable = iter(factors)
    elif isinstance(factors, Iterable) and not isinstance(factors, str | bytes):
        stream = factors
    else:
        raise InputError(
            "factors must be an array (L, d, d) / (L, R, d, d) or an iterable of (d, d) or "
            f"(R, d, d) batches, got {type(factors).__name__}"
        )
    for index, factor in enumerate(stream):
        yield _as_square_batch(factor, f"factor {index}", max_batch_ndim=1)


def _as_square_batch(x, name: str, max_batch_ndim: int | None = None) -> np.ndarray:
    arr = as_float_array(x, name, min_ndim=2)
    if arr.shape[-1] != arr.shape[-2]:
        raise DimensionError(f"{name} must be square (..., d, d), got shape {arr.shape}")
    if max_batch_ndim is not None and arr.ndim - 2 > max_batch_ndim:
        raise DimensionError(f"{name} must have shape (d, d) or (R, d, d), got {arr.shape}")
    check_dimension(arr.shape[-1], f"the dimension d of {name}")
    return arr
