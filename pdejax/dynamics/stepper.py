"""A neural operator as a learned time stepper: the data-driven baseline of the hybrid PDEs."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.errors import ConfigError
from ..models import MODELS
from .base import DYNAMICS, AbstractDynamics, System


class OperatorStepper(AbstractDynamics):
    """``y_{k+1} = y_k + op(y_k)``: an operator on grid states (an FNO, a U-Net: ``(fields,
    *grid) -> (fields, *grid)``) advancing one observation interval ``dt`` per application,
    rolled out autoregressively by ``lax.scan``. Trained by the same trajectory objective as
    a neural ODE or a hybrid PDE (windows of several steps: unrolled training), it is the
    neural-operator baseline on the same data; an FNO runs on any grid of the domain
    (:meth:`on_grid` returns it unchanged).

    Args:
        net: the operator, one state in and the increment out.
        dt: the observation interval it steps (the times passed to :meth:`solve` must be
            ``ts[0] + k dt``; checked when they are concrete).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> stepper = OperatorStepper(lambda y: 0.1 * y, dt=0.5)
        >>> ys, stats = stepper.solve(jnp.ones((1, 8)), jnp.array([0.0, 0.5, 1.0]))
        >>> ys.shape, float(ys[-1, 0, 0]), int(stats["nfe"])
        ((3, 1, 8), 1.21, 2)
    """

    net: Any
    dt: float = eqx.field(static=True)

    def solve(self, y0: Float[Array, "fields *grid"], ts: Float[Array, " times"], *,
              key: PRNGKeyArray | None = None) -> tuple[Float[Array, "times fields *grid"], dict[str, Array]]:
        """``(ys, {"nfe": steps})``: ``y0`` and ``len(ts) - 1`` steps of the operator."""
        if not isinstance(ts, jax.core.Tracer):
            gaps = np.diff(np.asarray(ts, np.float64))
            if gaps.size and np.max(np.abs(gaps - self.dt)) > 1e-6 * self.dt:
                raise ValueError(f"OperatorStepper steps dt = {self.dt}; the times {np.asarray(ts)} are not "
                                 "spaced by it")

        def step(y, _):
            y = y + self.net(y)
            return y, y

        _, ys = jax.lax.scan(step, y0, None, length=ts.shape[0] - 1)
        return jnp.concatenate([y0[None], ys]), {"nfe": jnp.asarray(ts.shape[0] - 1)}

    def on_grid(self, grid: Any) -> OperatorStepper:
        """The same operator (an FNO's weights do not depend on the grid's resolution)."""
        return self


@DYNAMICS.register("operator_stepper")
def operator_stepper(system: System, *, key: PRNGKeyArray, dtype=None,
                     operator: dict[str, Any] | None = None) -> OperatorStepper:
    """A neural operator (``operator: {name: fno, modes: [16], width: 32}``) as a learned time
    stepper over one observation interval, for grid states."""
    spec = dict(operator or {"name": "fno", "modes": [16], "width": 32, "n_layers": 4})
    if system.grid is None or system.dt is None:
        raise ConfigError("model.name", "operator_stepper", "a model for grid states observed at uniform "
                          "times (objective.data.system: pde)")
    fields = system.state_shape[0]
    net = MODELS.build(spec.pop("name"), spec, where="model.operator", in_size=fields, out_size=fields, key=key,
                       dtype=dtype)
    return OperatorStepper(net, float(system.dt))
