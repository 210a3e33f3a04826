"""Config → PINN: the model with built-in conditions, the residual objective, collocation points
(+ trainable PDE parameters and observations for inverse problems, + time-marching windows)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from ...config.errors import ConfigError
from ...config.schema import ExperimentConfig
from ...objectives import PINN, PINNField
from ...pde import PDE, PDES, DirichletData, Periodic
from ...sampling import SAMPLERS, CollocationSource
from ...training import LBFGSPhase, OptaxPhase, build_optimizer
from ..family import Context, Method, register_family
from .curriculum import StagePhase, with_pde
from .evaluation import ExactSolutionEvaluator, ParameterEvaluator, evaluation_grid
from .inverse import ObservedSource, build_parameters, initial_values
from .least_squares import fit_initial_condition
from .marching import MarchingField, WindowedSource, WindowPhase, map_to_window
from .observations import observations_from_config
from .reference import REFERENCES, LazyEvaluator
from .schema import PINNConfig


@register_family("pinn", PINNConfig)
def build_pinn(cfg: ExperimentConfig, ctx: Context) -> Method:
    """The PINN family: ``pde`` + ``model`` + ``objective`` (+ ``lbfgs``, ``evaluation.grid``)."""
    obj: PINNConfig = cfg.objective
    pde = ctx.require_pde("for objective.name = pinn")
    lbfgs_points = cfg.lbfgs.n_collocation or obj.n_collocation
    ctx.divisible("objective.n_collocation", obj.n_collocation)
    ctx.divisible("lbfgs.n_collocation", lbfgs_points)
    if obj.constraint == "soft" and obj.n_boundary == 0 and not isinstance(pde.boundary, Periodic):
        raise ConfigError("objective.n_boundary", 0, "a positive number of boundary points with soft constraints "
                          f"(PDE {pde.name!r} has a boundary condition to fit; 0 is for periodic PDEs)")
    if obj.constraint == "hard" and isinstance(pde.boundary, DirichletData):
        raise ConfigError("objective.constraint", "hard", f"soft: the boundary values of PDE {pde.name!r} are "
                          "fitted by the boundary loss term (hard constraints build in constant values only)")
    if obj.constraint == "soft" and pde.evolution and obj.n_initial == 0:
        raise ConfigError("objective.n_initial", 0, "a positive number of initial points with soft constraints")
    if cfg.lbfgs.steps and cfg.lbfgs.resample_every % cfg.train.steps_per_call:
        raise ConfigError("lbfgs.resample_every", cfg.lbfgs.resample_every,
                          f"a multiple of train.steps_per_call = {cfg.train.steps_per_call}")
    parameters = build_parameters(cfg, pde, ctx)  # None without pde.trainable
    if obj.windows > 1:
        _check_marching(obj, pde, parameters is not None)
    stages = _curriculum_pdes(cfg, parameters is not None)
    final = stages[-1] if stages else pde  # what the run ends on: the evaluation's PDE
    grid = _evaluation_grid(cfg, final) if final.exact is not None and cfg.evaluation.reference is None else None
    reference = None
    if cfg.evaluation.reference is not None:  # computed when first evaluated
        ref = cfg.evaluation.reference
        reference = REFERENCES.build(ref.name, ref.args, where="evaluation.reference", pde=final,
                                     grid=_grid_spec(cfg, final))
    observations = observations_from_config(obj.observations, pde) if obj.observations is not None else None

    embed = obj.time_embedding
    if embed is not None and not pde.evolution:
        raise ConfigError("objective.time_embedding", embed.model_dump(),
                          f"null: PDE {pde.name!r} is steady (no time to embed)")
    net = ctx.build_model(cfg, PINNField.net_in_size(pde, embed is not None), len(pde.fields))
    frequency = None if embed is None else jnp.asarray(embed.frequency, ctx.dtype)
    model = PINNField(net, pde, obj.constraint, parameters, frequency, embed is None or embed.trainable)
    # PirateNet & co. with soft constraints: last layer fitted to the initial condition (least squares)
    model = fit_initial_condition(model, obj.n_initial, seed=cfg.seed)
    soft = obj.constraint == "soft"
    observed = None if observations is None else tuple(pde.fields.index(f) for f in observations.fields)
    objective = PINN(pde, constraint=obj.constraint, n_initial=obj.n_initial, n_boundary=obj.n_boundary,
                     derivatives=obj.derivatives, causal_chunks=obj.causal_chunks, causal_tol=obj.causal_tol,
                     observed=observed)
    dom = pde.domain

    def source(n: int, window: tuple[float, float] | None = None) -> Any:
        """Collocation points (in ``window`` of a time-marching run), with the observations."""
        sampler = SAMPLERS.build(obj.sampler.name, obj.sampler.args, where="objective.sampler",
                                 lower=dom.point_lower, upper=dom.point_upper, n=n)
        score = objective.residual_norm
        if window is not None:  # adaptive samplers score their candidates where they will be used
            score = lambda model, pts: objective.residual_norm(model, map_to_window(pts, dom.time, window))  # noqa: E731
        out = CollocationSource(pde, sampler, n_initial=obj.n_initial if soft else 0,
                                n_boundary=obj.n_boundary if soft else 0, score=score)
        if window is not None:
            out = WindowedSource(out, dom.time, window)
        if observations is not None:
            out = ObservedSource(out, jnp.asarray(observations.points, ctx.dtype),
                                 jnp.asarray(observations.values, ctx.dtype), obj.observations.batch_size)
        return out

    evaluator = None
    if reference is not None:
        evaluator = LazyEvaluator(final, reference, ctx.dtype)
    elif grid is not None:
        evaluator = ExactSolutionEvaluator(final, *grid, ctx.dtype)
    elif observations is not None and observations.reference is not None:  # the spectral solver's solution
        ref_points, ref_values, ref_shape = observations.reference
        evaluator = ExactSolutionEvaluator(pde, ref_points, ref_shape, ctx.dtype, reference=ref_values)
    if parameters is not None:
        evaluator = ParameterEvaluator(pde, initial_values(cfg), evaluator, ctx.dtype)

    def lbfgs(window: tuple[float, float] | None = None) -> LBFGSPhase:
        own = source(lbfgs_points, window) if lbfgs_points != obj.n_collocation else None
        return LBFGSPhase(cfg.lbfgs.steps, cfg.lbfgs.memory_size, own, cfg.lbfgs.resample_every)

    if obj.windows == 1 and stages:  # curriculum: the later stages, then L-BFGS on the last one
        opt = cfg.optimizer
        phases = [StagePhase(OptaxPhase(stage.steps, *build_optimizer(opt.name, opt.learning_rate, opt.args,
                                                                      opt.clip_norm)), stage_pde)
                  for stage, stage_pde in zip(obj.curriculum, stages)]
        phases += [StagePhase(lbfgs(), final)] if cfg.lbfgs.steps else []
        # the trained model solves the last stage's PDE (also as pdejax.load_run rebuilds it)
        return Method(model, objective, source(obj.n_collocation), evaluator, phases,
                      physical=lambda m: with_pde(m, final))
    if obj.windows == 1:
        phases = [lbfgs()] if cfg.lbfgs.steps else []
        return Method(model, objective, source(obj.n_collocation), evaluator, phases)

    # Time marching: window 0 trains through the run's own phases (the optimizer's, then
    # L-BFGS), each later window through the same phases again, from the previous one.
    marching = MarchingField.from_field(model, obj.windows)
    windows = list(zip(marching.times[:-1], marching.times[1:]))
    phases = [WindowPhase(lbfgs(windows[0]), 0, source(obj.n_collocation, windows[0]))] if cfg.lbfgs.steps else []
    opt = cfg.optimizer
    for k, window in enumerate(windows[1:], start=1):
        optimizer, schedule = build_optimizer(opt.name, opt.learning_rate, opt.args, opt.clip_norm)
        phases.append(WindowPhase(OptaxPhase(cfg.train.steps, optimizer, schedule), k,
                                  source(obj.n_collocation, window)))
        if cfg.lbfgs.steps:
            phases.append(WindowPhase(lbfgs(window), k, source(obj.n_collocation, window)))
    last = obj.windows - 1
    return Method(marching, objective, source(obj.n_collocation, windows[0]), evaluator, phases,
                  physical=lambda m: m.with_active(last))


def _grid_spec(cfg: ExperimentConfig, pde: PDE) -> dict[str, tuple[float, float, int]]:
    """``evaluation.grid`` (default: 101 points per coordinate), its coordinates checked."""
    dom = pde.domain
    spec = dict(cfg.evaluation.grid) or {
        n: (lo, hi, 101) for n, lo, hi in zip(dom.point_names, dom.point_lower, dom.point_upper)}
    unknown = sorted(set(spec) - set(dom.point_names))
    if unknown:
        raise ConfigError(f"evaluation.grid.{unknown[0]}", spec[unknown[0]],
                          f"one of the coordinates {dom.point_names}")
    missing = [n for n in dom.point_names if n not in spec]
    if missing:
        raise ConfigError("evaluation.grid", spec, f"every coordinate {dom.point_names}; missing {missing}")
    return spec


def _evaluation_grid(cfg: ExperimentConfig, pde: PDE):
    """``(points, shape)`` of ``evaluation.grid`` (default: 101 points per coordinate)."""
    spec = _grid_spec(cfg, pde)
    try:
        return evaluation_grid(pde, spec)
    except ValueError as err:
        raise ConfigError("evaluation.grid", spec, str(err)) from None


def _curriculum_pdes(cfg: ExperimentConfig, trainable: bool) -> list[PDE]:
    """The PDE of each later stage of ``objective.curriculum`` (empty without one)."""
    obj: PINNConfig = cfg.objective
    if not obj.curriculum:
        return []
    if obj.windows > 1 or trainable:
        why = "time marching (objective.windows)" if obj.windows > 1 else "trainable PDE parameters (pde.trainable)"
        raise ConfigError("objective.curriculum", [s.model_dump() for s in obj.curriculum],
                          f"no curriculum with {why}")
    return [PDES.build(cfg.pde.name, {**cfg.pde.args, **stage.pde}, where=f"objective.curriculum.{i}.pde")
            for i, stage in enumerate(obj.curriculum)]


def _check_marching(obj: PINNConfig, pde: PDE, trainable: bool) -> None:
    why = None
    if not pde.evolution:
        why = f"PDE {pde.name!r} is steady (no time to march in)"
    elif pde.second_order:
        why = f"time marching does not support fields second order in time ({', '.join(pde.second_order)})"
    elif trainable:
        why = "time marching does not train PDE parameters (pde.trainable)"
    elif obj.observations is not None:
        why = "time marching does not fit observations (objective.observations)"
    elif obj.time_embedding is not None:
        why = "time marching has its own time coordinate per window (no objective.time_embedding)"
    if why is not None:
        raise ConfigError("objective.windows", obj.windows, f"1: {why}")
