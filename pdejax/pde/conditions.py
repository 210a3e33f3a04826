"""Boundary conditions on the spatial boundary of a :class:`~pdejax.pde.Box`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax.numpy as jnp


class AbstractBoundary(eqx.Module):
    """Base class for boundary conditions. Subclass this."""


class Dirichlet(AbstractBoundary):
    """Fields equal ``value`` (a constant, for every field) on the whole spatial boundary."""

    value: float = eqx.field(static=True, default=0.0)


class Periodic(AbstractBoundary):
    """Fields (and their derivatives) are periodic along every spatial coordinate."""


class DirichletData(AbstractBoundary):
    """Some fields given on the spatial boundary by a function of the point.

    ``values(point, params) -> {field: value}`` at one boundary point ``[x..., t]`` (shape
    ``(dim + 1,)``, or ``(dim,)`` for a steady problem); fields it leaves out are free on
    the boundary (the pressure of a cavity flow). A PINN fits it with soft constraints
    (the ``boundary`` loss term); hard constraints, the spectral solvers and the method of
    lines do not take it.

    Example (a lid moving at unit speed on the top of the unit square, walls at rest):
        >>> import jax.numpy as jnp
        >>> lid = DirichletData(lambda p, params: {"u": jnp.where(p[1] == 1.0, 1.0, 0.0), "v": 0.0})
        >>> lid.mismatch(("u", "v", "p"), jnp.array([0.5, -0.25, 3.0]), jnp.array([0.5, 1.0]), {}).tolist()
        [-0.5, -0.25, 0.0]
    """

    values: Callable[[Any, Mapping[str, Any]], Mapping[str, Any]] = eqx.field(static=True)

    def mismatch(self, fields: tuple[str, ...], predicted, point, params: Mapping[str, Any]):
        """``predicted - values`` for the given fields at one boundary point, 0 for the free
        ones: shape ``(len(fields),)``."""
        given = dict(self.values(point, params))
        unknown = sorted(set(given) - set(fields))
        if unknown:
            raise ValueError(f"boundary values for unknown fields {unknown}; fields are {fields}")
        return jnp.stack([predicted[i] - jnp.asarray(given[f], predicted.dtype) if f in given
                          else jnp.zeros((), predicted.dtype) for i, f in enumerate(fields)])
