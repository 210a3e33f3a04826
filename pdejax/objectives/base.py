"""The objective interface: what the one training loop trains, whatever the method."""

from __future__ import annotations

import abc
from typing import Any

import equinox as eqx
from jaxtyping import Array, Int, PRNGKeyArray

Losses = dict[str, Array]


class AbstractObjective(eqx.Module):
    """What a method contributes to training. Subclass this.

    The trainer knows nothing else about the method: it draws a batch, asks for the
    loss terms, weights and sums them, differentiates, and periodically evaluates.
    All methods are pure and run inside ``jit``.
    """

    def init_batch_state(self, key: PRNGKeyArray, dtype: Any) -> Any:
        """State carried by the batch source between steps (e.g. adaptive points)."""
        return ()

    @abc.abstractmethod
    def batch(self, model: Any, state: Any, key: PRNGKeyArray, step: Int[Array, ""]) -> tuple[Any, Any]:
        """``(batch, new_state)`` for one training step: a pytree of arrays."""

    @abc.abstractmethod
    def loss(self, model: Any, batch: Any, key: PRNGKeyArray) -> tuple[Losses, dict[str, Array]]:
        """``(loss terms, auxiliary metrics)``; each loss term is a scalar."""

    def evaluate(self, model: Any) -> dict[str, Array]:
        """Evaluation metrics (scalars) of ``model``, e.g. ``rel_l2`` against a reference."""
        return {}

    @property
    def loss_names(self) -> tuple[str, ...]:
        """Names of the loss terms ``loss`` returns, in a fixed order."""
        raise AttributeError("objectives must declare loss_names")
