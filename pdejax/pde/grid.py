"""The PDE's right-hand side on a periodic grid, derivatives by FFT.

The same :class:`~pdejax.pde.PDE` object that gives a PINN its pointwise residual
gives here ``L u + N(u)`` on a whole :class:`~pdejax.spectral.FourierGrid`.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ..spectral import FourierGrid
from .base import PDE
from .conditions import Periodic
from .fields import Fields
from .second_order import first_order_system


def require_periodic(pde: PDE, what: str) -> None:
    """Raise a ValueError unless ``pde`` has a :class:`Periodic` boundary: ``what`` (a
    Fourier-grid path) would silently solve a non-periodic problem as a periodic one."""
    if not isinstance(pde.boundary, Periodic):
        raise ValueError(
            f"PDE {pde.name!r} has boundary {pde.boundary!r}, but {what} is periodic-only (Fourier grid) and "
            "would solve it as periodic. Use the method of lines on a Chebyshev grid "
            "(pdejax.pde.solve_mol with pdejax.spectral.ChebyshevGrid) for evolution problems, or "
            "pdejax.pde.solve_steady_linear for steady ones; or give the PDE boundary=Periodic() if it is periodic")


def box_grid(pde: PDE, size: int | tuple[int, ...]) -> FourierGrid:
    """The uniform grid of ``grid_for`` whatever the boundary (for definition checks only)."""
    dom = pde.domain
    sizes = (size,) * dom.dim if isinstance(size, int) else tuple(size)
    return FourierGrid(dom.coords, dom.lower, dom.lengths, sizes)


def grid_for(pde: PDE, size: int | tuple[int, ...]) -> FourierGrid:
    """A periodic grid spanning the PDE's spatial box with ``size`` points per axis.

    Raises a ValueError for a PDE whose boundary is not :class:`Periodic`.
    """
    require_periodic(pde, "grid_for")
    return box_grid(pde, size)


def grid_fields(pde: PDE, grid: FourierGrid, u: Float[Array, "fields *sizes"],
                coordinates: dict[str, Array]) -> Fields:
    """A :class:`Fields` view of ``u`` on ``grid``: derivatives by exact spectral differentiation.

    On a :class:`FourierGrid` the fields are transformed once (on first use) and each
    derivative costs one inverse transform; other grids differentiate per request.
    """
    index = {f: i for i, f in enumerate(pde.fields)}
    spectra: list = []

    def lookup(key):
        field, orders = key
        if not orders or all(o == 0 for _, o in orders):
            return u[index[field]]
        if not isinstance(grid, FourierGrid):
            return grid.derivative(u[index[field]], dict(orders))
        if not spectra:
            spectra.append(jnp.fft.rfftn(u, axes=grid.axes))
        factor = grid.derivative_factor(dict(orders), u.real.dtype)
        return jnp.fft.irfftn(spectra[0][index[field]] * factor, s=grid.sizes, axes=grid.axes).astype(u.dtype)

    return Fields(pde.fields, pde.domain.coords, lookup, coordinates)


def grid_divergence(pde: PDE, grid, f: Fields) -> dict[str, Array]:
    """``∇·flux`` per field on ``grid``: each flux component differentiated on the grid
    (exact FFT derivatives on a FourierGrid, differentiation matrices on a ChebyshevGrid)."""
    out: dict[str, Array] = {}
    for field, components in pde.flux_terms(f).items():
        for c, flux in components.items():
            d = grid.derivative(jnp.broadcast_to(flux, grid.sizes), {c: 1})
            out[field] = d if field not in out else out[field] + d
    return out


def grid_rhs(pde: PDE, grid: FourierGrid, u: Float[Array, "fields *sizes"],
             t: float | None = None) -> Float[Array, "fields *sizes"]:
    """``L u + N(u)`` for fields ``u`` on ``grid`` (shape ``(n_fields, *grid.sizes)``; with
    ``second_order`` fields, those of :func:`~pdejax.pde.first_order_system`).

    Derivatives are exact spectral derivatives (flux terms: the derivative of the flux on
    the grid); nonlinear terms are evaluated pointwise
    on the grid (no dealiasing here: the caller chooses, e.g. the 2/3 rule in a stepper).
    On a :class:`FourierGrid` the PDE must be periodic (ValueError otherwise); other grids
    (a Chebyshev grid) are not periodic and take any boundary.
    """
    if isinstance(grid, FourierGrid):
        require_periodic(pde, "grid_rhs on a FourierGrid")
    return unchecked_grid_rhs(pde, grid, u, t)


def unchecked_grid_rhs(pde: PDE, grid: FourierGrid, u: Float[Array, "fields *sizes"],
                       t: float | None = None) -> Float[Array, "fields *sizes"]:
    """:func:`grid_rhs` without the periodicity check (the consistency check's comparison
    of two evaluations of a definition holds on any smooth periodic field)."""
    pde = first_order_system(pde)  # second-order fields: u holds (u, u_t), rows u_t and u_tt
    if grid.coords != pde.domain.coords:
        raise ValueError(f"grid coordinates {grid.coords} differ from the PDE's {pde.domain.coords}")
    coordinates = dict(zip(grid.coords, grid.mesh(u.dtype)))
    if pde.evolution:
        coordinates["t"] = jnp.asarray(pde.domain.time[0] if t is None else t, u.dtype)
    fields = grid_fields(pde, grid, u, coordinates)
    rhs = pde.rhs(fields, grid_divergence(pde, grid, fields))
    return jnp.stack([jnp.broadcast_to(rhs[k], grid.sizes).astype(u.dtype) for k in pde.fields])
