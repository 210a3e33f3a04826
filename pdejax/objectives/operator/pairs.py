"""Supervised operator learning on ``(input, output)`` pairs, with an optional PINO residual."""

from __future__ import annotations

from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ...models.batching import apply_batch
from ..base import AbstractObjective, Losses
from .losses import data_loss, mean_relative_l2
from .normalizer import NormalizedOperator, Normalizer
from .physics import PhysicsResidual


class OperatorObjective(AbstractObjective):
    """Supervised operator learning on ``(input, output)`` pairs.

    The model works on normalised data; losses are taken in physical units through
    ``input_norm`` / ``output_norm``. A batch is ``{"x": (B, c_in, *grid), "y": (B, c_out, *grid)}``.

    Loss terms: ``data`` (per-sample relative L2 in physical units, mean over the
    batch; or ``mse``); with a physics residual also ``physics`` (on the output frames,
    which must be consecutive frames of one trajectory array, the first at time
    ``physics_t0``) and ``initial`` (relative L2 of the predicted first frame against the
    input frame, when the output starts at the input's frame), so
    ``objective.weights.data = 0`` trains from physics alone.
    """

    input_norm: Normalizer
    output_norm: Normalizer
    loss_kind: Literal["rel_l2", "mse"] = eqx.field(static=True, default="rel_l2")
    physics: PhysicsResidual | None = None
    physics_frames: tuple[int, int] = eqx.field(static=True, default=(0, 1))  # (first output frame, fields)
    physics_t0: float = eqx.field(static=True, default=0.0)
    initial: bool = eqx.field(static=True, default=False)  # output frame 0 is the input's first frame

    @property
    def loss_names(self) -> tuple[str, ...]:
        return ("data",) + (("physics",) if self.physics is not None else ()) + (("initial",) if self.initial else ())

    @property
    def grid_axes(self) -> int:
        return self.input_norm.mean.ndim - 1

    def physical(self, model: Any) -> NormalizedOperator:
        """``model`` in physical units, through the normalisers."""
        return NormalizedOperator(model, self.input_norm, self.output_norm)

    def loss(self, model: Any, batch: Any, key: Any) -> tuple[Losses, dict[str, Array]]:
        x, y = batch["x"], batch["y"]
        pred = apply_batch(self.physical(model), x)
        losses = {"data": data_loss(self.loss_kind, pred, y)}
        if self.physics is not None:
            _, fields = self.physics_frames
            frames = pred.reshape(pred.shape[0], -1, fields, *pred.shape[2:])
            losses["physics"] = jnp.mean(jax.vmap(lambda f: self.physics(f, self.physics_t0))(frames))
            if self.initial:
                losses["initial"] = mean_relative_l2(frames[:, 0], x[:, :fields])
        return losses, {}
