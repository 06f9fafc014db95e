"""Registry of generator kinds: their parameters, validation, and the streaming entry point.

``GENERATORS`` maps each kind to a :class:`GeneratorSpec` (parameter specifications, summary,
documentation) so the study layer can validate configs and list sweepable parameters without
running anything. :func:`generate` validates everything up front and returns a lazy iterator.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from .._validation import check_choice, check_dimension
from ..errors import InputError
from .generators import MODULES
from .generators._random import ReplicateRandom
from .generators._spec import ParameterSpec, resolve_parameters

__all__ = [
    "GENERATORS",
    "GeneratorSpec",
    "ParameterSpec",
    "generate",
    "generator_parameters",
    "validate_generator",
]


@dataclass(frozen=True)
class GeneratorSpec:
    """What a generator kind is and which parameters it takes.

    Attributes
    ----------
    kind : str
        Registry name.
    summary : str
        One-line description (the formula).
    doc : str
        The kind module's docstring: formula, conventions, draw order, refusals.
    parameters : Mapping[str, ParameterSpec]
        Sweepable scalar parameters with defaults and allowed ranges.
    check : callable
        ``check(d, params)`` raising InputError on parameter combinations it refuses.
    stream : callable
        ``stream(d, depth, random, **params)`` yielding ``(R, d, d)`` factor batches.
    """

    kind: str
    summary: str
    doc: str
    parameters: Mapping[str, ParameterSpec]
    check: Callable[[int, dict], None]
    stream: Callable[..., Iterator[np.ndarray]]


#: Generator kinds: ``kind -> GeneratorSpec`` (read-only).
GENERATORS: Mapping[str, GeneratorSpec] = types.MappingProxyType(
    {
        module.KIND: GeneratorSpec(
            kind=module.KIND,
            summary=module.SUMMARY,
            doc=module.__doc__ or "",
            parameters=types.MappingProxyType(dict(module.PARAMETERS)),
            check=module.check,
            stream=module.stream,
        )
        for module in MODULES
    }
)


def _spec(kind: str) -> GeneratorSpec:
    if not isinstance(kind, str):
        raise InputError(f"generator kind must be a str, got {type(kind).__name__}")
    check_choice(kind, GENERATORS, "generator kind")
    return GENERATORS[kind]


def generator_parameters(kind: str) -> dict[str, ParameterSpec]:
    """Parameters of generator ``kind``: ``{name: ParameterSpec(default, type, low, high, doc)}``.

    Raises InputError (listing the kinds, with the closest match) for an unknown kind.
    """
    return dict(_spec(kind).parameters)


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral | float):
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")
    if value < 1:
        raise InputError(f"{name} must be at least 1, got {int(value)}")
    return int(value)


def validate_generator(
    kind: str, *, d: int, depth: int = 1, replicates: int = 1, **params: Any
) -> dict[str, Any]:
    """Validate a generator configuration and return its full parameters (defaults filled in).

    Parameters
    ----------
    kind : str
        A key of :data:`GENERATORS`.
    d, depth, replicates : int
        Dimension (``>= 2``), number of interfaces and batch size (``>= 1``).
    **params
        Kind parameters (see :func:`generator_parameters`).

    Returns
    -------
    dict
        Every parameter of the kind, converted to its declared type.

    Raises
    ------
    InputError
        Unknown kind or parameter, wrong type or range, a combination the kind refuses (e.g.
        ``orbit`` noise that would reorder the spectrum; RankDeficientError for numerically
        singular factors); DimensionError for ``d < 2``.
    """
    spec = _spec(kind)
    d = check_dimension(d)
    _check_count(depth, "depth")
    _check_count(replicates, "replicates")
    resolved = resolve_parameters(kind, dict(spec.parameters), params)
    spec.check(d, resolved)
    return resolved


def generate(
    kind: str,
    *,
    d: int,
    depth: int,
    replicates: int = 1,
    rng: np.random.Generator | Sequence[np.random.Generator],
    **params: Any,
) -> Iterator[np.ndarray]:
    """Stream the factors of ``replicates`` random operator chains, one interface at a time.

    Parameters
    ----------
    kind : str
        Generator kind, a key of :data:`GENERATORS` (``"ginibre"``, ``"orbit"``,
        ``"residual_mlp"``, ``"heavy_tailed"``, ``"converse"``).
    d : int
        Dimension of the square factors, ``>= 2``.
    depth : int
        Number of interfaces ``L >= 1`` (factors ``A_1 .. A_L``).
    replicates : int
        Number ``R >= 1`` of independent chains generated side by side.
    rng : numpy.random.Generator or sequence of numpy.random.Generator
        One Generator (the batch is drawn from it, replicate after replicate within each
        vectorized draw), or exactly ``replicates`` distinct Generators: replicate ``r`` then
        draws only from ``rng[r]``, in a fixed order, so its factors are bitwise the same
        whether it is generated alone or in any batch.
    **params
        Kind parameters; see :func:`generator_parameters` and the kind module's docstring.

    Returns
    -------
    iterator of ndarray, shape (replicates, d, d), float64
        ``depth`` batches; batch ``l`` holds ``A_l`` of every replicate. Lazy: memory is
        ``O(replicates · d²)`` whatever the depth, and nothing is drawn before the first
        ``next``. Each batch is a fresh array.

    Raises
    ------
    InputError, DimensionError
        All validation (see :func:`validate_generator` and ``rng``) happens here, before
        anything is yielded.

    Notes
    -----
    Chains start from ``J_0 = I``: ``J_l = A_l J_{l−1}`` (THEORY.md D6). Formulas, draw
    orders and refusals of each kind: the kind's module docstring and docs/theory.md.
    """
    resolved = validate_generator(kind, d=d, depth=depth, replicates=replicates, **params)
    random = ReplicateRandom(rng, int(replicates))
    return GENERATORS[kind].stream(int(d), int(depth), random, **resolved)
