"""Equations with coefficient fields: the parameter is a function of space (inverse problems)."""

from __future__ import annotations

import math

import jax.numpy as jnp

from ...config.errors import ConfigError
from ..base import PDE
from ..conditions import Periodic
from ..domain import Box
from .registry import PDES


@PDES.register("heat_coefficient")
def heat_coefficient(a_mean: float = 0.5, a_amplitude: float = 0.25, mode: int = 1, length: float = 2 * math.pi,
                     t_final: float = 1.0) -> PDE:
    """Heat equation with a diffusivity field, u_t = ∂x(a(x) u_x), on the periodic ``[0, L)``.

    ``a(x) = a_mean + a_amplitude · sin(2π mode x / L)`` is the parameter ``a`` (a
    function of ``x``: train it as a field, ``pde.trainable.a.field``), from
    ``u0 = sin(kx) + ½ cos(2kx)``, ``k = 2π / L``. The equation is written as
    ``a_mean · u_xx`` (a linear term: the stiff part, integrated exactly by ETDRK4) plus
    the flux ``(a(x) - a_mean) u_x``, which is ``∂x(a u_x)`` for any ``a``. No closed
    form: the spectral solver is the reference.
    """
    if not a_mean > abs(a_amplitude):
        raise ConfigError("a_mean", a_mean, f"a value above |a_amplitude| = {abs(a_amplitude)} (a(x) > 0)")
    if length <= 0:
        raise ConfigError("length", length, "a positive length")
    k = 2 * math.pi / length

    def a(x):
        return a_mean + a_amplitude * jnp.sin(mode * k * x)

    return PDE(
        name="heat_coefficient", fields=("u",), domain=Box(x=(0.0, length), t=(0.0, t_final)),
        params={"a": a, "a_mean": a_mean},
        linear={"u": {"u_xx": "a_mean"}},
        flux=lambda f, p: {"u": {"x": (p["a"](f.x) - p["a_mean"]) * f.u_x}},
        initial=lambda x, p: {"u": jnp.sin(k * x[0]) + 0.5 * jnp.cos(2 * k * x[0])},
        boundary=Periodic(),
    )
