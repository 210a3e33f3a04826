"""Drawing a run's plots again: its loss curves, chosen metrics and prediction pictures."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config.errors import ConfigError
from .compare import read_run


@dataclass
class Redrawn:
    """What :func:`redraw_plots` wrote.

    Attributes:
        paths: the pictures written, in order.
        notes: what was left out and why (an unfinished run, no checkpoint).
    """

    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def redraw_plots(run_dir: str | Path, *, metrics: Sequence[str] = (), out: str | Path | None = None,
                 predictions: bool = True, progress: bool | None = None, imports: Sequence[str] = ()) -> Redrawn:
    """Draw a run's plots again, from its records and its last checkpoint.

    Writes ``loss.png`` (loss terms and ``rel_l2`` against step, as training does), one
    ``metric_<key>.png`` per key of ``metrics`` (any number ``metrics.jsonl`` logs: an
    evaluation metric, a loss term, ``lr``) and, for a finished run, the family's
    prediction / reference / error pictures: the model of the last checkpoint goes
    through the evaluator that the run's ``config.yaml`` builds, in the run's dtype, on one
    device. An unfinished run (no ``summary.json``) gets its curves only.

    Args:
        run_dir: the run directory.
        metrics: logged keys to draw one curve each of, against step.
        out: where to write (default ``run_dir/plots``).
        predictions: draw the prediction pictures (rebuilds the experiment; slower).
        progress: a bar while the evaluator goes through a large test set (``None``:
            on a terminal only; ``False``: never).
        imports: modules or ``.py`` files to import first, as ``--import`` (the run's own
            ``imports`` are imported anyway).

    Raises:
        ConfigError: ``run_dir`` is not a run directory, or a key of ``metrics`` was never
            logged (the message lists the keys the run has).

    Example (not run here: it needs a run directory)::

        redraw_plots("runs/burgers-20261201-120000", metrics=["rel_l2"]).paths
    """
    run = read_run(run_dir)
    logged = run.logged_keys()
    for key in metrics:
        if key not in logged:
            raise ConfigError("--metric", key, f"a key that {run.directory / 'metrics.jsonl'} logs: "
                              f"{', '.join(logged) or 'none (no records yet)'}")
    directory = Path(out) if out is not None else run.directory / "plots"
    result = Redrawn()
    from ..plots import plot_losses, plot_metric

    if run.history:
        result.paths.append(plot_losses(run.history, directory / "loss.png"))
        for key in metrics:
            result.paths.append(plot_metric(run.history, key, directory / f"metric_{_file_name(key)}.png"))
    else:
        result.notes.append(f"{run.directory / 'metrics.jsonl'} has no records yet: no curves to draw")
    if not predictions:
        return result
    if not run.finished:
        result.notes.append(f"{run.directory} is not finished (no summary.json): drew the curves of metrics.jsonl "
                            "only; the prediction pictures come once it finishes")
        return result
    started = time.time()
    note = _draw_predictions(run.directory, directory, progress, imports)
    if note is not None:
        result.notes.append(note)
    result.paths += sorted((p for p in directory.glob("*.png") if p.stat().st_mtime >= started - 1
                            and p not in result.paths), key=lambda p: p.name)
    return result


def _draw_predictions(run_dir: Path, directory: Path, progress: bool | None, imports: Sequence[str]) -> str | None:
    """The evaluator's pictures of the last checkpoint's model into ``directory``; a note when none."""
    from ..config.loading import load_config
    from ..training import Checkpointer
    from ..training.loop import Schedule
    from .build import _build, precision
    from .runs import checkpoint_steps

    if not checkpoint_steps(run_dir / "checkpoints"):
        return (f"{run_dir / 'checkpoints'} holds no checkpoint: no prediction pictures (they need the trained "
                "state, which the checkpoints hold)")
    cfg = load_config(run_dir / "config.yaml", imports=imports)
    if cfg.parallel.space == 1:  # one device evaluates (the run may have trained on more than this machine has)
        cfg = cfg.model_copy(update={"parallel": cfg.parallel.model_copy(update={"data": 1})})
    with precision(cfg):
        exp = _build(cfg)
        method = exp.method
        if method.evaluator is None:
            _close(method.source)
            return f"the {cfg.objective.name!r} family has no evaluator: no prediction pictures"
        checkpointer = Checkpointer(run_dir / "checkpoints", keep=cfg.train.keep_checkpoints)
        try:
            schedule = Schedule(method.model, method.objective, method.source, exp.phases, exp.combiner,
                                exp.mesh, cfg.seed)
            state, phase, _ = schedule.restore_readable(checkpointer, set_aside=False)
            model = schedule.steps[phase].evaluation_model(state)
        finally:
            checkpointer.close()
            _close(method.source)
        directory.mkdir(parents=True, exist_ok=True)
        method.evaluator.progress = progress
        method.evaluator.report(model, directory)
    return None


def _close(source) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()


def _file_name(key: str) -> str:
    """A metric key as part of a file name (``rel_l2/u`` → ``rel_l2_u``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
