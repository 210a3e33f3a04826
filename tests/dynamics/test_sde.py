"""NeuralSDE against closed forms (float64): Ornstein–Uhlenbeck moments, strong orders on
geometric Brownian motion; the moment-matching objective; errors at the boundary."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from pdejax.config.errors import ConfigError
from pdejax.dynamics.base import DYNAMICS, System
from pdejax.dynamics.integrate import Integrator
from pdejax.dynamics.sde import NeuralSDE, moment_matching_loss

SMALL_NET = {"name": "mlp", "width": 8, "depth": 1}


def inverse_softplus(x):
    """The network output whose softplus (NeuralSDE's positivity map) is ``x > 0``."""
    return jnp.log(jnp.expm1(x))


class LinearDrift(eqx.Module):
    """``θ (μ − y)`` from the network input ``[t, y]``."""

    theta: jax.Array
    mu: float

    def __call__(self, x):
        return self.theta * (self.mu - x[1:])


class ConstantDiffusion(eqx.Module):
    """σ, whatever the input (additive noise); ``raw = softplus⁻¹(σ)``, one per component."""

    raw: jax.Array

    def __call__(self, x):
        return self.raw


class GBMDrift(eqx.Module):
    a: jax.Array

    def __call__(self, x):
        return self.a * x[1:]


class GBMDiffusion(eqx.Module):
    b: jax.Array

    def __call__(self, x):
        return inverse_softplus(self.b * x[1:])


def ou_sde(theta, mu, sigma, *, solver, dt0, n=1):
    """The exact OU process dy = θ(μ − y) dt + σ dW with hand-written drift and diffusion."""
    integrator = Integrator(solver=solver, controller="constant", dt0=dt0, kind="sde", max_steps=256)
    return NeuralSDE(LinearDrift(jnp.asarray(np.float64(theta)), mu),
                     ConstantDiffusion(inverse_softplus(jnp.full(n, np.float64(sigma)))), integrator, (n,),
                     noise="additive")


def ensemble(sde, y0, ts, key, n_paths):
    return jax.jit(jax.vmap(lambda k: sde(y0, ts, key=k)))(jax.random.split(key, n_paths))


@pytest.mark.parametrize("solver", ["euler", "shark"])
def test_ou_ensemble_matches_closed_form_moments(x64, solver):
    theta, mu, sigma, y0, dt0, n_paths = 1.5, 0.5, 0.6, 2.0, 0.02, 4000
    ts = jnp.linspace(0.0, 1.0, 6)
    sde = ou_sde(theta, mu, sigma, solver=solver, dt0=dt0)
    ys = np.asarray(ensemble(sde, jnp.array([y0]), ts, jax.random.key(42), n_paths))[:, :, 0]
    assert ys.dtype == np.float64
    t = np.asarray(ts)
    mean = mu + (y0 - mu) * np.exp(-theta * t)
    var = sigma**2 * (1 - np.exp(-2 * theta * t)) / (2 * theta)
    if solver == "euler":
        # Euler–Maruyama's own law on OU is known exactly: its O(dt) weak bias widens the band.
        r = 1 - theta * dt0
        steps = np.round(t / dt0)
        bias_mean = np.abs(mu + (y0 - mu) * r**steps - mean)
        bias_var = np.abs(sigma**2 * dt0 * (1 - r ** (2 * steps)) / (1 - r**2) - var)
    else:  # ShARK: weak order 2, its bias is far below the Monte-Carlo error at dt0 = 0.02
        bias_mean = bias_var = 0.0
    # Four Monte-Carlo standard errors: of a mean, sqrt(var/N); of a Gaussian sample variance, var·sqrt(2/(N−1)).
    np.testing.assert_array_less(np.abs(ys.mean(0) - mean), 4 * np.sqrt(var / n_paths) + bias_mean + 1e-12)
    np.testing.assert_array_less(np.abs(ys.var(0, ddof=1) - var),
                                 4 * var * np.sqrt(2 / (n_paths - 1)) + bias_var + 1e-12)
    assert np.all(ys[:, 0] == y0)


@pytest.mark.parametrize(("solver", "order"), [("euler", 0.5), ("milstein", 1.0)])
def test_strong_order_on_geometric_brownian_motion(x64, solver, order):
    """E|Y_N − y(1)| on dy = a y dt + b y dW, y(1) = y0 exp(a − b²/2 + b W_1) from each path's own W.

    One compilation serves every step size: ``dt0`` is static, so instead of shrinking the
    step the time axis is stretched. ``τ = m t`` maps ``[0, 1]`` with steps ``dt0 / m`` to
    ``[0, m]`` with steps ``dt0``, where the SDE reads ``dy = (a/m) y dτ + (b/√m) y dW_τ``
    (Brownian scaling), the same law of the error.
    """
    a, b, y0, dt0 = 1.0, 0.5, jnp.array([1.0]), 2.0**-3
    integrator = Integrator(solver=solver, controller="constant", dt0=dt0, kind="sde", max_steps=256)
    sde = NeuralSDE(GBMDrift(jnp.asarray(a)), GBMDiffusion(jnp.asarray(b)), integrator, (1,))
    stretches = 2.0 ** jnp.arange(4.0)  # steps 1/8 … 1/64 on [0, 1]
    keys = jax.random.split(jax.random.key(7), 400)

    def error(m, key):
        stretched = eqx.tree_at(lambda s: (s.drift.a, s.diffusion.b), sde, (a / m, b / jnp.sqrt(m)))
        ts = jnp.stack([0.0, m])
        w = stretched.brownian_motion(ts, key).evaluate(0.0, m)[0] / jnp.sqrt(m)  # W_1 of the original time
        return jnp.abs(stretched(y0, ts, key=key)[-1, 0] - y0[0] * jnp.exp(a - 0.5 * b**2 + b * w))

    errors = np.asarray(jax.jit(jax.vmap(lambda m: jnp.mean(jax.vmap(error, (None, 0))(m, keys))))(stretches))
    slope = np.polyfit(np.log(dt0 / np.asarray(stretches)), np.log(errors), 1)[0]
    assert abs(slope - order) < 0.2, (solver, slope, errors)


def test_stratonovich_solvers_integrate_the_ito_sde(x64):
    """spark solves Stratonovich SDEs; NeuralSDE hands it the drift μ − ½ (∂σ/∂y) σ."""
    y = jnp.array([0.7, 1.3])
    spark = Integrator(solver="spark", controller="constant", dt0=0.1, kind="sde")
    diagonal = NeuralSDE(GBMDrift(jnp.asarray(1.0)), GBMDiffusion(jnp.asarray(0.5)), spark, (2,))
    np.testing.assert_allclose(diagonal._stratonovich_drift(0.0, y), (1.0 - 0.5 * 0.5**2) * y, rtol=1e-12)
    scalar = NeuralSDE(GBMDrift(jnp.asarray(1.0)), GBMDiffusion(jnp.asarray(0.5)), spark, (2,), noise="scalar")
    np.testing.assert_allclose(scalar._stratonovich_drift(0.0, y), (1.0 - 0.5 * 0.5**2) * y, rtol=1e-12)
    additive = ou_sde(1.0, 0.0, 0.3, solver="spark", dt0=0.1, n=2)
    np.testing.assert_allclose(additive._stratonovich_drift(0.0, y), -y, rtol=1e-12)


def test_scalar_noise_shares_one_brownian_motion(x64):
    integrator = Integrator(solver="euler", controller="constant", dt0=0.1, kind="sde")
    sde = NeuralSDE(GBMDrift(jnp.asarray(0.0)), ConstantDiffusion(inverse_softplus(jnp.array([1.0, 2.0, 3.0]))),
                    integrator, (3,), noise="scalar")
    ys, stats = sde.solve(jnp.zeros(3), jnp.linspace(0.0, 1.0, 4), key=jax.random.key(3))
    np.testing.assert_allclose(ys[:, 1], 2 * ys[:, 0], rtol=1e-12)  # y_i = σ_i W with one W
    np.testing.assert_allclose(ys[:, 2], 3 * ys[:, 0], rtol=1e-12)
    assert int(stats["nfe"]) == 10


def test_moment_matching_loss_zero_positive_differentiable(x64):
    data = jax.random.normal(jax.random.key(0), (50, 8, 2)).cumsum(1)
    losses = jax.jit(moment_matching_loss)
    same = losses(data, data)
    # Zero up to rounding: compiled, the two ensembles' statistics may be fused differently.
    assert all(float(v) < 1e-24 for v in same.values()) and set(same) == {"mean", "variance", "autocovariance"}
    other = losses(1.5 * data + 0.3, data)
    assert all(float(v) > 0 for v in other.values())
    grad = jax.jit(jax.grad(lambda scale: sum(moment_matching_loss(scale * data, data).values())))(1.2)
    assert np.isfinite(grad) and grad > 0  # too wide an ensemble: shrink it
    assert float(moment_matching_loss(data[:, :2], data[:, :2], lags=(4,))["autocovariance"]) == 0.0


class OU(eqx.Module):
    """A two-parameter OU drift, θ = exp(log_theta), mean 0."""

    log_theta: jax.Array

    def __call__(self, x):
        return -jnp.exp(self.log_theta) * x[1:]


def test_moment_matching_recovers_ou_parameters(x64):
    """θ and σ of an OU process from 4000 data paths, by moment matching on 1000 model paths
    (the same keys every step: common random numbers, a smooth objective)."""
    theta, sigma, y0 = 1.0, 0.5, jnp.array([1.5])
    ts = jnp.linspace(0.0, 2.0, 11)
    true = ou_sde(theta, 0.0, sigma, solver="euler", dt0=0.1)
    data = ensemble(true, y0, ts, jax.random.key(1), 4000)
    model = eqx.tree_at(lambda m: (m.drift, m.diffusion), true,
                        (OU(jnp.log(jnp.asarray(np.float64(0.4)))), ConstantDiffusion(inverse_softplus(
                            jnp.array([0.2])))))
    keys = jax.random.split(jax.random.key(2), 1000)
    optimizer = optax.adam(0.1)

    def loss(m):
        paths = jax.vmap(lambda k: m(y0, ts, key=k))(keys)
        return sum(moment_matching_loss(paths, data).values())

    @eqx.filter_jit
    def step(m, state):
        value, grads = eqx.filter_value_and_grad(loss)(m)
        updates, state = optimizer.update(grads, state)
        return eqx.apply_updates(m, updates), state, value

    state = optimizer.init(eqx.filter(model, eqx.is_array))
    for _ in range(60):
        model, state, value = step(model, state)
    fitted_theta = float(jnp.exp(model.drift.log_theta))
    fitted_sigma = float(jax.nn.softplus(model.diffusion.raw[0]))
    assert abs(fitted_theta / theta - 1) < 0.1 and abs(fitted_sigma / sigma - 1) < 0.1, (fitted_theta, fitted_sigma)


def test_errors_at_the_boundary():
    system = System(state_shape=(2,))
    cfg = {"dt0": 0.1, "drift": SMALL_NET, "diffusion": SMALL_NET}
    sde = DYNAMICS.build("neural_sde", cfg, where="model", system=system, key=jax.random.key(0), dtype=None)
    with pytest.raises(ValueError, match="needs key"):
        sde.solve(jnp.ones(2), jnp.linspace(0.0, 1.0, 3))
    with pytest.raises(ConfigError, match="noise"):
        DYNAMICS.build("neural_sde", cfg | {"noise": "colored"}, where="model", system=system,
                       key=jax.random.key(0), dtype=None)
    with pytest.raises(ConfigError, match="ODE solver"):
        DYNAMICS.build("neural_sde", cfg | {"solver": "tsit5"}, where="model", system=system,
                       key=jax.random.key(0), dtype=None)
    with pytest.raises(ConfigError, match="additive"):
        DYNAMICS.build("neural_sde", cfg | {"solver": "shark"}, where="model", system=system,
                       key=jax.random.key(0), dtype=None)
    with pytest.raises(ConfigError, match="dt0"):
        DYNAMICS.build("neural_sde", {}, where="model", system=system, key=jax.random.key(0), dtype=None)
    with pytest.raises(ConfigError, match="SDE solver"):
        NeuralSDE(sde.drift, sde.diffusion, Integrator(solver="tsit5"), (2,))
