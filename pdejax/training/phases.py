"""Optimisation phases: first-order (any optax optimizer) and L-BFGS.

A phase turns a :class:`TrainState` into a new one ``n`` steps later with one compiled
call (``lax.scan``), returning the per-step loss terms so the host syncs once per call.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ..objectives import AbstractObjective
from .state import TrainState

BatchConstraint = Callable[[Any], Any]


def _weighted_total(objective: AbstractObjective, weights: Mapping[str, float], static: Any,
                    batch: Any, key: Any) -> Callable[[Any], tuple[jax.Array, tuple[dict, dict]]]:
    def total(params):
        losses, aux = objective.loss(eqx.combine(params, static), batch, key)
        value = sum(weights.get(k, 1.0) * v for k, v in losses.items())
        return value, (losses, aux)

    return total


class AbstractPhase(eqx.Module):
    """A stretch of training with one optimizer. Subclass this."""

    steps: int = eqx.field(static=True)

    def objective_for(self, default: AbstractObjective) -> AbstractObjective:
        """The objective this phase trains (phases may override the run's, e.g. more points)."""
        return default

    @abc.abstractmethod
    def init(self, objective: AbstractObjective, params: Any, static: Any, key: Any,
             batch_state: Any, step: Any) -> TrainState:
        """The phase's starting state from the previous phase's parameters and batch state."""

    @abc.abstractmethod
    def run(self, objective: AbstractObjective, static: Any, weights: Mapping[str, float],
            constrain: BatchConstraint, state: TrainState, n: int,
            fed: Any = None) -> tuple[TrainState, dict, dict]:
        """``n`` steps → ``(state, per-step metrics of shape (n,), metrics at the last step)``.

        ``fed``: the steps' batches from the objective's host feed, leaves ``(n, batch, ...)``
        (``None`` when the objective draws its batches on the device).
        """


class OptaxPhase(AbstractPhase):
    """Steps of an optax optimizer, with a fresh batch from the objective at every step."""

    optimizer: optax.GradientTransformation = eqx.field(static=True)
    schedule: Any = eqx.field(static=True)  # float or step -> learning rate, for logs

    def learning_rate(self, phase_step: int) -> float:
        """Learning rate at ``phase_step`` steps into the phase (for logs)."""
        return float(self.schedule(phase_step)) if callable(self.schedule) else float(self.schedule)

    def init(self, objective, params, static, key, batch_state, step):
        return TrainState(step, params, self.optimizer.init(params), batch_state, key)

    def run(self, objective, static, weights, constrain, state, n, fed=None):
        def one(state: TrainState, fed_batch):
            key, k_batch, k_loss = jax.random.split(state.key, 3)
            model = eqx.combine(state.params, static)
            if fed_batch is None:
                batch, batch_state = objective.batch(model, state.batch_state, k_batch, state.step)
            else:
                batch, batch_state = fed_batch, state.batch_state
            batch = constrain(batch)
            total = _weighted_total(objective, weights, static, batch, k_loss)
            (value, (losses, aux)), grads = jax.value_and_grad(total, has_aux=True)(state.params)
            updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
            new = TrainState(state.step + 1, params, opt_state, batch_state, key)
            return new, {"loss": value, **losses, **aux}

        state, per_step = jax.lax.scan(one, state, fed, length=n)
        return state, per_step, {}


class LBFGSPhase(AbstractPhase):
    """L-BFGS (``optax.lbfgs`` with zoom line search) on one fixed batch.

    The batch is drawn when the phase starts and kept in the train state, so the loss
    is deterministic as L-BFGS requires; with ``resample_every`` (a multiple of the
    steps per call) a fresh batch is drawn and the memory emptied every so many steps.
    Robust in float32: a step whose line search ends at a non-finite or no lower loss is
    rejected and the previous iterate kept and the L-BFGS memory restarted from it; if no
    step of a whole call is accepted the phase ends early (converged or stuck) instead of producing NaNs.
    """

    memory_size: int = eqx.field(static=True, default=10)
    objective: AbstractObjective | None = None
    resample_every: int = eqx.field(static=True, default=0)

    def objective_for(self, default):
        return self.objective if self.objective is not None else default

    def _optimizer(self):
        return optax.lbfgs(memory_size=self.memory_size)

    def init(self, objective, params, static, key, batch_state, step):
        model = eqx.combine(params, static)
        key, k_batch = jax.random.split(key)
        batch, _ = objective.batch(model, batch_state, k_batch, step)
        return TrainState(step, params, self._optimizer().init(params), batch, key)

    def _redraw(self, objective, static, state: TrainState) -> TrainState:
        key, k_init, k_batch = jax.random.split(state.key, 3)
        dtype = jax.tree.leaves(state.params)[0].dtype
        model = eqx.combine(state.params, static)
        batch, _ = objective.batch(model, objective.init_batch_state(k_init, dtype), k_batch, state.step)
        return TrainState(state.step, state.params, self._optimizer().init(state.params), batch, key)

    def run(self, objective, static, weights, constrain, state, n, fed=None):
        if fed is not None:
            raise ValueError("L-BFGS needs a deterministic batch; objectives fed from a dataset cannot use it")
        opt = self._optimizer()
        if self.resample_every:
            # Fresh points (and an empty memory) every `resample_every` steps keep L-BFGS
            # from over-fitting one fixed set of collocation points.
            state = jax.lax.cond(state.step % self.resample_every == 0,
                                 lambda s: self._redraw(objective, static, s), lambda s: s, state)
        batch = constrain(state.batch_state)
        key = state.key

        def value_fn(params):
            return _weighted_total(objective, weights, static, batch, key)(params)[0]

        value_and_grad = optax.value_and_grad_from_state(value_fn)

        def attempt(state: TrainState) -> tuple[TrainState, jax.Array, jax.Array]:
            value, grad = value_and_grad(state.params, state=state.opt_state)
            updates, opt_state = opt.update(grad, state.opt_state, state.params, value=value,
                                            grad=grad, value_fn=value_fn)
            params = optax.apply_updates(state.params, updates)
            new_value = optax.tree_utils.tree_get(opt_state, "value")
            ok = jnp.isfinite(new_value) & (new_value < value)
            # A rejected step keeps the iterate and restarts L-BFGS from it with an empty
            # memory (steepest descent + line search), the standard remedy in float32.
            params = jax.tree.map(lambda a, b: jnp.where(ok, a, b), params, state.params)
            opt_state = jax.lax.cond(ok, lambda: opt_state, lambda: opt.init(state.params))
            return (TrainState(state.step + 1, params, opt_state, state.batch_state, state.key),
                    jnp.where(ok, new_value, value), ok)

        def one(carry, _):
            state, rejected, last = carry
            # After two rejections in a row (the restart failed too) the rest of the call
            # only counts steps: failed line searches are the most expensive iterations.
            skip = lambda s: (eqx.tree_at(lambda t: t.step, s, s.step + 1), last, jnp.array(False))
            new, value, ok = jax.lax.cond(rejected >= 2, skip, attempt, state)
            rejected = jnp.where(ok, 0, rejected + 1)
            return (new, rejected, value), {"loss": value, "accepted": ok.astype(value.dtype)}

        dtype = jax.tree.leaves(state.params)[0].dtype
        init = (state, jnp.int32(0), jnp.asarray(jnp.inf, dtype))
        (state, _, _), per_step = jax.lax.scan(one, init, None, length=n)
        # Loss terms only at the end of the call: per step they would cost a forward pass.
        _, (losses, aux) = _weighted_total(objective, weights, static, batch, key)(state.params)
        return state, per_step, {**losses, **aux}
