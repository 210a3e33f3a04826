"""Operator-learning views of a dataset: (input, output) pairs and trajectories, channels first.

A dataset file stores ``tensor [N, T, X...(, F)]`` plus other arrays (Darcy's
coefficient ``nu [N, X, Y]``). Operators see one sample as channels-first fields
``(channels, *grid)``. :class:`OperatorViews` picks the time frames (and fields) of
named arrays as channels, subsamples space by a stride, splits the samples into a test
set (the first ``n_test``) and a training set (the next ``n_train``), and reads rows
either from memory or, for streamed datasets, from the open file as needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..config.errors import ConfigError
from .dataset import Dataset
from .errors import DataError
from .generators import FIELD_AXIS, TIME_AXIS

FrameSpec = Mapping[str, Sequence[int] | None]


@dataclass(eq=False)
class OperatorViews:
    """Train/test views of one dataset file for operator learning.

    Args:
        dataset: from :func:`~pdejax.data.load_dataset` (``split=None``; ``lazy=True`` streams).
        inputs, outputs: ``{array name: frames or None}``; each selected frame (times the
            array's fields) becomes a channel, in order.
        n_train, n_test: the first ``n_test`` samples are the test set, the next
            ``n_train`` the training set.
        stride: ``{spatial axis: k}`` subsampling of the stored grid.
        where: config prefix for error messages (``"data"``).

    Raises:
        ConfigError: unknown array or axis, a frame out of range, too few samples.
    """

    dataset: Dataset
    inputs: FrameSpec
    outputs: FrameSpec
    n_train: int
    n_test: int
    stride: Mapping[str, int]
    where: str = "data"

    def __post_init__(self):
        ds, where = self.dataset, self.where
        for key, spec in (("input", self.inputs), ("output", self.outputs)):
            for name, frames in spec.items():
                self._check_array(f"{where}.{key}.{name}", name, frames)
        spatial = ds.spatial
        for axis, k in self.stride.items():
            if axis not in spatial:
                raise ConfigError(f"{where}.stride.{axis}", k, f"a spatial axis of the file: {', '.join(spatial)}")
        if self.n_test + self.n_train > len(ds):
            raise ConfigError(f"{where}.n_train", self.n_train,
                              f"at most {len(ds) - self.n_test} (the file holds {len(ds)} samples, "
                              f"of which n_test = {self.n_test} are the test set)")
        self.test_rows = np.arange(self.n_test)
        self.train_rows = np.arange(self.n_test, self.n_test + self.n_train)
        self._memory: dict[tuple[str, int | None], np.ndarray] = {}
        self.check_finite()

    def check_finite(self, chunk_bytes: int = 64 * 2**20) -> None:
        """Refuse nan or inf in the samples used (test and training rows of every array
        read), reading ``chunk_bytes`` at a time so that large or streamed files stay cheap.

        Raises:
            DataError: naming the file, the array and the first bad sample.
        """
        rows = np.concatenate([self.test_rows, self.train_rows])
        for name in dict.fromkeys([*self.inputs, *self.outputs]):
            array = self.dataset.arrays[name]
            if not np.issubdtype(array.dtype, np.inexact):
                continue
            row_bytes = max(1, int(np.prod(array.shape[1:])) * array.dtype.itemsize)
            step = max(1, chunk_bytes // row_bytes)
            for start in range(0, len(rows), step):
                block = self._rows(name, rows[start:start + step])
                finite = np.isfinite(block).reshape(len(block), -1).all(axis=1)
                if not finite.all():
                    first = int(np.argmin(finite))
                    values = block[first][~np.isfinite(block[first])]
                    kinds = " and ".join(sorted({"nan" if np.isnan(v) else "inf" for v in values.ravel()}))
                    role = "test" if start + first < len(self.test_rows) else "training"
                    raise DataError(self.dataset.path, f"sample {int(rows[start + first])} (a {role} sample) "
                                    f"holds {values.size} non-finite values ({kinds})", dataset=name,
                                    valid="finite values in the samples used (regenerate the file, or choose "
                                    f"other samples with {self.where}.n_test / {self.where}.n_train)")

    def require_periodic(self, where: str) -> None:
        """Refuse a file that records a non-periodic boundary or a non-cartesian grid.

        Spectral derivatives (a PINO-style residual) assume a periodic cartesian grid;
        The Well's files say which of theirs is one. Files that record nothing (pdejax's,
        PDEBench's) are taken as the PDE section describes them.

        Raises:
            ConfigError: at ``where``, naming the file and its boundaries.
        """
        ds = self.dataset
        bad = {a: list(s) for a, s in ds.boundaries.items() if any(b != "PERIODIC" for b in s)}
        grid = ds.attrs.get("grid_type", "cartesian") if ds.layout == "well" else "cartesian"
        if bad or grid != "cartesian":
            found = f"boundaries (lower, upper) {bad}" if bad else f"grid_type {grid!r}"
            raise ConfigError(where, "> 0", f"data on a periodic cartesian grid for a spectral residual; "
                              f"{ds.path} records {found} (set {where} = 0 to train on it without physics)")

    # -- description ----------------------------------------------------------------
    @property
    def spatial(self) -> tuple[str, ...]:
        return self.dataset.spatial

    def strides(self, scale: int | None = None) -> tuple[int, ...]:
        """Per-axis strides: the configured ones, or ``scale`` on every axis."""
        return tuple(scale if scale is not None else self.stride.get(a, 1) for a in self.spatial)

    def coordinates(self, scale: int | None = None) -> tuple[np.ndarray, ...]:
        """Coordinates of the (subsampled) grid, one array per spatial axis."""
        return tuple(self.dataset.coordinates[f"{a}-coordinate"][::k]
                     for a, k in zip(self.spatial, self.strides(scale)))

    @property
    def times(self) -> np.ndarray | None:
        return self.dataset.coordinates.get("t-coordinate")

    def grid_shape(self, scale: int | None = None) -> tuple[int, ...]:
        return tuple(len(c) for c in self.coordinates(scale))

    def channels(self, spec: FrameSpec) -> int:
        return sum(len(frames) * self._fields(name) if frames is not None else self._frames_or_one(name)
                   * self._fields(name) for name, frames in spec.items())

    @property
    def in_channels(self) -> int:
        return self.channels(self.inputs)

    @property
    def out_channels(self) -> int:
        return self.channels(self.outputs)

    # -- reading ------------------------------------------------------------------------
    def read(self, spec: FrameSpec, rows: np.ndarray, scale: int | None = None) -> np.ndarray:
        """Channels ``(len(rows), channels, *grid)`` of samples ``rows`` (file order)."""
        parts = [self._channels_of(name, frames, rows, scale) for name, frames in spec.items()]
        return np.concatenate(parts, axis=1)

    def pairs(self, rows: np.ndarray, scale: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(inputs, outputs)`` of samples ``rows``, each ``(len(rows), channels, *grid)``."""
        return self.read(self.inputs, rows, scale), self.read(self.outputs, rows, scale)

    def trajectories(self, name: str, rows: np.ndarray, scale: int | None = None,
                     frames: slice = slice(None)) -> np.ndarray:
        """Frames of array ``name`` as ``(len(rows), T, fields, *grid)``."""
        axes = self.dataset.axes[name][1:]
        if TIME_AXIS not in axes:
            raise ConfigError(f"{self.where}.trajectory", name, "an array with a time axis (e.g. tensor)")
        raw = self._rows(name, rows)
        raw = raw[(slice(None), frames)]
        return self._to_channels_first(raw, axes, scale, keep_time=True)

    # -- internals ------------------------------------------------------------------------
    def _check_array(self, key: str, name: str, frames: Sequence[int] | None) -> None:
        ds = self.dataset
        if name not in ds.arrays:
            raise ConfigError(key, list(frames) if frames is not None else None,
                              f"an array of the file; it holds {', '.join(sorted(ds.arrays))}")
        axes = ds.axes[name]
        if frames is None:
            return
        if TIME_AXIS not in axes:
            raise ConfigError(key, list(frames), f"null: {name!r} has no time axis (axes {axes[1:]})")
        n_t = ds.arrays[name].shape[axes.index(TIME_AXIS)]
        bad = [f for f in frames if not -n_t <= f < n_t]
        if bad or not frames:
            raise ConfigError(key, list(frames), f"a non-empty list of frame indices in [-{n_t}, {n_t})")

    def _fields(self, name: str) -> int:
        axes = self.dataset.axes[name]
        return self.dataset.arrays[name].shape[axes.index(FIELD_AXIS)] if FIELD_AXIS in axes else 1

    def _frames_or_one(self, name: str) -> int:
        axes = self.dataset.axes[name]
        return self.dataset.arrays[name].shape[axes.index(TIME_AXIS)] if TIME_AXIS in axes else 1

    def _rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.dataset.arrays[name][np.asarray(rows)])

    def _channels_of(self, name: str, frames: Sequence[int] | None, rows: np.ndarray,
                     scale: int | None) -> np.ndarray:
        axes = self.dataset.axes[name][1:]
        raw = self._rows(name, rows)
        if frames is not None:
            raw = np.take(raw, list(frames), axis=1 + axes.index(TIME_AXIS))
        out = self._to_channels_first(raw, axes, scale, keep_time=TIME_AXIS in axes)
        if TIME_AXIS in axes:  # (n, T, F, *grid) -> (n, T*F, *grid)
            out = out.reshape(out.shape[0], -1, *out.shape[3:])
        return out

    def _to_channels_first(self, raw: np.ndarray, axes: tuple[str, ...], scale: int | None,
                           keep_time: bool) -> np.ndarray:
        """``raw`` with per-sample ``axes`` → ``(n, [T,] F, *grid)``, strided in space."""
        strides = dict(zip(self.spatial, self.strides(scale)))
        raw = raw[(slice(None), *(slice(None, None, strides.get(a, 1)) for a in axes))]
        if FIELD_AXIS not in axes:
            raw, axes = raw[..., None], (*axes, FIELD_AXIS)
        order = [axes.index(a) for a in ((TIME_AXIS,) if keep_time else ()) + (FIELD_AXIS,) + self.spatial]
        return np.ascontiguousarray(np.transpose(raw, (0, *(1 + i for i in order))))
