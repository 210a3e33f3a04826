"""The objective interface: named loss terms, whatever the method.

An objective only computes losses. Where batches come from (a batch source), how the
terms are weighted and combined (a gradient combiner) and how the model is evaluated (an
evaluator) are separate objects handed to the training loop, so each can be swapped
without touching the others.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
from jaxtyping import Array, PRNGKeyArray

Losses = dict[str, Array]


class PointResidual(NamedTuple):
    """One loss term as residual vectors at points: ``term = mean_i |fn(model, points_i)|²``.

    ``fn(model, point)`` returns the residual vector at one point (``point``: one slice of
    ``points`` along its leading axis; ``points`` may be a pytree whose leaves share it).
    Combiners that need each point's parameter gradient (NTK weighting) vmap over it.
    """

    fn: Callable[[Any, Any], Array]
    points: Any


class AbstractObjective(eqx.Module):
    """What a method contributes to training: named scalar loss terms. Subclass this.

    ``loss`` is pure and runs inside ``jit``; ``loss_names`` lists, in a fixed order, the
    keys ``loss`` returns (configs weight them as ``objective.weights.<name>``).

    >>> import jax.numpy as jnp
    >>> class Fit(AbstractObjective):
    ...     loss_names = ("data",)
    ...     def loss(self, model, batch, key):
    ...         return {"data": jnp.mean((model(batch["x"]) - batch["y"]) ** 2)}, {}
    >>> terms, aux = Fit().loss(lambda x: 2 * x, {"x": jnp.ones(3), "y": jnp.ones(3)}, None)
    >>> float(terms["data"])
    1.0
    """

    @abc.abstractmethod
    def loss(self, model: Any, batch: Any, key: PRNGKeyArray) -> tuple[Losses, dict[str, Array]]:
        """``(terms, aux)``: each term a scalar; ``aux`` holds scalars worth logging
        (causal weights, diagnostics) that are not losses."""

    @property
    @abc.abstractmethod
    def loss_names(self) -> tuple[str, ...]:
        """Names of the loss terms ``loss`` returns, in a fixed order."""

    @property
    def grid_axes(self) -> int:
        """How many trailing axes of the batch's field leaves are grid axes (0: the batch holds
        no fields, e.g. collocation points). With a ``space`` mesh axis, the training step
        shards the first of them over ``space`` (domain parallelism), the batch over ``data``."""
        return 0

    def point_residuals(self, batch: Any, key: PRNGKeyArray) -> dict[str, PointResidual]:
        """Optional: every loss term as residuals at single points, ``{term: PointResidual}``.

        Override it where each term is a mean of squared pointwise residuals; the NTK
        combiner (``optimizer.combine.name: ntk``) needs it, to take each point's gradient
        separately (the trace of the term's NTK block is ``Σ_i |∇_θ r_i|²``).
        """
        raise NotImplementedError(f"{type(self).__name__} does not give per-point residuals")
