"""The training state: one pytree of arrays, all of it saved in checkpoints."""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Int, UInt32


class TrainState(eqx.Module):
    """Everything that changes during training.

    Attributes:
        step: global step counter (over all phases), int32 scalar.
        params: the model's arrays (``eqx.partition(model, eqx.is_array)[0]``).
        opt_state: the current phase's optimizer state.
        batch_state: the batch source's state (adaptive collocation points, or the
            fixed batch of an L-BFGS phase).
        key: raw PRNG key, uint32[2]; split once per step.
    """

    step: Int[Array, ""]
    params: Any
    opt_state: Any
    batch_state: Any
    key: UInt32[Array, "2"]
