"""The one training loop: phases of compiled multi-step calls, logs, evaluation, checkpoints."""

from __future__ import annotations

import inspect
import math
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh
from tqdm.auto import tqdm

from .._signals import catch_signals, fault_point
from ..config.errors import ConfigError
from ..objectives import AbstractObjective
from ..parallel import data_mesh
from ..parallel.distributed import broadcast, gather, host_value, is_main_process, local_copy
from .checkpoint import Checkpointer
from .combiners import GradientCombiner, fixed
from .evaluation import AbstractEvaluator
from .loggers import AbstractLogger, Record, StopTraining
from .phases import AbstractPhase
from .sources import AbstractDeviceSource
from .state import TrainState
from .step import Step


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
    """What :func:`fit` returns; ``model`` is at the optimizer's evaluation iterate."""

    model: Any
    state: TrainState
    history: list[Record]
    metrics: dict[str, float]
    steps: int
    wall_s: float
    compile_s: float
    resumed_from: int | None = None
    notes: list[str] = field(default_factory=list)
    stopped: str | None = None  # a logger's StopTraining reason: the run ended before its last step


def _crossed(prev: int, now: int, every: int) -> bool:
    return every > 0 and now // every > prev // every


class Schedule:
    """The steps of every phase of a run, and how a run starts or resumes."""

    def __init__(self, model: Any, objective: AbstractObjective, source: Any, phases: Sequence[AbstractPhase],
                 combiner: GradientCombiner, mesh: Mesh, seed: int):
        self.model, self.phases, self.seed = model, list(phases), seed
        self.steps: list[Step] = [p.make_step(objective, source, combiner, mesh) for p in phases]
        self.ends = np.cumsum([p.steps for p in phases]).tolist()
        self.starts = [0] + self.ends[:-1]

    def initial(self) -> TrainState:
        return self.steps[0].init(self.model, jax.random.PRNGKey(self.seed))

    def restore(self, checkpointer: Checkpointer, step: int | None = None) -> tuple[TrainState, int]:
        """``(state, phase index)`` from checkpoint ``step`` (default: latest)."""
        meta = checkpointer.metadata(step)
        i = int(meta["phase"])
        first = self.steps[0]
        template = eqx.filter_eval_shape(
            lambda: self.steps[i].continue_from(first.init(self.model, jax.random.PRNGKey(self.seed))))
        arrays, static = eqx.partition(template, lambda x: isinstance(x, jax.ShapeDtypeStruct))
        target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.steps[i].replicated),
                              arrays)
        arrays, _ = checkpointer.restore(target, meta["step"])
        # Restored arrays may share host memory with the reader; the step donates its
        # input buffers, so hand it private copies.
        return self.steps[i].place(eqx.combine(jax.block_until_ready(arrays), static)), i

    def restore_readable(self, checkpointer: Checkpointer, *, set_aside: bool = True
                         ) -> tuple[TrainState, int, list[str]]:
        """``(state, phase index, notes)`` from the newest checkpoint that restores.

        Damaged checkpoints (metadata or manifest missing, data files emptied or
        truncated) are skipped, newest first, with one note each ("checkpoint 200
        skipped: ..."). With ``set_aside`` the skipped ones are moved out of the way
        (:meth:`Checkpointer.set_aside`, nothing is deleted) once an older one has
        restored, so training can save those steps again. None readable: ConfigError
        naming the checkpoints directory, and nothing is moved.
        """
        notes: list[str] = []
        skipped: list[int] = []
        # Every process tries the same checkpoints (process 0's list) and skips one that
        # fails to restore in any process: all resume from the same step.
        for step in reversed(broadcast(checkpointer.all_steps(), "resume-steps")):
            try:
                state, i = self.restore(checkpointer, step)
                failure = None
            except _DAMAGED as err:
                failure = err
            failures = gather(None if failure is None else [type(failure).__name__, str(failure)], "resume-restored")
            failed = next((f for f in failures if f is not None), None)
            if failed is not None:
                reason = " ".join(failed[1].split())
                notes.append(f"checkpoint {step} skipped: {failed[0]}: "
                             f"{reason[:200] + '...' if len(reason) > 200 else reason}")
                skipped.append(step)
                continue
            if set_aside:
                for bad in skipped:
                    notes.append(f"checkpoint {bad} moved to {checkpointer.set_aside(bad)}")
            return state, i, notes
        raise ConfigError("--resume", str(checkpointer.directory),
                          "a checkpoints directory with a readable checkpoint; none of "
                          f"{checkpointer.all_steps()} restores ({'; '.join(notes) or 'none saved'})")


# What orbax raises for a damaged checkpoint: a missing item or metadata file (KeyError,
# FileNotFoundError), an emptied or truncated data file or JSON (ValueError from
# tensorstore, JSONDecodeError); a bad phase index in the metadata (IndexError).
_DAMAGED = (KeyError, IndexError, ValueError, OSError)


def fit(model: Any, objective: AbstractObjective, source: Any, phases: Sequence[AbstractPhase], *,
        evaluator: AbstractEvaluator | None = None, combiner: GradientCombiner | None = None, seed: int = 0,
        steps_per_call: int = 100, log_every: int = 100, eval_every: int = 1000,
        checkpointer: Checkpointer | None = None, checkpoint_every: int = 1000, resume: bool = False,
        mesh: Mesh | None = None, loggers: Sequence[AbstractLogger] = (), close_loggers: bool = True,
        progress: bool | None = None, on_start: Callable[[int | None], None] | None = None) -> FitResult:
    """Train ``model`` on ``objective`` with batches from ``source`` through ``phases``.

    Each phase makes its compiled step (:func:`~pdejax.training.make_step`); each call
    runs up to ``steps_per_call`` steps so the host syncs once per call. Logs,
    evaluations and checkpoints happen at multiples of ``log_every``, ``eval_every``
    and ``checkpoint_every`` (global steps) and at the end. ``source`` is a device
    source (drawn inside the step) or a host source (its batches are fed to the step).
    Evaluation and the returned model use the optimizer's evaluation iterate.

    With ``resume``, the newest readable checkpoint is restored (damaged newer ones are
    skipped with a note on stderr and in ``FitResult.notes``). ``on_start(resumed_from)``
    is called once the state is ready, before the first step: a caller records what
    a resumed run changes there, so a resume that cannot start changes nothing.

    Multi-process runs (after :func:`pdejax.parallel.initialize`): every process calls
    ``fit`` with the same arguments and a mesh over every process's devices. Host
    sources read only this process's rows of each global batch (``get(step, n, rows=...)``
    where they accept it); logs and evaluations use the local replica of the replicated
    state; every process restores the checkpoint process 0 picks; a signal to any process
    stops all at the same step. Give loggers (and a progress bar) to process 0 only.

    Loggers: once the state is ready (after ``on_start``) each logger's
    ``start(resumed_from)`` is called, then ``log(record)`` at every logged step; when
    training ends (also on errors) each is closed, unless ``close_loggers`` is false: a
    caller that logs more afterwards (``pdejax.train`` adds the run's plots and summary
    with ``log_files``) closes them itself.

    A logger may end training early by raising :class:`StopTraining` from ``log``
    (early stopping, a sweep pruning its trial): a checkpoint of that step is saved,
    the model is evaluated there, and the result's ``stopped`` holds the reason (every
    process of a multi-process run stops at that step).

    ``progress``: a bar with rate and ETA on a terminal (``None`` or ``True``: only when
    stderr is one; ``False``: never).

    Raises:
        ConfigError: ``resume`` and no checkpoint restores.
        NonFiniteLoss: a loss term is NaN/inf; nothing from that call is saved.
        Interrupted: SIGINT/SIGTERM; a checkpoint of the current step was saved.
    """
    mesh = mesh if mesh is not None else data_mesh(1)
    schedule = Schedule(model, objective, source, phases, combiner or fixed(), mesh, seed)
    host = None if isinstance(source, AbstractDeviceSource) or source is None else source
    total = schedule.ends[-1] if schedule.ends else 0
    resumed_from = None
    notes: list[str] = []
    latest = checkpointer.latest_step() if resume and checkpointer is not None else None
    if broadcast(latest, "resume-latest") is not None:
        state, phase_idx, notes = schedule.restore_readable(checkpointer)
        if is_main_process():
            for note in notes:
                print(f"pdejax: {note}", file=sys.stderr)
        resumed_from = int(host_value(state.step))
    else:
        state, phase_idx = schedule.initial(), 0
    if on_start is not None:
        on_start(resumed_from)

    compiled: dict[tuple[int, int], Any] = {}
    compile_s = 0.0
    history: list[Record] = []
    metrics: dict[str, float] = {}

    def evaluate(i: int, state: TrainState) -> dict[str, float]:
        # On this process's replica of the model: the same numbers in every process, no collectives.
        return evaluator(local_copy(schedule.steps[i].evaluation_model(state))) if evaluator is not None else {}

    def save(step: int, i: int):
        if checkpointer is not None:
            checkpointer.save(step, eqx.filter(state, eqx.is_array),
                              {"step": step, "phase": i, "phase_name": type(schedule.phases[i]).__name__})
            fault_point(f"train:after_checkpoint:{step}")

    step = int(host_value(state.step))
    multiprocess = jax.process_count() > 1
    t_start = time.perf_counter()
    stopped = None
    bar = tqdm(total=total, initial=step, disable=None if progress is not False else True, unit="step",
               dynamic_ncols=True,
               mininterval=0.5, desc="train")
    try:
        for logger in loggers:
            logger.start(resumed_from)
        with catch_signals() as received:
            fault_point("train:before_first_step")
            while phase_idx < len(schedule.phases):
                end, phase, runner = schedule.ends[phase_idx], schedule.phases[phase_idx], schedule.steps[phase_idx]
                stalled = False
                while step < end:
                    n = min(steps_per_call - step % steps_per_call, end - step)
                    t0 = time.perf_counter()
                    fed = _feed(host, runner, step, n) if host is not None else None
                    if (phase_idx, n) not in compiled:
                        t_c = time.perf_counter()
                        compiled[(phase_idx, n)] = runner.compile(state, fed, n)
                        compile_s += time.perf_counter() - t_c
                    state, logs = compiled[(phase_idx, n)](state, fed)
                    logs = host_value(logs)
                    last = logs.pop("last", {})
                    prev, step = step, step + n
                    _check_finite(logs, last, prev)
                    signalled = received  # live: a signal during this call's logs stops after them
                    if multiprocess:  # a signal to any process stops all, at the same step
                        signalled = [s for s in gather(received[0] if received else None, "signals")
                                     if s is not None][:1]
                    dt = time.perf_counter() - t0
                    bar.update(n)
                    bar.set_postfix(loss=f"{logs['loss'][-1]:.3e}", steps_s=f"{n / dt:.0f}")
                    if "accepted" in logs and not logs["accepted"].any():
                        stalled = True
                        notes.append(f"{type(phase).__name__} made no progress from step {prev}; "
                                     f"phase ended at step {step}")
                    finished = step == end or stalled
                    if _crossed(prev, step, log_every) or finished or signalled:
                        record = {"step": step, "phase": type(phase).__name__,
                                  **{k: float(v[-1]) for k, v in logs.items()},
                                  **{k: float(v) for k, v in last.items()},
                                  "wall_s": time.perf_counter() - t_start, "steps_per_s": n / dt}
                        lr = phase.learning_rate(step - schedule.starts[phase_idx])
                        if lr is not None:
                            record["lr"] = lr
                        evaluated = (_crossed(prev, step, eval_every)
                                     or (finished and phase_idx == len(schedule.phases) - 1))
                        if evaluated:
                            metrics = evaluate(phase_idx, state)
                            record.update(metrics)
                        history.append(record)
                        stopped = _log(loggers, record, multiprocess)
                        if stopped is not None:
                            notes.append(f"stopped at step {step}: {stopped}")
                            if not evaluated:
                                metrics = evaluate(phase_idx, state)
                            finished = True
                    if _crossed(prev, step, checkpoint_every) or finished:
                        save(step, phase_idx)
                    if signalled:
                        if not (_crossed(prev, step, checkpoint_every) or finished):
                            save(step, phase_idx)
                        raise Interrupted(signalled[0], step, checkpointer is not None)
                    if stalled or stopped is not None:
                        break
                if stopped is not None:
                    break
                phase_idx += 1
                if phase_idx < len(schedule.phases):
                    state = schedule.steps[phase_idx].continue_from(state)
                    if stalled:
                        total -= end - step
    finally:
        bar.close()
        if host is not None:
            host.close()
        if close_loggers:
            for logger in loggers:
                logger.close()
    last_idx = min(phase_idx, len(schedule.phases) - 1)
    if not metrics:
        metrics = evaluate(last_idx, state)
    return FitResult(model=schedule.steps[last_idx].evaluation_model(state), state=state, history=history,
                     metrics=metrics, steps=step, wall_s=time.perf_counter() - t_start, compile_s=compile_s,
                     resumed_from=resumed_from, notes=notes, stopped=stopped)


def _log(loggers: Sequence[AbstractLogger], record: Record, multiprocess: bool) -> str | None:
    """Hand ``record`` to every logger; the reason of a :class:`StopTraining`, agreed by all processes."""
    stopped = None
    for logger in loggers:
        try:
            logger.log(record)
        except StopTraining as stop:
            stopped = stopped or stop.reason
    return broadcast(stopped, "stop-training") if multiprocess else stopped


def _feed(host: Any, runner: Step, step: int, n: int) -> Any:
    """The host batches of steps ``[step, step + n)``; in a multi-process run only this
    process's rows are read where the source can (``get(..., rows=...)``), and the global
    arrays are assembled here."""
    if jax.process_count() == 1:
        return host.get(step, n)
    size = getattr(host, "batch_size", None)
    if isinstance(size, int) and "rows" in inspect.signature(host.get).parameters:
        return runner.put_batches(host.get(step, n, rows=runner.local_rows(size)), global_batch=size)
    return runner.put_batches(host.get(step, n))


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
