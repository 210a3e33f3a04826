"""Optimisation phases: a stretch of training with one optimizer (e.g. Adam, then L-BFGS).

A phase makes the compiled step of its stretch: :class:`OptaxPhase` the standard
:func:`~pdejax.training.make_step`; :class:`LBFGSPhase` its own step
(:class:`LBFGSStep`, same interface), since L-BFGS needs one fixed batch, line searches
and rejection of failed steps.
"""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from ..objectives import AbstractObjective
from .combiners import GradientCombiner
from .sources import AbstractDeviceSource
from .state import TrainState
from .step import Step, make_step


class AbstractPhase(eqx.Module):
    """``steps`` steps of one optimizer. Subclass this."""

    steps: int = eqx.field(static=True)

    @abc.abstractmethod
    def make_step(self, objective: AbstractObjective, source: Any, combiner: GradientCombiner,
                  mesh: Mesh) -> Step:
        """The compiled step of this phase."""

    def learning_rate(self, phase_step: int) -> float | None:
        """Learning rate ``phase_step`` steps into the phase, for logs (``None``: none)."""
        return None


class OptaxPhase(AbstractPhase):
    """Steps of an optax optimizer, with a fresh batch at every step."""

    optimizer: optax.GradientTransformation = eqx.field(static=True)
    schedule: Any = eqx.field(static=True, default=None)  # float or step -> learning rate, for logs

    def make_step(self, objective, source, combiner, mesh):
        device = source if isinstance(source, AbstractDeviceSource) else None
        return make_step(objective, self.optimizer, mesh, combiner=combiner, source=device)

    def learning_rate(self, phase_step):
        if self.schedule is None:
            return None
        return float(self.schedule(phase_step)) if callable(self.schedule) else float(self.schedule)


class LBFGSPhase(AbstractPhase):
    """L-BFGS (``optax.lbfgs`` with zoom line search) on one fixed batch.

    The batch is drawn when the phase starts and kept in the train state, so the loss
    is deterministic as L-BFGS requires; with ``resample_every`` (a multiple of the
    steps per call) a fresh batch is drawn and the memory emptied every so many steps.
    ``source`` may replace the run's batch source (e.g. more collocation points).
    Robust in float32: a step whose line search ends at a non-finite or no lower loss is
    rejected, the previous iterate kept and the L-BFGS memory restarted from it; if no
    step of a whole call is accepted the phase ends early (converged or stuck).
    The loss is the combiner's weighted sum with the weights frozen at the phase's start.
    """

    memory_size: int = eqx.field(static=True, default=10)
    source: AbstractDeviceSource | None = None
    resample_every: int = eqx.field(static=True, default=0)

    def make_step(self, objective, source, combiner, mesh):
        source = self.source if self.source is not None else source
        if not isinstance(source, AbstractDeviceSource):
            raise ValueError("L-BFGS needs a device batch source it can hold fixed; objectives fed from "
                             "a dataset cannot use it")
        return LBFGSStep(objective, optax.lbfgs(memory_size=self.memory_size), mesh, combiner, source, None,
                         "loop", resample_every=self.resample_every)


class LBFGSStep(Step):
    """The step of an :class:`LBFGSPhase`; ``logs`` hold ``loss`` and ``accepted`` per step,
    and under ``"last"`` the loss terms at the call's last step only (per step they would
    cost a forward pass)."""

    def __init__(self, *args, resample_every: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.lbfgs = args[1]
        self.resample_every = resample_every

    def _fresh(self, model, batch_state, key, step, combiner_state):
        params = eqx.filter(model, eqx.is_array)
        if combiner_state is None:
            combiner_state = self.combiner.init(params, self.objective.loss_names)
        key, k_batch = jax.random.split(key)
        batch, _ = self.source.draw(model, batch_state, k_batch, jnp.asarray(step, jnp.int32))
        return TrainState(jnp.asarray(step, jnp.int32), model, self.lbfgs.init(params), combiner_state, batch, key)

    def _redraw(self, state: TrainState) -> TrainState:
        key, k_init, k_batch = jax.random.split(state.key, 3)
        dtype = jax.tree.leaves(eqx.filter(state.model, eqx.is_array))[0].dtype
        batch, _ = self.source.draw(state.model, self.source.init(k_init, dtype), k_batch, state.step)
        params = eqx.filter(state.model, eqx.is_array)
        return TrainState(state.step, state.model, self.lbfgs.init(params), state.combiner_state, batch, key)

    def _scan(self, state, batches, n):
        if batches is not None:
            raise ValueError("L-BFGS draws its batch from a device source; it takes no host batches")
        opt = self.lbfgs
        if self.resample_every:
            # Fresh points (and an empty memory) every `resample_every` steps keep L-BFGS
            # from over-fitting one fixed set of collocation points.
            arrays, static = eqx.partition(state, eqx.is_array)
            arrays = jax.lax.cond(state.step % self.resample_every == 0,
                                  lambda a: eqx.filter(self._redraw(eqx.combine(a, static)), eqx.is_array),
                                  lambda a: a, arrays)
            state = eqx.combine(arrays, static)
        batch = self._constrain(state.batch_state)
        key = state.key
        weights = jax.lax.stop_gradient(self.combiner.weights(state.combiner_state))
        params0, static = eqx.partition(state.model, eqx.is_array)

        def terms(params):
            return self.objective.loss(eqx.combine(params, static), batch, key)

        def value_fn(params):
            losses, _ = terms(params)
            return sum(weights[k] * v for k, v in losses.items())

        value_and_grad = optax.value_and_grad_from_state(value_fn)

        def attempt(carry):
            params, opt_state, step = carry
            value, grad = value_and_grad(params, state=opt_state)
            updates, new_opt = opt.update(grad, opt_state, params, value=value, grad=grad, value_fn=value_fn)
            new_params = optax.apply_updates(params, updates)
            new_value = optax.tree_utils.tree_get(new_opt, "value")
            ok = jnp.isfinite(new_value) & (new_value < value)
            # A rejected step keeps the iterate and restarts L-BFGS from it with an empty
            # memory (steepest descent + line search), the standard remedy in float32.
            new_params = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new_params, params)
            new_opt = jax.lax.cond(ok, lambda: new_opt, lambda: opt.init(params))
            return (new_params, new_opt, step + 1), jnp.where(ok, new_value, value), ok

        def one(carry, _):
            inner, rejected, last = carry
            # After two rejections in a row (the restart failed too) the rest of the call
            # only counts steps: failed line searches are the most expensive iterations.
            skip = lambda c: ((c[0], c[1], c[2] + 1), last, jnp.array(False))  # noqa: E731
            new, value, ok = jax.lax.cond(rejected >= 2, skip, attempt, inner)
            rejected = jnp.where(ok, 0, rejected + 1)
            return (new, rejected, value), {"loss": value, "accepted": ok.astype(value.dtype)}

        dtype = jax.tree.leaves(params0)[0].dtype
        init = ((params0, state.opt_state, state.step), jnp.int32(0), jnp.asarray(jnp.inf, dtype))
        ((params, opt_state, step), _, _), per_step = jax.lax.scan(one, init, None, length=n)
        losses, aux = terms(params)
        state = TrainState(step, eqx.combine(params, static), opt_state, state.combiner_state, state.batch_state,
                           state.key)
        return state, {**per_step, "last": {**losses, **aux}}
