"""The training state: one pytree, whose arrays are all saved in checkpoints."""

from __future__ import annotations

from typing import Any

import equinox as eqx
from jaxtyping import Array, Int, UInt32


class TrainState(eqx.Module):
    """Everything that changes during training.

    Attributes:
        step: global step counter (over all phases), int32 scalar.
        model: the model being trained (an Equinox module; its arrays are the parameters).
        opt_state: the current phase's optimizer state.
        combiner_state: the gradient combiner's state (e.g. adaptive loss weights).
        batch_state: the batch source's state (adaptive collocation points, or the
            fixed batch of an L-BFGS phase).
        key: raw PRNG key, uint32[2]; split once per step.
    """

    step: Int[Array, ""]
    model: Any
    opt_state: Any
    combiner_state: Any
    batch_state: Any
    key: UInt32[Array, "2"]

    @property
    def params(self) -> Any:
        """The model's arrays (``eqx.filter(model, eqx.is_array)``)."""
        return eqx.filter(self.model, eqx.is_array)
