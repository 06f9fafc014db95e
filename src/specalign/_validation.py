"""Shared validation of array inputs: one place for the messages users see."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np

from .errors import DimensionError, InputError, NonFiniteError


def closest_match(name: str, allowed: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest allowed name, or ``""``."""
    matches = difflib.get_close_matches(str(name), list(allowed), n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def check_choice(value: str, allowed: Iterable[str], what: str) -> str:
    """Raise :class:`InputError` unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise InputError(
            f"unknown {what} {value!r}{closest_match(value, allowed)}; "
            f"allowed: {', '.join(map(repr, allowed))}"
        )
    return value


def as_float_array(x, name: str, *, min_ndim: int = 1) -> np.ndarray:
    """Convert ``x`` to a float64 array with at least ``min_ndim`` axes, all finite.

    float32 (and integer) input is upcast: every computation in specalign runs in float64.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # anything numpy cannot read is a user error
        raise InputError(f"{name} could not be read as a numeric array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise InputError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise InputError(f"{name} must be real, got complex dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim < min_ndim:
        raise DimensionError(f"{name} must have at least {min_ndim} axes, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise NonFiniteError(
            f"{name} holds {bad} non-finite value(s) (NaN or Inf); remove or replace them "
            "before computing spectra"
        )
    return arr


def check_dimension(d: int, name: str = "d") -> int:
    """Return ``int(d)`` after checking ``d >= 2``."""
    if isinstance(d, bool) or int(d) != d:
        raise DimensionError(f"{name} must be an integer >= 2, got {d!r}")
    d = int(d)
    if d < 2:
        raise DimensionError(
            f"{name} must be at least 2 (a power-law exponent needs two ranks), got {d}"
        )
    return d


def as_spectrum(lam, name: str = "lam") -> np.ndarray:
    """Validate a batch of spectra ``(..., d)``: finite, positive, ``d >= 2``.

    Returns the spectra sorted in non-increasing order along the last axis (a spectrum is
    a multiset; the package always works with its ordered version).
    """
    arr = as_float_array(lam, name, min_ndim=1)
    check_dimension(arr.shape[-1], f"the last axis of {name} (d)")
    if np.any(arr <= 0):
        raise InputError(
            f"{name} must be strictly positive (full-rank spectra); found "
            f"{int(np.count_nonzero(arr <= 0))} entries <= 0. Drop null directions or "
            "pass a rank-truncated spectrum"
        )
    return -np.sort(-arr, axis=-1)
