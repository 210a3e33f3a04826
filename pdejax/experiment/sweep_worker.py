"""One worker of a sweep: trials one after another in this process, until the study is done.

A worker starts a trial while the study's finished trials plus those running elsewhere are
fewer than ``trials``; once the rest are running in other workers it waits for them, so
that a worker that dies (its trial failed by heartbeat and queued again) is replaced by the
ones still alive, and the study ends with exactly ``trials`` finished trials (two workers
that start a trial at the same instant may make it one more).
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._os_errors import os_error_in
from .._signals import stopping
from ..config.errors import ConfigError
from ..training import AbstractLogger, Interrupted, NonFiniteLoss, StopTraining
from .runs import checkpoint_steps
from .sweep_spaces import count, describe, from_stored, override, to_stored
from .sweep_study import counts, retry
from .train import train

if TYPE_CHECKING:
    from .sweep import Plan

MAX_FAILURES = 3
"""A worker stops after this many trials in a row failed with an error (a bug, not a result)."""


class PruningLogger(AbstractLogger):
    """Reports a trial's objective to Optuna at every evaluation and ends the run early
    (:class:`~pdejax.training.StopTraining`) when the study's pruner says it is not promising.

    Args:
        trial: the ``optuna.Trial`` being trained.
        key: the record key to report (``rel_l2``); records without it are skipped.
    """

    def __init__(self, trial: Any, key: str):
        self.trial, self.key = trial, key
        self.pruned_at: int | None = None

    def log(self, record: dict[str, Any]) -> None:
        value = record.get(self.key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        step = int(record["step"])
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            self.pruned_at = step
            raise StopTraining(f"pruned by the sweep: {self.key} = {value:.4g} at step {step}")


class Worker:
    """Runs a :class:`~pdejax.experiment.sweep.Plan`'s trials in this process (see the module)."""

    def __init__(self, plan: Plan, *, echo: Callable[[str], None] | None = print, progress: bool | None = None,
                 heartbeat: int = 60):
        self.plan, self.echo, self.progress, self.heartbeat = plan, echo, progress, heartbeat
        self.current: Any = None  # the optuna.Trial being run
        self.ran: list[int] = []

    def say(self, line: str) -> None:
        """One line of output, written above the progress bar."""
        if self.echo is None:
            return
        from tqdm.auto import tqdm

        with tqdm.external_write_mode():
            self.echo(line)

    def on_stale(self, study: Any, trial: Any) -> None:
        """The storage's callback for a trial whose worker stopped sending heartbeats: queue it again."""
        queued = retry(study, trial)
        where = trial.user_attrs.get("host", "another worker")
        self.say(f"trial {trial.number} failed: its worker ({where}) stopped sending heartbeats; "
                 + ("queued to run again" if queued else "not queued again (it failed too often)"))

    def run(self, study: Any) -> list[int]:
        """Trials until the study has ``plan.trials`` finished ones; the numbers of those run here."""
        import optuna
        from tqdm.auto import tqdm

        n, done = self.plan.trials, counts(study)["finished"]
        if done >= n:
            self.say(f"study {study.study_name} already has {count(done, 'finished trial')} (--trials {n}): "
                     "nothing to run")
            return self.ran
        bar = tqdm(total=n, initial=done, desc="sweep", unit="trial", dynamic_ncols=True,
                   disable=True if self.progress is False else None)
        failures, waiting = 0, False
        try:
            while True:
                self.current = None
                optuna.storages.fail_stale_trials(study)
                c = counts(study)
                bar.update(min(c["finished"], n) - bar.n)
                if c["finished"] >= n:
                    return self.ran
                if c["finished"] + c["running"] >= n:
                    if not waiting:
                        self.say(f"waiting for {count(c['running'], 'trial')} running in other workers")
                    waiting = True
                    time.sleep(min(self.heartbeat, 5))
                    continue
                waiting = False
                try:
                    study.optimize(self.objective, n_trials=1)
                except (Interrupted, KeyboardInterrupt):
                    with stopping():
                        self._interrupted(study)
                    raise
                except ConfigError:
                    raise
                except Exception as err:
                    if os_error_in(err) is not None or self.current is None:
                        raise
                    failures += 1
                    self.say(self._line(study, self.current.number))
                    if failures >= MAX_FAILURES:
                        raise
                    continue
                failures = 0
                self.ran.append(self.current.number)
                self.say(self._line(study, self.current.number))
        finally:
            bar.close()

    def objective(self, trial: Any) -> float:
        """Train one trial; its objective value (``optuna.TrialPruned`` when pruned or diverged)."""
        import optuna

        self.current = trial
        plan = self.plan
        if plan.grid:
            params = {k: from_stored(trial.suggest_categorical(k, [to_stored(v) for v in vs]), vs)
                      for k, vs in plan.grid.items()}
        else:
            params = {s.key: s.suggest(trial) for s in plan.spaces}
        extra = [override(k, v) for k, v in params.items()]
        trial.set_user_attr("overrides", extra)
        trial.set_user_attr("host", f"{socket.gethostname()}:{os.getpid()}")
        logger = PruningLogger(trial, record_key(plan.objective))
        try:
            run = self._train(trial, extra, logger)
            summary = run.summary
            trial.set_user_attr("steps", summary.get("steps"))
            trial.set_user_attr("wall_s", summary.get("wall_s"))
            trial.set_user_attr("metrics", {k: v for k, v in summary.get("metrics", {}).items() if _finite(v)})
            value = objective_value(summary, plan.objective, run.directory)
        except NonFiniteLoss as err:
            trial.set_user_attr("failure", str(err))
            raise optuna.TrialPruned(str(err)) from None
        except (Interrupted, KeyboardInterrupt) as err:
            trial.set_user_attr("failure", f"interrupted ({err or type(err).__name__})")
            raise
        except Exception as err:
            trial.set_user_attr("failure", f"{type(err).__name__}: {_first_line(err)}")
            raise
        if logger.pruned_at is not None:
            raise optuna.TrialPruned(f"at step {logger.pruned_at}")
        if not math.isfinite(value):
            trial.set_user_attr("failure", f"{plan.objective} = {value}")
            raise optuna.TrialPruned(f"{plan.objective} = {value}")
        return value

    def _train(self, trial: Any, extra: list[str], logger: PruningLogger):
        plan = self.plan
        previous = trial.user_attrs.get("run_dir") if "retry_of" in trial.user_attrs else None
        if previous is not None and checkpoint_steps(Path(previous) / "checkpoints"):
            try:  # a retry continues the dead or interrupted run from its last checkpoint
                run = train(None, [], resume=previous, progress=False, imports=plan.imports, loggers=[logger])
                trial.set_user_attr("resumed", True)
                return run
            except ConfigError as err:
                self.say(f"trial {trial.number}: cannot continue {previous} ({err}); running it again")
        run_dir = plan.directory / f"trial-{trial.number}"
        trial.set_user_attr("run_dir", str(run_dir))
        return train(plan.config, [*plan.overrides, *extra], run_dir=run_dir, progress=False, imports=plan.imports,
                     loggers=[logger])

    def _interrupted(self, study: Any) -> None:
        """Mark the trial that was running failed and queue it again (its run continues from
        its checkpoint when the sweep is run again)."""
        from optuna.trial import TrialState

        if self.current is None:
            return
        frozen = _trial(study, self.current.number)
        if frozen.state == TrialState.RUNNING:
            study.tell(self.current.number, state=TrialState.FAIL)
            frozen = _trial(study, self.current.number)
        if frozen.state == TrialState.FAIL and retry(study, frozen):
            self.say(f"trial {frozen.number} interrupted: queued to run again when the sweep is continued")

    def _line(self, study: Any, number: int) -> str:
        """One line for a trial that ended: its state, objective, parameters."""
        from optuna.trial import TrialState

        t = _trial(study, number)
        params = f" ({describe(t.params)})" if t.params else ""
        failure = t.user_attrs.get("failure")
        if t.state == TrialState.FAIL:
            return f"trial {number} failed: {failure or 'unknown error'}{params}"
        key, value = self.plan.objective, t.value
        shown = f"{key} = {value:.4g}" if value is not None else (failure or "no value")
        if t.state == TrialState.PRUNED:
            at = f" at step {t.last_step}" if t.last_step is not None and not failure else ""
            return f"trial {number} pruned{at}: {failure if failure else shown}{params}"
        wall = t.user_attrs.get("wall_s")
        took = f" in {wall:.1f} s" if isinstance(wall, (int, float)) else ""
        try:
            best = study.best_trial
            best_text = f"; best: trial {best.number} ({best.value:.4g})"
        except ValueError:
            best_text = ""
        return f"trial {number} complete: {shown}{params}{took}{best_text}"


def record_key(objective: str) -> str:
    """The training record's key that carries the objective (``metrics.rel_l2`` → ``rel_l2``)."""
    for prefix in ("metrics.", "final."):
        if objective.startswith(prefix):
            return objective[len(prefix):]
    return objective


def objective_value(summary: dict[str, Any], key: str, directory: Path | str) -> float:
    """``summary[key]`` (a dotted key walks into ``final`` and ``metrics``) as a float."""
    value: Any = summary.get(key)
    if key not in summary:
        value = summary
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        numbers = [k for k, v in summary.items() if _number(v) and k not in ("process_count", "device_count")]
        numbers += [f"final.{k}" for k, v in summary.get("final", {}).items() if _number(v)]
        raise ConfigError("--objective", key, f"a number in the runs' summary.json: {', '.join(numbers)} "
                          f"(see {Path(directory) / 'summary.json'})")
    return float(value)


def _trial(study: Any, number: int) -> Any:
    return next(t for t in study.get_trials(deepcopy=False) if t.number == number)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return _number(value) and math.isfinite(value)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return " ".join(text[0].split()) if text else ""
