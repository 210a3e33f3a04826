"""Neural ODE: ``dy/dt = net(y)`` (or ``net([y, t])``) with any registered network, and the
regularisation integrals of Finlay et al. (2020) and Pal et al. (2021) riding along.

Config (``model.name: neural_ode``)::

    model:
      name: neural_ode
      vector_field: {name: mlp, width: 64, depth: 2, activation: tanh}
      time_dependent: false
      solver: tsit5          # see pdejax.dynamics.integrate.Integrator
      rtol: 1.0e-6
      kinetic: true          # stats["kinetic"]  = ∫ ‖f‖² dt
      jacobian: true         # stats["jacobian"] = ∫ ‖∂f/∂y‖_F² dt (Hutchinson, needs a key)
      error_estimate: false  # stats["error_estimate"] = Σ_accepted E_j |Δt_j|
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..models import MODELS
from .base import DYNAMICS, AbstractDynamics, System
from .integrate import Integrator

DEFAULT_VECTOR_FIELD = {"name": "mlp", "width": 64, "depth": 2}  # read only (the constructor copies it)


class NeuralODE(AbstractDynamics):
    """``dy/dt = f(t, y) = net(concat(y.ravel(), [t]) or y.ravel()).reshape(state_shape)``.

    Build it with :func:`neural_ode` (the ``DYNAMICS`` entry) or directly.

    Attributes:
        net: any network mapping ``(in_size,)`` to ``(prod(state_shape),)``, ``in_size`` the
            state size (+1 with ``time_dependent``).
        integrator: how the ODE is solved (:class:`~pdejax.dynamics.integrate.Integrator`).
        state_shape: the shape of one state.
        time_dependent: whether ``t`` is the net's last input.
        kinetic, jacobian, error_estimate: which regularisation integrals :meth:`solve`
            accumulates in its stats. ``kinetic`` and ``jacobian`` are extra state
            components integrated by the same solver (step-size control looks at ``y``
            only, so the steps, and ``nfe``, are those of the plain solve); without any
            of the three the solve integrates ``y`` alone.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> ode = neural_ode(System(state_shape=(2,)), key=jax.random.key(0),
        ...                  vector_field={"name": "mlp", "width": 8, "depth": 1}, kinetic=True)
        >>> ys, stats = ode.solve(jnp.ones(2), jnp.linspace(0.0, 1.0, 5))
        >>> ys.shape, sorted(stats)
        ((5, 2), ['kinetic', 'nfe'])
    """

    net: eqx.Module
    integrator: Integrator
    state_shape: tuple[int, ...] = eqx.field(static=True)
    time_dependent: bool = eqx.field(default=False, static=True)
    kinetic: bool = eqx.field(default=False, static=True)
    jacobian: bool = eqx.field(default=False, static=True)
    error_estimate: bool = eqx.field(default=False, static=True)

    def vector_field(self, t, y: Float[Array, " *state"], args=None) -> Float[Array, " *state"]:
        """``f(t, y)``, of the state's shape."""
        x = y.reshape(-1)
        if self.time_dependent:
            x = jnp.concatenate([x, jnp.reshape(t, (1,)).astype(x.dtype)])
        return self.net(x).reshape(y.shape)

    def solve(self, y0: Float[Array, " *state"], ts: Float[Array, " times"], *,
              key: PRNGKeyArray | None = None) -> tuple[Float[Array, "times *state"], dict[str, Array]]:
        """Integrate from ``y0`` at ``ts[0]``: ``(ys, stats)``.

        Args:
            y0: the initial state, shape ``state_shape`` (one trajectory; ``jax.vmap`` batches).
            ts: increasing observation times, shape ``(times,)``.
            key: draws the Hutchinson probe ``ε ~ N(0, I)`` of the ``jacobian`` integral
                (one probe for the whole trajectory); needed only then.

        Returns ``ys`` of shape ``(times, *state_shape)`` and ``stats``: ``nfe`` (int), and
        ``kinetic`` = ∫‖f‖² dt, ``jacobian`` = ∫‖εᵀ ∂f/∂y‖² dt (an unbiased estimate of
        ∫‖∂f/∂y‖_F² dt, by one vector–Jacobian product a stage), ``error_estimate`` (see
        :class:`~pdejax.dynamics.accounting.AccountingSolver`) as configured, each over
        ``[ts[0], ts[-1]]``.
        """
        if y0.shape != self.state_shape:
            raise ValueError(f"y0 has shape {y0.shape}; valid: the state shape {self.state_shape}")
        if self.jacobian and key is None:
            raise ValueError("NeuralODE(jacobian=True).solve needs a key for its Hutchinson probe")
        ts = jnp.asarray(ts, y0.dtype)
        if self.kinetic or self.jacobian:
            probe = jax.random.normal(key, y0.shape, y0.dtype) if self.jacobian else None
            field = _RegularisedField(self, probe)
            sol = self.integrator.solve_ode(field, y0, ts, integrands=True, error_estimate=self.error_estimate)
        else:
            sol = self.integrator.solve_ode(self.vector_field, y0, ts, error_estimate=self.error_estimate)
        return sol.ys, {"nfe": sol.stats["nfe"], **sol.integrals}


class _RegularisedField(eqx.Module):
    """``(t, y, args) -> (f, {"kinetic": ‖f‖², "jacobian": ‖εᵀ ∂f/∂y‖²})``, one net evaluation."""

    ode: NeuralODE
    probe: Array | None

    def __call__(self, t, y, args):
        rates = {}
        if self.probe is not None:
            f, vjp = jax.vjp(lambda z: self.ode.vector_field(t, z), y)
            (eps_jac,) = vjp(self.probe)
            rates["jacobian"] = jnp.sum(eps_jac**2)
        else:
            f = self.ode.vector_field(t, y)
        if self.ode.kinetic:
            rates["kinetic"] = jnp.sum(f**2)
        return f, rates


@DYNAMICS.register("neural_ode")
def neural_ode(system: System, *, key: PRNGKeyArray, dtype=None,
               vector_field: Mapping[str, Any] = DEFAULT_VECTOR_FIELD, time_dependent: bool = False,
               solver: str = "tsit5", controller: str = "pid", rtol: float = 1e-6, atol: float = 1e-6,
               dt0: float | None = None, max_steps: int = 4096, adjoint: str = "recursive_checkpoint",
               kinetic: bool = False, jacobian: bool = False, error_estimate: bool = False) -> NeuralODE:
    """Neural ODE dy/dt = net(y) (any registered network; kinetic/Jacobian/error-estimate penalties)."""
    integrator = Integrator(solver=solver, controller=controller, rtol=rtol, atol=atol, dt0=dt0,
                            max_steps=max_steps, adjoint=adjoint)
    if error_estimate and adjoint == "backsolve":
        raise ValueError("error_estimate with adjoint 'backsolve': the penalty is a sum over discrete steps; "
                         "valid adjoint: recursive_checkpoint")
    spec = dict(vector_field)
    name = spec.pop("name", "mlp")
    size = math.prod(system.state_shape)
    net = MODELS.build(name, spec, where="vector_field", in_size=size + int(time_dependent), out_size=size,
                       key=key, dtype=dtype)
    return NeuralODE(net, integrator, tuple(system.state_shape), time_dependent, kinetic, jacobian,
                     error_estimate)
