"""Layout of a study store: dimensions, variables, fill values and chunks.

Dimensions are ``(*sweep axes, replicate, [chart], interface, [rank])`` with
``interface = 1..max depth`` and ``rank = 1..max d`` over the grid (cells with a smaller depth
or dimension leave the rest NaN). Chunks are 1 along every sweep axis, ``task_size`` along
``replicate`` and whole along the other dimensions, so each task owns exactly one chunk of
each variable: Zarr does no locking, and two writers in one chunk would lose rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import StudyConfig
from .grid import Grid
from .status import MESSAGE_LENGTH, STATUS_PENDING, status_attrs

__all__ = ["BLOCK_DIM", "StoreLayout", "VariableLayout", "build_layout"]

#: Dimension of the completion mask: one entry per replicate block (task) of a cell.
BLOCK_DIM = "replicate_block"
_RESERVED = ("replicate", "chart", "interface", "rank", "quantile", BLOCK_DIM)
_BOOKKEEPING = ("status", "status_message", "task_done")


def sweep_dim_name(parameter: str, taken) -> str:
    """Dimension name of a sweep axis: the parameter's name, or ``generator_<name>`` when
    that name is already a variable or dimension of the dataset (e.g. the ``orbit``
    generator's ``slack`` parameter versus the chain's ``slack`` variable)."""
    return f"generator_{parameter}" if parameter in taken else parameter


@dataclass(frozen=True)
class VariableLayout:
    """One store variable: dims, numpy dtype, fill value and attributes."""

    dims: tuple[str, ...]
    dtype: str
    fill: object
    attrs: dict


@dataclass(frozen=True)
class StoreLayout:
    """Everything a task needs to place its results in the store."""

    sweep_dims: tuple[str, ...]  # dimension names, in the order of the sweep axes
    sweep_parameters: tuple[str, ...]  # the generator parameter of each sweep dimension
    sizes: dict[str, int]
    task_size: int
    variables: dict[str, VariableLayout]

    def chunks(self, name: str) -> tuple[int, ...]:
        """Chunk shape of variable ``name`` (one chunk per task)."""
        per_dim = {dim: 1 for dim in self.sweep_dims}
        per_dim.update(replicate=self.task_size, **{BLOCK_DIM: 1})
        return tuple(per_dim.get(dim, self.sizes[dim]) for dim in self.variables[name].dims)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.sizes[dim] for dim in self.variables[name].dims)

    def chunk_coords(self, name: str, position: tuple[int, ...], block: int) -> tuple[int, ...]:
        """Chunk index of the task ``(position, block)`` in variable ``name``."""
        at = dict(zip(self.sweep_dims, position, strict=True))
        at.update(replicate=block, **{BLOCK_DIM: block})
        return tuple(at.get(dim, 0) for dim in self.variables[name].dims)


def _fill(dtype: str):
    kind = np.dtype(dtype).kind
    return {"f": np.nan, "b": False, "i": -1, "u": 0, "U": ""}[kind]


def build_layout(config: StudyConfig, grid: Grid) -> StoreLayout:
    """Dimensions and variables of the store of ``config`` (from the chain schema)."""
    from ..estimators.chain_schema import chain_schema

    schema = chain_schema(
        bounds=config.estimate.bounds,
        keep_spectra=config.estimate.keep_spectra,
        first_order=config.estimate.first_order,
    )
    taken = {*schema, *_RESERVED, *_BOOKKEEPING}
    sweep_dims = tuple(sweep_dim_name(axis, taken) for axis in grid.axes)
    sizes = dict(zip(sweep_dims, grid.shape, strict=True))
    sizes.update(
        replicate=grid.replicates,
        chart=len(config.estimate.charts),
        interface=grid.max_parameter("depth"),
        rank=grid.max_parameter("d"),
        **{BLOCK_DIM: grid.n_blocks},
    )
    variables: dict[str, VariableLayout] = {}
    for name, spec in schema.items():
        attrs = {"long_name": spec.long_name, "units": spec.units, "description": spec.description}
        variables[name] = VariableLayout(
            (*sweep_dims, *spec.dims), spec.dtype, _fill(spec.dtype), attrs
        )
    variables["status"] = VariableLayout(
        (*sweep_dims, "replicate"), "int8", STATUS_PENDING, status_attrs()
    )
    variables["status_message"] = VariableLayout(
        (*sweep_dims, "replicate"),
        f"<U{MESSAGE_LENGTH}",
        "",
        {
            "long_name": "status message of the replicate's computation",
            "units": "1",
            "description": "empty when ok; else the exception type and text (cut)",
        },
    )
    variables["task_done"] = VariableLayout(
        (*sweep_dims, BLOCK_DIM),
        "bool",
        False,
        {
            "long_name": "completion mask",
            "units": "1",
            "description": "true once the task (cell, replicate block) has written all its "
            "data; written after the data, so an interrupted task reads false",
        },
    )
    return StoreLayout(sweep_dims, tuple(grid.axes), sizes, grid.task_size, variables)
