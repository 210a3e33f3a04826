"""Time-dependent terms: ETDRK4 evaluates N at the stage times and keeps fourth order (float64)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import PDE, Box, Periodic, grid_for, spectral_solve
from pdejax.spectral import rollout

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def _orders(errors):
    return np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))


def test_rollout_times_come_from_the_step_index():
    """Step k starts at t0 + k·dt exactly as computed from k (no summed drift)."""
    dt, t0, n = 0.1, 0.3, 1000
    step = lambda v, t: t + dt  # the state becomes the end time of the step
    ends = np.asarray(rollout(step, n, dt=dt)(jnp.zeros(()), t0))
    np.testing.assert_allclose(ends, t0 + np.arange(n) * dt + dt, rtol=5e-16, atol=0)  # to the last bit or so
    with pytest.raises(ValueError, match="dt"):
        rollout(lambda v, t: v, 4)


def test_cos_t_forcing_reaches_sin_t_at_fourth_order():
    """u_t = cos t from the domain's start t0 = 0.5: u(2) = sin 2 - sin 0.5 (was: held t at t0)."""
    pde = PDE(name="cos_t", fields=("u",), domain=Box(x=(0.0, 2 * math.pi), t=(0.5, 2.0)),
              nonlinear=lambda f, p: {"u": jnp.cos(f.t)}, initial=lambda x, p: {"u": 0.0 * x[0]},
              boundary=Periodic())
    grid = grid_for(pde, 4)
    exact = math.sin(2.0) - math.sin(0.5)
    errors = [float(jnp.max(jnp.abs(spectral_solve(pde, grid, jnp.zeros((1, 4)), 1.5 / n, n, n)[-1] - exact)))
              for n in (3, 6, 12, 24)]
    assert errors[-1] < 1e-8, errors
    assert np.all(_orders(errors) > 3.7), (errors, _orders(errors))
    # An explicit t0 overrides the domain's start: from t0 = 0 the same steps reach sin(1.5).
    u = spectral_solve(pde, grid, jnp.zeros((1, 4)), 1.5 / 24, 24, 24, t0=0.0)[-1]
    assert abs(float(u[0, 0]) - math.sin(1.5)) < 1e-8


def test_forced_burgers_manufactured_solution_is_fourth_order():
    """u_t = nu u_xx - u u_x + f(x, t) with f making u = cos(t) sin(x) exact (stiff linear part)."""
    nu = 0.5

    def forcing(x, t):
        return (nu * jnp.cos(t) - jnp.sin(t)) * jnp.sin(x) + jnp.cos(t) ** 2 * jnp.sin(x) * jnp.cos(x)

    pde = PDE(name="forced_burgers", fields=("u",), domain=Box(x=(0.0, 2 * math.pi), t=(0.0, 2.0)),
              params={"nu": nu}, linear={"u": {"u_xx": "nu"}},
              nonlinear=lambda f, p: {"u": -f.u * f.u_x + forcing(f.x, f.t)},
              initial=lambda x, p: {"u": jnp.sin(x[0])}, boundary=Periodic())
    grid = grid_for(pde, 16)
    (x,) = grid.mesh(jnp.float64)
    errors = [float(jnp.max(jnp.abs(spectral_solve(pde, grid, jnp.sin(x)[None], 2.0 / n, n, n)[-1]
                                    - jnp.cos(2.0) * jnp.sin(x))))
              for n in (5, 10, 20)]
    assert errors[-1] < 1e-6, errors
    assert np.all(_orders(errors) > 3.7), (errors, _orders(errors))
