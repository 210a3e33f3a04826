"""Forward-mode derivatives at points against closed forms, in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import PDE, Box, Periodic, directional_tower, heat, point_derivatives, pointwise_residual

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def f(p):
    x, y = p[0], p[1]
    return jnp.stack([jnp.sin(2 * x) * jnp.exp(0.5 * y), x**3 * y])


@pytest.mark.parametrize("mode", ["jvp", "jet"])
def test_tower_matches_closed_form(mode):
    p = jnp.array([0.3, -0.7])
    tower = directional_tower(f, p, jnp.array([1.0, 0.0]), 4, mode)
    e = np.exp(0.5 * -0.7)
    expected_u = [np.sin(0.6) * e, 2 * np.cos(0.6) * e, -4 * np.sin(0.6) * e, -8 * np.cos(0.6) * e,
                  16 * np.sin(0.6) * e]
    np.testing.assert_allclose([t[0] for t in tower], expected_u, rtol=1e-13)
    np.testing.assert_allclose([t[1] for t in tower], [0.027 * -0.7, 3 * 0.09 * -0.7, 6 * 0.3 * -0.7, -4.2, 0],
                               rtol=1e-13, atol=1e-13)


def test_point_derivatives_mixed_and_pure():
    p = jnp.array([0.3, -0.7])
    req = {("u", (("x", 2),)), ("u", (("x", 1), ("y", 1))), ("v", (("y", 1),)), ("v", (("x", 1),))}
    out = point_derivatives(f, p, req, ("u", "v"), ("x", "y"))
    e = np.exp(-0.35)
    assert np.isclose(out[("u", (("x", 2),))], -4 * np.sin(0.6) * e, rtol=1e-13)
    assert np.isclose(out[("u", (("x", 1), ("y", 1)))], np.cos(0.6) * e, rtol=1e-13)
    assert np.isclose(out[("v", (("y", 1),))], 0.027, rtol=1e-13)
    assert np.isclose(out[("v", (("x", 1),))], 3 * 0.09 * -0.7, rtol=1e-13)
    assert np.isclose(out[("u", ())], np.sin(0.6) * e, rtol=1e-13)


def test_residual_of_exact_heat_solution_vanishes():
    pde = heat(kappa=0.3)
    k = 2 * np.pi

    def exact(p):
        return jnp.exp(-0.3 * k**2 * p[1]) * jnp.sin(k * p[0])[None]

    pts = jax.random.uniform(jax.random.PRNGKey(0), (64, 2), jnp.float64)
    res = jax.vmap(lambda p: pointwise_residual(pde, exact, p))(pts)
    assert res.shape == (64, 1)
    assert np.max(np.abs(res)) < 1e-12
    wrong = jax.vmap(lambda p: pointwise_residual(heat(kappa=0.31), exact, p))(pts)
    assert np.max(np.abs(wrong)) > 1e-2  # the check can fail


def test_kdv_soliton_residual_with_third_derivative():
    """A user-defined PDE with u_xxx (Taylor mode) is exactly solved by the KdV soliton."""
    c = 2.0
    kdv = PDE(name="kdv", fields=("u",), domain=Box(x=(-10.0, 10.0), t=(0.0, 1.0)),
              linear={"u": {"u_xxx": -1.0}}, nonlinear=lambda f, p: {"u": -6 * f.u * f.u_x},
              initial=lambda x, p: {"u": c / 2 / jnp.cosh(np.sqrt(c) / 2 * x[0]) ** 2},
              boundary=Periodic())

    def soliton(p):
        return (c / 2 / jnp.cosh(np.sqrt(c) / 2 * (p[0] - c * p[1])) ** 2)[None]

    pts = jax.random.uniform(jax.random.PRNGKey(1), (32, 2), jnp.float64, -3, 3)
    for mode in ("jvp", "jet"):
        res = jax.vmap(lambda p, m=mode: pointwise_residual(kdv, soliton, p, m))(pts)
        assert np.max(np.abs(res)) < 1e-12


def test_bad_derivative_name_is_reported():
    pde = PDE(name="bad", fields=("u",), domain=Box(x=(0.0, 1.0), t=(0.0, 1.0)),
              nonlinear=lambda f, p: {"u": f.u_y}, initial=lambda x, p: {"u": x[0]})
    with pytest.raises(AttributeError, match="u_y"):
        pointwise_residual(pde, lambda p: p[:1], jnp.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="unknown field"):
        PDE(name="bad", fields=("u",), domain=Box(x=(0.0, 1.0)), linear={"v": {"u_xx": 1.0}})
