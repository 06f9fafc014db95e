"""The study store: one Zarr (format 2) directory per study.

Created up front with every variable's metadata (data arrays left unwritten, so they read
as their fill value), then filled task by task: each task writes its own chunk of every
variable, then its entry of the completion mask ``task_done``. Chunk files are written to a
temporary name and renamed, so a killed worker leaves either the old chunk or the new one,
never half of one; and the mask is set only after the data, so an interrupted task reads as
not done and ``--resume`` recomputes it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import StoreError
from .config import StudyConfig
from .grid import Grid
from .layout import BLOCK_DIM, StoreLayout
from .provenance import provenance_attrs

__all__ = [
    "ChunkWriter",
    "check_store",
    "chunk_writer",
    "completion_mask",
    "create_store",
    "export_netcdf",
    "open_study",
    "prepare_store",
    "store_config_hash",
]

ZARR_FORMAT = 2


def _template(config: StudyConfig, grid: Grid, layout: StoreLayout) -> xr.Dataset:
    import dask.array as da

    from .sweep import shape_parameter_specs

    specs = {**shape_parameter_specs(), **_generator_specs(config.kind)}
    coords: dict[str, tuple] = {}
    for dim, (axis, values) in zip(layout.sweep_dims, grid.axes.items(), strict=True):
        doc = getattr(specs.get(axis), "doc", "") or axis
        units = getattr(specs.get(axis), "units", "1")
        attrs = {"long_name": doc, "units": units, "generator_parameter": axis}
        coords[dim] = ((dim,), np.asarray(values), attrs)
    used = {dim for var in layout.variables.values() for dim in var.dims}
    coords["replicate"] = (
        ("replicate",),
        np.arange(layout.sizes["replicate"]),
        {"long_name": "replicate index", "units": "1"},
    )
    coords[BLOCK_DIM] = (
        (BLOCK_DIM,),
        np.arange(layout.sizes[BLOCK_DIM]) * layout.task_size,
        {"long_name": "first replicate of the task's block", "units": "1"},
    )
    if "chart" in used:
        coords["chart"] = (
            ("chart",),
            np.asarray(config.estimate.charts),
            {"long_name": "power-law chart (THEORY.md D5)"},
        )
    if "interface" in used:
        coords["interface"] = (
            ("interface",),
            np.arange(1, layout.sizes["interface"] + 1),
            {"long_name": "interface l (J_l = A_l J_{l-1})", "units": "1"},
        )
    if "rank" in used:
        coords["rank"] = (
            ("rank",),
            np.arange(1, layout.sizes["rank"] + 1),
            {"long_name": "rank k", "units": "1"},
        )
    data = {}
    for name, var in layout.variables.items():
        shape, chunks = layout.shape(name), layout.chunks(name)
        if name == "status":
            # written eagerly: a fill value would make xarray mask the codes into floats
            values = np.full(shape, var.fill, dtype=var.dtype)
        else:
            values = da.full(shape, var.fill, dtype=var.dtype, chunks=chunks)
        data[name] = (var.dims, values, var.attrs)
    attrs = provenance_attrs(config)
    attrs["sweep_axes"] = json.dumps(dict(zip(layout.sweep_dims, grid.axes, strict=True)))
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _generator_specs(kind: str) -> dict:
    from .. import simulate

    return dict(simulate.generator_parameters(kind))


def _encoding(layout: StoreLayout) -> dict:
    encoding = {}
    for name, var in layout.variables.items():
        encoding[name] = {"chunks": layout.chunks(name)}
        if np.dtype(var.dtype).kind == "f":
            encoding[name]["_FillValue"] = np.nan
    return encoding


def create_store(path: str | Path, config: StudyConfig, grid: Grid, layout: StoreLayout) -> Path:
    """Write the empty store of ``config`` at ``path`` (which must not exist), atomically.

    The store is assembled under a temporary name beside ``path`` and renamed, so a failure
    leaves nothing at ``path``.
    """
    path = Path(path)
    tmp = _temporary_sibling(path)
    try:
        _template(config, grid, layout).to_zarr(
            tmp,
            mode="w-",
            compute=False,
            encoding=_encoding(layout),
            zarr_format=ZARR_FORMAT,
            consolidated=True,
        )
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _temporary_sibling(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")


def store_config_hash(path: str | Path) -> str | None:
    """The config hash recorded in a store, or None if ``path`` is no specalign store."""
    import zarr

    try:
        group = zarr.open_group(Path(path), mode="r", zarr_format=ZARR_FORMAT)
        value = group.attrs.get("config_sha256")
    except Exception:
        return None
    return value if isinstance(value, str) else None


def prepare_store(
    path: str | Path,
    config: StudyConfig,
    grid: Grid,
    layout: StoreLayout,
    *,
    resume: bool = False,
    force: bool = False,
) -> np.ndarray:
    """Create the store, or reopen it for ``resume``; return the completion mask.

    Rules (docs/studies.md): a new path is created. An existing store is reused with
    ``resume=True`` when it was made by the same config (same hash of the normalized
    science config); without ``resume`` an existing store is refused, as is a store of a
    different config, unless ``force=True``, which replaces it by a fresh one. A path that
    is not a specalign store is always refused.

    Returns
    -------
    numpy.ndarray of bool, shape (*sweep, n_blocks)
        True for the tasks already complete.

    Raises
    ------
    StoreError
        The store exists and neither ``resume`` (same config) nor ``force`` allows using it.
    """
    path = Path(path)
    action = check_store(path, config, resume=resume, force=force)
    if action == "resume":
        for leftover in path.glob("*/.*.tmp"):  # chunk files of writers killed mid-write
            leftover.unlink(missing_ok=True)
        return completion_mask(path)
    if action == "replace":
        tmp = _temporary_sibling(path)
        create_store(tmp, config, grid, layout)
        _remove(path)
        os.replace(tmp, path)
    else:
        create_store(path, config, grid, layout)
    return np.zeros(layout.shape("task_done"), dtype=bool)


def check_store(path: str | Path, config: StudyConfig, *, resume: bool, force: bool) -> str:
    """What :func:`prepare_store` will do: ``"create"``, ``"resume"`` or ``"replace"``.

    Raises the same :class:`StoreError` as :func:`prepare_store`, without writing anything.
    """
    path = Path(path)
    if not path.exists():
        return "create"
    found = store_config_hash(path)
    same = found == config.config_hash()
    if resume and same:
        return "resume"
    if found is None or not force:  # never delete what specalign did not write
        raise StoreError(_refusal(path, found, same))
    return "replace"


def _refusal(path: Path, found: str | None, same: bool) -> str:
    if found is None:
        return (
            f"{str(path)!r} exists and is not a specalign study store; choose another "
            "--output (specalign does not delete what it did not write, even with --force)"
        )
    if not same:
        return (
            f"the store {str(path)!r} was made by a different config (config_sha256 "
            f"{found[:12]}…); pass --force to replace it, or choose another --output"
        )
    done = completion_mask(path)
    return (
        f"the store {str(path)!r} already exists ({int(done.sum())} of {done.size} tasks "
        "done); pass --resume to compute the missing tasks, or --force to start over"
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def completion_mask(path: str | Path) -> np.ndarray:
    """The ``task_done`` mask of a store, shape ``(*sweep, n_blocks)``."""
    import zarr

    try:
        return np.asarray(zarr.open_array(Path(path) / "task_done", mode="r")[...], dtype=bool)
    except Exception as exc:
        raise StoreError(f"cannot read the completion mask of {str(path)!r}: {exc}") from exc


def open_study(path: str | Path, *, load: bool = False) -> xr.Dataset:
    """Open a study store as an :class:`xarray.Dataset` (lazy unless ``load``).

    Raises
    ------
    StoreError
        ``path`` does not exist or is not a specalign study store.
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"no study store at {str(path)!r}; run `specalign run CONFIG` first")
    if store_config_hash(path) is None:
        raise StoreError(f"{str(path)!r} is not a specalign study store (no config_sha256)")
    ds = xr.open_zarr(path, consolidated=True, zarr_format=ZARR_FORMAT)
    return ds.load() if load else ds


def export_netcdf(
    store: str | Path | xr.Dataset, path: str | Path, *, engine: str | None = None
) -> Path:
    """Write a study (store path or opened dataset) to a NetCDF file, atomically.

    Parameters
    ----------
    engine : {"netcdf4", "h5netcdf", "scipy"}, optional
        Default: the first installed of netCDF4 and h5netcdf (with h5py), which write
        NetCDF-4; else scipy, which writes NetCDF-3 (64-bit offset).

    Notes
    -----
    Boolean variables become int8 with a ``dtype: bool`` attribute (xarray's encoding), and
    are decoded back to bool by :func:`xarray.open_dataset`.
    """
    ds = open_study(store) if not isinstance(store, xr.Dataset) else store
    engine = engine or _netcdf_engine()
    path = Path(path)
    tmp = _temporary_sibling(path)
    try:
        if engine == "scipy":
            ds = _netcdf3_ready(ds)
        ds.to_netcdf(tmp, engine=engine)
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    return path


def _netcdf_engine() -> str:
    for engine, modules in (("netcdf4", ("netCDF4",)), ("h5netcdf", ("h5netcdf", "h5py"))):
        try:
            for module in modules:
                __import__(module)
        except ImportError:
            continue
        return engine
    return "scipy"


def _netcdf3_ready(ds: xr.Dataset) -> xr.Dataset:
    """NetCDF-3 has no int64: store the (small) integer coordinates as int32."""
    ds = ds.copy()
    for name, variable in ds.variables.items():
        if variable.dtype == np.int64:
            ds[name] = variable.astype(np.int32)
        for key, value in list(variable.attrs.items()):
            if isinstance(value, np.ndarray) and value.dtype == np.int64:
                ds[name].attrs[key] = value.astype(np.int32)
    return ds


class ChunkWriter:
    """Writes whole chunks of a format-2 Zarr store, each one atomically.

    Bypasses zarr's array API, which costs about a millisecond per call; a task writes one
    chunk of each of a few dozen variables, so this keeps the per-task overhead small. A
    chunk file of format 2 is the compressor's encoding of the C-ordered chunk bytes.
    """

    def __init__(self, path: str | Path):
        import zarr

        self.path = Path(path)
        self._root = str(self.path)
        self._writer_id = os.getpid()
        group = zarr.open_group(self.path, mode="r", zarr_format=ZARR_FORMAT)
        self._meta = {}
        for name, array in group.arrays():
            meta = array.metadata
            if meta.filters or meta.order != "C":
                raise StoreError(f"unsupported chunk encoding of {name!r} in {str(path)!r}")
            self._meta[name] = (
                tuple(meta.chunks),
                meta.dtype.to_native_dtype(),
                meta.compressor,
                meta.dimension_separator,
            )

    def _target(self, name: str, coords: tuple[int, ...]) -> str:
        separator = self._meta[name][3]
        key = separator.join(map(str, coords)) if coords else "0"
        return os.path.join(self._root, name, key)  # plain strings: pathlib costs here

    def read(self, name: str, coords: tuple[int, ...]) -> np.ndarray | None:
        """The chunk ``coords`` of ``name`` as an array, or None if it was never written."""
        chunks, dtype, compressor, _ = self._meta[name]
        try:
            with open(self._target(name, coords), "rb") as handle:
                payload = handle.read()
        except FileNotFoundError:
            return None
        raw = payload if compressor is None else compressor.decode(payload)
        return np.frombuffer(raw, dtype=dtype).reshape(chunks)

    def write(self, name: str, coords: tuple[int, ...], values: np.ndarray, fill) -> None:
        """Write ``values`` at the origin of chunk ``coords`` of ``name``; pad with ``fill``."""
        chunks, dtype, compressor, separator = self._meta[name]
        values = np.asarray(values)
        if values.shape == chunks:
            chunk = np.ascontiguousarray(values, dtype=dtype)
        else:
            chunk = np.full(chunks, fill, dtype=dtype)
            chunk[tuple(slice(0, n) for n in values.shape)] = values
        payload = chunk.tobytes() if compressor is None else compressor.encode(chunk)
        target = self._target(name, coords)
        if separator == "/":  # nested keys: the chunk's folder may be new
            os.makedirs(os.path.dirname(target), exist_ok=True)
        head, tail = os.path.split(target)
        tmp = os.path.join(head, f".{tail}.{self._writer_id}.{threading.get_ident()}.tmp")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(payload)
            while view:  # a regular file takes it all at once, but POSIX allows less
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)
        os.replace(tmp, target)


_WRITERS: dict[tuple[str, str], ChunkWriter] = {}


def chunk_writer(path: str | Path, config_hash: str) -> ChunkWriter:
    """A per-process cached :class:`ChunkWriter` (reads the store metadata once)."""
    key = (str(Path(path).resolve()), config_hash)
    writer = _WRITERS.get(key)
    if writer is None:
        writer = _WRITERS[key] = ChunkWriter(path)
    return writer
