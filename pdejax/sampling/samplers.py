"""Collocation samplers as ``(init, sample)`` pairs with explicit state, optax style.

A sampler draws points in a box. Adaptive samplers also receive a ``score`` function
(the pointwise residual magnitude of the current model) and keep their points in
their state between resamplings, so the state is part of the checkpointed train state.
Every random choice comes from the ``key`` the training step hands in (split from the
train state's key), so a resumed run draws exactly the points of an uninterrupted one.

Registered (``objective.sampler.name``): ``uniform``, ``rad`` (here), ``sobol``,
``halton`` (:mod:`.quasirandom`), ``r3``, ``r3_causal`` (:mod:`.r3`) and ``rar``
(:mod:`.rar`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..config.errors import ConfigError
from ..config.registry import Registry

ScoreFn = Callable[[Float[Array, "n d"]], Float[Array, " n"]]
SAMPLERS = Registry("sampler", provided=("lower", "upper", "n"))


def uniform_in_box(key: PRNGKeyArray, n: int, lower: Float[Array, " d"],
                   upper: Float[Array, " d"]) -> Float[Array, "n d"]:
    """``n`` points uniformly distributed in the box ``[lower, upper]``."""
    return jax.random.uniform(key, (n, lower.shape[0]), lower.dtype, lower, upper)


class AbstractSampler(eqx.Module):
    """Base class for collocation samplers. Subclass this.

    ``init(key) -> state`` and ``sample(state, key, step, score) -> (points, state)``,
    both pure and jit-compatible; ``points`` has shape ``(n, d)``.
    """

    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    n: int = eqx.field(static=True)
    # Whether the last coordinate must be time (the sampler weighs or orders points by it),
    # and the sampler's name in configs, for error messages.
    time_dependent: ClassVar[bool] = False
    config_name: ClassVar[str] = ""

    def bounds(self, dtype) -> tuple[Array, Array]:
        return jnp.asarray(self.lower, dtype), jnp.asarray(self.upper, dtype)

    def init(self, key: PRNGKeyArray, dtype) -> Any:
        return ()

    @abc.abstractmethod
    def sample(self, state: Any, key: PRNGKeyArray, step: Int[Array, ""], score: ScoreFn,
               dtype) -> tuple[Float[Array, "n d"], Any]:
        """Points for this step and the new sampler state."""

    def point_weights(self, state: Any) -> Float[Array, " n"] | None:
        """Weights ``w`` of the points :meth:`sample` just returned (given its new state):
        the residual at point ``i`` enters the loss as ``w_i · r_i`` (causal R3's gate);
        ``None``: all points weigh the same."""
        return None

    def require_score(self, score: ScoreFn | None) -> ScoreFn:
        if score is None:
            raise ValueError(f"{type(self).__name__} scores points by the residual: give the batch source a score")
        return score


class Uniform(AbstractSampler):
    """Fresh uniform random points at every step."""

    def sample(self, state, key, step, score, dtype):
        return uniform_in_box(key, self.n, *self.bounds(dtype)), state


class RADState(NamedTuple):
    points: Array


class RAD(AbstractSampler):
    """Residual-based adaptive distribution (Wu et al., 2023).

    Every ``every`` steps, draws ``pool_factor * n`` uniform candidates and keeps ``n`` of
    them with probability ∝ ``|r|^k / mean(|r|^k) + c``; between resamplings the points
    stay fixed. ``k = 1, c = 1`` is the paper's robust default; ``c → ∞`` is uniform.
    """

    every: int = eqx.field(static=True, default=1000)
    k: float = eqx.field(static=True, default=1.0)
    c: float = eqx.field(static=True, default=1.0)
    pool_factor: int = eqx.field(static=True, default=4)

    def init(self, key, dtype):
        return RADState(uniform_in_box(key, self.n, *self.bounds(dtype)))

    def sample(self, state, key, step, score, dtype):
        def resample(_):
            k_pool, k_pick = jax.random.split(key)
            pool = uniform_in_box(k_pool, self.pool_factor * self.n, *self.bounds(dtype))
            weight = jax.lax.stop_gradient(jnp.abs(self.require_score(score)(pool))) ** self.k
            prob = weight / jnp.mean(weight) + self.c
            idx = jax.random.choice(k_pick, pool.shape[0], (self.n,), replace=False, p=prob / prob.sum())
            return pool[idx]

        points = jax.lax.cond(step % self.every == 0, resample, lambda _: state.points, None)
        return points, RADState(points)


def check_at_least(low: float, **values: float) -> None:
    """A ConfigError naming the first argument below ``low`` (for samplers' builders)."""
    for key, value in values.items():
        if value < low:
            raise ConfigError(key, value, f"a number >= {low}")


@SAMPLERS.register("uniform")
def uniform(lower, upper, n) -> Uniform:
    """Fresh uniform random points at every step."""
    return Uniform(tuple(lower), tuple(upper), n)


@SAMPLERS.register("rad")
def rad(lower, upper, n, every: int = 1000, k: float = 1.0, c: float = 1.0,
        pool_factor: int = 4) -> RAD:
    """Residual-based adaptive distribution (Wu et al. 2023), resampled every ``every`` steps."""
    for key, value, low in (("every", every, 1), ("pool_factor", pool_factor, 1), ("k", k, 0), ("c", c, 0)):
        if value < low:
            raise ConfigError(key, value, f"a number >= {low}")
    return RAD(tuple(lower), tuple(upper), n, every, k, c, pool_factor)
