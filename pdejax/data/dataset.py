"""What :func:`~pdejax.data.load_dataset` returns: arrays (in memory or read on demand),
coordinates and attributes of one split of a dataset file; and what the layout readers
(:mod:`pdejax.data.loader`, :mod:`pdejax.data.well`) find in a file before it is split."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .errors import DataError

Reader = Callable[[np.ndarray], np.ndarray]  # sorted unique row indices -> those rows


def h5_reader(ds: h5py.Dataset, path: Path) -> Reader:
    """A :data:`Reader` of the rows (first axis) of an HDF5 dataset; read errors become DataError."""
    def read(rows: np.ndarray) -> np.ndarray:
        try:
            if len(rows) and rows[-1] - rows[0] == len(rows) - 1:  # a contiguous block: one slice
                return ds[int(rows[0]):int(rows[-1]) + 1]
            return ds[rows] if len(rows) else np.zeros((0, *ds.shape[1:]), ds.dtype)
        except OSError as err:
            raise DataError(path, f"could not be read ({err}); a truncated or corrupted file?",
                            dataset=ds.name.lstrip("/")) from None

    return read


@dataclass
class ArraySource:
    """One array of a file as a layout reader found it: how to read rows, and its shape.

    ``view = (source, index)``: when the whole file is read into memory, this array is
    ``arrays[source][index]`` (a NumPy view, no second copy); ``read`` serves lazy reads.
    """

    read: Reader
    shape: tuple[int, ...]  # with the sample axis
    dtype: Any
    axes: tuple[str, ...]
    view: tuple[str, Any] | None = None


@dataclass
class FileContents:
    """What a layout reader found in a file: its arrays, coordinates, attributes and notes."""

    layout: str
    arrays: dict[str, ArraySource]
    coordinates: dict[str, np.ndarray]
    attrs: dict[str, Any]
    notes: list[str]
    chunks: tuple[int, int] | None = None  # (written, total) for pdejax files
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    boundaries: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return self.arrays["tensor"].shape[0]


class LazyArray:
    """Rows of an on-disk array, read when indexed; ``np.asarray(a)`` reads them all.

    Indexing is NumPy's; the first index selects samples of this split (ints, slices,
    integer arrays), the rest are applied to what was read.
    """

    def __init__(self, read: Reader, rows: np.ndarray, row_shape: tuple[int, ...], dtype: Any):
        self._read, self._rows = read, np.asarray(rows, np.int64)
        self.shape, self.dtype = (len(self._rows), *row_shape), np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, item: Any) -> np.ndarray:
        item = item if isinstance(item, tuple) else (item,)
        if not item or item[0] is Ellipsis:
            return self._read(self._rows)[item]
        rows = self._rows[item[0]]
        if np.ndim(rows) == 0:
            return self._read(np.array([rows]))[0][item[1:]]
        unique, inverse = np.unique(rows, return_inverse=True)
        return self._read(unique)[inverse][(slice(None), *item[1:])]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"LazyArray(shape={self.shape}, dtype={self.dtype})"


@dataclass(eq=False)
class Dataset:
    """Arrays, coordinates and attributes of one split of a dataset file.

    Attributes:
        path: the file.
        layout: ``"pdejax"``, ``"pdebench"``, ``"pdebench-groups"`` or ``"well"``.
        arrays: ``{"tensor": [N, T, X...], ...}`` — NumPy arrays, or :class:`LazyArray`
            when loaded with ``lazy=True`` (then close the dataset when done).
        coordinates: ``{"x-coordinate": (X,), "t-coordinate": (T,), ...}``; one time per
            frame, whatever the file stored.
        axes: per array, its axis names, ``("sample", "t", "x")``.
        attrs: the file's attributes as Python values.
        rows: the samples of the file in this split.
        fields: names of the entries of an array's ``field`` axis, where the file names
            them: ``{"tensor": ("density", "velocity_x", "velocity_y"), ...}``.
        boundaries: per spatial axis, the boundary types at its (lower, upper) ends where
            the file records them (The Well: ``"PERIODIC"``, ``"WALL"``, ``"OPEN"``);
            empty when it does not.
    """

    path: Path
    layout: str
    arrays: dict[str, np.ndarray | LazyArray]
    coordinates: dict[str, np.ndarray]
    axes: dict[str, tuple[str, ...]]
    attrs: dict[str, Any]
    rows: np.ndarray
    _file: h5py.File | None = field(default=None, repr=False)
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    boundaries: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def tensor(self) -> np.ndarray | LazyArray:
        """The solution ``[N, T, X...]`` (``[N, T, X..., F]`` with several fields)."""
        return self.arrays["tensor"]

    @property
    def spatial(self) -> tuple[str, ...]:
        """Spatial axis names in order, e.g. ``("x", "y")``."""
        return tuple(a for a in self.axes["tensor"][2:] if a != "field")

    @property
    def config(self) -> dict[str, Any] | None:
        """The resolved generation config of a pdejax file (``None`` for other files)."""
        raw = self.attrs.get("config")
        return json.loads(raw) if isinstance(raw, str) else None

    def __len__(self) -> int:
        return len(self.rows)

    def close(self) -> None:
        """Close the file of a lazily loaded dataset (nothing to do otherwise)."""
        if self._file is not None and self._file.id.valid:
            self._file.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
