"""One task: generate a block of replicate chains, analyze them, write the results.

:func:`run_task` is what a worker executes. It never raises for a failure of the science
(a singular factor, NaNs, a chart that does not converge, a generator refusing a
parameter): the failure becomes a status code and a message in the store. If a block fails
as a whole, its replicates are retried one by one, so one bad draw costs only itself.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..estimators.charts import STATUS_NOT_CONVERGED
from .grid import Task, replicate_rngs
from .layout import StoreLayout
from .status import (
    STATUS_CHART_NOT_CONVERGED,
    STATUS_NONFINITE,
    STATUS_OK,
    classify_exception,
    clip_message,
)
from .store import chunk_writer

__all__ = ["TaskContext", "TaskOutcome", "compute_task", "run_batch", "run_task"]

#: Variables whose non-finite values make a replicate's status "nonfinite".
_CORE = ("top_radial", "radial_amplitude", "slack", "condition_amplitude")


@dataclass(frozen=True)
class TaskContext:
    """What every task of a study shares (small and picklable: sent to each worker once)."""

    store: str
    config_hash: str
    kind: str
    seed: int
    charts: tuple[str, ...]
    bounds: tuple[str, ...]
    window: Any
    keep_spectra: bool
    layout: StoreLayout
    first_order: bool = False


class TaskOutcome(NamedTuple):
    """Returned to the scheduler: which task, and the status code of each replicate."""

    cell: int
    block: int
    status: tuple[int, ...]


class BlockResult(NamedTuple):
    arrays: dict[str, np.ndarray]  # variable -> values with the schema dims (no sweep dims)
    status: np.ndarray  # (n,) int8
    message: np.ndarray  # (n,) str


def compute_task(task: Task, context: TaskContext) -> BlockResult:
    """Compute the replicates of ``task`` (no I/O); failures become status codes.

    Replicate ``r`` of cell ``c`` draws from ``SeedSequence(seed, spawn_key=(c, r))``, so
    the values do not depend on which other replicates share the task.
    """
    replicates = task.replicates
    try:
        return _compute(task, context, replicates)
    except Exception as exc:
        if len(replicates) == 1:
            return _failed(len(replicates), exc)
    parts = []
    for r in replicates:
        try:
            parts.append(_compute(task, context, range(r, r + 1)))
        except Exception as exc:
            parts.append(_failed(1, exc))
    return _concatenate(context, parts)


def _compute(task: Task, context: TaskContext, replicates: range) -> BlockResult:
    from ..estimators.chain import analyze_chain
    from ..simulate import generate

    params = dict(task.params)
    d, depth = int(params.pop("d")), int(params.pop("depth"))
    rngs = replicate_rngs(context.seed, task.cell, replicates)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        factors = generate(context.kind, d=d, depth=depth, replicates=len(rngs), rng=rngs, **params)
        result = analyze_chain(
            factors,
            charts=context.charts,
            bounds=context.bounds,
            window=context.window,
            keep_spectra=context.keep_spectra,
            first_order=context.first_order,
        )
    n = len(replicates)
    arrays = {}
    for name, var in context.layout.variables.items():
        if name in result.data_vars:
            schema_dims = var.dims[len(context.layout.sweep_dims) :]
            arrays[name] = _ordered(result.variables[name], schema_dims)
    status = np.full(n, STATUS_OK, dtype=np.int8)
    message = np.full(n, "", dtype=object)
    nonfinite = np.zeros(n, dtype=bool)
    for name in (*_CORE, "exponent"):
        if name in arrays:
            values = arrays[name]
            axis = context.layout.variables[name].dims[len(context.layout.sweep_dims) :]
            values = np.moveaxis(values, axis.index("replicate"), 0).reshape(n, -1)
            nonfinite |= ~np.all(np.isfinite(values), axis=1)
    status[nonfinite] = STATUS_NONFINITE
    message[nonfinite] = "non-finite values in the chain analysis"
    if "chart_status" in result:
        variable = result.variables["chart_status"]
        chart_status = np.moveaxis(variable.values, variable.dims.index("replicate"), 0)
        stuck = np.any(chart_status.reshape(n, -1) == STATUS_NOT_CONVERGED, axis=1)
        status[stuck] = STATUS_CHART_NOT_CONVERGED
        message[stuck] = "a chart did not converge; see chart_status"
    if caught:
        note = "warning: " + "; ".join(sorted({str(w.message) for w in caught}))
        message = np.array(
            [clip_message(f"{m}; {note}" if m else note) for m in message], dtype=object
        )
    return BlockResult(arrays, status, message)


def _ordered(variable, dims: tuple[str, ...]) -> np.ndarray:
    """Values of an xarray Variable with its axes in the order ``dims`` (numpy, no copy)."""
    return np.transpose(variable.values, [variable.dims.index(dim) for dim in dims])


def _failed(n: int, exc: Exception) -> BlockResult:
    code, text = classify_exception(exc)
    return BlockResult({}, np.full(n, code, dtype=np.int8), np.full(n, text, dtype=object))


def _concatenate(context: TaskContext, parts: list[BlockResult]) -> BlockResult:
    layout = context.layout
    arrays = {}
    for name, var in layout.variables.items():
        if not any(name in part.arrays for part in parts):
            continue
        schema_dims = var.dims[len(layout.sweep_dims) :]
        axis = schema_dims.index("replicate")
        pieces = []
        for part in parts:
            if name in part.arrays:
                pieces.append(part.arrays[name])
            else:
                shape = [layout.sizes[dim] for dim in schema_dims]
                shape[axis] = 1
                pieces.append(np.full(shape, var.fill, dtype=var.dtype))
        pieces = _pad_all(pieces, axis)
        arrays[name] = np.concatenate(pieces, axis=axis)
    status = np.concatenate([part.status for part in parts])
    message = np.concatenate([part.message for part in parts])
    return BlockResult(arrays, status, message)


def _pad_all(pieces: list[np.ndarray], axis: int) -> list[np.ndarray]:
    """Pad pieces to a common shape (except along ``axis``) with NaN/False before stacking."""
    shape = np.max([p.shape for p in pieces], axis=0)
    out = []
    for piece in pieces:
        pad = [
            (0, int(n - m)) if i != axis else (0, 0)
            for i, (n, m) in enumerate(zip(shape, piece.shape, strict=True))
        ]
        if any(p[1] for p in pad):
            fill = False if piece.dtype == bool else np.nan
            piece = np.pad(piece, pad, constant_values=fill)
        out.append(piece)
    return out


def write_task(task: Task, context: TaskContext, result: BlockResult) -> None:
    """Write the task's chunk of every variable, then its completion flag (last)."""
    layout = context.layout
    writer = chunk_writer(context.store, context.config_hash)
    lead = (1,) * len(layout.sweep_dims)
    for name, values in result.arrays.items():
        var = layout.variables[name]
        coords = layout.chunk_coords(name, task.position, task.block)
        writer.write(name, coords, values.reshape(lead + values.shape), var.fill)
    for name, values in (("status", result.status), ("status_message", result.message.astype(str))):
        coords = layout.chunk_coords(name, task.position, task.block)
        writer.write(name, coords, values.reshape(lead + values.shape), layout.variables[name].fill)
    coords = layout.chunk_coords("task_done", task.position, task.block)
    writer.write("task_done", coords, np.ones((*lead, 1), dtype=bool), False)


_BLAS_LIMITED = False


def run_task(task: Task, context: TaskContext, *, limit_blas: bool = True) -> TaskOutcome:
    """Compute and store one task; return its outcome (the only thing sent back).

    ``limit_blas`` pins this process's BLAS to one thread (threadpoolctl) the first time a
    task runs in it: the workers are processes, and parallelism comes from the tasks.
    """
    global _BLAS_LIMITED
    if limit_blas and not _BLAS_LIMITED:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
        _BLAS_LIMITED = True
    result = compute_task(task, context)
    write_task(task, context, result)
    return TaskOutcome(task.cell, task.block, tuple(int(s) for s in result.status))


def run_batch(tasks: list[Task], context: TaskContext, *, skip_done: bool = True) -> list:
    """Run several tasks in a row (one scheduler task): the outcomes, in order.

    With ``skip_done``, tasks whose completion flag is already set are not recomputed (a
    batch rerun after a worker died redoes only what that worker had not finished); their
    outcome reports the stored status.
    """
    outcomes = []
    writer = chunk_writer(context.store, context.config_hash)
    for task in tasks:
        coords = context.layout.chunk_coords("task_done", task.position, task.block)
        flag = writer.read("task_done", coords) if skip_done else None
        if flag is not None and flag.all():
            status = writer.read(
                "status", context.layout.chunk_coords("status", task.position, task.block)
            )
            codes = status.reshape(-1)[: task.stop - task.start]
            outcomes.append(TaskOutcome(task.cell, task.block, tuple(int(c) for c in codes)))
            continue
        outcomes.append(run_task(task, context))
    return outcomes
