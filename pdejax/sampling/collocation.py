"""The PINN's batch source: collocation points in the interior, at t0 and on the boundary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..config.errors import ConfigError
from ..pde import PDE, Periodic
from ..training.sources import AbstractDeviceSource
from .samplers import AbstractSampler, uniform_in_box

ScoreFn = Callable[[Any, Float[Array, "n d"]], Float[Array, " n"]]  # (model, points) -> residual size


class CollocationSource(AbstractDeviceSource):
    """Collocation points for a PINN, drawn on the device at every step.

    A batch is ``{"interior": (n, dim + 1)}`` from ``sampler`` (uniform, quasi-random, or
    adaptive: RAD, R3 and RAR score points by ``score(model, points)``, e.g. the
    objective's ``residual_norm``), plus ``"initial": (n_initial, dim)`` spatial points at
    t0 and ``"boundary": (n_boundary, dim + 1)`` points on the spatial boundary (for
    periodic problems on the lower faces) when those counts are positive. A sampler that
    weighs its points (causal R3's gate) adds ``"interior_weight": (n,)``: the residual
    at point ``i`` enters the loss as ``w_i · r_i``.

    >>> import jax
    >>> from pdejax.pde import PDES
    >>> from pdejax.sampling import Uniform
    >>> pde = PDES.build("burgers", {}, where="pde")
    >>> source = CollocationSource(pde, Uniform(pde.domain.point_lower, pde.domain.point_upper, 64),
    ...                            n_boundary=8)
    >>> batch, _ = source.draw(None, source.init(jax.random.key(0), "float32"), jax.random.key(1), 0)
    >>> {k: v.shape for k, v in batch.items()}
    {'interior': (64, 2), 'boundary': (8, 2)}
    """

    pde: PDE
    sampler: AbstractSampler
    n_initial: int = eqx.field(static=True, default=0)
    n_boundary: int = eqx.field(static=True, default=0)
    score: ScoreFn | None = None

    def __check_init__(self):
        if self.sampler.time_dependent and not self.pde.evolution:
            raise ConfigError("objective.sampler.name", self.sampler.config_name or type(self.sampler).__name__,
                              f"a sampler for a stationary PDE ({self.pde.name} has no time coordinate)")

    def init(self, key, dtype):
        return self.sampler.init(key, dtype)

    def draw(self, model, state, key, step):
        k_int, k_ini, k_bnd = jax.random.split(key, 3)
        dtype = jnp.zeros(()).dtype
        score = (lambda pts: self.score(model, pts)) if self.score is not None else None
        interior, state = self.sampler.sample(state, k_int, step, score, dtype)
        batch = {"interior": interior}
        weight = self.sampler.point_weights(state)
        if weight is not None:
            batch["interior_weight"] = weight
        dom = self.pde.domain
        if self.n_initial and self.pde.evolution:
            batch["initial"] = uniform_in_box(k_ini, self.n_initial, jnp.asarray(dom.lower, dtype),
                                              jnp.asarray(dom.upper, dtype))
        if self.n_boundary:
            batch["boundary"] = self._boundary_points(k_bnd, dtype)
        return batch, state

    def _boundary_points(self, key, dtype) -> Float[Array, "n d"]:
        """Points on the spatial boundary; for periodic problems, on the lower faces."""
        dom = self.pde.domain
        lo, hi = jnp.asarray(dom.point_lower, dtype), jnp.asarray(dom.point_upper, dtype)
        k_pts, k_face, k_side = jax.random.split(key, 3)
        pts = uniform_in_box(k_pts, self.n_boundary, lo, hi)
        face = jax.random.randint(k_face, (self.n_boundary,), 0, dom.dim)
        upper = jax.random.bernoulli(k_side, 0.5, (self.n_boundary,))
        if isinstance(self.pde.boundary, Periodic):
            upper = jnp.zeros_like(upper)
        side = jnp.where(upper, hi[face], lo[face])
        return pts.at[jnp.arange(self.n_boundary), face].set(side)
