"""The ``top`` chart: the normalized top-radial coordinate ``α̂ = ū`` (THEORY.md D4, D5).

``ū = (h_1 − mean h) / xbar_d`` reads the exponent exactly on the orbit, from the top
eigenvalue and the geometric mean alone; it has no rank window.
"""

from __future__ import annotations

import numpy as np

from ...errors import ChartError
from ..coordinates import top_radial_log
from . import ChartEstimate

__all__ = ["fit"]


def fit(h, *, window=None) -> ChartEstimate:
    """Exponent ``α̂ = ū`` (normalized top-radial coordinate) of Cartan coordinates.

    Parameters
    ----------
    h : array_like, shape (..., d)
        Cartan coordinates ``log λ`` (any additive constant and order), finite, ``d >= 2``.
    window : None
        The ``top`` chart uses the whole spectrum; any other value is a ChartError.

    Returns
    -------
    ChartEstimate
        ``alpha = ū >= 0`` and ``status`` (always ``STATUS_OK``).

    Notes
    -----
    ``ū = (max h − mean h) / xbar_d``, ``xbar_d = log(d!)/d``; ``ū(λ(α)) = α``. See
    docs/theory/spectra-and-linear-charts.md.
    """
    if window is not None:
        raise ChartError(
            f"the 'top' chart has no rank window (it uses λ_1 and the geometric mean of the "
            f"whole spectrum); got window={window!r}. Pass window=None, or use chart='ls' "
            "for a windowed fit"
        )
    alpha = np.asarray(top_radial_log(h))
    return ChartEstimate(alpha, np.zeros(alpha.shape, dtype=np.int8))
