"""Streaming analysis of an operator chain (THEORY.md D6, T1–T5, §5).

:func:`analyze_chain` walks the chain ``J_l = A_l J_{l−1}`` one interface at a time: one
SVD per factor (reused for ``r``, ``κ`` and the static profile), one graded update and one
graded SVD per partial product, so memory is ``O(R d²)`` whatever the depth.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator

import numpy as np
import xarray as xr

from .._validation import as_float_array, check_choice
from ..errors import ChartError, DimensionError, InputError, RankDeficientError
from . import bounds as bnd
from .chain_schema import chain_schema
from .charts import CHARTS, chart_module
from .charts.ls import ls_weights
from .geometry import hellinger_log
from .interfaces import condition_amplitude, radial_amplitude, slack
from .orbit import fisher_rao_length, mean_log_rank_uniform, orbit_log_spectrum
from .product_stream import PRODUCTS, product_stream
from .spectra import cartan_coordinates_from_log_singular_values, log_singular_values

__all__ = ["ChainConditionWarning", "analyze_chain"]

#: Estimated absolute error of the log-singular values of the partial products above which
#: :func:`analyze_chain` warns (see its Notes).
LOG_SPECTRUM_ERROR_WARNING = 1e-6


class ChainConditionWarning(UserWarning):
    """The chain's log-spectra may have lost accuracy (ill-conditioned factors)."""


def _factor_batches(factors) -> tuple[Iterator[np.ndarray], bool]:
    """Yield factor batches ``(R, d, d)`` and tell whether the input had a replicate axis."""
    if isinstance(factors, np.ndarray):
        arr = factors
        if arr.ndim == 3:
            return (layer[None] for layer in arr), False
        if arr.ndim == 4:
            return iter(arr), True
        raise DimensionError(f"factors must have shape (L, d, d) or (L, R, d, d), got {arr.shape}")
    iterator = iter(factors)
    try:
        first = np.asarray(next(iterator))
    except StopIteration:
        raise InputError("the chain has no factors: pass at least one factor") from None
    if first.ndim not in (2, 3):
        raise DimensionError(
            f"each factor batch must have shape (d, d) or (R, d, d), got {first.shape}"
        )
    batched = first.ndim == 3

    def chained():
        yield first if batched else first[None]
        for item in iterator:
            item = np.asarray(item)
            if item.ndim != first.ndim:
                raise DimensionError(
                    f"factor batches must all have the shape of the first one "
                    f"({first.shape}), got {item.shape}"
                )
            yield item if batched else item[None]

    return chained(), batched


def _check_factor(A: np.ndarray, index: int, shape: tuple[int, ...] | None) -> np.ndarray:
    A = as_float_array(A, f"factor {index}", min_ndim=3)
    if A.shape[-1] != A.shape[-2]:
        raise DimensionError(f"factor {index} must be square, got shape {A.shape[-2:]}")
    if shape is not None and A.shape != shape:
        raise DimensionError(
            f"factor {index} has shape {A.shape}, but earlier factors have {shape}"
        )
    return A


def _spectral_hellinger(h_a: np.ndarray, h_b: np.ndarray) -> np.ndarray:
    return hellinger_log(h_a - np.log(h_a.shape[-1]), h_b - np.log(h_b.shape[-1]))


def analyze_chain(
    factors,
    charts: Iterable[str] = ("ls",),
    J0=None,
    *,
    bounds: Iterable[str] | None = None,
    window=None,
    keep_spectra: bool = False,
    first_order: bool = False,
    chart_options: dict | None = None,
    product: str = "graded",
    rank_tol: float | None = None,
) -> xr.Dataset:
    """Interface quantities, exponent profiles and every bound of one operator chain.

    Parameters
    ----------
    factors : array (L, d, d) or (L, R, d, d), or iterable of (d, d) / (R, d, d) batches
        The factors ``A_1 … A_L``, first factor applied first: ``J_l = A_l J_{l−1}``.
        An iterable is consumed lazily (streaming), so generators of any depth work.
    charts : iterable of str
        Charts for the exponent profiles (THEORY.md D5): any of ``ls``, ``gibbs``,
        ``hellinger``, ``top``, ``tail``.
    J0 : array (d, d) or (R, d, d), optional
        Initial operator; identity by default.
    bounds : iterable of str, optional
        Bounds to evaluate (default: all of :data:`~specalign.estimators.bounds.BOUNDS` that
        apply: ``lidskii`` needs the ``ls`` chart and a fixed rank window).
    window : None, (k_lo, k_hi) or float
        Rank window of the ``ls`` chart.
    keep_spectra : bool
        Add ``log_singular_values`` (dims interface, rank): unnormalized ``log σ_k(J_l)``.
    first_order : bool
        Add the T5 near-identity predictions and remainders (needs ``J0 = I``).
    chart_options : dict, optional
        Options passed to the nonlinear charts (e.g. ``{"alpha_max": 50.0}``).
    product : {"graded", "explicit"}
        How partial products are carried. ``graded`` (default) is accurate at any depth;
        ``explicit`` keeps the running matrix product, for comparisons and benchmarks only.
    rank_tol : float, optional
        A factor with ``σ_d ≤ rank_tol · σ_1`` is refused as singular (default ``d·ε``, see
        :func:`~specalign.estimators.spectra.log_singular_values`).

    Returns
    -------
    xarray.Dataset
        Dims ``chart``, ``replicate`` (only for batched input) and ``interface`` (1..L);
        variables listed by :func:`~specalign.estimators.chain_schema.chain_schema`, each
        with ``long_name``, ``units`` and ``description`` attributes.

    Notes
    -----
    Partial products are carried in the graded form ``J = Q diag(e^g) U`` (docs/theory.md,
    "Graded products"), so their log-singular values stay finite and accurate at any depth,
    however ill-conditioned the product itself becomes (``log_condition_product`` records
    it). Accuracy is lost only through ill-conditioned *factors*: each QR update is a
    backward-stable relative perturbation of ``A_l`` and moves every ``log σ_k(J)`` by up to
    ``d ε κ(A_l)``, and the final SVD adds ``d ε κ(U)``. Their sum,
    ``log_spectrum_error_estimate``, is computed once for the final product (it bounds the
    earlier ones); a :class:`ChainConditionWarning` is issued when it exceeds
    ``LOG_SPECTRUM_ERROR_WARNING = 1e-6`` (the estimate is a worst case, typically 100 to 1000
    times the actual error).
    """
    charts = (charts,) if isinstance(charts, str) else tuple(charts)
    if not charts:
        raise ChartError(f"pass at least one chart; allowed: {', '.join(CHARTS)}")
    for chart in charts:
        chart_module(chart)
    lidskii_applies = "ls" in charts and not isinstance(window, float)
    if bounds is None:  # every bound that applies to these charts and this window
        bounds = tuple(b for b in bnd.BOUNDS if b != "lidskii" or lidskii_applies)
    bounds = (bounds,) if isinstance(bounds, str) else tuple(bounds)
    for name in bounds:
        check_choice(name, bnd.BOUNDS, "bound")
    if "lidskii" in bounds and "ls" not in charts:
        raise ChartError("the lidskii bound is about the ls chart: include 'ls' in charts")
    if "lidskii" in bounds and isinstance(window, float):
        raise ChartError(
            "the lidskii bound needs a fixed rank window (None or (k_lo, k_hi)); an "
            f"energy-quantile window ({window}) moves with the spectrum. Drop 'lidskii' or "
            "use a fixed window"
        )
    chart_options = dict(chart_options or {})
    check_choice(product, PRODUCTS, "product representation")
    batches, batched = _factor_batches(factors)

    state = None
    rows = _InterfaceColumns()
    shape = None
    d = None

    record = rows.append

    for index, A in enumerate(batches, start=1):
        A = _check_factor(A, index, shape)
        if state is None:
            shape = A.shape
            n_rep, d = A.shape[0], A.shape[-1]
            xbar = mean_log_rank_uniform(d)
            J0_arr = None
            if J0 is not None:
                J0_arr = as_float_array(J0, "J0", min_ndim=2)
                if J0_arr.shape[-2:] != (d, d):
                    raise DimensionError(f"J0 must have shape ({d}, {d}), got {J0_arr.shape}")
                J0_arr = np.broadcast_to(J0_arr, (n_rep, d, d)).copy()
            state = product_stream(product, n_rep, d, J0_arr)
            log_sigma_prev = np.zeros((n_rep, d)) if J0 is None else state.log_singular_values()
            h_prev = cartan_coordinates_from_log_singular_values(log_sigma_prev)
            h_start = h_prev
            initial = {c: _fit(c, h_prev, window, chart_options) for c in charts}
            weights = ls_weights(d, window) if "lidskii" in bounds else None
            first_order_sum = np.zeros((n_rep, d, d)) if first_order else None
            if first_order and J0 is not None:
                raise InputError("first_order=True needs J0 = identity (the T5 expansion)")
            eye = np.eye(d)

        rows.next_interface()
        try:
            log_sigma_A = log_singular_values(A, rank_tol=rank_tol)
        except RankDeficientError as exc:
            raise RankDeficientError(
                f"factor {index} of the chain is singular (or numerically so): {exc}"
            ) from None
        state.multiply(A)
        log_sigma_J = state.log_singular_values()
        h = cartan_coordinates_from_log_singular_values(log_sigma_J)
        h_A = cartan_coordinates_from_log_singular_values(log_sigma_A)

        record("radial_amplitude", radial_amplitude(log_sigma_A))
        record("condition_amplitude", condition_amplitude(log_sigma_A))
        record("slack", slack(log_sigma_A[:, 0], log_sigma_prev[:, 0], log_sigma_J[:, 0]))
        record("log_condition_product", condition_amplitude(log_sigma_J))
        u_bar = (h[:, 0] - h.mean(axis=-1)) / xbar
        record("top_radial", u_bar)
        record("bw_step", np.linalg.norm(np.exp(h / 2) - np.exp(h_prev / 2), axis=-1))
        record("hellinger_displacement", _spectral_hellinger(h_start, h))
        if "transport" in bounds:
            record("near_identity_radius", np.linalg.norm(A - eye, ord=2, axis=(-2, -1)))
        if "lidskii" in bounds:
            record("bound_lidskii", bnd.lidskii_bound(weights, log_sigma_A))
        for chart in charts:
            alpha, status = _fit(chart, h, window, chart_options)
            record(f"exponent/{chart}", alpha)
            record(f"chart_status/{chart}", status)
            record(f"factor_exponent/{chart}", _fit(chart, h_A, window, chart_options)[0])
            record(
                f"hellinger_residual/{chart}",
                _spectral_hellinger(h, orbit_log_spectrum(np.clip(alpha, 0, None), d)),
            )
            if "hellinger" in bounds:
                # Computed here, not after the loop, so memory stays flat in the depth.
                record(
                    f"fisher_rao/{chart}",
                    fisher_rao_length(
                        np.clip(initial[chart][0], 0, None), np.clip(alpha, 0, None), d
                    ),
                )
        if keep_spectra:
            record("log_singular_values", log_sigma_J)
        if first_order:
            first_order_sum += A - eye
            nu = np.linalg.eigvalsh(first_order_sum + first_order_sum.transpose(0, 2, 1))
            nu = nu[:, ::-1] - nu.mean(axis=-1, keepdims=True)
            ls_w = ls_weights(d, None)
            record("first_order_exponent", np.sum(nu * ls_w, axis=-1))
            record("first_order_remainder_exponent", np.sum((h - nu) * ls_w, axis=-1))
            record("first_order_top_radial", nu[:, 0] / xbar)
            record("first_order_remainder_cartan", np.max(np.abs(h - nu), axis=-1))
        log_sigma_prev, h_prev = log_sigma_J, h

    if state is None:
        raise InputError("the chain has no factors: pass at least one factor")
    data = rows.arrays()  # (R, L), or (R, L, d) for spectra

    # The error estimate only grows along the chain (it sums the factors' condition numbers),
    # so the final state's estimate bounds every interface's.
    error = state.error_estimate()
    inexact = error > LOG_SPECTRUM_ERROR_WARNING
    if np.any(inexact):
        warnings.warn(
            f"{int(np.count_nonzero(inexact))} chain(s) may have log-singular values off by "
            f"up to {float(error.max()):.1e} (ill-conditioned factors); see "
            "log_spectrum_error_estimate",
            ChainConditionWarning,
            stacklevel=2,
        )

    out: dict[str, np.ndarray] = {}
    for key in (
        "radial_amplitude",
        "condition_amplitude",
        "slack",
        "log_condition_product",
        "top_radial",
        "bw_step",
        "hellinger_displacement",
    ):
        out[key] = data[key]
    out["log_spectrum_error_estimate"] = error
    out["transport"] = np.cumsum(data["bw_step"], axis=-1)
    out["action"] = np.cumsum(data["bw_step"] ** 2, axis=-1)
    if "near_identity_radius" in data:
        out["near_identity_radius"] = data["near_identity_radius"]
    if keep_spectra:
        out["log_singular_values"] = data["log_singular_values"]

    r, s = data["radial_amplitude"], data["slack"]
    u_bar0 = (h_start[:, 0] - h_start.mean(axis=-1)) / xbar
    out["initial_top_radial"] = u_bar0

    per_chart: dict[str, list[np.ndarray]] = {}
    for chart in charts:
        alpha = data[f"exponent/{chart}"]
        alpha0 = initial[chart][0]
        rho = data["top_radial"] - alpha
        rho0 = u_bar0 - alpha0
        rho_all = np.concatenate([rho0[:, None], rho], axis=-1)
        alpha_all = np.concatenate([alpha0[:, None], alpha], axis=-1)
        drift = np.abs(np.diff(alpha_all, axis=-1))
        rho_step = np.diff(rho_all, axis=-1)
        chart_values = {
            "exponent": alpha,
            "initial_exponent": alpha0,
            "factor_exponent": data[f"factor_exponent/{chart}"],
            "chart_status": data[f"chart_status/{chart}"].astype(np.int8),
            "chart_residual": rho,
            "hellinger_residual": data[f"hellinger_residual/{chart}"],
        }
        actual_bound = {}
        if "margin" in bounds:
            actual_bound["margin"] = (drift, bnd.margin_bound(r, s, rho_step, xbar))
        if "displacement" in bounds:
            actual_bound["displacement"] = (
                np.abs(alpha - alpha0[:, None]),
                bnd.displacement_bound(np.cumsum(r - s, axis=-1), rho - rho0[:, None], xbar),
            )
        if "apriori" in bounds:
            actual_bound["apriori"] = (
                drift,
                bnd.apriori_bound(data["condition_amplitude"], rho_step, xbar),
            )
        if "budget" in bounds:
            actual_bound["budget"] = (drift.max(axis=-1), bnd.budget_bound(r, s, rho_step, xbar))
        if "hellinger" in bounds:
            residual0 = _spectral_hellinger(
                h_start, orbit_log_spectrum(np.clip(alpha0, 0, None), d)
            )
            fr = data[f"fisher_rao/{chart}"]
            actual_bound["hellinger"] = (
                data["hellinger_displacement"],
                bnd.hellinger_bound(residual0[:, None], fr, data[f"hellinger_residual/{chart}"]),
            )
        for name, (actual, bound) in actual_bound.items():
            ratio, violation = bnd.tightness(actual, bound)
            chart_values[f"bound_{name}"] = bound
            chart_values[f"tightness_{name}"] = ratio
            chart_values[f"violation_{name}"] = violation
        for key, value in chart_values.items():
            per_chart.setdefault(key, []).append(value)
    for key, values in per_chart.items():
        out[key] = np.stack(values, axis=0)
    if first_order:
        for key in (
            "first_order_exponent",
            "first_order_remainder_exponent",
            "first_order_remainder_cartan",
        ):
            out[key] = data[key]
        out["first_order_top_radial"] = data["first_order_top_radial"]
        out["first_order_remainder_top_radial"] = (
            data["top_radial"] - data["first_order_top_radial"]
        )

    if "lidskii" in bounds:
        i = charts.index("ls")
        ls_alpha = np.concatenate(
            [per_chart["initial_exponent"][i][:, None], per_chart["exponent"][i]], axis=-1
        )
        actual = np.abs(np.diff(ls_alpha, axis=-1))
        bound = data["bound_lidskii"]
        out["bound_lidskii"] = bound
        out["tightness_lidskii"], out["violation_lidskii"] = bnd.tightness(actual, bound)
    actual_t = out["transport"]
    if "transport" in bounds:
        bound = bnd.transport_bound(data["near_identity_radius"], d)
        out["bound_transport"] = bound
        out["tightness_transport"], out["violation_transport"] = bnd.tightness(actual_t, bound)
    if "action" in bounds:
        bound = bnd.action_bound(data["bw_step"])
        out["bound_action"] = bound
        out["tightness_action"], out["violation_action"] = bnd.tightness(actual_t, bound)

    ds = _to_dataset(out, charts, bounds, batched, keep_spectra, first_order, d, window)
    ds.attrs["product_representation"] = {
        "graded": "graded: J = Q diag(exp g) U (accurate at any depth)",
        "explicit": "explicit running product (valid only while well conditioned)",
    }[product]
    return ds


class _InterfaceColumns:
    """Per-interface results, appended one interface at a time into buffers that double.

    Lists of small per-interface arrays would cost more than the data itself in object
    overhead, and stacking them would copy everything once more at the end.
    """

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}
        self._length = 0

    def next_interface(self) -> None:
        self._length += 1

    def append(self, name: str, value) -> None:
        value = np.asarray(value)
        buffer = self._buffers.get(name)
        if buffer is None:
            buffer = np.empty((value.shape[0], 16, *value.shape[1:]), dtype=value.dtype)
        elif buffer.shape[1] < self._length:
            grown = np.empty(
                (buffer.shape[0], 2 * buffer.shape[1], *buffer.shape[2:]), dtype=buffer.dtype
            )
            grown[:, : buffer.shape[1]] = buffer
            buffer = grown
        buffer[:, self._length - 1] = value
        self._buffers[name] = buffer

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: buf[:, : self._length] for name, buf in self._buffers.items()}


def _fit(chart, h, window, options):
    module = chart_module(chart)
    opts = options if chart in ("gibbs", "hellinger") else {}
    estimate = module.fit(h, window=window if chart == "ls" else None, **opts)
    return estimate.alpha, estimate.status


def _to_dataset(out, charts, bounds, batched, keep_spectra, first_order, d, window):
    specs = chain_schema(bounds=bounds, keep_spectra=keep_spectra, first_order=first_order)
    variables = {}
    for name, value in out.items():
        spec = specs[name]
        dims = spec.dims
        if not batched:
            value = np.take(value, 0, axis=dims.index("replicate"))
            dims = tuple(dim for dim in dims if dim != "replicate")
        attrs = {"long_name": spec.long_name, "units": spec.units, "description": spec.description}
        variables[name] = (dims, value.astype(spec.dtype, copy=False), attrs)
    n_int = out["slack"].shape[-1]
    coords = {"chart": list(charts), "interface": np.arange(1, n_int + 1)}
    if batched:
        coords["replicate"] = np.arange(out["slack"].shape[0])
    if keep_spectra:
        coords["rank"] = np.arange(1, d + 1)
    from .charts.windows import describe_window

    attrs = {
        "exponent_convention": "eigenvalue rank exponent: λ_k ∝ k^-α (σ_k ∝ k^-α/2)",
        "charts": ", ".join(charts),
        "window": describe_window(window),
        "bounds": ", ".join(bounds),
        "dimension": d,
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)
