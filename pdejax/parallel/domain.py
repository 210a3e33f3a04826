"""Shardings for batches of fields under domain parallelism (the ``space`` mesh axis).

A batch of fields ``(batch, ..., n_0, ..., n_{d-1})`` is sharded with the batch over ``data``
and grid axis 0 over ``space``; every axis between (channels, frames) is whole. This is the
layout :meth:`pdejax.models.FNO.shard` models and :class:`pdejax.parallel.fft.SpaceFFT`
expect; a training step that shards its batches this way never holds a whole field on
one device.
"""

from __future__ import annotations

from jax.sharding import Mesh, NamedSharding

from .fft import spec


def field_batch_sharding(mesh: Mesh, ndim: int, dim: int) -> NamedSharding:
    """The sharding of an ``ndim``-axis batch of fields with ``dim`` trailing grid axes: axis 0
    over ``data``, axis ``ndim - dim`` over ``space``.

    Example:
        >>> import jax
        >>> from pdejax.parallel.mesh import make_mesh
        >>> mesh = make_mesh(data=1, space=1, devices=jax.devices()[:1])
        >>> field_batch_sharding(mesh, 5, 2).spec  # (batch, frames, fields, n_0, n_1)
        P('data', None, None, 'space', None)
    """
    if ndim < dim + 1:
        raise ValueError(f"a batch of fields with {dim} grid axes needs at least {dim + 1} axes, got {ndim}")
    return NamedSharding(mesh, spec(ndim, dim, 0, mesh))
