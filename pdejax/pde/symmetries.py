"""Lie point symmetries of PDEs, acting on periodic trajectories: the groups of data augmentation.

A one-parameter group maps every solution of a PDE to another solution (Brandstetter,
Welling & Worrall, ICML 2022, "Lie Point Symmetry Data Augmentation for Neural PDE
Solvers"). Here a group acts on a trajectory sampled on a periodic 1D grid — frames
``(T, fields, n)`` at times ``t_k`` over a period ``L`` — through sub-grid Fourier shifts
(:mod:`pdejax.spectral.symmetry`), so the transformed trajectory is again a solution
sampled on the same grid, exactly for band-limited data. A group that rescales space,
time or a PDE parameter changes what the grid means (the period, the frame spacing,
``ν``); it says so in :attr:`AbstractSymmetry.changes`, and a learned model trained on
such samples must receive those quantities (see
:class:`pdejax.objectives.operator.Augmentation`).

The groups of a PDE are registered by its name in :data:`SYMMETRIES`, as a function of
the PDE parameters they depend on::

    from pdejax.pde.symmetries import SYMMETRIES, GalileanBoost, SpaceTranslation

    @SYMMETRIES.register("my_burgers")
    def my_burgers(alpha: float) -> dict:
        '''u_t + alpha u u_x = nu u_xx: translation and boost.'''
        return {"space_shift": SpaceTranslation(), "galilean": GalileanBoost(advection=alpha)}

Time translation needs no array action: the equations are autonomous, and the
trajectory window feed already starts windows at random frames
(``objective.window: random``).
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Mapping
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..config.errors import ConfigError
from ..config.registry import Registry
from ..spectral.symmetry import fourier_shift, galilean_boost
from .base import PDE

SYMMETRIES = Registry("symmetries")


class TrajectoryCoordinates(NamedTuple):
    """Where a trajectory lives, as a group leaves it.

    Attributes:
        times: the frames' times, shape ``(T,)``.
        length: the period of the grid (the domain length), a scalar.
        log_factors: ``{quantity: log(value / the data's value)}`` of what rescaling
            groups changed: ``"length"``, ``"dt"`` (all times scale together) or a PDE
            parameter (``"nu"``); absent means unchanged.
    """

    times: Float[Array, " T"]
    length: Array
    log_factors: dict[str, Array]


class AbstractSymmetry(eqx.Module):
    """A one-parameter Lie point symmetry group acting on a trajectory. Subclass this.

    Implement ``draw`` (the group parameter for a configured magnitude) and ``__call__``
    (the action, with ``eps = 0`` the identity); set ``changes`` if the group rescales
    anything a model would have to be told (the period, the time step, a parameter).
    """

    @property
    def changes(self) -> tuple[str, ...]:
        """Quantities besides the fields that the group changes (``"length"``, ``"dt"``, parameters)."""
        return ()

    @abc.abstractmethod
    def draw(self, key: PRNGKeyArray, magnitude: float) -> Array:
        """The group parameter ``eps`` for a configured ``magnitude`` (a scalar)."""

    @abc.abstractmethod
    def __call__(self, frames: Float[Array, "T fields n"], eps: ArrayLike,
                 coords: TrajectoryCoordinates) -> tuple[Float[Array, "T fields n"], TrajectoryCoordinates]:
        """The transformed trajectory and where it lives."""


class SpaceTranslation(AbstractSymmetry):
    """``x → x + ε L``: every frame moved by the same sub-grid distance (Fourier shift).

    ``draw``: ``ε ~ U(-m/2, m/2)`` in units of the period, as LPSDA's ``SpaceTranslate``
    (``m = 1``: uniform over the whole period).
    """

    def draw(self, key: PRNGKeyArray, magnitude: float) -> Array:
        return magnitude * (jax.random.uniform(key) - 0.5)

    def __call__(self, frames, eps, coords):
        return fourier_shift(frames, eps * coords.length, coords.length), coords


class GalileanBoost(AbstractSymmetry):
    """``x → x + ε t, u → u + ε / a`` for ``u_t + a u u_x = D(u)`` (Burgers, KdV, KS).

    Frame ``k`` is moved by ``ε t_k`` (Fourier shift) and ``ε / a`` is added; see
    :func:`~pdejax.spectral.symmetry.galilean_boost` for the derivation. ``draw``:
    ``ε ~ U(-m, m)``, a velocity in ``x``-units per time unit, as LPSDA's ``Galileo``
    (whose ``u(x + ε t) - ε`` is this group at ``-ε`` for ``a = 1``).
    """

    advection: float = eqx.field(static=True, default=1.0)

    def draw(self, key: PRNGKeyArray, magnitude: float) -> Array:
        return magnitude * jax.random.uniform(key, minval=-1.0, maxval=1.0)

    def __call__(self, frames, eps, coords):
        return galilean_boost(frames, coords.times, eps, coords.length, self.advection), coords


class Scaling(AbstractSymmetry):
    """``x → e^{a ε} x, t → e^{b ε} t, u → e^{c ε} u`` and parameters ``p → e^{d_p ε} p``.

    On the grid only the values scale (by ``e^{c ε}``); the period becomes ``e^{a ε} L``
    and every time ``e^{b ε} t`` (so the frame spacing ``e^{b ε} dt``): what the grid
    means changes, which ``changes`` lists. ``draw``: ``ε ~ U(-m/2, m/2)``, as LPSDA's
    ``Scale``. KdV ``u_t + α u u_x + β u_xxx = 0`` has ``(a, b, c) = (1, 3, -2)``; viscous
    Burgers on a fixed grid ``(0, 1, -1)`` with ``ν → e^{-ε} ν``.

    Args:
        x: the exponent ``a`` of space.
        t: the exponent ``b`` of time.
        u: the exponent ``c`` of the field values.
        params: ``((name, d_p), ...)``: the PDE parameters the group rescales.
    """

    x: float = eqx.field(static=True, default=0.0)
    t: float = eqx.field(static=True, default=0.0)
    u: float = eqx.field(static=True, default=0.0)
    params: tuple[tuple[str, float], ...] = eqx.field(static=True, default=())

    @property
    def exponents(self) -> dict[str, float]:
        """``{quantity: exponent}`` of what the grid cannot show: ``length``, ``dt``, parameters."""
        out = {"length": self.x, "dt": self.t, **dict(self.params)}
        return {k: v for k, v in out.items() if v != 0}

    @property
    def changes(self) -> tuple[str, ...]:
        return tuple(self.exponents)

    def draw(self, key: PRNGKeyArray, magnitude: float) -> Array:
        return magnitude * (jax.random.uniform(key) - 0.5)

    def __call__(self, frames, eps, coords):
        factors = dict(coords.log_factors)
        for name, exponent in self.exponents.items():
            factors[name] = factors.get(name, 0.0) + exponent * eps
        moved = TrajectoryCoordinates(coords.times * jnp.exp(self.t * eps), coords.length * jnp.exp(self.x * eps),
                                      factors)
        return (frames * jnp.exp(self.u * eps)).astype(frames.dtype), moved


def symmetry_groups(pde: str, params: Mapping[str, Any], *, where: str) -> dict[str, AbstractSymmetry]:
    """The registered groups of PDE ``pde`` (``{group name: group}``), built from ``params``.

    The registered function's arguments are read from ``params`` (a PDE's ``params`` or a
    data file's attributes); a missing one without a default is a ConfigError naming
    ``where``, never a silent default (a wrong advection coefficient gives a wrong boost).
    """
    fn = SYMMETRIES.get(pde, where=where)
    kwargs = {}
    for name, p in inspect.signature(fn).parameters.items():
        if name in params:
            kwargs[name] = float(params[name])
        elif p.default is inspect.Parameter.empty:
            raise ConfigError(where, pde, f"a PDE whose parameter {name!r} is known (the symmetries of {pde!r} "
                              f"depend on it); it is neither in the pde section nor in the data file's attributes")
    return fn(**kwargs)


def transform_trajectory(pde: PDE, frames: Float[Array, "T fields n"], times: Float[Array, " T"],
                         **eps: float) -> tuple[Float[Array, "T fields n"], TrajectoryCoordinates]:
    """A trajectory of ``pde`` (periodic, 1D) moved by its registered groups, ``eps`` per group name.

    The groups act in their registration order; the period is the PDE's. Returns the frames
    and where they live (a scaling's new times, period and log-factors).

    Example (a boosted KdV trajectory, as in a notebook)::

        kdv = pdejax.pde.kdv(alpha=1.0, beta=1.0, length=64.0)
        boosted, where = transform_trajectory(kdv, frames, times, space_shift=0.25, galilean=0.4)
    """
    groups = symmetry_groups(pde.name, pde.params, where="pde")
    unknown = set(eps) - set(groups)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not symmetry groups of {pde.name!r}: its groups are {list(groups)}")
    coords = TrajectoryCoordinates(jnp.asarray(times), jnp.asarray(pde.domain.lengths[0]), {})
    for name, group in groups.items():
        if name in eps:
            frames, coords = group(frames, eps[name], coords)
    return frames, coords


@SYMMETRIES.register("kuramoto_sivashinsky")
def kuramoto_sivashinsky() -> dict[str, AbstractSymmetry]:
    """u_t + u u_x + u_xx + u_xxxx = 0: space translation, Galilean boost (no scaling: the
    two linear terms fix the length scale)."""
    return {"space_shift": SpaceTranslation(), "galilean": GalileanBoost(advection=1.0)}


@SYMMETRIES.register("kdv")
def kdv(alpha: float) -> dict[str, AbstractSymmetry]:
    """u_t + alpha u u_x + beta u_xxx = 0: space translation, Galilean boost (u → u + ε/alpha),
    scaling (x, t, u) → (e^ε x, e^{3ε} t, e^{-2ε} u)."""
    return {"space_shift": SpaceTranslation(), "galilean": GalileanBoost(advection=alpha),
            "scaling": Scaling(x=1.0, t=3.0, u=-2.0)}


@SYMMETRIES.register("kdv_jaxpi")
def kdv_jaxpi(alpha: float) -> dict[str, AbstractSymmetry]:
    """The ``kdv`` groups (the same equation on [-1, 1))."""
    return kdv(alpha)


@SYMMETRIES.register("burgers")
def burgers() -> dict[str, AbstractSymmetry]:
    """u_t + u u_x = nu u_xx (periodic): space translation, Galilean boost, and the scaling
    (t, u, nu) → (e^ε t, e^{-ε} u, e^{-ε} nu) on the same grid (ν and dt change)."""
    return {"space_shift": SpaceTranslation(), "galilean": GalileanBoost(advection=1.0),
            "scaling": Scaling(t=1.0, u=-1.0, params=(("nu", -1.0),))}


@SYMMETRIES.register("heat")
def heat() -> dict[str, AbstractSymmetry]:
    """u_t = kappa u_xx: space translation and, the equation being linear, the amplitude
    scaling u → e^ε u (its Galilean group multiplies by a Gaussian factor: not registered)."""
    return {"space_shift": SpaceTranslation(), "amplitude": Scaling(u=1.0)}
