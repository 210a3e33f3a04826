"""Lie-point-symmetry data augmentation of training windows, inside the compiled step.

Each sample of a batch of trajectory windows is transformed by the PDE's symmetry groups
(:mod:`pdejax.pde.symmetries`) with group parameters drawn from the step's key, so the
host feed is untouched and a run is reproducible (and resumable) from its seed. Groups
that rescale the period, the time step or a parameter change what the grid means; the
model then gets one constant input channel per changed quantity holding its log-factor
against the data (0 on the data itself), through :class:`Conditioned`.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ...models.batching import apply_batch
from ...pde.symmetries import AbstractSymmetry, TrajectoryCoordinates


class Conditioned(eqx.Module):
    """A model fed extra constant input channels: ``net(concat(x, values))``.

    ``values`` is ``(n,)`` for one sample (the model's input is ``(c + n, *grid)``), or
    ``(batch, n)`` for :meth:`batch`, one row per sample.
    """

    net: Any
    values: Float[Array, "*batch n"]

    def _extra(self, values: Array, x: Array) -> Array:
        return jnp.broadcast_to(values.astype(x.dtype).reshape(values.shape + (1,) * (x.ndim - 1)),
                                values.shape + x.shape[1:])

    def __call__(self, x: Float[Array, "c *grid"]) -> Float[Array, "c_out *grid"]:
        return self.net(jnp.concatenate([x, self._extra(self.values, x)]))

    def batch(self, x: Float[Array, "batch c *grid"]) -> Float[Array, "batch c_out *grid"]:
        values = jnp.broadcast_to(self.values, (x.shape[0], self.values.shape[-1]))
        extra = jax.vmap(self._extra)(values, x)
        return apply_batch(self.net, jnp.concatenate([x, extra], axis=1))


class Augmentation(eqx.Module):
    """Symmetry transforms of trajectory windows, one draw per sample per step.

    Every sample is augmented with probability ``probability`` (else left as it is);
    an augmented one goes through each group in turn with parameter
    ``group.draw(key, magnitude)``. A window starting at frame ``s`` has frame times
    ``time0 + (s + k) dt`` (absolute times, so a boost moves frame ``k`` by ``ε t_k``).

    Args:
        groups: ``((name, group, magnitude), ...)`` in the order applied.
        dt: the data's frame spacing.
        time0: the time of the data's first frame.
        length: the data's period (domain length).
        probability: chance that a sample is transformed.

    Example (KS windows, translation and boost):
        >>> from pdejax.pde.symmetries import GalileanBoost, SpaceTranslation
        >>> aug = Augmentation((("space_shift", SpaceTranslation(), 1.0),
        ...                     ("galilean", GalileanBoost(), 0.4)), dt=0.5, time0=0.0, length=64.0)
        >>> frames, values = aug(jnp.zeros((8, 3, 1, 32)), jnp.zeros(8, int), jax.random.key(0))
        >>> frames.shape, values.shape  # no channels: nothing but the fields changed
        ((8, 3, 1, 32), (8, 0))
    """

    groups: tuple[tuple[str, AbstractSymmetry, float], ...] = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    time0: float = eqx.field(static=True)
    length: float = eqx.field(static=True)
    probability: float = eqx.field(static=True, default=1.0)

    @property
    def conditions(self) -> tuple[str, ...]:
        """Names of the conditioning channels: what the groups rescale, in order of first appearance."""
        names: list[str] = []
        for _, group, magnitude in self.groups:
            names += [c for c in group.changes if magnitude > 0 and c not in names]
        return tuple(names)

    def one(self, frames: Float[Array, "T fields n"], start: Int[Array, ""], key: PRNGKeyArray
            ) -> tuple[Float[Array, "T fields n"], Float[Array, " conditions"]]:
        """One window transformed, and the log-factors of what changed (one per condition)."""
        times = self.time0 + (start + jnp.arange(frames.shape[0])) * self.dt
        coords = TrajectoryCoordinates(times, jnp.asarray(self.length, times.dtype), {})
        k_apply, *k_groups = jax.random.split(key, 1 + len(self.groups))
        out = frames
        for (_, group, magnitude), k in zip(self.groups, k_groups):
            if magnitude > 0:
                out, coords = group(out, group.draw(k, magnitude), coords)
        values = jnp.stack([coords.log_factors[c] for c in self.conditions]) if self.conditions \
            else jnp.zeros((0,), times.dtype)
        if self.probability >= 1:
            return out, values
        keep = jax.random.bernoulli(k_apply, self.probability)
        return jnp.where(keep, out, frames), jnp.where(keep, values, 0.0)

    def __call__(self, frames: Float[Array, "batch T fields n"], starts: Int[Array, " batch"],
                 key: PRNGKeyArray) -> tuple[Float[Array, "batch T fields n"], Float[Array, "batch conditions"]]:
        """A batch of windows transformed (``starts``: each window's first frame index)."""
        keys = jax.random.split(key, frames.shape[0])
        return jax.vmap(self.one)(frames, jnp.asarray(starts), keys)

    def condition(self, model: Any) -> Any:
        """``model`` given the data's own conditions (zeros) where there are any, else ``model``."""
        if not self.conditions:
            return model
        dtype = jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)) or [jnp.zeros(())]
        return Conditioned(model, jnp.zeros(len(self.conditions), dtype[0].dtype))

    def condition_refiner(self, model: Any, values: Float[Array, "batch conditions"] | None = None) -> Any:
        """A :class:`~pdejax.objectives.operator.refiner.RefinerNet` whose wrapped network also
        gets the conditioning channels (after the window, the estimate and the step ``k``):
        each sample's ``values`` (from :meth:`__call__`), or the data's own (zeros) for ``None``."""
        if not self.conditions:
            return model
        net = self.condition(model.net)
        if values is not None:
            net = eqx.tree_at(lambda c: c.values, net, values.astype(net.values.dtype))
        return eqx.tree_at(lambda m: m.net, model, net)

    def conditioned(self, step: Any, values: Float[Array, "batch conditions"]) -> Any:
        """``step`` (a :class:`NormalizedOperator` around :meth:`condition`'s model) with each
        sample's conditions ``values`` (from :meth:`__call__`) in place of the data's."""
        if not self.conditions:
            return step
        return eqx.tree_at(lambda s: s.net.values, step, values.astype(step.net.values.dtype))
