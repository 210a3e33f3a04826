"""Second order in time: Klein–Gordon against exact solutions, sine-Gordon energy (float64)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import (
    PDE,
    Box,
    Periodic,
    check_consistency,
    first_order_system,
    grid_for,
    initial_condition,
    initial_fields,
    initial_velocity_residual,
    pointwise_residual,
    solve_mol,
    spectral_solve,
)

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)

K, M, GAMMA = 3, 1.0, 0.4
OMEGA = math.sqrt(K**2 + M**2)
DAMPED = math.sqrt(K**2 - GAMMA**2 / 4)  # u_tt = u_xx - γ u_t: e^{-γt/2} cos(kx - Ωt)


def klein_gordon(gamma: float = 0.0, t_final: float = 2.0) -> PDE:
    """u_tt = u_xx - m² u - γ u_t on [0, 2π), the plane wave cos(kx - ωt) at t = 0."""
    omega = OMEGA if gamma == 0 else DAMPED
    terms = {"u_xx": 1.0, "u": "-m2"} if gamma == 0 else {"u_xx": 1.0, "u_t": "-gamma"}
    return PDE(name="klein_gordon", fields=("u",), domain=Box(x=(0.0, 2 * math.pi), t=(0.0, t_final)),
               params={"m2": M**2, "gamma": gamma}, second_order=("u",), linear={"u": terms},
               initial=lambda x, p: {"u": jnp.cos(K * x[0]),
                                     "u_t": omega * jnp.sin(K * x[0]) - gamma / 2 * jnp.cos(K * x[0])},
               boundary=Periodic())


def plane_wave(x, t, gamma=0.0):
    """(u, u_t) of the exact solution."""
    omega = OMEGA if gamma == 0 else DAMPED
    decay = np.exp(-gamma * t / 2)
    return (decay * np.cos(K * x - omega * t),
            decay * (omega * np.sin(K * x - omega * t) - gamma / 2 * np.cos(K * x - omega * t)))


@pytest.mark.parametrize("gamma", [0.0, GAMMA])
def test_plane_wave_is_exact_far_beyond_the_explicit_limit(gamma):
    # N = 128: k_max = 42 after 2/3 dealiasing, dt·k_max = 8.4 (RK4's limit on the
    # imaginary axis is 2.83). The linear block is integrated exactly.
    pde = klein_gordon(gamma)
    grid = grid_for(pde, 128)
    (x,) = np.asarray(grid.mesh(jnp.float64))
    u0 = initial_condition(pde, grid)
    assert u0.shape == (2, 128)
    traj = np.asarray(spectral_solve(pde, grid, u0, dt=0.2, n_steps=10, save_every=5))
    u, u_t = plane_wave(x, 2.0, gamma)
    assert np.max(np.abs(traj[-1, 0] - u)) <= 1e-12
    assert np.max(np.abs(traj[-1, 1] - u_t)) <= 1e-12
    if gamma == 0:  # the same system with u_t = v and v_t = u_xx - m²u explicit blows up
        explicit = np.asarray(spectral_solve(first_order_system(pde), grid, u0, dt=0.2, n_steps=10))
        assert not np.all(np.abs(explicit[-1]) < 1e3)


def test_plane_wave_by_the_method_of_lines():
    pde = klein_gordon()
    grid = grid_for(pde, 32)
    (x,) = np.asarray(grid.mesh(jnp.float64))
    ys = np.asarray(solve_mol(pde, grid, initial_fields(pde, grid), jnp.array([0.0, 1.0]), rtol=1e-11, atol=1e-11))
    u, u_t = plane_wave(x, 1.0)
    assert ys.shape == (2, 2, 32)
    assert np.max(np.abs(ys[-1, 0] - u)) <= 1e-9 and np.max(np.abs(ys[-1, 1] - u_t)) <= 1e-9


@pytest.mark.parametrize("gamma", [0.0, GAMMA])
def test_exact_solution_has_round_off_pinn_residual(gamma):
    pde = klein_gordon(gamma)
    omega = OMEGA if gamma == 0 else DAMPED
    exact = lambda p: jnp.exp(-gamma * p[1:] / 2) * jnp.cos(K * p[:1] - omega * p[1])  # noqa: E731
    points = jax.random.uniform(jax.random.PRNGKey(0), (256, 2), jnp.float64) * jnp.array([2 * math.pi, 2.0])
    residual = jax.vmap(lambda p: pointwise_residual(pde, exact, p))(points)
    assert residual.shape == (256, 1)
    assert float(jnp.max(jnp.abs(residual))) <= 1e-12 * OMEGA**2
    wrong = lambda p: jnp.cos(K * p[:1] - 1.01 * omega * p[1])  # noqa: E731
    assert float(jnp.max(jnp.abs(pointwise_residual(pde, wrong, points[0])))) > 1e-3
    velocity = jax.vmap(lambda x: initial_velocity_residual(pde, exact, x))(points[:, :1])
    assert velocity.shape == (256, 1) and float(jnp.max(jnp.abs(velocity))) <= 1e-13
    assert float(jnp.abs(initial_velocity_residual(pde, wrong, points[0, :1])[0])) > 1e-3


def sine_gordon() -> PDE:
    return PDE(name="sine_gordon", fields=("u",), domain=Box(x=(0.0, 2 * math.pi), t=(0.0, 4.0)),
               second_order=("u",), linear={"u": {"u_xx": 1.0}},
               nonlinear=lambda f, p: {"u": -jnp.sin(f.u)},
               initial=lambda x, p: {"u": 2 * jnp.cos(x[0]) + 0.5 * jnp.sin(2 * x[0]), "u_t": 0.5 * jnp.cos(3 * x[0])},
               boundary=Periodic())


def energy(u, u_t, length=2 * math.pi):
    """E = ∫ ½u_t² + ½u_x² + (1 - cos u) dx: u_x² by Parseval, the rest by the grid sum."""
    n = u.shape[-1]
    k = np.fft.rfftfreq(n, 1 / n) * 2 * math.pi / length
    weight = np.where((k == 0) | (np.arange(k.size) == n // 2), 1.0, 2.0)
    gradient = np.sum(weight * k**2 * np.abs(np.fft.rfft(u, axis=-1)) ** 2, -1) * length / n**2
    return length / n * np.sum(0.5 * u_t**2 + 1 - np.cos(u), -1) + 0.5 * gradient


def test_sine_gordon_energy_error_is_fourth_order():
    # The semi-discrete system conserves the grid energy (u, u_t stay inside the 2/3 band),
    # so the energy error is the time-stepping error. The k = 0 block is nilpotent.
    pde = sine_gordon()
    grid = grid_for(pde, 32)
    u0 = initial_condition(pde, grid)
    e0 = energy(*np.asarray(u0))
    errors = []
    dts = [0.2, 0.1, 0.05, 0.025]
    for dt in dts:
        n = int(round(4.0 / dt))
        traj = np.asarray(spectral_solve(pde, grid, u0, dt, n, n // 8))
        errors.append(np.max(np.abs(energy(traj[:, 0], traj[:, 1]) - e0)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 3.5), (errors, orders)


def test_consistency_check_sees_the_velocity():
    def damped_sine_gordon(term):
        return PDE(name="sg", fields=("u",), domain=Box(x=(0.0, 2 * math.pi), t=(0.0, 1.0)), second_order=("u",),
                   params={"g": 0.1}, linear={"u": {"u_xx": 1.0, "u_t": "-g"}}, boundary=Periodic(),
                   nonlinear=lambda f, p: {"u": -jnp.sin(f.u) + term(f)},
                   initial=lambda x, p: {"u": jnp.cos(x[0]), "u_t": 0.0})

    assert check_consistency(damped_sine_gordon(lambda f: f.u_t * f.u_t_x), size=16).ok
    assert not check_consistency(damped_sine_gordon(lambda f: jnp.roll(f.u_t, 1)), size=16).ok


def test_time_derivatives_are_refused_with_the_reason():
    box = Box(x=(0.0, 1.0), t=(0.0, 1.0))
    with pytest.raises(AttributeError, match=r"declare second_order=\('u',\)"):
        PDE(name="wave", fields=("u",), domain=box, linear={"u": {"u_tt": 1.0}}, initial=lambda x, p: {"u": 0.0})
    with pytest.raises(AttributeError, match="its velocity u_t"):
        PDE(name="wave", fields=("u",), domain=box, second_order=("u",), linear={"u": {"u_xt": 1.0}},
            initial=lambda x, p: {"u": 0.0, "u_t": 0.0})
    with pytest.raises(ValueError, match="second_order"):
        PDE(name="wave", fields=("u",), domain=box, second_order=("v",), initial=lambda x, p: {"u": 0.0})
    wave = PDE(name="wave", fields=("u",), domain=box, second_order=("u",), linear={"u": {"u_xx": 1.0}},
               initial=lambda x, p: {"u": 0.0}, boundary=Periodic())
    with pytest.raises(ValueError, match=r"gives no value for \['u_t'\]"):
        initial_condition(wave, grid_for(wave, 8))


def test_trajectory_generator_stores_the_velocity():
    from pdejax.data.trajectories import RandomFourierModes, SpectralTrajectories

    gen = SpectralTrajectories(sine_gordon(), 16, 0.1, 4, 2, RandomFourierModes(2, 2, 0.5), precision="float64")
    assert gen.fields == ("u", "u_t")
    sample = gen.sample(jax.random.PRNGKey(0))["tensor"]
    assert sample.shape == gen.arrays["tensor"].shape == (3, 16, 2)
    assert bool(jnp.all(jnp.isfinite(sample)))


def test_library_klein_gordon_plane_wave_is_exact_at_a_large_step(x64):
    from pdejax.pde import PDES, grid_for, initial_condition, spectral_solve

    pde = PDES.build("klein_gordon", {"m": 1.0, "mode": 3}, where="pde")
    grid = grid_for(pde, 64)  # k_max = 32: dt * k_max = 8, far beyond an explicit scheme's limit
    traj = spectral_solve(pde, grid, initial_condition(pde, grid), dt=0.25, n_steps=4)
    x = np.asarray(grid.coordinates()[0])
    exact = pde.exact(np.stack([x, np.ones_like(x)], axis=1), pde.params)[:, 0]
    assert traj.shape == (5, 2, 64)  # u and u_t
    assert np.max(np.abs(np.asarray(traj[-1, 0]) - exact)) < 1e-12
