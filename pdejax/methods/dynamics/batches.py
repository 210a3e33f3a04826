"""Training batches of trajectories, drawn on the device."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...training import AbstractDeviceSource


class TrajectoryWindows(AbstractDeviceSource):
    """Each step: ``batch_size`` training trajectories (distinct, at random) and one random
    window of ``window + 1`` consecutive observations, the same for the whole batch.

    The batch is ``{"ys": (batch_size, window + 1, *state), "start": ()}`` (``start``: the
    window's first index into the objective's times), plus ``"mask"`` of the same shape as
    ``ys`` when the data have one (irregular observations).

    Args:
        ys: ``(n, T, *state)`` the training trajectories (on the device).
        batch_size: trajectories per step (at most ``n``).
        window: intervals per window (at most ``T - 1``).
        mask: ``(n, T, *state)`` booleans, ``True`` where observed (``None``: all observed).
    """

    ys: Float[Array, "n T *state"]
    mask: Array | None
    batch_size: int = eqx.field(static=True)
    window: int = eqx.field(static=True)

    def __init__(self, ys, batch_size: int, window: int, mask=None):
        if not 0 < batch_size <= ys.shape[0]:
            raise ValueError(f"batch_size {batch_size}: between 1 and the {ys.shape[0]} training trajectories")
        if not 0 < window < ys.shape[1]:
            raise ValueError(f"window {window}: between 1 and {ys.shape[1] - 1} intervals")
        self.ys, self.mask, self.batch_size, self.window = ys, mask, batch_size, window

    def draw(self, model, state, key, step):
        k_rows, k_start = jax.random.split(key)
        rows = jax.random.choice(k_rows, self.ys.shape[0], (self.batch_size,), replace=False)
        start = jax.random.randint(k_start, (), 0, self.ys.shape[1] - self.window)
        batch = {"ys": jax.lax.dynamic_slice_in_dim(self.ys[rows], start, self.window + 1, axis=1),
                 "start": start.astype(jnp.int32)}
        if self.mask is not None:
            batch["mask"] = jax.lax.dynamic_slice_in_dim(self.mask[rows], start, self.window + 1, axis=1)
        return batch, state
