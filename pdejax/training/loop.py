"""The one training loop: compiled multi-step calls, logs, evaluation, checkpoints."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from .._signals import catch_signals
from ..objectives import AbstractObjective
from ..parallel import data_mesh
from .checkpoint import Checkpointer
from .phases import AbstractPhase, OptaxPhase
from .state import TrainState

Record = dict[str, Any]


class NonFiniteLoss(RuntimeError):
    """A loss term became NaN or infinite; the run stopped before saving anything from it."""

    def __init__(self, step: int, term: str, value: float):
        self.step, self.term, self.value = step, term, value
        super().__init__(f"loss term {term!r} is {value} at step {step}; training stopped. "
                         "The last checkpoint (if any) holds the last finite state.")


class Interrupted(RuntimeError):
    """SIGINT/SIGTERM arrived; a checkpoint was saved at ``step``."""

    def __init__(self, signum: int, step: int, saved: bool):
        self.signum, self.step, self.saved = signum, step, saved
        name = signal.Signals(signum).name
        super().__init__(f"{name} received: stopped at step {step}"
                         + (" after saving a checkpoint" if saved else " (no checkpointer: nothing saved)"))


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    model: Any
    state: TrainState
    history: list[Record]
    metrics: dict[str, float]
    steps: int
    wall_s: float
    compile_s: float
    resumed_from: int | None = None
    notes: list[str] = field(default_factory=list)


def _batch_constraint(mesh: Mesh) -> Callable[[Any], Any]:
    n = mesh.shape["data"]
    sharding = NamedSharding(mesh, P("data"))

    def constrain(batch):
        def leaf(x):
            if n > 1 and getattr(x, "ndim", 0) >= 1 and x.shape[0] % n == 0:
                return jax.lax.with_sharding_constraint(x, sharding)
            return x

        return jax.tree.map(leaf, batch)

    return constrain


def _crossed(prev: int, now: int, every: int) -> bool:
    return every > 0 and now // every > prev // every


class Start:
    """How a run begins: the initial state of any phase, or the state in a checkpoint."""

    def __init__(self, objective: AbstractObjective, model: Any, phases: Sequence[AbstractPhase],
                 seed: int, mesh: Mesh):
        self.objective, self.phases = objective, phases
        self.params, self.static = eqx.partition(model, eqx.is_array)
        self.replicated = NamedSharding(mesh, P())
        k_init, self.key = jax.random.split(jax.random.PRNGKey(seed))
        self.batch_state = objective.init_batch_state(k_init, jnp.zeros(()).dtype)

    def _init(self, i: int, params, batch_state, key, step) -> TrainState:
        phase = self.phases[i]
        return phase.init(phase.objective_for(self.objective), params, self.static, key, batch_state,
                          jnp.asarray(step, jnp.int32))

    def state(self, i: int, params, batch_state, key, step) -> TrainState:
        """Phase ``i``'s starting state, replicated over the mesh."""
        state = self._init(i, params, batch_state, key, step)
        # Optimizer states may alias one buffer in several leaves; donation needs distinct ones.
        return jax.tree.map(lambda x: jax.device_put(jnp.array(x, copy=True), self.replicated), state)

    def restore(self, checkpointer: Checkpointer, step: int | None = None) -> tuple[TrainState, int]:
        """``(state, phase index)`` from checkpoint ``step`` (default: latest)."""
        meta = checkpointer.metadata(step)
        i = int(meta["phase"])
        template = jax.eval_shape(lambda: self._init(i, self.params, self.batch_state, self.key, meta["step"]))
        target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.replicated),
                              template)
        state, _ = checkpointer.restore(target, meta["step"])
        state = jax.block_until_ready(state)
        # Restored arrays may share host memory with the reader; the step donates its
        # input buffers, so hand it private copies.
        return jax.tree.map(lambda x: jax.device_put(jnp.array(x, copy=True), self.replicated), state), i


def fit(objective: AbstractObjective, model: Any, phases: Sequence[AbstractPhase], *, seed: int = 0,
        steps_per_call: int = 100, log_every: int = 100, eval_every: int = 1000,
        checkpointer: Checkpointer | None = None, checkpoint_every: int = 1000, resume: bool = False,
        mesh: Mesh | None = None, loss_weights: Mapping[str, float] | None = None,
        callbacks: Sequence[Callable[[Record], None]] = (), progress: bool = True) -> FitResult:
    """Train ``model`` on ``objective`` through ``phases`` (e.g. Adam then L-BFGS).

    Each compiled call runs up to ``steps_per_call`` steps (``lax.scan``) so the host
    syncs once per call. Logs, evaluations and checkpoints happen at multiples of
    ``log_every``, ``eval_every`` and ``checkpoint_every`` (global steps) and at the
    end. Parameters are replicated over ``mesh`` and batches sharded along its
    ``data`` axis (default: one-device mesh).

    Raises:
        NonFiniteLoss: a loss term is NaN/inf; nothing from that call is saved.
        Interrupted: SIGINT/SIGTERM; a checkpoint of the current step was saved.
    """
    mesh = mesh if mesh is not None else data_mesh(1)
    weights = dict(loss_weights or {})
    constrain = _batch_constraint(mesh)
    start = Start(objective, model, phases, seed, mesh)
    static = start.static
    ends = np.cumsum([p.steps for p in phases]).tolist()
    starts = [0] + ends[:-1]
    total = ends[-1] if ends else 0
    resumed_from = None
    if resume and checkpointer is not None and checkpointer.latest_step() is not None:
        state, phase_idx = start.restore(checkpointer)
        resumed_from = int(state.step)
    else:
        state, phase_idx = start.state(0, start.params, start.batch_state, start.key, 0), 0
    objectives = [p.objective_for(objective) for p in phases]

    compiled: dict[tuple[int, int], Any] = {}
    compile_s = 0.0

    feed = objective.feed
    fed_sharding = NamedSharding(mesh, P(None, "data"))  # (steps, batch, ...): batch along data

    def fetch(step: int, n: int):
        if feed is None:
            return None
        return jax.tree.map(lambda x: jax.device_put(x, fed_sharding), feed.get(step, n))

    def runner(i: int, n: int, fed):
        nonlocal compile_s
        if (i, n) not in compiled:
            fn = jax.jit(lambda s, f: phases[i].run(objectives[i], static, weights, constrain, s, n, f),
                         donate_argnums=0)
            t0 = time.perf_counter()
            compiled[(i, n)] = fn.lower(state, fed).compile()
            compile_s += time.perf_counter() - t0
        return compiled[(i, n)]

    evaluate = objective.evaluator(static)

    def save(step: int, i: int):
        if checkpointer is not None:
            checkpointer.save(step, state, {"step": step, "phase": i, "phase_name": type(phases[i]).__name__})

    history: list[Record] = []
    notes: list[str] = []
    metrics: dict[str, float] = {}
    step = int(state.step)
    t_start = time.perf_counter()
    bar = tqdm(total=total, initial=step, disable=not progress, unit="step", dynamic_ncols=True,
               mininterval=0.5, desc="train")
    try:
        with catch_signals() as received:
            while phase_idx < len(phases):
                end = ends[phase_idx]
                phase = phases[phase_idx]
                stalled = False
                while step < end:
                    n = min(steps_per_call - step % steps_per_call, end - step)
                    t0 = time.perf_counter()
                    fed = fetch(step, n)
                    run = runner(phase_idx, n, fed)
                    state, per_step, last = run(state, fed)
                    per_step, last = jax.device_get((per_step, last))
                    prev, step = step, step + n
                    _check_finite(per_step, last, prev)
                    dt = time.perf_counter() - t0
                    bar.update(n)
                    bar.set_postfix(loss=f"{per_step['loss'][-1]:.3e}", steps_s=f"{n / dt:.0f}")
                    if "accepted" in per_step and not per_step["accepted"].any():
                        stalled = True
                        notes.append(f"{type(phase).__name__} made no progress from step {prev}; "
                                     f"phase ended at step {step}")
                    finished = step == end or stalled
                    if _crossed(prev, step, log_every) or finished or received:
                        record = {"step": step, "phase": type(phase).__name__,
                                  **{k: float(v[-1]) for k, v in per_step.items()},
                                  **{k: float(v) for k, v in last.items()},
                                  "wall_s": time.perf_counter() - t_start, "steps_per_s": n / dt}
                        if isinstance(phase, OptaxPhase):
                            record["lr"] = phase.learning_rate(step - starts[phase_idx])
                        if _crossed(prev, step, eval_every) or (finished and phase_idx == len(phases) - 1):
                            metrics = evaluate(state.params)
                            record.update(metrics)
                        history.append(record)
                        for cb in callbacks:
                            cb(record)
                    if _crossed(prev, step, checkpoint_every) or finished:
                        save(step, phase_idx)
                    if received:
                        if not (_crossed(prev, step, checkpoint_every) or finished):
                            save(step, phase_idx)
                        raise Interrupted(received[0], step, checkpointer is not None)
                    if stalled:
                        break
                phase_idx += 1
                if phase_idx < len(phases):
                    state = start.state(phase_idx, state.params, state.batch_state, state.key, step)
                    if stalled:
                        total -= end - step
    finally:
        bar.close()
        if feed is not None:
            feed.close()
    if not metrics:
        metrics = evaluate(state.params)
    return FitResult(model=eqx.combine(state.params, static), state=state, history=history, metrics=metrics,
                     steps=step, wall_s=time.perf_counter() - t_start, compile_s=compile_s,
                     resumed_from=resumed_from, notes=notes)


def _check_finite(per_step: Mapping[str, np.ndarray], last: Mapping[str, np.ndarray], first_step: int):
    bad_steps = [int(np.argmax(~np.isfinite(v))) for v in per_step.values() if not np.all(np.isfinite(v))]
    if bad_steps:
        i = min(bad_steps)
        terms = [k for k, v in per_step.items() if not math.isfinite(v[i])]
        term = next((k for k in terms if k != "loss"), terms[0])
        raise NonFiniteLoss(first_step + i, term, float(per_step[term][i]))
    for k, v in last.items():
        if not np.all(np.isfinite(v)):
            raise NonFiniteLoss(first_step + len(next(iter(per_step.values()))) - 1, k, float(v))
