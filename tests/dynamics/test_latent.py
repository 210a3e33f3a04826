"""LatentODE: shapes under vmap/jit with masks and irregular times, masking, the ELBO's terms
against closed forms, and a tiny fit on irregularly sampled damped sinusoids."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from pdejax.config.errors import ConfigError
from pdejax.dynamics.base import DYNAMICS, System
from pdejax.dynamics.latent import LatentODE, kl_standard_normal

SMALL = {"latent_size": 3, "hidden_size": 8, "solver": "midpoint", "controller": "constant", "dt0": 0.25,
         "vector_field": {"name": "mlp", "width": 8, "depth": 1}, "decoder": {"name": "mlp", "width": 8, "depth": 1}}


def build(obs=2, **cfg) -> LatentODE:
    """The model of ``SMALL | cfg``; built under one ``filter_jit`` (the same weights as an eager
    build, but one compilation for all initialisers instead of one per parameter shape)."""
    def make(key):
        return DYNAMICS.build("latent_ode", SMALL | cfg, where="model", system=System(state_shape=(obs,)),
                              key=key, dtype=None)

    return eqx.filter_jit(make)(jax.random.key(0))  # a ConfigError is raised while tracing


def irregular_batch(key, n_series, n_times, obs, t_max=3.0):
    """Each series its own sorted random times, random values, about a third of the entries missing."""
    k_t, k_y, k_m = jax.random.split(key, 3)
    ts = jnp.sort(jax.random.uniform(k_t, (n_series, n_times), maxval=t_max), axis=1)
    ys = jax.random.normal(k_y, (n_series, n_times, obs))
    mask = jax.random.uniform(k_m, (n_series, n_times, obs)) > 0.33
    return ts, ys, mask.at[:, 0].set(True)


def test_shapes_under_vmap_and_jit():
    model = build()
    ts, ys, mask = irregular_batch(jax.random.key(1), 5, 7, 2)
    ts_out = ts[:, :1] + jnp.linspace(0.0, 4.0, 9)  # interpolation and extrapolation

    @eqx.filter_jit
    def run(m, keys):
        predicted = jax.vmap(m.predict)(ts, ys, mask, ts_out)
        terms = jax.vmap(lambda t, y, k, key: m.elbo(t, y, k, key=key))(ts, ys, mask, keys)
        return predicted, terms, m.solve(ys[0, 0], jnp.linspace(0.0, 1.0, 4))

    predicted, terms, (ys_solve, stats) = run(model, jax.random.split(jax.random.key(2), 5))
    assert predicted.shape == (5, 9, 2) and ys_solve.shape == (4, 2)
    assert {k: v.shape for k, v in terms.items()} == {"reconstruction": (5,), "kl": (5,)}
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in terms.values())
    assert int(stats["nfe"]) == 8  # midpoint: 2 a step, 4 steps of 0.25


def test_masked_entries_do_not_count():
    model = build()
    ts, ys, mask = (a[0] for a in irregular_batch(jax.random.key(3), 1, 6, 2))

    @eqx.filter_jit
    def objective_and_grad(m, values):
        def objective(v):
            terms = m.elbo(ts, v, mask, key=jax.random.key(4))
            return terms["reconstruction"] + terms["kl"]

        return jax.value_and_grad(objective)(values)

    value, grad = objective_and_grad(model, ys)
    assert bool(jnp.all(grad[~mask] == 0.0)) and bool(jnp.any(grad[mask] != 0.0))
    poisoned = jnp.where(mask, ys, jnp.nan)  # what a missing value may hold
    assert float(objective_and_grad(model, poisoned)[0]) == float(value)
    # A padded series (last time repeated, nothing observed) has the same posterior.
    padded = (jnp.append(ts, ts[-1]), jnp.concatenate([ys, jnp.full((1, 2), 7.0)]),
              jnp.concatenate([mask, jnp.zeros((1, 2), bool)]))
    encode = eqx.filter_jit(lambda m, *series: m.encode(*series))
    for a, b in zip(encode(model, ts, ys, mask), encode(model, *padded)):
        np.testing.assert_array_equal(a, b)


def test_elbo_terms_against_closed_forms(x64):
    mean, logvar = jnp.array([0.5, -1.0, 0.0]), jnp.log(jnp.array([2.0, 0.5, 1.0]))
    model = build(obs_std=0.3)
    # (mean, logvar) whatever the series, a constant decoder: the two terms have closed forms.
    model = eqx.tree_at(lambda m: (m.to_posterior.weight, m.to_posterior.bias, m.decoder.layers[-1].weight,
                                   m.decoder.layers[-1].bias), model,
                        (jnp.zeros_like(model.to_posterior.weight), jnp.concatenate([mean, logvar]),
                         jnp.zeros_like(model.decoder.layers[-1].weight), jnp.array([0.1, -0.2])))
    ts, ys, mask = (a[0] for a in irregular_batch(jax.random.key(5), 1, 5, 2))
    terms = eqx.filter_jit(lambda m, key: m.elbo(ts, ys, mask, key=key))(model, jax.random.key(6))
    s = np.sqrt(np.exp(np.asarray(logvar)))
    kl = np.sum(np.log(1 / s) + (s**2 + np.asarray(mean) ** 2) / 2 - 0.5)  # KL(N(m, s²) || N(0, 1)) per dimension
    np.testing.assert_allclose(terms["kl"], kl, rtol=1e-12)
    np.testing.assert_allclose(kl_standard_normal(mean, logvar), kl, rtol=1e-12)
    r = (np.asarray(ys) - np.array([0.1, -0.2])) / 0.3
    nll = np.sum(np.where(mask, 0.5 * r**2 + np.log(0.3) + 0.5 * np.log(2 * np.pi), 0.0))
    np.testing.assert_allclose(terms["reconstruction"], nll, rtol=1e-12)


STEPS = 300  # Adam steps of the fit


def damped_sinusoids(key, n_series, n_obs, n_held, t_max=5.0):
    """``A e^{-0.2 t} sin(2 t + φ)``, observed at ``n_obs`` random times, held out at ``n_held`` others."""
    k_a, k_p, k_t, k_h = jax.random.split(key, 4)
    amplitude = jax.random.uniform(k_a, (n_series, 1), minval=0.5, maxval=1.5)
    phase = jax.random.uniform(k_p, (n_series, 1), maxval=2 * math.pi)

    def signal(t):
        return (amplitude * jnp.exp(-0.2 * t) * jnp.sin(2.0 * t + phase))[..., None]

    ts = jnp.sort(jax.random.uniform(k_t, (n_series, n_obs), maxval=t_max), axis=1)
    held = jnp.sort(jax.random.uniform(k_h, (n_series, n_held), minval=ts[:, :1], maxval=ts[:, -1:]), axis=1)
    return ts, signal(ts), held, signal(held)


def test_fit_on_damped_sinusoids_interpolates_held_out_times():
    ts, ys, held_ts, held_ys = damped_sinusoids(jax.random.key(7), 64, 20, 10)
    mask = jnp.ones(ys.shape, bool)
    # max_steps bounds the solve (20 constant steps of 0.25 on [0, 5]) and the checkpointing
    # of the gradient, which is compiled for max_steps: 64 instead of 4096 compiles faster.
    model = build(obs=1, latent_size=4, hidden_size=24, obs_std=0.1, kl_weight=0.1, dt0=0.25, max_steps=64,
                  vector_field={"name": "mlp", "width": 32, "depth": 1},
                  decoder={"name": "mlp", "width": 16, "depth": 1})

    def held_out_rmse(m):
        predicted = jax.vmap(m.predict)(ts, ys, mask, held_ts)
        return jnp.sqrt(jnp.mean((predicted - held_ys) ** 2))

    def loss(m, key):
        terms = jax.vmap(lambda t, y, k, key: m.elbo(t, y, k, key=key))(ts, ys, mask, jax.random.split(key, 64))
        return jnp.mean(terms["reconstruction"] + m.kl_weight * terms["kl"])

    optimizer = optax.adam(1e-2)

    @eqx.filter_jit
    def step(m, state, key):  # also the held-out error of the model it was given: one compilation for both
        grads = eqx.filter_grad(loss)(m, key)
        updates, state = optimizer.update(grads, state, eqx.filter(m, eqx.is_array))
        return eqx.apply_updates(m, updates), state, held_out_rmse(m)

    state = optimizer.init(eqx.filter(model, eqx.is_array))
    rmse = []
    for key in jax.random.split(jax.random.key(8), STEPS + 1):  # the last update only measures
        model, state, value = step(model, state, key)
        rmse.append(value)
    before, after = float(rmse[0]), float(rmse[-1])
    assert after < 0.25 * before, (before, after)


def test_config_errors():
    with pytest.raises(ConfigError, match="latent_size"):
        build(latent_size=0)
    with pytest.raises(ConfigError, match="obs_std"):
        build(obs_std=0.0)
    with pytest.raises(ConfigError, match="SDE solver"):
        build(solver="milstein")
    with pytest.raises(ConfigError, match="state_shape"):
        DYNAMICS.build("latent_ode", SMALL, where="model", system=System(state_shape=(2, 8)),
                       key=jax.random.key(0), dtype=None)
