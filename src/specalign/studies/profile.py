"""Static exponent profiles of real weights, and the chain verification built from them.

``specalign profile WEIGHTS`` (docs/checkpoints.md) runs :func:`profile_command`:

1. :func:`profile_weights`: one row per selected tensor (name, block, role, shape, status,
   reason) and, for every matrix that can be profiled, ``α̂`` per chart, ``ū``, ``ρ``,
   ``R²``, the Hellinger residual, stable / entropy / quantile ranks, and the ``tail`` chart's
   density exponent ``a`` (standard error, KS distance, tail size) with the converted rank
   exponent ``1/(a − 1)``; an xarray Dataset over ``matrix`` (:func:`write_profile_csv`
   writes it as CSV, without pandas);
2. :func:`verify_weights_chain`: the residual surrogate chain of the network
   (:func:`specalign.simulate.weights.surrogate_chain`) through
   :func:`~specalign.estimators.chain.analyze_chain`: D6 quantities and every bound of T1–T4;
3. :func:`plot_profile` (one panel per matrix role, over depth) and :func:`plot_chain_bounds`
   (drift against bound per interface); matplotlib is imported only when they run.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import shutil
import sys
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from .._validation import check_choice
from ..errors import InputError, RankDeficientError, StoreError, WeightsError
from ..estimators.bounds import BOUNDS, CHART_BOUNDS
from ..estimators.chain import ChainConditionWarning, analyze_chain
from ..estimators.charts import CHARTS, chart_module
from ..estimators.charts.quality import chart_fit_log
from ..estimators.charts.windows import describe_window
from ..estimators.conventions import density_tail_exponent_from_rank
from ..estimators.coordinates import top_radial_log
from ..estimators.rank import effective_rank_log, entropy_rank_log, stable_rank_log
from ..estimators.spectra import (
    METHODS,
    cartan_coordinates_from_log_singular_values,
    log_singular_values,
)
from ..simulate.weights import (
    ROLES,
    PreparedMatrix,
    WeightsFile,
    entry_skip_reason,
    open_weights,
    prepare_matrix,
    select_tensors,
    surrogate_chain,
)
from .provenance import EXPONENT_CONVENTION, git_commit

__all__ = [
    "CHAINS",
    "DEFAULT_CHARTS",
    "bound_actual",
    "chain_violation_count",
    "plot_chain_bounds",
    "plot_profile",
    "profile_command",
    "profile_table",
    "profile_weights",
    "save_profile_plots",
    "verify_weights_chain",
    "write_profile_csv",
]

#: Charts profiled by default (the ``tail`` chart's own numbers are always reported).
DEFAULT_CHARTS = ("ls", "gibbs", "hellinger", "top")

#: Surrogate chains verified by :func:`profile_command`: name -> residual paths per block.
CHAINS: Mapping[str, tuple[str, ...]] = {
    "network": ("attention", "mlp"),
    "attention": ("attention",),
    "mlp": ("mlp",),
}

_ROLE_TITLES = {
    "query": "query W_Q",
    "key": "key W_K",
    "value": "value W_V",
    "attention_output": "attention output W_O",
    "mlp_in": "MLP in W_1",
    "mlp_out": "MLP out W_2",
}
_BOUND_ACTUAL_LABEL = {
    "margin": "|Δα̂_l|",
    "apriori": "|Δα̂_l|",
    "lidskii": "|Δα̂_l| (ls)",
    "displacement": "|α̂_l − α̂_0|",
    "hellinger": "H(p_0, p_l)",
    "transport": "T_l = Σ b_i",
    "action": "T_l = Σ b_i",
}
_MISSING_INT = -1
_NOT_FITTED = -1
# Largest stack of matrices handed to one spectra call (bytes of float64).
_STACK_BYTES = 64 * 2**20


# --------------------------------------------------------------------------------------
# The profile table
# --------------------------------------------------------------------------------------


def _charts(charts) -> tuple[str, ...]:
    charts = (charts,) if isinstance(charts, str) else tuple(charts)
    if not charts:
        raise InputError(f"pass at least one chart; allowed: {', '.join(CHARTS)}")
    for chart in charts:
        chart_module(chart)  # ChartError listing the valid names
    if len(set(charts)) != len(charts):
        raise InputError(f"charts must not repeat, got {charts}")
    return charts


def _one_spectrum(matrix: np.ndarray, method: str, rank_tol) -> tuple:
    """``(log σ, status, reason)`` of one matrix, or why it has no spectrum."""
    try:
        return log_singular_values(matrix, method=method, rank_tol=rank_tol), "ok", ""
    except RankDeficientError:
        sigma = np.linalg.svd(matrix, compute_uv=False)
        ratio = sigma[-1] / sigma[0] if sigma[0] > 0 else 0.0
        return (
            None,
            "rejected",
            (
                f"rank deficient: σ_min/σ_max = {ratio:.3g} at or below rank_tol "
                f"({'max(m, n)·eps' if rank_tol is None else rank_tol})"
            ),
        )
    except InputError as exc:  # the SVD did not converge
        return None, "rejected", str(exc)


def _stacked_spectra(matrices: Mapping[int, np.ndarray], method: str, rank_tol) -> dict:
    """``{row: (log σ, status, reason)}`` of same-shape matrices in one stacked call.

    Stacking lets the ``auto`` route probe one matrix per stack instead of every matrix
    (trained weights are usually too ill-conditioned for the Gram route, and each failed
    probe costs a Gram eigensolve). A stack holding a singular matrix is redone matrix by
    matrix, so that only that matrix is rejected.
    """
    rows = list(matrices)
    try:
        stack = log_singular_values(
            np.stack([matrices[r] for r in rows]), method=method, rank_tol=rank_tol
        )
    except InputError:
        return {r: _one_spectrum(matrices[r], method, rank_tol) for r in rows}
    return {r: (stack[i], "ok", "") for i, r in enumerate(rows)}


class _SpectraQueue:
    """Matrices waiting for their spectra, flushed per shape once a stack is full.

    Memory stays at about one stack (``_STACK_BYTES``) per distinct shape, whatever the
    size of the file.
    """

    def __init__(self, method: str, rank_tol):
        self.method, self.rank_tol = method, rank_tol
        self.pending: dict[tuple[int, ...], dict[int, np.ndarray]] = {}
        self.results: dict[int, tuple] = {}

    def add(self, row: int, matrix: np.ndarray) -> None:
        group = self.pending.setdefault(matrix.shape, {})
        group[row] = matrix
        if len(group) * matrix.nbytes >= _STACK_BYTES:
            self.flush(matrix.shape)

    def flush(self, shape=None) -> dict[int, tuple]:
        for key in [shape] if shape is not None else list(self.pending):
            group = self.pending.pop(key)
            self.results.update(_stacked_spectra(group, self.method, self.rank_tol))
        return self.results


def _tail_numbers(h: np.ndarray) -> dict[str, np.ndarray]:
    """The tail chart's fit of each spectrum in a stack ``(n, d)`` of Cartan coordinates."""
    from ..estimators.charts.tail import fit_tail

    fit = fit_tail(h, log=True)
    return {
        "tail_exponent": np.asarray(fit.a, dtype=np.float64),
        "tail_exponent_stderr": np.asarray(fit.a_stderr, dtype=np.float64),
        "tail_ks_distance": np.asarray(fit.ks_distance, dtype=np.float64),
        "tail_size": np.asarray(fit.n_tail, dtype=np.int64),
        "tail_x_min": np.asarray(fit.x_min, dtype=np.float64),
        "tail_rank_exponent": np.asarray(fit.rank_exponent, dtype=np.float64),
        "tail_status": np.asarray(fit.status, dtype=np.int8),
    }


_TAIL_FILL = {"tail_size": _MISSING_INT, "tail_status": _NOT_FITTED}


def _fit_group(h: np.ndarray, charts, window, q, tail: bool) -> dict[str, np.ndarray]:
    """Every profile number of a stack of spectra with one dimension ``d`` (batched)."""
    out: dict[str, np.ndarray] = {
        "top_radial": np.asarray(top_radial_log(h)),
        "stable_rank": np.asarray(stable_rank_log(h)),
        "entropy_rank": np.asarray(entropy_rank_log(h)),
        "quantile_rank": np.asarray(effective_rank_log(h, q), dtype=np.int64),
        "top_frobenius": h[:, 0].copy(),
    }
    per_chart = {key: [] for key in ("alpha", "chart_status", "rho", "r2", "hellinger_residual")}
    for chart in charts:
        fit = chart_fit_log(h, chart, window if chart == "ls" else None)
        per_chart["alpha"].append(fit.alpha)
        per_chart["chart_status"].append(fit.status.astype(np.int8))
        per_chart["rho"].append(fit.rho)
        per_chart["r2"].append(fit.r2)
        per_chart["hellinger_residual"].append(fit.hellinger_residual)
    for key, values in per_chart.items():
        out[key] = np.stack(values, axis=-1)  # (n, chart)
    if tail:
        out.update(_tail_numbers(h))
    return out


_VARIABLES: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    # name: (dims, long_name, units, description)
    "block": (
        ("matrix",),
        "block index",
        "1",
        "first integer component of the name; -1 outside blocks",
    ),
    "stack": (("matrix",), "stack of blocks", "1", "name prefix before the block index"),
    "role": (
        ("matrix",),
        "matrix role",
        "1",
        "query, key, value, attention_output, mlp_in, mlp_out or other",
    ),
    "shape": (("matrix",), "stored shape", "1", "as stored (PyTorch: out_features × in_features)"),
    "dtype": (("matrix",), "stored dtype", "1", "dtype in the file"),
    "dimension": (
        ("matrix",),
        "spectrum dimension d",
        "1",
        "d = min(m, n) (THEORY.md D1); 0 when the tensor was not profiled",
    ),
    "status": (
        ("matrix",),
        "profile status",
        "1",
        "ok, skipped (not a weight matrix) or rejected (values give no spectrum)",
    ),
    "reason": (("matrix",), "reason or note", "1", "why skipped or rejected; notes for ok rows"),
    "alpha": (
        ("matrix", "chart"),
        "fitted exponent",
        "1",
        "α̂ = c(P(W)), eigenvalue rank exponent λ_k ∝ k^-α of the normalized Gram",
    ),
    "chart_status": (
        ("matrix", "chart"),
        "chart fit status",
        "1",
        "0 ok, 1 capped at alpha_max, 2 not converged, -1 not fitted",
    ),
    "rho": (("matrix", "chart"), "orbit-chart residual", "1", "ρ = ū − α̂"),
    "r2": (
        ("matrix", "chart"),
        "R² of the fit",
        "1",
        "ls: R² of the log-log fit on its window; other charts: 1 − Σe²/Σ(h − h̄)²",
    ),
    "hellinger_residual": (
        ("matrix", "chart"),
        "Hellinger residual",
        "1",
        "H(p, p(α̂)), H² = ½ Σ (√p_k − √q_k)², p = λ/d",
    ),
    "density_exponent_equivalent": (
        ("matrix", "chart"),
        "density tail exponent implied by α̂",
        "1",
        "1 + 1/α̂: the WeightWatcher-style alpha a pure power law with this α̂ would have",
    ),
    "top_radial": (
        ("matrix",),
        "normalized top-radial coordinate",
        "1",
        "ū = (log λ_1 − mean_k log λ_k)/xbar_d (THEORY.md D4)",
    ),
    "top_frobenius": (
        ("matrix",),
        "Frobenius top coordinate",
        "nat",
        "u_F = log λ_1 = log(d / stable rank)",
    ),
    "stable_rank": (("matrix",), "stable rank", "1", "d/λ_1 = ‖W‖_F²/σ_1²"),
    "entropy_rank": (("matrix",), "entropy effective rank", "1", "exp(−Σ p_k log p_k)"),
    "quantile_rank": (
        ("matrix",),
        "energy-quantile rank k_q",
        "1",
        "min{k : Σ_{i≤k} p_i ≥ q} (THEORY.md D9); q in the attribute q",
    ),
    "condition_amplitude": (("matrix",), "condition amplitude", "nat", "κ = log(σ_1/σ_d)"),
    "log_spectral_norm": (("matrix",), "log spectral norm", "nat", "log σ_1 (unnormalized)"),
    "log_frobenius_norm": (("matrix",), "log Frobenius norm", "nat", "log ‖W‖_F (unnormalized)"),
    "tail_exponent": (
        ("matrix",),
        "tail chart: density tail exponent a",
        "1",
        "continuous power-law MLE of the eigenvalue density tail, ρ(λ) ∝ λ^-a, "
        "x_min by minimum KS distance (WeightWatcher's alpha)",
    ),
    "tail_exponent_stderr": (("matrix",), "standard error of a", "1", "(a − 1)/√n_tail"),
    "tail_ks_distance": (
        ("matrix",),
        "KS distance of the tail fit",
        "1",
        "sup distance of the empirical and fitted tail CDFs",
    ),
    "tail_size": (("matrix",), "tail size", "1", "eigenvalues at or above x_min; -1 not fitted"),
    "tail_x_min": (("matrix",), "tail threshold", "1", "x_min on the trace-d normalized spectrum"),
    "tail_rank_exponent": (
        ("matrix",),
        "rank exponent converted from a",
        "1",
        "1/(a − 1), eigenvalue rank exponent (THEORY.md D2)",
    ),
    "tail_status": (
        ("matrix",),
        "tail fit status",
        "1",
        "0 ok, else see the tail chart; -1 not fitted",
    ),
    "log_singular_values": (
        ("matrix", "rank"),
        "log singular values",
        "nat",
        "log σ_k, descending; NaN beyond the matrix's d or when not profiled",
    ),
}


def profile_weights(
    weights,
    *,
    pattern: str | Sequence[str] | None = None,
    charts: Sequence[str] = DEFAULT_CHARTS,
    window=None,
    q: float = 0.9,
    tail: bool = True,
    rank_tol: float | None = None,
    method: str = "auto",
    format: str | None = None,
) -> xr.Dataset:
    """Per-matrix static exponent profile of a weight file.

    Parameters
    ----------
    weights : str, Path or WeightsFile
        A weight file (:func:`specalign.simulate.weights.open_weights`).
    pattern : str or sequence of str, optional
        Tensor selection (globs, or regexes prefixed ``re:``); all tensors by default.
    charts : sequence of str
        Charts for ``α̂`` (THEORY.md D5), default :data:`DEFAULT_CHARTS`.
    window : None, (k_lo, k_hi) or float
        Rank window of the ``ls`` chart.
    q : float
        Energy fraction of the quantile rank ``k_q``.
    tail : bool
        Fit the ``tail`` chart's eigenvalue-density power law (``a``, its standard error,
        KS distance) and convert it to a rank exponent.
    rank_tol : float, optional
        Matrices with ``σ_min <= rank_tol·σ_max`` are rejected (default ``max(m, n)·eps``).
    method : {"auto", "svd", "gram"}
        Route to the singular values (:func:`specalign.estimators.spectra.spectrum`):
        ``auto`` takes the faster Gram route only where its accuracy is certified.
    format : str, optional
        Weight file format override.

    Returns
    -------
    xarray.Dataset
        Dims ``matrix`` (every selected tensor, file order), ``chart``, ``rank``. Rows that
        were not profiled have ``status`` ``skipped`` or ``rejected``, a ``reason``, and NaN
        (or -1) in every number. Variables carry ``long_name``, ``units``, ``description``.

    Raises
    ------
    WeightsError
        The file cannot be read, the pattern matches nothing, or no selected tensor can be
        profiled (the message lists the reasons).

    Notes
    -----
    A weight ``W`` (``m×n``, ``d = min(m, n)``) is profiled through its normalized Gram
    spectrum ``λ_k = d σ_k²/Σσ_j²`` (THEORY.md D1; one SVD or a certified Gram eigen-
    decomposition per matrix), so transposing ``W`` changes nothing. Chart fits run
    batched over the matrices sharing ``d``. See docs/checkpoints.md.
    """
    charts = _charts(charts)
    q = float(q)
    if not 0.0 < q < 1.0:
        raise InputError(f"q must lie strictly between 0 and 1 (an energy fraction), got {q!r}")
    # Checked here: inside the spectra step an InputError marks a matrix as rejected.
    check_choice(method, METHODS, "method")
    if rank_tol is not None and not (np.isfinite(rank_tol) and rank_tol >= 0):
        raise InputError(f"rank_tol must be a finite number >= 0, got {rank_tol!r}")
    wf = weights if isinstance(weights, WeightsFile) else open_weights(weights, format=format)
    entries = select_tensors(wf, pattern)

    status, reason, log_sigmas = [], [], [None] * len(entries)
    queue = _SpectraQueue(method, rank_tol)
    for row, entry in enumerate(entries):
        skip = entry_skip_reason(entry)  # biases and buffers are never read
        prepared = (
            PreparedMatrix(None, "skipped", skip)
            if skip is not None
            else prepare_matrix(wf.read(entry.name), entry.dtype)
        )
        status.append(prepared.status)
        reason.append(prepared.reason)
        if prepared.status == "ok":
            queue.add(row, prepared.matrix)
    for row, (log_sigma, row_status, row_reason) in queue.flush().items():
        log_sigmas[row] = log_sigma
        status[row] = row_status
        reason[row] = row_reason or reason[row]
    ok = [i for i, s in enumerate(status) if s == "ok"]
    if not ok:
        reasons = "; ".join(
            f"{e.name}: {r}" for e, r in list(zip(entries, reason, strict=True))[:5]
        )
        raise WeightsError(
            f"none of the {len(entries)} selected tensors of {wf.path} can be profiled "
            f"({reasons}{'; …' if len(entries) > 5 else ''}). Select weight matrices, e.g. "
            "--pattern '*.weight'"
        )

    n = len(entries)
    d_of = np.zeros(n, dtype=np.int64)
    for i in ok:
        d_of[i] = log_sigmas[i].shape[-1]
    n_rank = int(d_of.max())
    data: dict[str, np.ndarray] = {
        "alpha": np.full((n, len(charts)), np.nan),
        "chart_status": np.full((n, len(charts)), _NOT_FITTED, dtype=np.int8),
        "rho": np.full((n, len(charts)), np.nan),
        "r2": np.full((n, len(charts)), np.nan),
        "hellinger_residual": np.full((n, len(charts)), np.nan),
        "log_singular_values": np.full((n, n_rank), np.nan),
    }
    for name in (
        "top_radial",
        "top_frobenius",
        "stable_rank",
        "entropy_rank",
        "condition_amplitude",
        "log_spectral_norm",
        "log_frobenius_norm",
    ):
        data[name] = np.full(n, np.nan)
    data["quantile_rank"] = np.full(n, _MISSING_INT, dtype=np.int64)
    if tail:
        for name in (
            "tail_exponent",
            "tail_exponent_stderr",
            "tail_ks_distance",
            "tail_x_min",
            "tail_rank_exponent",
        ):
            data[name] = np.full(n, np.nan)
        data["tail_size"] = np.full(n, _MISSING_INT, dtype=np.int64)
        data["tail_status"] = np.full(n, _NOT_FITTED, dtype=np.int8)

    for d in np.unique(d_of[ok]):
        rows = np.array([i for i in ok if d_of[i] == d])
        log_sigma = np.stack([log_sigmas[i] for i in rows])
        data["log_singular_values"][rows, :d] = log_sigma
        data["condition_amplitude"][rows] = log_sigma[:, 0] - log_sigma[:, -1]
        data["log_spectral_norm"][rows] = log_sigma[:, 0]
        top = log_sigma[:, :1]
        data["log_frobenius_norm"][rows] = top[:, 0] + 0.5 * np.log(
            np.sum(np.exp(2.0 * (log_sigma - top)), axis=-1)
        )
        h = cartan_coordinates_from_log_singular_values(log_sigma)
        for name, values in _fit_group(h, charts, window, q, tail).items():
            data[name][rows] = values
    with np.errstate(divide="ignore"):
        fitted = np.isfinite(data["alpha"])
        data["density_exponent_equivalent"] = np.full_like(data["alpha"], np.nan)
        data["density_exponent_equivalent"][fitted] = density_tail_exponent_from_rank(
            np.maximum(data["alpha"][fitted], 0.0)
        )

    data["block"] = np.array([_MISSING_INT if e.block is None else e.block for e in entries])
    data["stack"] = np.array([e.stack for e in entries], dtype=str)
    data["role"] = np.array([e.role for e in entries], dtype=str)
    data["shape"] = np.array(["×".join(map(str, e.shape)) or "scalar" for e in entries], dtype=str)
    data["dtype"] = np.array([e.dtype for e in entries], dtype=str)
    data["dimension"] = d_of
    data["status"] = np.array(status, dtype=str)
    data["reason"] = np.array(reason, dtype=str)

    variables = {}
    for name, value in data.items():
        dims, long_name, units, description = _VARIABLES[name]
        variables[name] = (
            dims,
            value,
            {"long_name": long_name, "units": units, "description": description},
        )
    coords = {
        "matrix": (
            "matrix",
            np.array([e.name for e in entries], dtype=str),
            {"long_name": "tensor name"},
        ),
        "chart": ("chart", np.array(charts, dtype=str), {"long_name": "chart (THEORY.md D5)"}),
        "rank": ("rank", np.arange(1, n_rank + 1), {"long_name": "rank k", "units": "1"}),
    }
    attrs = _provenance(wf) | {
        "title": f"specalign static exponent profile of {wf.path.name}",
        "charts": ", ".join(charts),
        "window": describe_window(window),
        "q": q,
        "rank_tol": "max(m, n)·eps" if rank_tol is None else rank_tol,
        "singular_value_route": method,
        "pattern": json.dumps(
            pattern if pattern is None or isinstance(pattern, str) else list(pattern)
        ),
        "spectrum": "λ_k = d σ_k² / Σ σ_j², d = min(m, n) (THEORY.md D1)",
        "n_profiled": len(ok),
        "n_skipped": status.count("skipped"),
        "n_rejected": status.count("rejected"),
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _provenance(wf: WeightsFile) -> dict:
    from importlib import metadata

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "source_file": str(wf.path),
        "source_format": wf.format,
        "source_metadata": json.dumps(wf.metadata, sort_keys=True),
        "exponent_convention": EXPONENT_CONVENTION,
        "specalign_version": version("specalign"),
        "git_commit": git_commit(),
        **{f"{name}_version": version(name) for name in ("numpy", "scipy", "xarray")},
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def _csv_value(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(value) else repr(float(value))
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    return str(value)


def profile_table(ds: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    """The profile as a flat table: ``(header, rows)`` of strings, one row per tensor.

    Columns: ``name, stack, block, role, shape, dtype, d, status, reason``; per chart
    ``alpha_<c>, status_<c>, rho_<c>, r2_<c>, hellinger_<c>, density_equiv_<c>``; then
    ``ubar, u_frobenius, stable_rank, entropy_rank, k_q<q>, kappa, log_sigma_max,
    log_frobenius``; and with the tail fit ``tail_a, tail_a_stderr, tail_ks, tail_n,
    tail_x_min, tail_alpha, tail_status`` (``tail_alpha`` the converted rank exponent
    ``1/(a − 1)``). Missing numbers are empty strings.
    """
    charts = [str(c) for c in ds["chart"].values]
    columns: list[tuple[str, str, str | None]] = [
        ("name", "matrix", None),
        ("stack", "stack", None),
        ("block", "block", None),
        ("role", "role", None),
        ("shape", "shape", None),
        ("dtype", "dtype", None),
        ("d", "dimension", None),
        ("status", "status", None),
        ("reason", "reason", None),
    ]
    for chart in charts:
        columns += [
            (f"alpha_{chart}", "alpha", chart),
            (f"status_{chart}", "chart_status", chart),
            (f"rho_{chart}", "rho", chart),
            (f"r2_{chart}", "r2", chart),
            (f"hellinger_{chart}", "hellinger_residual", chart),
            (f"density_equiv_{chart}", "density_exponent_equivalent", chart),
        ]
    columns += [
        ("ubar", "top_radial", None),
        ("u_frobenius", "top_frobenius", None),
        ("stable_rank", "stable_rank", None),
        ("entropy_rank", "entropy_rank", None),
        (f"k_q{ds.attrs.get('q', 0.9):g}", "quantile_rank", None),
        ("kappa", "condition_amplitude", None),
        ("log_sigma_max", "log_spectral_norm", None),
        ("log_frobenius", "log_frobenius_norm", None),
    ]
    if "tail_exponent" in ds:
        columns += [
            ("tail_a", "tail_exponent", None),
            ("tail_a_stderr", "tail_exponent_stderr", None),
            ("tail_ks", "tail_ks_distance", None),
            ("tail_n", "tail_size", None),
            ("tail_x_min", "tail_x_min", None),
            ("tail_alpha", "tail_rank_exponent", None),
            ("tail_status", "tail_status", None),
        ]
    values = []
    for _, variable, chart in columns:
        array = ds[variable]
        if chart is not None:
            array = array.sel(chart=chart)
        values.append(array.values)
    rows = [[_csv_value(column[i]) for column in values] for i in range(ds.sizes["matrix"])]
    return [name for name, _, _ in columns], rows


def write_profile_csv(ds: xr.Dataset, path) -> Path:
    """Write :func:`profile_table` to ``path`` (UTF-8 CSV, header row first); return the path."""
    path = Path(path)
    header, rows = profile_table(ds)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------------------
# Chain verification from weights
# --------------------------------------------------------------------------------------


def verify_weights_chain(
    weights,
    *,
    paths: Sequence[str] = ("attention", "mlp"),
    scale: float = 1.0,
    normalize: bool = False,
    charts: Sequence[str] = ("ls",),
    window=None,
    bounds: Sequence[str] | None = None,
    layout: str = "out_in",
    pattern: str | Sequence[str] | None = None,
    format: str | None = None,
) -> xr.Dataset:
    """Full chain verification (THEORY.md D6, T1–T4, §5) of a network's surrogate chain.

    Parameters
    ----------
    weights : str, Path or WeightsFile
        The weight file.
    paths, scale, normalize, layout, pattern
        Passed to :func:`specalign.simulate.weights.surrogate_chain`: the factors
        ``A = I + c W_O W_V`` (attention) and ``A = I + c W_2 W_1`` (MLP) per block.
    charts, window, bounds
        Passed to :func:`~specalign.estimators.chain.analyze_chain` (all bounds by default).
    format : str, optional
        Weight file format override.

    Returns
    -------
    xarray.Dataset
        The chain analysis (dims ``chart``, ``interface``), with coordinates ``label``,
        ``block`` and ``path`` on ``interface``, the scales ``scale`` per factor, and
        attributes ``factor_formula``, ``source_file``, ``stack``, ``violations`` (total
        count over every bound) and ``condition_warning``.

    Notes
    -----
    The bounds are theorems: a violation is a bug (or arithmetic beyond float64), not a
    property of the network. A :class:`~specalign.estimators.chain.ChainConditionWarning`
    raised by the analysis is recorded in the ``condition_warning`` attribute instead of
    being re-issued. See docs/checkpoints.md.
    """
    wf = weights if isinstance(weights, WeightsFile) else open_weights(weights, format=format)
    chain = surrogate_chain(
        wf, paths=paths, scale=scale, normalize=normalize, layout=layout, pattern=pattern
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ChainConditionWarning)
        ds = analyze_chain(chain.factors, charts=tuple(charts), window=window, bounds=bounds)
    condition = "; ".join(
        str(w.message) for w in caught if issubclass(w.category, ChainConditionWarning)
    )
    for w in caught:  # anything else was not ours to swallow
        if not issubclass(w.category, ChainConditionWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    ds = ds.assign_coords(
        label=("interface", np.array(chain.labels, dtype=str), {"long_name": "factor"}),
        block=("interface", np.array(chain.blocks), {"long_name": "block index"}),
        path=("interface", np.array(chain.paths, dtype=str), {"long_name": "residual path"}),
    )
    ds["scale"] = (
        "interface",
        chain.scales,
        {
            "long_name": "surrogate scale c",
            "units": "1",
            "description": "A_l = I + c_l W_outer W_inner",
        },
    )
    ds.attrs.update(_provenance(wf))
    ds.attrs.update(
        {
            "title": f"specalign surrogate chain verification of {wf.path.name}",
            "factor_formula": chain.formula,
            "paths": ", ".join(paths),
            "stack": chain.stack,
            "factor_sources": json.dumps([list(pair) for pair in chain.sources]),
            "violations": chain_violation_count(ds),
            "condition_warning": condition,
        }
    )
    return ds


def chain_violation_count(ds: xr.Dataset) -> int:
    """Total number of ``True`` entries over every ``violation_<bound>`` variable."""
    return int(
        sum(int(ds[name].sum()) for name in ds.data_vars if str(name).startswith("violation_"))
    )


def bound_actual(ds: xr.Dataset, bound: str, chart: str = "ls") -> xr.DataArray:
    """The quantity a bound bounds, per interface (THEORY.md §5 table).

    ``margin``, ``apriori``, ``lidskii``: ``|α̂_l − α̂_{l−1}|`` (``lidskii`` in the ``ls``
    chart); ``displacement``: ``|α̂_l − α̂_0|``; ``hellinger``: ``H(p_0, p_l)``;
    ``transport`` and ``action``: ``T_l = Σ_{i≤l} b_i``; ``budget``:
    ``max_l |α̂_l − α̂_{l−1}|`` (no interface dimension).
    """
    check_choice(bound, BOUNDS, "bound")
    if bound == "hellinger":
        return ds["hellinger_displacement"]
    if bound in ("transport", "action"):
        return ds["transport"]
    chart = "ls" if bound == "lidskii" else chart
    alpha = ds["exponent"].sel(chart=chart)
    alpha0 = ds["initial_exponent"].sel(chart=chart)
    if bound == "displacement":
        return abs(alpha - alpha0)
    path = np.concatenate([alpha0.values[..., None], alpha.values], axis=-1)  # α̂_0 … α̂_L
    drift = alpha.copy(data=np.abs(np.diff(path, axis=-1)))
    return drift.max("interface") if bound == "budget" else drift


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------


def _grid_axes(n: int, height: float = 3.2):
    """A new figure (no pyplot) with ``n`` axes on a grid of at most 3 columns."""
    from matplotlib.figure import Figure

    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, list(axes.ravel()[:n])


def plot_profile(
    ds: xr.Dataset,
    variable: str = "alpha",
    *,
    charts: Sequence[str] | None = None,
    roles: Sequence[str] | None = None,
    axes=None,
) -> list:
    """Profile of ``variable`` over depth, one panel per matrix role.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`profile_weights`.
    variable : str
        A per-matrix variable: ``alpha`` (one line per chart), ``top_radial``,
        ``tail_exponent`` (with ``±`` standard-error bars), ``tail_rank_exponent``,
        ``stable_rank``, ``entropy_rank``, ``quantile_rank``, …
    charts : sequence of str, optional
        Charts to draw for chart-dependent variables (default: all in ``ds``).
    roles : sequence of str, optional
        Panels (default: the roles of :data:`~specalign.simulate.weights.ROLES` present).
    axes : sequence of matplotlib Axes, optional
        One per role; by default a new figure (``matplotlib.figure.Figure``, no pyplot).

    Returns
    -------
    list
        The artists drawn (lines and error bars); ``artists[0].figure`` is the figure.
    """
    if variable not in ds:
        raise InputError(
            f"unknown profile variable {variable!r}; variables: {', '.join(map(str, ds.data_vars))}"
        )
    in_blocks = ((ds["status"] == "ok") & (ds["block"] >= 0)).values
    present = {str(r) for r in ds["role"].values[in_blocks]}
    roles = [r for r in ROLES if r in present] if roles is None else list(roles)
    if not roles:
        raise InputError(
            "the profile has no profiled matrix with a known role "
            f"({', '.join(ROLES)}); nothing to plot over depth"
        )
    if axes is None:
        _, axes = _grid_axes(len(roles))
    if len(axes) != len(roles):
        raise InputError(f"pass one axes per role: {len(roles)} roles, {len(axes)} axes")
    array = ds[variable]
    series = [str(c) for c in (charts or ds["chart"].values)] if "chart" in array.dims else [None]
    stderr = ds.get(f"{variable}_stderr")
    artists = []
    units = array.attrs.get("units", "1")
    for ax, role in zip(axes, roles, strict=True):
        rows = np.flatnonzero((ds["role"] == role).values & in_blocks)
        stacks = [str(s) for s in dict.fromkeys(ds["stack"].values[rows])]
        for stack in stacks:
            sub = rows[ds["stack"].values[rows] == stack]
            blocks = ds["block"].values[sub]
            order = np.argsort(blocks, kind="stable")
            sub, blocks = sub[order], blocks[order]
            for chart in series:
                y = (
                    array.isel(matrix=sub).sel(chart=chart) if chart else array.isel(matrix=sub)
                ).values.astype(float)
                label = " ".join(filter(None, [chart, stack if len(stacks) > 1 else None]))
                if stderr is not None and chart is None:
                    artists.append(
                        ax.errorbar(
                            blocks,
                            y,
                            yerr=stderr.values[sub],
                            marker="o",
                            capsize=3,
                            label=label or None,
                        )
                    )
                else:
                    artists.extend(ax.plot(blocks, y, marker="o", label=label or None))
        ax.set_title(_ROLE_TITLES.get(role, role))
        ax.set_xlabel("block (depth)")
        ax.set_ylabel(f"{array.attrs.get('long_name', variable)} [{units}]")
        ax.grid(alpha=0.3)
        if ax is axes[0] and ax.get_legend_handles_labels()[1]:
            ax.legend(fontsize="small")
    return artists


def plot_chain_bounds(
    ds: xr.Dataset, *, chart: str = "ls", bounds: Sequence[str] | None = None, axes=None
) -> list:
    """Drift against bound per interface: one panel per bound, actual and bound over depth.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`verify_weights_chain` (or :func:`~specalign.estimators.chain.analyze_chain`
        on an unbatched chain).
    chart : str
        Chart of the chart-dependent bounds.
    bounds : sequence of str, optional
        Bounds to draw (default: every per-interface bound in ``ds``; ``budget`` has no
        interface axis and is left out).
    axes : sequence of matplotlib Axes, optional
        One per bound; by default a new figure.

    Returns
    -------
    list
        The artists drawn. Violations (none expected: the bounds are theorems) are marked
        with red crosses.
    """
    available = [b for b in BOUNDS if f"bound_{b}" in ds and b != "budget"]
    bounds = available if bounds is None else list(bounds)
    for bound in bounds:
        if bound not in available:
            raise InputError(
                f"bound {bound!r} is not in the dataset; available: {', '.join(available)}"
            )
    if axes is None:
        _, axes = _grid_axes(len(bounds), height=3.6)
    x = ds["interface"].values
    labels = ds["label"].values if "label" in ds.coords else x.astype(str)
    artists = []
    for ax, bound in zip(axes, bounds, strict=True):
        value = ds[f"bound_{bound}"]
        violation = ds[f"violation_{bound}"]
        if "chart" in value.dims:
            value, violation = value.sel(chart=chart), violation.sel(chart=chart)
        actual = bound_actual(ds, bound, chart)
        artists.extend(ax.plot(x, value.values, "-", color="C0", label="bound"))
        artists.extend(ax.plot(x, actual.values, "o", color="C1", label="actual"))
        bad = violation.values.astype(bool)
        if bad.any():
            artists.extend(
                ax.plot(x[bad], actual.values[bad], "x", color="red", ms=10, label="violation")
            )
        which = f" ({chart})" if bound in CHART_BOUNDS else ""
        if np.isnan(value.values).all():  # transport: some ε_l >= 1, no near-identity bound
            ax.set_title(f"{bound}{which}: not applicable (some ε_l ≥ 1)")
        else:
            ax.set_title(f"{bound}{which}: {int(bad.sum())} violations")
        ax.set_xticks(
            x,
            [str(label).replace("block ", "") for label in labels],
            rotation=60,
            fontsize="x-small",
        )
        ax.set_ylabel(f"{_BOUND_ACTUAL_LABEL.get(bound, 'actual')} [1]")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return artists


def save_profile_plots(
    profile: xr.Dataset, chains: Mapping[str, xr.Dataset], directory, *, chart: str = "ls"
) -> list[Path]:
    """Write the profile and chain PNGs into ``directory``; return their paths.

    Files: ``profile-exponents.png`` (``α̂`` per chart, one panel per role),
    ``profile-tail.png`` (tail density exponent ``a`` ± standard error), ``profile-ranks.png``
    (stable rank), and ``chain-<name>.png`` per verified chain (drift against bound).
    """
    directory = Path(directory)
    written = []
    figures = [("profile-exponents.png", "alpha", "α̂ per chart over depth")]
    if "tail_exponent" in profile:
        figures.append(
            (
                "profile-tail.png",
                "tail_exponent",
                "tail chart: eigenvalue-density exponent a (WeightWatcher's alpha)",
            )
        )
    figures.append(("profile-ranks.png", "stable_rank", "stable rank over depth"))
    source = profile.attrs.get("source_file", "")
    for filename, variable, title in figures:
        try:
            artists = plot_profile(profile, variable)
        except InputError:
            continue  # no role-labelled matrices: no depth profile to draw
        figure = _figure_of(artists)
        figure.suptitle(f"{title}\n{Path(source).name}", fontsize="medium")
        figure.savefig(directory / filename, dpi=110)
        written.append(directory / filename)
    for name, ds in chains.items():
        artists = plot_chain_bounds(ds, chart=chart)
        figure = _figure_of(artists)
        scale = ds.attrs.get("factor_formula", "").split(";")[0]
        figure.suptitle(
            f"chain '{name}' ({ds.sizes['interface']} factors): drift vs bound, {scale}",
            fontsize="medium",
        )
        path = directory / f"chain-{name}.png"
        figure.savefig(path, dpi=110)
        written.append(path)
    return written


def _figure_of(artists):
    first = artists[0]
    if hasattr(first, "figure") and first.figure is not None:
        return first.figure
    return first.lines[0].figure  # ErrorbarContainer


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


def _default_output(path: Path) -> Path:
    stem = path.name if path.is_dir() else path.stem
    return Path("outputs") / f"profile-{stem}"


def _write_store(profile: xr.Dataset, chains: Mapping[str, xr.Dataset], path: Path) -> None:
    import zarr

    profile.to_zarr(path, mode="w", zarr_format=2, consolidated=False)
    for name, ds in chains.items():
        ds.to_zarr(path, group=f"chain_{name}", mode="w", zarr_format=2, consolidated=False)
    zarr.consolidate_metadata(str(path))


def _write_outputs(profile, verified, output: Path, plots: bool) -> tuple[Path, list[Path]]:
    output.mkdir(parents=True, exist_ok=True)
    # Build the store beside its final place and swap it in, so a failed write never leaves
    # a half-written profile.zarr.
    staging = output / f".profile-{uuid.uuid4().hex}.zarr"
    try:
        _write_store(profile, verified, staging)
        store = output / "profile.zarr"
        if store.exists():
            shutil.rmtree(store)
        staging.rename(store)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    table = write_profile_csv(profile, output / "profile.csv")
    pngs = save_profile_plots(profile, verified, output) if plots else []
    return table, pngs


def profile_command(
    weights_path,
    *,
    pattern: str | Sequence[str] | None = None,
    charts: Sequence[str] = DEFAULT_CHARTS,
    output=None,
    scale: float = 1.0,
    normalize: bool = False,
    chains: Sequence[str] = tuple(CHAINS),
    window=None,
    q: float = 0.9,
    layout: str = "out_in",
    plots: bool = True,
    echo: Callable[[str], None] | None = None,
) -> int:
    """Everything ``specalign profile`` does: profile, chain verification, CSV, store, PNGs.

    Parameters
    ----------
    weights_path : str or Path
        Weight file (.safetensors / directory of shards, .npz, PyTorch with torch).
    pattern : str or sequence of str, optional
        Tensor selection for the profile and the chain (globs, or ``re:`` regexes).
    charts : sequence of str
        Charts of the profile; the chain verification uses the same charts.
    output : str or Path, optional
        Output directory (default ``outputs/profile-<file stem>/``), created if needed.
        Receives ``profile.csv``, ``profile.zarr`` (the profile at the root, each chain in
        group ``chain_<name>``) and the PNGs of :func:`save_profile_plots`.
    scale, normalize, layout
        Surrogate factors ``A = I + c W_outer W_inner`` (see
        :func:`specalign.simulate.weights.surrogate_chain`).
    chains : sequence of str
        Chains to verify, among :data:`CHAINS` (``network``: attention then MLP per block;
        ``attention``; ``mlp``). Empty: no chain. A chain the file's names cannot provide
        (no value / output / MLP roles) is reported as skipped.
    window, q
        ``ls`` rank window and quantile-rank fraction.
    plots : bool
        Write the PNGs.
    echo : callable, optional
        Receives the summary lines (default: written to standard output).

    Returns
    -------
    int
        0 when everything was written and no bound is violated; 1 when some chain bound
        is violated (results still written, the count printed).

    Raises
    ------
    WeightsError, InputError, ChartError
        Unreadable file, pattern matching nothing, bad options: before anything is written.
    StoreError
        The output directory cannot be written.
    """
    echo = echo or (lambda line: print(line, file=sys.stdout))
    weights_path = Path(weights_path)
    chains = tuple(chains)
    for name in chains:
        check_choice(name, CHAINS, "chain")
    wf = open_weights(weights_path)
    profile = profile_weights(wf, pattern=pattern, charts=charts, window=window, q=q)
    verified: dict[str, xr.Dataset] = {}
    skipped: dict[str, str] = {}
    for name in chains:
        try:
            verified[name] = verify_weights_chain(
                wf,
                paths=CHAINS[name],
                scale=scale,
                normalize=normalize,
                charts=charts,
                window=window,
                layout=layout,
                pattern=pattern,
            )
        except WeightsError as exc:
            skipped[name] = str(exc)
    profile.attrs["chains_skipped"] = json.dumps(skipped)

    output = Path(output) if output is not None else _default_output(weights_path)
    try:
        table, pngs = _write_outputs(profile, verified, output, plots)
    except OSError as exc:
        raise StoreError(f"cannot write the profile into {output}: {exc}") from None

    status = [str(s) for s in profile["status"].values]
    echo(
        f"profile: {len(status)} tensors selected from {weights_path.name}: "
        f"{status.count('ok')} profiled, {status.count('skipped')} skipped, "
        f"{status.count('rejected')} rejected"
    )
    rejected = [
        (str(n), str(r))
        for n, s, r in zip(profile["matrix"].values, status, profile["reason"].values, strict=True)
        if s == "rejected"
    ]
    for name, reason in rejected[:10]:
        echo(f"  rejected {name}: {reason}")
    ok = profile["status"] == "ok"
    for chart in profile["chart"].values:
        alpha = profile["alpha"].sel(chart=chart).where(ok, drop=True).values
        if alpha.size and np.isfinite(alpha).any():
            echo(
                f"  α̂_{chart}: median {np.nanmedian(alpha):.3f}, range "
                f"[{np.nanmin(alpha):.3f}, {np.nanmax(alpha):.3f}]"
            )
    total_violations = 0
    for name, ds in verified.items():
        violations = int(ds.attrs["violations"])
        total_violations += violations
        checks = sum(int(ds[v].size) for v in ds.data_vars if str(v).startswith("violation_"))
        worst = {
            b: float(ds[f"tightness_{b}"].max())
            for b in BOUNDS
            if f"tightness_{b}" in ds and np.isfinite(ds[f"tightness_{b}"]).any()
        }
        tight = ", ".join(f"{b} {v:.2f}" for b, v in worst.items())
        echo(
            f"chain {name}: {ds.sizes['interface']} factors, {violations} bound violations "
            f"in {checks} checks; max tightness: {tight}"
        )
        if ds.attrs.get("condition_warning"):
            echo(f"  note: {ds.attrs['condition_warning']}")
    for name, reason in skipped.items():
        echo(f"chain {name}: skipped ({reason})")
    echo(f"table: {table}")
    echo(f"dataset: {output / 'profile.zarr'}")
    for png in pngs:
        echo(f"plot: {png}")
    return 1 if total_violations else 0
