"""Synthetic operator chains (THEORY.md §3 D6, §6): generators streaming factor batches.

``generate(kind, *, d, depth, replicates=1, rng, **params)`` returns an iterator over the
interfaces of ``replicates`` chains, yielding ``(replicates, d, d)`` float64 factor batches.
``GENERATORS`` lists the kinds and their parameters; ``generator_parameters(kind)`` returns
``{name: ParameterSpec}``.
"""

from __future__ import annotations

from .registry import (
    GENERATORS,
    GeneratorSpec,
    ParameterSpec,
    generate,
    generator_parameters,
    validate_generator,
)

__all__ = [
    "GENERATORS",
    "GeneratorSpec",
    "ParameterSpec",
    "generate",
    "generator_parameters",
    "validate_generator",
]
