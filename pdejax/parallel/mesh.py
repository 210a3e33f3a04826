"""Device meshes: every run has one (a single device is a mesh of size one)."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh


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
    return Mesh(np.array(devices[:n]), ("data",))
