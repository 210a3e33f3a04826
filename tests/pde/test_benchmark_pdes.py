"""The PINN benchmark PDEs (pdejax.pde.library.benchmarks): definitions against closed forms,
spectral references and each other, in float64."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import PDES, DirichletData, check_consistency, grid_for, grid_rhs, pointwise_residual, spectral_solve
from pdejax.pde.library.benchmarks import GHIA_RE100, ghia_reference

PERIODIC = ["kdv_jaxpi", "gray_scott_jaxpi", "ginzburg_landau"]


@pytest.mark.parametrize("name", PERIODIC)
def test_periodic_benchmarks_pass_the_consistency_check(x64, name):
    report = check_consistency(PDES.build(name, {}, where="pde"), size=32)
    assert report.ok, report


def _residuals(pde, fn, points):
    return np.asarray(jax.vmap(lambda p: pointwise_residual(pde, fn, p))(points))


def test_helmholtz_manufactured_solution_has_zero_residual(x64):
    pde = PDES.build("helmholtz", {"a1": 1, "a2": 4, "k": 1.0}, where="pde")
    points = jax.random.uniform(jax.random.key(0), (64, 2), jnp.float64, -1, 1)

    def exact(p):
        return jnp.sin(jnp.pi * p[:1]) * jnp.sin(4 * jnp.pi * p[1:])

    assert np.max(np.abs(_residuals(pde, exact, points))) < 1e-11
    assert np.allclose(pde.exact(np.asarray(points), pde.params)[:, 0], jax.vmap(exact)(points)[:, 0])
    # a wrong solution is not a solution: the residual sees the forcing
    assert np.max(np.abs(_residuals(pde, lambda p: 0.5 * exact(p), points))) > 1.0
    on_edges = np.array([[-1.0, 0.3], [1.0, -0.7], [0.2, -1.0], [0.9, 1.0]])
    assert np.max(np.abs(pde.exact(on_edges, pde.params))) < 1e-12  # u = 0 on the boundary


def test_klein_gordon_forced_solution_initial_and_boundary_data(x64):
    pde = PDES.build("klein_gordon_forced", {}, where="pde")
    points = jax.random.uniform(jax.random.key(1), (64, 2), jnp.float64)

    def exact(p):
        return (p[0] * jnp.cos(5 * jnp.pi * p[1]) + (p[0] * p[1]) ** 3)[None]

    assert np.max(np.abs(_residuals(pde, exact, points))) < 1e-10
    x = jnp.linspace(0.0, 1.0, 7)
    assert np.allclose(jax.vmap(pde.initial_values)(x[:, None])[:, 0], x)
    assert np.allclose(jax.vmap(pde.initial_velocities)(x[:, None])[:, 0], 0.0)
    assert isinstance(pde.boundary, DirichletData)
    t = 0.37
    for x_edge in (0.0, 1.0):
        mismatch = pde.boundary.mismatch(pde.fields, jnp.zeros(1), jnp.array([x_edge, t]), pde.params)
        assert np.isclose(-float(mismatch[0]), x_edge * math.cos(5 * math.pi * t) + (x_edge * t) ** 3)


def test_gray_scott_jaxpi_is_pearsons_gray_scott_in_time_scaled_by_1000(x64):
    # jaxpi's units: Du = 2e-4, Dv = 1e-4, F = 0.04, F + k = 0.1 (Pearson's), time x 1000.
    ours = PDES.build("gray_scott_jaxpi", {}, where="pde")
    pearson = PDES.build("gray_scott", {"dim": 2, "length": 2.0, "diffusivity_u": 2e-4, "diffusivity_v": 1e-4,
                                        "feed": 0.04, "kill": 0.06}, where="pde")
    grid = grid_for(ours, 32)
    x, y = (np.asarray(c) for c in grid.mesh(jnp.float64))
    u = jnp.asarray(np.stack([0.6 + 0.2 * np.cos(np.pi * x) * np.sin(np.pi * y), 0.3 + 0.1 * np.sin(np.pi * (x + y))]))
    assert np.allclose(grid_rhs(ours, grid, u), 1000 * np.asarray(grid_rhs(pearson, grid_for(pearson, 32), u)),
                       rtol=1e-12, atol=1e-9)


def test_ginzburg_landau_uniform_state_follows_the_closed_form(x64):
    """A spatially uniform A solves A' = r A - r (1 + iβ)|A|² A: |A|² is logistic,
    |A|²(t) = a e^{2rt} / (1 - a + a e^{2rt}), and the phase turns at -rβ|A|²; the PINN
    residual of that closed form vanishes, and the spectral solver follows it."""
    pde = PDES.build("ginzburg_landau", {}, where="pde")
    r, beta, a, theta0 = 10.0, 1.5, 0.04, 0.3

    def modulus2(t):
        g = jnp.exp(2 * r * t)
        return a * g / (1 - a + a * g)

    def phase(t):  # θ' = -rβ|A|², integrated: -β/2 log(1 - a + a e^{2rt})
        return theta0 - beta / 2 * jnp.log(1 - a + a * jnp.exp(2 * r * t))

    def field(p):
        m, th = jnp.sqrt(modulus2(p[2])), phase(p[2])
        return jnp.stack([m * jnp.cos(th), m * jnp.sin(th)])

    points = jax.random.uniform(jax.random.key(2), (32, 3), jnp.float64, 0, 0.5)
    assert np.max(np.abs(_residuals(pde, field, points))) < 1e-10
    grid = grid_for(pde, 8)
    u0 = jnp.broadcast_to(field(jnp.zeros(3))[:, None, None], (2, 8, 8))
    end = spectral_solve(pde, grid, u0, 1e-3, 500, 500)[-1]
    assert np.allclose(end[:, 0, 0], field(jnp.array([0.0, 0.0, 0.5])), atol=1e-9)


def test_kdv_jaxpi_conserves_mass_and_energy_in_the_spectral_solver(x64):
    pde = PDES.build("kdv_jaxpi", {}, where="pde")
    assert pde.params == {"alpha": 1.0, "beta": pytest.approx(0.022**2)}
    grid = grid_for(pde, 256)
    u0 = jnp.cos(jnp.pi * grid.mesh(jnp.float64)[0])[None]
    traj = np.asarray(spectral_solve(pde, grid, u0, 1e-4, 2000, 1000))  # to t = 0.2: steepening, no shock
    mass, energy = traj.sum(axis=(1, 2)), (traj**2).sum(axis=(1, 2))
    assert np.allclose(mass, mass[0], atol=1e-9) and np.allclose(energy, energy[0], rtol=1e-6)
    assert np.max(np.abs(traj[-1] - traj[0])) > 0.1  # it moved


def test_lid_driven_cavity_residual_and_boundary_values(x64):
    pde = PDES.build("lid_driven_cavity", {"reynolds": 100.0}, where="pde")
    assert pde.fields == ("u", "v", "p") and pde.params["nu"] == pytest.approx(0.01)
    nu = 0.01

    def flow(p):  # u = ψ_y, v = -ψ_x with ψ = sin(πx)² sin(πy)², and a pressure
        x, y = p
        s, c = jnp.sin(jnp.pi * x), jnp.sin(jnp.pi * y)
        u = 2 * jnp.pi * s**2 * c * jnp.cos(jnp.pi * y)
        v = -2 * jnp.pi * c**2 * s * jnp.cos(jnp.pi * x)
        return jnp.stack([u, v, x * y**2])

    points = jax.random.uniform(jax.random.key(3), (16, 2), jnp.float64)
    res = _residuals(pde, flow, points)
    jac = jax.vmap(jax.jacfwd(flow))(points)  # (n, 3 fields, 2 coords)
    lap = jax.vmap(lambda p: jnp.trace(jax.hessian(flow)(p), axis1=1, axis2=2))(points)
    vals = jax.vmap(flow)(points)
    u, v = vals[:, 0], vals[:, 1]
    expected_u = -(u * jac[:, 0, 0] + v * jac[:, 0, 1]) - jac[:, 2, 0] + nu * lap[:, 0]
    expected_v = -(u * jac[:, 1, 0] + v * jac[:, 1, 1]) - jac[:, 2, 1] + nu * lap[:, 1]
    assert np.allclose(res[:, 0], expected_u) and np.allclose(res[:, 1], expected_v)
    assert np.max(np.abs(res[:, 2])) < 1e-12  # divergence-free by construction
    # Boundary: the smoothed lid on top, rest at zero; the pressure is free.
    zero = jnp.zeros(3)
    top = -pde.boundary.mismatch(pde.fields, zero, jnp.array([0.5, 1.0]), pde.params)
    corner = -pde.boundary.mismatch(pde.fields, zero, jnp.array([0.0, 1.0]), pde.params)
    wall = -pde.boundary.mismatch(pde.fields, zero, jnp.array([1.0, 0.4]), pde.params)
    assert np.allclose(top, [1 - 1 / math.cosh(25.0), 0, 0]) and np.allclose(corner, 0) and np.allclose(wall, 0)


def test_ghia_table_is_the_published_re100_centre_lines():
    points, values = ghia_reference(100)
    assert points.shape == (34, 2) and values.shape == (34, 3)
    assert np.all(np.isnan(values[:, 2]))
    u_rows = points[:, 0] == 0.5
    assert np.isclose(np.nanmin(values[:, 0]), -0.21090)  # the vortex's return flow, at y = 0.4531
    assert np.isclose(values[np.isclose(points[:, 1], 1.0) & u_rows, 0][0], 1.0)  # the lid
    assert np.isclose(np.nanmin(values[:, 1]), -0.24533) and np.isclose(np.nanmax(values[:, 1]), 0.17527)
    assert len(GHIA_RE100["y"]) == len(GHIA_RE100["u"]) == len(GHIA_RE100["x"]) == len(GHIA_RE100["v"]) == 17
    with pytest.raises(ValueError, match="Re = 3200"):
        ghia_reference(3200)
