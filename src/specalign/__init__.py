"""specalign: spectral geometry of deep residual networks.

The public API (THEORY.md and DESIGN.md beside the repository describe every quantity):

- spectra and charts: :func:`spectrum`, :func:`orbit`, :func:`fit_exponent`,
  :func:`chart_fit`, :func:`top_radial`, :func:`effective_rank`;
- chains: :func:`analyze_chain`, :func:`product_log_singular_values`,
  :func:`lyapunov_spectrum`; generators in :mod:`specalign.simulate`;
- studies: :func:`run_study` (imported on first use: it pulls in Dask and Zarr).

Exponents are eigenvalue rank exponents (``λ_k ∝ k^-α``, so ``σ_k ∝ k^-α/2``) unless a
name says otherwise; :mod:`specalign.estimators.conventions` converts.
"""

from __future__ import annotations

from . import errors, estimators, simulate
from .estimators.chain import analyze_chain
from .estimators.charts import fit_exponent
from .estimators.charts.quality import chart_fit
from .estimators.coordinates import top_radial
from .estimators.graded import lyapunov_spectrum, product_log_singular_values
from .estimators.orbit import orbit
from .estimators.rank import effective_rank
from .estimators.spectra import spectrum

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "analyze_chain",
    "chart_fit",
    "effective_rank",
    "errors",
    "estimators",
    "fit_exponent",
    "lyapunov_spectrum",
    "orbit",
    "product_log_singular_values",
    "run_study",
    "simulate",
    "spectrum",
    "top_radial",
]


def __getattr__(name: str):
    # Studies import Dask, distributed and Zarr: only when asked for.
    if name == "run_study":
        from .studies.runner import run_study

        return run_study
    raise AttributeError(f"module 'specalign' has no attribute {name!r}")
