"""Autoregressive prediction: a one-step operator applied to its own outputs.

(``pdejax.spectral.rollout`` time-steps a known PDE; ``unroll`` here iterates a learned map.)
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def unroll(step: Callable[[Array], Array], history: Float[Array, "frames fields *grid"],
            n_steps: int, *, keep: int | None = None) -> Float[Array, "n_steps fields *grid"]:
    """Predict ``n_steps`` frames autoregressively from the last ``keep`` frames of ``history``.

    ``step`` maps the stacked window ``(keep * fields, *grid)`` to the next frame
    ``(fields, *grid)``; the window then drops its oldest frame and appends the prediction.
    """
    return _unroll(step, history, n_steps, keep, frame_axis=0)


def unroll_batch(step: Callable[[Array], Array], history: Float[Array, "batch frames fields *grid"],
                  n_steps: int, *, keep: int | None = None) -> Float[Array, "batch n_steps fields *grid"]:
    """:func:`unroll` of a batch: ``step`` maps ``(batch, keep * fields, *grid)`` to
    ``(batch, fields, *grid)``, e.g. ``lambda w: apply_batch(model, w)``."""
    return _unroll(step, history, n_steps, keep, frame_axis=1)


def _unroll(step, history, n_steps: int, keep: int | None, frame_axis: int):
    keep = history.shape[frame_axis] if keep is None else keep
    window = jax.lax.slice_in_dim(history, history.shape[frame_axis] - keep, None, axis=frame_axis)
    lead = window.shape[:frame_axis]

    def one(window, _):
        new = step(window.reshape(*lead, -1, *window.shape[frame_axis + 2:]))
        rest = jax.lax.slice_in_dim(window, 1, None, axis=frame_axis)
        return jnp.concatenate([rest, jnp.expand_dims(new, frame_axis)], axis=frame_axis), new

    _, frames = jax.lax.scan(one, window, None, length=n_steps)
    return jnp.moveaxis(frames, 0, frame_axis)
