"""Spectral derivatives against closed forms; the PDE consistency check (float64)."""

import math
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import PDE, PDES, Box, Periodic, check_consistency, grid_for, grid_rhs
from pdejax.spectral import FourierGrid

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


@pytest.mark.parametrize("n", [31, 32])
def test_derivatives_exact_for_band_limited_fields_2d(n):
    g = FourierGrid(("x", "y"), (0.5, -1.0), (2 * math.pi, 1.0), (n, 16))
    x, y = g.mesh(jnp.float64)
    ky = 2 * math.pi * 2
    u = jnp.sin(3 * x) * jnp.cos(ky * y)
    np.testing.assert_allclose(g.derivative(u, {"x": 1}), 3 * jnp.cos(3 * x) * jnp.cos(ky * y), atol=1e-12)
    np.testing.assert_allclose(g.derivative(u, {"x": 3}), -27 * jnp.cos(3 * x) * jnp.cos(ky * y), atol=1e-10)
    np.testing.assert_allclose(g.derivative(u, {"x": 1, "y": 1}), -3 * ky * jnp.cos(3 * x) * jnp.sin(ky * y),
                               atol=1e-10)
    np.testing.assert_allclose(g.derivative(u, {"y": 2}), -ky**2 * u, atol=1e-9)


def test_odd_derivative_of_nyquist_mode_is_zero_and_real():
    g = FourierGrid(("x",), (0.0,), (2 * math.pi,), (8,))
    (x,) = g.mesh(jnp.float64)
    nyquist = jnp.cos(4 * x)  # alternates ±1 on the grid: its derivative is not representable
    assert jnp.max(jnp.abs(g.derivative(nyquist, {"x": 1}))) < 1e-12
    np.testing.assert_allclose(g.derivative(nyquist, {"x": 2}), -16 * nyquist, atol=1e-10)


def test_dealias_mask_keeps_two_thirds():
    g = FourierGrid(("x",), (0.0,), (2 * math.pi,), (48,))
    assert int(g.dealias_mask().sum()) == 16  # |k| < 16 of k = 0..24


def test_grid_rhs_of_heat_matches_closed_form():
    pde = PDES.get("heat", where="pde")(kappa=0.3)
    g = grid_for(pde, 32)
    (x,) = g.mesh(jnp.float64)
    u = jnp.sin(2 * math.pi * x)[None]
    np.testing.assert_allclose(grid_rhs(pde, g, u), -0.3 * (2 * math.pi) ** 2 * u, atol=1e-10)


@pytest.mark.parametrize("name", PDES.names())
def test_every_library_pde_is_consistent(name):
    report = check_consistency(PDES.get(name, where="pde")())
    assert report.ok and report.max_abs_diff < 1e-11, report


def test_user_pde_with_third_derivative_is_consistent():
    kdv = PDE(name="kdv", fields=("u", "v"), domain=Box(x=(-5.0, 5.0), y=(0.0, 2.0), t=(0.0, 1.0)),
              linear={"u": {"u_xxx": -1.0}, "v": {"u_xy": 0.5, "v_yy": 0.1}},
              nonlinear=lambda f, p: {"u": -6 * f.u * f.u_x + jnp.sin(f.v), "v": f.x * f.u},
              initial=lambda x, p: {"u": x[0], "v": x[1]}, boundary=Periodic())
    report = check_consistency(kdv, size=24)
    assert report.ok, report


def test_non_pointwise_term_is_flagged():
    bad = PDE(name="bad", fields=("u",), domain=Box(x=(0.0, 1.0), t=(0.0, 1.0)),
              nonlinear=lambda f, p: {"u": f.u - jnp.mean(f.u)}, initial=lambda x, p: {"u": x[0]},
              boundary=Periodic())
    report = check_consistency(bad)
    assert not report.ok and report.max_abs_diff > 1e-2


def test_cli_check():
    ok = subprocess.run([sys.executable, "-m", "pdejax.cli", "check", "burgers", "nu=0.05"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and '"ok": true' in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "pdejax.cli", "check", "burgers", "nu=-1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "pde.nu" in bad.stderr
