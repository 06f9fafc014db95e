"""Running products ``J_l = A_l J_{l−1}`` for :func:`analyze_chain`: graded or explicit.

The graded form (docs/theory.md, "Graded products") is the default and the only one that
stays accurate at any depth; the explicit running product is kept for comparison and for
benchmarks, and is only valid while the product's singular values stay within float64's
range and its condition number well below ``1/ε``.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .graded import (
    graded_accuracy_estimate,
    graded_from_matrix,
    graded_identity,
    graded_log_singular_values,
    graded_multiply,
)
from .spectra import log_singular_values

PRODUCTS = ("graded", "explicit")


class GradedStream:
    """``J`` in the graded form ``Q diag(e^g) U``; one QR and one graded SVD per step."""

    def __init__(self, n_rep: int, d: int, J0: np.ndarray | None):
        self.state = graded_identity((n_rep,), d) if J0 is None else graded_from_matrix(J0)

    def multiply(self, A: np.ndarray) -> None:
        self.state = graded_multiply(self.state, A)

    def log_singular_values(self) -> np.ndarray:
        return graded_log_singular_values(self.state)

    def error_estimate(self) -> np.ndarray:
        """First-order bound on the absolute error of every ``log σ_k(J)``, shape (R,)."""
        return graded_accuracy_estimate(self.state)[:, 0]


class ExplicitStream:
    """``J`` as an explicit matrix; one matmul and one SVD per step (comparison only)."""

    def __init__(self, n_rep: int, d: int, J0: np.ndarray | None):
        self.J = np.broadcast_to(np.eye(d), (n_rep, d, d)).copy() if J0 is None else J0.copy()

    def multiply(self, A: np.ndarray) -> None:
        self.J = A @ self.J

    def log_singular_values(self) -> np.ndarray:
        return log_singular_values(self.J, method="svd")

    def error_estimate(self) -> np.ndarray:
        """``d ε κ(J)``: the relative accuracy of the SVD's smallest singular value."""
        log_sigma = self.log_singular_values()
        d = log_sigma.shape[-1]
        return d * np.finfo(np.float64).eps * np.exp(log_sigma[:, 0] - log_sigma[:, -1])


def product_stream(kind: str, n_rep: int, d: int, J0: np.ndarray | None):
    """Return the running-product object of ``kind`` (``graded`` or ``explicit``)."""
    if kind == "graded":
        return GradedStream(n_rep, d, J0)
    if kind == "explicit":
        return ExplicitStream(n_rep, d, J0)
    raise InputError(f"unknown product representation {kind!r}; allowed: {PRODUCTS}")
