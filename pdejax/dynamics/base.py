"""What every neural differential equation in :mod:`pdejax.dynamics` is: a model that maps an
initial state and observation times to a trajectory, with statistics of its solve.

A dynamics model is an Equinox module with :meth:`AbstractDynamics.solve`; the
``dynamics`` method family (``objective.name: dynamics``) trains any of them on
trajectories, and its objective reads the solve's ``stats`` for regularisation penalties
and logging. Models are registered in :data:`DYNAMICS` (config ``model.name``); each
constructor receives the :class:`System` it models (state shape, and for a hybrid PDE
the PDE and its grid) besides its config keys.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import equinox as eqx
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.registry import Registry
from ..pde import PDE

DYNAMICS = Registry("dynamics model", provided=("system", "key", "dtype"))


@dataclass(frozen=True)
class System:
    """What a dynamics model is built for.

    Attributes:
        state_shape: the shape of one state ``y(t)`` (an ODE's ``(n,)``; a PDE's grid
            state ``(n_fields, *grid.sizes)``).
        pde: the PDE definition a hybrid model takes its known terms from (``None``: none).
        grid: the grid of a PDE state (``pdejax.spectral.FourierGrid`` or ``ChebyshevGrid``).
        dt: the spacing of the observation times, where uniform (a fixed-step stepper's
            default step), else ``None``.
    """

    state_shape: tuple[int, ...]
    pde: PDE | None = None
    grid: Any = None
    dt: float | None = None


class AbstractDynamics(eqx.Module):
    """A model of ``dy/dt = f(t, y)`` (or an SDE, or a latent ODE). Subclass this.

    :meth:`solve` integrates one trajectory; ``jax.vmap`` batches it.
    """

    @abc.abstractmethod
    def solve(self, y0: Float[Array, " *state"], ts: Float[Array, " times"], *,
              key: PRNGKeyArray | None = None) -> tuple[Float[Array, "times *state"], dict[str, Array]]:
        """``(ys, stats)``: the state at every time of ``ts`` (``ys[0]`` is ``y0`` at ``ts[0]``)
        and scalar statistics of the solve: always ``nfe`` (vector-field evaluations), and
        the regularisation integrals the model was configured to accumulate (``kinetic``,
        ``jacobian``, ``error_estimate``). ``key`` drives stochastic models (an SDE's
        Brownian motion, Hutchinson probes) and may be ``None`` for deterministic ones."""

    def __call__(self, y0: Float[Array, " *state"], ts: Float[Array, " times"], *,
                 key: PRNGKeyArray | None = None) -> Float[Array, "times *state"]:
        """The trajectory only: ``solve(y0, ts, key=key)[0]``."""
        return self.solve(y0, ts, key=key)[0]
