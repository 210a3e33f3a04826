"""Physics-informed neural networks: residual, initial, boundary and observation loss terms."""

from __future__ import annotations

import abc
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..pde import (
    PDE,
    Dirichlet,
    DirichletData,
    PDEParameters,
    Periodic,
    initial_velocity_residual,
    pointwise_residual,
)
from ..pde.autodiff import Mode
from .base import AbstractObjective, Losses, PointResidual


class AbstractPINNField(eqx.Module):
    """A PINN's solution ``u(point)`` as the :class:`PINN` objective trains it. Subclass this.

    Besides ``__call__(point) -> fields`` (one point ``[x..., t]``, shape ``(dim + 1,)``;
    values ``(n_fields,)``) it tells the objective which PDE its residual solves
    (``physics``: with trainable parameters, their current values), which time interval
    it is trained on and the initial condition at that interval's start (time marching
    trains one window after another: see ``pdejax.methods.pinn.marching``).
    """

    @abc.abstractmethod
    def __call__(self, point: Float[Array, " n"]) -> Float[Array, " fields"]:
        """The fields at one point."""

    @property
    @abc.abstractmethod
    def physics(self) -> PDE:
        """The PDE whose residual this field is trained on."""

    @property
    def time_window(self) -> tuple[float, float] | None:
        """``(t0, t1)`` of the interval being trained (``None`` for a steady PDE)."""
        return self.physics.domain.time

    def initial_values(self, x: Float[Array, " dim"]) -> Float[Array, " fields"]:
        """The initial condition at the start of :attr:`time_window`, at spatial point ``x``."""
        return self.physics.initial_values(x)

    def training_view(self) -> AbstractPINNField:
        """The field as the loss evaluates it: equal to this one at points of
        :attr:`time_window` and in :meth:`initial_values`, and free to be cheaper elsewhere
        (a time-marching field evaluates only the window being trained). The gradients
        flow to this field's arrays. Default: the field itself."""
        return self


def training_view(model):
    """``model.training_view()`` for a PINN field, any other function unchanged."""
    return model.training_view() if isinstance(model, AbstractPINNField) else model


def features(pde: PDE, z: Float[Array, " n"]) -> Float[Array, " m"]:
    """What a PINN's network sees of a point already mapped onto ``[-1, 1]``: with
    ``Periodic`` boundaries each spatial coordinate as ``(cos, sin)`` of its phase."""
    dim = pde.domain.dim
    if isinstance(pde.boundary, Periodic):
        zx = jnp.pi * z[:dim]
        return jnp.concatenate([jnp.cos(zx), jnp.sin(zx), z[dim:]])
    return z


class PINNField(AbstractPINNField):
    """The PINN's solution ``u(point)`` in physical units, built around a network.

    Coordinates are mapped onto ``[-1, 1]`` before the network sees them; with
    ``Periodic`` boundaries each spatial coordinate enters as ``(cos, sin)`` of its
    phase, so periodicity holds exactly. With ``constraint="hard"`` the output is

        u = u0(x) + τ · φ(x) · net(·),   τ = (t - t0)/(t1 - t0),

    with ``φ = ∏(1 - z_i²)`` vanishing on a Dirichlet boundary (``φ = 1`` if periodic),
    so initial and boundary conditions hold exactly and the loss is the residual only.
    A field second order in time is ``u0(x) + (t - t0) u_t0(x) + τ² φ(x) net(·)``: its
    initial velocity holds exactly too. (For Dirichlet data the initial condition must
    match the boundary value, and an initial velocity vanish there.)

    Call it on one point ``[x..., t]`` of shape ``(dim + 1,)``; it returns the fields,
    shape ``(n_fields,)``. ``jax.vmap`` batches it.

    ``parameters`` (inverse problems) are PDE parameters trained with the network: the
    residual uses :attr:`physics`, the PDE with their current values
    (:class:`~pdejax.pde.PDEParameters`).

    ``time_frequency`` (evolution PDEs) replaces the time coordinate the network sees by
    ``(cos(ω (t - t0)), sin(ω (t - t0)))``, ``ω = time_frequency`` in radians per unit of
    physical time: a solution periodic in time with period ``2π/ω`` is then periodic
    exactly (jaxpi's trainable time "period", which is this frequency). ω is trained with
    the network unless ``time_trainable`` is false (then it takes no gradient).
    """

    net: eqx.Module
    pde: PDE
    constraint: Literal["hard", "soft"] = eqx.field(static=True)
    parameters: PDEParameters | None = None
    time_frequency: Float[Array, ""] | None = None
    time_trainable: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if self.time_frequency is not None and not self.pde.evolution:
            raise ValueError(f"a time embedding needs an evolution PDE; {self.pde.name!r} is steady")

    @property
    def physics(self) -> PDE:
        return self.pde if self.parameters is None else self.parameters.apply(self.pde)

    @staticmethod
    def net_in_size(pde: PDE, time_embedding: bool = False) -> int:
        """The number of inputs the network sees (``time_embedding``: time as (cos, sin))."""
        periodic = isinstance(pde.boundary, Periodic)
        return pde.domain.dim * (2 if periodic else 1) + int(pde.evolution) * (2 if time_embedding else 1)

    def features(self, point: Float[Array, " n"]) -> Float[Array, " m"]:
        z = features(self.pde, self.pde.domain.to_unit(point))
        if self.time_frequency is None:
            return z
        omega = self.time_frequency if self.time_trainable else jax.lax.stop_gradient(self.time_frequency)
        phase = omega.astype(point.dtype) * (point[-1] - self.pde.domain.time[0])
        return jnp.concatenate([z[:-1], jnp.stack([jnp.cos(phase), jnp.sin(phase)])])

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
        base = self.physics.initial_values(point[:dim])
        if self.pde.second_order:  # u0 + (t - t0) u_t0 + τ² φ net: value and velocity hold at t0
            second = jnp.asarray([k in self.pde.second_order for k in self.pde.fields])
            idx = jnp.asarray([self.pde.fields.index(k) for k in self.pde.second_order])
            velocity = jnp.zeros_like(base).at[idx].set(self.physics.initial_velocities(point[:dim]))
            base = base + (point[dim] - self.pde.domain.time[0]) * velocity
            tau = jnp.where(second, tau**2, tau)
        return base + tau * phi * out


class PINN(AbstractObjective):
    """PINN objective: mean squared PDE residual at collocation points (+ IC/BC terms).

    Loss terms: ``residual``; with soft constraints also ``initial`` (evolution
    problems; values, and velocities of fields second order in time) and ``boundary``;
    with ``observed`` fields also ``data``, the mean squared misfit to measurements.
    Residuals are computed at single points by forward-mode autodiff from the PDE
    definition and vmapped over the points. The batch holds points:
    ``{"interior": (n, d), "initial": (n_initial, dim), "boundary": (n_boundary, d)}``
    (:class:`pdejax.sampling.CollocationSource` draws them), and for ``data``
    ``"observations": {"points": (m, d), "values": (m, len(observed))}``.

    The residual is the one of the model's PDE (:attr:`AbstractPINNField.physics`: with
    trainable parameters, their current values, so the residual trains them too); the
    scalar ones are logged as ``param/<name>``. Causal weights and the initial term use
    the model's time window (the whole interval, or a time-marching window).

    Args:
        pde: the PDE.
        constraint: ``"hard"`` (IC/BC built into :class:`PINNField`) or ``"soft"``.
        n_initial, n_boundary: points per step for the soft IC/BC terms.
        derivatives: ``"jvp"``, ``"jet"`` or ``"auto"`` (see ``pdejax.pde.autodiff``).
        causal_chunks, causal_tol: causal weighting (Wang, Sankaran & Perdikaris 2022):
            the residual loss of time chunk i is weighted by
            ``exp(-tol · Σ_{j<i} L_j)``; ``causal_chunks = 0`` turns it off (the
            smallest weight is logged as ``causal_min_weight``).
        observed: indices of the measured fields (the columns of the observations'
            values), or ``None`` for no ``data`` term.
    """

    pde: PDE
    constraint: Literal["hard", "soft"] = eqx.field(static=True)
    n_initial: int = eqx.field(static=True)
    n_boundary: int = eqx.field(static=True)
    derivatives: Mode = eqx.field(static=True)
    causal_chunks: int = eqx.field(static=True)
    causal_tol: float = eqx.field(static=True)
    observed: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(self, pde: PDE, *, constraint="hard", n_initial=0, n_boundary=0, derivatives: Mode = "auto",
                 causal_chunks=0, causal_tol=1.0, observed: tuple[int, ...] | None = None):
        self.pde, self.constraint = pde, constraint
        self.n_initial, self.n_boundary, self.derivatives = n_initial, n_boundary, derivatives
        self.causal_chunks, self.causal_tol = causal_chunks, causal_tol
        self.observed = None if observed is None else tuple(observed)

    @property
    def loss_names(self) -> tuple[str, ...]:
        names = ["residual"]
        if self.constraint == "soft":
            if self.pde.evolution and self.n_initial:
                names.append("initial")
            if self.n_boundary:
                names.append("boundary")
        if self.observed is not None:
            names.append("data")
        return tuple(names)

    def physics(self, model) -> PDE:
        """The PDE whose residual ``model`` is trained on (its own for a PINN field, with
        its trainable parameters' values; this objective's for any other function)."""
        return model.physics if isinstance(model, AbstractPINNField) else self.pde

    def time_window(self, model) -> tuple[float, float] | None:
        """The time interval ``model`` is trained on (the PDE's, or a time-marching window)."""
        return model.time_window if isinstance(model, AbstractPINNField) else self.pde.domain.time

    def initial_target(self, model, x: Float[Array, " dim"]) -> Float[Array, " fields"]:
        """The initial values at the start of ``model``'s time window, at spatial point ``x``."""
        return model.initial_values(x) if isinstance(model, AbstractPINNField) else self.pde.initial_values(x)

    def residuals(self, model: PINNField, points: Float[Array, "n d"]) -> Float[Array, "n fields"]:
        """PDE residual at each point."""
        pde = self.physics(model)
        return jax.vmap(lambda p: pointwise_residual(pde, model, p, self.derivatives))(points)

    def causal_weights(self, times: Float[Array, " n"], residual_sq: Float[Array, " n"],
                       window: tuple[float, float]) -> tuple[Float[Array, " chunks"], Float[Array, " chunks"]]:
        """``(weights, chunk_losses)`` of causal weighting: the points fall into
        ``causal_chunks`` equal chunks of ``window`` by time, ``L_i`` is the mean squared
        residual of chunk ``i`` (0 for an empty chunk) and ``w_i = exp(-tol · Σ_{j<i} L_j)``
        (no gradient flows through the weights). The residual term is ``mean_i w_i L_i``."""
        t0, t1 = window
        tau = (times - t0) / (t1 - t0)
        chunk = jnp.clip((tau * self.causal_chunks).astype(jnp.int32), 0, self.causal_chunks - 1)
        sums = jax.ops.segment_sum(residual_sq, chunk, self.causal_chunks)
        counts = jax.ops.segment_sum(jnp.ones_like(residual_sq), chunk, self.causal_chunks)
        chunk_loss = sums / jnp.maximum(counts, 1)
        w = jax.lax.stop_gradient(jnp.exp(-self.causal_tol * (jnp.cumsum(chunk_loss) - chunk_loss)))
        return w, chunk_loss

    def residual_norm(self, model: PINNField, points: Float[Array, "n d"]) -> Float[Array, " n"]:
        """``|residual|`` over the fields at each point (what adaptive samplers score)."""
        model = training_view(model)
        return jnp.sqrt(jnp.sum(self.residuals(model, points) ** 2, axis=-1))

    def loss(self, model: PINNField, batch, key) -> tuple[Losses, dict[str, Array]]:
        model = training_view(model)  # the batch's points lie in the model's time window
        res = jnp.sum(self.residuals(model, batch["interior"]) ** 2, axis=-1)
        if "interior_weight" in batch:  # a sampler's point weights w: (w r)² (causal R3's gate)
            res = res * batch["interior_weight"] ** 2
        aux: dict[str, Array] = {}
        if isinstance(model, PINNField) and model.parameters is not None:
            aux.update({f"param/{k}": jax.lax.stop_gradient(v) for k, v in model.parameters.scalars().items()})
        if self.causal_chunks and self.pde.evolution:
            w, chunk_loss = self.causal_weights(batch["interior"][:, -1], res, self.time_window(model))
            losses = {"residual": jnp.mean(w * chunk_loss)}
            aux["causal_min_weight"] = jnp.min(w)
        else:
            losses = {"residual": jnp.mean(res)}
        dim = self.pde.domain.dim
        if "initial" in batch:
            x = batch["initial"]
            t0 = jnp.full((x.shape[0], 1), self.time_window(model)[0], x.dtype)
            pred = jax.vmap(model)(jnp.concatenate([x, t0], axis=1))
            target = jax.vmap(lambda p: self.initial_target(model, p))(x)
            evolving = jnp.asarray([k in self.pde.evolving for k in self.pde.fields])
            losses["initial"] = jnp.mean(jnp.sum(jnp.where(evolving, pred - target, 0) ** 2, axis=-1))
            if self.pde.second_order:  # and the initial velocity, by one forward-mode derivative in t
                velocity = jax.vmap(lambda p: initial_velocity_residual(self.pde, model, p))(x)
                losses["initial"] = losses["initial"] + jnp.mean(jnp.sum(velocity**2, axis=-1))
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
                mismatch = jax.vmap(lambda u, p: _boundary_mismatch(self.physics(model), u, p))(pred, pts)
                losses["boundary"] = jnp.mean(jnp.sum(mismatch**2, axis=-1))
        if self.observed is not None:
            obs = batch["observations"]
            pred = jax.vmap(model)(obs["points"])[:, jnp.asarray(self.observed)]
            losses["data"] = jnp.mean(jnp.sum((pred - obs["values"]) ** 2, axis=-1))
        return losses, aux

    def point_residuals(self, batch, key) -> dict[str, PointResidual]:
        """Each term as residuals at single points (``term = mean_i |r_i|²``; the causal
        weights of the residual term are left out): what NTK weighting differentiates."""
        pde, dim = self.pde, self.pde.domain.dim

        def residual(model, point):
            p, weight = point
            model = training_view(model)
            return weight * pointwise_residual(self.physics(model), model, p, self.derivatives)

        interior = batch["interior"]
        weights = batch.get("interior_weight", jnp.ones(interior.shape[:1], interior.dtype))
        out = {"residual": PointResidual(residual, (interior, weights))}
        if "initial" in batch:
            evolving = jnp.asarray([k in pde.evolving for k in pde.fields])

            def initial(model, x):
                model = training_view(model)
                point = jnp.concatenate([x, jnp.full((1,), self.time_window(model)[0], x.dtype)])
                r = jnp.where(evolving, model(point) - self.initial_target(model, x), 0)
                return jnp.concatenate([r, initial_velocity_residual(pde, model, x)]) if pde.second_order else r

            out["initial"] = PointResidual(initial, batch["initial"])
        if "boundary" in batch:
            def boundary(model, p):
                model = training_view(model)
                if isinstance(pde.boundary, Periodic):
                    lower = jnp.asarray(pde.domain.lower, p.dtype)
                    shift = jnp.where(jnp.isclose(p[:dim], lower), jnp.asarray(pde.domain.lengths, p.dtype), 0)
                    return model(p) - model(p.at[:dim].add(shift))
                return _boundary_mismatch(self.physics(model), model(p), p)

            out["boundary"] = PointResidual(boundary, batch["boundary"])
        if self.observed is not None:
            obs = batch["observations"]
            out["data"] = PointResidual(lambda model, o: model(o[0])[jnp.asarray(self.observed)] - o[1],
                                        (obs["points"], obs["values"]))
        return out


def _boundary_mismatch(pde: PDE, predicted: Float[Array, " fields"],
                       point: Float[Array, " n"]) -> Float[Array, " fields"]:
    """Predicted minus prescribed values at one point of a non-periodic boundary (0 for the
    fields a :class:`~pdejax.pde.DirichletData` condition leaves free)."""
    if isinstance(pde.boundary, DirichletData):
        return pde.boundary.mismatch(pde.fields, predicted, point, pde.params)
    return predicted - pde.boundary.value
