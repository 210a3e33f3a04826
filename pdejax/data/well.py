"""The Well's HDF5 layout (PolymathicAI's ``the_well``, NeurIPS 2024), read as pdejax arrays.

The layout, as the_well's reader (``the_well/data/datasets.py``), its format checker
(``scripts/check_thewell_formatting.py``) and ``docs/data_format.md`` define it:

- root attributes ``dataset_name``, ``grid_type`` (``"cartesian"``, ``"spherical"``),
  ``n_spatial_dims``, ``n_trajectories``, ``simulation_parameters`` (and one attribute
  per parameter);
- ``dimensions`` (attribute ``spatial_dims``, e.g. ``["x", "y"]``): ``time`` ``(T,)``
  (``(N, T)`` when ``sample_varying``) and one ``(n,)`` coordinate per spatial axis;
- ``boundary_conditions/<name>``: attributes ``bc_type`` (``WALL``, ``OPEN``,
  ``PERIODIC``) and ``associated_dims``, a boolean ``mask`` over those axes that marks
  where the condition holds;
- ``scalars`` (attribute ``field_names``): parameters, ``[N][, T]`` by their
  ``sample_varying`` / ``time_varying`` attributes;
- ``t0_fields``, ``t1_fields``, ``t2_fields`` (attribute ``field_names``): scalar, vector
  and tensor fields ``[N, T, X, Y(, Z)](, D)(, D)`` in float32; a field that is not
  ``sample_varying`` / ``time_varying`` lacks that axis, and a spatial axis whose
  ``dim_varying`` entry is false is absent too.

How pdejax presents a file (``layout == "well"``):

- ``tensor`` ``[N, T, X..., F]``: every time-varying field, scalar fields first, then
  vectors, then tensors (the_well's channel order), components flattened into channels
  named as the_well names them (``velocity_x``, ``velocity_y``; ``stress_xy``); the names
  are ``Dataset.fields["tensor"]``. It is what ``data.trajectory: tensor`` trains on;
- each field as an array of its own name: ``[N, T, X...]`` (scalars) or
  ``[N, T, X..., F]`` (vector and tensor components); fields constant in time as
  ``[N, X...(, F)]`` (usable as ``data.input: {name: null}``). Fields constant over
  trajectories or along an axis are repeated over it, as the_well does; loaded into
  memory, the per-field arrays are views of ``tensor``, not copies;
- coordinates ``x-coordinate`` ... from ``dimensions``, ``t-coordinate`` from
  ``dimensions/time`` (per-trajectory times that differ give no ``t-coordinate``: a note
  says so);
- ``Dataset.boundaries``: per axis, the (lower, upper) types, found as the_well's reader
  finds them (a side is ``OPEN`` unless a condition's mask covers it);
  ``attrs["scalars"]``: the ``scalars`` group's values.

The Well's train/valid/test splits are separate files (``datasets/NAME/data/train/*.hdf5``);
a pdejax config names one file and takes its test set from that file's first samples.

Example (a file in The Well's layout, in miniature: a scalar and a vector field in 2D):
    >>> import tempfile, pathlib, h5py, numpy as np
    >>> from pdejax.data import load_dataset
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmp.name) / "toy.hdf5"
    >>> flags = {"sample_varying": True, "time_varying": True, "dim_varying": [True, True]}
    >>> with h5py.File(path, "w") as f:
    ...     f.attrs.update(dataset_name="toy", grid_type="cartesian", n_spatial_dims=2, n_trajectories=4)
    ...     dims = f.create_group("dimensions")
    ...     dims.attrs["spatial_dims"] = ["x", "y"]
    ...     dims["time"], dims["x"], dims["y"] = np.linspace(0, 1, 5), np.linspace(0, 1, 8), np.linspace(0, 1, 6)
    ...     for order, name, components in ((0, "density", ()), (1, "velocity", (2,))):
    ...         group = f.create_group(f"t{order}_fields")
    ...         group.attrs["field_names"] = [name]
    ...         group[name] = np.zeros((4, 5, 8, 6, *components), np.float32)  # [N, T, X, Y(, D)]
    ...         group[name].attrs.update(flags)
    >>> data = load_dataset(path)
    >>> data.layout, data.tensor.shape, data.fields["tensor"]
    ('well', (4, 5, 8, 6, 3), ('density', 'velocity_x', 'velocity_y'))
    >>> data.arrays["velocity"].shape, data.boundaries["x"]  # no boundary_conditions group: open
    ((4, 5, 8, 6, 2), ('OPEN', 'OPEN'))
    >>> tmp.cleanup()
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .dataset import ArraySource, FileContents, Reader, h5_reader
from .errors import DataError
from .hdf5 import from_attr

FIELD_GROUPS = ("t0_fields", "t1_fields", "t2_fields")
BOUNDARY_TYPES = ("WALL", "OPEN", "PERIODIC")
RESERVED_AXES = ("sample", "t", "field")
VALID = "The Well's layout (the_well's docs/data_format.md)"
MAX_SCALAR_VALUES = 1024  # larger scalar datasets are described, not copied into attrs


def is_well(f: h5py.File) -> bool:
    """Whether ``f`` looks like one of The Well's files (any of its field groups, or ``dimensions``)."""
    return any(isinstance(f.get(g), h5py.Group) for g in (*FIELD_GROUPS, "dimensions"))


@dataclass
class _Field:
    name: str
    group: str
    order: int
    ds: h5py.Dataset
    sample_varying: bool
    time_varying: bool
    dim_varying: tuple[bool, ...]
    channels: tuple[str, ...]


def inspect_well(f: h5py.File, path: Path, attrs: dict[str, Any]) -> FileContents:
    """Validate one of The Well's files and describe it as pdejax arrays (see the module docstring).

    Raises:
        DataError: a missing group, dataset or attribute; a field whose shape does not fit
            its attributes and the file's dimensions; spatial coordinates that vary; no
            time-varying field; two fields of one name.
    """
    notes: list[str] = []
    dims = _group(f, "dimensions", path)
    spatial = _spatial_dims(dims, attrs, path)
    coordinates = {f"{a}-coordinate": _coordinate(dims, a, path) for a in spatial}
    sizes = {a: coordinates[f"{a}-coordinate"].size for a in spatial}
    time = _dataset(dims, "time", path)
    if time.ndim not in (1, 2):
        raise DataError(path, f"has shape {time.shape}", dataset="dimensions/time", valid="shape (T,) or (N, T)")
    n_t = time.shape[-1]
    if not any(g in f for g in FIELD_GROUPS):
        raise DataError(path, "has no field groups", dataset="t0_fields", valid=f"{VALID}: t0_fields, t1_fields, "
                        "t2_fields, each with a 'field_names' attribute")
    fields = [_field(f, g, order, name, path, spatial)
              for order, g in enumerate(FIELD_GROUPS) if g in f for name in _names(f[g], g, path)]
    n = _n_trajectories(attrs, fields, path)
    for fd in fields:
        _check_shape(fd, n, n_t, sizes, spatial, path, notes)
    varying = [fd for fd in fields if fd.time_varying]
    if not varying:
        listed = ", ".join(f"{fd.group}/{fd.name}" for fd in fields) or "none"
        raise DataError(path, f"has no time-varying field (fields: {listed})", dataset="t0_fields",
                        valid="at least one field with time_varying = True (pdejax trains on trajectories)")
    grid = tuple(sizes[a] for a in spatial)
    arrays, field_names = _arrays(varying, fields, n, n_t, grid, spatial, path)
    for fd in fields:
        if not fd.sample_varying:
            notes.append(f"{fd.group}/{fd.name} does not vary between trajectories: every sample holds the same values")
        if not all(fd.dim_varying):
            constant = [a for a, v in zip(spatial, fd.dim_varying) if not v]
            notes.append(f"{fd.group}/{fd.name} is constant along {', '.join(constant)}: repeated over that axis")
    times = _times(time, n, n_t, path, notes)
    if times is not None:
        coordinates["t-coordinate"] = times
    if attrs.get("grid_type", "cartesian") != "cartesian":
        notes.append(f"grid_type is {attrs['grid_type']!r}: the coordinates are {', '.join(spatial)}, not a "
                     "cartesian grid")
    attrs = dict(attrs)
    if "scalars" in f:
        attrs["scalars"] = _scalars(f["scalars"], path)
    boundaries = _boundaries(f, spatial, path, notes)
    return FileContents("well", arrays, coordinates, attrs, notes, fields=field_names, boundaries=boundaries)


# -- structure --------------------------------------------------------------------------
def _group(f: h5py.Group, name: str, path: Path) -> h5py.Group:
    if not isinstance(f.get(name), h5py.Group):
        held = ", ".join(sorted(f)) or "nothing"
        raise DataError(path, f"has no group {name!r} (the file holds: {held})", dataset=name,
                        valid=f"{VALID}: a {name!r} group")
    return f[name]


def _dataset(group: h5py.Group, name: str, path: Path) -> h5py.Dataset:
    where = f"{group.name.lstrip('/')}/{name}"
    if not isinstance(group.get(name), h5py.Dataset):
        held = ", ".join(sorted(group)) or "nothing"
        raise DataError(path, f"is missing (its group holds: {held})", dataset=where, valid=f"{VALID}")
    return group[name]


def _flag(ds: h5py.Dataset | h5py.Group, name: str, path: Path, default: bool | None = None) -> bool:
    if name not in ds.attrs:
        if default is not None:
            return default
        raise DataError(path, f"has no {name!r} attribute", dataset=ds.name.lstrip("/"),
                        valid=f"{VALID}: attributes sample_varying, time_varying (and dim_varying on fields)")
    return bool(from_attr(ds.attrs[name]))


def _strings(value: Any) -> list[str]:
    value = from_attr(value)
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _names(group: h5py.Group, name: str, path: Path) -> list[str]:
    if "field_names" not in group.attrs:
        raise DataError(path, f"has no 'field_names' attribute (it holds {', '.join(sorted(group)) or 'nothing'})",
                        dataset=name, valid=f"{VALID}: 'field_names' listing the group's fields")
    return _strings(group.attrs["field_names"])


def _spatial_dims(dims: h5py.Group, attrs: dict[str, Any], path: Path) -> list[str]:
    if "spatial_dims" not in dims.attrs:
        raise DataError(path, "has no 'spatial_dims' attribute", dataset="dimensions",
                        valid="the names of the spatial coordinates, e.g. ['x', 'y']")
    spatial = _strings(dims.attrs["spatial_dims"])
    declared = attrs.get("n_spatial_dims", len(spatial))
    if declared != len(spatial) or not spatial:
        raise DataError(path, f"names {len(spatial)} spatial axes {spatial} but the file's n_spatial_dims is "
                        f"{declared}", dataset="dimensions", valid="one name per spatial dimension")
    bad = [a for a in spatial if a in RESERVED_AXES or a == "time"]
    if bad or len(set(spatial)) != len(spatial):
        raise DataError(path, f"has spatial axes {spatial}", dataset="dimensions",
                        valid=f"distinct names other than {', '.join(RESERVED_AXES)} and time")
    return spatial


def _coordinate(dims: h5py.Group, axis: str, path: Path) -> np.ndarray:
    ds = _dataset(dims, axis, path)
    if _flag(ds, "sample_varying", path, False) or _flag(ds, "time_varying", path, False) or ds.ndim != 1:
        raise DataError(path, f"has shape {ds.shape} and varies between trajectories or in time", dataset=ds.name[1:],
                        valid="a fixed grid: one (n,) coordinate per spatial axis (as the_well's own export)")
    return np.asarray(ds[()])


def _field(f: h5py.File, group: str, order: int, name: str, path: Path, spatial: list[str]) -> _Field:
    ds = _dataset(f[group], name, path)
    dim_varying = tuple(bool(v) for v in np.atleast_1d(from_attr(ds.attrs["dim_varying"]))) \
        if "dim_varying" in ds.attrs else None
    if dim_varying is None or len(dim_varying) != len(spatial):
        raise DataError(path, f"has dim_varying = {dim_varying} for spatial axes {spatial}",
                        dataset=f"{group}/{name}", valid=f"a dim_varying attribute: one boolean per axis of {spatial}")
    components = ["".join(c) for c in itertools.product(spatial, repeat=order)]
    channels = tuple(f"{name}_{c}" if c else name for c in components)
    return _Field(name, group, order, ds, _flag(ds, "sample_varying", path), _flag(ds, "time_varying", path),
                  dim_varying, channels)


def _n_trajectories(attrs: dict[str, Any], fields: list[_Field], path: Path) -> int:
    if "n_trajectories" in attrs:
        return int(attrs["n_trajectories"])
    first = next((fd for fd in fields if fd.sample_varying), None)
    if first is None:
        raise DataError(path, "has no n_trajectories attribute and no field that varies between trajectories",
                        valid=f"{VALID}: a root attribute n_trajectories")
    return int(first.ds.shape[0]) if first.ds.ndim else 0


def _check_shape(fd: _Field, n: int, n_t: int, sizes: dict[str, int], spatial: list[str], path: Path,
                 notes: list[str]) -> None:
    d = len(spatial)
    lead = ((n,) if fd.sample_varying else ()) + ((n_t,) if fd.time_varying else ())
    grid = tuple(sizes[a] for a, v in zip(spatial, fd.dim_varying) if v)
    shape = tuple(fd.ds.shape)
    if fd.order == 2 and shape == (*lead, *grid, d * d):
        notes.append(f"{fd.group}/{fd.name} stores its {d}x{d} components flattened")
        return
    expected = (*lead, *grid, *(d,) * fd.order)
    if shape != expected:
        described = (f"sample_varying={fd.sample_varying}, time_varying={fd.time_varying}, "
                     f"dim_varying={list(fd.dim_varying)}")
        raise DataError(path, f"has shape {shape}, but its attributes ({described}) with {n} trajectories, {n_t} "
                        f"times and the grid {dict(sizes)} give {expected}", dataset=f"{fd.group}/{fd.name}",
                        valid=f"shape {expected}")


def _times(time: h5py.Dataset, n: int, n_t: int, path: Path, notes: list[str]) -> np.ndarray | None:
    values = np.asarray(time[()])
    if _flag(time, "sample_varying", path, False) or values.ndim == 2:
        if values.shape != (n, n_t):
            raise DataError(path, f"has shape {values.shape} but is sample_varying", dataset="dimensions/time",
                            valid=f"shape ({n}, {n_t}): one time per frame of each trajectory")
        if n and np.all(values == values[:1]):
            return values[0]
        notes.append("dimensions/time differs between trajectories: no t-coordinate (rollout times count frames)")
        return None
    return values


# -- reading ------------------------------------------------------------------------------
def _block_reader(fd: _Field, n_t: int, grid: tuple[int, ...], path: Path) -> Reader:
    """Rows of a field as ``[rows, (T,) *grid, components]``, missing axes repeated."""
    read_rows = h5_reader(fd.ds, path) if fd.sample_varying else None
    n_comp = len(fd.channels)
    present = sum(fd.dim_varying)
    lead = (n_t,) if fd.time_varying else ()

    def read(rows: np.ndarray) -> np.ndarray:
        if fd.sample_varying:
            block = read_rows(rows)
        else:
            try:
                block = np.broadcast_to(fd.ds[()], (len(rows), *fd.ds.shape))
            except OSError as err:
                raise DataError(path, f"could not be read ({err}); a truncated or corrupted file?",
                                dataset=fd.ds.name.lstrip("/")) from None
        block = block.reshape(*block.shape[:1 + len(lead) + present], n_comp)
        for i, varies in enumerate(fd.dim_varying):
            if not varies:
                block = np.expand_dims(block, 1 + len(lead) + i)
        shape = (len(rows), *lead, *grid, n_comp)
        return block if block.shape == shape else np.ascontiguousarray(np.broadcast_to(block, shape))

    return read


def _arrays(varying: list[_Field], fields: list[_Field], n: int, n_t: int, grid: tuple[int, ...],
            spatial: list[str], path: Path) -> tuple[dict[str, ArraySource], dict[str, tuple[str, ...]]]:
    readers = {fd.name: _block_reader(fd, n_t, grid, path) for fd in fields}
    dtype = np.result_type(*(fd.ds.dtype for fd in varying))
    channels = tuple(c for fd in varying for c in fd.channels)

    def read_tensor(rows: np.ndarray) -> np.ndarray:
        return np.concatenate([readers[fd.name](rows).astype(dtype, copy=False) for fd in varying], axis=-1)

    arrays = {"tensor": ArraySource(read_tensor, (n, n_t, *grid, len(channels)), dtype,
                                    ("sample", "t", *spatial, "field"))}
    names = {"tensor": channels}
    start = 0
    for fd in fields:
        if fd.name in arrays:
            other = "pdejax's array of all fields" if fd.name == "tensor" else "another field"
            raise DataError(path, f"has a field named {fd.name!r}, as {other} is named",
                            dataset=f"{fd.group}/{fd.name}",
                            valid="distinct field names other than 'tensor' (pdejax names arrays by field)")
        lead = ("t",) if fd.time_varying else ()
        read, c = readers[fd.name], len(fd.channels)
        scalar = fd.order == 0
        view = None
        if fd.time_varying:
            if fd.ds.dtype == dtype:
                view = ("tensor", (Ellipsis, start) if scalar else (Ellipsis, slice(start, start + c)))
            start += c
        arrays[fd.name] = ArraySource(_squeeze(read) if scalar else read,
                                      (n, *((n_t,) if fd.time_varying else ()), *grid, *(() if scalar else (c,))),
                                      fd.ds.dtype, ("sample", *lead, *spatial, *(() if scalar else ("field",))), view)
        if not scalar:
            names[fd.name] = fd.channels
    return arrays, names


def _squeeze(read: Reader) -> Reader:
    return lambda rows: read(rows)[..., 0]


# -- metadata ------------------------------------------------------------------------------
def _scalars(group: h5py.Group, path: Path) -> dict[str, Any]:
    names = _names(group, "scalars", path) if "field_names" in group.attrs else sorted(group)
    out = {}
    for name in names:
        ds = _dataset(group, name, path)
        out[name] = from_attr(ds[()]) if ds.size <= MAX_SCALAR_VALUES else \
            f"{ds.dtype}{list(ds.shape)} (read scalars/{name} from the file)"
    return out


def _boundaries(f: h5py.File, spatial: list[str], path: Path, notes: list[str]) -> dict[str, tuple[str, str]]:
    """(lower, upper) boundary type per axis, found as the_well's ``_padding_bcs`` finds them."""
    sides = {a: ["OPEN", "OPEN"] for a in spatial}
    if "boundary_conditions" not in f:
        notes.append("no boundary_conditions group: every boundary counts as OPEN (as in the_well's reader)")
        return {a: tuple(s) for a, s in sides.items()}
    for name, bc in f["boundary_conditions"].items():
        where = f"boundary_conditions/{name}"
        kind = str(from_attr(bc.attrs.get("bc_type", ""))).upper()
        dims = _strings(bc.attrs["associated_dims"]) if "associated_dims" in bc.attrs else []
        if kind not in BOUNDARY_TYPES or not dims or any(a not in spatial for a in dims) or "mask" not in bc:
            raise DataError(path, f"has bc_type {kind or None!r}, associated_dims {dims} and "
                            f"{'a' if 'mask' in bc else 'no'} mask", dataset=where,
                            valid=f"bc_type one of {', '.join(BOUNDARY_TYPES)}, associated_dims among {spatial} "
                            "and a boolean mask over them")
        mask = np.asarray(bc["mask"][()], bool)
        if mask.ndim != len(dims):
            raise DataError(path, f"has a mask of shape {mask.shape} for axes {dims}", dataset=f"{where}/mask",
                            valid=f"one mask axis per associated dimension ({len(dims)})")
        agg = np.min if kind == "WALL" else np.max  # a wall must cover the whole side; open/periodic any of it
        for i, axis in enumerate(dims):
            for side, end in ((0, 0), (1, -1)):
                index = tuple(end if j == i else slice(None) for j in range(len(dims)))
                if mask.size and agg(mask[index]):
                    sides[axis][side] = kind
    return {a: tuple(s) for a, s in sides.items()}
