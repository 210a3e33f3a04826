"""The library's PDEs solved pseudo-spectrally from their definitions (float64 unless noted)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import (
    PDES,
    grid_for,
    initial_condition,
    kdv,
    kuramoto_sivashinsky,
    navier_stokes_2d,
    spectral_solve,
)


def _final(pde, size, dt, t_end, u0=None, **kw):
    grid = grid_for(pde, size)
    u0 = initial_condition(pde, grid) if u0 is None else u0
    n = int(round(t_end / dt))
    return grid, np.asarray(jax.jit(lambda u: spectral_solve(pde, grid, u, dt, n, n, **kw))(u0)[-1])


def _exact_on_grid(pde, grid, t):
    mesh = [np.asarray(m).ravel() for m in grid.mesh(jnp.float64)]
    points = np.stack([*mesh, np.full(mesh[0].shape, t)], axis=-1)
    return pde.exact(points, pde.params).T.reshape((len(pde.fields), *grid.sizes))


def test_kdv_soliton_after_one_period(x64):
    pde = kdv(speed=4.0, length=40.0)  # one period: t = L / c = 10
    grid, u = _final(pde, 256, 5e-4, pde.domain.time[1])
    err = np.max(np.abs(u - _exact_on_grid(pde, grid, pde.domain.time[1])))
    assert err <= 1e-7, err


def test_taylor_green_vortex_decays_exactly(x64):
    """The constraint field psi is eliminated in Fourier space; Taylor–Green is exact."""
    pde = navier_stokes_2d(nu=0.05, forcing="none", drag=0.1)
    grid, w = _final(pde, 32, 0.05, 2.0)
    exact = _exact_on_grid(pde, grid, 2.0)[:1]  # the evolving field w
    assert np.max(np.abs(w - exact)) <= 1e-12 * np.max(np.abs(exact))


def test_kolmogorov_laminar_flow_is_steady(x64):
    pde = navier_stokes_2d(nu=0.05, forcing="kolmogorov", drag=0.1, wavenumber=4)
    grid = grid_for(pde, 32)
    _, y = grid.mesh(jnp.float64)
    q = 4.0  # k κ with κ = 1 on [0, 2π)
    laminar = (-q * jnp.cos(q * y) / (0.05 * q**2 + 0.1))[None]
    _, w = _final(pde, 32, 0.1, 5.0, u0=laminar)
    assert np.max(np.abs(w - np.asarray(laminar))) <= 1e-12 * np.max(np.abs(laminar))


@pytest.mark.parametrize("name, size, t_end, dts", [
    ("allen_cahn", 256, 1.0, (0.02, 0.01, 0.005)),
    ("fisher_kpp", 256, 5.0, (0.2, 0.1, 0.05)),
])
def test_etdrk4_is_fourth_order(name, size, t_end, dts, x64):
    pde = PDES.build(name, {}, where="pde")
    ref = _final(pde, size, dts[-1] / 8, t_end)[1]
    errors = np.array([np.max(np.abs(_final(pde, size, dt, t_end)[1] - ref)) for dt in dts])
    orders = np.log2(errors[:-1] / errors[1:])
    assert np.all((orders > 3.7) & (orders < 4.3)), (errors, orders)


def test_kuramoto_sivashinsky_float32_is_stable_and_tracks_float64():
    """Float32 runs use float64-computed ETDRK4 coefficients and stay on the attractor;
    until chaos amplifies round-off (by ~e^{0.1 t}: 4e-7 at t = 0 ... 2e-5 at t = 30,
    O(1) after t ≈ 130) they agree with float64."""
    pde = kuramoto_sivashinsky()
    grid = grid_for(pde, 128)
    results = {}
    for enable in (True, False):
        with jax.enable_x64(enable):
            u0 = initial_condition(pde, grid)
            traj = jax.jit(lambda u: spectral_solve(pde, grid, u, 0.25, 1200, 40))(u0)
            results[enable] = np.asarray(traj, np.float64)
    assert results[False].dtype == np.float64 and np.all(np.isfinite(results[False]))
    assert np.max(np.abs(results[False])) < 5.0  # KS with L = 32π stays within |u| ≲ 3.5
    early = slice(0, 4)  # t ≤ 30
    diff = np.max(np.abs(results[False][early] - results[True][early]))
    assert diff <= 1e-4 * np.max(np.abs(results[True][early])), diff


def test_fisher_kpp_stays_between_zero_and_one(x64):
    pde = PDES.build("fisher_kpp", {}, where="pde")
    _, u = _final(pde, 256, 0.1, 10.0)
    assert -1e-6 < u.min() and u.max() < 1 + 1e-6
    front = np.mean(u > 0.5) * 10.0  # width of the invaded region
    assert front > 2 * 2 * math.sqrt(0.01) * 5.0  # the fronts moved out
