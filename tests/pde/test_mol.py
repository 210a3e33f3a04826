"""Method of lines with diffrax: heat vs exact (Fourier), Burgers vs Cole–Hopf (Chebyshev), vmap (float64)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import burgers, grid_for, heat
from pdejax.pde.exact import burgers_sine
from pdejax.pde.mol import initial_fields, mol_vector_field, solve_mol
from pdejax.spectral.chebyshev import ChebyshevGrid

# Module-level PDE objects: diffrax's jit cache hits when the same definition is reused.
HEAT = heat(kappa=0.1, mode=2)
FOURIER = grid_for(HEAT, 16)
BURGERS = burgers(nu=0.1)
CHEB = ChebyshevGrid(("x",), (-1.0,), (1.0,), (48,))
TS = np.array([0.0, 0.25, 0.5])


def _solve_heat(u0):
    return solve_mol(HEAT, FOURIER, u0, np.linspace(0.0, 1.0, 5), rtol=1e-11, atol=1e-11)


pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def test_heat_fourier_matches_exact():
    us = _solve_heat(initial_fields(HEAT, FOURIER, jnp.float64))
    (x,) = FOURIER.mesh(jnp.float64)
    k = 4 * math.pi
    exact = np.exp(-0.1 * k**2 * np.linspace(0.0, 1.0, 5))[:, None] * np.sin(k * np.asarray(x))
    assert us.shape == (5, 1, 16)
    assert np.max(np.abs(us[:, 0] - exact)) <= 1e-9


@pytest.mark.parametrize("solver", ["tsit5", "kvaerno5"])
def test_burgers_chebyshev_matches_cole_hopf(solver):
    u0 = initial_fields(BURGERS, CHEB, jnp.float64)
    us = solve_mol(BURGERS, CHEB, u0, TS, solver=solver, rtol=1e-10, atol=1e-10)
    x = np.asarray(CHEB.coordinates(jnp.float64)[0])
    exact = np.stack([burgers_sine(x, t, 0.1) for t in TS])
    assert np.max(np.abs(us[:, 0] - exact)) <= 1e-7
    assert np.max(np.abs(us[:, 0, [0, -1]])) <= 1e-20  # Dirichlet nodes held (up to Newton round-off)


def test_vmap_over_initial_conditions():
    # Each trajectory keeps its own adaptive steps. (On a stiff system, e.g. Burgers with
    # Tsit5 at its stability limit, accept/reject decisions follow round-off, and the
    # batched and single solves then differ at the level of the tolerance instead.)
    u0 = initial_fields(HEAT, FOURIER, jnp.float64)
    (x,) = FOURIER.mesh(jnp.float64)
    batch = jnp.stack([u0, jnp.cos(2 * jnp.pi * x)[None] + 0.5 * u0**2])
    together = jax.vmap(_solve_heat)(batch)
    for i in range(2):
        np.testing.assert_allclose(together[i], _solve_heat(batch[i]), rtol=0, atol=1e-14)


def test_rejections():
    with pytest.raises(ValueError, match="unknown solver"):
        solve_mol(BURGERS, CHEB, jnp.zeros((1, 48)), TS, solver="rk4")
    with pytest.raises(ValueError, match="Dirichlet"):
        mol_vector_field(heat(), ChebyshevGrid(("x",), (0.0,), (1.0,), (8,)))
