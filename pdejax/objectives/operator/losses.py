"""Data losses of operator learning, per sample and averaged over the batch."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ...metrics import relative_l2


def mean_relative_l2(pred: Float[Array, "batch channels *grid"],
                     true: Float[Array, "batch channels *grid"]) -> Float[Array, ""]:
    """Per-sample relative L2 over channels and grid, mean over the batch (FNO's metric)."""
    return jnp.mean(relative_l2(pred, true))


def data_loss(kind: str, pred: Float[Array, "batch channels *grid"],
              true: Float[Array, "batch channels *grid"]) -> Float[Array, ""]:
    """``rel_l2`` (:func:`mean_relative_l2`) or ``mse``."""
    return mean_relative_l2(pred, true) if kind == "rel_l2" else jnp.mean((pred - true) ** 2)
