"""Config → every object a run needs, validated, before anything is compiled or written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from .. import methods as _methods  # noqa: F401  (registers the built-in families)
from ..config.errors import ConfigError
from ..config.loading import load_config
from ..config.schema import ExperimentConfig
from ..methods import Context, Method, get_family
from ..models.precision import get_policy
from ..parallel import data_mesh, make_mesh
from ..pde import PDE, PDES
from ..training import COMBINERS, AbstractPhase, GradientCombiner, OptaxPhase, build_optimizer

ConfigSource = str | Path | Mapping[str, Any] | ExperimentConfig


@dataclass
class Experiment:
    """Everything a config describes, built and validated, before any compilation.

    Attributes:
        config: the validated config (absolute paths, the imports it needed).
        pde: the ``pde`` section built, or ``None``.
        method: the family's model, objective, batch source and evaluator.
        phases: the optimizer phase, then the family's (e.g. L-BFGS).
        combiner: the gradient combiner (``optimizer.combine``).
        mesh: the device mesh.
    """

    config: ExperimentConfig
    pde: PDE | None
    method: Method
    phases: list[AbstractPhase]
    combiner: GradientCombiner
    mesh: Mesh

    @property
    def dtype(self) -> Any:
        return jnp.dtype(self.config.dtype)


def precision(config: ExperimentConfig):
    """The run's precision as a context: ``jax.enable_x64`` on for float64 runs, off for
    float32 ones, restored on exit (process-wide settings are left alone)."""
    return jax.enable_x64(config.dtype == "float64")


def build(config: ConfigSource, overrides: Sequence[str] = (), *, imports: Sequence[str] = ()) -> Experiment:
    """Validate ``config`` (+ overrides, after importing ``imports`` and the config's own)
    and construct every object it names. Arrays are made in the config's dtype (inside
    :func:`precision`); use them in the same precision.

    Raises:
        ConfigError: naming the offending key and what would be valid.
    """
    cfg = load_config(config, overrides, imports=imports)
    with precision(cfg):
        return _build(cfg)


def _build(cfg: ExperimentConfig) -> Experiment:
    pde = PDES.build(cfg.pde.name, cfg.pde.args, where="pde") if cfg.pde is not None else None
    try:
        space = cfg.parallel.space
        mesh = data_mesh(cfg.parallel.data) if space == 1 else make_mesh(cfg.parallel.data, space)
    except ValueError as err:
        key = "parallel.data" if cfg.parallel.space == 1 else "parallel.space"
        raise ConfigError(key, cfg.parallel.data if key == "parallel.data" else cfg.parallel.space, str(err)) from None
    family = get_family(cfg.objective.name)
    if cfg.precision not in family.precisions:
        raise ConfigError("precision", cfg.precision, f"one of {', '.join(family.precisions)} for the "
                          f"{family.name!r} family (mixed precision is for families whose losses see only "
                          "model outputs, e.g. operator; derivatives of a PINN in bfloat16 are not accurate)")
    if cfg.parallel.space > 1 and not family.domain_parallel:
        raise ConfigError("parallel.space", cfg.parallel.space, f"1 for the {family.name!r} family (domain "
                          "parallelism splits the grids of field batches: operator and autoregressive families)")
    policy = get_policy(cfg.precision, jnp.dtype(cfg.dtype))
    method = family.build(cfg, Context(pde, mesh, jnp.dtype(cfg.dtype), cfg.seed, policy))
    names = method.objective.loss_names
    unknown = sorted(set(cfg.objective.weights) - set(names))
    if unknown:
        raise ConfigError(f"objective.weights.{unknown[0]}", cfg.objective.weights[unknown[0]],
                          f"a loss term of this objective: {', '.join(names)}")
    twice = sorted(set(cfg.objective.weights) & set(method.weights))
    if twice:
        raise ConfigError(f"objective.weights.{twice[0]}", cfg.objective.weights[twice[0]],
                          f"no entry: this family sets the weight of {twice[0]!r} from its own key "
                          f"({method.weights[twice[0]]} now)")
    weights = {**method.weights, **cfg.objective.weights}
    opt_cfg = cfg.optimizer
    opt, schedule = build_optimizer(opt_cfg.name, opt_cfg.learning_rate, opt_cfg.args, opt_cfg.clip_norm)
    combiner = COMBINERS.build(opt_cfg.combine.name, opt_cfg.combine.args, where="optimizer.combine",
                               weights=weights)
    phases = [OptaxPhase(cfg.train.steps, opt, schedule), *method.phases]
    return Experiment(cfg, pde, method, phases, combiner, mesh)
