"""Small inline chain computations (numpy SVDs) used by the generator tests.

Independent of specalign.estimators on purpose: the generators are checked against the
definitions of THEORY.md §2–3 written out directly here.
"""

from __future__ import annotations

import numpy as np


def log_ranks(d: int) -> np.ndarray:
    return np.log(np.arange(1, d + 1, dtype=np.float64))


def xbar(d: int) -> float:
    return float(log_ranks(d).mean())


def ls_weights(d: int) -> np.ndarray:
    """Full-window ``ls`` weights ``w_k = −(x_k − x̄)/S``: ``α̂ = ⟨w, h⟩``."""
    centered = log_ranks(d) - xbar(d)
    return -centered / np.sum(centered**2)


def log_singular_values(a: np.ndarray) -> np.ndarray:
    """``log σ`` sorted non-increasing, shape ``(..., d)``."""
    return np.log(np.linalg.svd(a, compute_uv=False))


def ls_exponent_of_log_spectrum(h: np.ndarray) -> np.ndarray:
    """``α̂`` = minus the least-squares slope of ``h`` (any order given) on ``log k``."""
    return h @ ls_weights(h.shape[-1])


def ls_exponent(a: np.ndarray) -> np.ndarray:
    """``α̂_ls`` of matrices ``a``: fit of ``log λ = 2 log σ + const`` over all ranks."""
    return ls_exponent_of_log_spectrum(2.0 * log_singular_values(a))


def ls_residual(h: np.ndarray) -> np.ndarray:
    """Residual of the least-squares fit of ``h`` on ``(1, log k)``."""
    d = h.shape[-1]
    design = np.stack([np.ones(d), log_ranks(d)], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.moveaxis(h, -1, 0).reshape(d, -1), rcond=None)
    fitted = (design @ coef).reshape((d, *h.shape[:-1]))
    return h - np.moveaxis(fitted, 0, -1)


def top_radial(a: np.ndarray) -> np.ndarray:
    """``u(A) = 2 (log σ_1 − mean log σ)``."""
    log_sv = log_singular_values(a)
    return 2.0 * (log_sv[..., 0] - log_sv.mean(axis=-1))


def chain_products(factors) -> list[np.ndarray]:
    """``[J_0 = I, J_1, ..., J_L]`` for factor batches ``(R, d, d)``."""
    factors = list(factors)
    products = [np.broadcast_to(np.eye(factors[0].shape[-1]), factors[0].shape).copy()]
    for a in factors:
        products.append(a @ products[-1])
    return products


def interface_quantities(factors) -> dict[str, np.ndarray]:
    """Per interface (axis 0) and replicate: r, s, α̂_ls(J), ρ_ls(J), Lidskii bound."""
    factors = list(factors)
    products = chain_products(factors)
    d = factors[0].shape[-1]
    top = np.array([log_singular_values(j)[..., 0] for j in products])
    alpha = np.array([ls_exponent(j) for j in products])
    u_bar = np.array([top_radial(j) for j in products]) / xbar(d)
    r = np.array([top_radial(a) for a in factors])
    s = 2.0 * np.array(
        [log_singular_values(a)[..., 0] + top[i] - top[i + 1] for i, a in enumerate(factors)]
    )
    w_up = np.sort(ls_weights(d))
    v = np.array([2.0 * log_singular_values(a) for a in factors])  # sorted non-increasing
    lidskii = np.maximum(v[..., ::-1] @ w_up, -(v @ w_up))
    return {"r": r, "s": s, "alpha": alpha, "rho": u_bar - alpha, "lidskii": lidskii}
