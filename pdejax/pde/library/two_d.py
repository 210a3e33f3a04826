"""Multi-dimensional problems of the library: 2D Navier–Stokes, Darcy flow, Poisson."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from ...config.errors import ConfigError
from ..base import PDE
from ..conditions import Dirichlet, Periodic
from ..domain import Box
from .registry import PDES


@PDES.register("navier_stokes_2d")
def navier_stokes_2d(nu: float = 1e-3, forcing: Literal["none", "kolmogorov", "fno"] = "kolmogorov",
                     length: float | None = None, drag: float = 0.0, wavenumber: int = 4,
                     amplitude: float = 1.0, t_final: float = 10.0) -> PDE:
    """Incompressible 2D Navier–Stokes in vorticity form on the periodic square ``[0, L)²``:

        w_t + u·∇w = nu Δw - drag·w + f,   Δψ = -w,   u = (ψ_y, -ψ_x).

    Fields ``w`` (vorticity) and ``psi`` (stream function, a constraint field: the
    spectral solver inverts the Laplacian, a PINN learns it as a second output).

    Forcing ``f``:
        - ``"none"``: decaying turbulence; with the default initial condition (the
          Taylor–Green vortex ``w = 2κ² sin κx sin κy``, ``κ = 2π/L``) the exact solution
          decays as ``exp(-(2 nu κ² + drag) t)``.
        - ``"kolmogorov"``: ``-A·kκ·cos(kκ y)``, the curl of the body force
          ``A sin(kκ y) e_x`` (jax-cfd's Kolmogorov flow: ``L = 2π, k = 4, drag = 0.1``).
        - ``"fno"``: ``0.1 (sin 2π(x + y) + cos 2π(x + y))`` on the unit torus (Li et al. 2021).

    ``length`` defaults to 1 for ``"fno"`` and ``2π`` otherwise.
    """
    if nu <= 0:
        raise ConfigError("nu", nu, "a positive viscosity")
    if forcing not in ("none", "kolmogorov", "fno"):
        raise ConfigError("forcing", forcing, '"none", "kolmogorov" or "fno"')
    length = (1.0 if forcing == "fno" else 2 * math.pi) if length is None else length
    kappa = 2 * math.pi / length

    def source(f):
        if forcing == "kolmogorov":
            return -amplitude * wavenumber * kappa * jnp.cos(wavenumber * kappa * f.y)
        return 0.1 * (jnp.sin(2 * jnp.pi * (f.x + f.y)) + jnp.cos(2 * jnp.pi * (f.x + f.y)))

    def exact(points, params):
        if forcing != "none":
            raise ValueError("navier_stokes_2d has an exact solution only without forcing (Taylor–Green)")
        x, y, t = points[:, 0], points[:, 1], points[:, 2]
        decay = np.exp(-(2 * params["nu"] * kappa**2 + params["drag"]) * t)
        psi = np.sin(kappa * x) * np.sin(kappa * y) * decay
        return np.stack([2 * kappa**2 * psi, psi], axis=-1)

    return PDE(
        name="navier_stokes_2d", fields=("w", "psi"), constraints=("psi",),
        domain=Box(x=(0.0, length), y=(0.0, length), t=(0.0, t_final)),
        params={"nu": nu, "drag": drag},
        linear={"w": {"w_xx": "nu", "w_yy": "nu", "w": "-drag"},
                "psi": {"psi_xx": 1.0, "psi_yy": 1.0, "w": 1.0}},
        nonlinear=lambda f, p: {"w": -(f.psi_y * f.w_x - f.psi_x * f.w_y)},
        forcing=None if forcing == "none" else (lambda f, p: {"w": source(f)}),
        initial=lambda x, p: {"w": 2 * kappa**2 * jnp.sin(kappa * x[0]) * jnp.sin(kappa * x[1])},
        boundary=Periodic(),
        exact=exact if forcing == "none" else None,
    )


def darcy_pde(coefficient: Callable, source: float = 1.0, name: str = "darcy") -> PDE:
    """Steady Darcy flow ``-∇·(a ∇u) = source`` on the unit square, ``u = 0`` on the boundary,
    for a smooth coefficient ``a(x, y)`` given as a JAX function of two scalars.

    Written as ``0 = a Δu + a_x u_x + a_y u_y + source``, with ``∇a`` by autodiff of
    ``coefficient``, so that a PINN and the consistency check can evaluate it. Data with
    rough (thresholded) coefficients are solved on grids by
    :func:`pdejax.spectral.elliptic.solve_darcy` instead.
    """
    grad_a = jnp.vectorize(jax.grad(coefficient, argnums=(0, 1)))

    def terms(f, p):
        a = coefficient(f.x, f.y)
        a_x, a_y = grad_a(f.x, f.y)
        return {"u": a * (f.u_xx + f.u_yy) + a_x * f.u_x + a_y * f.u_y + p["source"]}

    return PDE(name=name, fields=("u",), domain=Box(x=(0.0, 1.0), y=(0.0, 1.0)), params={"source": source},
               nonlinear=terms, boundary=Dirichlet(0.0))


@PDES.register("darcy")
def darcy(source: float = 1.0, coefficient: Literal["smooth", "constant"] = "smooth") -> PDE:
    """Darcy flow with the smooth coefficient ``a = 1 + 0.5 sin(2πx) sin(2πy)`` (or ``a = 1``).
    See :func:`darcy_pde`; the FNO data set's thresholded coefficients are in
    ``configs/data/darcy.yaml``."""
    if coefficient == "constant":
        return darcy_pde(lambda x, y: jnp.ones_like(x), source)
    return darcy_pde(lambda x, y: 1 + 0.5 * jnp.sin(2 * jnp.pi * x) * jnp.sin(2 * jnp.pi * y), source)


@PDES.register("poisson")
def poisson(dim: int = 2) -> PDE:
    """Poisson ``-Δu = f`` on ``[0, 1]^dim`` with ``u = 0`` on the boundary and the
    manufactured solution ``u = ∏ sin(π x_i)`` (``f = dim π² u``)."""
    if dim not in (1, 2, 3):
        raise ConfigError("dim", dim, "1, 2 or 3")
    coords = "xyz"[:dim]

    def sines(f, xp):
        return math.prod(xp.sin(xp.pi * f[c]) for c in coords)

    def exact(points, params):
        return sines({c: points[:, i] for i, c in enumerate(coords)}, np)[:, None]

    return PDE(
        name="poisson", fields=("u",), domain=Box(**{c: (0.0, 1.0) for c in coords}),
        linear={"u": {f"u_{c}{c}": 1.0 for c in coords}},
        nonlinear=lambda f, p: {"u": dim * jnp.pi**2 * sines({c: f[c] for c in coords}, jnp)},
        boundary=Dirichlet(0.0),
        exact=exact,
    )
