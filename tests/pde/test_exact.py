"""Tests for the exact Cole--Hopf Burgers solutions in pdejax.pde.exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pdejax.pde import exact
from pdejax.pde.exact import burgers_cole_hopf, burgers_sine

# /work/main/../shared/data: shared data live next to the repository checkout.
REFERENCE_FILE = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "burgers_raissi.npz"
)

NU_SINE = 0.01 / np.pi

# 6th-order central-difference stencils (offsets -3..3).
_D1 = np.array([-1 / 60, 3 / 20, -3 / 4, 0.0, 3 / 4, -3 / 20, 1 / 60])
_D2 = np.array([1 / 90, -3 / 20, 3 / 2, -49 / 18, 3 / 2, -3 / 20, 1 / 90])
_OFFSETS = np.arange(-3, 4)


def _two_mode(c: float):
    """u0 = c + sin(2 pi y) + 0.5 cos(4 pi y) and its closed-form potential.

    A nonzero mean c makes the potential non-periodic (linear growth), which
    exercises the whole-line formula beyond the zero-mean periodic case.
    """

    def initial(y):
        return c + np.sin(2 * np.pi * y) + 0.5 * np.cos(4 * np.pi * y)

    def potential(y):
        return (
            c * y
            + (1.0 - np.cos(2 * np.pi * y)) / (2 * np.pi)
            + 0.5 * np.sin(4 * np.pi * y) / (4 * np.pi)
        )

    return initial, potential


def _residual(u, x, t, nu, h=5e-3):
    """u_t + u u_x - nu u_xx at points (x, t) by 6th-order central differences.

    u(x, t) is a vectorised callable. All stencil values are computed in two
    calls so the test stays fast.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    ux_vals = u(x[:, None] + h * _OFFSETS, t[:, None] + 0.0 * _OFFSETS)
    ut_vals = u(x[:, None] + 0.0 * _OFFSETS, t[:, None] + h * _OFFSETS)
    u0 = ux_vals[:, 3]
    u_x = ux_vals @ _D1 / h
    u_xx = ux_vals @ _D2 / h**2
    u_t = ut_vals @ _D1 / h
    return u_t + u0 * u_x - nu * u_xx


# Why 1e-6: with h = 5e-3 the 6th-order truncation error is
# ~h^6 |d^7 u| / 140, measured (it scales like h^6) at <= ~3e-10 for
# nu = 0.1, t in [0.2, 1], where the front is already fairly steep. The
# quadrature error of u (<= ~1e-12 at the default n_quad) and round-off
# (~1e-16 / h^2 * nu) add <= ~1e-9 after differentiation. Observed maxima are
# 3e-10 .. 7e-10, so 1e-6 leaves three orders of margin for other BLAS/libm
# builds, while any real mistake (wrong viscosity, sign or scaling in the
# formula) gives O(1e-1..1): see the wrong-nu control below (~1.3).
RESIDUAL_TOL = 1e-6


# ---------------------------------------------------------------------------
# 1. Published reference data (nu = 0.01/pi, 256 x 100 grid).
# ---------------------------------------------------------------------------


def test_matches_published_reference():
    if not REFERENCE_FILE.is_file():
        pytest.skip(f"reference data not found at {REFERENCE_FILE.resolve()}")
    data = np.load(REFERENCE_FILE)
    x, t, usol = data["x"], data["t"], data["usol"]
    assert x.shape == (256, 1) and t.shape == (100, 1) and usol.shape == (256, 100)
    u = burgers_sine(x, t.T)  # (256, 1) x (1, 100) -> (256, 100)
    assert u.shape == usol.shape and u.dtype == np.float64
    err = np.max(np.abs(u - usol))
    # Measured ~4.2e-11 (the reference's own accuracy near the x = 0 front).
    assert err <= 1e-9, err


# ---------------------------------------------------------------------------
# 2a. Initial condition.
# ---------------------------------------------------------------------------


def test_t0_returns_initial_condition():
    x = np.linspace(-1, 1, 101)
    np.testing.assert_array_equal(burgers_sine(x, 0.0), -np.sin(np.pi * x))

    initial, potential = _two_mode(0.25)
    np.testing.assert_array_equal(
        burgers_cole_hopf(x, 0.0, 0.1, potential, initial), initial(x)
    )


def test_small_t_continuous_with_initial_condition():
    # The quadrature branch (t > 0) must join the t == 0 branch: over a time
    # dt the solution moves by ~dt * |u_t| <= dt * (pi + nu pi^2).
    x = np.linspace(-1, 1, 101)
    dt = 1e-8
    np.testing.assert_allclose(
        burgers_sine(x, dt), -np.sin(np.pi * x), rtol=0, atol=1e-7
    )


# ---------------------------------------------------------------------------
# 2b. PDE residual for the sine initial condition.
# ---------------------------------------------------------------------------


def test_pde_residual_sine():
    nu = 0.1
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, size=12)
    t = rng.uniform(0.2, 1.0, size=12)

    def u(xx, tt):
        return burgers_sine(xx, tt, nu)

    res = _residual(u, x, t, nu)
    assert np.max(np.abs(res)) < RESIDUAL_TOL, res

    # Control: the same solution must *fail* the residual test for a wrong
    # viscosity, otherwise the check above would be vacuous.
    wrong = _residual(u, x, t, 2 * nu)
    assert np.max(np.abs(wrong)) > 1e3 * RESIDUAL_TOL


def test_pde_residual_sine_benchmark_viscosity_smooth_region():
    # nu = 0.01/pi away from the x = 0 front (and before it steepens), where
    # derivatives are moderate; h is smaller because the scales are finer.
    x = np.array([-0.8, -0.6, 0.5, 0.7, 0.9])
    t = np.array([0.05, 0.1, 0.15, 0.2, 0.25])
    res = _residual(
        lambda xx, tt: burgers_sine(xx, tt, NU_SINE), x, t, NU_SINE, h=2e-3
    )
    assert np.max(np.abs(res)) < RESIDUAL_TOL, res


# ---------------------------------------------------------------------------
# 2c. A different smooth periodic initial condition.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("c", [0.0, 0.25])
def test_pde_residual_two_mode(c):
    nu = 0.1
    initial, potential = _two_mode(c)
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 1.0, size=12)
    t = rng.uniform(0.2, 1.0, size=12)

    def u(xx, tt):
        return burgers_cole_hopf(xx, tt, nu, potential, initial)

    res = _residual(u, x, t, nu)
    assert np.max(np.abs(res)) < RESIDUAL_TOL, res


@pytest.mark.parametrize("c", [0.0, 0.25])
def test_mean_conserved_two_mode(c):
    nu = 0.1
    initial, potential = _two_mode(c)
    # Uniform periodic grid: the plain average is spectrally accurate for the
    # mean of a smooth 1-periodic function.
    x = np.arange(256)[:, None] / 256
    t = np.array([[0.0, 0.05, 0.2, 0.5, 1.0]])
    u = burgers_cole_hopf(x, t, nu, potential, initial)
    means = u.mean(axis=0)
    np.testing.assert_allclose(means, c, rtol=0, atol=1e-12)
    # Not trivially constant: the solution does evolve.
    assert np.max(np.abs(u[:, -1] - u[:, 0])) > 0.1


def test_galilean_invariance_two_mode():
    # Burgers is Galilean invariant: adding a constant c to the data gives
    # u_c(x, t) = c + u_0(x - c t, t). Independent of the formula's details.
    nu, c = 0.1, 0.25
    init0, pot0 = _two_mode(0.0)
    initc, potc = _two_mode(c)
    x = np.linspace(0.0, 1.0, 41)[:, None]
    t = np.array([[0.1, 0.4, 0.9]])
    uc = burgers_cole_hopf(x, t, nu, potc, initc)
    u0 = burgers_cole_hopf(x - c * t, t, nu, pot0, init0)
    np.testing.assert_allclose(uc, c + u0, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------
# 2d. Dirichlet boundary values and symmetry of the benchmark.
# ---------------------------------------------------------------------------


def test_sine_boundary_values_vanish():
    t = np.linspace(0.0, 1.0, 51)
    for nu in (NU_SINE, 0.1):
        for xb in (-1.0, 1.0):
            np.testing.assert_allclose(
                burgers_sine(xb, t, nu), 0.0, rtol=0, atol=1e-13
            )


def test_sine_is_odd_in_x():
    x = np.linspace(0.0, 1.0, 65)[:, None]
    t = np.linspace(0.0, 1.0, 11)[None, :]
    np.testing.assert_allclose(
        burgers_sine(-x, t), -burgers_sine(x, t), rtol=0, atol=1e-13
    )


# ---------------------------------------------------------------------------
# Shapes, chunking, convergence in n_quad, argument checks.
# ---------------------------------------------------------------------------


def test_broadcast_shapes_and_scalars():
    assert burgers_sine(np.zeros((3, 1, 2)), np.full((4, 1), 0.3)).shape == (3, 4, 2)
    u = burgers_sine(0.5, 0.3)
    assert isinstance(u, np.ndarray) and u.shape == () and u.dtype == np.float64


def test_chunking_is_transparent(monkeypatch):
    x = np.linspace(-1, 1, 37)[:, None]
    t = np.linspace(0.0, 1.0, 9)[None, :]
    full = burgers_sine(x, t)
    # Force many small chunks (including a ragged last one).
    monkeypatch.setattr(exact, "_CHUNK_ELEMENTS", 5 * exact.DEFAULT_N_QUAD)
    # Only the BLAS summation order may change with the chunk size.
    np.testing.assert_allclose(burgers_sine(x, t), full, rtol=0, atol=1e-15)


def test_default_n_quad_converged():
    x = np.linspace(-1, 1, 129)[:, None]
    t = np.array([[0.1, 0.3, 1 / np.pi, 0.6, 1.0]])
    ref = burgers_sine(x, t, n_quad=2 * exact.DEFAULT_N_QUAD)
    np.testing.assert_allclose(burgers_sine(x, t), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [dict(t=-0.1), dict(t=np.nan), dict(nu=0.0), dict(nu=-1.0), dict(n_quad=0)],
)
def test_invalid_arguments(kwargs):
    args = dict(x=0.0, t=0.5, nu=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError):
        burgers_sine(**args)
