"""Linear coefficients as expressions of parameters: one value for the check, the PINN residual
and the solvers (float64); anything but arithmetic on parameters is refused."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import PDE, Box, Periodic, check_consistency, grid_for, pointwise_residual, spectral_solve
from pdejax.pde.solve import linear_symbol

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)

PARAMS = {"r": 1.5, "F": 0.04, "k": 0.06, "nu": 0.25}
LINEAR = {"u": {"u_xx": "r - 1", "u": "-(F + k)", "u_xxxx": "-nu**2 / 2", "u_x": "2*nu - 0.5"}}
RATE = -(1.5 - 1) * 4 - (0.04 + 0.06) - 0.25**2 / 2 * 16  # for sin(2x): -2.6 (the u_x term is 0)


def _pde(linear=LINEAR, params=PARAMS):
    return PDE(name="expressions", fields=("u",), domain=Box(x=(0.0, 2 * math.pi), t=(0.0, 1.0)),
               params=params, linear=linear, initial=lambda x, p: {"u": jnp.sin(2 * x[0])}, boundary=Periodic())


def test_values_of_expressions():
    pde = _pde()
    values = [pde.coefficient(c) for c in LINEAR["u"].values()]
    np.testing.assert_allclose(values, [0.5, -0.1, -0.03125, 0.0], atol=1e-15)
    assert pde.coefficient("-nu") == -0.25 and pde.coefficient("nu") == 0.25 and pde.coefficient(3.0) == 3.0


def test_check_pinn_residual_and_solver_see_the_same_coefficients():
    pde = _pde()
    assert check_consistency(pde, size=16).ok
    grid = grid_for(pde, 16)
    k = grid.wavenumbers(jnp.float64)[0]
    np.testing.assert_allclose(linear_symbol(pde, grid)[0], -0.5 * k**2 - 0.1 - 0.03125 * k**4, atol=1e-12)

    def exact(point):
        return jnp.exp(RATE * point[1]) * jnp.sin(2 * point[:1])

    points = jnp.array([[0.3, 0.1], [2.0, 0.5], [5.0, 0.9]])
    residual = jax.jit(jax.vmap(lambda p: pointwise_residual(pde, exact, p)))(points)
    assert float(jnp.max(jnp.abs(residual))) < 1e-13
    (x,) = grid.mesh(jnp.float64)
    u = spectral_solve(pde, grid, jnp.sin(2 * x)[None], 0.1, 10, 10)[-1, 0]
    assert float(jnp.max(jnp.abs(u - math.exp(RATE) * jnp.sin(2 * x)))) < 1e-12


@pytest.mark.parametrize("expression, reason", [
    ("abs(nu)", "'abs\\(nu\\)' is not allowed"),
    ("nu.real", "'nu.real' is not allowed"),
    ("__import__('os')", "is not allowed"),
    ("nu[0]", "is not allowed"),
    ("mu - 1", "reads \\['mu'\\], which are not in params"),
    ("nu +", "is not an expression"),
])
def test_anything_but_arithmetic_on_params_is_refused(expression, reason):
    with pytest.raises(ValueError, match=reason) as info:
        _pde(linear={"u": {"u_xx": expression}})
    message = str(info.value)
    assert expression in message and "['F', 'k', 'nu', 'r']" in message and "u_xx" in message
