"""Boundary conditions on the spatial boundary of a :class:`~pdejax.pde.Box`."""

from __future__ import annotations

import equinox as eqx


class AbstractBoundary(eqx.Module):
    """Base class for boundary conditions. Subclass this."""


class Dirichlet(AbstractBoundary):
    """Fields equal ``value`` (a constant, for every field) on the whole spatial boundary."""

    value: float = eqx.field(static=True, default=0.0)


class Periodic(AbstractBoundary):
    """Fields (and their derivatives) are periodic along every spatial coordinate."""
