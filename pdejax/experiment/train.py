"""From a config to a trained model and a run directory: the Python face of ``pdejax train``."""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path

import jax

from .._runlock import RUN_LOCK
from .._signals import fault_point
from ..config.errors import ConfigError
from ..config.loading import load_config, to_yaml
from ..training import Checkpointer, JsonlLogger, fit
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


def train(config: ConfigSource | None = None, overrides: Sequence[str] = (), *,
          run_dir: str | Path | None = None, resume: str | Path | None = None,
          progress: bool | None = None, imports: Sequence[str] = (), restart: bool = False) -> Run:
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
        progress: show a progress bar (default: ``train.progress``).
        imports: modules or ``.py`` files to import first (user PDEs, models, families),
            as the CLI's ``--import``; recorded in the run's ``config.yaml``.

    The run computes in its config's dtype (``jax.enable_x64`` for this call only).

    Returns:
        The finished :class:`Run`. Raises ConfigError for bad input (before anything is
        written), ``NonFiniteLoss`` or ``Interrupted`` (after saving what is safe).

    Example (not run here: it trains for minutes)::

        run = pdejax.train("pinn/burgers.yaml", ["train.steps=2000"])
        run.summary["rel_l2"]
    """
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
        directory = Path(run_dir) if run_dir is not None else default_run_dir(cfg.name)
        if directory.exists() and any(p.name != RUN_LOCK for p in directory.iterdir()):
            raise ConfigError("--run-dir", str(directory),
                              "a new or empty directory (use --resume to continue an existing run)")
    with claim_run_directory(directory, resume=resume is not None), precision(cfg):
        fault_point("train:after_lock")
        return _train(cfg, directory, resume is not None and not restart, progress, restart=restart)


def _no_checkpoint(directory: Path) -> ConfigError:
    return ConfigError("--resume", str(directory), "a run with a checkpoint: no checkpoint to resume from in "
                       f"{directory / 'checkpoints'}; use --restart to start again from step 0, keeping the old "
                       "metrics as metrics.<timestamp>.jsonl")


def _train(cfg, directory: Path, resume: bool, progress: bool | None, *, restart: bool = False) -> Run:
    exp = _build(cfg)
    fault_point("train:after_build")
    method = exp.method
    directory.mkdir(parents=True, exist_ok=True)
    metrics_path = directory / "metrics.jsonl"

    def start(resumed_from: int | None) -> None:
        # A resume records its config and trims the metrics only once the state restored:
        # a resume that cannot start leaves the run as it was.
        if resume and resumed_from is None:  # numbered folders, but none orbax recognises
            raise _no_checkpoint(directory)
        (directory / "summary.json").unlink(missing_ok=True)
        write_text_atomic(directory / "config.yaml", to_yaml(cfg))
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
    checkpointer = Checkpointer(directory / "checkpoints", keep=cfg.train.keep_checkpoints)
    fault_point("train:after_config")
    try:
        result = fit(method.model, method.objective, method.source, exp.phases, evaluator=method.evaluator,
                     combiner=exp.combiner, seed=cfg.seed, steps_per_call=cfg.train.steps_per_call,
                     log_every=cfg.train.log_every, eval_every=cfg.train.eval_every, checkpointer=checkpointer,
                     checkpoint_every=cfg.train.checkpoint_every, resume=resume, mesh=exp.mesh,
                     on_start=start if resume else None,
                     loggers=[JsonlLogger(metrics_path)],
                     progress=cfg.train.progress if progress is None else progress)
    finally:
        checkpointer.close()
    history = read_history(metrics_path)
    model = method.physical(result.model)
    save_model(directory / "model", model)
    plots_dir = directory / "plots" if cfg.train.plots else None
    if plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
        if history:
            from ..plots import plot_losses

            plot_losses(history, plots_dir / "loss.png")
    report = method.evaluator.report(result.model, plots_dir) if method.evaluator is not None else {}
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
        "platform": jax.devices()[0].platform,
        "dtype": cfg.dtype,
        "resumed_from": result.resumed_from,
        **report,
        "notes": result.notes + report.get("notes", []),
        "versions": versions(),
    }
    write_json_atomic(directory / "summary.json", summary)
    return Run(directory, cfg, model, summary, history)
