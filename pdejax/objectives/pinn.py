"""Physics-informed neural networks: residual, initial and boundary loss terms."""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..pde import PDE, Dirichlet, Periodic, pointwise_residual
from ..pde.autodiff import Mode
from ..sampling import AbstractSampler, uniform_in_box
from .base import AbstractObjective, Losses


class PINNField(eqx.Module):
    """The PINN's solution ``u(point)`` in physical units, built around a network.

    Coordinates are mapped onto ``[-1, 1]`` before the network sees them; with
    ``Periodic`` boundaries each spatial coordinate enters as ``(cos, sin)`` of its
    phase, so periodicity holds exactly. With ``constraint="hard"`` the output is

        u = u0(x) + τ · φ(x) · net(·),   τ = (t - t0)/(t1 - t0),

    with ``φ = ∏(1 - z_i²)`` vanishing on a Dirichlet boundary (``φ = 1`` if periodic),
    so initial and boundary conditions hold exactly and the loss is the residual only.
    (For Dirichlet data the initial condition must match the boundary value.)

    Call it on one point ``[x..., t]`` of shape ``(dim + 1,)``; it returns the fields,
    shape ``(n_fields,)``. ``jax.vmap`` batches it.
    """

    net: eqx.Module
    pde: PDE
    constraint: Literal["hard", "soft"] = eqx.field(static=True)

    @staticmethod
    def net_in_size(pde: PDE) -> int:
        periodic = isinstance(pde.boundary, Periodic)
        return pde.domain.dim * (2 if periodic else 1) + int(pde.evolution)

    def features(self, point: Float[Array, " n"]) -> Float[Array, " m"]:
        z = self.pde.domain.to_unit(point)
        dim = self.pde.domain.dim
        if isinstance(self.pde.boundary, Periodic):
            zx = jnp.pi * z[:dim]
            return jnp.concatenate([jnp.cos(zx), jnp.sin(zx), z[dim:]])
        return z

    def __call__(self, point: Float[Array, " n"]) -> Float[Array, " fields"]:
        out = self.net(self.features(point))
        if self.constraint == "soft":
            return out
        dim = self.pde.domain.dim
        z = self.pde.domain.to_unit(point)
        if isinstance(self.pde.boundary, Dirichlet):
            phi = jnp.prod(1 - z[:dim] ** 2)
        else:
            phi = jnp.ones((), point.dtype)
        if not self.pde.evolution:
            base = jnp.full_like(out, self.pde.boundary.value) if isinstance(self.pde.boundary, Dirichlet) else 0
            return base + phi * out
        tau = (z[dim] + 1) / 2
        # Constraint fields (no time derivative, no initial condition) are not pinned at t0.
        tau = jnp.where(jnp.asarray([k in self.pde.constraints for k in self.pde.fields]), 1.0, tau)
        return self.pde.initial_values(point[:dim]) + tau * phi * out


class PINN(AbstractObjective):
    """PINN objective: mean squared PDE residual at collocation points (+ IC/BC terms).

    Loss terms: ``residual``; with soft constraints also ``initial`` (evolution problems)
    and ``boundary``. Residuals are computed at single points by forward-mode autodiff
    from the PDE definition and vmapped over the points.

    Args:
        pde: the PDE.
        sampler: interior collocation sampler over the space-time box.
        constraint: ``"hard"`` (IC/BC built into :class:`PINNField`) or ``"soft"``.
        n_initial, n_boundary: points per step for the soft IC/BC terms.
        derivatives: ``"jvp"``, ``"jet"`` or ``"auto"`` (see ``pdejax.pde.autodiff``).
        causal_chunks, causal_tol: causal weighting (Wang, Sankaran & Perdikaris 2022):
            the residual loss of time chunk i is weighted by
            ``exp(-tol · Σ_{j<i} L_j)``; ``causal_chunks = 0`` turns it off.
        eval_points, eval_values: reference solution on an evaluation grid,
            shapes ``(N, dim + 1)`` and ``(N, n_fields)``, or ``None``.
    """

    pde: PDE
    sampler: AbstractSampler
    constraint: Literal["hard", "soft"] = eqx.field(static=True)
    n_initial: int = eqx.field(static=True)
    n_boundary: int = eqx.field(static=True)
    derivatives: Mode = eqx.field(static=True)
    causal_chunks: int = eqx.field(static=True)
    causal_tol: float = eqx.field(static=True)
    eval_points: Array | None
    eval_values: Array | None

    def __init__(self, pde: PDE, sampler: AbstractSampler, *, constraint="hard", n_initial=0,
                 n_boundary=0, derivatives: Mode = "auto", causal_chunks=0, causal_tol=1.0,
                 eval_points=None, eval_values=None):
        self.pde, self.sampler, self.constraint = pde, sampler, constraint
        self.n_initial, self.n_boundary, self.derivatives = n_initial, n_boundary, derivatives
        self.causal_chunks, self.causal_tol = causal_chunks, causal_tol
        self.eval_points, self.eval_values = eval_points, eval_values

    @property
    def loss_names(self) -> tuple[str, ...]:
        names = ["residual"]
        if self.constraint == "soft":
            if self.pde.evolution and self.n_initial:
                names.append("initial")
            if self.n_boundary:
                names.append("boundary")
        return tuple(names)

    def residuals(self, model: PINNField, points: Float[Array, "n d"]) -> Float[Array, "n fields"]:
        """PDE residual at each point."""
        return jax.vmap(lambda p: pointwise_residual(self.pde, model, p, self.derivatives))(points)

    def init_batch_state(self, key, dtype):
        return self.sampler.init(key, dtype)

    def batch(self, model, state, key, step):
        k_int, k_ini, k_bnd = jax.random.split(key, 3)
        dtype = jnp.zeros(()).dtype
        score = lambda pts: jnp.sqrt(jnp.sum(self.residuals(model, pts) ** 2, axis=-1))
        interior, state = self.sampler.sample(state, k_int, step, score, dtype)
        batch = {"interior": interior}
        if "initial" in self.loss_names:
            dom = self.pde.domain
            batch["initial"] = uniform_in_box(k_ini, self.n_initial, jnp.asarray(dom.lower, dtype),
                                              jnp.asarray(dom.upper, dtype))
        if "boundary" in self.loss_names:
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

    def loss(self, model: PINNField, batch, key) -> tuple[Losses, dict[str, Array]]:
        res = jnp.sum(self.residuals(model, batch["interior"]) ** 2, axis=-1)
        aux: dict[str, Array] = {}
        if self.causal_chunks and self.pde.evolution:
            t0, t1 = self.pde.domain.time
            tau = (batch["interior"][:, -1] - t0) / (t1 - t0)
            chunk = jnp.clip((tau * self.causal_chunks).astype(jnp.int32), 0, self.causal_chunks - 1)
            sums = jax.ops.segment_sum(res, chunk, self.causal_chunks)
            counts = jax.ops.segment_sum(jnp.ones_like(res), chunk, self.causal_chunks)
            chunk_loss = sums / jnp.maximum(counts, 1)
            w = jax.lax.stop_gradient(jnp.exp(-self.causal_tol * (jnp.cumsum(chunk_loss) - chunk_loss)))
            losses = {"residual": jnp.mean(w * chunk_loss)}
            aux["causal_min_weight"] = jnp.min(w)
        else:
            losses = {"residual": jnp.mean(res)}
        dim = self.pde.domain.dim
        if "initial" in batch:
            x = batch["initial"]
            t0 = jnp.full((x.shape[0], 1), self.pde.domain.time[0], x.dtype)
            pred = jax.vmap(model)(jnp.concatenate([x, t0], axis=1))
            target = jax.vmap(self.pde.initial_values)(x)
            evolving = jnp.asarray([k in self.pde.evolving for k in self.pde.fields])
            losses["initial"] = jnp.mean(jnp.sum(jnp.where(evolving, pred - target, 0) ** 2, axis=-1))
        if "boundary" in batch:
            pts = batch["boundary"]
            pred = jax.vmap(model)(pts)
            if isinstance(self.pde.boundary, Periodic):
                # Compare with the same point shifted by one period along every axis hit.
                shift = jnp.where(jnp.isclose(pts[:, :dim], jnp.asarray(self.pde.domain.lower, pts.dtype)),
                                  jnp.asarray(self.pde.domain.lengths, pts.dtype), 0)
                other = jax.vmap(model)(pts.at[:, :dim].add(shift))
                losses["boundary"] = jnp.mean(jnp.sum((pred - other) ** 2, axis=-1))
            else:
                losses["boundary"] = jnp.mean(jnp.sum((pred - self.pde.boundary.value) ** 2, axis=-1))
        return losses, aux

    def evaluate(self, model: PINNField) -> dict[str, Array]:
        if self.eval_points is None:
            return {}
        pred = jax.vmap(model)(self.eval_points)
        err = pred - self.eval_values
        return {
            "rel_l2": jnp.linalg.norm(err) / jnp.linalg.norm(self.eval_values),
            "max_abs_error": jnp.max(jnp.abs(err)),
        }


def evaluation_grid(pde: PDE, spec: dict[str, tuple[float, float, int]]):
    """Tensor grid of points from ``{coord: (min, max, n)}`` in the PDE's coordinate order.

    Returns ``(points, shape)``: points of shape ``(prod(n), d)`` ordered with ``'ij'``
    indexing so that values reshape to ``shape``.
    """
    names = pde.domain.point_names
    missing = [n for n in names if n not in spec]
    if missing:
        raise ValueError(f"evaluation grid needs every coordinate {names}; missing {missing}")
    axes = [np.linspace(*spec[n][:2], int(spec[n][2])) for n in names]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1), tuple(len(a) for a in axes)
