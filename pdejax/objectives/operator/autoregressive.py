"""Next-step training on trajectories, unrolled on the model's own predictions."""

from __future__ import annotations

from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..base import AbstractObjective, Losses
from .augment import Augmentation
from .losses import data_loss
from .normalizer import NormalizedOperator, Normalizer
from .physics import PhysicsResidual
from .refiner import RefinedOperator, Refinement, RefinerNet, rollout
from .unroll import unroll_batch


class AutoregressiveObjective(AbstractObjective):
    """Next-step training on trajectories with ``unroll``-step rollouts.

    A batch is ``{"frames": (B, history + unroll, fields, *grid), "t0": (B,)}``: windows of
    consecutive frames and the index of each window's first frame. The model maps the last
    ``history`` frames ``(history * fields, *grid)`` (normalised per field by ``norm``) to
    the next frame ``(fields, *grid)`` and is unrolled ``unroll`` steps on its own
    predictions. The ``data`` loss is the mean over the unrolled steps of the per-sample
    relative L2 (the FNO paper's recurrent training); with ``pushforward`` (Brandstetter
    et al. 2022) the first ``unroll - 1`` steps run without gradient and only the last
    step is trained, so the model learns to correct its own errors at the cost of one
    backward step. An optional PINO-style ``physics`` term penalises the PDE residual
    between consecutive predicted frames (frame ``k`` at time ``time0 + k dt``). With
    ``augment`` (:class:`~pdejax.objectives.operator.Augmentation`) every window is first
    transformed by the PDE's Lie point symmetries, drawn per sample from the step's key.

    With a ``refiner`` (:class:`~pdejax.objectives.operator.refiner.Refinement`, PDE-Refiner)
    the model is a :class:`~pdejax.objectives.operator.refiner.RefinerNet`, ``unroll`` is 1,
    and the ``data`` loss is the refiner's: for a step ``k`` drawn uniformly from
    ``{0..K}`` per sample, the one-step MSE (``k = 0``) or the MSE of the predicted noise
    (``k > 0``); prediction runs the ``1 + K`` refinement calls.
    """

    norm: Normalizer  # per field
    history: int = eqx.field(static=True)
    unroll: int = eqx.field(static=True)
    pushforward: bool = eqx.field(static=True, default=False)
    loss_kind: Literal["rel_l2", "mse"] = eqx.field(static=True, default="rel_l2")
    physics: PhysicsResidual | None = None
    augment: Augmentation | None = None
    time0: float = eqx.field(static=True, default=0.0)
    refiner: Refinement | None = None

    def __check_init__(self):
        if self.refiner is not None and (self.unroll != 1 or self.pushforward or self.physics is not None):
            raise ValueError("AutoregressiveObjective: a refiner trains one step (unroll = 1, no pushforward, "
                             f"no physics term), got unroll = {self.unroll}, pushforward = {self.pushforward}, "
                             f"physics = {self.physics is not None}")

    @property
    def loss_names(self) -> tuple[str, ...]:
        return ("data",) + (("physics",) if self.physics is not None else ())

    @property
    def grid_axes(self) -> int:
        return self.norm.mean.ndim - 1

    def step_model(self, model: Any) -> NormalizedOperator | RefinedOperator:
        """The one-step operator in physical units: ``(history * fields, *grid) -> (fields, *grid)``
        (refined, when the objective has a refiner)."""
        if self.refiner is not None:
            net = model if self.augment is None else self.augment.condition_refiner(model)
            return RefinedOperator(net, self.refiner, self.norm.repeat(self.history), self.norm)
        net = model if self.augment is None else self.augment.condition(model)  # + conditioning channels
        return NormalizedOperator(net, self.norm.repeat(self.history), self.norm)

    def rollout(self, model: Any, history: Array, n_steps: int, *, key: Any = None) -> Array:
        """``n_steps`` predicted frames ``(batch, n_steps, fields, *grid)`` after ``history``
        ``(batch, self.history, fields, *grid)``, in physical units (:func:`~pdejax.objectives.operator.rollout`)."""
        return rollout(self.step_model(model), history, n_steps, key=key)

    def loss(self, model: Any, batch: Any, key: Any) -> tuple[Losses, dict[str, Array]]:
        frames = batch["frames"]  # (B, history + unroll, fields, *grid)
        if self.augment is not None:  # symmetry transforms, from a stream of the key of their own
            frames, conditions = self.augment(frames, batch["t0"], jax.random.fold_in(key, 0x4C5053))
        if self.refiner is not None:
            if self.augment is not None:
                model = self.augment.condition_refiner(model, conditions)
            return self._refiner_loss(model, frames, key), {}
        step = self.step_model(model)
        if self.augment is not None:
            step = self.augment.conditioned(step, conditions)
        hist, target = frames[:, :self.history], frames[:, self.history:]
        if self.pushforward and self.unroll > 1:
            warm = unroll_batch(step.batch, hist, self.unroll - 1)
            start = jax.lax.stop_gradient(jnp.concatenate([hist, warm], axis=1))
            window = start[:, -self.history:]
            pred = step.batch(window.reshape(window.shape[0], -1, *window.shape[3:]))[:, None]
            target, prev = target[:, -1:], start[:, -1:]
        else:
            pred = unroll_batch(step.batch, hist, self.unroll)
            prev = hist[:, -1:]
        per_step = jnp.stack([data_loss(self.loss_kind, pred[:, k], target[:, k]) for k in range(pred.shape[1])])
        losses = {"data": jnp.mean(per_step)}
        if self.physics is not None:
            # Residual between consecutive frames: the last known (or warm-up) frame, then the trained ones.
            seq = jnp.concatenate([prev, pred], axis=1)
            first_frame = batch["t0"] + self.history + self.unroll - pred.shape[1] - 1
            t0 = self.time0 + first_frame * self.physics.dt
            losses["physics"] = jnp.mean(jax.vmap(self.physics)(seq, t0))
        return losses, {}

    def _refiner_loss(self, model: RefinerNet, frames: Array, key: Any) -> Losses:
        hist, target = frames[:, :self.history], frames[:, self.history]
        norm, window_norm = jax.lax.stop_gradient((self.norm, self.norm.repeat(self.history)))
        window = window_norm.encode(hist.reshape(hist.shape[0], -1, *hist.shape[3:]))
        k, noise = self.refiner.draw(key, target)
        return {"data": jnp.mean(self.refiner.sample_losses(model, window, target, norm, k, noise))}
