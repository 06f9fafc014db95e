"""Estimators: pure numpy/scipy functions of spectra, charts, chains and bounds.

No I/O and no Dask here (DESIGN.md). Modules, in the order of THEORY.md:

- :mod:`.spectra` (D1), :mod:`.orbit` (D2, D3, P1, T4 on the orbit), :mod:`.coordinates` (D4),
  :mod:`.charts` (D5: one module per chart), :mod:`.geometry` (P1, T3),
  :mod:`.rank` (D9, T6, T7), :mod:`.conventions` (exponent conventions);
- chains: :mod:`.graded` (deep products), :mod:`.interfaces` (D6), :mod:`.bounds` (T1–T4),
  :mod:`.chain` (:func:`analyze_chain`), :mod:`.chain_schema` (dataset variables).
"""

from __future__ import annotations

# The orbit *function* is exported at the top level (specalign.orbit); here it would shadow
# the submodule specalign.estimators.orbit.
from .bounds import BOUNDS
from .chain import analyze_chain
from .charts import CHARTS, fit_exponent, fit_exponent_log
from .charts.quality import ChartFit, chart_fit, chart_fit_log
from .charts.tail import TailFit, fit_tail
from .conventions import (
    density_tail_exponent_from_rank,
    rank_exponent_from_density_tail,
    rank_exponent_from_singular_value,
    singular_value_exponent_from_rank,
)
from .coordinates import radial_coordinate, top_frobenius_coordinate, top_radial
from .geometry import (
    bures_wasserstein,
    fisher_rao_distance,
    hellinger,
    kl_divergence,
    spectral_bures_wasserstein,
)
from .graded import LyapunovSpectrum, lyapunov_spectrum, product_log_singular_values
from .orbit import (
    alpha_from_mean_log_rank,
    alpha_from_tau,
    alpha_from_top_radial,
    bures_wasserstein_arc_length,
    fisher_information,
    fisher_kl_bounds,
    fisher_rao_length,
    kl_orbit,
    log_harmonic,
    mean_log_rank,
    orbit_log_spectrum,
    top_frobenius,
)
from .rank import (
    effective_rank,
    entropy_rank,
    orbit_quantile_rank_bracket,
    quantile_rank_limit,
    rank_transition_report,
    stable_rank,
)
from .spectra import (
    cartan_coordinates,
    cartan_coordinates_from_log_singular_values,
    log_singular_values,
    singular_values,
    spectrum,
)

__all__ = [
    "BOUNDS",
    "CHARTS",
    "ChartFit",
    "LyapunovSpectrum",
    "TailFit",
    "alpha_from_mean_log_rank",
    "alpha_from_tau",
    "alpha_from_top_radial",
    "analyze_chain",
    "bures_wasserstein",
    "bures_wasserstein_arc_length",
    "cartan_coordinates",
    "cartan_coordinates_from_log_singular_values",
    "chart_fit",
    "chart_fit_log",
    "density_tail_exponent_from_rank",
    "effective_rank",
    "entropy_rank",
    "fisher_information",
    "fisher_kl_bounds",
    "fisher_rao_distance",
    "fisher_rao_length",
    "fit_exponent",
    "fit_exponent_log",
    "fit_tail",
    "hellinger",
    "kl_divergence",
    "kl_orbit",
    "log_harmonic",
    "log_singular_values",
    "lyapunov_spectrum",
    "mean_log_rank",
    "orbit_log_spectrum",
    "orbit_quantile_rank_bracket",
    "product_log_singular_values",
    "quantile_rank_limit",
    "radial_coordinate",
    "rank_exponent_from_density_tail",
    "rank_exponent_from_singular_value",
    "rank_transition_report",
    "singular_value_exponent_from_rank",
    "singular_values",
    "spectral_bures_wasserstein",
    "spectrum",
    "stable_rank",
    "top_frobenius",
    "top_frobenius_coordinate",
    "top_radial",
]
