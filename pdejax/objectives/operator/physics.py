"""PINO-style physics residual of predicted frames, spatial derivatives by FFT."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...pde import PDE
from ...pde.grid import grid_rhs
from ...spectral import FourierGrid


class PhysicsResidual(eqx.Module):
    """PINO-style PDE residual of a sequence of frames, spatial derivatives by FFT.

    For frames ``u_k`` at times ``t_k = t_0 + k dt`` the residual of the PDE
    ``u_t = F(u)`` (``F`` from the PDE definition, :func:`~pdejax.pde.grid.grid_rhs`) is
    taken with the trapezoidal rule in time, second order in ``dt``:

        r_k = (u_{k+1} - u_k) / dt - (F(u_k) + F(u_{k+1})) / 2,

    and the loss is ``mean(r²) / scale`` with ``scale`` the mean square of the data's
    ``(u_{k+1} - u_k) / dt`` (a constant, so a trivial prediction cannot shrink it).
    Periodic PDEs only; the grid is the dataset's, checked against the PDE's domain.
    """

    pde: PDE = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def grid(self, shape: Sequence[int]) -> FourierGrid:
        dom = self.pde.domain
        return FourierGrid(dom.coords, dom.lower, dom.lengths, tuple(shape))

    def residual(self, frames: Float[Array, "k fields *grid"], t0: Array | float = 0.0) -> Array:
        """``r`` of shape ``(k - 1, fields, *grid)``."""
        grid = self.grid(frames.shape[2:])
        times = t0 + self.dt * jnp.arange(frames.shape[0])
        rhs = jax.vmap(lambda u, t: grid_rhs(self.pde, grid, u, t))(frames, times)
        return (frames[1:] - frames[:-1]) / self.dt - 0.5 * (rhs[1:] + rhs[:-1])

    def __call__(self, frames: Float[Array, "k fields *grid"], t0: Array | float = 0.0) -> Array:
        r = self.residual(frames, t0)
        return jnp.mean(r**2) / self.scale
