"""Curriculum training: one network trained on a sequence of PDEs (e.g. rising Reynolds numbers).

jaxpi's lid-driven cavity at Re = 3200 is trained through Re = 100, 400, 1000, 1600 first,
each stage starting from the previous stage's network (Wang et al. 2023, 2024). Here the
first stage is the run's own phase, on the ``pde`` section as configured; each entry of
``objective.curriculum`` is a later stage, ``{steps, pde: {<parameters that change>}}``,
trained by a fresh optimizer of the run's ``optimizer`` section (a :class:`StagePhase`).

A stage swaps the PDE inside the model (:attr:`PINNField.pde`, which the residual reads),
so checkpoints, ``--resume``, logs and evaluation work unchanged: the phase index in a
checkpoint says which stage a resumed run is in. Evaluation follows the last stage's PDE
only if the evaluator does (it is built from the ``pde`` section).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from ...objectives import PINNField
from ...pde import PDE
from ...training import AbstractPhase
from ...training.state import TrainState


def with_pde(model: PINNField, pde: PDE) -> PINNField:
    """``model`` solving ``pde`` (same network and parameters)."""
    return eqx.tree_at(lambda m: m.pde, model, pde)


class WrappedStep:
    """A compiled step that behaves as the step it wraps (attributes and calls go to it);
    subclasses change only what happens when their phase starts (``init``)."""

    def __init__(self, step: Any):
        self.step = step

    def __getattr__(self, name: str) -> Any:
        return getattr(self.step, name)

    def __call__(self, *args, **kwargs):
        return self.step(*args, **kwargs)


class StageStep(WrappedStep):
    """A phase's compiled step on one curriculum stage: the model takes the stage's PDE
    when the phase starts; everything else is the wrapped step's."""

    def __init__(self, step: Any, pde: PDE):
        super().__init__(step)
        self.pde = pde

    def init(self, model: PINNField, key: jax.Array, *, step: int = 0) -> TrainState:
        return self.step.init(with_pde(model, self.pde), key, step=step)

    def continue_from(self, state: TrainState) -> TrainState:
        entered = TrainState(state.step, with_pde(state.model, self.pde), state.opt_state, state.combiner_state,
                             state.batch_state, state.key)
        return self.step.continue_from(entered)


class StagePhase(AbstractPhase):
    """``inner`` (an optax or L-BFGS phase) trained on the stage's ``pde``."""

    inner: AbstractPhase
    pde: PDE

    def __init__(self, inner: AbstractPhase, pde: PDE):
        self.inner, self.pde, self.steps = inner, pde, inner.steps

    def make_step(self, objective, source, combiner, mesh):
        return StageStep(self.inner.make_step(objective, source, combiner, mesh), self.pde)

    def learning_rate(self, phase_step: int) -> float | None:
        return self.inner.learning_rate(phase_step)
