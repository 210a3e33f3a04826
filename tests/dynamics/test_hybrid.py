"""Hybrid PDEs (float64): the exact missing term reproduces the full PDE through both
steppers, a learned term is resolution-independent, gradients through both steppers
match finite differences, a viscosity is recovered through ETDRK4, bad input is refused."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from pdejax.dynamics.base import DYNAMICS, System
from pdejax.dynamics.hybrid import HybridPDE, pde_parameters
from pdejax.dynamics.integrate import Integrator
from pdejax.dynamics.learned_term import LearnedTerm, learned_term
from pdejax.pde import PDE, Box, PDEParameters, Periodic, ScalarParameter, burgers, grid_for, heat, spectral_solve
from pdejax.pde.mol import initial_fields, solve_mol
from pdejax.spectral.chebyshev import ChebyshevGrid

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)

NU, DT = 0.1, 0.01
FULL = burgers(nu=NU, periodic=True, form="advective")  # u_t = nu u_xx - u u_x on [-1, 1)
KNOWN = heat(kappa=NU, length=2.0)  # Burgers without its advection (on [0, 2): translation-invariant)


class Advection(eqx.Module):
    """The exact missing term ``-c u u_x`` as a pointwise network of ``(u, u_x)``."""

    c: jax.Array

    def __call__(self, z):
        return -self.c * z[:1] * z[1:2]


def _u0(grid, dtype=jnp.float64):
    (x,) = grid.coordinates(dtype)
    return (-jnp.sin(jnp.pi * x) + 0.3 * jnp.cos(2 * jnp.pi * x))[None]  # the same nodes on [-1,1) and [0,2)


def _hybrid(pde, n, term=None, **kwargs):
    return HybridPDE(pde, grid_for(pde, n), term=term, **kwargs)


def _exact_term(pde=KNOWN, c=1.0):
    return LearnedTerm(pde, ("u", "u_x"), net=Advection(jnp.asarray(c)))


def _learned(pde=KNOWN, seed=0):
    return learned_term(pde, {"name": "mlp", "width": 8, "depth": 2}, ["u", "u_x", "u_xx"],
                        key=jax.random.key(seed), dtype=jnp.float64, scale=0.2)


@eqx.filter_jit
def _solve(model, y0, ts):
    return model.solve(y0, ts)


def test_exact_term_reproduces_burgers_etdrk4():
    ts = np.linspace(0.0, 0.4, 5)
    model = _hybrid(KNOWN, 64, _exact_term(), dt=DT)
    u0 = _u0(model.grid)
    ys, stats = model.solve(u0, ts)  # concrete ts: checked as whole numbers of steps
    ref = spectral_solve(FULL, grid_for(FULL, 64), u0, DT, 40, save_every=10, t0=0.0)
    assert ys.shape == (5, 1, 64) and int(stats["nfe"]) == 4 * 40
    np.testing.assert_allclose(ys, ref, rtol=0, atol=1e-12)
    # Unequal gaps (multiples of dt): the same frames.
    ys2, stats2 = model.solve(u0, ts[[0, 1, 3, 4]])
    np.testing.assert_allclose(ys2, ref[np.array([0, 1, 3, 4])], rtol=0, atol=1e-12)
    assert int(stats2["nfe"]) == 4 * 40


def test_exact_term_reproduces_burgers_mol():
    ts = np.linspace(0.0, 0.4, 5)
    integrator = Integrator(rtol=1e-10, atol=1e-10, max_steps=10_000)
    model = _hybrid(KNOWN, 32, _exact_term(), stepper="mol", integrator=integrator)
    u0 = _u0(model.grid)
    ys, stats = _solve(model, u0, ts)
    ref = solve_mol(FULL, grid_for(FULL, 32), u0, ts, rtol=1e-10, atol=1e-10)
    assert ys.shape == (5, 1, 32) and int(stats["nfe"]) > 0
    np.testing.assert_allclose(ys, ref, rtol=0, atol=1e-8)


def test_exact_term_reproduces_burgers_mol_chebyshev():
    # Dirichlet walls: Burgers' viscous part as the known PDE, the boundary nodes held at 0.
    full = burgers(nu=NU)  # u(±1) = 0, u0 = -sin(pi x), advective
    viscous = PDE(name="viscous", fields=("u",), domain=full.domain, params={"nu": NU},
                  linear={"u": {"u_xx": "nu"}}, initial=full.initial, boundary=full.boundary)
    grid = ChebyshevGrid(("x",), (-1.0,), (1.0,), (16,))
    integrator = Integrator(rtol=1e-10, atol=1e-10, max_steps=10_000)
    model = HybridPDE(viscous, grid, term=_exact_term(viscous), stepper="mol", integrator=integrator)
    u0 = initial_fields(full, grid, jnp.float64)
    ts = np.array([0.0, 0.1, 0.2])
    ys, _ = _solve(model, u0.at[:, jnp.array([0, -1])].set(1.0), ts)  # walls set to the boundary value first
    np.testing.assert_allclose(ys, solve_mol(full, grid, u0, ts, rtol=1e-10, atol=1e-10), rtol=0, atol=1e-8)


def test_trainable_viscosity_etdrk4_matches_host_coefficients():
    # nu trainable: the exponential part's coefficients are computed in traced code.
    params = PDEParameters({"nu": ScalarParameter(NU)})
    model = _hybrid(FULL, 32, None, dt=DT, parameters=params, observation_dt=0.1)
    assert model.host_values == (("nu", NU),)
    u0 = _u0(model.grid)
    ys, _ = _solve(model, u0, jnp.linspace(0.0, 0.3, 4))  # traced ts: uniform with spacing 0.1
    ref = spectral_solve(FULL, model.grid, u0, DT, 30, save_every=10, t0=0.0)
    np.testing.assert_allclose(ys, ref, rtol=0, atol=1e-13)


def test_learned_term_is_resolution_independent():
    # One set of parameters on 64 and 128 points; the difference is the spectral
    # truncation of the smooth solution (measured 4.7e-9, and 2.8e-7 from twice the amplitude).
    term = learned_term(KNOWN, {"name": "mlp", "width": 8, "depth": 2}, ["u", "u_x"], key=jax.random.key(0),
                        dtype=jnp.float64, scale=0.2)
    ts = np.linspace(0.0, 0.3, 4)
    coarse, fine = _hybrid(KNOWN, 64, term, dt=DT), _hybrid(KNOWN, 128, term, dt=DT)
    ys64, _ = coarse.solve(0.5 * _u0(coarse.grid), ts)
    ys128, _ = fine.solve(0.5 * _u0(fine.grid), ts)
    assert float(jnp.max(jnp.abs(ys64[-1] - ys64[0]))) > 0.1  # the term and the physics act
    np.testing.assert_allclose(ys128[:, :, ::2], ys64, rtol=0, atol=1e-8)


def _nonlinear_burgers(c=1.0):
    """Burgers with a parameter in its nonlinear term only: u_t = nu u_xx - c u u_x."""
    return PDE(name="burgers_c", fields=("u",), domain=Box(x=(-1.0, 1.0), t=(0.0, 1.0)),
               params={"nu": NU, "c": c}, linear={"u": {"u_xx": "nu"}},
               nonlinear=lambda f, p: {"u": -p["c"] * f.u * f.u_x},
               initial=lambda x, p: {"u": -jnp.sin(jnp.pi * x[0])}, boundary=Periodic())


def _central_difference(loss, model, where, index, h):
    """``d loss / d where(model)[index]`` by central differences."""
    def shifted(step):
        return loss(eqx.tree_at(where, model, replace_fn=lambda a: a.at[index].add(step)))

    return (shifted(h) - shifted(-h)) / (2 * h)


@pytest.mark.parametrize("stepper", ["etdrk4", "mol"])
def test_gradients_match_finite_differences(stepper):
    pde = _nonlinear_burgers()
    params = PDEParameters({"c": ScalarParameter(1.0, "identity"), "nu": ScalarParameter(NU)})
    options = ({"dt": DT} if stepper == "etdrk4" else
               {"stepper": "mol", "integrator": Integrator(controller="constant", dt0=0.005)})
    model = _hybrid(pde, 32, _learned(pde, seed=1), parameters=params, **options)
    u0 = _u0(model.grid)
    ts = np.linspace(0.0, 0.2, 3)
    weights = jax.random.normal(jax.random.key(2), (3, 1, 32), jnp.float64)

    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(lambda m: jnp.sum(weights * m.solve(u0, ts)[0])))

    def loss(m):  # the same compiled function for the differences
        return value_and_grad(m)[0]

    grads = value_and_grad(model)[1]
    leaves = {  # (a) a nonlinear-part parameter, (b) a network weight, (c) a linear coefficient
        "c": (lambda m: m.parameters.entries["c"].raw, ()),
        "weight": (lambda m: m.term.net.layers[0].weight, (3, 1)),
        "nu": (lambda m: m.parameters.entries["nu"].raw, ()),
    }
    for name, (where, index) in leaves.items():
        fd = _central_difference(loss, model, where, index, 1e-5)
        np.testing.assert_allclose(where(grads)[index], fd, rtol=1e-6, err_msg=name)


def test_fit_viscosity_through_etdrk4():
    grid = grid_for(FULL, 32)
    u0 = _u0(grid)
    ts = jnp.linspace(0.0, 0.2, 5)
    data = spectral_solve(FULL, grid, u0, DT, 20, save_every=5, t0=0.0)
    model = _hybrid(FULL, 32, None, dt=DT, observation_dt=0.05,
                    parameters=PDEParameters({"nu": ScalarParameter(0.05)}))
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def loss(p):
        return jnp.mean((eqx.combine(p, static).solve(u0, ts)[0] - data) ** 2)

    optimizer = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    @jax.jit
    def fit(p):  # one compiled loop (a Python loop would recompile as the state's types settle)
        def step(i, carry):
            p, state = carry
            value, grad = value_and_grad(p, state=state)
            updates, state = optimizer.update(grad, state, p, value=value, grad=grad, value_fn=loss)
            return optax.apply_updates(p, updates), state

        return jax.lax.fori_loop(0, 12, step, (p, optimizer.init(p)))[0]

    nu = float(eqx.combine(fit(params), static).parameters.scalars()["nu"])
    assert abs(nu - NU) / NU < 0.01, nu


def test_registry_builds_and_solves_under_jit():
    grid = grid_for(KNOWN, 32)
    system = System(state_shape=(1, 32), pde=KNOWN, grid=grid, dt=0.05)
    model = DYNAMICS.build("hybrid_pde", {"term": {"name": "mlp", "width": 8, "depth": 1}, "substeps": 5,
                                          "trainable": ["kappa"], "scale": 0.1},
                           where="model", system=system, key=jax.random.key(0), dtype="float64")
    assert model.dt == pytest.approx(0.01) and model.term.inputs == ("u", "u_x")
    ys, stats = _solve(model, _u0(grid), jnp.linspace(0.0, 0.2, 5))
    assert ys.shape == (5, 1, 32) and int(stats["nfe"]) == 4 * 20
    with pytest.raises(Exception, match="uniform with spacing observation_dt = 0.05"):  # checked at run time
        jax.block_until_ready(_solve(model, _u0(grid), jnp.array([0.0, 0.05, 0.15, 0.2, 0.25])))
    mol = DYNAMICS.build("hybrid_pde", {"term": None, "stepper": "mol", "trainable": {"kappa": {"init": 0.2}}},
                         where="model", system=system, key=jax.random.key(0), dtype="float64")
    assert mol.term is None and float(mol.parameters.scalars()["kappa"]) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="model.trainable.kapa.*kappa"):
        pde_parameters(KNOWN, ["kapa"], key=jax.random.key(0))


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError, match=r"'v'.*fields \('u',\)"):
        LearnedTerm(KNOWN, ("u", "v"), net=Advection(jnp.asarray(1.0)))
    with pytest.raises(ValueError, match=r"'u_y'.*coordinates \('x',\)"):
        LearnedTerm(KNOWN, ("u_y",), net=Advection(jnp.asarray(1.0)))
    with pytest.raises(ValueError, match=r"target 'w'.*\('u',\)"):
        LearnedTerm(KNOWN, ("u",), ("w",), net=Advection(jnp.asarray(1.0)))
    model = _hybrid(KNOWN, 16, _exact_term(), dt=DT)
    u0 = _u0(model.grid)
    with pytest.raises(ValueError, match=r"ts\[2\] = 0.025.*dt = 0.01"):
        model.solve(u0, np.array([0.0, 0.01, 0.025]))
    with pytest.raises(ValueError, match=r"shape \(16,\).*\(1, 16\)"):
        model.solve(u0[0], np.array([0.0, 0.01]))
    with pytest.raises(ValueError, match="needs observation_dt"):
        jax.jit(lambda ts: model.solve(u0, ts)[0])(jnp.array([0.0, 0.01]))
    with pytest.raises(ValueError, match="observation_dt = 0.015 is not a whole number"):
        _hybrid(KNOWN, 16, dt=DT, observation_dt=0.015)
    # A linear coefficient the ETDRK4 exponential part cannot take: an explicit (coupling) term.
    split = PDE(name="split", fields=("u",), domain=Box(x=(0.0, 1.0), t=(0.0, 1.0)), params={"nu": 0.1, "r": 1.0},
                linear={"u": {"u_xx": "nu", "u": "r"}}, exponential={"u": ["u_xx"]},
                initial=lambda x, p: {"u": jnp.sin(2 * math.pi * x[0])}, boundary=Periodic())
    params = PDEParameters({"r": ScalarParameter(1.0)})
    with pytest.raises(ValueError, match="trainable parameter 'r'.*stepper: mol"):
        _hybrid(split, 16, dt=DT, parameters=params)
    _hybrid(split, 16, stepper="mol", parameters=params)  # the method of lines takes it
