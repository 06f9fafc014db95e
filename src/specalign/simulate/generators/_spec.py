"""Declarative parameter specifications shared by every generator kind.

A :class:`ParameterSpec` says what one generator parameter is (type, default, allowed range or
choices, one-line doc) and validates a value against it, with one message template that names
the parameter, what is allowed, and the kind's whole parameter list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

from ..._validation import closest_match
from ...errors import InputError


@dataclass(frozen=True)
class ParameterSpec:
    """One sweepable scalar parameter of a generator kind.

    Attributes
    ----------
    default : float, int, str or bool
        Value used when the parameter is not given.
    type : type
        ``float``, ``int``, ``str`` (one of ``choices``) or ``bool``.
    low, high : float or None
        Allowed range for numbers (``None`` for str/bool); ``inf`` means unbounded.
    doc : str
        One-line description, with units and convention.
    choices : tuple of str or None
        Allowed values of a ``str`` parameter.
    low_open, high_open : bool
        Whether the range excludes its end points.
    """

    default: Any
    type: type
    low: float | None
    high: float | None
    doc: str
    choices: tuple[str, ...] | None = None
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        """Human-readable allowed values, e.g. ``"a float in [0, 1)"``."""
        if self.type is str:
            return "one of " + ", ".join(map(repr, self.choices or ()))
        if self.type is bool:
            return "a bool (True or False)"
        left = "(" if self.low_open else "["
        right = ")" if self.high_open or self.high == math.inf else "]"
        name = "an integer" if self.type is int else "a float"
        return f"{name} in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    def validate(self, value: Any, name: str, kind: str, names: tuple[str, ...]) -> Any:
        """Return ``value`` converted to the parameter's type, or raise :class:`InputError`."""
        converted = self._convert(value)
        if converted is None or not self._in_range(converted):
            raise InputError(
                f"parameter {name!r} of generator {kind!r} must be {self.describe()}; got "
                f"{value!r} ({self.doc}). Parameters of {kind!r}: {', '.join(names)}"
            )
        return converted

    def _convert(self, value: Any) -> Any:
        if self.type is bool:
            return bool(value) if type(value).__name__ in ("bool", "bool_") else None
        if self.type is str:
            return value if isinstance(value, str) else None
        is_bool = isinstance(value, bool) or type(value).__name__ == "bool_"
        if is_bool or not isinstance(value, Real):
            return None
        if self.type is int:
            # integral floats (from a linspace sweep) are accepted as integers
            if isinstance(value, Integral):
                return int(value)
            return int(value) if math.isfinite(value) and float(value).is_integer() else None
        value = float(value)
        return value if math.isfinite(value) else None

    def _in_range(self, value: Any) -> bool:
        if self.type is str:
            return value in (self.choices or ())
        if self.type is bool:
            return True
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return bool(above and below)


def resolve_parameters(
    kind: str, specs: dict[str, ParameterSpec], params: dict[str, Any]
) -> dict[str, Any]:
    """Validate ``params`` against ``specs`` and fill in defaults (in the specs' order)."""
    names = tuple(specs)
    for name in params:
        if name not in specs:
            raise InputError(
                f"generator {kind!r} has no parameter {name!r}{closest_match(name, names)}; "
                f"its parameters are: {', '.join(names)}"
            )
    return {
        name: spec.validate(params[name], name, kind, names) if name in params else spec.default
        for name, spec in specs.items()
    }


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    if x == math.inf:
        return "inf"
    return f"{x:g}"
