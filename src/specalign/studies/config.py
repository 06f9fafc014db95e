"""Study configuration: TOML files validated into an immutable :class:`StudyConfig`.

A study file has the sections ``[study]``, ``[generator]``, ``[sweep]``, ``[estimate]`` and
``[execution]`` (docs/studies.md). Validation is in two steps: pydantic checks the structure
(unknown keys, types), then :func:`_check_science` checks the names that depend on the
installed generators, charts and bounds. Every problem becomes one :class:`ConfigError` that
names the dotted key and what is allowed (with the closest match for a typo).
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from .._validation import closest_match
from ..errors import ConfigError
from .sweep import (
    SHAPE_PARAMETERS,
    check_parameter_value,
    expand_sweep,
    shape_parameter_specs,
)

__all__ = [
    "EstimateSection",
    "ExecutionSection",
    "GeneratorSection",
    "StudyConfig",
    "StudySection",
    "load_config",
    "parse_config",
]

_FORBID = ConfigDict(extra="forbid", frozen=True)

#: Scheduler names accepted besides ``tcp://host:port`` addresses.
SCHEDULERS = ("local", "threads", "synchronous", "slurm", "pbs")


class StudySection(BaseModel):
    """``[study]``: identity, seed and the Monte Carlo size."""

    model_config = _FORBID
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)
    seed: StrictInt = Field(ge=0)
    replicates: StrictInt = Field(ge=1)
    task_size: StrictInt | None = Field(default=None, ge=1)


class GeneratorSection(BaseModel):
    """``[generator]``: the generator kind and its fixed parameters (checked per kind)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str


class EstimateSection(BaseModel):
    """``[estimate]``: charts, bounds, the ``ls`` rank window, spectra and T5 terms kept."""

    model_config = _FORBID
    charts: tuple[str, ...] = ("ls",)
    bounds: tuple[str, ...] = ("margin",)
    window: tuple[StrictInt, StrictInt] | float | None = None
    keep_spectra: StrictBool = False
    first_order: StrictBool = False


class ExecutionSection(BaseModel):
    """``[execution]``: where the tasks run. Resources only: never recorded in the store."""

    model_config = _FORBID
    scheduler: str = "local"
    workers: StrictInt | None = Field(default=None, ge=1)
    threads_per_worker: StrictInt = Field(default=1, ge=1)
    jobqueue: dict[str, Any] = Field(default_factory=dict)


class _ConfigModel(BaseModel):
    model_config = _FORBID
    study: StudySection
    generator: GeneratorSection
    sweep: dict[str, Any] | None = None
    estimate: EstimateSection = EstimateSection()
    execution: ExecutionSection = ExecutionSection()


class StudyConfig(BaseModel):
    """A validated study: the parsed sections plus the expanded sweep.

    Attributes
    ----------
    study, estimate, execution : the validated sections.
    kind : str
        Generator kind.
    fixed : dict
        Fixed generator parameters, defaults filled in (``d`` and ``depth`` included unless
        swept).
    axes : dict[str, tuple]
        Sweep axes in file order, each the tuple of its values (ints for integer parameters).
    """

    model_config = ConfigDict(frozen=True)
    study: StudySection
    kind: str
    fixed: dict[str, Any]
    axes: dict[str, tuple]
    estimate: EstimateSection
    execution: ExecutionSection

    @property
    def name(self) -> str:
        return self.study.name

    @property
    def task_size(self) -> int:
        """Replicates per task; defaults to all replicates of a cell (one task per cell)."""
        return min(self.study.task_size or self.study.replicates, self.study.replicates)

    def science(self) -> dict[str, Any]:
        """The normalized science part of the config (execution resources left out).

        Everything that determines the numbers in the store, and its layout (``task_size``
        fixes the chunking), in a canonical JSON-compatible form.
        """
        return {
            "study": {
                "name": self.study.name,
                "seed": self.study.seed,
                "replicates": self.study.replicates,
                "task_size": self.task_size,
            },
            "generator": {"kind": self.kind, **dict(sorted(self.fixed.items()))},
            "sweep": {axis: list(values) for axis, values in self.axes.items()},
            "estimate": {
                "charts": list(self.estimate.charts),
                "bounds": list(self.estimate.bounds),
                "window": _window_json(self.estimate.window),
                "keep_spectra": self.estimate.keep_spectra,
                "first_order": self.estimate.first_order,
            },
        }

    def config_hash(self) -> str:
        """SHA-256 of :meth:`science` in canonical JSON: the store's identity."""
        text = json.dumps(self.science(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def science_toml(self) -> str:
        """:meth:`science` as TOML text (stored in the dataset attrs, loadable again)."""
        return _to_toml(self.science())


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study file.

    Raises
    ------
    ConfigError
        The file is missing, is not valid TOML, or fails validation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, *, source: str = "<config>") -> StudyConfig:
    """Validate study-file text (TOML) into a :class:`StudyConfig`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    return from_dict(raw, source=source)


def from_dict(raw: dict[str, Any], *, source: str = "<config>") -> StudyConfig:
    """Validate an already-parsed config mapping (same rules as :func:`parse_config`)."""
    try:
        model = _ConfigModel.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None
    try:
        return _check_science(model)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _check_science(model: _ConfigModel) -> StudyConfig:
    from .. import simulate
    from ..estimators.bounds import BOUNDS
    from ..estimators.charts import CHARTS

    kind = model.generator.kind
    kinds = tuple(simulate.GENERATORS)
    if kind not in kinds:
        raise ConfigError(
            f"generator.kind: unknown generator {kind!r}{closest_match(kind, kinds)}; "
            f"allowed: {', '.join(kinds)}"
        )
    specs = {**shape_parameter_specs(), **simulate.generator_parameters(kind)}
    allowed = ", ".join(specs)
    names = tuple(specs)
    given = dict(model.generator.model_extra or {})
    for key in given:
        if key not in specs:
            raise ConfigError(
                f"generator.{key}: unknown parameter of generator {kind!r}"
                f"{closest_match(key, specs)}; allowed: {allowed}"
            )
    sweep = model.sweep
    if sweep is not None and not sweep:
        raise ConfigError(
            "sweep: the [sweep] table has no axes; add an axis (e.g. slack = [0.0, 0.5]) or "
            "remove the table for a single-cell study"
        )
    axes: dict[str, tuple] = {}
    for key, value in (sweep or {}).items():
        if key not in specs:
            raise ConfigError(
                f"sweep.{key}: unknown parameter of generator {kind!r}"
                f"{closest_match(key, specs)}; allowed: {allowed}"
            )
        if key in given:
            raise ConfigError(
                f"sweep.{key}: {key!r} is both fixed in [generator] and swept; keep one"
            )
        axes[key] = expand_sweep(f"sweep.{key}", value, specs[key], kind, names)
    fixed: dict[str, Any] = {}
    for key, spec in specs.items():
        if key in axes:
            continue
        if key in given:
            fixed[key] = check_parameter_value(f"generator.{key}", given[key], spec, kind, names)
        elif key in SHAPE_PARAMETERS:
            raise ConfigError(
                f"generator.{key}: missing; set {key} in [generator] or sweep it in [sweep]"
            )
        else:
            fixed[key] = spec.default
    _check_names("estimate.charts", model.estimate.charts, CHARTS, "chart")
    _check_names("estimate.bounds", model.estimate.bounds, BOUNDS, "bound")
    if "lidskii" in model.estimate.bounds and "ls" not in model.estimate.charts:
        raise ConfigError(
            "estimate.bounds: the lidskii bound is about the ls chart; add 'ls' to "
            "estimate.charts or drop 'lidskii'"
        )
    _check_window(model.estimate, fixed, axes)
    _check_execution(model.execution)
    return StudyConfig(
        study=model.study,
        kind=kind,
        fixed=fixed,
        axes=axes,
        estimate=model.estimate,
        execution=model.execution,
    )


def _check_names(key: str, names: tuple[str, ...], allowed: tuple[str, ...], what: str):
    if key == "estimate.charts" and not names:
        raise ConfigError(f"{key}: give at least one chart; allowed: {', '.join(allowed)}")
    for index, name in enumerate(names):
        if name not in allowed:
            raise ConfigError(
                f"{key}[{index}]: unknown {what} {name!r}{closest_match(name, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )
    if len(set(names)) != len(names):
        raise ConfigError(f"{key}: {what} names must be unique, got {list(names)}")


def _check_window(estimate: EstimateSection, fixed: dict, axes: dict) -> None:
    window = estimate.window
    if window is None:
        return
    if isinstance(window, float):
        if not 0.0 < window < 1.0:
            raise ConfigError(
                f"estimate.window: an energy-quantile window needs 0 < q < 1, got {window}"
            )
        if "lidskii" in estimate.bounds:
            raise ConfigError(
                "estimate.window: the lidskii bound needs a fixed rank window [k_lo, k_hi] "
                "(or none); an energy quantile moves with the spectrum"
            )
        return
    k_lo, k_hi = window
    d_min = min(axes["d"]) if "d" in axes else fixed["d"]
    if not 1 <= k_lo < k_hi <= d_min:
        raise ConfigError(
            f"estimate.window: a rank window [k_lo, k_hi] needs 1 <= k_lo < k_hi <= d "
            f"(smallest d = {d_min}), got {list(window)}"
        )


def _check_execution(execution: ExecutionSection) -> None:
    scheduler = execution.scheduler
    if scheduler not in SCHEDULERS and not scheduler.startswith(("tcp://", "tls://")):
        raise ConfigError(
            f"execution.scheduler: unknown scheduler {scheduler!r}"
            f"{closest_match(scheduler, SCHEDULERS)}; allowed: {', '.join(SCHEDULERS)} or "
            "an address 'tcp://host:port'"
        )
    if execution.jobqueue and scheduler not in ("slurm", "pbs"):
        raise ConfigError(
            "execution.jobqueue: only used with scheduler = 'slurm' or 'pbs', "
            f"got scheduler = {scheduler!r}"
        )


def _window_json(window):
    return list(window) if isinstance(window, tuple) else window


# ---------------------------------------------------------------------------------------
# pydantic errors -> one message with a dotted key


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "dict_type": "a table",
    "model_type": "a table",
    "tuple_type": "an array",
    "list_type": "an array",
}


def _describe(exc: ValidationError) -> str:
    # a typo shows up twice (an unknown key and a missing one): report the unknown key
    order = {"extra_forbidden": 0, "missing": 2}
    errors = sorted(exc.errors(include_url=False), key=lambda e: order.get(e["type"], 1))
    first = errors[0]
    loc = [str(part) for part in first["loc"] if not _is_union_tag(part)]
    key = _dotted(loc)
    kind = first["type"]
    value = first.get("input")
    if loc[:2] == ["estimate", "window"] and kind != "extra_forbidden":
        message = (
            f"estimate.window: expected [k_lo, k_hi] (1-based ranks), a number q with "
            f"0 < q < 1 (energy-quantile window), or no window key; got {value!r}"
        )
        return message
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        message = f"unknown key {key!r}{closest_match(loc[-1], allowed)}; allowed keys"
        message += f" here: {', '.join(allowed)}" if allowed else ": none"
    elif kind == "missing":
        message = f"missing required key {key!r}"
    elif kind in _TYPE_WORDS:
        message = f"{key}: expected {_TYPE_WORDS[kind]}, got {value!r} ({_toml_type(value)})"
    elif kind in ("greater_than_equal", "less_than_equal"):
        sign = ">=" if kind == "greater_than_equal" else "<="
        bound = first["ctx"].get("ge", first["ctx"].get("le"))
        message = f"{key}: must be {sign} {bound}, got {value!r}"
    elif kind == "string_pattern_mismatch" and loc[-1] == "name":
        message = (
            f"{key}: {value!r} is not a valid study name; use letters, digits, '_', '-', "
            "'.' (it names the output files)"
        )
    else:
        message = f"{key}: {first['msg']} (got {value!r})"
    if len(errors) > 1:
        message += f" [and {len(errors) - 1} more problem(s); fix this one first]"
    return message


def _is_union_tag(part) -> bool:
    # pydantic inserts the union member tried ("int", "float", "tuple[...]") in the location
    return isinstance(part, str) and (
        part in ("int", "float", "str", "bool", "none") or "[" in part
    )


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _allowed_keys(parent: list[str]) -> list[str]:
    sections = {
        (): _ConfigModel,
        ("study",): StudySection,
        ("estimate",): EstimateSection,
        ("execution",): ExecutionSection,
    }
    model = sections.get(tuple(parent))
    return list(model.model_fields) if model is not None else []


def _toml_type(value) -> str:
    names = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }
    return names.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------
# a minimal TOML writer for the normalized config (tables of scalars and flat arrays)


def _to_toml(data: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for section, table in data.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            if value is None:
                continue  # TOML has no null: an absent key means the default
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
