"""Run directories: what a run leaves behind, and reading it back."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import equinox as eqx
import jax

from ..config.errors import ConfigError
from ..config.loading import load_config
from ..config.schema import ExperimentConfig
from ..parallel.distributed import barrier
from ..training import Checkpointer
from ..training.loop import Schedule
from .build import _build, precision


@dataclass
class Run:
    """A run directory and what is in it.

    Attributes:
        directory: the run directory.
        config: the resolved, validated config.
        model: the trained model in physical units (a PINN: one point → fields; an
            operator: one sample through its normalisers). Its arrays have the run's
            dtype: evaluate a float64 run's model inside ``with jax.enable_x64(True):``.
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


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float))
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_history(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def versions() -> dict[str, str]:
    """Versions of pdejax and the libraries a run depends on, for ``summary.json``."""
    out = {"python": platform.python_version()}
    for dist in ("pdejax", "jax", "equinox", "optax", "orbax-checkpoint"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


# What a resumed run may change: how long it trains, how it logs (``train.loggers``: a
# tracker added on resume starts at the checkpoint; ``train.mlflow``), evaluates and
# checkpoints, and how it is laid out on devices. ``parallel.data`` only changes the
# sharding of the batches (the state is replicated and restores onto any mesh; batches
# are a function of (seed, step)), and ``data.stream`` only how the same file is read;
# ``distributed`` is how the run is launched (a run resumes on any number of processes).
# Everything else shapes the saved state or what it means, and is refused.
RESUMABLE = ("name", "train.steps", "train.steps_per_call", "train.log_every", "train.eval_every",
             "train.checkpoint_every", "train.keep_checkpoints", "train.progress", "train.plots",
             "train.loggers", "train.mlflow",
             "evaluation", "parallel.data", "data.stream", "distributed")

_WHAT = {"model": "the model (the shapes of its parameters)", "pde": "the PDE", "data": "the data",
         "objective": "the objective", "optimizer": "the optimizer (its state and learning rate)",
         "lbfgs": "the L-BFGS phase", "dtype": "the dtype (the saved arrays are {old})",
         "seed": "the seed (its initial state and batches)", "imports": "the imported extensions"}


def check_resumable(stored: ExperimentConfig, new: ExperimentConfig) -> None:
    """ConfigError naming the first key where ``new`` changes what a resume of a run
    with config ``stored`` cannot change (see ``RESUMABLE``).

    >>> from pdejax.config.loading import load_config
    >>> base = {"pde": {"name": "burgers"}, "model": {"name": "mlp", "width": 8}}
    >>> old = load_config(base)
    >>> check_resumable(old, load_config(base, ["train.steps=20000", "train.log_every=500"]))
    >>> check_resumable(old, load_config(base, ["model.width=32"]))
    Traceback (most recent call last):
    ...
    pdejax.config.errors.ConfigError: model.width = 32 is invalid: expected the stored run's value 8: a \
resumed run cannot change the model (the shapes of its parameters); start a new run (--run-dir) instead.
    """
    for key, old, value in _differences(stored.model_dump(), new.model_dump()):
        if any(key == k or key.startswith(k + ".") for k in RESUMABLE):
            continue
        what = _WHAT.get(key.split(".")[0], f"{key}").format(old=old)
        raise ConfigError(key, value, f"the stored run's value {old!r}: a resumed run cannot change {what}; "
                          "start a new run (--run-dir) instead")


def _differences(old: Any, new: Any, prefix: str = ""):
    """``(dotted key, old, new)`` for each leaf where two dumped configs differ, in order."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            yield from _differences(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
    elif old != new or type(old) is not type(new):
        yield prefix, old, new


def checkpoint_steps(directory: Path) -> list[int]:
    """The numbered checkpoint folders in ``directory`` (none if it is missing)."""
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit())


def save_model(path: Path, model: Any) -> None:
    """Write ``model``'s arrays to ``path`` (replacing what is there). In a multi-process run
    every process calls this with global arrays; process 0 removes the old model."""
    if jax.process_index() == 0:
        shutil.rmtree(path, ignore_errors=True)  # a resumed run replaces the model it had
    barrier("save-model")
    ckpt = Checkpointer(path, keep=1)
    try:
        ckpt.save(0, eqx.filter(model, eqx.is_array), {"kind": "model"})
    finally:
        ckpt.close()


def load_run(run_dir: str | Path, *, imports: Sequence[str] = ()) -> Run:
    """A finished (or checkpointed) run: its config, trained model and records.

    The run's own ``imports`` (user PDEs, models, families) are imported again first.
    ``run.model`` is in physical units, with arrays in the run's dtype; the global
    ``jax_enable_x64`` setting is left as it was. For a PINN call it on one point
    ``[x..., t]`` (shape ``(dim + 1,)``) and ``jax.vmap`` it over many.
    """
    directory = Path(run_dir)
    if not (directory / "config.yaml").is_file():
        raise ConfigError("run directory", str(directory), "a directory containing config.yaml")
    cfg = load_config(directory / "config.yaml", imports=imports)
    with precision(cfg):
        exp = _build(cfg)
        method = exp.method
        if (directory / "model").is_dir():
            params, static = eqx.partition(method.physical(method.model), eqx.is_array)
            ckpt = Checkpointer(directory / "model", keep=1)
            try:
                params, _ = ckpt.restore(params)
            finally:
                ckpt.close()
            model = eqx.combine(params, static)
        else:
            ckpt = Checkpointer(directory / "checkpoints", keep=cfg.train.keep_checkpoints)
            try:
                if ckpt.latest_step() is None:
                    raise ConfigError("run directory", str(directory), "a run with a saved model or checkpoint")
                schedule = Schedule(method.model, method.objective, method.source, exp.phases, exp.combiner,
                                    exp.mesh, cfg.seed)
                state, i, _ = schedule.restore_readable(ckpt, set_aside=False)
                model = method.physical(schedule.steps[i].evaluation_model(state))
            finally:
                ckpt.close()
                close = getattr(method.source, "close", None)
                if close is not None:
                    close()
        model = jax.block_until_ready(model)
    summary_path = directory / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return Run(directory, cfg, model, summary, read_history(directory / "metrics.jsonl"))
