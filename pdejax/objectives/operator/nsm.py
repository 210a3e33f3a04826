"""Operators trained from the PDE alone: Neural Spectral Methods and the grid (PINO) residual.

Both objectives take batches of operator *inputs* only, ``{"x": (B, c_in, *grid)}`` on the
dataset's grid (uniform and periodic, or the Chebyshev–Lobatto nodes of a Dirichlet
problem) — an initial condition and/or PDE parameter fields such
as a source — and never a solution. The leading ``initial`` channels are the initial
condition of an evolution problem, the others replace the PDE parameters named in
``params`` (:class:`~pdejax.objectives.operator.nsm_inputs.OperatorInputs`).

:class:`SpectralObjective` (Du et al. 2024): the model runs on the collocation nodes of a
:class:`~pdejax.spectral.TensorBasis` (Chebyshev–Lobatto in time and on the axes of a
Dirichlet problem, equispaced on periodic axes) and its values are read as coefficients
(:class:`SpectralOperator`). Constraints are built into the basis: the initial condition by
``u = u₀ + (t - t₀) v`` (an exact product in coefficient space), a constant Dirichlet value
by ``u = g + ∏(1 - x̂_i²) v`` (:class:`~pdejax.objectives.operator.boundary_lift.DirichletLift`),
the undetermined mean of a periodic steady problem set to zero.
The loss is the exact mean square of the residual function from
:class:`~pdejax.objectives.operator.spectral_residual.SpectralResidual`.

:class:`GridObjective`: the same model and constraints on a grid, the residual on that
grid — FFT derivatives on a uniform periodic one, Chebyshev collocation matrices on
Chebyshev–Lobatto nodes (:func:`~pdejax.pde.grid_rhs` on either), in time the trapezoidal
PINO residual of :class:`~pdejax.objectives.operator.PhysicsResidual` — and the loss its
mean square there (over the interior nodes of a Dirichlet problem, whose boundary nodes
carry the built-in condition, as in a collocation method).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ...models.batching import apply_batch
from ...pde import PDE, Periodic
from ...pde.fields import parse_name
from ...pde.grid import grid_rhs
from ...pde.spectral_terms import symbol
from ...spectral import ChebyshevGrid, FourierGrid, TensorBasis
from ..base import AbstractObjective, Losses
from .boundary_lift import DirichletLift
from .nsm_inputs import OperatorInputs as OperatorInputs  # re-exported: pdejax.objectives.operator
from .nsm_inputs import chebyshev_inputs as chebyshev_inputs
from .nsm_inputs import fourier_inputs as fourier_inputs
from .physics import PhysicsResidual
from .spectral_residual import SpectralResidual

Points = tuple[tuple[float, ...], ...]  # 1D coordinates per axis (static, hashable)


class SpectralObjective(AbstractObjective):
    """Neural Spectral Method loss: the PDE residual of the model's coefficients, no data.

    Args:
        residual: the coefficient-space residual; its ``basis`` is the solution's basis.
        net: the model's collocation basis (the solution basis before the constraints:
            one Chebyshev coefficient fewer in time when the initial condition is imposed,
            two fewer along each axis of ``boundary``).
        inputs: the input channels (:class:`OperatorInputs`).
        output_scale: the model's output is multiplied by it (the paper scales by 1e-3).
        zero_mean: set the mean to zero (a periodic steady problem whose ``L`` kills constants).
        points: the coordinates the physical operator returns (time frames first for an
            evolution problem): the data grid, for evaluation.
        boundary: a constant Dirichlet value built into a steady problem's basis
            (:class:`DirichletLift`; ``None``: none).
    """

    residual: SpectralResidual
    net: TensorBasis = eqx.field(static=True)
    inputs: OperatorInputs
    output_scale: float = eqx.field(static=True, default=1.0)
    zero_mean: bool = eqx.field(static=True, default=False)
    points: Points = eqx.field(static=True, default=())
    boundary: DirichletLift | None = None

    def __check_init__(self):
        if self.boundary is not None:
            if self.inputs.initial or self.zero_mean:
                raise ValueError("a Dirichlet lift is for a steady problem without a zero-mean constraint")
            if self.boundary.basis(self.net) != self.residual.basis:
                raise ValueError(f"the lifted basis {self.boundary.basis(self.net).sizes} is not the residual's "
                                 f"{self.residual.basis.sizes}")

    @property
    def loss_names(self) -> tuple[str, ...]:
        return ("physics",)

    @property
    def grid_axes(self) -> int:
        return len(self.inputs.grid)

    @property
    def basis(self) -> TensorBasis:
        return self.residual.basis

    def model_inputs(self, x: Float[Array, "c_in *grid"]) -> tuple[Array, Array]:
        """``(coefficients of the inputs, the model's input on its collocation nodes)``."""
        coefs = self.inputs.coefficients(x)
        space = self.inputs.space
        nodes = [self.net.coordinates()[self.net.axis(c)] for c in space.coords]
        v = space.evaluate(coefs, nodes)
        if "t" in self.net.coords:
            v = jnp.broadcast_to(v[:, None], (v.shape[0], self.net.sizes[0], *v.shape[1:]))
        return coefs, v

    def coefficients(self, output: Float[Array, "fields *nodes"], coefs_in: Array) -> Array:
        """The solution's coefficients from the model's output at the nodes (constraints applied)."""
        c = self.net.to_coefficients(output * self.output_scale)
        if self.zero_mean:
            c = c.at[(slice(None),) + (0,) * len(self.net.sizes)].set(0)
        if self.inputs.initial:
            t = self.net.series[0]
            grown = self.net.resized({"t": t.size + 1})
            c = (t.upper - t.lower) / 2 * (self.net.times_unit(c, "t") + self.net.embed(c, grown))
            space = TensorBasis(grown.coords[1:], grown.series[1:])
            u0 = self.inputs.space.embed(coefs_in[:self.inputs.initial], space)
            c = c.at[:, 0].add(u0)
        if self.boundary is not None:
            c = self.boundary.coefficients(self.net, c)
        return c

    def solutions(self, model: Any, x: Float[Array, "batch c_in *grid"]) -> tuple[Array, Array]:
        """``(solution coefficients (B, fields, *sizes), input coefficients (B, c_in, *modes))``."""
        coefs_in, v = jax.vmap(self.model_inputs)(x)
        out = apply_batch(model, v)
        return jax.vmap(self.coefficients)(out, coefs_in), coefs_in

    def loss(self, model: Any, batch: Any, key: Any) -> tuple[Losses, dict[str, Array]]:
        coefs, coefs_in = self.solutions(model, batch["x"])
        per_sample = jax.vmap(lambda c, ci: self.residual(c, self.inputs.named(ci)))(coefs, coefs_in)
        return {"physics": jnp.mean(per_sample)}, {}

    def physical(self, model: Any) -> SpectralOperator:
        """The trained operator: inputs on the data grid → solution values at ``points``."""
        return SpectralOperator(model, self)


class SpectralOperator(eqx.Module):
    """A Neural Spectral Method's operator: ``(c_in, *grid) -> (frames · fields, *grid)`` (or
    ``(fields, *grid)`` for a steady problem) at the objective's ``points``; :meth:`coefficients`
    gives the solution as coefficients, to evaluate anywhere (:meth:`TensorBasis.evaluate`)."""

    model: Any
    objective: SpectralObjective

    def coefficients(self, x: Float[Array, "batch c_in *grid"]) -> Float[Array, "batch fields *sizes"]:
        """The solution's coefficients in ``objective.basis``."""
        return self.objective.solutions(self.model, x)[0]

    def batch(self, x: Float[Array, "batch c_in *grid"]) -> Float[Array, "batch c_out *grid"]:
        obj = self.objective
        values = jax.vmap(lambda c: obj.basis.evaluate(c, obj.points))(self.coefficients(x))
        if "t" in obj.basis.coords:  # (B, F, T, *space) -> (B, T * F, *space), frames outer
            values = jnp.moveaxis(values, 2, 1)
            values = values.reshape(values.shape[0], -1, *values.shape[3:])
        return values

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        return self.batch(x[None])[0]


class GridObjective(AbstractObjective):
    """The PINO-style loss of the same operator: the PDE residual on a grid, no data.

    Args:
        pde: the definition (periodic: a uniform grid, FFT derivatives; a steady Dirichlet problem:
            Chebyshev–Lobatto nodes, collocation derivatives, the interior nodes' residual).
        inputs: the input channels (:class:`OperatorInputs`).
        grid: the training grid's 1D coordinates: uniform frames ``t_0 .. t_1`` (both ends)
            first for an evolution problem, then the periodic (or Chebyshev–Lobatto) spatial nodes.
        points: the data grid's coordinates in the same layout, where the physical operator
            is evaluated (the model runs there directly).
        output_scale, zero_mean: as for :class:`SpectralObjective` (the mean over the grid).
        boundary: as for :class:`SpectralObjective`, applied pointwise: ``u = g + b(x) v``.
    """

    pde: PDE
    inputs: OperatorInputs
    grid: Points = eqx.field(static=True)
    points: Points = eqx.field(static=True)
    output_scale: float = eqx.field(static=True, default=1.0)
    zero_mean: bool = eqx.field(static=True, default=False)
    boundary: DirichletLift | None = None

    @property
    def loss_names(self) -> tuple[str, ...]:
        return ("physics",)

    @property
    def grid_axes(self) -> int:
        return len(self.inputs.grid)

    def values(self, model: Any, x: Float[Array, "batch c_in *grid"], points: Points) -> tuple[Array, Array]:
        """``(solution values (B, fields, *points), input coefficients)``."""
        evolution = self.pde.evolution
        space = points[1:] if evolution else points

        def prepare(xi):
            coefs = self.inputs.coefficients(xi)
            v = self.inputs.space.evaluate(coefs, space)
            if evolution:
                v = jnp.broadcast_to(v[:, None], (v.shape[0], len(points[0]), *v.shape[1:]))
            return coefs, v

        coefs, v = jax.vmap(prepare)(x)
        u = apply_batch(model, v) * self.output_scale
        axes = tuple(range(u.ndim - len(space), u.ndim))
        if self.zero_mean:
            u = u - jnp.mean(u, axis=axes, keepdims=True)
        if self.inputs.initial:
            t0, t1 = self.pde.domain.time
            t = jnp.asarray(np.asarray(points[0]) - t0, u.dtype).reshape(1, 1, -1, *(1,) * len(space))
            u0 = jax.vmap(lambda c: self.inputs.space.evaluate(c[:self.inputs.initial], space))(coefs)
            u = u0[:, :, None] + t * u
        if self.boundary is not None:
            u = self.boundary.values(u, space)
        return u, coefs

    def _grid(self, sizes: Sequence[int]) -> FourierGrid | ChebyshevGrid:
        dom = self.pde.domain
        if isinstance(self.pde.boundary, Periodic):
            return FourierGrid(dom.coords, dom.lower, dom.lengths, tuple(sizes))
        return ChebyshevGrid(dom.coords, dom.lower, dom.upper, tuple(sizes))

    def loss(self, model: Any, batch: Any, key: Any) -> tuple[Losses, dict[str, Array]]:
        u, coefs = self.values(model, batch["x"], self.grid)
        space = self.grid[1:] if self.pde.evolution else self.grid
        grid = self._grid([len(p) for p in space])

        def one(ui, ci):
            pde = self.pde
            named = self.inputs.named(ci)
            if named:
                values = {k: self.inputs.space.evaluate(v, space) for k, v in named.items()}
                pde = eqx.tree_at(lambda p: p.params, pde, {**pde.params, **values})
            if not pde.evolution:
                r = grid_rhs(pde, grid, ui)
                if isinstance(grid, ChebyshevGrid):  # boundary nodes: the built-in condition
                    r = r[(slice(None),) + (slice(1, -1),) * len(space)]
                return jnp.mean(r**2)
            times = np.asarray(self.grid[0])
            residual = PhysicsResidual(pde, float(times[1] - times[0]), 1.0)
            frames = jax.vmap(lambda v: complete_on_grid(pde, grid, v))(jnp.moveaxis(ui, 1, 0))
            rows = [pde.fields.index(f) for f in pde.evolving]  # a constraint's row is no time derivative
            return jnp.mean(residual.residual(frames, float(times[0]))[:, rows] ** 2)

        return {"physics": jnp.mean(jax.vmap(one)(u, coefs))}, {}

    def physical(self, model: Any) -> GridOperator:
        """The trained operator evaluated on the data grid (``points``)."""
        return GridOperator(model, self)


class GridOperator(eqx.Module):
    """A grid-trained operator: ``(c_in, *grid) -> (frames · fields, *grid)`` (or ``(fields, *grid)``)
    on the objective's ``points``; the model runs on that grid."""

    model: Any
    objective: GridObjective

    def batch(self, x: Float[Array, "batch c_in *grid"]) -> Float[Array, "batch c_out *grid"]:
        u, _ = self.objective.values(self.model, x, self.objective.points)
        if self.objective.pde.evolution:
            u = jnp.moveaxis(u, 2, 1)
            u = u.reshape(u.shape[0], -1, *u.shape[3:])
        return u

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        return self.batch(x[None])[0]


def complete_on_grid(pde: PDE, grid: FourierGrid, u: Float[Array, "evolving *sizes"]) -> Float[Array, "fields *sizes"]:
    """All fields on a periodic grid from the evolving ones: each constraint field solved from its
    linear equation by its Fourier symbol (modes where it vanishes, such as a mean, are 0)."""
    if not pde.constraints:
        return u
    hats = {f: jnp.fft.rfftn(u[i], axes=grid.axes) for i, f in enumerate(pde.evolving)}
    out = {f: u[i] for i, f in enumerate(pde.evolving)}
    for field in pde.constraints:
        own, rhs = {}, 0
        for deriv, coef in pde.linear.get(field, {}).items():
            source = parse_name(deriv, pde.fields, pde.domain.coords)[0]
            if source == field:
                own[deriv] = coef
            else:
                rhs = rhs + jnp.asarray(symbol(pde, grid, {deriv: coef})) * hats[source]
        diag = symbol(pde, grid, own)
        inverse = np.where(diag != 0, -1.0 / np.where(diag != 0, diag, 1.0), 0.0)
        out[field] = jnp.fft.irfftn(rhs * jnp.asarray(inverse), s=grid.sizes, axes=grid.axes).astype(u.dtype)
    return jnp.stack([out[f] for f in pde.fields])
