"""``objective.augment``: Lie-point-symmetry data augmentation of an autoregressive experiment.

The section names the PDE's symmetry groups (:data:`pdejax.pde.symmetries.SYMMETRIES`)
with a magnitude each; :func:`augmentation_for` checks them against the PDE and the data
before anything is compiled and builds the
:class:`~pdejax.objectives.operator.Augmentation` the objective applies inside the step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from ...config.errors import ConfigError
from ...config.schema import Section
from ...config.strict import StrictFloat
from ...data.operator_views import OperatorViews
from ...objectives.operator.augment import Augmentation
from ...pde import Periodic
from ...pde.symmetries import symmetry_groups
from ..family import Context


class AugmentConfig(Section):
    """Symmetry groups applied to every training window, with their magnitudes.

    Every other key is a group of the PDE and its magnitude ``m`` (0: off), as in LPSDA
    (Brandstetter et al. 2022; their KS and KdV settings are ``space_shift: 1.0,
    galilean: 0.4`` and, for KdV, ``scaling: 0.1``):

    - ``space_shift``: ``x → x + ε L`` with ``ε ~ U(-m/2, m/2)``, a fraction of the
      period (1: anywhere);
    - ``galilean``: ``x → x + ε t, u → u + ε / a`` with ``ε ~ U(-m, m)``, a velocity in the
      data's units (``a``: the PDE's advection coefficient);
    - ``scaling``: ``ε ~ U(-m/2, m/2)``; KdV: ``(x, t, u) → (e^ε x, e^{3ε} t, e^{-2ε} u)``;
      Burgers: ``(t, u, ν) → (e^ε t, e^{-ε} u, e^{-ε} ν)``. What it rescales (period, time
      step, ``ν``) reaches the model as one constant input channel each, the log-factor
      against the data (0 at evaluation), so it is refused with a physics term (whose residual
      takes ν and the time step from the data). With ``objective.refiner`` the channels follow
      the refiner's (window, estimate, step ``k``).

    Time translation is the window feed's: ``objective.window: random`` (the default)
    starts every window at a random frame. ``probability``: the chance that a sample is
    transformed at all. ``pde``: whose groups (default: the ``pde`` section's PDE, else the
    one the data file's attributes name).
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True, allow_inf_nan=False)
    __pydantic_extra__: dict[str, StrictFloat] = Field(init=False)

    probability: float = Field(1.0, gt=0, le=1)
    pde: str | None = None

    @model_validator(mode="after")
    def _nonnegative(self) -> AugmentConfig:
        bad = {k: v for k, v in self.magnitudes.items() if v < 0}
        if bad:
            raise ValueError(f"non-negative magnitudes (got {bad})")
        return self

    @property
    def magnitudes(self) -> dict[str, float]:
        """``{group: magnitude}``: the section's keys besides ``probability`` and ``pde``."""
        return dict(self.model_extra or {})


def _pde_of(augment: AugmentConfig, ctx: Context, views: OperatorViews) -> tuple[str, dict[str, Any]]:
    """The PDE whose groups apply and its parameters (the pde section's, else the file's attributes)."""
    attrs = views.dataset.attrs
    pde = ctx.pde
    name = augment.pde or (pde.name if pde is not None else attrs.get("pde"))
    if name is None:
        raise ConfigError("objective.augment.pde", None, "the name of the data's PDE (or a pde section); "
                          f"{views.dataset.path} does not name one")
    file_params = {k: v for k, v in attrs.items() if attrs.get("pde") == name and isinstance(v, (int, float))}
    if pde is None or pde.name != name:
        return name, file_params
    if not isinstance(pde.boundary, Periodic):
        raise ConfigError("objective.augment", "...", f"a periodic PDE; {pde.name!r} has {pde.boundary!r}")
    for k, v in pde.params.items():
        if k in file_params and not math.isclose(float(v), float(file_params[k]), rel_tol=1e-6):
            raise ConfigError(f"pde.{k}", float(v), f"the data's value {file_params[k]} (the symmetry groups of "
                              f"{name!r} depend on it; {views.dataset.path} was made with it)")
    return name, {**file_params, **pde.params}


def _uniform_step(values: np.ndarray, what: str) -> float:
    step = np.diff(values)
    if len(values) < 2 or not np.allclose(step, step[0], rtol=1e-4, atol=0):
        raise ConfigError("objective.augment", "...", f"a dataset with uniformly spaced {what}")
    return float(step[0])


def augmentation_for(obj: Any, ctx: Context, views: OperatorViews, array: str) -> Augmentation | None:
    """``obj.augment`` checked against the PDE and the data, as an :class:`Augmentation` (``None``: off).

    Raises:
        ConfigError: an unknown PDE or group, no group switched on, data that are not one
            scalar field on a uniform 1D grid with uniform frame times, or a rescaling
            group with a physics term.
    """
    augment: AugmentConfig | None = obj.augment
    if augment is None:
        return None
    name, params = _pde_of(augment, ctx, views)
    groups = symmetry_groups(name, params, where="objective.augment.pde")
    magnitudes = augment.magnitudes
    for key, value in magnitudes.items():
        if key not in groups:
            raise ConfigError(f"objective.augment.{key}", value, f"a symmetry group of {name!r}: one of "
                              f"{', '.join(groups)} (or probability, pde)")
    if not any(m > 0 for m in magnitudes.values()):
        raise ConfigError("objective.augment", magnitudes, f"a positive magnitude for at least one group of "
                          f"{name!r}: {', '.join(groups)}")
    if len(views.spatial) != 1 or views.channels({array: [0]}) != 1:
        raise ConfigError("objective.augment", magnitudes, "a dataset of one field on a periodic 1D grid; "
                          f"{array!r} has axes {views.spatial} and {views.channels({array: [0]})} field(s)")
    views.require_periodic("objective.augment")  # spectral shifts: a Well file with walls is refused
    if views.times is None:
        raise ConfigError("objective.augment", magnitudes, f"a dataset with a t-coordinate; {views.dataset.path} "
                          "has none")
    dt = _uniform_step(np.asarray(views.times, np.float64), "frame times")
    x = np.asarray(views.coordinates()[0], np.float64)
    length = len(x) * _uniform_step(x, "x-coordinates")
    chosen = tuple((k, g, float(magnitudes[k])) for k, g in groups.items() if magnitudes.get(k, 0) > 0)
    augmentation = Augmentation(chosen, dt=dt, time0=float(views.times[0]), length=length,
                                probability=augment.probability)
    rescaling = [k for k, g, _ in chosen if g.changes]
    if rescaling:
        what = f"objective.augment.{rescaling[0]} changes {', '.join(augmentation.conditions)}"
        if obj.physics_weight > 0:
            raise ConfigError("objective.physics_weight", obj.physics_weight, f"0: {what}, which the physics "
                              "residual takes from the data")
    return augmentation
