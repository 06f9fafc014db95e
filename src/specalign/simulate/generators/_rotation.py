"""Haar-random orthogonal matrices and geodesic interpolation on SO(d).

Used by the ``orbit`` and ``converse`` generators to rotate eigenbases between interfaces.
See docs/theory/generators.md, "Rotating the eigenbasis".
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ._random import ReplicateRandom


def haar_orthogonal(random: ReplicateRandom, d: int, *, special: bool = False) -> np.ndarray:
    """Haar-distributed orthogonal matrices, shape ``(R, d, d)``.

    Parameters
    ----------
    random : ReplicateRandom
        Source of the ``(d, d)`` Gaussian draw per replicate (one draw, nothing else).
    d : int
        Dimension.
    special : bool
        If True, return Haar matrices on SO(d) (determinant +1).

    Notes
    -----
    QR of a Gaussian matrix ``G = Q R`` with the signs fixed so that ``diag(R) > 0`` gives Haar
    measure on O(d) (Mezzadri 2007). Flipping the first column of the ``det = -1`` ones is a
    fixed right translation of that coset onto SO(d), so the result is Haar on SO(d).
    """
    gaussian = random.standard_normal((d, d))
    q, r = np.linalg.qr(gaussian)
    signs = np.where(np.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    q = q * signs[:, None, :]
    if special:
        det_sign, _ = np.linalg.slogdet(q)
        q[:, :, 0] *= det_sign[:, None]
    return q


def reorthonormalize(q: np.ndarray) -> np.ndarray:
    """Nearest-by-Gram–Schmidt orthogonal matrices to ``q`` (QR with ``diag(R) > 0``).

    Long products of orthogonal matrices drift from orthogonality by rounding (about
    ``eps`` per product); one QR per interface keeps the eigenbasis orthogonal to rounding.
    """
    q_new, r = np.linalg.qr(q)
    signs = np.where(np.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    return q_new * signs[:, None, :]


def geodesic_power(rotation: np.ndarray, t: float) -> np.ndarray:
    """``exp(t · log H)`` for special orthogonal ``H``, shape ``(R, d, d)``.

    Parameters
    ----------
    rotation : ndarray, shape (R, d, d)
        Matrices in SO(d).
    t : float
        Fraction of the geodesic from the identity (``t = 0``) to ``H`` (``t = 1``).

    Notes
    -----
    An orthogonal ``H`` is a direct sum of plane rotations by angles ``θ_j ∈ (−π, π]`` (and
    ``+1`` on the rest). The principal logarithm rotates each plane by ``θ_j``; ``exp(t log H)``
    rotates it by ``t θ_j``: the constant-speed geodesic of the bi-invariant metric.
    ``t = 0`` and ``t = 1`` return ``I`` and ``H`` exactly.

    Computed by spectral calculus of the symmetric part ``C = (H + Hᵀ)/2`` (eigenvalues
    ``cos θ_j``, one symmetric ``eigh`` per matrix, batched) with the skew part
    ``S = (H − Hᵀ)/2``, which commutes with ``C`` and carries the sign of each ``θ_j``:

        exp(t log H) = c(C) + S s(C),  c(x) = cos(t arccos x),
                                       s(x) = sin(t arccos x) / sin(arccos x)

    (on a plane ``C = cos θ I``, ``S = sin θ J``, so this is ``cos(tθ) I + sin(tθ) J``).
    ``c`` and ``s`` are functions of ``C`` alone, so degenerate or close eigenvalues of ``C`` do
    not matter. Near ``θ = π`` the factor ``1/sin θ`` amplifies rounding (the logarithm itself
    is discontinuous there); matrices with an angle within ``1e-4`` of ``π`` use the real
    Schur form instead, which reads each angle from its 2×2 block (pairs of eigenvalues ``−1``
    are rotated by ``t π``).
    """
    d = rotation.shape[-1]
    if t == 0.0:
        return np.broadcast_to(np.eye(d), rotation.shape).copy()
    if t == 1.0:
        return rotation.copy()
    transposed = np.swapaxes(rotation, -1, -2)
    cosines, vectors = np.linalg.eigh(0.5 * (rotation + transposed))
    angles = np.arccos(np.clip(cosines, -1.0, 1.0))
    sines = np.sin(angles)
    near_pi = np.any(angles > np.pi - _NEAR_PI, axis=-1)
    safe = np.where(sines > 0.0, sines, 1.0)
    even = np.cos(t * angles)
    odd = np.where(sines > 0.0, np.sin(t * angles) / safe, t)  # sin(tθ)/sin θ → t at θ = 0
    vectors_t = np.swapaxes(vectors, -1, -2)
    result = (vectors * even[:, None, :]) @ vectors_t + 0.5 * (rotation - transposed) @ (
        (vectors * odd[:, None, :]) @ vectors_t
    )
    for index in np.flatnonzero(near_pi):
        result[index] = _geodesic_power_schur(rotation[index], t)
    return result


#: Angles within this distance of π are handled by the real Schur form.
_NEAR_PI = 1e-4


def _geodesic_power_schur(h: np.ndarray, t: float) -> np.ndarray:
    schur, basis = scipy.linalg.schur(h, output="real")
    d = h.shape[0]
    blocks = np.zeros((d, d))
    # LAPACK sets the subdiagonal to exact zeros between blocks of the real Schur form
    starts = np.flatnonzero(np.diagonal(schur, -1) != 0.0)
    angles = t * np.arctan2(
        0.5 * (schur[starts + 1, starts] - schur[starts, starts + 1]),
        0.5 * (schur[starts, starts] + schur[starts + 1, starts + 1]),
    )
    _set_plane_rotations(blocks, starts, starts + 1, angles)
    in_block = np.zeros(d, dtype=bool)
    in_block[starts] = in_block[starts + 1] = True
    singles = np.flatnonzero(~in_block)
    positive = singles[schur[singles, singles] > 0.0]
    negative = singles[schur[singles, singles] <= 0.0]
    blocks[positive, positive] = 1.0
    # eigenvalue −1 has even multiplicity on SO(d): rotate each pair of planes by t·π
    pairs = len(negative) // 2
    first, second = negative[: 2 * pairs : 2], negative[1 : 2 * pairs : 2]
    _set_plane_rotations(blocks, first, second, np.full(pairs, t * np.pi))
    if len(negative) % 2:  # only reachable through rounding on a det = +1 input
        blocks[negative[-1], negative[-1]] = -1.0
    return basis @ blocks @ basis.T


def _set_plane_rotations(blocks: np.ndarray, i: np.ndarray, j: np.ndarray, angles: np.ndarray):
    cos, sin = np.cos(angles), np.sin(angles)
    blocks[i, i] = cos
    blocks[j, j] = cos
    blocks[j, i] = sin
    blocks[i, j] = -sin
