"""Distributed real FFTs of fields whose first grid axis is sharded over the ``space`` mesh axis.

A field ``(*lead, n_0, ..., n_{d-1})`` (``d`` = 2 or 3 grid axes) is split into slabs
along ``n_0``, one per ``space`` device. :func:`rfftn` transforms the unsharded axes
locally (``rfft`` on the last, ``fft`` on the middle one), transposes with one
``all_to_all`` so that ``n_0`` is whole on every device and the rfft axis is split
instead, transforms ``n_0``, and transposes back: the result is ``rfftn``'s usual layout
``(*lead, n_0, ..., n_{d-1} // 2 + 1)`` with ``n_0`` sharded exactly as the input was.
:func:`irfftn` is the inverse. No device ever holds a whole field (XLA's own partitioning
of ``jnp.fft.rfftn`` on a sharded axis all-gathers it; see ``tests/parallel/test_domain.py``).

The rfft axis is zero-padded to a multiple of the number of ``space`` devices for the
transpose (``n // 2 + 1`` is odd for most even ``n``); the padding never leaves the
function. Everything runs under :func:`jax.shard_map` over both mesh axes, so a leading
batch axis sharded over ``data`` (``data_axis``) stays sharded; under ``jax.vmap`` pass
``spmd_axis_name="data"`` to keep a vmapped batch sharded.

Example:
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from pdejax.parallel.mesh import make_mesh
    >>> mesh = make_mesh(data=1, space=2, devices=jax.devices()[:2])
    >>> u = jnp.asarray(np.random.default_rng(0).normal(size=(8, 6)), jnp.float32)
    >>> u_hat = jax.jit(lambda u: rfftn(u, mesh, dim=2))(u)
    >>> u_hat.shape, bool(jnp.allclose(u_hat, jnp.fft.rfftn(u), atol=1e-4))
    ((8, 4), True)
    >>> bool(jnp.allclose(jax.jit(lambda v: irfftn(v, (8, 6), mesh))(u_hat), u, atol=1e-5))
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, Complex, Float

from .mesh import DATA, SPACE, axis_size


def check_space_grid(grid: Sequence[int], mesh: Mesh | None, what: str = "field") -> None:
    """ValueError unless the first grid axis divides evenly over the mesh's ``space`` devices.

    >>> check_space_grid((64, 64), None)
    """
    n_space = axis_size(mesh, SPACE)
    grid = tuple(grid)
    if n_space > 1 and (not grid or grid[0] % n_space):
        valid = [n for n in range(n_space, 2 * n_space * 4 + 1, n_space)][:4]
        raise ValueError(f"{what} grid {grid}: the first grid axis ({grid[0] if grid else None} points) is sharded "
                         f"over {n_space} 'space' devices and must be a multiple of {n_space} (e.g. {valid}, ...)")


def check_batch(n: int, mesh: Mesh | None, what: str = "batch") -> None:
    """ValueError unless a batch of ``n`` samples divides evenly over the ``data`` devices."""
    n_data = axis_size(mesh, DATA)
    if n % n_data:
        raise ValueError(f"{what} of {n} samples is sharded over {n_data} 'data' devices and must be a multiple "
                         f"of {n_data}")


def all_to_all(x: Array, split_axis: int, concat_axis: int) -> Array:
    """Inside ``shard_map``: split ``split_axis`` into one block per ``space`` device, send
    block ``i`` to device ``i``, and concatenate the received blocks along ``concat_axis``."""
    return jax.lax.all_to_all(x, SPACE, split_axis % x.ndim, concat_axis % x.ndim, tiled=True)


def apply_basis(x: Array, axis: int, basis: Array) -> Array:
    """``x``'s ``axis`` (length ``n``) contracted with ``basis: (n, k)``; the new axis of length
    ``k`` takes its place."""
    return jnp.moveaxis(jnp.tensordot(x, basis, axes=([axis % x.ndim], [0])), -1, axis % x.ndim)


def spec(ndim: int, dim: int, data_axis: int | None = None, mesh: Mesh | None = None) -> P:
    """The partition spec of a ``(*lead, *grid)`` array: grid axis 0 over ``space``, the
    lead axis ``data_axis`` (if any) over ``data``.

    >>> spec(4, 2, data_axis=0)
    P('data', None, 'space', None)
    """
    axes: list = [None] * ndim
    axes[ndim - dim] = SPACE
    if data_axis is not None and (mesh is None or DATA in mesh.axis_names):
        axes[data_axis % ndim] = DATA
    return P(*axes)


def _padded(k: int, n_space: int) -> int:
    return math.ceil(k / n_space) * n_space


def _local_rfftn(u, dim: int, n_space: int):
    lead = u.ndim - dim
    z = jnp.fft.rfftn(u, axes=tuple(range(lead + 1, u.ndim)))
    k = z.shape[-1]
    z = jnp.pad(z, [(0, 0)] * (z.ndim - 1) + [(0, _padded(k, n_space) - k)])
    z = all_to_all(z, -1, lead)  # n_0 whole, the rfft axis split
    z = jnp.fft.fft(z, axis=lead)
    return all_to_all(z, lead, -1)[..., :k]


def _local_irfftn(v, sizes: tuple[int, ...], n_space: int):
    dim = len(sizes)
    lead = v.ndim - dim
    k = v.shape[-1]
    z = jnp.pad(v, [(0, 0)] * (v.ndim - 1) + [(0, _padded(k, n_space) - k)])
    z = all_to_all(z, -1, lead)
    z = jnp.fft.ifft(z, axis=lead)
    z = all_to_all(z, lead, -1)[..., :k]
    return jnp.fft.irfftn(z, s=sizes[1:], axes=tuple(range(lead + 1, v.ndim)))


def _check(shape, dim: int, mesh: Mesh, what: str) -> None:
    if dim not in (2, 3) and axis_size(mesh, SPACE) > 1:
        raise ValueError(f"{what}: the distributed FFT needs 2 or 3 grid axes (dim), got dim={dim}; a 1D field "
                         "cannot be sharded over 'space' (use space=1)")
    if len(shape) < dim:
        raise ValueError(f"{what}: an array of shape {tuple(shape)} has fewer than dim={dim} grid axes")


def rfftn(u: Float[Array, "*lead *grid"], mesh: Mesh, *, dim: int,
          data_axis: int | None = None) -> Complex[Array, "*lead *rfft"]:
    """``jnp.fft.rfftn`` over the last ``dim`` axes of ``u`` (grid axis 0 sharded over ``space``).

    Args:
        u: real ``(*lead, n_0, ..., n_{dim-1})``; ``n_0`` must be a multiple of the
            number of ``space`` devices (ValueError otherwise).
        mesh: a mesh with a ``space`` axis (and optionally ``data``), see
            :func:`~pdejax.parallel.mesh.make_mesh`.
        dim: number of grid axes, 2 or 3.
        data_axis: a lead axis sharded over ``data`` (``None``: lead axes replicated).

    Returns the unnormalised ``rfftn``, ``(*lead, n_0, ..., n_{dim-1} // 2 + 1)``, with
    ``n_0`` sharded over ``space`` (two all-to-alls, no all-gather).
    """
    _check(u.shape, dim, mesh, "parallel.fft.rfftn")
    check_space_grid(u.shape[u.ndim - dim:], mesh)
    n_space = axis_size(mesh, SPACE)
    s = spec(u.ndim, dim, data_axis, mesh)
    return jax.shard_map(lambda u: _local_rfftn(u, dim, n_space), mesh=mesh, in_specs=s, out_specs=s)(u)


def irfftn(v: Complex[Array, "*lead *rfft"], sizes: Sequence[int], mesh: Mesh, *,
           data_axis: int | None = None) -> Float[Array, "*lead *grid"]:
    """Inverse of :func:`rfftn`: ``jnp.fft.irfftn(v, s=sizes)`` over the last ``len(sizes)`` axes."""
    sizes = tuple(int(n) for n in sizes)
    dim = len(sizes)
    _check(v.shape, dim, mesh, "parallel.fft.irfftn")
    check_space_grid(sizes, mesh)
    n_space = axis_size(mesh, SPACE)
    s = spec(v.ndim, dim, data_axis, mesh)
    return jax.shard_map(lambda v: _local_irfftn(v, sizes, n_space), mesh=mesh, in_specs=s, out_specs=s)(v)


class SpaceFFT(eqx.Module):
    """``rfftn``/``irfftn`` over a field's grid axes: distributed over ``mesh``'s ``space`` axis,
    or plain ``jnp.fft`` when ``mesh`` is ``None``. Write a solver's nonlinear term with it
    and the same code runs on one device or on a sharded domain.

    Args:
        mesh: ``None`` or a mesh with a ``space`` axis.
        dim: number of grid axes (the trailing axes of every array).
        data_axis: a lead axis sharded over ``data``, if any.

    Example:
        >>> fft = SpaceFFT(None, dim=2)
        >>> fft.irfftn(fft.rfftn(jnp.ones((2, 4, 4))), (4, 4)).shape
        (2, 4, 4)
    """

    mesh: Mesh | None = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    data_axis: int | None = eqx.field(static=True, default=None)

    @property
    def axes(self) -> tuple[int, ...]:
        return tuple(range(-self.dim, 0))

    def rfftn(self, u: Float[Array, "*lead *grid"]) -> Complex[Array, "*lead *rfft"]:
        if self.mesh is None:
            return jnp.fft.rfftn(u, axes=self.axes)
        return rfftn(u, self.mesh, dim=self.dim, data_axis=self.data_axis)

    def irfftn(self, v: Complex[Array, "*lead *rfft"], sizes: Sequence[int]) -> Float[Array, "*lead *grid"]:
        if self.mesh is None:
            return jnp.fft.irfftn(v, s=tuple(sizes), axes=self.axes)
        return irfftn(v, sizes, self.mesh, data_axis=self.data_axis)

    def sharding(self, ndim: int) -> NamedSharding | None:
        """The :class:`~jax.sharding.NamedSharding` of an ``ndim``-axis array in this layout
        (physical or spectral: both shard grid axis 0 over ``space``)."""
        return None if self.mesh is None else NamedSharding(self.mesh, spec(ndim, self.dim, self.data_axis,
                                                                            self.mesh))
