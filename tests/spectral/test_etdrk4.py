"""ETDRK4 from PDE definitions: exact heat decay, Burgers vs Cole–Hopf, fourth order (float64)."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import burgers, grid_for, heat
from pdejax.pde.exact import burgers_sine
from pdejax.pde.solve import etdrk4_stepper, from_fourier, linear_symbol, to_fourier
from pdejax.spectral import rollout

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def _solve(pde, size, dt, t_end, u0):
    grid = grid_for(pde, size)
    (x,) = grid.mesh(jnp.float64)
    step = etdrk4_stepper(pde, grid, dt)
    v = rollout(step, int(round(t_end / dt)))(to_fourier(grid, u0(x)[None]), pde.domain.time[0])[-1]
    return np.asarray(x), np.asarray(from_fourier(grid, v)[0])


def test_heat_is_exact():
    pde = heat(kappa=0.1, mode=2)
    k = 4 * math.pi
    x, u = _solve(pde, 32, 0.05, 1.0, lambda x: jnp.sin(k * x))
    assert np.max(np.abs(u - np.exp(-0.1 * k**2) * np.sin(k * x))) <= 1e-12


def test_burgers_matches_cole_hopf():
    x, u = _solve(burgers(nu=0.1, periodic=True), 128, 0.005, 0.5, lambda x: -jnp.sin(jnp.pi * x))
    assert np.max(np.abs(u - burgers_sine(x, 0.5, 0.1))) <= 1e-8


def test_temporal_order_is_four():
    errors = []
    dts = [0.02, 0.01, 0.005]
    for dt in dts:
        x, u = _solve(burgers(nu=0.1, periodic=True), 128, dt, 0.5, lambda x: -jnp.sin(jnp.pi * x))
        errors.append(np.max(np.abs(u - burgers_sine(x, 0.5, 0.1))))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 3.7) & (orders < 4.3)), (errors, orders)


def test_symbol_from_definition():
    pde = burgers(nu=0.1, periodic=True)
    grid = grid_for(pde, 16)
    sym = linear_symbol(pde, grid)
    k = grid.wavenumbers(jnp.float64)[0]
    assert jnp.isrealobj(sym)
    np.testing.assert_allclose(sym[0], -0.1 * k**2)
