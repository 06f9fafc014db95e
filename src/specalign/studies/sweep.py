"""Sweep axes: checking parameter values and expanding ``{linspace|logspace = [a, b, n]}``.

Values follow numpy: ``linspace = [a, b, n]`` is ``numpy.linspace(a, b, n)`` (both ends
included) and ``logspace = [a, b, n]`` is ``numpy.logspace(a, b, n)``, i.e. the base-10
exponents ``a`` and ``b``: ``{logspace = [-3, -1, 3]}`` gives ``0.001, 0.01, 0.1``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, InputError

__all__ = ["SHAPE_PARAMETERS", "check_parameter_value", "expand_sweep", "shape_parameter_specs"]

#: Parameters every generator takes besides its own: the dimension and the depth.
SHAPE_PARAMETERS = ("d", "depth")


class ShapeParameter(NamedTuple):
    """Same fields as the generator parameter specs of :mod:`specalign.simulate`."""

    default: Any
    type: type
    low: float | None
    high: float | None
    doc: str


def shape_parameter_specs() -> dict[str, ShapeParameter]:
    """Specs of ``d`` (dimension, >= 2) and ``depth`` (number of factors L, >= 1)."""
    return {
        "d": ShapeParameter(None, int, 2, None, "dimension d of each d×d factor"),
        "depth": ShapeParameter(None, int, 1, None, "number of factors L in the chain"),
    }


def check_parameter_value(
    key: str, value: Any, spec, kind_name: str = "", names: tuple[str, ...] = ()
) -> Any:
    """Check one value against a parameter spec (type, range, choices).

    A generator's :class:`~specalign.simulate.ParameterSpec` validates with its own rules;
    ``d`` and ``depth`` are checked here (``low <= value``).

    Returns the value converted to the spec's type (an integral float for an int
    parameter becomes an int; an int for a float parameter becomes a float).
    """
    if hasattr(spec, "validate"):  # a generator's ParameterSpec: its own rules and message
        try:
            return spec.validate(value, key.split(".")[-1].split("[")[0], kind_name, names)
        except InputError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    kind = getattr(spec, "type", None)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value) if kind is float else _as_int(key, value)
        if not np.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        low, high = getattr(spec, "low", None), getattr(spec, "high", None)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"{key}: {value!r} is out of range; allowed: {_range(low, high)}")
        return value
    return value


def expand_sweep(
    key: str, value: Any, spec, kind_name: str = "", names: tuple[str, ...] = ()
) -> tuple:
    """Values of one sweep axis: a non-empty array of distinct values, or linspace/logspace.

    Raises
    ------
    ConfigError
        Empty axis, repeated values, malformed ``{linspace|logspace = [a, b, n]}`` or a value
        the parameter does not accept.
    """
    if isinstance(value, dict):
        values = _expand_space(key, value)
    elif isinstance(value, list):
        values = value
    else:
        raise ConfigError(
            f"{key}: expected an array of values or {{linspace = [a, b, n]}} / "
            f"{{logspace = [a, b, n]}}, got {value!r}"
        )
    if not values:
        raise ConfigError(f"{key}: the sweep axis is empty; give at least one value")
    checked = tuple(
        check_parameter_value(f"{key}[{index}]", item, spec, kind_name, names)
        for index, item in enumerate(values)
    )
    if len(set(checked)) != len(checked):
        raise ConfigError(f"{key}: the sweep values must be distinct, got {list(checked)}")
    return checked


def _expand_space(key: str, value: dict) -> list:
    if len(value) != 1 or next(iter(value)) not in ("linspace", "logspace"):
        raise ConfigError(
            f"{key}: a table must be exactly {{linspace = [a, b, n]}} or "
            f"{{logspace = [a, b, n]}}, got keys {list(value)}"
        )
    ((how, args),) = value.items()
    if (
        not isinstance(args, list)
        or len(args) != 3
        or any(isinstance(a, bool) or not isinstance(a, int | float) for a in args)
        or not isinstance(args[2], int)
    ):
        raise ConfigError(
            f"{key}.{how}: expected [start, stop, count] with a whole count, got {args!r}"
        )
    start, stop, count = args
    if count < 1:
        raise ConfigError(f"{key}.{how}: the count must be at least 1, got {count}")
    space = np.linspace if how == "linspace" else np.logspace
    return [float(x) for x in space(start, stop, count)]


def _as_int(key: str, value) -> int:
    rounded = round(float(value))
    if abs(float(value) - rounded) > 1e-9 * max(1.0, abs(rounded)):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    return int(rounded)


def _range(low, high) -> str:
    if low is not None and high is not None:
        return f"{low} <= value <= {high}"
    return f"value >= {low}" if low is not None else f"value <= {high}"
