"""From a config to a trained model and a run directory — the Python face of the CLI.

::

    import pdejax
    run = pdejax.train("configs/pinn/burgers.yaml", overrides=["train.steps=2000"])
    run.summary["rel_l2"]
    again = pdejax.load_run(run.directory)
    u = jax.vmap(again.model)(points)          # points: (N, 2) = [x, t]
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .config.errors import ConfigError
from .config.loading import load_config, to_yaml
from .config.schema import ExperimentConfig
from .models import MODELS
from .objectives import PINN, AbstractObjective, PINNField, evaluation_grid
from .objectives.operator import AutoregressiveObjective, NormalizedOperator, OperatorObjective
from .parallel import data_mesh
from .pde import PDE, PDES
from .sampling import SAMPLERS
from .training import Checkpointer, LBFGSPhase, OptaxPhase, build_optimizer, fit
from .training.loop import Start

ConfigSource = str | Path | Mapping[str, Any] | ExperimentConfig


@dataclass
class Experiment:
    """Everything a config describes, built and validated, before any compilation."""

    config: ExperimentConfig
    pde: PDE | None
    model: Any
    objective: AbstractObjective
    phases: list
    mesh: Any
    grid_shape: tuple[int, ...] | None = None
    grid_points: np.ndarray | None = None

    def physical_model(self, model: Any) -> Any:
        """The trained ``model`` as users call it, in physical units: a PINN's field
        (one point → fields), an operator with its normalisers (one sample
        ``(c_in, *grid)`` → ``(c_out, *grid)``; autoregressive: the one-step map)."""
        if isinstance(self.objective, OperatorObjective):
            return NormalizedOperator(model, self.objective.input_norm, self.objective.output_norm)
        if isinstance(self.objective, AutoregressiveObjective):
            return self.objective.step_model(model)
        return model


def _set_dtype(dtype: str) -> None:
    want64 = dtype == "float64"
    if bool(jax.config.jax_enable_x64) != want64:
        jax.config.update("jax_enable_x64", want64)


def build(config: ConfigSource, overrides: Sequence[str] = ()) -> Experiment:
    """Validate ``config`` (+ overrides) and construct every object it names.

    Raises:
        ConfigError: naming the offending key and what would be valid.
    """
    cfg = load_config(config, overrides)
    _set_dtype(cfg.dtype)
    dtype = jnp.float64 if cfg.dtype == "float64" else jnp.float32
    pde = PDES.build(cfg.pde.name, cfg.pde.args, where="pde") if cfg.pde is not None else None
    try:
        mesh = data_mesh(cfg.parallel.data)
    except ValueError as err:
        raise ConfigError("parallel.data", cfg.parallel.data, str(err)) from None
    n_dev = mesh.shape["data"]
    if cfg.objective.name != "pinn":
        from .operator_setup import build_operator

        model, objective = build_operator(cfg, pde, n_dev, dtype)
        opt, schedule = build_optimizer(cfg.optimizer.name, cfg.optimizer.learning_rate, cfg.optimizer.args,
                                        cfg.optimizer.clip_norm)
        _check_weights(cfg, objective)
        return Experiment(cfg, pde, model, objective, [OptaxPhase(cfg.train.steps, opt, schedule)], mesh)
    obj_cfg = cfg.objective
    lbfgs_points = cfg.lbfgs.n_collocation or obj_cfg.n_collocation
    for key, n in (("objective.n_collocation", obj_cfg.n_collocation), ("lbfgs.n_collocation", lbfgs_points)):
        if n % n_dev:
            raise ConfigError(key, n, f"a multiple of the {n_dev} devices on the data axis")
    if obj_cfg.constraint == "soft" and pde.evolution and obj_cfg.n_initial == 0:
        raise ConfigError("objective.n_initial", 0, "a positive number of initial points with soft constraints")

    k_model = jax.random.PRNGKey(cfg.seed + 1_000_003)
    net = MODELS.build(cfg.model.name, cfg.model.args, where="model", key=k_model, dtype=dtype,
                       in_size=PINNField.net_in_size(pde), out_size=len(pde.fields))
    model = PINNField(net, pde, obj_cfg.constraint)

    dom = pde.domain

    def sampler(n: int):
        return SAMPLERS.build(obj_cfg.sampler.name, obj_cfg.sampler.args, where="objective.sampler",
                              lower=dom.point_lower, upper=dom.point_upper, n=n)

    grid_points = grid_shape = None
    eval_points = eval_values = None
    if pde.exact is not None:
        spec = dict(cfg.evaluation.grid) or {
            n: (lo, hi, 101) for n, lo, hi in zip(dom.point_names, dom.point_lower, dom.point_upper)}
        unknown = set(spec) - set(dom.point_names)
        if unknown:
            raise ConfigError(f"evaluation.grid.{sorted(unknown)[0]}", spec[sorted(unknown)[0]],
                              f"one of the coordinates {dom.point_names}")
        try:
            grid_points, grid_shape = evaluation_grid(pde, spec)
        except ValueError as err:
            raise ConfigError("evaluation.grid", spec, str(err)) from None
        eval_points = jnp.asarray(grid_points, dtype)
        eval_values = jnp.asarray(pde.exact(grid_points, pde.params), dtype)

    def objective(n: int) -> PINN:
        return PINN(pde, sampler(n), constraint=obj_cfg.constraint, n_initial=obj_cfg.n_initial,
                    n_boundary=obj_cfg.n_boundary, derivatives=obj_cfg.derivatives,
                    causal_chunks=obj_cfg.causal_chunks, causal_tol=obj_cfg.causal_tol,
                    eval_points=eval_points, eval_values=eval_values)

    main = objective(obj_cfg.n_collocation)
    _check_weights(cfg, main)
    opt, schedule = build_optimizer(cfg.optimizer.name, cfg.optimizer.learning_rate, cfg.optimizer.args,
                                    cfg.optimizer.clip_norm)
    phases: list = [OptaxPhase(cfg.train.steps, opt, schedule)]
    if cfg.lbfgs.steps:
        if cfg.lbfgs.resample_every % cfg.train.steps_per_call:
            raise ConfigError("lbfgs.resample_every", cfg.lbfgs.resample_every,
                              f"a multiple of train.steps_per_call = {cfg.train.steps_per_call}")
        phases.append(LBFGSPhase(cfg.lbfgs.steps, cfg.lbfgs.memory_size,
                                 objective(lbfgs_points) if lbfgs_points != obj_cfg.n_collocation else None,
                                 cfg.lbfgs.resample_every))
    return Experiment(cfg, pde, model, main, phases, mesh, grid_shape, grid_points)


def _check_weights(cfg: ExperimentConfig, objective: AbstractObjective) -> None:
    unknown = set(cfg.objective.weights) - set(objective.loss_names)
    if unknown:
        k = sorted(unknown)[0]
        raise ConfigError(f"objective.weights.{k}", cfg.objective.weights[k],
                          f"a loss term of this objective: {', '.join(objective.loss_names)}")


@dataclass
class Run:
    """A run directory and what is in it.

    Attributes:
        directory: the run directory.
        config: the resolved, validated config.
        model: the trained model in physical units (for a PINN: one point → fields).
        summary: contents of ``summary.json`` (empty if the run did not finish).
        history: the logged records of ``metrics.jsonl``.
    """

    directory: Path
    config: ExperimentConfig
    model: Any
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def default_run_dir(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float))
    os.replace(tmp, path)


def _read_history(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def train(config: ConfigSource | None = None, overrides: Sequence[str] = (), *,
          run_dir: str | Path | None = None, resume: str | Path | None = None,
          progress: bool | None = None) -> Run:
    """Train from a config (path, mapping or :class:`ExperimentConfig`) into a run directory.

    Args:
        config: the experiment; with ``resume`` it may be omitted (the run's own
            ``config.yaml`` is used, with ``overrides`` applied).
        overrides: ``["key.sub=value", ...]``.
        run_dir: where to write; default ``runs/<name>-<timestamp>``. Must not exist
            or be empty.
        resume: an existing run directory to continue from its latest checkpoint.
        progress: show a progress bar (default: ``train.progress``).

    Returns:
        The finished :class:`Run`. Raises ConfigError for bad input (before anything is
        written), ``NonFiniteLoss`` or ``Interrupted`` (after saving what is safe).
    """
    if resume is not None:
        directory = Path(resume)
        if not (directory / "config.yaml").is_file():
            raise ConfigError("--resume", str(directory), "a run directory containing config.yaml")
        exp = build(config if config is not None else directory / "config.yaml", overrides)
    else:
        if config is None:
            raise ConfigError("config", None, "a config file, mapping or ExperimentConfig")
        exp = build(config, overrides)
        directory = Path(run_dir) if run_dir is not None else default_run_dir(exp.config.name)
        if directory.exists() and any(directory.iterdir()):
            raise ConfigError("--run-dir", str(directory),
                              "a new or empty directory (use --resume to continue an existing run)")
    cfg = exp.config
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.json").unlink(missing_ok=True)
    (directory / "config.yaml").write_text(to_yaml(cfg))
    checkpointer = Checkpointer(directory / "checkpoints", keep=cfg.train.keep_checkpoints)
    metrics_path = directory / "metrics.jsonl"
    start_step = checkpointer.latest_step() if resume is not None else None
    if resume is not None:
        kept = [r for r in _read_history(metrics_path) if start_step is not None and r["step"] <= start_step]
        metrics_path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    else:
        metrics_path.write_text("")

    def log(record: dict[str, Any]) -> None:
        with metrics_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    try:
        result = fit(exp.objective, exp.model, exp.phases, seed=cfg.seed,
                     steps_per_call=cfg.train.steps_per_call, log_every=cfg.train.log_every,
                     eval_every=cfg.train.eval_every, checkpointer=checkpointer,
                     checkpoint_every=cfg.train.checkpoint_every, resume=resume is not None,
                     mesh=exp.mesh, loss_weights=cfg.objective.weights, callbacks=[log],
                     progress=cfg.train.progress if progress is None else progress)
    finally:
        checkpointer.close()
    history = _read_history(metrics_path)
    model = exp.physical_model(result.model)
    _save_model(directory / "model", model)
    plots_dir = directory / "plots" if cfg.train.plots else None
    if plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
    report = exp.objective.report(result.model, plots_dir)
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
        "versions": _versions(),
    }
    if cfg.train.plots:
        _plots(exp, result.model, history, directory / "plots")
    _write_json_atomic(directory / "summary.json", summary)
    return Run(directory, cfg, model, summary, history)


def _versions() -> dict[str, str]:
    import equinox
    import optax
    import orbax.checkpoint

    from . import __version__

    return {"pdejax": __version__, "jax": jax.__version__, "equinox": equinox.__version__,
            "optax": optax.__version__, "orbax-checkpoint": orbax.checkpoint.__version__,
            "python": platform.python_version()}


def _save_model(path: Path, model: Any) -> None:
    shutil.rmtree(path, ignore_errors=True)  # a resumed run replaces the model it had
    ckpt = Checkpointer(path, keep=1)
    try:
        ckpt.save(0, eqx.filter(model, eqx.is_array), {"kind": "model"})
    finally:
        ckpt.close()


def _plots(exp: Experiment, model: Any, history: list[dict[str, Any]], directory: Path) -> None:
    from .plots import plot_losses, plot_space_time

    if history:
        plot_losses(history, directory / "loss.png")
    pde = exp.pde
    if exp.grid_points is not None and pde.domain.dim == 1 and pde.evolution:
        pts = jnp.asarray(exp.grid_points, exp.objective.eval_points.dtype)
        pred = np.asarray(jax.jit(jax.vmap(model))(pts))
        ref = np.asarray(exp.objective.eval_values)
        nx, nt = exp.grid_shape
        for i, name in enumerate(pde.fields):
            plot_space_time(exp.grid_points[:, 0].reshape(nx, nt)[:, 0], exp.grid_points[:, 1].reshape(nx, nt)[0],
                            pred[:, i].reshape(nx, nt), ref[:, i].reshape(nx, nt),
                            directory / f"solution_{name}.png", field=name)


def load_run(run_dir: str | Path) -> Run:
    """A finished (or checkpointed) run: its config, trained model and records.

    ``run.model`` is in physical units; for a PINN call it on one point
    ``[x..., t]`` (shape ``(dim + 1,)``) and ``jax.vmap`` it over many.
    """
    directory = Path(run_dir)
    if not (directory / "config.yaml").is_file():
        raise ConfigError("run directory", str(directory), "a directory containing config.yaml")
    exp = build(directory / "config.yaml")
    if (directory / "model").is_dir():
        params, static = eqx.partition(exp.physical_model(exp.model), eqx.is_array)
        ckpt = Checkpointer(directory / "model", keep=1)
        try:
            params, _ = ckpt.restore(params)
        finally:
            ckpt.close()
        model = eqx.combine(params, static)
    else:
        ckpt = Checkpointer(directory / "checkpoints", keep=exp.config.train.keep_checkpoints)
        try:
            if ckpt.latest_step() is None:
                raise ConfigError("run directory", str(directory), "a run with a saved model or checkpoint")
            state, _ = Start(exp.objective, exp.model, exp.phases, exp.config.seed, exp.mesh).restore(ckpt)
            model = exp.physical_model(eqx.combine(state.params, eqx.partition(exp.model, eqx.is_array)[1]))
        finally:
            ckpt.close()
    summary_path = directory / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return Run(directory, exp.config, model, summary,
               _read_history(directory / "metrics.jsonl"))
