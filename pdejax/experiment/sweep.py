"""Hyperparameter sweeps: many training runs of one config, searched by Optuna, in a study database.

:func:`sweep` is the Python face of ``pdejax sweep``. One call is one *worker*: it runs trials
one after another in this process (each a :func:`~pdejax.experiment.train` run in
``<directory>/trial-<number>``) until the study holds ``trials`` finished ones. Start it in
several processes or on several machines with the same arguments and they share the study
(see :mod:`pdejax.experiment.sweep_study` for the database and what happens to a trial whose
worker dies). :func:`~pdejax.experiment.sweep_report.report` tabulates and plots a study.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.errors import ConfigError
from ..config.loading import config_data, load_config
from .build import ConfigSource
from .sweep_spaces import Space, override, parse_grid, parse_key, parse_space, to_stored
from .sweep_study import (
    check_storage_url,
    check_study_name,
    default_storage,
    open_storage,
    open_study,
    quiet_optuna,
    require_optuna,
)
from .sweep_worker import Worker

DEFAULT_TRIALS = 20
PRUNERS = ("median", "percentile", "hyperband", "successive-halving", "none")
SAMPLERS = ("tpe", "random")


@dataclass(frozen=True)
class SweepResult:
    """What one worker of a sweep leaves: the study and where it lives.

    Attributes:
        study: the ``optuna.Study`` (all workers' trials; ``study.best_trial``, ``study.trials``).
        storage: its database URL.
        directory: the sweep's directory, holding ``trial-<number>/`` run directories.
        ran: the numbers of the trials this worker ran, in order.
    """

    study: Any
    storage: str
    directory: Path
    ran: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """A sweep's arguments, checked: what :class:`~pdejax.experiment.sweep_worker.Worker` runs."""

    config: ConfigSource
    overrides: tuple[str, ...]
    spaces: tuple[Space, ...]
    grid: dict[str, tuple[Any, ...]]
    trials: int
    study: str
    storage: str
    directory: Path
    objective: str
    direction: str
    imports: tuple[str, ...]


def sweep(config: ConfigSource, overrides: Sequence[str] = (), *, params: Sequence[str] | Mapping[str, str] = (),
          grid: Sequence[str] | Mapping[str, Sequence[Any]] = (), trials: int | None = None,
          study: str | None = None, storage: str | None = None, directory: str | Path | None = None,
          objective: str = "rel_l2", direction: str = "minimize", sampler: str | Any | None = None,
          pruner: str | Any | None = None, heartbeat: int = 60, imports: Sequence[str] = (),
          progress: bool | None = None, echo: Callable[[str], None] | None = print) -> SweepResult:
    """Run a hyperparameter sweep of ``config`` as one worker of an Optuna study.

    Args:
        config: the experiment (a YAML path or shipped config name, so every worker finds it;
            a mapping works within one process); ``overrides`` apply to every trial.
        params: search spaces, ``["optimizer.learning_rate=loguniform(1e-4,1e-2)", ...]`` or
            ``{"model.width": "int(8,64)"}`` (see :mod:`~pdejax.experiment.sweep_spaces`).
        grid: instead of ``params``, every combination of these values, each run once:
            ``["optimizer.learning_rate=1e-3,1e-4"]`` or ``{"model.width": [32, 64]}``.
        trials: the study's total of finished (complete or pruned) trials to reach; workers
            share it, and calling again after an interruption continues up to it. Default:
            the grid's size, or 20.
        study: the study's name (default: the config's ``name``).
        storage: a SQLAlchemy URL (``postgresql://user:pw@host/db`` for several machines);
            default ``sqlite:///<directory>/study.db``.
        directory: where the trials' run directories go (default ``sweeps/<study>``).
        objective: the ``summary.json`` key to optimise (``rel_l2``, ``final.loss``, ...); it
            is also reported at every evaluation of a run that logs it, for pruning.
        direction: ``minimize`` or ``maximize``.
        sampler: ``tpe`` (default), ``random`` or an Optuna sampler; a grid uses Optuna's
            ``GridSampler``.
        pruner: ``median`` (the default for sampled sweeps), ``percentile``, ``hyperband``,
            ``successive-halving``, ``none`` (the default for grids) or an Optuna pruner.
        heartbeat: seconds between a running trial's heartbeats; a trial silent for twice as
            long counts as dead (failed, and queued to run again).
        imports: modules or ``.py`` files to import first, as ``--import``.
        progress: a bar over the trials on a terminal (``False``: none).
        echo: where the one line per finished trial goes (``None``: nowhere).

    A trial whose loss turns non-finite is recorded as pruned (a diverging run is a result);
    an interrupted trial (SIGINT, SIGTERM) is marked failed and queued to run again, and
    ``Interrupted`` or ``KeyboardInterrupt`` is raised. ConfigError for bad input, before
    anything is written.

    Example (not run here: each trial trains)::

        result = pdejax.experiment.sweep("pinn/burgers.yaml", ["train.steps=1000"],
                                         params={"optimizer.learning_rate": "loguniform(1e-4,1e-2)"},
                                         trials=20)
        result.study.best_trial.params
    """
    plan = make_plan(config, overrides, params=params, grid=grid, trials=trials, study=study, storage=storage,
                     directory=directory, objective=objective, direction=direction, imports=imports)
    optuna = require_optuna()
    sampler = _sampler(optuna, sampler, plan.grid)
    pruner = _pruner(optuna, pruner, bool(plan.grid))
    worker = Worker(plan, echo=echo, progress=progress, heartbeat=_heartbeat(heartbeat))
    spec = {"config": config_data(plan.config, plan.overrides), "params": {s.key: s.text for s in plan.spaces},
            "grid": {k: list(v) for k, v in plan.grid.items()}, "objective": plan.objective,
            "heartbeat": worker.heartbeat}  # workers judge each other's heartbeats by one interval
    with quiet_optuna():
        storage_obj = open_storage(plan.storage, worker.heartbeat, worker.on_stale)
        handle = open_study(storage_obj, plan.study, plan.direction, sampler, pruner, spec)
        ran = worker.run(handle)
    return SweepResult(handle, plan.storage, plan.directory, tuple(ran))


def make_plan(config: ConfigSource, overrides: Sequence[str] = (), *, params: Sequence[str] | Mapping[str, str] = (),
              grid: Sequence[str] | Mapping[str, Sequence[Any]] = (), trials: int | None = None,
              study: str | None = None, storage: str | None = None, directory: str | Path | None = None,
              objective: str = "rel_l2", direction: str = "minimize", imports: Sequence[str] = ()) -> Plan:
    """Every argument of :func:`sweep` checked, and the config checked with the bounds of every
    space: a ConfigError names the flag or key, the value and what is valid (nothing written)."""
    require_optuna()
    spaces = tuple(parse_space(p) for p in _items(params, "params"))
    grid_items = dict(parse_grid(g) for g in _items(grid, "grid")) if not isinstance(grid, Mapping) else \
        {parse_key(k, "--grid", f"{k}={v}"): tuple(v) for k, v in grid.items()}
    if spaces and grid_items:
        raise ConfigError("--grid", ",".join(grid_items), "either --param spaces (sampled) or --grid values (every "
                          "combination), not both")
    if not spaces and not grid_items:
        raise ConfigError("--param", None, "at least one --param KEY=SPACE or --grid KEY=V1,V2,...")
    keys = [s.key for s in spaces] + list(grid_items)
    twice = next((k for k in keys if keys.count(k) > 1), None)
    if twice is not None:
        raise ConfigError(f"--param {twice}", twice, "each key swept once")
    if not isinstance(objective, str) or not objective.strip() or objective != objective.strip():
        raise ConfigError("--objective", objective, "a key of the runs' summary.json, such as rel_l2 or final.loss")
    if direction not in ("minimize", "maximize"):
        raise ConfigError("--direction", direction, "minimize or maximize")
    size = _grid_size(grid_items)
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ConfigError("--trials", trials, "a positive number of trials")
    if grid_items and trials is not None and trials > size:
        raise ConfigError("--trials", trials, f"at most {size}, the number of points of the grid (each runs once)")
    cfg = _check_config(config, overrides, spaces, grid_items, imports)
    name = check_study_name(study if study is not None else cfg.name)
    where = Path(directory) if directory is not None else Path("sweeps") / name
    if where.exists() and not where.is_dir():
        raise ConfigError("--dir", str(where), "a directory (or a path to create one at)")
    url = check_storage_url(storage if storage is not None else default_storage(where))
    return Plan(config, tuple(overrides), spaces, grid_items, trials if trials is not None else size or DEFAULT_TRIALS,
                name, url, where.absolute(), objective, direction, tuple(imports))


def _items(given: Sequence[str] | Mapping[str, Any], what: str) -> list[str]:
    if isinstance(given, Mapping):
        return [f"{k}={v}" for k, v in given.items()]
    if isinstance(given, str):
        raise ConfigError(f"--{'param' if what == 'params' else 'grid'}", given, f"a list of {what} (one per flag)")
    return list(given)


def _grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    size = 1 if grid else 0
    for values in grid.values():
        size *= len(values)
    return size


def _check_config(config: ConfigSource, overrides: Sequence[str], spaces: Sequence[Space],
                  grid: Mapping[str, Sequence[Any]], imports: Sequence[str]):
    """The config validated with every bound (or value) of each swept key, the others at their
    first; the model's and PDE's arguments are checked against their signatures too."""
    from ..models import MODELS
    from ..pde import PDES

    values = {s.key: s.samples() for s in spaces} | {k: list(v) for k, v in grid.items()}
    given = {o.split("=", 1)[0].strip() for o in overrides if "=" in o}
    clash = sorted(given & set(values))
    if clash:
        raise ConfigError(f"--param {clash[0]}", clash[0], "a key either overridden or swept, not both")
    base = {k: override(k, v[0]) for k, v in values.items()}
    cfg = None
    for key, samples in values.items():
        for value in samples:
            cfg = load_config(config, [*overrides, *{**base, key: override(key, value)}.values()], imports=imports)
            if cfg.model is not None:
                MODELS.validate_args(cfg.model.name, cfg.model.args, where="model")
            if cfg.pde is not None:
                PDES.validate_args(cfg.pde.name, cfg.pde.args, where="pde")
    return cfg


def _heartbeat(seconds: int) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
        raise ConfigError("--heartbeat", seconds, "a whole number of seconds, at least 1")
    return seconds


def _sampler(optuna: Any, sampler: str | Any | None, grid: Mapping[str, Sequence[Any]]) -> Any:
    if grid:
        if sampler not in (None, "grid"):
            raise ConfigError("--sampler", sampler, "no sampler with --grid (every point of the grid runs once)")
        return optuna.samplers.GridSampler({k: [to_stored(v) for v in vs] for k, vs in grid.items()}, seed=0)
    if sampler is None or sampler == "tpe":
        return optuna.samplers.TPESampler(constant_liar=True)  # running trials count: workers spread out
    if sampler == "random":
        return optuna.samplers.RandomSampler()
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    raise ConfigError("--sampler", sampler, f"one of {', '.join(SAMPLERS)} (or an Optuna sampler)")


def _pruner(optuna: Any, pruner: str | Any | None, grid: bool) -> Any:
    if pruner is None:
        pruner = "none" if grid else "median"
    if isinstance(pruner, optuna.pruners.BasePruner):
        return pruner
    pruners = optuna.pruners
    made = {"median": pruners.MedianPruner, "percentile": lambda: pruners.PercentilePruner(25.0),
            "hyperband": pruners.HyperbandPruner, "successive-halving": pruners.SuccessiveHalvingPruner,
            "none": pruners.NopPruner}.get(pruner)
    if made is None:
        raise ConfigError("--pruner", pruner, f"one of {', '.join(PRUNERS)} (or an Optuna pruner)")
    return made()
