"""Per-channel normalisation, and a trained operator in physical units."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ...models.batching import apply_batch


class Normalizer(eqx.Module):
    """Per-channel affine map to zero mean and unit variance (and back).

    Per channel rather than per grid point (as the FNO code does) so that a model
    trained at one resolution can be evaluated at another. Statistics are arrays of
    shape ``(channels, 1, ...)`` broadcasting against one sample ``(channels, *grid)``.
    """

    mean: Float[Array, "channels *ones"]
    std: Float[Array, "channels *ones"]

    @classmethod
    def identity(cls, channels: int, dim: int, dtype: Any = None) -> Normalizer:
        shape = (channels,) + (1,) * dim
        return cls(jnp.zeros(shape, dtype), jnp.ones(shape, dtype))

    @classmethod
    def fit(cls, read: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, dtype: Any = None,
            chunk: int = 256) -> Normalizer:
        """Statistics of ``read(rows) -> (n, channels, *grid)``, accumulated in float64 chunks."""
        total = total_sq = None
        count = 0
        for start in range(0, len(rows), chunk):
            x = np.asarray(read(rows[start:start + chunk]), np.float64)
            axes = (0, *range(2, x.ndim))
            s, s2 = x.sum(axis=axes), (x * x).sum(axis=axes)
            total, total_sq = (s, s2) if total is None else (total + s, total_sq + s2)
            count += x.size // x.shape[1]
            dim = x.ndim - 2
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        std = np.where(std > 0, std, 1.0)
        shape = (len(mean),) + (1,) * dim
        return cls(jnp.asarray(mean.reshape(shape), dtype), jnp.asarray(std.reshape(shape), dtype))

    def encode(self, x: Float[Array, "channels *grid"]) -> Float[Array, "channels *grid"]:
        return (x - self.mean) / self.std

    def decode(self, x: Float[Array, "channels *grid"]) -> Float[Array, "channels *grid"]:
        return x * self.std + self.mean

    def repeat(self, times: int) -> Normalizer:
        """The statistics of ``times`` stacked copies of the channels (a history of frames)."""
        return Normalizer(jnp.tile(self.mean, (times,) + (1,) * (self.mean.ndim - 1)),
                          jnp.tile(self.std, (times,) + (1,) * (self.std.ndim - 1)))


class NormalizedOperator(eqx.Module):
    """A trained operator in physical units: ``decode(net(encode(x)))``, one sample.

    ``x``: ``(c_in, *grid)`` in the dataset's units → ``(c_out, *grid)``.
    """

    net: Any
    input_norm: Normalizer
    output_norm: Normalizer

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        stats = jax.lax.stop_gradient((self.input_norm, self.output_norm))
        return stats[1].decode(self.net(stats[0].encode(x)))

    def batch(self, x: Float[Array, "batch c_in *grid"]) -> Float[Array, "batch c_out *grid"]:
        """``jax.vmap(self)(x)``, through the network's batch path where it has one."""
        stats = jax.lax.stop_gradient((self.input_norm, self.output_norm))
        return stats[1].decode(apply_batch(self.net, stats[0].encode(x)))
