"""One-dimensional evolution equations of the library."""

from __future__ import annotations

import math
from typing import Literal

import jax.numpy as jnp
import numpy as np

from ...config.errors import ConfigError
from ..base import PDE
from ..conditions import Dirichlet, Periodic
from ..domain import Box
from ..exact import burgers_sine
from .registry import PDES

Form = Literal["conservative", "advective"]


def _convection(form: Form, scale: float = 1.0) -> dict:
    """``-scale·u u_x`` as a PDE's terms: the flux ``-scale·u²/2`` (``"conservative"``, one
    inverse and one forward FFT per spectral stage) or ``-scale·u·u_x`` (``"advective"``,
    two inverse FFTs and one forward). Equal for every solver up to discretisation; equal
    to round-off for band-limited states under 2/3 dealiasing."""
    if form == "conservative":
        return {"flux": lambda f, p: {"u": {"x": -scale * f.u**2 / 2}}}
    if form == "advective":
        return {"nonlinear": lambda f, p: {"u": -scale * f.u * f.u_x}}
    raise ConfigError("form", form, '"conservative" (flux u²/2) or "advective" (u u_x)')


@PDES.register("burgers")
def burgers(nu: float = 0.01 / math.pi, x_min: float = -1.0, x_max: float = 1.0,
            t_final: float = 1.0, periodic: bool = False, form: Form | None = None) -> PDE:
    """Viscous Burgers u_t + u u_x = nu u_xx, u(x,0) = -sin(pi x), u(±1,t) = 0 (Raissi et al.).

    ``form``: the convection as the flux ``-(u²/2)_x`` (``"conservative"``, the default
    when ``periodic``: 8 FFTs per ETDRK4 step instead of 12) or ``-u u_x``
    (``"advective"``, the default with Dirichlet walls: Chebyshev collocation of ``u u_x``
    is the more accurate there, 1e-7 against 2e-7 on the Cole–Hopf test); see
    :func:`_convection`.

    With ``periodic=True`` the boundary is periodic (the FNO data set: ``nu = 0.1`` on
    ``[0, 1)``, random initial conditions from :mod:`pdejax.spectral.random`). The
    definition's initial condition is ``-sin(2 pi (x - x_c) / (x_max - x_min))`` with ``x_c``
    the centre, which
    is ``-sin(pi x)`` on the default ``[-1, 1]``; its Cole–Hopf solution is the reference.
    """
    if nu <= 0:
        raise ConfigError("nu", nu, "a positive viscosity")
    length = x_max - x_min
    if length <= 0:
        raise ConfigError("x_max", x_max, f"a value above x_min = {x_min}")
    k, centre = 2 * math.pi / length, 0.5 * (x_min + x_max)

    def exact(points, params):
        # u(x, t) = w((x - centre)/a, t/a) with a = L/2, where w solves Burgers with
        # viscosity nu/a from -sin(pi y): the Cole–Hopf reference on the standard period.
        a = length / 2
        return burgers_sine((points[:, 0] - centre) / a, points[:, 1] / a, params["nu"] / a)[:, None]

    return PDE(
        name="burgers", fields=("u",), domain=Box(x=(x_min, x_max), t=(0.0, t_final)),
        params={"nu": nu},
        linear={"u": {"u_xx": "nu"}},
        **_convection(form or ("conservative" if periodic else "advective")),
        initial=lambda x, p: {"u": -jnp.sin(k * (x[0] - centre))},
        boundary=Periodic() if periodic else Dirichlet(0.0),
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


@PDES.register("kdv")
def kdv(alpha: float = 6.0, beta: float = 1.0, speed: float = 4.0, length: float = 40.0,
        t_final: float | None = None) -> PDE:
    """Korteweg–de Vries u_t + alpha u u_x + beta u_xxx = 0 on the periodic ``[-L/2, L/2)``.

    The initial condition is one soliton of speed ``c = speed``,
    ``u = (3c/alpha) sech²(√(c/beta)/2 · x)``; the exact solution translates it (wrapped
    around the period, exact up to the soliton's tail at ``±L/2``, ``~e^{-√(c/beta) L/2}``).
    ``t_final`` defaults to one period ``L/c``. (jaxpi's KdV benchmark is
    ``alpha = 1, beta = 0.022², u0 = cos(pi x)`` on ``[-1, 1]``: pass a config with
    those values and your own initial condition through a registered variant.)
    """
    if beta <= 0 or speed <= 0:
        raise ConfigError("beta" if beta <= 0 else "speed", beta if beta <= 0 else speed, "a positive number")
    t_final = length / speed if t_final is None else t_final
    width = 0.5 * math.sqrt(speed / beta)

    def soliton(x, xp):
        return 3 * speed / alpha / xp.cosh(width * x) ** 2

    def exact(points, params):
        x = np.mod(points[:, 0] - speed * points[:, 1] + length / 2, length) - length / 2
        return soliton(x, np)[:, None]

    return PDE(
        name="kdv", fields=("u",), domain=Box(x=(-length / 2, length / 2), t=(0.0, t_final)),
        params={"alpha": alpha, "beta": beta},
        linear={"u": {"u_xxx": "-beta"}},
        nonlinear=lambda f, p: {"u": -p["alpha"] * f.u * f.u_x},
        initial=lambda x, p: {"u": soliton(x[0], jnp)},
        boundary=Periodic(),
        exact=exact,
    )


@PDES.register("kuramoto_sivashinsky")
def kuramoto_sivashinsky(length: float = 32 * math.pi, t_final: float = 150.0, form: Form = "conservative") -> PDE:
    """Kuramoto–Sivashinsky u_t + u u_x + u_xx + u_xxxx = 0 on the periodic ``[0, L)``.

    The initial condition is Kassam & Trefethen's ``cos(x/16)(1 + sin(x/16))`` rescaled
    to the period (exactly theirs for the default ``L = 32 pi``). Chaotic for large ``L``.
    The convection is the flux ``-u²/2`` (``form="advective"``: ``-u u_x``).
    """
    k = 32 * math.pi / length / 16
    return PDE(
        name="kuramoto_sivashinsky", fields=("u",), domain=Box(x=(0.0, length), t=(0.0, t_final)),
        linear={"u": {"u_xx": -1.0, "u_xxxx": -1.0}},
        **_convection(form),
        initial=lambda x, p: {"u": jnp.cos(k * x[0]) * (1 + jnp.sin(k * x[0]))},
        boundary=Periodic(),
    )


@PDES.register("allen_cahn")
def allen_cahn(epsilon: float = 1e-4, rate: float = 5.0, t_final: float = 1.0) -> PDE:
    """Allen–Cahn u_t = epsilon u_xx + rate (u - u³) on the periodic ``[-1, 1)``,
    u0 = x² cos(pi x): the PINN benchmark of jaxpi / Wang et al. (epsilon 1e-4, rate 5)."""
    if epsilon <= 0:
        raise ConfigError("epsilon", epsilon, "a positive diffusion coefficient")
    return PDE(
        name="allen_cahn", fields=("u",), domain=Box(x=(-1.0, 1.0), t=(0.0, t_final)),
        params={"epsilon": epsilon, "rate": rate},
        linear={"u": {"u_xx": "epsilon", "u": "rate"}},
        nonlinear=lambda f, p: {"u": -p["rate"] * f.u**3},
        initial=lambda x, p: {"u": x[0] ** 2 * jnp.cos(jnp.pi * x[0])},
        boundary=Periodic(),
    )


@PDES.register("fisher_kpp")
def fisher_kpp(diffusion: float = 0.01, rate: float = 1.0, length: float = 10.0, t_final: float = 10.0,
               width: float = 0.5) -> PDE:
    """Fisher–KPP u_t = D u_xx + r u (1 - u) on the periodic ``[0, L)``, u0 a Gaussian
    bump ``exp(-((x - L/2)/width)²)``: two fronts invade the unstable state 0 at the
    speed ``2 √(D r)``."""
    if diffusion <= 0:
        raise ConfigError("diffusion", diffusion, "a positive diffusion coefficient")
    return PDE(
        name="fisher_kpp", fields=("u",), domain=Box(x=(0.0, length), t=(0.0, t_final)),
        params={"diffusion": diffusion, "rate": rate},
        linear={"u": {"u_xx": "diffusion", "u": "rate"}},
        nonlinear=lambda f, p: {"u": -p["rate"] * f.u**2},
        initial=lambda x, p: {"u": jnp.exp(-(((x[0] - length / 2) / width) ** 2))},
        boundary=Periodic(),
    )


@PDES.register("klein_gordon")
def klein_gordon(c: float = 1.0, m: float = 1.0, g: float = 0.0, length: float = 2 * math.pi, mode: int = 1,
                 t_final: float = 1.0) -> PDE:
    """Klein–Gordon u_tt = c² u_xx - m² u - g u³ (second order in time), periodic, plane-wave start.

    ``u0 = cos(k x)``, ``u_t0 = ω sin(k x)`` with ``k = 2π mode / length`` and
    ``ω² = c² k² + m²``: for ``g = 0`` the solution is the travelling wave
    ``cos(k x - ω t)`` (the exact reference); ``g > 0`` is the cubic (φ⁴) equation.
    """
    if c <= 0:
        raise ConfigError("c", c, "a positive wave speed")
    k = 2 * math.pi * mode / length
    omega = math.sqrt(c**2 * k**2 + m**2)

    def exact(points, params):
        return np.cos(k * points[:, :1] - omega * points[:, 1:])

    return PDE(
        name="klein_gordon", fields=("u",), domain=Box(x=(0.0, length), t=(0.0, t_final)),
        params={"c": c, "m": m, "g": g}, second_order=("u",),
        linear={"u": {"u_xx": "c**2", "u": "-m**2"}},
        nonlinear=(lambda f, p: {"u": -p["g"] * f.u**3}) if g else None,
        initial=lambda x, p: {"u": jnp.cos(k * x[0]), "u_t": omega * jnp.sin(k * x[0])},
        boundary=Periodic(),
        exact=exact if g == 0 else None,
    )
