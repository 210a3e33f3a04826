"""Batch sources: where a training step's batch comes from.

Two kinds, both handed to the loop next to the objective:

- :class:`AbstractDeviceSource` draws batches on the device inside the compiled step
  (collocation points, with state for adaptive sampling);
- a :class:`HostSource` reads batches on the host (a dataset, trajectories) and the loop
  copies them to the devices, sharded along the mesh's ``data`` axis.

Either way, which batch a step sees is a function of ``(seed, step)`` only, so a
resumed run sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

import abc
from typing import Any, Protocol, runtime_checkable

import equinox as eqx
from jaxtyping import Array, Int, PRNGKeyArray


class AbstractDeviceSource(eqx.Module):
    """Batches drawn on the device, inside ``jit``. Subclass this."""

    def init(self, key: PRNGKeyArray, dtype: Any) -> Any:
        """The source's initial state (e.g. adaptive points); ``()`` when stateless."""
        return ()

    @abc.abstractmethod
    def draw(self, model: Any, state: Any, key: PRNGKeyArray, step: Int[Array, ""]) -> tuple[Any, Any]:
        """``(batch, new_state)`` for one step; ``model`` is the current model (for
        residual-based adaptive sampling)."""


@runtime_checkable
class HostSource(Protocol):
    """Batches read on the host, e.g. :class:`pdejax.data.batches.BatchFeed`."""

    def get(self, step: int, n: int) -> Any:
        """The batches of steps ``step .. step + n - 1`` stacked: leaves ``(n, batch, ...)``."""

    def close(self) -> None:
        """Release threads and files."""


class FixedBatch(AbstractDeviceSource):
    """The same batch at every step (a fixed data set, or a test).

    >>> import jax.numpy as jnp
    >>> source = FixedBatch({"x": jnp.ones((4, 2))})
    >>> batch, _ = source.draw(None, (), None, 0)
    >>> batch["x"].shape
    (4, 2)
    """

    batch: Any

    def draw(self, model, state, key, step):
        return self.batch, state
