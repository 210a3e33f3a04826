"""Darcy solver: second-order convergence, exact discrete cases, FNO coefficients (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.spectral.elliptic import solve_darcy
from pdejax.spectral.random import darcy_coefficient

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def _coefficient(p):
    x, y = p
    return 1 + 0.5 * jnp.sin(2 * jnp.pi * x) * jnp.sin(2 * jnp.pi * y) + x


def _exact(p):
    x, y = p
    return jnp.sin(jnp.pi * x) * jnp.sin(jnp.pi * y) * jnp.exp(x)


def _source(p):  # −∇·(a ∇u) by autodiff
    return -jnp.trace(jax.jacfwd(lambda q: _coefficient(q) * jax.grad(_exact)(q))(p))


@jax.jit
def _manufactured(p):
    """Nodal ``(a, f, u)`` of the manufactured problem at points ``p`` of shape ``(n, n, 2)``."""
    return tuple(jax.vmap(jax.vmap(fn))(p) for fn in (_coefficient, _source, _exact))


def _nodes(nx, ny, lengths=(1.0, 1.0)):
    x, y = jnp.meshgrid(jnp.linspace(0, lengths[0], nx), jnp.linspace(0, lengths[1], ny), indexing="ij")
    return jnp.stack([x, y], axis=-1)


@pytest.mark.parametrize("face_mean", ["arithmetic", "harmonic"])
def test_manufactured_solution_is_second_order(face_mean):
    errors = []
    for n in (17, 33, 65, 129):
        a, f, u = _manufactured(_nodes(n, n))
        sol = solve_darcy(a, f, face_mean=face_mean)
        assert sol.converged and sol.iterations < 30
        errors.append(float(jnp.max(jnp.abs(sol.u - u))))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.8) & (orders < 2.2)), (errors, orders)


def test_constant_coefficient_sine_mode_is_exact():
    # On [0, 1] × [0, 2], a sine mode is an eigenvector of the discrete Laplacian, so the
    # discrete solution is the mode scaled by λ / λ_h; the exact preconditioner needs one step.
    lengths, (nx, ny), c = (1.0, 2.0), (33, 49), 2.5
    x, y = jnp.moveaxis(_nodes(nx, ny, lengths), -1, 0)
    kx, ky = 2 * jnp.pi, 1.5 * jnp.pi
    mode = jnp.sin(kx * x) * jnp.sin(ky * y)
    hx, hy = lengths[0] / (nx - 1), lengths[1] / (ny - 1)
    discrete = 4 / hx**2 * jnp.sin(kx * hx / 2) ** 2 + 4 / hy**2 * jnp.sin(ky * hy / 2) ** 2
    sol = solve_darcy(jnp.full((nx, ny), c), c * (kx**2 + ky**2) * mode, lengths=lengths)
    assert sol.iterations <= 2
    np.testing.assert_allclose(sol.u, (kx**2 + ky**2) / discrete * mode, atol=1e-12)


def test_dirichlet_data_is_lifted():
    x, y = jnp.moveaxis(_nodes(21, 21), -1, 0)
    harmonic = 1 + x + 2 * y + 3 * x * y  # discretely harmonic: reproduced exactly
    sol = solve_darcy(jnp.full((21, 21), 2.0), 0.0, boundary=harmonic)
    np.testing.assert_allclose(sol.u, harmonic, atol=1e-12)


def test_fno_coefficients_solve_batched():
    keys = jax.random.split(jax.random.key(0), 2)
    a = jax.vmap(lambda k: darcy_coefficient(k, 65))(keys)
    sol = jax.vmap(solve_darcy)(a)
    assert sol.u.shape == (2, 65, 65)
    assert np.all(sol.converged) and np.all(sol.iterations < 40) and np.all(sol.residual < 1e-12)
    assert np.all(sol.u[:, 1:-1, 1:-1] > 0) and np.all(sol.u[:, 0] == 0)  # maximum principle, f = 1
    np.testing.assert_allclose(sol.u[1], solve_darcy(a[1]).u, atol=1e-12)
    single = solve_darcy(a[0].astype(jnp.float32))
    assert single.converged and single.u.dtype == jnp.float32
    np.testing.assert_allclose(single.u, sol.u[0], atol=1e-4 * float(jnp.max(sol.u[0])))


def test_non_convergence_is_reported():
    a = darcy_coefficient(jax.random.key(1), 33)
    sol = solve_darcy(a, maxiter=3)
    assert not sol.converged and sol.iterations == 3 and sol.residual > 1e-6


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="face_mean"):
        solve_darcy(jnp.ones((9, 9)), face_mean="geometric")
    with pytest.raises(ValueError, match="shape"):
        solve_darcy(jnp.ones((9,)))
