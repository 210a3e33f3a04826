"""Inverse problems: trainable PDE parameters from the config, observations in the batch."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...config.errors import ConfigError
from ...config.registry import suggest
from ...config.schema import ExperimentConfig
from ...models import MODELS
from ...pde import PDE, FieldParameter, PDEParameters, Periodic, ScalarParameter
from ...training import AbstractDeviceSource
from ..family import Context

FIELD_SEED_OFFSET = 0x1F1E1D  # a coefficient field's network key: independent of the model's


def build_parameters(cfg: ExperimentConfig, pde: PDE, ctx: Context) -> PDEParameters | None:
    """``pde.trainable`` → the :class:`~pdejax.pde.PDEParameters` a PINN trains (``None``
    without any), checked against the PDE: each name a parameter of it, a ``field`` for
    (and only for) a parameter that is a function of space, a start in the transform's range.

    Raises:
        ConfigError: naming ``pde.trainable.<name>`` (or its key) and what is valid.
    """
    spec = cfg.pde.trainable if cfg.pde is not None else {}
    if not spec:
        return None
    entries = {}
    periodic = isinstance(pde.boundary, Periodic)
    for i, (name, entry) in enumerate(spec.items()):
        where = f"pde.trainable.{name}"
        if name not in pde.params:
            valid = suggest(name, sorted(pde.params)) if pde.params else "it has none"
            raise ConfigError(where, entry.model_dump(exclude_defaults=True),
                              f"a parameter of PDE {pde.name!r}: {valid}")
        current = pde.params[name]
        if callable(current):
            if entry.field is None:
                raise ConfigError(f"{where}.field", None, f"a network for {name!r}, a coefficient field of "
                                  f"{pde.name!r} (a function of {', '.join(pde.domain.coords)}), e.g. "
                                  "{name: mlp, width: 16, depth: 2}")
            if entry.init is None:
                raise ConfigError(f"{where}.init", None, f"the initial value of the field {name!r} (a number)")
            key = jax.random.fold_in(jax.random.PRNGKey(ctx.seed + FIELD_SEED_OFFSET), i)
            in_size = FieldParameter.field_in_size(pde.domain.dim, periodic)
            net = MODELS.build(entry.field.name, entry.field.args, where=f"{where}.field", key=key,
                               dtype=jnp.dtype(ctx.dtype), in_size=in_size, out_size=1)
            entries[name] = FieldParameter(net, pde.domain.lower, pde.domain.upper, entry.init, entry.transform,
                                           periodic=periodic, dtype=ctx.dtype)
            continue
        if entry.field is not None:
            raise ConfigError(f"{where}.field", entry.field.model_dump(), f"no field: {name!r} of {pde.name!r} is "
                              "a number, not a function of space")
        try:
            init = float(current) if entry.init is None else entry.init
        except (TypeError, ValueError):
            raise ConfigError(where, current, f"a number or a coefficient field ({name!r} of {pde.name!r} is "
                              f"{type(current).__name__})") from None
        try:
            entries[name] = ScalarParameter(init, entry.transform, dtype=ctx.dtype)
        except ValueError:
            raise ConfigError(f"{where}.init", init, f"a positive start with transform: {entry.transform} "
                              "(or transform: identity)") from None
    return PDEParameters(entries)


def initial_values(cfg: ExperimentConfig) -> dict[str, float | None]:
    """``{name: init}`` of ``pde.trainable`` (``None``: the PDE's own value), for reports."""
    return {k: e.init for k, e in (cfg.pde.trainable if cfg.pde is not None else {}).items()}


class ObservedSource(AbstractDeviceSource):
    """A PINN's batch source plus observations: ``batch["observations"]`` holds
    ``{"points": (m, d), "values": (m, len(observed))}``, all of them at every step or,
    with ``batch_size``, that many drawn at random (with replacement) from the step's key.

    Args:
        inner: the collocation source (its batches and state are passed through).
        points, values: the observations, in the run's dtype.
        batch_size: observations per step (``None``: all).
    """

    inner: AbstractDeviceSource
    points: Float[Array, "m d"]
    values: Float[Array, "m fields"]
    batch_size: int | None = eqx.field(static=True, default=None)

    def init(self, key, dtype) -> Any:
        return self.inner.init(key, dtype)

    def draw(self, model, state, key, step):
        batch, state = self.inner.draw(model, state, key, step)
        points, values = self.points, self.values
        if self.batch_size is not None:
            # fold_in, not split: the collocation points stay those of the same run without observations.
            idx = jax.random.randint(jax.random.fold_in(key, 0x0B5), (self.batch_size,), 0, points.shape[0])
            points, values = points[idx], values[idx]
        return {**batch, "observations": {"points": points, "values": values}}, state
