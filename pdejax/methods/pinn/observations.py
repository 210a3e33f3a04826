"""Measurements for a PINN's ``data`` term: read from a file or generated with noise.

Generated observations come from the PDE's exact solution at uniform random points, or,
for a PDE without one, from the spectral solver at random grid points and saved times;
either way the ``pde`` section's parameter values are the truth. Everything is a
function of the seed (NumPy's ``default_rng``: the points first, then the noise), so a
resumed or reloaded run fits the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import jax
import jax.numpy as jnp
import numpy as np

from ...config.errors import ConfigError
from ...data.errors import DataError
from ...pde import PDE, Periodic, grid_for, initial_condition, spectral_solve

FILE_SUFFIXES = (".npz", ".h5", ".hdf5")
MAX_SOLVER_STEPS = 100_000  # generated observations: a solve of seconds to minutes, not hours
MAX_SOLVER_NODES = 2**22


@dataclass
class Observations:
    """Measured values of some fields at points.

    Attributes:
        points: ``(n, dim + 1)`` float64 points ``[x..., t]``.
        values: ``(n, len(fields))`` float64 measured (noisy) values.
        fields: the measured fields, in the order of the columns of ``values``.
        clean: the values before noise was added (generated observations), else ``None``.
        origin: ``"file"``, ``"exact"`` or ``"spectral"``.
        reference: for ``"spectral"``: ``(points, values, shape)``, the solver's solution on
            a tensor grid of its nodes and saved times (``'ij'`` order, every field), an
            evaluation reference for a PDE without an exact solution.
    """

    points: np.ndarray
    values: np.ndarray
    fields: tuple[str, ...]
    clean: np.ndarray | None = None
    origin: str = "file"
    reference: tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None = None


def add_noise(values: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``values + noise · std(values) · N(0, 1)``, the standard deviation taken per field (column)."""
    if noise == 0:
        return values.copy()
    return values + noise * values.std(axis=0) * rng.standard_normal(values.shape)


def generate_observations(pde: PDE, n: int, *, noise: float = 0.0, seed: int = 0,
                          fields: tuple[str, ...] | None = None, resolution: int = 256,
                          dt: float = 1e-3) -> Observations:
    """``n`` noisy observations of ``pde``'s solution (with its own ``params`` as the truth).

    With an exact solution: at uniform random points of the domain. Otherwise, for a
    periodic evolution PDE, from :func:`~pdejax.pde.spectral_solve` (float64, ``resolution``
    points per axis, step ``dt``, which must divide the time interval) at random grid nodes
    and saved times (128 frames or more).

    Raises:
        ConfigError: naming the argument at fault: ``fields`` that are not the PDE's (or
            not evolving, for the solver), ``n`` for a PDE with neither an exact solution
            nor periodic boundaries, a ``dt`` that does not divide the time interval into
            at most ``MAX_SOLVER_STEPS`` steps, a ``resolution`` of more than
            ``MAX_SOLVER_NODES`` nodes.
    """
    rng = np.random.default_rng(seed)
    if pde.exact is not None:
        fields = _check_fields(fields, pde.fields, pde.fields, pde.name)
        lo, hi = np.asarray(pde.domain.point_lower), np.asarray(pde.domain.point_upper)
        points = rng.uniform(lo, hi, (n, lo.size))
        clean = np.asarray(pde.exact(points, pde.params), np.float64)[:, [pde.fields.index(f) for f in fields]]
        return Observations(points, add_noise(clean, noise, rng), fields, clean, "exact")
    if not isinstance(pde.boundary, Periodic) or not pde.evolution:
        raise ConfigError("n", n, f"observations from a file (path): PDE {pde.name!r} has no exact solution and "
                          "is not a periodic evolution problem, for which the spectral solver generates data")
    fields = _check_fields(fields, pde.evolving, pde.fields, pde.name)
    x, t, trajectory = _solve(pde, resolution, dt)
    frames, nodes = trajectory.shape[0], int(np.prod(trajectory.shape[2:]))
    pick = rng.choice(frames * nodes, size=n, replace=n > frames * nodes)
    frame, node = np.divmod(pick, nodes)
    space = np.stack([c.reshape(-1)[node] for c in x], axis=-1)
    points = np.concatenate([space, t[frame][:, None]], axis=1)
    flat = trajectory.reshape(frames, len(pde.evolving), nodes)
    clean = np.stack([flat[frame, pde.evolving.index(f), node] for f in fields], axis=-1)
    reference = _reference(pde, x, t, trajectory) if len(pde.evolving) == len(pde.fields) else None
    return Observations(points, add_noise(clean, noise, rng), fields, clean, "spectral", reference)


def _check_fields(fields, allowed: tuple[str, ...], all_fields: tuple[str, ...], name: str) -> tuple[str, ...]:
    if fields is None:
        return tuple(allowed)
    wrong = [f for f in fields if f not in allowed]
    if wrong or not fields or len(set(fields)) != len(fields):
        what = "evolving fields (the solver's state)" if allowed != all_fields else "fields"
        raise ConfigError("fields", list(fields), f"distinct {what} of {name!r}: {list(allowed)}")
    return tuple(fields)


def _solve(pde: PDE, resolution: int, dt: float) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """``(node coordinates per axis, saved times, trajectory (frames, evolving, *sizes))`` in float64."""
    t0, t1 = pde.domain.time
    steps = (t1 - t0) / dt
    n_steps = round(steps) if steps < MAX_SOLVER_STEPS + 1 else 0
    if not 1 <= n_steps <= MAX_SOLVER_STEPS or abs(n_steps * dt - (t1 - t0)) > 1e-9 * (t1 - t0):
        raise ConfigError("dt", dt, f"a step dividing the time interval {t1 - t0} of {pde.name!r} into at most "
                          f"{MAX_SOLVER_STEPS} steps")
    if resolution ** pde.domain.dim > MAX_SOLVER_NODES:
        raise ConfigError("resolution", resolution, f"at most {MAX_SOLVER_NODES} grid nodes "
                          f"(resolution^{pde.domain.dim} for {pde.name!r})")
    save_every = next(s for s in range(max(1, n_steps // 128), 0, -1) if n_steps % s == 0)
    with jax.enable_x64(True):
        grid = grid_for(pde, resolution)
        u0 = initial_condition(pde, grid, jnp.float64)
        trajectory = np.asarray(spectral_solve(pde, grid, u0, dt, n_steps, save_every))
        x = [np.asarray(c) for c in grid.mesh(jnp.float64)]
    return x, t0 + dt * save_every * np.arange(trajectory.shape[0]), trajectory


def _reference(pde: PDE, x: list[np.ndarray], t: np.ndarray, trajectory: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """The solver's solution on at most 256 nodes per axis and every saved time, ``'ij'`` order."""
    stride = [max(1, s // 256) for s in trajectory.shape[2:]]
    index = tuple(slice(None, None, s) for s in stride)
    sub = trajectory[(slice(None), slice(None), *index)]  # (frames, fields, *sizes)
    axes = [c[index][tuple(0 if j != i else slice(None) for j in range(len(x)))] for i, c in enumerate(x)]
    mesh = np.meshgrid(*axes, t, indexing="ij")
    points = np.stack([m.ravel() for m in mesh], axis=-1)
    values = np.moveaxis(sub, 0, -1).reshape(sub.shape[1], -1).T  # (fields, *sizes, frames) → rows
    return points, values, mesh[0].shape


def load_observations(path: str | Path, pde: PDE, fields: tuple[str, ...] | None = None,
                      *, noise: float = 0.0, seed: int = 0) -> Observations:
    """Observations from ``path`` (``.npz`` or HDF5 with arrays ``points`` ``(n, dim + 1)``
    and ``values`` ``(n, len(fields))``, or ``(n,)`` for one field), checked where they
    enter: shapes, finite numbers, points inside the PDE's domain. ``noise`` > 0 adds
    relative noise (see :func:`add_noise`).

    Raises:
        DataError: naming the file, the array and what is valid.
    """
    path = Path(path)
    fields = tuple(pde.fields) if fields is None else tuple(fields)
    if path.suffix.lower() not in FILE_SUFFIXES:
        raise DataError(path, f"unsupported file type {path.suffix!r}", valid=f"one of {', '.join(FILE_SUFFIXES)}")
    if not path.is_file():
        raise DataError(path, "no such file", valid="a .npz or HDF5 file of points and values")
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: np.asarray(f[k]) for k in ("points", "values") if k in f.files}
        else:
            with h5py.File(path, "r") as f:
                arrays = {k: np.asarray(f[k]) for k in ("points", "values") if k in f}
    except (OSError, ValueError) as err:
        raise DataError(path, f"cannot be read ({' '.join(str(err).split())[:200]})",
                        valid="a .npz or HDF5 file of points and values") from None
    d = len(pde.domain.point_names)
    for name, columns in (("points", d), ("values", len(fields))):
        if name not in arrays:
            raise DataError(path, f"no array {name!r}", dataset=name,
                            valid=f"arrays points (n, {d}) and values (n, {len(fields)})")
        a = arrays[name]
        if name == "values" and a.ndim == 1 and columns == 1:
            a = arrays[name] = a[:, None]
        if a.ndim != 2 or a.shape[1] != columns or a.shape[0] == 0 or not np.issubdtype(a.dtype, np.number):
            what = f"[{', '.join(pde.domain.point_names)}]" if name == "points" else f"fields {list(fields)}"
            raise DataError(path, f"{name} has shape {a.shape} and dtype {a.dtype}", dataset=name,
                            valid=f"a numeric array (n, {columns}), one column per entry of {what}")
        if not np.all(np.isfinite(a)):
            row = int(np.argmax(~np.all(np.isfinite(a), axis=1)))
            raise DataError(path, f"row {row} of {name} is not finite: {a[row].tolist()}", dataset=name,
                            valid="finite numbers")
    points, values = (np.asarray(arrays[k], np.float64) for k in ("points", "values"))
    if points.shape[0] != values.shape[0]:
        raise DataError(path, f"{points.shape[0]} points but {values.shape[0]} values", dataset="values",
                        valid="one row of values per point")
    lo, hi = np.asarray(pde.domain.point_lower), np.asarray(pde.domain.point_upper)
    slack = 1e-6 * (hi - lo)
    outside = ~np.all((points >= lo - slack) & (points <= hi + slack), axis=1)
    if outside.any():
        row = int(np.argmax(outside))
        raise DataError(path, f"point {row}, {points[row].tolist()}, lies outside the domain of {pde.name!r}",
                        dataset="points", valid=f"points in {list(zip(lo.tolist(), hi.tolist()))} "
                        f"(columns {list(pde.domain.point_names)})")
    rng = np.random.default_rng(seed)
    return Observations(points, add_noise(values, noise, rng), fields, values if noise else None, "file")


def observations_from_config(cfg, pde: PDE) -> Observations:
    """The ``objective.observations`` section (validated) → :class:`Observations`;
    ConfigError (or DataError) naming the key or file at fault."""
    fields = tuple(cfg.fields) if cfg.fields is not None else None
    if fields is not None:
        wrong = [f for f in fields if f not in pde.fields]
        if wrong or not fields or len(set(fields)) != len(fields):
            raise ConfigError("objective.observations.fields", cfg.fields,
                              f"distinct fields of {pde.name!r}: {list(pde.fields)}")
    if cfg.path is not None:
        return load_observations(cfg.path, pde, fields, noise=cfg.noise, seed=cfg.seed)
    try:
        return generate_observations(pde, cfg.n, noise=cfg.noise, seed=cfg.seed, fields=fields,
                                     resolution=cfg.resolution, dt=cfg.dt)
    except ConfigError as err:
        raise ConfigError(f"objective.observations.{err.key}", err.value, err.valid) from None
