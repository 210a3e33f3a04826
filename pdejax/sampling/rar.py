"""Residual-based adaptive refinement (RAR; Lu et al., DeepXDE, SIAM Review 2021).

RAR grows the set of collocation points where the residual is large: every ``every``
steps it draws ``m`` uniform candidates, evaluates the residual of the current model
there, and adds the ``k`` candidates with the largest residual to the set.

Shapes stay fixed under ``jit`` by giving the set a static *capacity*: the state holds
``capacity`` point slots and the number ``count`` of those filled. The set starts with
``start`` uniform points (``n <= start <= capacity``) and grows by ``k`` per refinement
until it is full; later refinements change nothing. Each training step uses ``n``
points of the set drawn without replacement (all of it while it holds ``n`` points),
an unbiased estimate of the residual loss over the whole set, as in minibatch training
on DeepXDE's growing training set. Slots not yet filled are never drawn.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from ..config.errors import ConfigError
from .samplers import SAMPLERS, AbstractSampler, check_at_least, uniform_in_box


class RARState(NamedTuple):
    points: Float[Array, "capacity d"]
    count: Int[Array, ""]  # slots filled: points[:count] is the set


class RAR(AbstractSampler):
    """Residual-based adaptive refinement with a fixed-capacity point set (see the module's doc)."""

    capacity: int = eqx.field(static=True)
    start: int = eqx.field(static=True)
    every: int = eqx.field(static=True, default=1000)
    k: int = eqx.field(static=True, default=32)
    m: int = eqx.field(static=True, default=4096)

    def init(self, key, dtype):
        # Slots past `start` hold placeholders until refinement fills them.
        points = uniform_in_box(key, self.capacity, *self.bounds(dtype))
        return RARState(points, jnp.asarray(self.start, jnp.int32))

    def sample(self, state, key, step, score, dtype):
        score = self.require_score(score)
        k_candidates, k_pick = jax.random.split(key)

        def refine(state):
            candidates = uniform_in_box(k_candidates, self.m, *self.bounds(dtype))
            _, best = jax.lax.top_k(jax.lax.stop_gradient(score(candidates)), self.k)
            slots = state.count + jnp.arange(self.k, dtype=jnp.int32)
            points = state.points.at[slots].set(candidates[best], mode="drop")  # past capacity: dropped
            return RARState(points, jnp.minimum(state.count + self.k, self.capacity))

        due = (step > 0) & (step % self.every == 0) & (state.count < self.capacity)
        state = jax.lax.cond(due, refine, lambda s: s, state)
        filled = (jnp.arange(self.capacity) < state.count).astype(dtype)
        index = jax.random.choice(k_pick, self.capacity, (self.n,), replace=False, p=filled / jnp.sum(filled))
        return state.points[index], state


@SAMPLERS.register("rar")
def rar(lower, upper, n, every: int = 1000, k: int = 32, m: int = 4096, start: int | None = None,
        capacity: int | None = None) -> RAR:
    """Residual-based adaptive refinement (Lu et al. 2021): a growing set of high-residual points.

    Every ``every`` steps the ``k`` of ``m`` uniform candidates with the largest residual join
    the set (``start`` points at first, default ``n``; at most ``capacity``, default ``2n``)."""
    start = n if start is None else start
    capacity = 2 * n if capacity is None else capacity
    check_at_least(1, every=every, k=k)
    check_at_least(k, m=m)
    if start < n:
        raise ConfigError("start", start, f"at least the {n} points a step draws from the set")
    if capacity < start:
        raise ConfigError("capacity", capacity, f"a capacity >= start = {start}")
    return RAR(tuple(lower), tuple(upper), n, capacity, start, every, k, m)
