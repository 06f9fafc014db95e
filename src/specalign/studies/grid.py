"""The study grid: cells (points of the sweep), tasks (blocks of replicates) and seeds.

Cells are the points of the Cartesian product of the sweep axes, numbered in C order (the
last axis fastest). A task is one cell and one block of ``task_size`` consecutive replicates.
Replicate ``r`` of cell ``c`` draws from ``SeedSequence(seed, spawn_key=(c, r))``, so every
number in a study is fixed by the config alone: not by the task size, the number of workers,
the scheduler, the order of execution or an interruption.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import StudyConfig

__all__ = ["Grid", "Task", "replicate_rngs", "work_estimate"]


@dataclass(frozen=True)
class Task:
    """One unit of work: a cell and the replicates ``start:stop`` of it.

    ``position`` indexes the cell along the sweep axes; ``block`` is the index of the
    replicate block (the completion mask's column); ``params`` are the generator parameters
    of the cell (fixed and swept, ``d`` and ``depth`` included).
    """

    cell: int
    position: tuple[int, ...]
    block: int
    start: int
    stop: int
    params: dict[str, Any]

    @property
    def replicates(self) -> range:
        return range(self.start, self.stop)


@dataclass(frozen=True)
class Grid:
    """Cells and tasks of a study (built by :meth:`from_config`)."""

    axes: dict[str, tuple]
    fixed: dict[str, Any]
    replicates: int
    task_size: int

    @classmethod
    def from_config(cls, config: StudyConfig) -> Grid:
        return cls(
            axes=dict(config.axes),
            fixed=dict(config.fixed),
            replicates=config.study.replicates,
            task_size=config.task_size,
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """Lengths of the sweep axes (``()`` for a single-cell study)."""
        return tuple(len(values) for values in self.axes.values())

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def n_blocks(self) -> int:
        """Replicate blocks per cell: ``ceil(replicates / task_size)``."""
        return -(-self.replicates // self.task_size)

    @property
    def n_tasks(self) -> int:
        return self.n_cells * self.n_blocks

    def cell_params(self, position: tuple[int, ...]) -> dict[str, Any]:
        """Generator parameters of the cell at ``position``."""
        pairs = zip(self.axes.items(), position, strict=True)
        swept = {axis: values[i] for (axis, values), i in pairs}
        return {**self.fixed, **swept}

    def cells(self):
        """Yield ``(cell index, position)`` in C order."""
        positions = itertools.product(*(range(n) for n in self.shape))
        yield from enumerate(positions)

    def tasks(self) -> list[Task]:
        """All tasks, cell by cell and block by block."""
        out = []
        for cell, position in self.cells():
            params = self.cell_params(position)
            for block in range(self.n_blocks):
                start = block * self.task_size
                stop = min(start + self.task_size, self.replicates)
                out.append(Task(cell, position, block, start, stop, params))
        return out

    def max_parameter(self, name: str) -> int:
        """Largest value of ``d`` or ``depth`` over the grid (sizes the store's dimensions)."""
        return int(max(self.axes[name])) if name in self.axes else int(self.fixed[name])


def replicate_rngs(seed: int, cell: int, replicates: range) -> list[np.random.Generator]:
    """One generator per replicate: ``default_rng(SeedSequence(seed, spawn_key=(cell, r)))``."""
    return [
        np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(cell, r))) for r in replicates
    ]


def work_estimate(grid: Grid) -> dict[str, float]:
    """Rough count of the linear algebra a study does.

    Notes
    -----
    Per replicate and interface the chain analysis takes one SVD of the factor, one QR
    update of the graded product and one SVD of its triangular factor; the generators add
    at most one QR of a ``d×d`` matrix. Counted as 3 SVD-like factorizations of
    about ``(4 + 8/3) d³ ≈ 6.7 d³`` flops each (singular values only, Golub & Van Loan)
    plus ``2 d³`` for products: an order of magnitude, not a prediction.
    """
    svds = 0.0
    flops = 0.0
    for _, position in grid.cells():
        params = grid.cell_params(position)
        d, depth = int(params["d"]), int(params["depth"])
        n = grid.replicates * depth
        svds += 2 * n
        flops += n * (3 * (4 + 8 / 3) + 2) * d**3
    return {"svds": svds, "flops": flops}
