"""Reaction–diffusion systems of the library, in one, two or three dimensions."""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp

from ...config.errors import ConfigError
from ..base import PDE
from ..conditions import Periodic
from ..domain import Box
from .registry import PDES


@PDES.register("gray_scott")
def gray_scott(dim: int = 2, length: float = 2.5, diffusivity_u: float = 2e-5, diffusivity_v: float = 1e-5,
               feed: float = 0.04, kill: float = 0.06, width: float = 0.1, t_final: float = 1000.0,
               reaction: Literal["explicit", "exponential"] = "explicit") -> PDE:
    """Gray–Scott reaction–diffusion on the periodic cube ``[0, L)^dim`` (Pearson 1993):

        u_t = Du Δu + F (1 - u) - u v²,   v_t = Dv Δv - (F + k) v + u v².

    The defaults are Pearson's (``L = 2.5``, ``Du = 2e-5``, ``Dv = 1e-5``) and exponax's
    ``GrayScott`` (``F = 0.04``, ``k = 0.06``). The diffusion is ETDRK4's exponential
    part; the non-stiff reactions ``-F u`` and ``-(F + k) v`` are explicit (``exponential=``:
    20-30x smaller errors at a given step than with them in the exponential part, measured
    by ``scripts/bench/spectral.py``), evaluated in Fourier space, and the feed ``F`` is a
    constant ``forcing`` (transformed once); ``reaction="exponential"`` puts the linear
    reactions in the exponential part instead; ``u v²`` is cubic, so a spectral solver
    should dealias it with ``dealias="1/2"``. The initial condition is the trivial state
    ``u = 1, v = 0`` perturbed by a Gaussian of width ``width`` at the centre
    (``u = 1 - g/2, v = g/4``), smooth so that spectral solutions converge.
    """
    if reaction not in ("explicit", "exponential"):
        raise ConfigError("reaction", reaction, '"explicit" or "exponential"')
    if dim not in (1, 2, 3):
        raise ConfigError("dim", dim, "1, 2 or 3")
    if diffusivity_u <= 0 or diffusivity_v <= 0:
        bad = "diffusivity_u" if diffusivity_u <= 0 else "diffusivity_v"
        raise ConfigError(bad, diffusivity_u if bad == "diffusivity_u" else diffusivity_v, "a positive number")
    if length <= 0 or width <= 0:
        raise ConfigError("length" if length <= 0 else "width", length if length <= 0 else width, "a positive number")
    coords = "xyz"[:dim]
    laplacian_u, laplacian_v = ([f"{f}_{c}{c}" for c in coords] for f in "uv")

    def initial(x, p):
        g = jnp.exp(-jnp.sum((x - length / 2) ** 2) / (2 * width**2))
        return {"u": 1 - g / 2, "v": g / 4}

    return PDE(
        name="gray_scott", fields=("u", "v"), domain=Box(t=(0.0, t_final), **{c: (0.0, length) for c in coords}),
        params={"Du": diffusivity_u, "Dv": diffusivity_v, "F": feed, "k": kill},
        linear={"u": {**{d: "Du" for d in laplacian_u}, "u": "-F"},
                "v": {**{d: "Dv" for d in laplacian_v}, "v": "-(F + k)"}},
        nonlinear=lambda f, p: {"u": -f.u * f.v**2, "v": f.u * f.v**2},
        forcing=lambda f, p: {"u": p["F"]},
        exponential={"u": laplacian_u, "v": laplacian_v} if reaction == "explicit" else None,
        initial=initial,
        boundary=Periodic(),
    )
