"""The library of standard PDEs, registered by name for configs (``pde.name``).

Each entry is a function of the PDE's physical parameters returning a :class:`PDE`.
Add your own with ``@PDES.register("name")``; nothing in the solvers or the PINN code
needs to change.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from ..config.errors import ConfigError
from ..config.registry import Registry
from .base import PDE
from .conditions import Dirichlet, Periodic
from .domain import Box
from .exact import burgers_sine

PDES = Registry("pde")


@PDES.register("burgers")
def burgers(nu: float = 0.01 / math.pi, x_min: float = -1.0, x_max: float = 1.0,
            t_final: float = 1.0) -> PDE:
    """Viscous Burgers u_t + u u_x = nu u_xx, u(x,0) = -sin(pi x), u(±1,t) = 0 (Raissi et al.)."""
    if nu <= 0:
        raise ConfigError("nu", nu, "a positive viscosity")

    def exact(points, params):
        if (x_min, x_max) != (-1.0, 1.0):
            raise ValueError("the Cole–Hopf reference is for the domain [-1, 1]")
        return burgers_sine(points[:, 0], points[:, 1], params["nu"])[:, None]

    return PDE(
        name="burgers", fields=("u",), domain=Box(x=(x_min, x_max), t=(0.0, t_final)),
        params={"nu": nu},
        linear={"u": {"u_xx": "nu"}},
        nonlinear=lambda f, p: {"u": -f.u * f.u_x},
        initial=lambda x, p: {"u": -jnp.sin(jnp.pi * x[0])},
        boundary=Dirichlet(0.0),
        exact=exact,
    )


@PDES.register("heat")
def heat(kappa: float = 0.1, length: float = 1.0, t_final: float = 1.0, mode: int = 1) -> PDE:
    """Heat equation u_t = kappa u_xx on a periodic interval, u0 = sin(2 pi mode x / L)."""
    k = 2 * math.pi * mode / length

    def exact(points, params):
        x, t = points[:, 0], points[:, 1]
        return (np.exp(-params["kappa"] * k**2 * t) * np.sin(k * x))[:, None]

    return PDE(
        name="heat", fields=("u",), domain=Box(x=(0.0, length), t=(0.0, t_final)),
        params={"kappa": kappa},
        linear={"u": {"u_xx": "kappa"}},
        initial=lambda x, p: {"u": jnp.sin(k * x[0])},
        boundary=Periodic(),
        exact=exact,
    )


@PDES.register("advection")
def advection(velocity: float = 1.0, length: float = 1.0, t_final: float = 1.0) -> PDE:
    """Linear advection u_t + c u_x = 0 on a periodic interval, u0 = sin(2 pi x / L)."""
    k = 2 * math.pi / length

    def exact(points, params):
        x, t = points[:, 0], points[:, 1]
        return np.sin(k * (x - params["velocity"] * t))[:, None]

    return PDE(
        name="advection", fields=("u",), domain=Box(x=(0.0, length), t=(0.0, t_final)),
        params={"velocity": velocity},
        linear={"u": {"u_x": "-velocity"}},
        initial=lambda x, p: {"u": jnp.sin(k * x[0])},
        boundary=Periodic(),
        exact=exact,
    )
