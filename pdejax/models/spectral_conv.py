"""The spectral convolution of a Fourier neural operator, dense or with low-rank weights.

:class:`SpectralConv` multiplies the lowest Fourier modes of its input by learned complex
``c_in × c_out`` matrices, one per kept mode, and zeros the rest; the transforms are the
truncated DFTs of :mod:`pdejax.spectral.dft`. Kept modes are counted as in the FNO
paper's code: ``modes=16`` keeps rfft modes ``0..15`` on the last axis and frequencies
``-16..15`` (the corners ``weights1..weights4``) on the others.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, Float, PRNGKeyArray

from ..parallel import fft as pfft
from ..parallel.mesh import SPACE, axis_size
from ..spectral import dft

Factorization = Literal["tucker", "cp"]


def default_dtype(dtype):
    """``dtype``, or JAX's default float (float64 under x64) when it is ``None``."""
    return dtype or jnp.zeros(()).dtype


def fft_dtype(dtype) -> jnp.dtype:
    """The real dtype the transforms run in for inputs of ``dtype``: at least float32.

    ``jnp.fft`` has no bfloat16 and a bfloat16 DFT loses the high modes to round-off, so a
    half-precision model upcasts for the transforms and the complex mode mixing, and
    casts the result back.

    >>> fft_dtype(jnp.bfloat16), fft_dtype(jnp.float64)
    (dtype('float32'), dtype('float64'))
    """
    return jnp.promote_types(dtype, jnp.float32)


class SpectralConv(eqx.Module):
    """Spectral convolution ``x ↦ irfftn(R · rfftn(x))`` on one sample, truncated to low modes.

    ``R`` holds one complex ``c_in × c_out`` matrix per kept mode; all other modes of the
    output are zero. The same module works at any resolution with enough points.

    Weights are stored as real arrays (real and imaginary parts on a leading axis of 2), so
    every optax optimizer and ``jax.grad`` see ordinary float parameters; modes come first,
    ``(2, *kept, c_in, c_out)``, so mixing the modes is one batched matrix product. Dense
    weights are initialised like the paper, ``U[0, 1) / (c_in c_out)`` for both parts.

    Args:
        in_channels, out_channels: channel counts ``c_in``, ``c_out``.
        modes: Fourier modes kept per grid axis, e.g. ``(16,)`` or ``(12, 12)``; the
            number of grid axes is ``len(modes)``. The last axis keeps rfft modes
            ``0..m-1``; every other axis keeps frequencies ``-m..m-1``.
        factorization: ``None`` (a dense weight), ``"cp"`` or ``"tucker"``: the weight
            tensor ``(*kept, c_in, c_out)`` is a low-rank CP or Tucker product of small
            complex factors (as neuraloperator's TFNO), reconstructed in each call.
        rank: for a factorised weight, its parameter count as a fraction of the dense one.
        dtype: floating dtype of the parameters (default: JAX's default float).
        key: PRNG key (keyword-only).

    Inputs in bfloat16 (or float16) are transformed and mixed in float32 and the result is
    cast back to the input's dtype (:func:`fft_dtype`).

    Domain parallelism: :meth:`shard` returns the same convolution for inputs whose first
    grid axis is sharded over a mesh's ``space`` axis (:meth:`sharded`): the kept modes of
    the other axes are computed locally, one all-to-all makes grid axis 0 whole, its kept
    modes are computed and mixed with the slice of the weights for this device's modes,
    and the way back is the mirror image. Only the truncated modes are moved. 1D grids
    instead sum each device's partial DFT (one all-reduce of the kept modes).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> # jax.eval_shape: shapes only, nothing is initialised or compiled
        >>> conv = jax.eval_shape(lambda: SpectralConv(3, 8, (12, 12), key=jax.random.key(0)))
        >>> jax.eval_shape(lambda conv, x: conv(x), conv, jnp.zeros((3, 64, 48))).shape
        (8, 64, 48)
        >>> jax.eval_shape(lambda conv: conv.dense_weight(), conv).shape  # (real/imag, *kept modes, c_in, c_out)
        (2, 24, 12, 3, 8)
    """

    weights: tuple[Float[Array, "..."], ...]
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    modes: tuple[int, ...] = eqx.field(static=True)
    factorization: Factorization | None = eqx.field(static=True)
    mesh: Mesh | None = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, modes: int | Sequence[int], *,
                 factorization: Factorization | None = None, rank: float = 1.0, dtype=None,
                 key: PRNGKeyArray):
        modes = (modes,) if isinstance(modes, int) else tuple(int(m) for m in modes)
        if not 1 <= len(modes) <= 3 or min(modes) < 1:
            raise ValueError(f"modes must be 1 to 3 positive integers (one per grid axis), got {modes}")
        if factorization not in (None, "cp", "tucker"):
            raise ValueError(f"factorization {factorization!r} is not one of None, 'cp', 'tucker'")
        if factorization is not None and not 0.0 < rank <= 1.0:
            raise ValueError(f"rank must be a fraction in (0, 1] of the dense parameter count, got {rank}")
        self.in_channels, self.out_channels, self.modes = in_channels, out_channels, modes
        self.factorization = factorization
        self.mesh = None
        dtype = default_dtype(dtype)
        scale = 1.0 / (in_channels * out_channels)
        shape = (*self.kept_shape, in_channels, out_channels)
        if factorization is None:
            self.weights = (scale * jax.random.uniform(key, (2, *shape), dtype),)
        elif factorization == "cp":
            r = _cp_rank(shape, rank)
            keys = jax.random.split(key, len(shape))
            # E|w|^2 = scale^2 with unit-variance complex factors and a 1/sqrt(r) weight.
            factors = [_complex_normal(k, (n, r), dtype) for k, n in zip(keys, shape)]
            factors[0] = factors[0] * (scale / math.sqrt(r))
            self.weights = tuple(factors)
        else:
            ranks = _tucker_ranks(shape, rank)
            keys = jax.random.split(key, len(shape) + 1)
            core = _complex_normal(keys[0], ranks, dtype) * (scale / math.sqrt(math.prod(ranks)))
            factors = [_complex_normal(k, (n, r), dtype) for k, n, r in zip(keys[1:], shape, ranks)]
            self.weights = (core, *factors)

    @property
    def kept_shape(self) -> tuple[int, ...]:
        """Kept Fourier modes per axis: ``2m`` on every axis but the last, ``m`` there."""
        return dft.kept_shape(self.modes)

    def dense_weight(self) -> Float[Array, "2 *kept c_in c_out"]:
        """The weight tensor, real and imaginary parts stacked (reconstructed if factorised)."""
        if self.factorization is None:
            return self.weights[0]
        w = [jax.lax.complex(f[0], f[1]) for f in self.weights]
        n = len(self.kept_shape) + 2
        letters = "abcdefgh"[:n]
        if self.factorization == "cp":
            spec = ",".join(f"{c}r" for c in letters) + f"->{letters}"
        else:
            ranks = "ijklmnop"[:n]
            spec = ranks + "," + ",".join(f"{c}{r}" for c, r in zip(letters, ranks)) + f"->{letters}"
        full = jnp.einsum(spec, *w)
        return jnp.stack([full.real, full.imag])

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        dim = len(self.modes)
        if x.ndim != dim + 1 or x.shape[0] != self.in_channels:
            raise ValueError(f"SpectralConv expects input of shape (c_in={self.in_channels}, *grid) with "
                             f"{dim} grid axes, got shape {x.shape}")
        return jnp.moveaxis(self.channels_last(jnp.moveaxis(x, 0, -1)), -1, 0)

    def channels_last(self, x: Float[Array, "*grid c_in"]) -> Float[Array, "*grid c_out"]:
        """The same map on channels-last input ``(*grid, c_in)`` (what :class:`FNO` uses inside)."""
        dim = len(self.modes)
        if x.ndim != dim + 1 or x.shape[-1] != self.in_channels:
            raise ValueError(f"SpectralConv.channels_last expects input of shape (*grid, c_in={self.in_channels}) "
                             f"with {dim} grid axes, got shape {x.shape}")
        grid = x.shape[:-1]
        dft.check_grid(grid, self.modes)
        if self.mesh is not None:
            return self.sharded(x[None], data_axis=None)[0]
        real = fft_dtype(x.dtype)
        coeffs = _mix_modes(dft.truncated_rfftn(x.astype(real), self.modes), self.dense_weight().astype(real))
        return dft.truncated_irfftn(coeffs, grid, self.modes).astype(x.dtype)

    def batch(self, x: Float[Array, "batch c_in *grid"]) -> Float[Array, "batch c_out *grid"]:
        """``jax.vmap(self)(x)``, computed on the whole batch at once (see :meth:`FNO.batch`)."""
        dim = len(self.modes)
        if x.ndim != dim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"SpectralConv.batch expects input of shape (batch, c_in={self.in_channels}, *grid) "
                             f"with {dim} grid axes, got shape {x.shape}")
        dft.check_grid(x.shape[2:], self.modes)
        if self.mesh is not None:
            return jnp.moveaxis(self.sharded(jnp.moveaxis(x, 1, -1)), -1, 1)
        if not dft.fits_matmul(x.shape[2:], self.modes):
            return jax.vmap(self)(x)
        v = jnp.transpose(x, dft.to_reversed_axes(dim))
        return jnp.transpose(self.reversed_layout(v), dft.from_reversed_axes(dim))

    def reversed_layout(self, v: Float[Array, "*rev_grid batch c_in"]) -> Float[Array, "*rev_grid batch c_out"]:
        """The map on a batch laid out ``(n_{d-1}, ..., n_0, batch, c_in)`` (grid axes reversed).

        Used by :meth:`FNO.batch`; grids must be small enough for the matrix-product DFT.
        """
        dim = len(self.modes)
        grid = v.shape[:dim][::-1]
        real = fft_dtype(v.dtype)
        z = dft.truncated_rfftn_reversed(v.astype(real), grid, self.modes)
        out = dft.truncated_irfftn_reversed(_mix_reversed(z, self.dense_weight().astype(real)), grid, self.modes)
        return out.astype(v.dtype)

    def shard(self, mesh: Mesh | None) -> SpectralConv:
        """This convolution for inputs whose first grid axis is sharded over ``mesh``'s ``space``
        axis (the same weights; ``None`` undoes it). See :meth:`sharded`."""
        if mesh is not None and SPACE not in mesh.axis_names:
            raise ValueError(f"SpectralConv.shard needs a mesh with a 'space' axis (make_mesh), got axes "
                             f"{mesh.axis_names}")
        return _replace_static(self, mesh=mesh)

    def sharded(self, x: Float[Array, "batch *grid c_in"],
                data_axis: int | None = 0) -> Float[Array, "batch *grid c_out"]:
        """The map on a channels-last batch ``(batch, n_0, ..., c_in)`` with ``n_0`` sharded over
        the mesh's ``space`` axis and (``data_axis=0``) the batch over ``data``.

        Raises a ValueError when ``n_0`` is not a multiple of the ``space`` devices or the
        batch not a multiple of the ``data`` devices.
        """
        mesh, dim = self.mesh, len(self.modes)
        if mesh is None:
            raise ValueError("SpectralConv.sharded needs a mesh: use conv.shard(mesh) first")
        if x.ndim != dim + 2 or x.shape[-1] != self.in_channels:
            raise ValueError(f"SpectralConv.sharded expects input of shape (batch, *grid, c_in={self.in_channels}) "
                             f"with {dim} grid axes, got shape {x.shape}")
        grid = x.shape[1:-1]
        dft.check_grid(grid, self.modes)
        pfft.check_space_grid(grid, mesh, "SpectralConv input")
        if data_axis is not None:
            pfft.check_batch(x.shape[0], mesh, "SpectralConv input batch")
        n_space = axis_size(mesh, SPACE)
        real = fft_dtype(x.dtype)
        w = self.dense_weight().astype(real)
        w = jax.lax.complex(w[0], w[1])  # (*kept, c_in, c_out)
        x_spec = pfft.spec(x.ndim, dim + 1, data_axis, mesh)  # grid axis 0 is axis 1
        if dim == 1:
            local = lambda x, w: _sharded_1d(x.astype(real), w, grid[0], self.modes[0], n_space)  # noqa: E731
            w_spec = P()
        else:
            kept = self.kept_shape
            k = math.prod(kept[1:])
            w = w.reshape(kept[0], k, *w.shape[-2:])
            w = jnp.pad(w, [(0, 0), (0, _padded(k, n_space) - k), (0, 0), (0, 0)])
            local = lambda x, w: _sharded_nd(x.astype(real), w, grid, self.modes, n_space)  # noqa: E731
            w_spec = P(None, SPACE, None, None)
        out = jax.shard_map(local, mesh=mesh, in_specs=(x_spec, w_spec), out_specs=x_spec)(x, w)
        return out.astype(x.dtype)


def _replace_static(module, **fields):
    """A copy of ``module`` with static fields replaced (the leaves are shared)."""
    new = copy.copy(module)
    for name, value in fields.items():
        object.__setattr__(new, name, value)
    return new


def _padded(k: int, n: int) -> int:
    return -(-k // n) * n


def _complex(basis: np.ndarray, real) -> Array:
    return jnp.asarray(basis, jnp.result_type(real, jnp.complex64))


def _sharded_1d(x, w, n: int, m: int, n_space: int):
    """Inside ``shard_map``: ``x (b, n / n_space, c)`` one slab; partial DFT of the slab, summed
    over ``space`` (only the ``m`` kept modes travel), mixed, and synthesised on the slab."""
    n_local = n // n_space
    start = jax.lax.axis_index(SPACE) * n_local
    cos, sin = dft.real_dft_basis(n, m)
    forward = jax.lax.dynamic_slice_in_dim(_complex(cos - 1j * sin, x.dtype), start, n_local)
    z = jax.lax.psum(pfft.apply_basis(x, 1, forward), SPACE)  # (b, m, c_in)
    z = jnp.einsum("bmi,mio->bmo", z, w)
    inverse = jax.lax.dynamic_slice_in_dim(_complex(dft.inverse_rfft_basis(n, m), x.dtype), start, n_local)
    return jnp.einsum("tm,bmo->bto", inverse, z).real


def _sharded_nd(x, w, grid: tuple[int, ...], modes: tuple[int, ...], n_space: int):
    """Inside ``shard_map``: ``x (b, n_0 / n_space, n_1, [n_2,] c)`` one slab, ``w`` this device's
    ``(2 m_0, K_pad / n_space, c_in, c_out)`` weights (``K`` the kept modes of axes 1.., flat)."""
    d = len(grid)
    b, n_local = x.shape[:2]
    cos, sin = dft.real_dft_basis(grid[-1], modes[-1])
    z = pfft.apply_basis(x, d, _complex(cos - 1j * sin, x.dtype))  # the last grid axis: rfft modes
    for axis in range(d - 2, 0, -1):
        z = pfft.apply_basis(z, axis + 1, _complex(dft.dft_basis(grid[axis], modes[axis]), x.dtype))
    kept = z.shape[2:-1]
    k = math.prod(kept)
    z = z.reshape(b, n_local, k, -1)
    z = jnp.pad(z, [(0, 0), (0, 0), (0, _padded(k, n_space) - k), (0, 0)])
    z = pfft.all_to_all(z, 2, 1)  # (b, n_0, K_pad / n_space, c_in): axis 0 whole, the modes split
    z = pfft.apply_basis(z, 1, _complex(dft.dft_basis(grid[0], modes[0]), x.dtype))  # (b, 2 m_0, ...)
    z = jnp.einsum("bmki,mkio->bmko", z, w)
    z = pfft.apply_basis(z, 1, _complex(dft.inverse_dft_basis(grid[0], modes[0]).T, x.dtype))
    z = pfft.all_to_all(z, 1, 2)[:, :, :k].reshape(b, n_local, *kept, -1)
    for axis in range(1, d - 1):
        z = pfft.apply_basis(z, axis + 1, _complex(dft.inverse_dft_basis(grid[axis], modes[axis]).T, x.dtype))
    return pfft.apply_basis(z, d, _complex(dft.inverse_rfft_basis(grid[-1], modes[-1]).T, x.dtype)).real


def _mix_modes(coeffs, weight):
    """``out[k, o] = sum_i coeffs[k, i] w[k, i, o]`` for every kept mode ``k`` (complex).

    Modes-major coefficients and weights make this one batched matrix product over
    modes; under vmap each mode is one ``(batch, c_in) @ (c_in, c_out)`` product.
    """
    kept, c_in = coeffs.shape[:-1], coeffs.shape[-1]
    w = jax.lax.complex(weight[0], weight[1]).reshape(-1, c_in, weight.shape[-1])
    out = jnp.einsum("ki,kio->ko", coeffs.reshape(-1, c_in), w)
    return out.reshape(*kept, -1)


def _mix_reversed(z, weight):
    """Per-mode complex ``c_in × c_out`` products of ``z: (2, *reversed kept, b, c_in)``, as one
    real batched product ``[zr, zi] @ [[wr, wi], [-wi, wr]]``."""
    d = weight.ndim - 3
    kept = z.shape[1:d + 1]
    w = jnp.transpose(weight, (0, *range(d, 0, -1), d + 1, d + 2))  # (2, *reversed kept, c_in, c_out)
    w = w.reshape(2, -1, *w.shape[-2:])
    blocks = jnp.concatenate([jnp.concatenate([w[0], w[1]], -1), jnp.concatenate([-w[1], w[0]], -1)], -2)
    zz = z.reshape(2, -1, *z.shape[d + 1:])
    out = jax.lax.dot_general(jnp.concatenate([zz[0], zz[1]], -1), blocks, (((2,), (1,)), ((0,), (0,))))
    c_out = weight.shape[-1]
    return jnp.stack([out[..., :c_out], out[..., c_out:]]).reshape(2, *kept, *out.shape[1:-1], c_out)


def _complex_normal(key, shape, dtype):
    """Real and imaginary parts stacked on a leading axis, ``E|z|^2 = 1``."""
    return jax.random.normal(key, (2, *shape), dtype) / math.sqrt(2.0)


def _cp_rank(shape: tuple[int, ...], fraction: float) -> int:
    return max(1, int(fraction * math.prod(shape) / sum(shape)))


def _tucker_ranks(shape: tuple[int, ...], fraction: float) -> tuple[int, ...]:
    """Ranks ``round(s * n)`` per axis, ``s`` the largest whose parameter count fits the budget."""
    budget = fraction * math.prod(shape)

    def ranks(s):
        return tuple(max(1, min(n, round(s * n))) for n in shape)

    def count(r):
        return math.prod(r) + sum(n * k for n, k in zip(shape, r))

    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if count(ranks(mid)) <= budget else (lo, mid)
    return ranks(lo)
