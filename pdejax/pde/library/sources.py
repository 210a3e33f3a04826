"""Equations whose data are fields: the inputs of a neural operator (a source ``s(x)``)."""

from __future__ import annotations

from typing import Literal

from ...config.errors import ConfigError
from ..base import PDE
from ..conditions import Dirichlet, Periodic
from ..domain import Box
from .registry import PDES


@PDES.register("poisson_source")
def poisson_source(dim: int = 2, length: float = 1.0,
                   boundary: Literal["periodic", "dirichlet"] = "periodic") -> PDE:
    """Poisson ``-Δu = s`` on ``[0, L)^dim`` (periodic) or ``[0, L]^dim`` (``u = 0`` on the
    boundary) with a source field ``s``: the parameter ``source``.

    ``source`` defaults to 0 (Laplace's equation); an operator that maps sources to
    solutions (the Neural Spectral Method's Poisson problem, ``pdejax.data`` generator
    ``poisson_source``) sets it per sample to the source's values on the grid where the
    terms are evaluated. Periodic: a solution exists for a zero-mean source and is unique
    up to a constant (the generator's reference has zero mean).

    Example:
        >>> pde = poisson_source()
        >>> pde.linear, pde.params
        ({'u': {'u_xx': 1.0, 'u_yy': 1.0}}, {'source': 0.0})
    """
    if dim not in (1, 2, 3):
        raise ConfigError("dim", dim, "1, 2 or 3")
    if not length > 0:
        raise ConfigError("length", length, "a positive length")
    if boundary not in ("periodic", "dirichlet"):
        raise ConfigError("boundary", boundary, '"periodic" or "dirichlet"')
    coords = "xyz"[:dim]
    return PDE(
        name="poisson_source", fields=("u",), domain=Box(**{c: (0.0, float(length)) for c in coords}),
        params={"source": 0.0},
        linear={"u": {f"u_{c}{c}": 1.0 for c in coords}},
        forcing=lambda f, p: {"u": p["source"]},
        boundary=Periodic() if boundary == "periodic" else Dirichlet(0.0),
    )
