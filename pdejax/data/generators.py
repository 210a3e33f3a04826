"""Dataset generators: the extension point of ``pdejax data generate``.

A generator makes ONE sample from a PRNG key; the driver vmaps it over a chunk of
keys, jits that once, and writes the chunks to HDF5. To add one, subclass
:class:`AbstractGenerator` (or reuse :class:`~pdejax.data.SpectralTrajectories`) and
register a function whose keyword arguments are the config's ``generator.*`` keys::

    from pdejax.data import GENERATORS, SpectralTrajectories

    @GENERATORS.register("kuramoto_sivashinsky")
    def kuramoto_sivashinsky(n_points: int = 256, t_final: float = 100.0, dt: float = 0.25,
                             save_every: int = 4) -> SpectralTrajectories:
        \"\"\"KS trajectories from random smooth initial conditions.\"\"\"
        ...

Arguments are type-checked from the annotations before anything is compiled; raise
:class:`~pdejax.config.ConfigError` naming an argument (``ConfigError("dt", dt, "...")``)
to reject a bad combination — it is reported as ``generator.dt``.

Axis names. Every stored array names its per-sample axes: ``t`` (time frames),
``field`` (components of a multi-field state, last), and spatial axes named like
the coordinates (``x``, ``y``, ``z``; coordinate dataset ``x-coordinate``...). The
``tensor`` array is ``("t", *spatial[, "field"])`` — PDEBench's ``[N, T, X...]`` once
the sample axis is added; a steady problem (Darcy) uses one frame, ``T = 1``.
"""

from __future__ import annotations

import abc
from typing import Any, NamedTuple

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from ..config.registry import Registry

GENERATORS = Registry("generator")

TIME_AXIS, FIELD_AXIS = "t", "field"


class ArraySpec(NamedTuple):
    """One array a generator makes, per sample.

    Args:
        shape: shape of one sample.
        dtype: dtype ``sample`` returns; floating arrays are stored in the config's
            ``dtype``, others as they are.
        axes: a name per axis (see the module docstring), e.g. ``("t", "x")``.
    """

    shape: tuple[int, ...]
    dtype: Any
    axes: tuple[str, ...]


class AbstractGenerator(eqx.Module):
    """Subclass this: a recipe for one sample of a dataset, plus its file metadata.

    Implementations provide:

    - ``arrays``: ``{name: ArraySpec}`` with at least ``"tensor"``, e.g.
      ``{"tensor": ArraySpec((T, X), float32, ("t", "x"))}`` for trajectories or
      ``{"tensor": ((1, X, Y), ..., ("t", "x", "y")), "nu": ((X, Y), ..., ("x", "y"))}``
      for Darcy-style coefficient/solution pairs (``nu`` is the coefficient, as in
      PDEBench);
    - ``coordinates()``: ``{"x-coordinate": (X,), "t-coordinate": (T,), ...}`` NumPy
      arrays, one per spatial axis and (for trajectories) the frames' times;
    - ``attributes()``: scalars and strings for the file's attributes: the PDE, its
      parameters, the solver, step size, resolution, initial-condition law...;
    - ``sample(key)``: ``{name: array}`` for ONE sample, shapes as in ``arrays``; pure
      JAX, so that it can be vmapped and jitted.
    """

    @property
    @abc.abstractmethod
    def arrays(self) -> dict[str, ArraySpec]:
        ...

    @abc.abstractmethod
    def coordinates(self) -> dict[str, np.ndarray]:
        ...

    @abc.abstractmethod
    def attributes(self) -> dict[str, Any]:
        ...

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray) -> dict[str, Array]:
        ...


def check_generator(generator: AbstractGenerator, name: str) -> None:
    """Check that ``generator`` keeps its own promises (shapes, axes, coordinates).

    Traces ``sample`` abstractly (``jax.eval_shape``), so nothing is computed. A
    ``ValueError`` here is a bug in the generator, not in the config.
    """
    arrays = generator.arrays
    where = f"generator {name!r}"
    if "tensor" not in arrays:
        raise ValueError(f"{where} must produce a 'tensor' array; its arrays are {sorted(arrays)}")
    for array, spec in arrays.items():
        if len(spec.axes) != len(spec.shape):
            raise ValueError(f"{where}: array {array!r} has shape {spec.shape} but axes {spec.axes}")
    axes = arrays["tensor"].axes
    spatial = [a for a in axes[1:] if a != FIELD_AXIS]
    if axes[0] != TIME_AXIS or FIELD_AXIS in axes[1:-1] or not spatial:
        raise ValueError(f"{where}: tensor axes {axes} must be ('t', spatial axes..., ['field'])")
    coords = {k: np.asarray(v) for k, v in generator.coordinates().items()}
    sizes = {a: n for spec in arrays.values() for a, n in zip(spec.axes, spec.shape)}
    for axis, n in sizes.items():
        coord = coords.get(f"{axis}-coordinate")
        if axis == FIELD_AXIS or (axis == TIME_AXIS and coord is None):
            continue
        if coord is None:
            raise ValueError(f"{where}: axis {axis!r} has no '{axis}-coordinate'; coordinates are {sorted(coords)}")
        if coord.shape != (n,):
            raise ValueError(f"{where}: '{axis}-coordinate' has shape {coord.shape}, expected ({n},)")
    if FIELD_AXIS in axes and len(generator.attributes().get("fields", ())) != sizes[FIELD_AXIS]:
        raise ValueError(f"{where}: a 'field' axis needs attributes()['fields'] naming its {sizes[FIELD_AXIS]} entries")
    out = jax.eval_shape(generator.sample, jax.random.key(0))
    if set(out) != set(arrays):
        raise ValueError(f"{where}: sample returns {sorted(out)} but arrays declares {sorted(arrays)}")
    for array, spec in arrays.items():
        if out[array].shape != tuple(spec.shape) or out[array].dtype != np.dtype(spec.dtype):
            raise ValueError(f"{where}: sample()[{array!r}] is {out[array].dtype}{list(out[array].shape)}, "
                             f"arrays declares {np.dtype(spec.dtype)}{list(spec.shape)}")
