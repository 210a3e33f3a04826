"""Config → PINN: the model with built-in conditions, the residual objective, collocation points."""

from __future__ import annotations

from ...config.errors import ConfigError
from ...config.schema import ExperimentConfig
from ...objectives import PINN, PINNField
from ...sampling import SAMPLERS, CollocationSource
from ...training import LBFGSPhase
from ..family import Context, Method, register_family
from .evaluation import ExactSolutionEvaluator, evaluation_grid
from .schema import PINNConfig


@register_family("pinn", PINNConfig)
def build_pinn(cfg: ExperimentConfig, ctx: Context) -> Method:
    """The PINN family: ``pde`` + ``model`` + ``objective`` (+ ``lbfgs``, ``evaluation.grid``)."""
    obj: PINNConfig = cfg.objective
    pde = ctx.require_pde("for objective.name = pinn")
    lbfgs_points = cfg.lbfgs.n_collocation or obj.n_collocation
    ctx.divisible("objective.n_collocation", obj.n_collocation)
    ctx.divisible("lbfgs.n_collocation", lbfgs_points)
    if obj.constraint == "soft" and pde.evolution and obj.n_initial == 0:
        raise ConfigError("objective.n_initial", 0, "a positive number of initial points with soft constraints")

    net = ctx.build_model(cfg, PINNField.net_in_size(pde), len(pde.fields))
    model = PINNField(net, pde, obj.constraint)
    soft = obj.constraint == "soft"
    objective = PINN(pde, constraint=obj.constraint, n_initial=obj.n_initial, n_boundary=obj.n_boundary,
                     derivatives=obj.derivatives, causal_chunks=obj.causal_chunks, causal_tol=obj.causal_tol)
    dom = pde.domain

    def source(n: int) -> CollocationSource:
        sampler = SAMPLERS.build(obj.sampler.name, obj.sampler.args, where="objective.sampler",
                                 lower=dom.point_lower, upper=dom.point_upper, n=n)
        return CollocationSource(pde, sampler, n_initial=obj.n_initial if soft else 0,
                                 n_boundary=obj.n_boundary if soft else 0, score=objective.residual_norm)

    evaluator = None
    if pde.exact is not None:
        spec = dict(cfg.evaluation.grid) or {
            n: (lo, hi, 101) for n, lo, hi in zip(dom.point_names, dom.point_lower, dom.point_upper)}
        unknown = sorted(set(spec) - set(dom.point_names))
        if unknown:
            raise ConfigError(f"evaluation.grid.{unknown[0]}", spec[unknown[0]],
                              f"one of the coordinates {dom.point_names}")
        try:
            points, shape = evaluation_grid(pde, spec)
        except ValueError as err:
            raise ConfigError("evaluation.grid", spec, str(err)) from None
        evaluator = ExactSolutionEvaluator(pde, points, shape, ctx.dtype)

    phases = []
    if cfg.lbfgs.steps:
        if cfg.lbfgs.resample_every % cfg.train.steps_per_call:
            raise ConfigError("lbfgs.resample_every", cfg.lbfgs.resample_every,
                              f"a multiple of train.steps_per_call = {cfg.train.steps_per_call}")
        phases.append(LBFGSPhase(cfg.lbfgs.steps, cfg.lbfgs.memory_size,
                                 source(lbfgs_points) if lbfgs_points != obj.n_collocation else None,
                                 cfg.lbfgs.resample_every))
    return Method(model, objective, source(obj.n_collocation), evaluator, phases)
