"""Inputs the solvers cannot honour are refused with an error naming the input and what is valid:
non-periodic boundaries on periodic-only paths, initial conditions of the wrong shape, and an
explicit method of lines that runs out of steps (float64)."""

import re

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.config.errors import ConfigError
from pdejax.pde import (
    PDE,
    Box,
    burgers,
    etdrk4_stepper,
    grid_for,
    grid_rhs,
    heat,
    initial_fields,
    solve_mol,
    spectral_solve,
)
from pdejax.pde.grid import box_grid
from pdejax.spectral.chebyshev import ChebyshevGrid

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)

DIRICHLET = burgers(nu=0.1)  # u = 0 at x = ±1, not periodic
FOURIER = box_grid(DIRICHLET, 32)
CHEB = ChebyshevGrid(("x",), (-1.0,), (1.0,), (24,))
NON_PERIODIC = r"boundary Dirichlet\(value=0\.0\).*periodic-only.*solve_mol.*ChebyshevGrid.*solve_steady_linear"


@pytest.mark.parametrize("call", [
    lambda: grid_for(DIRICHLET, 32),
    lambda: etdrk4_stepper(DIRICHLET, FOURIER, 0.01),
    lambda: spectral_solve(DIRICHLET, FOURIER, jnp.zeros((1, 32)), 0.01, 4),
    lambda: grid_rhs(DIRICHLET, FOURIER, jnp.zeros((1, 32))),
    lambda: solve_mol(DIRICHLET, FOURIER, jnp.zeros((1, 32)), jnp.linspace(0.0, 0.1, 2)),
], ids=["grid_for", "etdrk4_stepper", "spectral_solve", "grid_rhs", "solve_mol_fourier"])
def test_periodic_only_paths_refuse_a_dirichlet_pde(call):
    with pytest.raises(ValueError, match=NON_PERIODIC):
        call()


def test_the_chebyshev_path_still_takes_dirichlet():
    u = initial_fields(DIRICHLET, CHEB)
    assert grid_rhs(DIRICHLET, CHEB, u).shape == (1, 24)


def test_pino_physics_residual_refuses_a_non_periodic_pde():
    from pdejax.methods.operator.physics import physics_for
    from pdejax.objectives import PhysicsResidual

    with pytest.raises(ConfigError, match="periodic"):
        physics_for(DIRICHLET, None, "tensor", None)
    with pytest.raises(ValueError, match=NON_PERIODIC):  # built directly: refused by grid_rhs
        PhysicsResidual(DIRICHLET, 0.1, 1.0)(jnp.zeros((3, 1, 32)))


HEAT = heat(kappa=0.1)
HEAT_GRID = grid_for(HEAT, 16)


@pytest.mark.parametrize("shape", [(16,), (2, 16), (1, 15), (1, 1, 16)],
                         ids=["no_field_axis", "extra_channel", "wrong_size", "batched"])
def test_initial_condition_of_the_wrong_shape_is_named(shape):
    u0 = jnp.zeros(shape)
    expected = re.escape(f"u0 has shape {tuple(shape)}; expected (n_fields, *grid.sizes) = (1, 16)")
    with pytest.raises(ValueError, match="spectral_solve: initial condition " + expected):
        spectral_solve(HEAT, HEAT_GRID, u0, 0.01, 4)
    with pytest.raises(ValueError, match="solve_mol: initial condition " + expected):
        solve_mol(HEAT, HEAT_GRID, u0, jnp.linspace(0.0, 0.1, 2))


def _stiff_dirichlet():
    return PDE(name="stiff_heat", fields=("u",), domain=Box(x=(-1.0, 1.0), t=(0.0, 1.0)),
               linear={"u": {"u_xx": 1.0}}, initial=lambda x, p: {"u": jnp.sin(jnp.pi * x[0])})


def test_explicit_mol_out_of_steps_is_one_clear_error():
    pde = _stiff_dirichlet()
    grid = ChebyshevGrid(("x",), (-1.0,), (1.0,), (32,))
    u0 = initial_fields(pde, grid)
    ts = jnp.linspace(0.0, 1.0, 3)
    message = r"solve_mol: tsit5 stopped before the final time \(.*max_steps=20\).*solver=\"kvaerno5\""
    with pytest.raises(RuntimeError, match=message):
        solve_mol(pde, grid, u0, ts, max_steps=20)
    # Under an outer jit the failure is known only at run time: eqx.error_if, same message.
    with pytest.raises(eqx.EquinoxRuntimeError, match="kvaerno5"):
        np.asarray(eqx.filter_jit(lambda u: solve_mol(pde, grid, u, ts, max_steps=20))(u0))
