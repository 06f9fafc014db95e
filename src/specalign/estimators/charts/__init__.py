"""Fitted power-law charts (THEORY.md D5): one module per chart.

Every chart module ``charts/<name>.py`` exposes

    fit(h, *, window=None, **options) -> ChartEstimate

taking normalized Cartan coordinates ``h = log λ`` of shape ``(..., d)`` (sorted
non-increasing, ``logsumexp(h) = log d``) and returning the exponent ``α̂`` (eigenvalue rank
convention) with a per-spectrum status code. The public entry points are
:func:`fit_exponent` (spectra ``λ``) and :func:`fit_exponent_log` (Cartan coordinates).
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import numpy as np

from ..._validation import as_spectrum, check_choice
from ...errors import ChartError

__all__ = [
    "CHARTS",
    "STATUS_CAPPED",
    "STATUS_NOT_CONVERGED",
    "STATUS_OK",
    "ChartEstimate",
    "fit_exponent",
    "fit_exponent_log",
]

#: Chart names, in the order datasets list them.
CHARTS = ("ls", "gibbs", "hellinger", "top", "tail")

#: Status codes of a chart fit, per spectrum.
STATUS_OK = 0
STATUS_CAPPED = 1  # spectrum more concentrated than alpha_max allows: α̂ = alpha_max
STATUS_NOT_CONVERGED = 2


class ChartEstimate(NamedTuple):
    """Exponents from one chart: ``alpha`` (shape ``batch``) and ``status`` (int8, same shape)."""

    alpha: np.ndarray
    status: np.ndarray


def chart_module(chart: str):
    """Return the module implementing ``chart`` (raises ChartError listing valid names)."""
    try:
        check_choice(chart, CHARTS, "chart")
    except ValueError as exc:
        raise ChartError(str(exc)) from None
    return importlib.import_module(f"{__name__}.{chart}")


def fit_exponent_log(h, chart: str = "ls", window=None, *, throw: bool = True, **options):
    """Fit the exponent of Cartan coordinates ``h = log λ`` (see :func:`fit_exponent`)."""
    module = chart_module(chart)
    h = np.asarray(h, dtype=np.float64)
    estimate = module.fit(h, window=window, **options)
    if throw and np.any(estimate.status == STATUS_NOT_CONVERGED):
        n_bad = int(np.count_nonzero(estimate.status == STATUS_NOT_CONVERGED))
        raise ChartError(
            f"chart {chart!r} did not converge on {n_bad} spectrum(s); raise `maxiter` or "
            "pass throw=False to get NaN with a status array from chart_fit"
        )
    return estimate.alpha


def fit_exponent(lam, chart: str = "ls", window=None, *, throw: bool = True, **options):
    """Fitted power-law exponent ``α̂`` of spectra ``lam`` in the chosen chart.

    Parameters
    ----------
    lam : array_like, shape (..., d)
        Positive spectra (any scale; they are sorted non-increasing and normalized to sum
        ``d`` first). ``d >= 2``.
    chart : {"ls", "gibbs", "hellinger", "top", "tail"}
        The chart (THEORY.md D5). ``ls`` is the default ("the specified chart").
    window : None, (k_lo, k_hi) or float q
        Rank window of the ``ls`` chart: all ranks (None), explicit 1-based inclusive ranks,
        or the energy-quantile window ``[1, k_q]`` (THEORY.md D9).
    throw : bool
        Raise :class:`~specalign.errors.ChartError` if an iterative chart fails to converge.
    **options
        Chart options (e.g. ``alpha_max`` for ``gibbs`` and ``hellinger``).

    Returns
    -------
    numpy.ndarray, shape (...)
        ``α̂`` in the eigenvalue rank convention (``λ_k ∝ k^(−α)``, so ``σ_k ∝ k^(−α/2)``).
    """
    lam = as_spectrum(lam, "lam")
    h = np.log(lam) - np.log(lam.sum(axis=-1, keepdims=True)) + np.log(lam.shape[-1])
    return fit_exponent_log(h, chart, window, throw=throw, **options)
