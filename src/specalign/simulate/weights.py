"""Real network weights: reading checkpoints, selecting matrices, and residual surrogate chains.

Three file formats are read, each without loading more than one tensor at a time where the
format allows it:

==============  ====================================================  =====================
format          files                                                 needs
==============  ====================================================  =====================
``safetensors`` ``*.safetensors``, or a directory of shards            ``safetensors``
``npz``         ``*.npz`` (``numpy.savez``; pickled arrays refused)   numpy only
``torch``       ``*.pt``, ``*.pth``, ``*.bin``, ``*.ckpt`` state dicts ``torch`` (optional)
==============  ====================================================  =====================

Tensor names give the *block* (the first integer path component: ``encoder.layer.3.…`` is
block 3 of the stack ``encoder.layer``) and the *role* (query, key, value, attention output,
MLP in, MLP out), inferred from the naming conventions of BERT, GPT-2, LLaMA/Mistral,
DistilBERT, T5 and ViT checkpoints (:data:`ROLE_PATTERNS`, overridable).

Residual surrogate chains (docs/checkpoints.md): per block, the attention value path
``A = I + c W_O W_V`` and the MLP path ``A = I + c W_2 W_1`` (weights in PyTorch's
``(out_features, in_features)`` layout, ``y = W x``), the scale ``c`` a parameter.

A file that cannot be read (missing, truncated, corrupt, unknown format, a pattern matching
nothing) raises :class:`~specalign.errors.WeightsError`; a tensor that cannot be profiled (a
bias, an integer tensor, NaN, an all-zero row that makes it singular) is reported by
:func:`prepare_matrix` with a status and a reason instead.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
import struct
import types
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import check_choice, closest_match
from ..errors import InputError, WeightsError

__all__ = [
    "MATRIX_STATUSES",
    "ROLES",
    "ROLE_PATTERNS",
    "SURROGATE_PATHS",
    "WEIGHT_FORMATS",
    "PreparedMatrix",
    "SurrogateChain",
    "TensorEntry",
    "WeightsFile",
    "entry_skip_reason",
    "group_by_block",
    "open_weights",
    "prepare_matrix",
    "select_tensors",
    "surrogate_chain",
    "tensor_block",
    "tensor_role",
]

#: File formats :func:`open_weights` reads.
WEIGHT_FORMATS = ("safetensors", "npz", "torch")

_SUFFIX_FORMAT = {
    ".safetensors": "safetensors",
    ".npz": "npz",
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
    ".ckpt": "torch",
}

#: Matrix roles inside a transformer block, in plotting order; anything else is ``"other"``.
ROLES = ("query", "key", "value", "attention_output", "mlp_in", "mlp_out")

#: Role inference: the first pattern (``re.search`` on the lower-cased name) that matches
#: wins, so the attention output is tried before the generic ``output.dense`` of the MLP.
ROLE_PATTERNS: Mapping[str, str] = types.MappingProxyType(
    {
        "attention_output": (
            r"attention\.output\.dense|attn\.(c_proj|o_proj|out_proj|proj)\b"
            r"|attention\.(o|wo|out_proj|dense|out_lin)\b|\bo_proj\b|\bout_proj\b"
        ),
        "query": r"\b(query|q_proj|q_lin|wq|q)\b",
        "key": r"\b(key|k_proj|k_lin|wk|k)\b",
        "value": r"\b(value|v_proj|v_lin|wv|v)\b",
        "mlp_in": (r"intermediate\.dense|\b(fc1|up_proj|c_fc|lin1|w1|wi|dense_h_to_4h)\b"),
        "mlp_out": r"output\.dense|\b(fc2|down_proj|c_proj|lin2|w2|wo|dense_4h_to_h)\b",
    }
)

#: Residual paths of the surrogate chain: ``path -> (outer role, inner role)``, the factor
#: being ``I + c W_outer W_inner``.
SURROGATE_PATHS: Mapping[str, tuple[str, str]] = types.MappingProxyType(
    {"attention": ("attention_output", "value"), "mlp": ("mlp_out", "mlp_in")}
)

#: Profile status of one tensor (:func:`prepare_matrix`).
MATRIX_STATUSES = ("ok", "skipped", "rejected")

_LAYOUTS = ("out_in", "in_out")
_BLOCK_PATTERN = re.compile(r"(?:^|\.)(\d+)(?:\.|$)")
_SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "U16": "uint16",
    "U32": "uint32",
    "U64": "uint64",
    "BOOL": "bool",
}
_FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")


# --------------------------------------------------------------------------------------
# Names: blocks and roles
# --------------------------------------------------------------------------------------


def tensor_block(name: str) -> tuple[str, int | None]:
    """Stack and block index of a tensor name: ``"encoder.layer.3.x"`` -> ``("encoder.layer", 3)``.

    The block is the first path component that is an integer; the stack is the part of the
    name before it (so encoder and decoder stacks stay apart). Names without an integer
    component give ``("", None)``.
    """
    match = _BLOCK_PATTERN.search(name)
    if match is None:
        return "", None
    return name[: match.start()].strip("."), int(match.group(1))


def tensor_role(name: str, patterns: Mapping[str, str] | None = None) -> str:
    """Role of a tensor from its name: one of :data:`ROLES`, or ``"other"``.

    Parameters
    ----------
    name : str
        Tensor name, e.g. ``"encoder.layer.0.attention.self.query.weight"``.
    patterns : mapping role -> regex, optional
        Extra rules, tried first, in order, with ``re.search`` on the lower-cased name; they
        replace the default rule of the roles they name, and :data:`ROLE_PATTERNS` still
        decides the other roles. Roles must be among :data:`ROLES`.
    """
    if patterns:
        patterns = {**patterns, **{r: p for r, p in ROLE_PATTERNS.items() if r not in patterns}}
    else:
        patterns = ROLE_PATTERNS
    lowered = name.lower()
    for role, pattern in patterns.items():
        if re.search(pattern, lowered):
            return role
    return "other"


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a weight file, as listed (nothing loaded).

    Attributes
    ----------
    name : str
        Name in the file.
    shape : tuple of int
        Stored shape (PyTorch ``(out_features, in_features)`` for linear layers).
    dtype : str
        Stored dtype name (``"float32"``, ``"bfloat16"``, ``"int64"``, …).
    stack, block : str, int or None
        From :func:`tensor_block`.
    role : str
        From :func:`tensor_role`.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    stack: str
    block: int | None
    role: str


def _natural_key(name: str) -> tuple:
    """Sort key putting ``layer.10`` after ``layer.9``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _entry(name: str, shape, dtype: str, patterns) -> TensorEntry:
    stack, block = tensor_block(name)
    return TensorEntry(
        name, tuple(int(n) for n in shape), dtype, stack, block, tensor_role(name, patterns)
    )


# --------------------------------------------------------------------------------------
# Readers: one per format, each with names/shapes up front and tensors on demand
# --------------------------------------------------------------------------------------


def _corrupt(path: Path, what: str, exc: BaseException) -> WeightsError:
    return WeightsError(
        f"cannot read {path} as {what}: {exc}. The file is truncated or corrupt (re-download "
        "or re-export it)"
    )


class _SafetensorsReader:
    """Safetensors files (one, or the shards of a directory), read with numpy only."""

    format = "safetensors"

    def __init__(self, paths: Sequence[Path]):
        self.paths = tuple(paths)
        self._where: dict[str, Path] = {}
        self._info: dict[str, tuple[tuple[int, ...], str]] = {}
        self.metadata: dict[str, str] = {}

    def scan(self) -> None:
        safe_open = _safetensors().safe_open
        for path in self.paths:
            try:
                with safe_open(str(path), framework="np") as handle:
                    self.metadata.update(handle.metadata() or {})
                    for name in handle.keys():
                        tensor = handle.get_slice(name)
                        dtype = _SAFETENSORS_DTYPES.get(tensor.get_dtype(), tensor.get_dtype())
                        if name in self._where:
                            raise WeightsError(
                                f"tensor {name!r} appears in two shards, {self._where[name]} "
                                f"and {path}; pass one file"
                            )
                        self._where[name] = path
                        self._info[name] = (tuple(tensor.get_shape()), dtype)
            except WeightsError:
                raise
            except Exception as exc:
                raise _corrupt(path, "safetensors", exc) from None

    def entries(self):
        return [(name, *info) for name, info in self._info.items()]

    def read(self, name: str) -> np.ndarray:
        path = self._where[name]
        shape, dtype = self._info[name]
        try:
            if dtype == "bfloat16":  # numpy has no bfloat16: widen the raw bits to float32
                return _read_safetensors_bfloat16(path, name, shape)
            with _safetensors().safe_open(str(path), framework="np") as handle:
                return handle.get_tensor(name)
        except Exception as exc:
            raise _corrupt(path, "safetensors", exc) from None


def _safetensors():
    try:
        import safetensors
    except ImportError:  # pragma: no cover - installed with the "weights" extra
        raise WeightsError(
            "reading .safetensors files needs the safetensors package: "
            "pip install 'specalign[weights]' (or pip install safetensors)"
        ) from None
    return safetensors


def _read_safetensors_bfloat16(path: Path, name: str, shape) -> np.ndarray:
    """bfloat16 tensor as float32: the bf16 bits are the top half of the float32 bits."""
    with open(path, "rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_size))
        start, stop = header[name]["data_offsets"]
        handle.seek(8 + header_size + start)
        raw = np.frombuffer(handle.read(stop - start), dtype="<u2")
    if raw.size != math.prod(shape):
        raise WeightsError(f"tensor {name!r} in {path} is truncated")
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(shape)


class _NpzReader:
    """``numpy.savez`` archives: shapes from the ``.npy`` headers, arrays on demand."""

    format = "npz"

    def __init__(self, path: Path):
        self.paths = (path,)
        self.metadata: dict[str, str] = {}
        self._info: dict[str, tuple[tuple[int, ...], str]] = {}
        self._members: dict[str, str] = {}

    def scan(self) -> None:
        path = self.paths[0]
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if not member.endswith(".npy"):
                        continue
                    with archive.open(member) as handle:
                        version = np.lib.format.read_magic(handle)
                        read_header = (
                            np.lib.format.read_array_header_1_0
                            if version == (1, 0)
                            else np.lib.format.read_array_header_2_0
                        )
                        shape, _, dtype = read_header(handle)
                    name = member[: -len(".npy")]
                    self._members[name] = member
                    self._info[name] = (tuple(shape), "object" if dtype.hasobject else dtype.name)
        except Exception as exc:
            raise _corrupt(path, "an .npz archive", exc) from None

    def entries(self):
        return [(name, *info) for name, info in self._info.items()]

    def read(self, name: str) -> np.ndarray:
        path = self.paths[0]
        if self._info[name][1] == "object":
            raise WeightsError(
                f"{name!r} in {path} is a pickled object array; specalign does not unpickle "
                "(it could run arbitrary code). Save plain numeric arrays"
            )
        try:
            with zipfile.ZipFile(path) as archive, archive.open(self._members[name]) as handle:
                return np.lib.format.read_array(handle, allow_pickle=False)
        except Exception as exc:
            raise _corrupt(path, "an .npz archive", exc) from None


class _TorchReader:
    """PyTorch state dicts (``torch.save``), read with torch when it is installed."""

    format = "torch"

    def __init__(self, path: Path):
        self.paths = (path,)
        self.metadata: dict[str, str] = {}
        self._tensors: dict[str, object] = {}

    def scan(self) -> None:
        path = self.paths[0]
        try:
            import torch
        except ImportError:
            raise WeightsError(
                f"{path} is a PyTorch checkpoint and reading it needs torch, which is not "
                "installed. Install torch, or convert the file to .safetensors or .npz"
            ) from None
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise _corrupt(path, "a PyTorch checkpoint", exc) from None
        self._tensors = _flatten_state(state)
        if not self._tensors:
            raise WeightsError(f"{path} holds no tensors (expected a state dict)")

    def entries(self):
        return [
            (name, tuple(t.shape), str(t.dtype).removeprefix("torch."))
            for name, t in self._tensors.items()
        ]

    def read(self, name: str) -> np.ndarray:
        try:
            tensor = self._tensors[name].detach().cpu()
            if str(tensor.dtype) in ("torch.bfloat16", "torch.float16"):
                tensor = tensor.float()
            return tensor.numpy()
        except Exception as exc:
            raise WeightsError(
                f"cannot convert tensor {name!r} of {self.paths[0]} to numpy: {exc}"
            ) from None


def _flatten_state(state, prefix: str = "") -> dict[str, object]:
    """Tensors of a (possibly nested) state dict, keyed by dotted names."""
    out: dict[str, object] = {}
    if isinstance(state, Mapping):
        for key, value in state.items():
            out.update(_flatten_state(value, f"{prefix}{key}."))
    elif hasattr(state, "shape") and hasattr(state, "numpy") and prefix:
        out[prefix[:-1]] = state
    return out


def _unwrap_prefix(names: Iterable[str]) -> str:
    """Common wrapper of a checkpoint (``state_dict.``, ``model.``, ``module.``) to strip."""
    names = list(names)
    for wrapper in ("state_dict.", "model_state_dict.", "module."):
        if names and all(name.startswith(wrapper) for name in names):
            return wrapper
    return ""


def _sniff_format(path: Path) -> str:
    """Format of a file with an unknown suffix, from its first bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise WeightsError(f"cannot open {path}: {exc}") from None
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as exc:
            raise _corrupt(path, "a zip archive (.npz or PyTorch)", exc) from None
        if names and all(name.endswith(".npy") for name in names):
            return "npz"
        if any(name.endswith("data.pkl") for name in names):
            return "torch"
    elif len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    raise WeightsError(
        f"cannot tell the format of {path} (suffix {path.suffix!r}); name it "
        f"{', '.join(sorted(_SUFFIX_FORMAT))} or pass format= one of {', '.join(WEIGHT_FORMATS)}"
    )


def _reader(path: Path, format: str | None):
    if not path.exists():
        raise WeightsError(f"weight file {path} does not exist")
    if path.is_dir():
        shards = sorted(path.glob("*.safetensors"), key=lambda p: _natural_key(p.name))
        if not shards:
            raise WeightsError(
                f"{path} is a directory without .safetensors files; pass a weight file "
                "(.safetensors, .npz, .pt/.pth/.bin)"
            )
        return _SafetensorsReader(shards)
    if format is None:
        format = _SUFFIX_FORMAT.get(path.suffix.lower()) or _sniff_format(path)
    else:
        try:
            check_choice(format, WEIGHT_FORMATS, "weight format")
        except InputError as exc:
            raise WeightsError(str(exc)) from None
    if format == "safetensors":
        return _SafetensorsReader([path])
    if format == "npz":
        return _NpzReader(path)
    return _TorchReader(path)


class WeightsFile:
    """A weight file, opened: its tensors listed, each loaded on demand by :meth:`read`.

    Made by :func:`open_weights`. Attributes: ``path``, ``format``, ``entries`` (tuple of
    :class:`TensorEntry`, natural name order, so ``layer.10`` follows ``layer.9``) and
    ``metadata`` (the safetensors header metadata, else empty).
    """

    def __init__(self, path: Path, reader, entries: tuple[TensorEntry, ...], prefix: str):
        self.path = path
        self.format = reader.format
        self.entries = entries
        self.metadata = dict(reader.metadata)
        self._reader = reader
        self._prefix = prefix
        self._by_name = {entry.name: entry for entry in entries}

    def __repr__(self) -> str:
        return f"WeightsFile({str(self.path)!r}, format={self.format!r}, tensors={len(self)})"

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, name: str) -> TensorEntry:
        """The :class:`TensorEntry` called ``name`` (WeightsError if absent)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise WeightsError(
                f"no tensor {name!r} in {self.path}{closest_match(name, self._by_name)}"
            ) from None

    def read(self, name: str) -> np.ndarray:
        """The tensor ``name`` as stored (bfloat16 widened to float32; no other conversion).

        Raises
        ------
        WeightsError
            Unknown name, or the tensor's bytes cannot be read (corrupt file).
        """
        self.entry(name)
        return np.asarray(self._reader.read(self._prefix + name))


def open_weights(
    path, *, format: str | None = None, role_patterns: Mapping[str, str] | None = None
) -> WeightsFile:
    """Open a weight file and list its tensors (no tensor is loaded, except for torch).

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file or a directory of safetensors shards, an ``.npz`` archive,
        or a PyTorch checkpoint (``.pt``, ``.pth``, ``.bin``, ``.ckpt``; needs torch).
    format : {"safetensors", "npz", "torch"}, optional
        Override the format inferred from the suffix (or from the first bytes).
    role_patterns : mapping role -> regex, optional
        Extra role rules, tried before :data:`ROLE_PATTERNS` (see :func:`tensor_role`).

    Returns
    -------
    WeightsFile

    Raises
    ------
    WeightsError
        Missing file; unknown format; truncated or corrupt header or archive; torch needed
        but not installed; no tensors. Never a lower-level exception.

    Notes
    -----
    A wrapper common to every name (``state_dict.``, ``module.``) is stripped. Safetensors
    checks at open that the header's byte ranges cover the file exactly, so a truncated
    file fails here, before any tensor is read. See docs/checkpoints.md.
    """
    path = Path(path)
    if role_patterns is not None:
        unknown = [role for role in role_patterns if role not in ROLES]
        if unknown:
            raise WeightsError(
                f"unknown role(s) {unknown} in role_patterns; allowed: {', '.join(ROLES)}"
            )
        for role, pattern in role_patterns.items():
            try:
                re.compile(pattern)
            except (re.error, TypeError) as exc:
                raise WeightsError(
                    f"role_patterns[{role!r}] = {pattern!r} is not a regular expression: {exc}"
                ) from None
    reader = _reader(path, format)
    reader.scan()
    raw = reader.entries()
    if not raw:
        raise WeightsError(f"{path} holds no tensors")
    prefix = _unwrap_prefix(name for name, _, _ in raw)
    entries = sorted(
        (_entry(name[len(prefix) :], shape, dtype, role_patterns) for name, shape, dtype in raw),
        key=lambda entry: _natural_key(entry.name),
    )
    return WeightsFile(path, reader, tuple(entries), prefix)


# --------------------------------------------------------------------------------------
# Selection and grouping
# --------------------------------------------------------------------------------------


def _matches(name: str, pattern: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], name) is not None
    return fnmatch.fnmatchcase(name, pattern)


def select_tensors(
    weights: WeightsFile, patterns: str | Sequence[str] | None = None
) -> tuple[TensorEntry, ...]:
    """Tensors whose name matches any of ``patterns`` (all tensors for None), in file order.

    Parameters
    ----------
    weights : WeightsFile
    patterns : str or sequence of str, optional
        Shell-style globs matched against the whole name (``"encoder.layer.*.weight"``;
        ``*`` crosses dots), or regular expressions prefixed ``re:`` (``re.search``).

    Raises
    ------
    WeightsError
        A pattern is an invalid regular expression, or nothing matches (the message shows
        some of the file's names).
    """
    if patterns is None:
        return weights.entries
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    if not patterns:
        return weights.entries
    for pattern in patterns:
        if pattern.startswith("re:"):
            try:
                re.compile(pattern[3:])
            except re.error as exc:
                raise WeightsError(f"invalid regular expression {pattern!r}: {exc}") from None
    chosen = tuple(e for e in weights.entries if any(_matches(e.name, p) for p in patterns))
    if not chosen:
        names = [entry.name for entry in weights.entries]
        sample = ", ".join(names[:6]) + (", …" if len(names) > 6 else "")
        hint = closest_match(patterns[0], names)
        raise WeightsError(
            f"pattern {' | '.join(map(repr, patterns))} matches none of the {len(names)} "
            f"tensors in {weights.path}{hint}; names look like: {sample} (patterns are globs "
            "over the whole name, with '*' as in 'encoder.layer.*.weight', or regexes "
            "prefixed 're:')"
        )
    return chosen


def group_by_block(entries: Iterable[TensorEntry]) -> dict[tuple[str, int], dict[str, TensorEntry]]:
    """Matrices (ndim >= 2) with a known role, grouped as ``{(stack, block): {role: entry}}``.

    Blocks appear in depth order. Tensors without a block index or with role ``"other"``
    are left out; 1-D tensors (biases, norm gains) too, so each role names one matrix.

    Raises
    ------
    WeightsError
        Two matrices of one block claim the same role (pass ``role_patterns`` to
        :func:`open_weights`, or narrow the selection).
    """
    groups: dict[tuple[str, int], dict[str, TensorEntry]] = {}
    for entry in entries:
        if entry.block is None or entry.role == "other" or len(entry.shape) < 2:
            continue
        roles = groups.setdefault((entry.stack, entry.block), {})
        if entry.role in roles:
            raise WeightsError(
                f"block {entry.block} of {entry.stack!r} has two {entry.role} matrices, "
                f"{roles[entry.role].name!r} and {entry.name!r}; narrow the pattern or pass "
                "role_patterns"
            )
        roles[entry.role] = entry
    return dict(sorted(groups.items(), key=lambda item: (_natural_key(item[0][0]), item[0][1])))


# --------------------------------------------------------------------------------------
# One tensor -> a matrix ready for spectra, or a reason why not
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedMatrix:
    """A tensor checked for profiling.

    Attributes
    ----------
    matrix : numpy.ndarray or None
        float64 ``(m, n)`` matrix when ``status == "ok"``, else None.
    status : {"ok", "skipped", "rejected"}
        ``skipped``: not a weight matrix (bias, gain, integer buffer, ``d < 2``);
        ``rejected``: a matrix whose values cannot give a spectrum (NaN/Inf, all-zero
        rows or columns that make it singular).
    reason : str
        Why it was skipped or rejected, or a note (``""`` when there is nothing to say).
    """

    matrix: np.ndarray | None
    status: str
    reason: str


def _zero_lines(matrix: np.ndarray) -> tuple[int, int]:
    return (int(np.count_nonzero(~matrix.any(axis=1))), int(np.count_nonzero(~matrix.any(axis=0))))


def _skip_reason(shape: tuple[int, ...], dtype: str) -> str | None:
    """Why a tensor of this shape and dtype is not a weight matrix, or None."""
    if len(shape) == 0:
        return "scalar, skipped"
    if len(shape) == 1:
        return "1-D tensor (bias or norm gain), skipped"
    if dtype not in _FLOAT_DTYPES:
        if dtype.startswith(("int", "uint", "bool")):
            return f"{dtype} tensor (not a weight matrix), skipped"
        return f"unsupported dtype {dtype} (profiles read float16/32/64 and bfloat16), skipped"
    d = min(shape[0], math.prod(shape[1:]))
    if d < 2:
        return f"d = min(m, n) = {d} < 2 (no spectrum shape), skipped"
    return None


def entry_skip_reason(entry: TensorEntry) -> str | None:
    """Why :func:`prepare_matrix` would skip this tensor, from its listing alone, or None.

    Lets callers avoid reading biases, gains and index buffers at all.
    """
    return _skip_reason(entry.shape, entry.dtype)


def prepare_matrix(array, dtype: str | None = None) -> PreparedMatrix:
    """Check a tensor and turn it into a float64 matrix, or say why it cannot be profiled.

    Parameters
    ----------
    array : array_like
        The tensor as stored.
    dtype : str, optional
        Stored dtype name (default ``array.dtype.name``; pass ``"bfloat16"`` for a bf16
        tensor already widened to float32).

    Returns
    -------
    PreparedMatrix

    Notes
    -----
    Rules, in order: fewer than 2 axes -> skipped (bias or norm gain); a non-float dtype ->
    skipped (index buffers such as ``position_ids``); ``d = min(m, n) < 2`` -> skipped; more
    than 2 axes -> reshaped to ``(shape[0], prod(shape[1:]))`` (a convolution kernel as
    out-channels × fan-in, noted in ``reason``); NaN or Inf -> rejected; all-zero rows or
    columns leaving fewer than ``d`` non-zero lines -> rejected (rank deficient). Zero lines
    that do not lower the rank are noted. Other numerical rank deficiency is found later,
    from the singular values.
    """
    arr = np.asarray(array)
    dtype = dtype or arr.dtype.name
    if not np.issubdtype(arr.dtype, np.floating):
        dtype = arr.dtype.name if dtype in _FLOAT_DTYPES else dtype
    reason = _skip_reason(arr.shape, dtype)
    if reason is not None:
        return PreparedMatrix(None, "skipped", reason)
    note = ""
    if arr.ndim > 2:
        shape = arr.shape
        arr = arr.reshape(shape[0], -1)
        note = f"reshaped from {shape} to {arr.shape} (out × fan-in)"
    m, n = arr.shape
    finite = np.isfinite(arr)
    if not finite.all():
        n_nan = int(np.count_nonzero(np.isnan(arr)))
        n_inf = int(arr.size - np.count_nonzero(finite) - n_nan)
        return PreparedMatrix(None, "rejected", f"non-finite values: {n_nan} NaN, {n_inf} Inf")
    matrix = arr.astype(np.float64)
    zero_rows, zero_cols = _zero_lines(matrix)
    d = min(m, n)
    if m - zero_rows < d or n - zero_cols < d:
        parts = [
            f"{count} all-zero {what}"
            for count, what in ((zero_rows, "rows"), (zero_cols, "columns"))
            if count
        ]
        return PreparedMatrix(
            None,
            "rejected",
            f"rank deficient: {', '.join(parts)} (rank <= {min(m - zero_rows, n - zero_cols)} "
            f"< d = {d})",
        )
    if zero_rows or zero_cols:
        zero_note = f"{zero_rows} all-zero rows, {zero_cols} all-zero columns (rank unaffected)"
        note = f"{note}; {zero_note}" if note else zero_note
    return PreparedMatrix(matrix, "ok", note)


# --------------------------------------------------------------------------------------
# Residual surrogate chains
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SurrogateChain:
    """Residual surrogate factors of a network, in depth order.

    Attributes
    ----------
    factors : numpy.ndarray, shape (L, d, d)
        ``A_l = I + c_l W_outer W_inner`` (float64).
    labels : tuple of str
        ``"block 3 attention"``, … one per factor.
    blocks : tuple of int
        Block index of each factor.
    paths : tuple of str
        Path of each factor (``"attention"`` or ``"mlp"``).
    scales : numpy.ndarray, shape (L,)
        The scale ``c_l`` used for each factor.
    sources : tuple of (str, str)
        ``(outer, inner)`` tensor names of each factor.
    stack : str
        The stack the blocks come from (``"encoder.layer"``).
    formula : str
        The factor's formula, for dataset attributes.
    """

    factors: np.ndarray
    labels: tuple[str, ...]
    blocks: tuple[int, ...]
    paths: tuple[str, ...]
    scales: np.ndarray
    sources: tuple[tuple[str, str], ...]
    stack: str
    formula: str


def _choose_stack(groups, needed: set[str], path: Path) -> str:
    complete = {}
    for (stack, _), roles in groups.items():
        if needed <= roles.keys():
            complete[stack] = complete.get(stack, 0) + 1
    if not complete:
        found = sorted({role for roles in groups.values() for role in roles})
        raise WeightsError(
            f"no block of {path} has all the roles the surrogate chain needs "
            f"({', '.join(sorted(needed))}); roles found: {', '.join(found) or 'none'}. "
            "Check the names (role inference: specalign.simulate.weights.ROLE_PATTERNS) or "
            "pass role_patterns to open_weights"
        )
    if len(complete) > 1:
        raise WeightsError(
            f"{path} has several stacks of blocks ({', '.join(sorted(complete))}); select "
            "one with a pattern, e.g. 'encoder.*'"
        )
    return next(iter(complete))


def _path_product(
    weights: WeightsFile, outer: TensorEntry, inner: TensorEntry, layout: str
) -> np.ndarray:
    W_out = weights.read(outer.name)
    W_in = weights.read(inner.name)
    for entry, W in ((outer, W_out), (inner, W_in)):
        if W.ndim != 2 or not np.issubdtype(W.dtype, np.floating):
            raise WeightsError(f"{entry.name} must be a float matrix, got {W.dtype} {W.shape}")
        if not np.all(np.isfinite(W)):
            raise WeightsError(
                f"{entry.name} holds non-finite values: the surrogate chain cannot be built"
            )
    W_out, W_in = W_out.astype(np.float64), W_in.astype(np.float64)
    if layout == "in_out":  # y = x W: the column-vector map is Wᵀ, so W_out W_in -> W_outᵀ W_inᵀ
        W_out, W_in = W_out.T, W_in.T
    if W_out.shape[1] != W_in.shape[0] or W_out.shape[0] != W_in.shape[1]:
        raise WeightsError(
            f"{outer.name} {W_out.shape} and {inner.name} {W_in.shape} do not compose to a "
            f"square map (layout {layout!r}: y = W x for 'out_in'); grouped-query attention "
            "and fused projections are not supported"
        )
    return W_out @ W_in


def surrogate_chain(
    weights: WeightsFile,
    *,
    paths: Sequence[str] = ("attention", "mlp"),
    scale: float = 1.0,
    normalize: bool = False,
    layout: str = "out_in",
    pattern: str | Sequence[str] | None = None,
) -> SurrogateChain:
    """Residual surrogate factors ``A = I + c W_outer W_inner`` per block, in depth order.

    Parameters
    ----------
    weights : WeightsFile
        From :func:`open_weights`.
    paths : sequence of {"attention", "mlp"}
        Residual paths per block, in the order they act within a block: the attention
        value path ``I + c W_O W_V`` and the MLP path ``I + c W_2 W_1``
        (:data:`SURROGATE_PATHS`). ``("attention", "mlp")`` gives ``2·n_blocks`` factors.
    scale : float
        ``c > 0``. With ``normalize=False`` (default) the same ``c`` for every factor.
    normalize : bool
        Use ``c_l = scale / ‖W_outer W_inner‖₂`` instead, so that ``‖A_l − I‖₂ = scale``
        for every factor (a near-identity chain when ``scale < 1``).
    layout : {"out_in", "in_out"}
        Storage layout of linear weights: PyTorch's ``(out_features, in_features)``,
        ``y = W x`` (default), or ``(in, out)``, ``y = x W`` (GPT-2 ``Conv1D``, Flax).
    pattern : str or sequence of str, optional
        Restrict the tensors used (as in :func:`select_tensors`), e.g. to one stack.

    Returns
    -------
    SurrogateChain

    Raises
    ------
    WeightsError
        Unknown path; ``scale`` not finite and positive; no block with the roles needed;
        several stacks; non-finite weights; shapes that do not compose to ``d×d``.

    Notes
    -----
    With LayerNorm, biases and the softmax mixing over tokens left out, a residual sublayer
    ``x + W_O softmax(·) W_V x`` acts on one token, when attention is uniform over copies of
    it, as ``(I + W_O W_V) x``; summing heads is already the full product ``W_O W_V``. The
    MLP ``x + W_2 φ(W_1 x)`` with ``φ`` replaced by the identity gives ``I + W_2 W_1``
    (``d×d`` from a ``(4d)×d`` ``W_1``). The scale ``c`` stands for the gain the dropped
    nonlinearities and normalizations apply (``c = 1``: literal weights). See
    docs/checkpoints.md.
    """
    paths = tuple(paths)
    if not paths:
        raise WeightsError(f"pass at least one path; allowed: {', '.join(SURROGATE_PATHS)}")
    try:
        for name in paths:
            check_choice(name, SURROGATE_PATHS, "surrogate path")
        check_choice(layout, _LAYOUTS, "layout")
    except InputError as exc:
        raise WeightsError(str(exc)) from None
    scale = float(scale)
    if not (math.isfinite(scale) and scale > 0):
        raise WeightsError(f"scale must be a finite number > 0, got {scale!r}")
    groups = group_by_block(select_tensors(weights, pattern))
    needed = {role for name in paths for role in SURROGATE_PATHS[name]}
    stack = _choose_stack(groups, needed, weights.path)
    factors, labels, blocks, used_paths, scales, sources = [], [], [], [], [], []
    d = None
    for (group_stack, block), roles in groups.items():
        if group_stack != stack or not needed <= roles.keys():
            continue
        for name in paths:
            outer, inner = (roles[role] for role in SURROGATE_PATHS[name])
            product = _path_product(weights, outer, inner, layout)
            if d is not None and product.shape[0] != d:
                raise WeightsError(
                    f"block {block} {name}: W_outer W_inner is {product.shape[0]}×"
                    f"{product.shape[0]}, earlier factors are {d}×{d}"
                )
            d = product.shape[0]
            c = scale
            if normalize:
                norm = float(np.linalg.norm(product, 2))
                if norm == 0:
                    raise WeightsError(f"block {block} {name}: W_outer W_inner is zero")
                c = scale / norm
            factors.append(np.eye(d) + c * product)
            labels.append(f"block {block} {name}")
            blocks.append(block)
            used_paths.append(name)
            scales.append(c)
            sources.append((outer.name, inner.name))
    c_text = "scale/‖W_outer W_inner‖₂" if normalize else f"{scale:g}"
    formula = (
        "A = I + c W_outer W_inner, c = " + c_text + "; attention: W_outer = W_O (attention "
        "output), W_inner = W_V (value); mlp: W_outer = W_2 (MLP out), W_inner = W_1 (MLP in); "
        f"layout {layout} ({'y = W x' if layout == 'out_in' else 'y = x W'})"
    )
    return SurrogateChain(
        factors=np.stack(factors),
        labels=tuple(labels),
        blocks=tuple(blocks),
        paths=tuple(used_paths),
        scales=np.asarray(scales),
        sources=tuple(sources),
        stack=stack,
        formula=formula,
    )
