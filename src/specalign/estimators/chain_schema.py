"""Names, dimensions and attributes of the variables :func:`analyze_chain` returns.

One table so that the chain analysis, the study store (created before any task runs) and
the documentation agree on every variable.
"""

from __future__ import annotations

from typing import NamedTuple

from .bounds import BOUNDS, CHART_BOUNDS


class VariableSpec(NamedTuple):
    dims: tuple[str, ...]
    dtype: str
    long_name: str
    units: str
    description: str


_C, _R, _I, _K = "chart", "replicate", "interface", "rank"

_BASE: dict[str, VariableSpec] = {
    "exponent": VariableSpec(
        (_C, _R, _I),
        "float64",
        "fitted exponent of the partial product J_l",
        "1",
        "α̂_l = c(J_l), eigenvalue rank exponent (λ_k ∝ k^-α) in the chart c",
    ),
    "initial_exponent": VariableSpec(
        (_C, _R),
        "float64",
        "fitted exponent of J_0",
        "1",
        "α̂_0 = c(J_0) in the chart c",
    ),
    "factor_exponent": VariableSpec(
        (_C, _R, _I),
        "float64",
        "fitted exponent of the factor A_l",
        "1",
        "static per-layer profile c(A_l), eigenvalue rank exponent",
    ),
    "chart_status": VariableSpec(
        (_C, _R, _I),
        "int8",
        "chart fit status of J_l",
        "1",
        "0 ok, 1 capped at alpha_max, 2 not converged",
    ),
    "top_radial": VariableSpec(
        (_R, _I),
        "float64",
        "normalized top-radial coordinate of J_l",
        "1",
        "ū(J_l) = (log λ_1 − mean_k log λ_k)/xbar_d; equals α on exact power laws",
    ),
    "initial_top_radial": VariableSpec(
        (_R,),
        "float64",
        "normalized top-radial coordinate of J_0",
        "1",
        "ū(J_0)",
    ),
    "chart_residual": VariableSpec(
        (_C, _R, _I),
        "float64",
        "signed orbit-chart residual of J_l",
        "1",
        "ρ_l = ū(J_l) − α̂_l",
    ),
    "hellinger_residual": VariableSpec(
        (_C, _R, _I),
        "float64",
        "Hellinger residual of the chart fit of J_l",
        "1",
        "H(p_l, p(α̂_l)), H² = ½ Σ (√p − √q)²",
    ),
    "radial_amplitude": VariableSpec(
        (_R, _I),
        "float64",
        "interface radial amplitude",
        "nat",
        "r_l = u(A_l) = 2 log(σ_1(A_l)/GM(σ(A_l)))",
    ),
    "slack": VariableSpec(
        (_R, _I),
        "float64",
        "non-backtracking slack",
        "nat",
        "s_l = 2 [log σ_1(A_l) + log σ_1(J_{l−1}) − log σ_1(J_l)]",
    ),
    "condition_amplitude": VariableSpec(
        (_R, _I),
        "float64",
        "condition amplitude of the factor",
        "nat",
        "κ_l = log(σ_1(A_l)/σ_d(A_l))",
    ),
    "log_condition_product": VariableSpec(
        (_R, _I),
        "float64",
        "log condition number of J_l",
        "nat",
        "log(σ_1(J_l)/σ_d(J_l))",
    ),
    "log_spectrum_error_estimate": VariableSpec(
        (_R,),
        "float64",
        "estimated error of the log-singular values",
        "nat",
        "first-order bound 4 d ε (κ(U_L) + Σ_l κ(A_l)) on |δ log σ_k(J_l)|, any l",
    ),
    "bw_step": VariableSpec(
        (_R, _I),
        "float64",
        "spectral Bures–Wasserstein step",
        "1",
        "b_l = ‖√λ(J_l) − √λ(J_{l−1})‖₂ (trace-d normalized spectra)",
    ),
    "transport": VariableSpec(
        (_R, _I),
        "float64",
        "spectral transport up to interface l",
        "1",
        "T_l = Σ_{i≤l} b_i",
    ),
    "action": VariableSpec(
        (_R, _I),
        "float64",
        "spectral action up to interface l",
        "1",
        "𝒜_l = Σ_{i≤l} b_i²",
    ),
    "hellinger_displacement": VariableSpec(
        (_R, _I),
        "float64",
        "Hellinger distance of J_l's spectrum from J_0's",
        "1",
        "H(p_0, p_l)",
    ),
}

_TRANSPORT: dict[str, VariableSpec] = {
    "near_identity_radius": VariableSpec(
        (_R, _I),
        "float64",
        "distance of the factor from the identity",
        "1",
        "ε_l = ‖A_l − I‖₂ (spectral norm)",
    ),
}

_FIRST_ORDER: dict[str, VariableSpec] = {
    "first_order_exponent": VariableSpec(
        (_R, _I),
        "float64",
        "T5 first-order prediction of the ls exponent",
        "1",
        "⟨w, ν − mean ν⟩, ν = eig↓(S_l + S_lᵀ), S_l = Σ_{i≤l} (A_i − I)",
    ),
    "first_order_remainder_exponent": VariableSpec(
        (_R, _I),
        "float64",
        "T5 remainder of the ls exponent",
        "1",
        "α̂_ls(J_l) (full window) − first_order_exponent",
    ),
    "first_order_top_radial": VariableSpec(
        (_R, _I),
        "float64",
        "T5 first-order prediction of ū",
        "1",
        "(ν_1 − mean ν)/xbar_d",
    ),
    "first_order_remainder_top_radial": VariableSpec(
        (_R, _I),
        "float64",
        "T5 remainder of ū",
        "1",
        "ū(J_l) − first_order_top_radial",
    ),
    "first_order_remainder_cartan": VariableSpec(
        (_R, _I),
        "float64",
        "T5 remainder of the Cartan coordinate (sup norm)",
        "nat",
        "max_k |h_k(J_l) − (ν_k − mean ν)|",
    ),
}

_SPECTRA: dict[str, VariableSpec] = {
    "log_singular_values": VariableSpec(
        (_R, _I, _K),
        "float64",
        "log singular values of J_l",
        "nat",
        "unnormalized log σ_k(J_l), descending in k",
    ),
}

_BOUND_ACTUAL = {
    "margin": "|α̂_l − α̂_{l−1}|",
    "displacement": "|α̂_l − α̂_0|",
    "apriori": "|α̂_l − α̂_{l−1}|",
    "budget": "max_l |α̂_l − α̂_{l−1}|",
    "lidskii": "|α̂_l − α̂_{l−1}| (ls chart)",
    "hellinger": "H(p_0, p_l)",
    "transport": "T_l = Σ_{i≤l} b_i",
    "action": "T_l = Σ_{i≤l} b_i",
}

_BOUND_FORMULA = {
    "margin": "T1 adjacent: max(r_l, s_l)/xbar_d + |Δρ_l|",
    "displacement": "T1 segment: |Σ_{i≤l}(r_i − s_i)|/xbar_d + |ρ_l − ρ_0|",
    "apriori": "T1 factor-only: 2κ_l/xbar_d + |Δρ_l|",
    "budget": "C1: 2 log M/(L xbar_d) + max s/xbar_d + max |Δρ|, M = (max σ_1/GM)^L",
    "lidskii": "T2: max(⟨sort↑w, sort↑v⟩, −⟨sort↑w, sort↓v⟩), v = 2 log σ(A_l)",
    "hellinger": "T3: H(p_0, p(α̂_0)) + FR(α̂_0, α̂_l)/(2√2) + H(p(α̂_l), p_l)",
    "transport": "T4 near-identity: √d Σ_{i≤l} 2ε_i/(1−ε_i), NaN once some ε_i ≥ 1",
    "action": "T4 Cauchy–Schwarz: √(l Σ_{i≤l} b_i²)",
}


def bound_dims(name: str) -> tuple[str, ...]:
    """Dimensions of ``bound_<name>`` (and its tightness and violation variables)."""
    dims: tuple[str, ...] = (_C, _R) if name in CHART_BOUNDS else (_R,)
    return dims if name == "budget" else (*dims, _I)


def bound_specs(name: str) -> dict[str, VariableSpec]:
    """The three variables of one bound."""
    dims = bound_dims(name)
    actual = _BOUND_ACTUAL[name]
    return {
        f"bound_{name}": VariableSpec(
            dims, "float64", f"{name} bound", "1", f"{_BOUND_FORMULA[name]}; bounds {actual}"
        ),
        f"tightness_{name}": VariableSpec(
            dims,
            "float64",
            f"{name} bound tightness",
            "1",
            f"({actual}) / bound_{name} in [0, 1]; NaN where the bound is 0 or undefined",
        ),
        f"violation_{name}": VariableSpec(
            dims,
            "bool",
            f"{name} bound violated",
            "1",
            f"({actual}) > bound · (1 + 1e-9) + 1e-12",
        ),
    }


def chain_schema(
    *,
    bounds=BOUNDS,
    keep_spectra: bool = False,
    first_order: bool = False,
    batched: bool = True,
) -> dict[str, VariableSpec]:
    """Variables of an :func:`analyze_chain` result, with dims, dtype and attributes.

    Parameters
    ----------
    bounds : sequence of str
        Bound names (subset of :data:`~specalign.estimators.bounds.BOUNDS`).
    keep_spectra, first_order : bool
        Whether ``log_singular_values`` and the T5 variables are present.
    batched : bool
        Whether the ``replicate`` dimension is present.
    """
    specs = dict(_BASE)
    if first_order:
        specs.update(_FIRST_ORDER)
    if keep_spectra:
        specs.update(_SPECTRA)
    if "transport" in bounds:  # ε_l costs one more SVD per factor: only when needed
        specs.update(_TRANSPORT)
    for name in bounds:
        specs.update(bound_specs(name))
    if not batched:
        specs = {
            key: spec._replace(dims=tuple(dim for dim in spec.dims if dim != _R))
            for key, spec in specs.items()
        }
    return specs
