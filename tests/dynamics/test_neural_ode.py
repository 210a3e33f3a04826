"""NeuralODE: a known linear field against expm, the kinetic and Jacobian integrals against
closed forms, gradients across adjoints and finite differences, NFE, vmap and jit."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

from pdejax.config.errors import ConfigError
from pdejax.dynamics.base import DYNAMICS, System
from pdejax.dynamics.neural_ode import NeuralODE, neural_ode

A = np.array([[-0.3, 1.0], [-1.0, -0.2]])
Y0 = np.array([1.0, 0.5])
T = 2.0
SMALL_NET = {"name": "mlp", "width": 8, "depth": 1}


class Linear(eqx.Module):
    matrix: jax.Array

    def __call__(self, x):
        return self.matrix @ x


def linear_ode(**config) -> NeuralODE:
    ode = neural_ode(System(state_shape=(2,)), key=jax.random.key(0), dtype=jnp.float64, vector_field=SMALL_NET,
                     **config)
    return eqx.tree_at(lambda m: m.net, ode, Linear(jnp.asarray(A)))


def test_linear_field_matches_expm_and_kinetic_closed_form(x64):
    ode = linear_ode(rtol=1e-11, atol=1e-11, kinetic=True)
    ts = jnp.linspace(0.0, T, 5)
    ys, stats = ode.solve(jnp.asarray(Y0), ts)
    exact = np.stack([scipy.linalg.expm(A * t) @ Y0 for t in np.asarray(ts)])
    np.testing.assert_allclose(ys, exact, rtol=0, atol=1e-9)
    kinetic, _ = scipy.integrate.quad(lambda t: np.sum((A @ scipy.linalg.expm(A * t) @ Y0) ** 2), 0.0, T,
                                      epsabs=1e-13, epsrel=1e-13)
    np.testing.assert_allclose(stats["kinetic"], kinetic, rtol=1e-9)


def test_jacobian_estimate_is_unbiased(x64):
    ode = linear_ode(rtol=1e-6, atol=1e-6, jacobian=True)
    keys = jax.random.split(jax.random.key(1234), 2000)
    ts = jnp.asarray([0.0, T])
    samples = np.asarray(jax.vmap(lambda k: ode.solve(jnp.asarray(Y0), ts, key=k)[1]["jacobian"])(keys))
    expected = T * np.sum(A**2)  # E‖εᵀA‖² = ‖A‖_F², constant in time
    standard_error = samples.std(ddof=1) / np.sqrt(len(samples))
    assert abs(samples.mean() - expected) < 4 * standard_error
    with pytest.raises(ValueError, match="needs a key for its Hutchinson probe"):
        ode.solve(jnp.asarray(Y0), ts)


def test_gradients_agree_across_adjoints_and_with_finite_differences(x64):
    ts = jnp.linspace(0.0, 1.0, 4)
    y0 = jnp.asarray(Y0)

    def build(adjoint):
        return neural_ode(System(state_shape=(2,)), key=jax.random.key(3), dtype=jnp.float64, vector_field=SMALL_NET,
                          rtol=1e-10, atol=1e-10, adjoint=adjoint, kinetic=True)

    def loss(ode):
        ys, stats = ode.solve(y0, ts)
        return jnp.sum(ys**2) + 0.1 * stats["kinetic"]

    # One compilation an adjoint (the adjoint is static); the finite differences reuse the first.
    value_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(loss))
    ode = build("recursive_checkpoint")
    recursive = value_and_grad(ode)[1]
    backsolve = value_and_grad(build("backsolve"))[1]
    for a, b in zip(jax.tree_util.tree_leaves(recursive), jax.tree_util.tree_leaves(backsolve)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)
    where = lambda m: m.net.layers[0].weight
    h = 1e-5
    bumped = [value_and_grad(eqx.tree_at(where, ode, where(ode).at[0, 0].add(s)))[0] for s in (h, -h)]
    np.testing.assert_allclose(where(recursive)[0, 0], (bumped[0] - bumped[1]) / (2 * h), rtol=1e-6)


def test_regularisers_do_not_change_steps_and_nfe_is_exact(x64):
    counter = [0]

    class Counted(eqx.Module):
        net: eqx.Module

        def __call__(self, x):
            jax.debug.callback(lambda: counter.__setitem__(0, counter[0] + 1))
            return self.net(x)

    ode = neural_ode(System(state_shape=(2,)), key=jax.random.key(0), dtype=jnp.float64, vector_field=SMALL_NET,
                     rtol=1e-7, atol=1e-7)
    ode = eqx.tree_at(lambda m: m.net, ode, Counted(ode.net))
    ts = jnp.linspace(0.0, 3.0, 4)
    ys, stats = ode.solve(jnp.asarray(Y0), ts)
    jax.effects_barrier()
    assert sorted(stats) == ["nfe"] and int(stats["nfe"]) == counter[0]
    regularised = dataclasses.replace(ode, kinetic=True, jacobian=True, error_estimate=True)
    ys_reg, stats_reg = regularised.solve(jnp.asarray(Y0), ts, key=jax.random.key(1))
    assert int(stats_reg["nfe"]) == int(stats["nfe"])
    np.testing.assert_allclose(ys_reg, ys, rtol=0, atol=1e-13)
    assert float(stats_reg["error_estimate"]) > 0


def test_error_estimate_shrinks_with_the_step_and_is_differentiable(x64):
    """One compilation serves both steps (``dt0`` is static): the time axis is stretched instead.
    ``τ = 2 t`` turns ``y' = A y`` on ``[0, 2]`` with steps 0.1 into ``y' = (A/2) y`` on ``[0, 4]``
    with steps 0.2: the same stages (``h A``), the same scaled errors, each weighted by a step
    twice as long, so that solve's penalty is twice the one with steps 0.1."""
    ode = linear_ode(solver="tsit5", controller="constant", dt0=0.2, error_estimate=True)
    penalty_and_grad = eqx.filter_jit(eqx.filter_value_and_grad(
        lambda m, ts: m.solve(jnp.asarray(Y0), ts)[1]["error_estimate"]))
    coarse, grad = penalty_and_grad(ode, jnp.asarray([0.0, 2.0]))  # steps 0.2
    stretched = eqx.tree_at(lambda m: m.net.matrix, ode, ode.net.matrix / 2)
    fine = float(penalty_and_grad(stretched, jnp.asarray([0.0, 4.0]))[0]) / 2  # steps 0.1
    assert 0 < fine < float(coarse) / 8  # fifth-order error estimate: about 2^-5 per halving
    assert bool(jnp.all(jnp.isfinite(grad.net.matrix))) and float(jnp.abs(grad.net.matrix).max()) > 0


@pytest.mark.parametrize("config, message", [
    (dict(solver="rk99"), "solver 'rk99': valid tsit5"),
    (dict(controller="constant"), "dt0 None: valid a positive number"),
    (dict(adjoint="backsolve", error_estimate=True), "error_estimate with adjoint 'backsolve'"),
])
def test_invalid_settings_raise(config, message):
    with pytest.raises(ValueError, match=message):
        neural_ode(System(state_shape=(2,)), key=jax.random.key(0), vector_field=SMALL_NET, **config)
    with pytest.raises(ConfigError, match=message):
        DYNAMICS.build("neural_ode", config, where="model", system=System(state_shape=(2,)), key=jax.random.key(0),
                       dtype=None)


def test_time_dependent_state_of_any_shape_vmap_and_jit():
    ode = eqx.filter_jit(lambda key: DYNAMICS.build(  # one compilation for the initialisers
        "neural_ode", {"vector_field": SMALL_NET, "time_dependent": True}, where="model",
        system=System(state_shape=(2, 3)), key=key, dtype=None))(jax.random.key(0))
    assert ode.net.layers[0].weight.shape[1] == 7  # 6 state entries and t
    y0 = jax.random.normal(jax.random.key(1), (4, 2, 3))
    ts = jnp.linspace(0.0, 1.0, 3)

    @eqx.filter_jit
    def batched_and_single(m, y):  # the vmapped and the unbatched solve, compiled together
        return jax.vmap(lambda y: m.solve(y, ts)[0])(y), m.solve(y[0], ts)

    batched, single = batched_and_single(ode, y0)
    assert batched.shape == (4, 3, 2, 3)
    np.testing.assert_allclose(single[0], batched[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched[:, 0], y0)
