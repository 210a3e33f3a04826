"""Device meshes: every run has one (a single device is a mesh of size one).

Two axes: ``data`` shards the batch (and collocation points), ``space`` shards the first
spatial axis of a field (domain parallelism, see :mod:`pdejax.parallel.fft`).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh

DATA, SPACE = "data", "space"


def data_mesh(data: int = -1, devices=None) -> Mesh:
    """A 1D mesh with axis ``data`` over ``data`` devices (``-1``: all of them).

    Batches and collocation points are sharded along ``data``; parameters are
    replicated. Works the same on CPU devices, GPUs and multi-host clusters (after
    ``jax.distributed.initialize``), where ``jax.devices()`` lists every process's devices.
    """
    devices = list(devices if devices is not None else jax.devices())
    n = len(devices) if data == -1 else data
    if not 1 <= n <= len(devices):
        raise ValueError(f"parallel.data = {data} needs 1..{len(devices)} devices ({len(devices)} available)")
    return Mesh(np.array(devices[:n]), (DATA,))


def make_mesh(data: int = -1, space: int = 1, devices=None) -> Mesh:
    """A 2D mesh with axes ``("data", "space")`` of shape ``(data, space)``.

    ``data = -1`` takes every device left over: ``len(devices) // space``. Neighbouring
    devices (in ``jax.devices()`` order, which keeps a host's devices together) share a
    ``space`` group, so the all-to-all transposes of a distributed FFT stay within a host
    where they can.

    Example:
        >>> mesh = make_mesh(space=1, devices=jax.devices()[:1])
        >>> dict(mesh.shape)
        {'data': 1, 'space': 1}
    """
    devices = list(devices if devices is not None else jax.devices())
    if space < 1 or space > len(devices):
        raise ValueError(f"parallel.space = {space} needs 1..{len(devices)} devices ({len(devices)} available)")
    if data == -1:
        data = len(devices) // space
    if data < 1 or data * space > len(devices):
        raise ValueError(f"a mesh of (data, space) = ({data}, {space}) needs {data * space} devices; "
                         f"{len(devices)} are available")
    return Mesh(np.array(devices[:data * space]).reshape(data, space), (DATA, SPACE))


def axis_size(mesh: Mesh | None, name: str) -> int:
    """The size of mesh axis ``name`` (1 when the mesh is ``None`` or has no such axis).

    >>> axis_size(None, "space"), axis_size(data_mesh(1), "space")
    (1, 1)
    """
    return 1 if mesh is None else int(dict(mesh.shape).get(name, 1))
