"""Writing pdejax dataset files: PDEBench's HDF5 layout, filled chunk by chunk, resumable.

A file holds, for ``N`` samples:

- ``tensor`` ``[N, T, X...]`` (``[N, T, X..., F]`` for several fields) and any other
  per-sample arrays of the generator (``nu`` ``[N, X, Y]`` for Darcy), each with an
  ``axes`` attribute such as ``"sample t x"``;
- ``x-coordinate`` ``(X,)`` (and ``y-``, ``z-``) and ``t-coordinate`` ``(T,)`` — one
  time per frame (PDEBench's files have ``T + 1``; the loader accepts both);
- ``completed``: ``uint8 (n_chunks,)``, 1 where a chunk of samples is written;
- attributes: ``format = "pdejax-dataset"``, ``complete``, ``config`` (the resolved
  config as JSON), ``seed``, ``n_samples``, ``chunk_size``, ``generator``, ``dtype``,
  versions, and the generator's own (``pde``, its parameters, ``solver``, ``dt``...).

Crash safety. The skeleton (every dataset at full size, coordinates, attributes) is
written to ``FILE.creating`` and renamed to ``FILE`` only once complete, so ``FILE``
either does not exist or is a valid skeleton. The arrays are contiguous with their
space allocated up front, so writing a chunk changes no HDF5 metadata at all: a
chunk's rows are written and flushed, then its ``completed`` entry is set and
flushed. A kill at any moment leaves every finished chunk intact; rerunning the same
config resumes with the chunks whose entry is 0. ``compression: gzip`` rewrites the
finished file into ``FILE.compressing`` and renames it over ``FILE``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .config import DataConfig, config_json, identity
from .errors import DataError

FORMAT = "pdejax-dataset"
FORMAT_VERSION = 1
COMPLETED = "completed"
RESERVED_ATTRS = frozenset({
    "format", "format_version", "complete", "config", "name", "seed", "n_samples", "chunk_size", "n_chunks",
    "dtype", "generator", "store_stride", "arrays", "command", "pdejax_version", "jax_version"})


@dataclass(frozen=True)
class StoredArray:
    """One array as stored: per-sample ``shape``, storage ``dtype``, axis names."""

    shape: tuple[int, ...]
    dtype: np.dtype
    axes: tuple[str, ...]


def to_attr(value: Any) -> Any:
    """A Python value as an HDF5 attribute (strings as UTF-8, lists as arrays, dicts as JSON)."""
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            return np.array(value, dtype=h5py.string_dtype())
        return np.asarray(value)
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    return value


def from_attr(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value (bytes decoded, arrays as lists)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [from_attr(v) for v in value.tolist()] if value.ndim else from_attr(value.item())
    if isinstance(value, np.generic):
        return value.item()
    return value


class DatasetWriter:
    """A pdejax dataset file open for filling; see the module docstring.

    Use :func:`open_writer` to create or resume one.
    """

    def __init__(self, path: Path, config: DataConfig):
        self.path, self.config = path, config
        self.file = h5py.File(path, "r+")

    def pending(self) -> list[int]:
        """Indices of the chunks still to write."""
        return [int(i) for i in np.flatnonzero(self.file[COMPLETED][()] == 0)]

    def write_chunk(self, index: int, arrays: Mapping[str, np.ndarray]) -> None:
        """Write chunk ``index`` (``arrays`` hold exactly its rows), then mark it done."""
        rows = self.config.chunk(index)
        for name, value in arrays.items():
            self.file[name][rows.start:rows.stop] = value
        self.file.flush()  # the rows are on disk before the mask says so
        self.file[COMPLETED][index] = 1
        self.file.flush()

    def finish(self) -> None:
        """Mark the file complete (every chunk must be written) and compress if asked."""
        if self.pending():
            raise RuntimeError(f"{self.path}: chunks {self.pending()} are not written yet")
        if from_attr(self.file.attrs["complete"]):  # finished by an earlier run
            self.close()
        elif self.config.compression == "none":
            self.file.attrs["complete"] = np.bool_(True)
            self.close()
        else:
            self.close()
            _rewrite_compressed(self.path, self.config)

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_writer(path: str | Path, config: DataConfig, arrays: Mapping[str, StoredArray],
                coordinates: Mapping[str, np.ndarray], attributes: Mapping[str, Any], *,
                overwrite: bool = False, command: str | None = None) -> DatasetWriter:
    """Create ``path`` (or resume it when it was made by the same config) for filling.

    Raises:
        DataError: ``path`` exists but is not a pdejax dataset, was made by a different
            config, or holds arrays of other shapes (unless ``overwrite``).
    """
    path = Path(path)
    clash = RESERVED_ATTRS & set(attributes)
    if clash:
        raise ValueError(f"generator attributes {sorted(clash)} clash with the file's own attributes")
    if path.is_dir():
        raise DataError(path, "is a directory", valid="a file path for --out")
    if path.exists() and overwrite:
        path.unlink()
    if path.exists():
        _check_resumable(path, config, arrays)
    else:
        if not path.parent.is_dir():
            raise DataError(path, f"the directory {str(path.parent)!r} does not exist", valid="an existing directory")
        _create(path, config, arrays, coordinates, attributes, command)
    return DatasetWriter(path, config)


def _create(path: Path, config: DataConfig, arrays: Mapping[str, StoredArray],
            coordinates: Mapping[str, np.ndarray], attributes: Mapping[str, Any], command: str | None) -> None:
    from importlib import metadata

    import jax

    try:
        version = metadata.version("pdejax")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        version = "unknown"
    tmp = path.with_name(path.name + ".creating")
    _check_room(path, sum(config.n_samples * int(np.prod(spec.shape)) * np.dtype(spec.dtype).itemsize
                          for spec in arrays.values()))
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # all space now: writing rows changes no metadata
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)  # the completed mask, not a fill value, says what is valid
    with h5py.File(tmp, "w") as f:
        for name, spec in arrays.items():
            ds = f.create_dataset(name, shape=(config.n_samples, *spec.shape), dtype=spec.dtype, dcpl=dcpl)
            ds.attrs["axes"] = " ".join(("sample", *spec.axes))
        for name, values in coordinates.items():
            f.create_dataset(name, data=np.asarray(values))
        f.create_dataset(COMPLETED, data=np.zeros(config.n_chunks, np.uint8))
        own = {"format": FORMAT, "format_version": FORMAT_VERSION, "complete": False,
               "config": config_json(config), "name": config.name, "seed": config.seed,
               "n_samples": config.n_samples, "chunk_size": config.chunk_size, "n_chunks": config.n_chunks,
               "dtype": config.dtype, "generator": config.generator.name, "store_stride": config.store_stride,
               "arrays": list(arrays), "pdejax_version": version, "jax_version": jax.__version__}
        if command:
            own["command"] = command
        for key, value in {**attributes, **own}.items():
            f.attrs[key] = to_attr(value)
    os.replace(tmp, path)


def _check_room(path: Path, size: int) -> None:
    """Refuse a file of ``size`` bytes that the disk or the process's file-size limit
    cannot hold: HDF5 allocates it all at creation, and fails badly (an error in every
    object's finaliser, then a crash at exit) when a write comes up short."""
    import errno
    import resource
    import shutil

    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0] if hasattr(resource, "RLIMIT_FSIZE") else -1
    margin = 2**20  # metadata, attributes, coordinates
    if limit != resource.RLIM_INFINITY and limit >= 0 and size + margin > limit:
        raise OSError(errno.EFBIG, f"{os.strerror(errno.EFBIG)}: the dataset needs {size + margin} bytes, "
                      f"the file-size limit (ulimit -f) is {limit}", str(path))
    free = shutil.disk_usage(path.parent).free
    if size + margin > free:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: the dataset needs {size + margin} bytes, "
                      f"{free} are free", str(path))


def _check_resumable(path: Path, config: DataConfig, arrays: Mapping[str, StoredArray]) -> None:
    advice = "choose another --out, delete the file, or pass --overwrite"
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise DataError(path, f"exists and is not a readable HDF5 file ({err})", valid=advice) from None
    with f:
        if from_attr(f.attrs.get("format")) != FORMAT or COMPLETED not in f or "config" not in f.attrs:
            raise DataError(path, "exists and was not written by `pdejax data generate`", valid=advice)
        stored = DataConfig.model_validate(json.loads(from_attr(f.attrs["config"])))
        old, new = identity(stored), identity(config)
        diff = [f"{k}: {old.get(k, '(unset)')!r} in the file, {new.get(k, '(unset)')!r} now"
                for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        if diff:
            raise DataError(path, "exists and was made by a different config (" + "; ".join(diff) + ")",
                            valid="the same config to resume it; otherwise " + advice)
        for name, spec in arrays.items():
            want = (config.n_samples, *spec.shape), np.dtype(spec.dtype)
            have = (f[name].shape, f[name].dtype) if name in f else None
            if have != want:
                raise DataError(path, f"holds {have} for this config, the generator now makes {want} "
                                "(a changed generator?)", dataset=name, valid=advice)


def _rewrite_compressed(path: Path, config: DataConfig) -> None:
    """Copy the finished file into gzip-compressed datasets chunked along samples, atomically."""
    tmp = path.with_name(path.name + ".compressing")
    with h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
        names = from_attr(src.attrs["arrays"])
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        dst.attrs["complete"] = np.bool_(True)
        for name, ds in src.items():
            if name not in names:
                dst.create_dataset(name, data=ds[()])
                continue
            sample_bytes = max(1, int(np.prod(ds.shape[1:])) * ds.dtype.itemsize)
            rows = max(1, min(ds.shape[0], 2**20 // sample_bytes))  # ~1 MiB chunks, whole samples
            out = dst.create_dataset(name, shape=ds.shape, dtype=ds.dtype, chunks=(rows, *ds.shape[1:]),
                                     compression="gzip", shuffle=True)
            for key, value in ds.attrs.items():
                out.attrs[key] = value
            for start in range(0, ds.shape[0], config.chunk_size):
                out[start:start + config.chunk_size] = ds[start:start + config.chunk_size]
    os.replace(tmp, path)
