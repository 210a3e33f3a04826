"""Config → operator experiment: dataset views, normalisers, objective, host batch feed, evaluator.

Everything here runs before compilation and turns bad input into a ConfigError naming
the key: a missing data file (with how to make it), unknown arrays or frames, too few
samples, a batch that does not split over the devices, a model that does not accept
the data's shapes.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

from ...config.errors import ConfigError
from ...config.schema import ExperimentConfig
from ...data import load_dataset
from ...data.batches import pair_feed, window_feed
from ...data.operator_views import OperatorViews
from ...objectives import AutoregressiveObjective, Normalizer, OperatorObjective
from ...objectives.operator import Refinement, RefinerNet, step_channels
from ..family import Context, Method, register_family
from .augment import augmentation_for
from .datafile import dataset_path
from .evaluation import PairEvaluator, RolloutEvaluator
from .nsm import build_from_pde
from .physics import physics_for
from .schema import AutoregressiveConfig, OperatorConfig


def _views(cfg: ExperimentConfig, ctx: Context, inputs, outputs) -> OperatorViews:
    data_cfg = cfg.data
    if data_cfg is None:
        raise ConfigError("data", None, f"a data section (data.path: FILE.h5) for objective.name = "
                          f"{cfg.objective.name}")
    ctx.divisible("data.batch_size", data_cfg.batch_size)
    if cfg.lbfgs.steps:
        raise ConfigError("lbfgs.steps", cfg.lbfgs.steps, "0: L-BFGS needs a fixed batch, operator training "
                          "draws a new one every step")
    if data_cfg.batch_size > data_cfg.n_train:
        raise ConfigError("data.batch_size", data_cfg.batch_size, f"at most data.n_train = {data_cfg.n_train}")
    if cfg.objective.physics_weight > 0:
        ctx.require_pde("for objective.physics_weight > 0")
    dataset = load_dataset(dataset_path(data_cfg), lazy=data_cfg.stream)
    if inputs is None:  # autoregressive: the trajectory array
        if data_cfg.trajectory not in dataset.arrays:
            raise ConfigError("data.trajectory", data_cfg.trajectory,
                              f"an array of the file; it holds {', '.join(sorted(dataset.arrays))}")
        inputs = outputs = {data_cfg.trajectory: [0]}
    return OperatorViews(dataset, inputs, outputs, data_cfg.n_train, data_cfg.n_test, data_cfg.stride)


def _model(cfg: ExperimentConfig, ctx: Context, in_size: int, out_size: int, views: OperatorViews) -> Any:
    if ctx.space_devices > 1:
        grid = views.grid_shape()
        if grid[0] % ctx.space_devices:
            raise ConfigError("parallel.space", ctx.space_devices, f"a divisor of the grid's first axis, "
                              f"{grid[0]} points (the grid is {grid})")
    model = ctx.build_model(cfg, in_size, out_size)
    example = jax.ShapeDtypeStruct((in_size, *views.grid_shape()), ctx.dtype)
    try:
        out = eqx.filter_eval_shape(model, example)
    except (ValueError, TypeError) as err:
        raise ConfigError("model", cfg.model.name, f"a model accepting one sample of shape {example.shape} "
                          f"(channels, *grid): {err}") from None
    if out.shape != (out_size, *views.grid_shape()):
        raise ConfigError("model", cfg.model.name, f"a model returning ({out_size}, *grid) = "
                          f"{(out_size, *views.grid_shape())}; it returns {out.shape}")
    return model


@register_family("operator", OperatorConfig, precisions=("default", "bf16"), domain_parallel=True)
def build_operator(cfg: ExperimentConfig, ctx: Context) -> Method:
    """Supervised pairs: ``data.input`` → ``data.output`` (+ PINO residual with ``physics_weight``);
    ``objective.physics: spectral | grid`` trains from the PDE alone (:func:`.nsm.build_from_pde`)."""
    if cfg.objective.physics != "frames":
        return build_from_pde(cfg, ctx)
    data_cfg, obj = cfg.data, cfg.objective
    inputs, outputs = (data_cfg.input, data_cfg.output) if data_cfg is not None else ({}, {})
    views = _views(cfg, ctx, inputs, outputs)
    dim, dtype = len(views.spatial), ctx.dtype
    in_norm = out_norm = None
    if data_cfg.normalize in ("input", "both"):
        in_norm = Normalizer.fit(lambda r: views.read(inputs, r), views.train_rows, dtype)
    if data_cfg.normalize in ("output", "both"):
        out_norm = Normalizer.fit(lambda r: views.read(outputs, r), views.train_rows, dtype)
    in_norm = in_norm or Normalizer.identity(views.in_channels, dim, dtype)
    out_norm = out_norm or Normalizer.identity(views.out_channels, dim, dtype)
    physics, physics_frames, initial, t0 = None, (0, 1), False, 0.0
    if obj.physics_weight > 0:
        if len(outputs) != 1:
            raise ConfigError("data.output", dict(outputs), "one trajectory array for a physics loss")
        (array, frames), = outputs.items()
        physics = physics_for(ctx.pde, views, array, frames)
        fields = views.channels({array: [0]})
        first = (frames or [0])[0] % views.dataset.arrays[array].shape[1]
        physics_frames = (first, fields)
        in_frames = inputs.get(array)
        initial = bool(in_frames) and in_frames[0] % views.dataset.arrays[array].shape[1] == first
        t0 = float(views.times[first]) if views.times is not None else 0.0
    model = _model(cfg, ctx, views.in_channels, views.out_channels, views)
    objective = OperatorObjective(in_norm, out_norm, loss_kind=obj.loss, physics=physics,
                                  physics_frames=physics_frames, physics_t0=t0, initial=initial)
    evaluator = PairEvaluator(objective, views, cfg.evaluation.batch_size, cfg.evaluation.superresolution)
    return Method(model, objective, pair_feed(views, data_cfg.batch_size, cfg.seed), evaluator,
                  physical=objective.physical, weights=_physics_weight(obj, "physics_weight"))


@register_family("autoregressive", AutoregressiveConfig, precisions=("default", "bf16"), domain_parallel=True)
def build_autoregressive(cfg: ExperimentConfig, ctx: Context) -> Method:
    """Next-step training on ``data.trajectory``, unrolled (or refined by PDE-Refiner with
    ``objective.refiner``: the model is then a :class:`RefinerNet` around the ``model``
    section, with the estimate and the step as extra input channels); evaluated by full rollouts."""
    data_cfg, obj = cfg.data, cfg.objective
    refiner = _refinement(obj)
    views = _views(cfg, ctx, None, None)
    array, dim, dtype = data_cfg.trajectory, len(views.spatial), ctx.dtype
    fields = views.channels({array: [0]})
    if data_cfg.normalize != "none":  # per field, over every frame of the training trajectories
        frames = lambda r: views.trajectories(array, r).reshape(-1, fields, *views.grid_shape())  # noqa: E731
        norm = Normalizer.fit(frames, views.train_rows, dtype, chunk=16)
    else:
        norm = Normalizer.identity(fields, dim, dtype)
    physics = physics_for(ctx.pde, views, array, None) if obj.physics_weight > 0 else None
    augment = augmentation_for(obj, ctx, views, array)  # None without objective.augment
    conditions = len(augment.conditions) if augment is not None else 0  # what scalings change
    extra = fields + step_channels(refiner.steps) if refiner is not None else 0  # the estimate and k
    model = _model(cfg, ctx, conditions + obj.history * fields + extra, fields, views)
    if refiner is not None:
        model = RefinerNet(model, fields, refiner.steps)
    try:
        feed = window_feed(views, array, obj.history + obj.unroll, data_cfg.batch_size, cfg.seed, obj.window)
    except ValueError as err:
        raise ConfigError("objective.unroll", obj.unroll, str(err)) from None
    time0 = float(views.times[0]) if views.times is not None else 0.0
    objective = AutoregressiveObjective(norm, obj.history, obj.unroll, pushforward=obj.pushforward, augment=augment,
                                        loss_kind=obj.loss, physics=physics, time0=time0, refiner=refiner)
    evaluator = RolloutEvaluator(objective, views, array, cfg.evaluation.batch_size)
    return Method(model, objective, feed, evaluator, physical=objective.step_model,
                  weights=_physics_weight(obj, "physics_weight"))


def _refinement(obj: AutoregressiveConfig) -> Refinement | None:
    """``objective.refiner`` as a :class:`Refinement`; combinations it does not honour are refused."""
    if obj.refiner is None:
        return None
    why = "with objective.refiner (PDE-Refiner trains one step"
    if obj.unroll != 1:
        raise ConfigError("objective.unroll", obj.unroll, f"1 {why} from true previous frames)")
    if obj.pushforward:
        raise ConfigError("objective.pushforward", True, f"false {why} from true previous frames)")
    if obj.physics_weight > 0:
        raise ConfigError("objective.physics_weight", obj.physics_weight, f"0 {why}; its noise-prediction "
                          "steps have no PDE residual)")
    if obj.loss != "mse":
        raise ConfigError("objective.loss", obj.loss, f"mse {why} with the mean square error on the next frame "
                          "and on the noise)")
    return Refinement(obj.refiner.steps, obj.refiner.min_noise)


def _physics_weight(obj: Any, key: str) -> dict[str, float]:
    """``objective.physics_weight`` is the weight of the ``physics`` term (0: no term)."""
    return {"physics": float(getattr(obj, key))} if getattr(obj, key) > 0 else {}
