"""PINN objective details: fields second order in time keep their initial value and velocity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.models import MLP
from pdejax.objectives import PINN, PINNField
from pdejax.pde import PDE, Box, Periodic


def wave() -> PDE:
    """u_tt = u_xx on a periodic interval, u0 = sin x, u_t0 = cos x: exact u = sin(x + t)."""
    return PDE(name="wave_pinn", fields=("u",), domain=Box(x=(0.0, 2 * np.pi), t=(0.0, 1.0)), second_order=("u",),
               linear={"u": {"u_xx": 1.0}}, boundary=Periodic(),
               initial=lambda x, p: {"u": jnp.sin(x[0]), "u_t": jnp.cos(x[0])})


def test_hard_constraint_holds_initial_value_and_velocity(x64):
    pde = wave()
    net = MLP(in_size=PINNField.net_in_size(pde), out_size=1, width=8, depth=2, key=jax.random.PRNGKey(0),
              dtype=jnp.float64)
    model = PINNField(net, pde, "hard")
    for x in (0.3, 2.0, 5.1):
        point = jnp.array([x, 0.0])
        value, velocity = jax.jvp(model, (point,), (jnp.array([0.0, 1.0]),))
        assert float(value[0]) == pytest.approx(np.sin(x), abs=1e-14)
        assert float(velocity[0]) == pytest.approx(np.cos(x), abs=1e-13)
    later = model(jnp.array([1.0, 0.5]))  # the network does act away from t0
    assert abs(float(later[0]) - (np.sin(1.0) + 0.5 * np.cos(1.0))) > 1e-6


def test_soft_initial_loss_includes_the_velocity(x64):
    pde = wave()
    objective = PINN(pde, constraint="soft", n_initial=16, n_boundary=4)
    x = jnp.linspace(0.1, 6.0, 16)[:, None]
    batch = {"interior": jnp.stack([x[:, 0], 0.3 * jnp.ones(16)], axis=1), "initial": x,
             "boundary": jnp.array([[0.0, 0.2], [0.0, 0.7], [0.0, 0.1], [0.0, 0.9]])}
    exact = lambda p: jnp.sin(p[:1] + p[1:])  # noqa: E731
    losses, _ = objective.loss(exact, batch, None)
    assert float(losses["initial"]) < 1e-28 and float(losses["residual"]) < 1e-24
    still = lambda p: jnp.sin(p[:1]) * jnp.ones_like(p[1:])  # noqa: E731  (right value, zero velocity)
    losses, _ = objective.loss(still, batch, None)
    assert float(losses["initial"]) == pytest.approx(float(jnp.mean(jnp.cos(x[:, 0]) ** 2)), rel=1e-12)
