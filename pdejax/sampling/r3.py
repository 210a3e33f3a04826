"""Retain-Resample-Release sampling (R3) and its causal variant (Daw et al., ICML 2023).

R3 keeps a population of ``n`` collocation points. At every update it *retains* the
points whose residual is above the population's mean, *releases* the others and
*resamples* them uniformly, so points accumulate where the residual stays high and
leave once it falls. The population has a fixed size, so each point keeps its slot:
a released point's slot takes a fresh uniform point, and shapes never change.

Causal R3 (for time-dependent PDEs) multiplies the residual by a causal gate over the
normalised time ``τ = (t - t0) / (t1 - t0)``,

    g(τ) = (1 - tanh(α (τ - β))) / 2,

which is ~1 before ``β`` and ~0 after it (``α``: steepness). Points are retained when
``|r| · g`` is above its mean, so points beyond the gate are never retained; the
residual loss becomes ``mean((g · r)²)`` (the gate reaches the loss through
:meth:`CausalR3.point_weights`); and the gate moves forward in time as the gated
residual falls:

    β ← β + η_g · min(exp(-ε · mean((g · r)²)), c)

(``η_g = beta_lr``, ``ε = tol``; the cap ``c = beta_clip`` is the authors' code's
``grad_clip``; defaults are that code's: ``α = 5``, ``β0 = -0.5``, ``η_g = 1e-3``,
``ε = 20``, ``c = 0.1``, updated at every step).

The residuals that decide the update are those of the step's current model at the
current population (one residual evaluation per update, without gradients); with
``every > 1`` the population is updated every ``every`` steps and stays fixed between.
The population (and the gate position β) is part of the train state, so it is
checkpointed and a resumed run continues it exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..config.errors import ConfigError
from .samplers import SAMPLERS, AbstractSampler, check_at_least, uniform_in_box


class R3State(NamedTuple):
    points: Float[Array, "n d"]


class R3(AbstractSampler):
    """Retain-Resample-Release: keep points with above-mean residual, redraw the rest uniformly."""

    every: int = eqx.field(static=True, default=1)

    def init(self, key, dtype):
        return R3State(uniform_in_box(key, self.n, *self.bounds(dtype)))

    def sample(self, state, key, step, score, dtype):
        score = self.require_score(score)

        def update(points):
            fitness = jax.lax.stop_gradient(score(points))
            keep = fitness > jnp.mean(fitness)
            return jnp.where(keep[:, None], points, uniform_in_box(key, self.n, *self.bounds(dtype)))

        points = jax.lax.cond(step % self.every == 0, update, lambda p: p, state.points)
        return points, R3State(points)


class CausalR3State(NamedTuple):
    points: Float[Array, "n d"]
    beta: Float[Array, ""]  # the gate's position in normalised time


class CausalR3(AbstractSampler):
    """Causal R3: R3 on the residual times a causal gate that moves forward in time."""

    every: int = eqx.field(static=True, default=1)
    alpha: float = eqx.field(static=True, default=5.0)
    beta: float = eqx.field(static=True, default=-0.5)
    beta_lr: float = eqx.field(static=True, default=1e-3)
    tol: float = eqx.field(static=True, default=20.0)
    beta_clip: float = eqx.field(static=True, default=0.1)
    time_dependent = True
    config_name = "r3_causal"

    def gate(self, t: Float[Array, " n"], beta: Float[Array, ""]) -> Float[Array, " n"]:
        """``g = (1 - tanh(α (τ - β))) / 2`` at times ``t`` (the points' last coordinate)."""
        t0, t1 = self.lower[-1], self.upper[-1]
        return (1 - jnp.tanh(self.alpha * ((t - t0) / (t1 - t0) - beta))) / 2

    def init(self, key, dtype):
        return CausalR3State(uniform_in_box(key, self.n, *self.bounds(dtype)), jnp.asarray(self.beta, dtype))

    def sample(self, state, key, step, score, dtype):
        score = self.require_score(score)

        def update(state):
            gated = jax.lax.stop_gradient(score(state.points)) * self.gate(state.points[:, -1], state.beta)
            keep = gated > jnp.mean(gated)
            points = jnp.where(keep[:, None], state.points, uniform_in_box(key, self.n, *self.bounds(dtype)))
            shift = jnp.minimum(jnp.exp(-self.tol * jnp.mean(gated**2)), self.beta_clip)
            return CausalR3State(points, state.beta + self.beta_lr * shift)

        state = jax.lax.cond(step % self.every == 0, update, lambda s: s, state)
        return state.points, state

    def point_weights(self, state):
        return jax.lax.stop_gradient(self.gate(state.points[:, -1], state.beta))


@SAMPLERS.register("r3")
def r3(lower, upper, n, every: int = 1) -> R3:
    """Retain-Resample-Release (Daw et al. 2023): keep above-mean-residual points, redraw the rest."""
    check_at_least(1, every=every)
    return R3(tuple(lower), tuple(upper), n, every)


@SAMPLERS.register("r3_causal")
def r3_causal(lower, upper, n, every: int = 1, alpha: float = 5.0, beta: float = -0.5, beta_lr: float = 1e-3,
              tol: float = 20.0, beta_clip: float = 0.1) -> CausalR3:
    """Causal R3 (Daw et al. 2023): R3 on residual x a causal gate in time that opens as the residual falls."""
    check_at_least(1, every=every)
    check_at_least(0, beta_lr=beta_lr, tol=tol, beta_clip=beta_clip)
    if alpha <= 0:
        raise ConfigError("alpha", alpha, "a positive gate steepness")
    return CausalR3(tuple(lower), tuple(upper), n, every, alpha, beta, beta_lr, tol, beta_clip)
