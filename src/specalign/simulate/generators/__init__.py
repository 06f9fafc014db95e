"""Generator kinds of operator chains: one module per kind.

Each module defines ``KIND``, ``SUMMARY``, ``PARAMETERS`` (name -> ParameterSpec), a
``check(d, params)`` for constraints between parameters, and
``stream(d, depth, random, **params)`` yielding factor batches ``(R, d, d)``. The registry in
:mod:`specalign.simulate.registry` collects them.
"""

from __future__ import annotations

from . import converse, ginibre, heavy_tailed, orbit, residual_mlp

#: Generator modules in the order the registry lists them.
MODULES = (ginibre, orbit, residual_mlp, heavy_tailed, converse)

__all__ = ["MODULES"]
