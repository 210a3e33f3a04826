"""The objective interface: what the one training loop trains, whatever the method."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
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

    def batch(self, model: Any, state: Any, key: PRNGKeyArray, step: Int[Array, ""]) -> tuple[Any, Any]:
        """``(batch, new_state)`` for one training step: a pytree of arrays, drawn on device.

        Override this, or provide :attr:`feed` (host-side batches from a dataset); the loop
        calls ``batch`` only for objectives without a feed.
        """
        raise NotImplementedError(f"{type(self).__name__} has neither a batch method nor a host feed")

    @abc.abstractmethod
    def loss(self, model: Any, batch: Any, key: PRNGKeyArray) -> tuple[Losses, dict[str, Array]]:
        """``(loss terms, auxiliary metrics)``; each loss term is a scalar."""

    def evaluate(self, model: Any) -> dict[str, Array]:
        """Evaluation metrics (scalars) of ``model``, e.g. ``rel_l2`` against a reference."""
        return {}

    @property
    def feed(self) -> Any:
        """A host-side batch source (:class:`~pdejax.data.batches.BatchFeed`) for objectives
        trained on datasets; ``None`` (the default) when ``batch`` draws batches on device."""
        return None

    def evaluator(self, static: Any) -> Callable[[Any], dict[str, float]]:
        """``params -> metrics`` as Python floats, called by the training loop.

        The default jits :meth:`evaluate`; objectives whose evaluation runs over a test
        set too large to be a compile-time constant override this with a batched loop.
        """
        evaluate = jax.jit(lambda params: self.evaluate(eqx.combine(params, static)))
        return lambda params: {k: float(v) for k, v in jax.device_get(evaluate(params)).items()}

    def report(self, model: Any, directory: Any = None) -> dict[str, Any]:
        """Extra results for ``summary.json`` at the end of a run (curves, zero-shot
        errors...); may write plots into ``directory``. Default: nothing."""
        return {}

    @property
    def loss_names(self) -> tuple[str, ...]:
        """Names of the loss terms ``loss`` returns, in a fixed order."""
        raise AttributeError("objectives must declare loss_names")
