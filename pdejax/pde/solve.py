"""Pseudo-spectral time stepping of a PDE definition on a periodic grid (ETDRK4)."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from ..spectral import ETDRK4, FourierGrid
from .base import PDE
from .fields import parse_name
from .grid import grid_fields


def linear_symbol(pde: PDE, grid: FourierGrid, dtype=jnp.float64) -> Array:
    """Fourier symbol of the diagonal linear terms (a field's derivatives in its own
    equation), shape ``(n_fields, *rfft shape)``; real when every term is even order."""
    ks = grid.wavenumbers(dtype)
    shape = jnp.broadcast_shapes(*(k.shape for k in ks))
    out = []
    for field in pde.fields:
        sym = jnp.zeros(shape, jnp.complex128 if dtype == jnp.float64 else jnp.complex64)
        for deriv, coef in pde.linear.get(field, {}).items():
            name, orders = parse_name(deriv, pde.fields, pde.domain.coords)
            if name != field:
                continue
            term = jnp.ones(shape, sym.dtype)
            for c, o in orders:
                term = term * (1j * ks[grid.coords.index(c)]) ** o
            sym = sym + pde.coefficient(coef) * term
        out.append(sym)
    sym = jnp.stack(out)
    return jnp.real(sym) if bool(jnp.all(jnp.imag(sym) == 0)) else sym


def etdrk4_stepper(pde: PDE, grid: FourierGrid, dt: float, *, dealias: bool = True,
                   dtype=jnp.float64) -> ETDRK4:
    """ETDRK4 step in Fourier space for ``pde`` on ``grid``: ``L`` from the definition's
    diagonal linear terms, everything else (nonlinear and cross-field linear terms)
    evaluated pseudo-spectrally, with the 2/3 rule when ``dealias``."""
    axes = grid.axes
    mask = grid.dealias_mask() if dealias else True
    cross = {f: {d: c for d, c in t.items() if parse_name(d, pde.fields, pde.domain.coords)[0] != f}
             for f, t in pde.linear.items()}
    coordinates = dict(zip(grid.coords, grid.mesh(dtype)))

    def explicit(v_hat):
        f = grid_fields(pde, grid, jnp.fft.irfftn(v_hat, s=grid.sizes, axes=axes), coordinates)
        terms = pde.nonlinear_terms(f)
        for field, t in cross.items():
            for deriv, coef in t.items():
                terms[field] = terms.get(field, 0) + pde.coefficient(coef) * f[deriv]
        n = jnp.stack([jnp.broadcast_to(terms.get(k, jnp.zeros(())), grid.sizes) for k in pde.fields])
        return jnp.fft.rfftn(n.astype(dtype), axes=axes) * mask

    return ETDRK4(linear_symbol(pde, grid, dtype), explicit, dt)


def to_fourier(grid: FourierGrid, u: Float[Array, "fields *sizes"]) -> Array:
    return jnp.fft.rfftn(u, axes=grid.axes)


def from_fourier(grid: FourierGrid, v_hat: Array) -> Float[Array, "fields *sizes"]:
    return jnp.fft.irfftn(v_hat, s=grid.sizes, axes=grid.axes)
