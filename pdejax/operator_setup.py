"""Config → operator objective and model: the ``objective.name: operator | autoregressive``
half of :func:`pdejax.experiment.build`.

Everything here runs before compilation and turns bad input into a
:class:`~pdejax.config.ConfigError` naming the key: a missing data file (with how to
make it), unknown arrays or frames, too few samples, a batch that does not split over
the devices, a model that does not accept the data's shapes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import equinox as eqx
import jax

from .config.errors import ConfigError
from .config.schema import ExperimentConfig
from .models import MODELS
from .objectives.operator import AutoregressiveObjective, Normalizer, OperatorObjective, physics_for
from .pde import PDE


def resolve_data_path(cfg: ExperimentConfig, config_dir: Path | None = None) -> Path:
    """``data.path``; generated first from ``data.generate`` when it does not exist."""
    data = cfg.data
    path = Path(data.path)
    if path.exists():
        return path
    if data.generate is None:
        raise ConfigError("data.path", data.path, "an existing dataset file (or set data.generate to a data "
                          "config to make it: pdejax data generate CONFIG --out FILE)")
    from .data import generate, load_data_config

    print(f"pdejax: {path} does not exist; generating it from {data.generate} "
          f"{' '.join(data.generate_overrides)}".rstrip())
    path.parent.mkdir(parents=True, exist_ok=True)
    data_config = load_data_config(data.generate, data.generate_overrides)
    with float64_if(data_config.generator.args.get("precision") == "float64"):
        generate(data_config, path)
    return path


@contextlib.contextmanager
def float64_if(wanted: bool) -> Iterator[None]:
    """Run the block with ``jax_enable_x64`` on (solvers in float64), then restore the setting."""
    before = bool(jax.config.jax_enable_x64)
    if wanted and not before:
        jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        if bool(jax.config.jax_enable_x64) != before:
            jax.config.update("jax_enable_x64", before)


def build_operator(cfg: ExperimentConfig, pde: PDE | None, n_devices: int, dtype: Any) -> tuple[Any, Any]:
    """``(model, objective)`` for an operator experiment (the model handles normalised data)."""
    from .data import load_dataset
    from .data.operator_views import OperatorViews

    data_cfg, obj_cfg = cfg.data, cfg.objective
    if data_cfg.batch_size % n_devices:
        raise ConfigError("data.batch_size", data_cfg.batch_size,
                          f"a multiple of the {n_devices} devices on the data axis")
    if cfg.lbfgs.steps:
        raise ConfigError("lbfgs.steps", cfg.lbfgs.steps, "0: L-BFGS needs a fixed batch, operator training "
                          "draws a new one every step")
    dataset = load_dataset(resolve_data_path(cfg), lazy=data_cfg.stream)
    autoregressive = obj_cfg.name == "autoregressive"
    if autoregressive:
        if data_cfg.trajectory not in dataset.arrays:
            raise ConfigError("data.trajectory", data_cfg.trajectory,
                              f"an array of the file; it holds {', '.join(sorted(dataset.arrays))}")
        inputs = outputs = {data_cfg.trajectory: [0]}
    else:
        inputs, outputs = data_cfg.input, data_cfg.output
    data = OperatorViews(dataset, inputs, outputs, data_cfg.n_train, data_cfg.n_test, data_cfg.stride)
    if data_cfg.batch_size > data_cfg.n_train:
        raise ConfigError("data.batch_size", data_cfg.batch_size, f"at most data.n_train = {data_cfg.n_train}")
    dim = len(data.spatial)
    physics = None
    key = jax.random.PRNGKey(cfg.seed + 1_000_003)
    if autoregressive:
        fields = data.channels({data_cfg.trajectory: [0]})
        if data_cfg.normalize != "none":  # per field, over every frame of the training trajectories
            frames = lambda r: data.trajectories(data_cfg.trajectory, r).reshape(-1, fields, *data.grid_shape())  # noqa: E731
            norm = Normalizer.fit(frames, data.train_rows, dtype, chunk=16)
        else:
            norm = Normalizer.identity(fields, dim, dtype)
        if obj_cfg.physics_weight > 0:
            physics = physics_for(pde, data, data_cfg.trajectory, None)
        in_size, out_size = obj_cfg.history * fields, fields
        model = _model(cfg, in_size, out_size, key, dtype, data, dim)
        try:
            objective = AutoregressiveObjective(data, norm, data_cfg.trajectory, obj_cfg.history, obj_cfg.unroll,
                                                data_cfg.batch_size, cfg.seed, pushforward=obj_cfg.pushforward,
                                                window=obj_cfg.window, loss_kind=obj_cfg.loss, physics=physics,
                                                eval_batch=cfg.evaluation.batch_size)
        except ValueError as err:
            raise ConfigError("objective.unroll", obj_cfg.unroll, str(err)) from None
        return model, objective

    in_norm = out_norm = None
    if data_cfg.normalize in ("input", "both"):
        in_norm = Normalizer.fit(lambda r: data.read(inputs, r), data.train_rows, dtype)
    if data_cfg.normalize in ("output", "both"):
        out_norm = Normalizer.fit(lambda r: data.read(outputs, r), data.train_rows, dtype)
    in_norm = in_norm or Normalizer.identity(data.in_channels, dim, dtype)
    out_norm = out_norm or Normalizer.identity(data.out_channels, dim, dtype)
    physics_frames, initial = (0, 1), False
    if obj_cfg.physics_weight > 0:
        if len(outputs) != 1:
            raise ConfigError("data.output", dict(outputs), "one trajectory array for a physics loss")
        (array, frames), = outputs.items()
        physics = physics_for(pde, data, array, frames)
        fields = data.channels({array: [0]})
        first = (frames or [0])[0] % dataset.arrays[array].shape[1]
        physics_frames = (first, fields)
        in_frames = inputs.get(array)
        initial = bool(in_frames) and in_frames[0] % dataset.arrays[array].shape[1] == first
    model = _model(cfg, data.in_channels, data.out_channels, key, dtype, data, dim)
    objective = OperatorObjective(data, in_norm, out_norm, data_cfg.batch_size, cfg.seed, loss_kind=obj_cfg.loss,
                                  physics=physics, physics_frames=physics_frames, initial=initial,
                                  eval_batch=cfg.evaluation.batch_size,
                                  superresolution=tuple(cfg.evaluation.superresolution))
    return model, objective


def _model(cfg: ExperimentConfig, in_size: int, out_size: int, key: Any, dtype: Any, data: Any, dim: int) -> Any:
    model = MODELS.build(cfg.model.name, cfg.model.args, where="model", key=key, dtype=dtype,
                         in_size=in_size, out_size=out_size)
    example = jax.ShapeDtypeStruct((in_size, *data.grid_shape()), dtype)
    try:
        out = eqx.filter_eval_shape(model, example)
    except (ValueError, TypeError) as err:
        raise ConfigError("model", cfg.model.name, f"a model accepting one sample of shape {example.shape} "
                          f"(channels, *grid): {err}") from None
    if out.shape != (out_size, *data.grid_shape()):
        raise ConfigError("model", cfg.model.name, f"a model returning ({out_size}, *grid) = "
                          f"{(out_size, *data.grid_shape())}; it returns {out.shape}")
    return model
