"""The PINO residual of an operator experiment, checked against its dataset."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ...config.errors import ConfigError
from ...data.operator_views import OperatorViews
from ...objectives import PhysicsResidual
from ...pde import PDE, Periodic


def physics_for(pde: PDE, views: OperatorViews, array: str, frames: Sequence[int] | None,
                where: str = "objective.physics_weight") -> PhysicsResidual:
    """A :class:`PhysicsResidual` for consecutive ``frames`` of ``array``, checked against the data.

    Raises:
        ConfigError: a non-periodic PDE, a grid that does not match the PDE's domain, or
            frames that are not consecutive, or a file that records non-periodic boundaries.
    """
    if not isinstance(pde.boundary, Periodic) or not pde.evolution:
        raise ConfigError(where, "> 0", f"a periodic time-dependent PDE; {pde.name!r} is not (spectral "
                          "derivatives need a periodic grid)")
    views.require_periodic(where)
    if frames is not None and list(frames) != list(range(frames[0], frames[0] + len(frames))):
        raise ConfigError(f"data.output.{array}", list(frames), "consecutive frames for a physics loss")
    times = views.times
    if times is None or len(times) < 2:
        raise ConfigError(where, "> 0", f"a dataset with a t-coordinate; {views.dataset.path} has none")
    dt = float(times[1] - times[0])
    for axis, coord, lo, length in zip(views.spatial, views.coordinates(), pde.domain.lower, pde.domain.lengths):
        spacing = length / len(coord)
        if not math.isclose(float(coord[1] - coord[0]), spacing, rel_tol=1e-4) or \
                not math.isclose(float(coord[0]), lo, abs_tol=1e-6 * length):
            raise ConfigError("pde", pde.name, f"a periodic domain matching the data's {axis}-coordinate "
                              f"({coord[0]:g}, {coord[1]:g}, ... {len(coord)} points)")
    sample = views.trajectories(array, views.train_rows[:min(64, len(views.train_rows))])
    scale = float(np.mean(((sample[:, 1:] - sample[:, :-1]) / dt) ** 2))
    return PhysicsResidual(pde, dt, scale)
