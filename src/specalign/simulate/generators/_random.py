"""Random draws for a batch of replicates, from one stream or from one stream per replicate.

A generator asks for "a ``shape``-array per replicate" and gets a ``(replicates, *shape)`` array.
With a single :class:`numpy.random.Generator` the batch is one vectorized draw (replicate ``r``
gets the ``r``-th block of it). With a sequence of generators, replicate ``r`` draws only from
its own generator, so its values depend on that stream alone, bit for bit, however the
replicates are batched: the study layer relies on this for reproducibility
(DESIGN.md, Reproducibility). A sequence of one generator gives the same numbers as that
generator passed alone with ``replicates=1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import InputError


class ReplicateRandom:
    """Draws of shape ``(replicates, *shape)`` from one or per-replicate generators.

    Parameters
    ----------
    rng : numpy.random.Generator or sequence of numpy.random.Generator
        One stream for the whole batch, or exactly ``replicates`` distinct streams.
    replicates : int
        Batch size ``R``.
    """

    def __init__(self, rng: np.random.Generator | Sequence[np.random.Generator], replicates: int):
        self.replicates = replicates
        if isinstance(rng, np.random.Generator):
            self._shared: np.random.Generator | None = rng
            self._streams: tuple[np.random.Generator, ...] = ()
            return
        if isinstance(rng, (str, bytes)) or not isinstance(rng, Sequence):
            raise InputError(
                "rng must be a numpy.random.Generator or a sequence of `replicates` Generators "
                f"(one per replicate); got {type(rng).__name__}. Build one with "
                "numpy.random.default_rng(seed)"
            )
        streams = tuple(rng)
        bad = [i for i, g in enumerate(streams) if not isinstance(g, np.random.Generator)]
        if bad:
            raise InputError(
                f"rng[{bad[0]}] is a {type(streams[bad[0]]).__name__}, not a "
                "numpy.random.Generator; pass Generators (e.g. from "
                "numpy.random.SeedSequence(seed).spawn(replicates))"
            )
        if len(streams) != replicates:
            raise InputError(
                f"rng holds {len(streams)} Generators but replicates={replicates}: pass one "
                "Generator per replicate, or a single Generator for the whole batch"
            )
        if len({id(g) for g in streams}) != len(streams):
            raise InputError(
                "rng holds the same Generator object more than once; each replicate needs its "
                "own independent stream (spawn them from one SeedSequence)"
            )
        self._shared = None
        self._streams = streams

    def _draw(self, method: str, shape: tuple[int, ...], *args) -> np.ndarray:
        if self._shared is not None:
            return getattr(self._shared, method)(*args, size=(self.replicates, *shape))
        return np.stack([getattr(g, method)(*args, size=shape) for g in self._streams])

    def standard_normal(self, shape: tuple[int, ...] = ()) -> np.ndarray:
        """Standard normal draws, shape ``(R, *shape)``."""
        return self._draw("standard_normal", shape)

    def uniform(self, shape: tuple[int, ...] = ()) -> np.ndarray:
        """Uniform draws on ``[0, 1)``, shape ``(R, *shape)``."""
        return self._draw("random", shape)

    def standard_t(self, df: float, shape: tuple[int, ...] = ()) -> np.ndarray:
        """Student-t draws with ``df`` degrees of freedom, shape ``(R, *shape)``."""
        return self._draw("standard_t", shape, df)
