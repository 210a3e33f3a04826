"""Reading datasets: pdejax files, PDEBench's and The Well's HDF5 layouts, validated where they enter.

Accepted layouts:

- ``pdejax``: written by ``pdejax data generate`` (see :mod:`pdejax.data.hdf5`);
- ``pdebench``: one file with ``tensor`` ``[N, T, X...]``, ``x-coordinate`` (and
  ``y-``, ``z-``), optionally ``t-coordinate`` of length ``T`` or ``T + 1`` (PDEBench's
  1D files store one more time than frames; the first ``T`` are kept) and other
  per-sample arrays such as Darcy's coefficient ``nu`` ``[N, X, Y]``;
- ``pdebench-groups``: one group per sample (``"0000"``, ...), each with ``data``
  ``[T, X..., F]`` and ``grid/x``, ``grid/y``, ``grid/t`` (PDEBench 2D
  diffusion–reaction); read as ``tensor`` ``[N, T, X..., F]``;
- ``well``: The Well's files (``t0_fields``, ``t1_fields``, ``t2_fields``, ``dimensions``,
  ...): every time-varying field in ``tensor`` ``[N, T, X..., F]`` (vector and tensor
  components as channels ``velocity_x``, ...), and each field as an array of its own
  name; see :mod:`pdejax.data.well`.

Splits follow PDEBench: the first ``test_fraction`` of the samples are the test set for
single-file layouts (The Well's included: its train/valid/test splits are separate
files, so a file taken whole is ``split=None``), the last ``test_fraction`` for
one-group-per-sample files.

Example (a PDEBench-style file such as ``1D_Advection_Sols_beta0.1.hdf5``, in miniature):
    >>> import tempfile, pathlib, h5py, numpy as np
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmp.name) / "advection.hdf5"
    >>> with h5py.File(path, "w") as f:
    ...     f["tensor"] = np.zeros((10, 5, 16), np.float32)  # [N, T, X]
    ...     f["x-coordinate"] = np.linspace(0, 1, 16)
    ...     f["t-coordinate"] = np.linspace(0, 2, 6)  # T + 1 times, as PDEBench's 1D files
    >>> data = load_dataset(path, split="train", lazy=True)
    >>> data.layout, data.tensor.shape  # the test set is the first 10%
    ('pdebench', (9, 5, 16))
    >>> data.tensor[:4].shape  # read from disk now
    (4, 5, 16)
    >>> data.coordinates["x-coordinate"].shape, data.coordinates["t-coordinate"].shape
    ((16,), (5,))
    >>> data.close(); tmp.cleanup()
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from ..config.errors import ConfigError
from .dataset import ArraySource as _Array
from .dataset import Dataset, LazyArray, h5_reader
from .dataset import FileContents as _Contents
from .errors import DataError
from .hdf5 import COMPLETED, FORMAT, from_attr
from .well import inspect_well, is_well

SPATIAL = ("x", "y", "z")
WHAT_IS_VALID = "an HDF5 file written by `pdejax data generate`, in a PDEBench layout or in The Well's"


def load_dataset(path: str | Path, *, split: Literal["train", "test"] | None = None, test_fraction: float = 0.1,
                 lazy: bool = False) -> Dataset:
    """Open, validate and read a dataset file (see the module docstring for layouts).

    Args:
        path: the HDF5 file.
        split: ``None`` for every sample, or ``"train"`` / ``"test"`` (PDEBench's
            convention: the test set is the first ``test_fraction`` of a single-file set,
            the last of a one-group-per-sample set).
        test_fraction: share of the samples in the test set.
        lazy: keep the file open and read rows when indexed (large files); otherwise
            read the split into memory and close the file.

    Raises:
        DataError: a missing, truncated or non-HDF5 file; a missing ``tensor``; a rank
            or coordinate length that does not fit; an unfinished pdejax file (with how
            to resume it).
    """
    if split not in (None, "train", "test"):
        raise ConfigError("split", split, "None, 'train' or 'test'")
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError("test_fraction", test_fraction, "a fraction in [0, 1)")
    path = Path(path)
    f = open_hdf5(path)
    try:
        contents = _inspect(f, path)
        if contents.chunks is not None and contents.chunks[0] < contents.chunks[1]:
            raise _incomplete(path, contents)
        rows = _split_rows(contents, split, test_fraction)
        arrays = {n: LazyArray(a.read, rows, a.shape[1:], a.dtype) for n, a in contents.arrays.items()}
        if not lazy:
            arrays = _read_all(contents, arrays)
    except BaseException:
        f.close()
        raise
    if not lazy:
        f.close()
    return Dataset(path, contents.layout, arrays, contents.coordinates,
                   {n: a.axes for n, a in contents.arrays.items()}, contents.attrs, rows, f if lazy else None,
                   fields=contents.fields, boundaries=contents.boundaries)


def _read_all(contents: _Contents, arrays: dict[str, LazyArray]) -> dict[str, np.ndarray]:
    """Every array in memory; an array that is a view of another is read once, as that view."""
    out = {n: a[:] for n, a in arrays.items() if contents.arrays[n].view is None}
    for name, a in contents.arrays.items():
        if a.view is not None:
            source, index = a.view
            out[name] = out[source][index]
    return {n: out[n] for n in arrays}


def describe_file(path: str | Path) -> dict[str, Any]:
    """Layout, shapes, coordinates, attributes and completeness of a file, as JSON-able data.

    Unlike :func:`load_dataset`, an unfinished pdejax file is described, not refused,
    also while ``pdejax data generate`` is writing it (its metadata does not change
    while chunks are written, so reading without HDF5's file lock is safe).
    """
    path = Path(path)
    with open_hdf5(path, locking=False) as f:
        c = _inspect(f, path)
    attrs = dict(c.attrs)
    if isinstance(attrs.get("config"), str):
        attrs["config"] = json.loads(attrs["config"])
    out: dict[str, Any] = {"path": str(path), "layout": c.layout, "n_samples": c.n_samples}
    if c.chunks is not None:
        out |= {"complete": c.chunks[0] == c.chunks[1] and bool(attrs.get("complete")),
                "chunks_written": c.chunks[0], "n_chunks": c.chunks[1]}
    out["arrays"] = {n: {"shape": list(a.shape), "dtype": str(np.dtype(a.dtype)), "axes": list(a.axes)}
                     for n, a in c.arrays.items()}
    out["coordinates"] = {n: {"size": int(v.size), "min": float(v.min()), "max": float(v.max())} if v.size else
                          {"size": 0} for n, v in c.coordinates.items()}
    if c.fields:
        out["fields"] = {n: list(v) for n, v in c.fields.items()}
    if c.boundaries:
        out["boundaries"] = {n: list(v) for n, v in c.boundaries.items()}
    out["attrs"] = attrs
    if c.notes:
        out["notes"] = c.notes
    return out


def open_hdf5(path: Path, *, locking: bool = True) -> h5py.File:
    """``h5py.File(path, "r")`` with the reasons it can fail put in words (DataError)."""
    if not path.exists():
        raise DataError(path, "does not exist", valid=WHAT_IS_VALID)
    if path.is_dir():
        raise DataError(path, "is a directory", valid=WHAT_IS_VALID)
    if not h5py.is_hdf5(path):
        raise DataError(path, f"is not an HDF5 file (no HDF5 signature in its {path.stat().st_size} bytes)",
                        valid=WHAT_IS_VALID)
    try:
        return h5py.File(path, "r", locking=locking)
    except OSError as err:
        msg = str(err)
        m = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", msg)
        if m:
            raise DataError(path, f"is truncated: {m[1]} bytes on disk of the {m[2]} its header records "
                            "(an interrupted download or copy?)", valid=WHAT_IS_VALID) from None
        if "lock" in msg:
            raise DataError(path, "is locked by another process; is `pdejax data generate` still writing it? "
                            "(`pdejax data info` shows its progress)", valid="a file no process is writing") from None
        raise DataError(path, f"cannot be opened as HDF5 ({msg}); a corrupted file?", valid=WHAT_IS_VALID) from None


def _inspect(f: h5py.File, path: Path) -> _Contents:
    attrs = {k: from_attr(v) for k, v in f.attrs.items()}
    if attrs.get("format") == FORMAT:
        return _inspect_pdejax(f, path, attrs)
    if "tensor" in f:
        return _inspect_pdebench(f, path, attrs)
    if is_well(f):
        return inspect_well(f, path, attrs)
    groups = sorted(k for k in f if isinstance(f[k], h5py.Group))
    if groups and len(groups) == len(f) and "data" in f[groups[0]]:
        return _inspect_groups(f, path, attrs, groups)
    raise DataError(path, f"is missing (the file holds: {_listing(f)})", dataset="tensor",
                    valid="'tensor' [N, T, X...] with 'x-coordinate' etc., one group per sample with 'data', "
                    "or The Well's groups 't0_fields', 't1_fields', 't2_fields' and 'dimensions'")


def _inspect_pdejax(f: h5py.File, path: Path, attrs: dict[str, Any]) -> _Contents:
    names = attrs.get("arrays") or ["tensor"]
    arrays = {}
    for name in names:
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise DataError(path, f"is missing (the file's 'arrays' attribute lists {names}; it holds: "
                            f"{_listing(f)})", dataset=name)
        ds = f[name]
        axes = tuple(str(from_attr(ds.attrs.get("axes", ""))).split())
        if len(axes) != ds.ndim:
            raise DataError(path, f"has rank {ds.ndim} (shape {ds.shape}) but its axes attribute names "
                            f"{len(axes)} axes {axes}", dataset=name, valid="one axis name per dimension")
        arrays[name] = _Array(h5_reader(ds, path), ds.shape, ds.dtype, axes)
    contents = _Contents("pdejax", arrays, {}, attrs, [])
    names = attrs.get("fields")
    if "field" in arrays["tensor"].axes and isinstance(names, list) and len(names) == arrays["tensor"].shape[-1]:
        contents.fields["tensor"] = tuple(map(str, names))
    _check_samples(path, contents)
    contents.coordinates = _coordinates(f, path, contents, contents.notes)
    if COMPLETED in f:
        mask = f[COMPLETED][()]
        contents.chunks = (int(mask.sum()), int(mask.size))
    return contents


def _inspect_pdebench(f: h5py.File, path: Path, attrs: dict[str, Any]) -> _Contents:
    tensor = f["tensor"]
    spatial = [a for a in SPATIAL if f"{a}-coordinate" in f]
    if not spatial:
        raise DataError(path, f"has no spatial coordinates (it holds: {_listing(f)})", dataset="x-coordinate",
                        valid="'x-coordinate' (and 'y-coordinate', 'z-coordinate' in 2D/3D)")
    if tensor.ndim != 2 + len(spatial):
        coords = ", ".join(f"{a}-coordinate" for a in spatial)
        dims = ", ".join(a.upper() for a in spatial)
        raise DataError(path, f"has rank {tensor.ndim} (shape {tensor.shape}) but the file has {len(spatial)} "
                        f"spatial coordinate(s) ({coords})", dataset="tensor",
                        valid=f"rank {2 + len(spatial)}: [N, T, {dims}]")
    sizes = dict(zip(spatial, tensor.shape[2:]))
    arrays = {"tensor": _Array(h5_reader(tensor, path), tensor.shape, tensor.dtype, ("sample", "t", *spatial))}
    for name, ds in f.items():
        if name == "tensor" or name.endswith("-coordinate") or not isinstance(ds, h5py.Dataset) or ds.ndim == 0:
            continue
        rest = tuple(ds.shape[1:])
        axes = tuple(spatial) if rest == tuple(sizes.values()) else tuple(f"axis{i}" for i in range(1, ds.ndim))
        arrays[name] = _Array(h5_reader(ds, path), ds.shape, ds.dtype, ("sample", *axes))
    contents = _Contents("pdebench", arrays, {}, attrs, [])
    _check_samples(path, contents)
    contents.coordinates = _coordinates(f, path, contents, contents.notes)
    return contents


def _inspect_groups(f: h5py.File, path: Path, attrs: dict[str, Any], groups: list[str]) -> _Contents:
    first = f[groups[0]]
    grid = first.get("grid")
    spatial = [a for a in SPATIAL if grid is not None and a in grid]
    if not spatial:
        raise DataError(path, f"group {groups[0]!r} has no 'grid/x'", dataset=f"{groups[0]}/grid/x",
                        valid="one group per sample with 'data' [T, X..., F] and 'grid/x', 'grid/t'")
    shape = first["data"].shape
    for g in groups:
        if "data" not in f[g] or f[g]["data"].shape != shape:
            have = f[g]["data"].shape if "data" in f[g] else "no 'data'"
            raise DataError(path, f"group {g!r} holds {have}, group {groups[0]!r} {shape}", dataset=f"{g}/data",
                            valid="the same 'data' shape in every group")
    if len(shape) != 2 + len(spatial):
        dims = ", ".join(a.upper() for a in spatial)
        raise DataError(path, f"has rank {len(shape)} (shape {shape}) with {len(spatial)} spatial grid axes",
                        dataset=f"{groups[0]}/data", valid=f"rank {2 + len(spatial)}: [T, {dims}, F]")

    def read(rows: np.ndarray) -> np.ndarray:
        try:
            return np.stack([f[groups[r]]["data"][()] for r in rows]) if len(rows) else np.zeros((0, *shape))
        except OSError as err:
            raise DataError(path, f"could not be read ({err}); a truncated or corrupted file?",
                            dataset="data") from None

    arrays = {"tensor": _Array(read, (len(groups), *shape), first["data"].dtype, ("sample", "t", *spatial, "field"))}
    contents = _Contents("pdebench-groups", arrays, {}, attrs, [])
    coords = {f"{a}-coordinate": grid[a] for a in (*spatial, "t") if a in grid}
    contents.coordinates = _coordinates(coords, path, contents, contents.notes, prefix=f"{groups[0]}/grid/")
    return contents


def _check_samples(path: Path, contents: _Contents) -> None:
    n = contents.n_samples
    for name, a in contents.arrays.items():
        if a.shape[0] != n:
            raise DataError(path, f"has {a.shape[0]} samples (shape {a.shape}) but 'tensor' has {n}", dataset=name,
                            valid=f"{n} along the first axis")


def _coordinates(source: Any, path: Path, contents: _Contents, notes: list[str], prefix: str = ""
                 ) -> dict[str, np.ndarray]:
    sizes: dict[str, tuple[int, str]] = {}
    for name, a in contents.arrays.items():
        for axis, n in zip(a.axes[1:], a.shape[1:]):
            if axis not in ("field",) and not axis.startswith("axis"):
                sizes.setdefault(axis, (n, name))
    out = {}
    for axis, (n, array) in sizes.items():
        name = f"{axis}-coordinate"
        if name not in source:
            if axis == "t":
                continue  # a steady problem (Darcy) stores no times
            raise DataError(path, f"has no {prefix}{name} for axis {axis!r} of {array!r}", dataset=prefix + name,
                            valid=f"a ({n},) coordinate array")
        values = np.asarray(source[name][()])
        if axis == "t" and values.shape == (n + 1,):
            notes.append(f"t-coordinate has {n + 1} entries for {n} frames (PDEBench layout); the first {n} are used")
            values = values[:n]
        if values.shape != (n,):
            extra = f" or ({n + 1},)" if axis == "t" else ""
            raise DataError(path, f"has shape {values.shape} but axis {axis!r} of {array!r} has {n} entries",
                            dataset=prefix + name, valid=f"shape ({n},){extra}")
        out[name] = values
    return out


def _split_rows(contents: _Contents, split: str | None, test_fraction: float) -> np.ndarray:
    n = contents.n_samples
    n_test = int(n * test_fraction)
    rows = np.arange(n)
    if split is None:
        return rows
    test_first = contents.layout != "pdebench-groups"  # The Well's files: as PDEBench's single files
    test = rows[:n_test] if test_first else rows[n - n_test:]
    train = rows[n_test:] if test_first else rows[:n - n_test]
    return test if split == "test" else train


def _incomplete(path: Path, c: _Contents) -> DataError:
    done, total = c.chunks
    chunk = int(c.attrs.get("chunk_size", 0))
    command = c.attrs.get("command") or f"pdejax data generate CONFIG --out {path} (with the config that made it)"
    return DataError(path, f"is an unfinished pdejax dataset: {done} of {total} chunks written "
                     f"(about {min(done * chunk, c.n_samples)} of {c.n_samples} samples)",
                     valid=f"a finished file; rerun `{command}` and it resumes where it stopped")


def _listing(f: h5py.File) -> str:
    items = []
    f.visititems(lambda name, obj: items.append(f"{name} {obj.shape}") if isinstance(obj, h5py.Dataset) else None)
    return ", ".join(items[:20]) + (f", ... ({len(items)} in all)" if len(items) > 20 else "") if items else "nothing"
