"""Chebyshev grids: derivatives, coefficients, interpolation, and steady Poisson solves (float64)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde.base import PDE
from pdejax.pde.conditions import Dirichlet
from pdejax.pde.domain import Box
from pdejax.pde.mol import solve_steady_linear
from pdejax.spectral.chebyshev import ChebyshevGrid

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def _max_error(a, b):
    return float(jnp.max(jnp.abs(a - b)))


def _relative_error(a, b):
    return _max_error(a, b) / float(jnp.max(jnp.abs(b)))


def test_derivatives_1d():
    grid = ChebyshevGrid(("x",), (0.0,), (2.0,), (21,))
    (x,) = grid.mesh(jnp.float64)
    u = jnp.exp(x) * jnp.sin(2 * x)
    du = jnp.exp(x) * (jnp.sin(2 * x) + 2 * jnp.cos(2 * x))
    d2u = jnp.exp(x) * (4 * jnp.cos(2 * x) - 3 * jnp.sin(2 * x))
    assert _relative_error(grid.derivative(u, {"x": 1}), du) <= 1e-12
    assert _relative_error(grid.derivative(u, {"x": 2}), d2u) <= 5e-12
    assert (x[0], x[-1]) == (0.0, 2.0)


def test_derivatives_2d_mixed():
    grid = ChebyshevGrid(("x", "y"), (-1.0, 0.0), (1.0, 3.0), (17, 21))
    x, y = grid.mesh(jnp.float64)
    u = jnp.sin(x + 0.5 * y) * jnp.exp(0.3 * y)
    u_xy = 0.3 * jnp.cos(x + 0.5 * y) * jnp.exp(0.3 * y) - 0.5 * u
    assert _relative_error(grid.derivative(u, {"x": 1, "y": 1}), u_xy) <= 5e-12
    assert _relative_error(grid.derivative(u, {"x": 2}), -u) <= 5e-12


def test_coefficients():
    grid = ChebyshevGrid(("x", "y"), (0.0, -2.0), (1.0, 2.0), (9, 12))
    x, y = grid.mesh(jnp.float64)
    xh, yh = 2 * x - 1, y / 2  # mapped onto [-1, 1]
    t2_t3 = (2 * xh**2 - 1) * (4 * yh**3 - 3 * yh)
    expected = np.zeros(grid.sizes)
    expected[2, 3] = 1.0
    assert _max_error(grid.to_coefficients(t2_t3), expected) <= 1e-14
    u = jnp.asarray(np.random.default_rng(0).normal(size=(2, *grid.sizes)))  # a leading field axis
    assert _max_error(grid.from_coefficients(grid.to_coefficients(u)), u) <= 1e-13


def test_interpolation_and_boundary_mask():
    grid = ChebyshevGrid(("x", "y"), (-1.0, 0.0), (1.0, 2.0), (24, 20))
    x, y = grid.mesh(jnp.float64)
    fn = lambda x, y: jnp.cos(2 * x - y) * jnp.exp(x * y / 4)  # noqa: E731
    points = jnp.asarray(np.random.default_rng(1).uniform((-1.0, 0.0), (1.0, 2.0), size=(50, 2)))
    assert _max_error(grid.interpolate(fn(x, y), points), fn(points[:, 0], points[:, 1])) <= 1e-12
    on_nodes = jnp.stack([x[3:5, 7], y[3:5, 7]], axis=-1)
    np.testing.assert_array_equal(grid.interpolate(fn(x, y), on_nodes), fn(x, y)[3:5, 7])
    assert int(grid.boundary_mask().sum()) == 2 * 24 + 2 * 20 - 4


def _poisson(exact, box, extra=lambda f: 0.0, boundary=Dirichlet(0.0)):
    """``0 = u_xx + u_yy + extra(f) + s`` with the source ``s`` from autodiff of ``exact``."""

    def residual_of_exact(x, y):
        h = jax.hessian(lambda p: exact(p[0], p[1]))(jnp.stack([x, y]))
        u_y = jax.grad(exact, argnums=1)(x, y)
        return h[0, 0] + h[1, 1] + extra({"x": x, "u_y": u_y})

    source = jnp.vectorize(lambda x, y: -residual_of_exact(x, y))
    return PDE(name="poisson", fields=("u",), domain=box, linear={"u": {"u_xx": 1.0, "u_yy": 1.0}},
               nonlinear=lambda f, p: {"u": extra({"x": f.x, "u_y": f.u_y}) + source(f.x, f.y)},
               boundary=boundary)


def test_poisson_manufactured():
    exact = lambda x, y: jnp.sin(jnp.pi * x) * jnp.sin(jnp.pi * y) * jnp.exp(x)  # noqa: E731
    pde = _poisson(exact, Box(x=(-1.0, 1.0), y=(-1.0, 1.0)))
    grid = ChebyshevGrid(("x", "y"), (-1.0, -1.0), (1.0, 1.0), (24, 24))
    u = solve_steady_linear(pde, grid, dtype=jnp.float64)
    assert u.shape == (1, 24, 24)
    assert _max_error(u[0], exact(*grid.mesh(jnp.float64))) <= 1e-10


def test_nonzero_dirichlet_and_variable_coefficient():
    # 0 = Δu + (1 + x²) u_y + s on a rectangle, with u = exact on the boundary.
    exact = lambda x, y: jnp.exp(x) * jnp.cos(y) + x * y**2  # noqa: E731
    pde = _poisson(exact, Box(x=(0.0, 1.0), y=(-1.0, 2.0)), extra=lambda f: (1 + f["x"] ** 2) * f["u_y"])
    grid = ChebyshevGrid(("x", "y"), (0.0, -1.0), (1.0, 2.0), (20, 24))
    u_exact = exact(*grid.mesh(jnp.float64))
    u = solve_steady_linear(pde, grid, u_exact, dtype=jnp.float64)
    assert _max_error(u[0], u_exact) <= 1e-10


def test_constant_dirichlet_from_pde():
    # u'' = -1, u(±1) = 1: u = 1 + (1 - x²) / 2, exact for a polynomial.
    pde = PDE(name="bvp", fields=("u",), domain=Box(x=(-1.0, 1.0)), linear={"u": {"u_xx": 1.0}},
              nonlinear=lambda f, p: {"u": jnp.ones_like(f.x)}, boundary=Dirichlet(1.0))
    grid = ChebyshevGrid(("x",), (-1.0,), (1.0,), (8,))
    (x,) = grid.mesh(jnp.float64)
    assert _max_error(solve_steady_linear(pde, grid)[0], 1 + (1 - x**2) / 2) <= 1e-13


def test_nonaffine_is_rejected():
    pde = PDE(name="cubic", fields=("u",), domain=Box(x=(-1.0, 1.0)), linear={"u": {"u_xx": 1.0}},
              nonlinear=lambda f, p: {"u": f.u**3 + 1})
    with pytest.raises(eqx.EquinoxRuntimeError, match="not affine"):
        solve_steady_linear(pde, ChebyshevGrid(("x",), (-1.0,), (1.0,), (8,)))
