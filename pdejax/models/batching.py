"""Applying one-sample models to batches."""

from __future__ import annotations

from typing import Any

import jax
from jaxtyping import Array


def apply_batch(model: Any, x: Array) -> Array:
    """``model`` (written for one sample) applied to every sample along ``x``'s axis 0.

    Uses ``model.batch(x)`` where the model has a batch-native path (:class:`~pdejax.models.FNO`,
    :class:`~pdejax.models.SpectralConv`, :class:`~pdejax.objectives.operator.NormalizedOperator`),
    else ``jax.vmap(model)(x)``; the two give the same numbers. A user model can provide
    its own ``batch`` method (``(batch, *in) -> (batch, *out)``) to be used here.
    """
    batch = getattr(model, "batch", None)
    return batch(x) if callable(batch) else jax.vmap(model)(x)
