"""From a config to a trained model and a run directory: the Python face of ``pdejax train``."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import jax

from .._runlock import RUN_LOCK
from .._signals import fault_point
from ..config.errors import ConfigError
from ..config.loading import load_config, to_yaml
from ..config.schema import DistributedConfig, ExperimentConfig
from ..config.tracking import check_installed
from ..parallel.distributed import agree_on_error, barrier, global_copy, is_main_process, local_copy
from ..training import AbstractLogger, Checkpointer, JsonlLogger, fit
from .build import ConfigSource, _build, precision
from .rundir import claim_run_directory
from .runs import (
    Run,
    check_resumable,
    checkpoint_steps,
    default_run_dir,
    read_history,
    save_model,
    versions,
    write_json_atomic,
    write_text_atomic,
)
from .trackers import tracking


def train(config: ConfigSource | None = None, overrides: Sequence[str] = (), *,
          run_dir: str | Path | None = None, resume: str | Path | None = None,
          progress: bool | None = None, imports: Sequence[str] = (), restart: bool = False,
          loggers: Sequence[AbstractLogger] = ()) -> Run:
    """Train from a config (path, shipped config name, mapping or ExperimentConfig) into a run directory.

    Args:
        config: the experiment; with ``resume`` it may be omitted (the run's own
            ``config.yaml`` is used, with ``overrides`` applied).
        overrides: ``["key.sub=value", ...]``.
        run_dir: where to write; default ``runs/<name>-<timestamp>``. Must not exist
            or be empty.
        resume: an existing run directory to continue from its newest readable
            checkpoint. Overrides (or a config) may change only what ``runs.RESUMABLE``
            lists (steps, logging, evaluation, devices); anything else is a
            ConfigError, and ``config.yaml`` is rewritten only once the state restored.
        restart: with ``resume``, a run that has no checkpoint starts again from step
            0 in the same directory; its old ``metrics.jsonl`` is kept as
            ``metrics.<timestamp>.jsonl``. Without it such a resume is a ConfigError.
        progress: show a progress bar on a terminal (default: ``train.progress``).
        imports: modules or ``.py`` files to import first (user PDEs, models, families),
            as the CLI's ``--import``; recorded in the run's ``config.yaml``.
        loggers: more loggers, after the config's ``train.loggers`` (process 0 only);
            one may end the run early with :class:`~pdejax.training.StopTraining`
            (the summary's ``stopped`` then holds its reason). Every logger gets
            ``start``, each record, then ``log_files`` with the plots, ``config.yaml``
            and ``summary.json`` once they are written, and is closed last (also on errors).

    ``train.loggers`` selects the trackers: ``metrics.jsonl`` always, TensorBoard event
    files in ``RUN_DIR/tensorboard/`` (default on), an MLflow run (``train.mlflow``; its id
    in ``RUN_DIR/mlflow.json``, so a resume continues it). A tracker whose library is not
    installed is a ConfigError before anything is written.

    The run computes in its config's dtype (``jax.enable_x64`` for this call only).

    Multi-process runs: call this in every process of a run started with
    :func:`pdejax.parallel.initialize` (``pdejax train`` does both); this function starts
    nothing itself. Every process computes; process 0 alone holds the directory's lock
    and writes the config, metrics, plots, model and summary (checkpoints and the model
    are written through orbax's multi-host path by all). Each process returns the run,
    with ``summary`` written by process 0 only (the others' holds no evaluation report).

    Returns:
        The finished :class:`Run`. Raises ConfigError for bad input (before anything is
        written), ``NonFiniteLoss`` or ``Interrupted`` (after saving what is safe).

    Example (not run here: it trains for minutes)::

        run = pdejax.train("pinn/burgers.yaml", ["train.steps=2000"])
        run.summary["rel_l2"]
    """
    stack = contextlib.ExitStack()
    error = None
    try:  # every process checks the same things; process 0 alone looks into and claims the directory
        cfg, directory = _prepare(config, overrides, run_dir, resume, imports, restart)
        if is_main_process():
            stack.enter_context(claim_run_directory(directory, resume=resume is not None,
                                                    process_index=jax.process_index()))
    except ConfigError as err:
        error = err
    try:
        agree_on_error(error, "--run-dir" if resume is None else "--resume")  # all start, or none
    except BaseException:
        stack.__exit__(*sys.exc_info())  # process 0 lets go of (and cleans) the directory it claimed
        raise
    with stack, precision(cfg):
        fault_point("train:after_lock")
        return _train(cfg, directory, resume is not None and not restart, progress, restart=restart,
                      loggers=loggers)


def _prepare(config, overrides, run_dir, resume, imports, restart) -> tuple[ExperimentConfig, Path]:
    """The validated config and the run directory, checked (before anything is written)."""
    main = is_main_process()
    if restart and resume is None:
        raise ConfigError("--restart", True, "used with --resume RUN_DIR")
    if resume is not None:
        directory = Path(resume)
        if not (directory / "config.yaml").is_file():
            raise ConfigError("--resume", str(directory), "a run directory containing config.yaml")
        cfg = load_config(config if config is not None else directory / "config.yaml", overrides, imports=imports)
        steps = checkpoint_steps(directory / "checkpoints")
        if not steps and not restart:
            raise _no_checkpoint(directory)
        if steps and restart:
            raise ConfigError("--restart", str(directory), f"a run without checkpoints (this one has {steps}): "
                              "resume it without --restart, or start a new run (--run-dir)")
        if steps:
            check_resumable(load_config(directory / "config.yaml"), cfg)
    else:
        if config is None:
            raise ConfigError("config", None, "a config file, mapping or ExperimentConfig")
        cfg = load_config(config, overrides, imports=imports)
        if run_dir is None and jax.process_count() > 1:  # each process would stamp its own
            raise ConfigError("--run-dir", None, "a run directory shared by every process of a multi-process run "
                              "(the default runs/<name>-<timestamp> differs between processes)")
        directory = Path(run_dir) if run_dir is not None else default_run_dir(cfg.name)
        # The other processes leave the directory to process 0 (which may be creating it already).
        if main and directory.exists() and any(p.name != RUN_LOCK for p in directory.iterdir()):
            raise ConfigError("--run-dir", str(directory),
                              "a new or empty directory (use --resume to continue an existing run)")
    check_processes(cfg)
    check_installed(cfg.train.loggers)
    return cfg, directory


def check_processes(cfg: ExperimentConfig) -> None:
    """ConfigError where the config's ``distributed`` or ``parallel`` section does not fit the
    processes JAX runs on (checked before anything is compiled or written)."""
    n = jax.process_count()
    want = cfg.distributed.num_processes
    if want is not None and want != n:
        raise ConfigError("distributed.num_processes", want, f"{n}, the number of processes JAX was started with: "
                          "start them with pdejax train (or pdejax.parallel.initialize) first")
    space = cfg.parallel.space
    if n > 1 and cfg.parallel.data != -1 and cfg.parallel.data * space != jax.device_count():
        raise ConfigError("parallel.data", cfg.parallel.data, f"-1 or {jax.device_count() // space} in a run of {n} "
                          f"processes: data x space (x {space}) spans every process's devices "
                          f"({jax.device_count()})")


def _no_checkpoint(directory: Path) -> ConfigError:
    return ConfigError("--resume", str(directory), "a run with a checkpoint: no checkpoint to resume from in "
                       f"{directory / 'checkpoints'}; use --restart to start again from step 0, keeping the old "
                       "metrics as metrics.<timestamp>.jsonl")


def _train(cfg, directory: Path, resume: bool, progress: bool | None, *, restart: bool = False,
           loggers: Sequence[AbstractLogger] = ()) -> Run:
    main = is_main_process()  # the one writer of the run's files (orbax's aside)
    exp = error = None
    if main or cfg.data is None or cfg.data.generate is None:
        try:
            exp = _build(cfg)
        except ConfigError as err:
            error = err
    if cfg.data is not None and cfg.data.generate is not None:
        agree_on_error(error, "build")  # process 0 generates a missing data file; the others wait
    elif error is not None:
        raise error
    exp = exp if exp is not None else _build(cfg)
    fault_point("train:after_build")
    method = exp.method
    if main:
        directory.mkdir(parents=True, exist_ok=True)
    metrics_path = directory / "metrics.jsonl"
    # The launch (coordinator, process ids) is not part of the run: resuming in another
    # layout must not inherit it.
    recorded = cfg.model_copy(update={"distributed": DistributedConfig()})

    def start(resumed_from: int | None) -> None:
        # A resume records its config and trims the metrics only once the state restored:
        # a resume that cannot start leaves the run as it was.
        if resume and resumed_from is None:  # numbered folders, but none orbax recognises
            raise _no_checkpoint(directory)
        if not main:
            return
        (directory / "summary.json").unlink(missing_ok=True)
        write_text_atomic(directory / "config.yaml", to_yaml(recorded))
        if resumed_from is not None:
            kept = [r for r in read_history(metrics_path) if r["step"] <= resumed_from]
            write_text_atomic(metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
        else:
            if restart and metrics_path.exists():
                stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                os.replace(metrics_path, directory / f"metrics.{stamp}.jsonl")
            metrics_path.write_text("")

    if not resume:
        start(None)
    barrier("run-directory")  # process 0 made the directory before orbax writes into it
    checkpointer = Checkpointer(directory / "checkpoints", keep=cfg.train.keep_checkpoints)
    fault_point("train:after_config")
    show = main and (cfg.train.progress if progress is None else progress)  # bars on process 0's terminal only
    if method.evaluator is not None:
        with contextlib.suppress(AttributeError):  # a user's frozen evaluator keeps its own setting
            method.evaluator.progress = None if show else False
    evaluator, trackers = tracking(cfg, directory, recorded, method) if main else (method.evaluator, [])
    # Process 0 alone logs; the loggers also get the run's files at the end, so they are closed here.
    run_loggers = [JsonlLogger(metrics_path), *trackers, *loggers] if main else []
    try:
        try:
            result = fit(method.model, method.objective, method.source, exp.phases, evaluator=evaluator,
                         combiner=exp.combiner, seed=cfg.seed, steps_per_call=cfg.train.steps_per_call,
                         log_every=cfg.train.log_every, eval_every=cfg.train.eval_every, checkpointer=checkpointer,
                         checkpoint_every=cfg.train.checkpoint_every, resume=resume, mesh=exp.mesh,
                         on_start=start if resume else None, loggers=run_loggers, close_loggers=False,
                         progress=show)
        finally:
            checkpointer.close()
        run = _finish(cfg, directory, exp, result, main)
        if main:
            plots = sorted((directory / "plots").glob("*.png")) if cfg.train.plots else []
            files = [*plots, directory / "config.yaml", directory / "summary.json"]
            for logger in run_loggers:
                logger.log_files([f for f in files if f.is_file()], result.steps)
    finally:
        for logger in run_loggers:
            logger.close()
    return run


def _finish(cfg, directory: Path, exp, result, main: bool) -> Run:
    """The trained model, plots and ``summary.json`` of a finished ``fit``."""
    method = exp.method
    metrics_path = directory / "metrics.jsonl"
    history = read_history(metrics_path) if main else result.history
    # Orbax writes the model once from every process's global (replicated) arrays; the
    # host (plots, report, the returned run) uses this process's replica.
    model = method.physical(result.model)
    save_model(directory / "model", global_copy(model, _replicated(exp.mesh)))
    model, trained = local_copy(model), local_copy(result.model)
    plots_dir = directory / "plots" if cfg.train.plots and main else None
    if plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
        if history:
            from ..plots import plot_losses

            plot_losses(history, plots_dir / "loss.png")
    report = method.evaluator.report(trained, plots_dir) if method.evaluator is not None and main else {}
    last = history[-1] if history else {}
    summary = {
        "name": cfg.name,
        "steps": result.steps,
        "wall_s": result.wall_s,
        "compile_s": result.compile_s,
        "final": {k: v for k, v in last.items() if k not in ("step", "phase", "wall_s", "steps_per_s")
                  and k not in result.metrics},
        **result.metrics,
        "metrics": result.metrics,
        "device_count": exp.mesh.size,
        "process_count": jax.process_count(),
        "platform": jax.devices()[0].platform,
        "dtype": cfg.dtype,
        "resumed_from": result.resumed_from,
        "stopped": result.stopped,
        **report,
        "notes": result.notes + report.get("notes", []),
        "versions": versions(),
    }
    if main:
        write_json_atomic(directory / "summary.json", summary)
    return Run(directory, cfg, model, summary, history)


def _replicated(mesh):
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(mesh, PartitionSpec())
