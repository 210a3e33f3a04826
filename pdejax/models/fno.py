"""Fourier Neural Operator (Li et al. 2021), in 1D, 2D and 3D.

The FNO learns a map between functions sampled on a regular grid. Each Fourier layer
multiplies the lowest Fourier modes of its input by learned complex matrices (a
:class:`~pdejax.models.SpectralConv`) and adds a pointwise linear map; because the learned
weights live on Fourier modes rather than grid points, one model runs at any resolution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding
from jaxtyping import Array, Float, PRNGKeyArray

from ..parallel import fft as pfft
from ..parallel.mesh import DATA, SPACE, axis_size
from ..spectral import dft
from .mlp import ACTIVATIONS
from .registry import MODELS
from .remat import checkpoint
from .spectral_conv import Factorization, SpectralConv, _replace_static, default_dtype


class Pointwise(eqx.Module):
    """A 1x1 convolution on channels-last input: the same affine map at every grid point.

    PyTorch's ``Conv1d`` initialisation, ``U(-1/sqrt(c_in), 1/sqrt(c_in))``, as the paper.
    """

    weight: Float[Array, "c_out c_in"]
    bias: Float[Array, " c_out"] | None

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, dtype=None,
                 key: PRNGKeyArray):
        dtype = default_dtype(dtype)
        bound = 1.0 / math.sqrt(in_channels)
        kw, kb = jax.random.split(key)
        self.weight = jax.random.uniform(kw, (out_channels, in_channels), dtype, -bound, bound)
        self.bias = jax.random.uniform(kb, (out_channels,), dtype, -bound, bound) if bias else None

    def __call__(self, x: Float[Array, "*grid c_in"]) -> Float[Array, "*grid c_out"]:
        # Channels last: under vmap this is one (batch * points, c_in) @ (c_in, c_out)
        # product; channels first makes XLA transpose every activation.
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias


class FNO(eqx.Module):
    """Fourier Neural Operator on one sample: ``(c_in, *grid) → (c_out, *grid)``.

    ``lift → n_layers Fourier layers → project``. A Fourier layer is the paper's
    ``v ↦ act(K v + W v)``: ``K`` a :class:`SpectralConv`, ``W`` a pointwise linear map, and
    no activation after the last layer. With ``channel_mlp`` it is neuraloperator 2.0's
    block instead: ``h = act(K v + W v)``, then ``act(MLP(h) + g ⊙ v)`` with a two-layer
    pointwise MLP of hidden width ``channel_mlp * width`` and a learned per-channel gate
    ``g`` (their "soft-gating" skip), again without either activation in the last layer.

    Args:
        in_channels, out_channels: channels of the input and output functions.
        modes: Fourier modes kept per grid axis, e.g. ``(16,)`` in 1D or ``(12, 12)`` in
            2D (see :class:`SpectralConv`); an int with ``dim`` axes (default 1) is
            ``(modes,) * dim``.
        width: channels inside the Fourier layers.
        n_layers: number of Fourier layers.
        dim: number of grid axes, only for an int ``modes``.
        lifting: hidden width of a two-layer lifting MLP; ``None`` lifts with one linear
            map, as in the paper.
        projection: hidden width of the two-layer projection MLP (paper: 128).
        channel_mlp: expansion ratio of the per-layer channel MLP (neuraloperator: 0.5);
            ``None`` for the paper's plain layer.
        grid_features: append the coordinates ``i / n`` in ``[0, 1)`` of every axis as
            extra input channels, as the paper does.
        padding: zero points appended to each grid axis (an int or one per axis) before
            the Fourier layers and cropped after; use it on non-periodic domains.
        activation: a name in :data:`pdejax.models.ACTIVATIONS`.
        factorization, rank: low-rank spectral weights (see :class:`SpectralConv`).
        remat: recompute each Fourier layer in the backward pass instead of keeping its
            intermediate activations (:func:`pdejax.models.remat.checkpoint`): less memory,
            about one more forward pass of compute; reverse-mode derivatives only.
        dtype: floating dtype of the parameters (default: JAX's default float).
        key: PRNG key (keyword-only).

    Half precision: with bfloat16 inputs and parameters the pointwise layers run in
    bfloat16 and every spectral convolution transforms in float32 (see :class:`SpectralConv`).

    Domain parallelism: ``fno.shard(mesh)`` is the same model for inputs whose first grid
    axis is sharded over ``mesh``'s ``space`` axis (and the batch over ``data``):
    ``fno.shard(mesh).batch(x)`` with ``x: (batch, c_in, n_0, ...)`` sharded as
    ``P("data", None, "space")``. The spectral convolutions use the distributed transforms
    of :meth:`SpectralConv.sharded`; the pointwise layers are sharded by XLA's propagation.
    The parameters are unchanged (replicated), so a sharded model trains and checkpoints
    like the plain one.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> # jax.eval_shape: shapes only, nothing is initialised or compiled
        >>> fno = jax.eval_shape(lambda: FNO(1, 1, modes=(16,), width=64, key=jax.random.key(0)))
        >>> jax.eval_shape(lambda fno, x: fno(x), fno, jnp.zeros((1, 1024))).shape
        (1, 1024)
        >>> batch = jnp.zeros((20, 1, 256))  # any resolution with >= 30 points
        >>> jax.eval_shape(lambda fno, x: jax.vmap(fno)(x), fno, batch).shape
        (20, 1, 256)
        >>> jax.eval_shape(lambda fno, x: fno.batch(x), fno, batch).shape  # the same numbers as the vmap, faster
        (20, 1, 256)
    """

    lifting: tuple[Pointwise, ...]
    spectral: tuple[SpectralConv, ...]
    skips: tuple[Pointwise, ...]
    channel_mlps: tuple[tuple[Pointwise, Pointwise], ...]
    gates: tuple[Float[Array, " width"], ...]
    projection: tuple[Pointwise, Pointwise]
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    modes: tuple[int, ...] = eqx.field(static=True)
    padding: tuple[int, ...] = eqx.field(static=True)
    grid_features: bool = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    remat: bool = eqx.field(static=True)
    mesh: Mesh | None = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, modes: int | Sequence[int], width: int = 64,
                 n_layers: int = 4, *, dim: int | None = None, lifting: int | None = None,
                 projection: int = 128, channel_mlp: float | None = None, grid_features: bool = True,
                 padding: int | Sequence[int] = 0, activation: str = "gelu",
                 factorization: Factorization | None = None, rank: float = 1.0, remat: bool = False,
                 dtype=None, key: PRNGKeyArray):
        if isinstance(modes, int):
            modes = (modes,) * (dim or 1)
        elif dim is not None and dim != len(modes):
            raise ValueError(f"dim={dim} does not match modes={tuple(modes)} ({len(modes)} axes)")
        modes = tuple(int(m) for m in modes)
        dim = len(modes)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is not one of {sorted(ACTIVATIONS)}")
        if min(in_channels, out_channels, width, n_layers, projection, lifting or 1) < 1:
            raise ValueError("in_channels, out_channels, width, n_layers, projection and lifting must be >= 1")
        padding = (padding,) * dim if isinstance(padding, int) else tuple(int(p) for p in padding)
        if len(padding) != dim or min(padding) < 0:
            raise ValueError(f"padding must be one non-negative int or {dim} of them, got {padding}")
        self.in_channels, self.out_channels, self.modes = in_channels, out_channels, modes
        self.padding, self.grid_features, self.activation = padding, grid_features, activation
        self.remat, self.mesh = bool(remat), None
        kl, ks, kw, km, kp = jax.random.split(key, 5)
        lin = lambda n_in, n_out, k, bias=True: Pointwise(n_in, n_out, bias=bias, dtype=dtype, key=k)
        c0 = in_channels + (dim if grid_features else 0)
        k1, k2 = jax.random.split(kl)
        self.lifting = (lin(c0, lifting, k1), lin(lifting, width, k2)) if lifting else (lin(c0, width, k1),)
        self.spectral = tuple(SpectralConv(width, width, modes, factorization=factorization, rank=rank,
                                           dtype=dtype, key=k) for k in jax.random.split(ks, n_layers))
        self.skips = tuple(lin(width, width, k) for k in jax.random.split(kw, n_layers))
        if channel_mlp is None:
            self.channel_mlps, self.gates = (), ()
        else:
            hidden = max(1, round(width * channel_mlp))
            self.channel_mlps = tuple((lin(width, hidden, k1), lin(hidden, width, k2))
                                      for k1, k2 in jax.random.split(km, (n_layers, 2)))
            self.gates = tuple(jnp.ones((width,), default_dtype(dtype)) for _ in range(n_layers))
        k1, k2 = jax.random.split(kp)
        self.projection = (lin(width, projection, k1), lin(projection, out_channels, k2))

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        dim = len(self.modes)
        if x.ndim != dim + 1 or x.shape[0] != self.in_channels:
            raise ValueError(f"FNO expects input of shape (c_in={self.in_channels}, *grid) with {dim} grid "
                             f"axes, got shape {x.shape}")
        grid = x.shape[1:]
        dft.check_grid(tuple(n + p for n, p in zip(grid, self.padding)), self.modes)
        if self.mesh is not None:
            return self._sharded(x[None], data_axis=None)[0]
        if self.grid_features:
            coords = jnp.meshgrid(*[jnp.arange(n, dtype=x.dtype) / n for n in grid], indexing="ij")
            x = jnp.concatenate([x, jnp.stack(coords)])
        # Channels last inside: under vmap every pointwise map is one matrix product over
        # all points of the batch (see Pointwise).
        v = self._fourier_layers(jnp.moveaxis(x, 0, -1), lambda conv, v: conv.channels_last(v),
                                 pad=[(0, p) for p in self.padding] + [(0, 0)],
                                 crop=tuple(slice(0, n) for n in grid))
        return jnp.moveaxis(v, -1, 0)

    def batch(self, x: Float[Array, "batch c_in *grid"]) -> Float[Array, "batch c_out *grid"]:
        """``jax.vmap(self)(x)`` computed on the whole batch at once: the same numbers, faster.

        Under ``vmap`` the batch axis leads, so every truncated DFT along a grid axis makes
        XLA transpose the activations (and their gradients) first. Here they are laid out
        ``(n_{d-1}, ..., n_0, batch, channels)``: each DFT is one matrix product over a
        leading axis (batched over the modes already kept), mode mixing is one batched
        product over modes, and no activation is transposed. The training step of
        ``scripts/bench/fno.py`` is about 8% faster in 1D on the 2-core CPU (see the README).
        :class:`~pdejax.objectives.operator.OperatorObjective` and the autoregressive objective use it
        through :func:`pdejax.models.apply_batch`. Grids too large for the matrix-product
        DFT fall back to ``jax.vmap(self)``.
        """
        dim = len(self.modes)
        if x.ndim != dim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"FNO.batch expects input of shape (batch, c_in={self.in_channels}, *grid) with "
                             f"{dim} grid axes, got shape {x.shape}")
        grid = x.shape[2:]
        padded = tuple(n + p for n, p in zip(grid, self.padding))
        dft.check_grid(padded, self.modes)
        if self.mesh is not None:  # a batch that does not split over `data` (a last test batch) is replicated
            return self._sharded(x, data_axis=0 if x.shape[0] % axis_size(self.mesh, DATA) == 0 else None)
        if not dft.fits_matmul(padded, self.modes):
            return jax.vmap(self)(x)
        v = jnp.transpose(x, dft.to_reversed_axes(dim))  # (*reversed grid, batch, c_in)
        if self.grid_features:
            coords = jnp.meshgrid(*[jnp.arange(n, dtype=x.dtype) / n for n in grid[::-1]], indexing="ij")
            coords = jnp.stack(coords[::-1], axis=-1)[..., None, :]  # (*reversed grid, 1, dim)
            v = jnp.concatenate([v, jnp.broadcast_to(coords, (*v.shape[:-1], dim))], axis=-1)
        v = self._fourier_layers(v, lambda conv, v: conv.reversed_layout(v),
                                 pad=[(0, p) for p in self.padding[::-1]] + [(0, 0)] * 2,
                                 crop=tuple(slice(0, n) for n in grid[::-1]))
        return jnp.transpose(v, dft.from_reversed_axes(dim))

    def shard(self, mesh: Mesh | None) -> FNO:
        """This model for inputs whose first grid axis is sharded over ``mesh``'s ``space`` axis
        and whose batch is sharded over ``data`` (``None`` undoes it); the parameters are shared.

        Example:
            >>> from pdejax.parallel.mesh import make_mesh
            >>> mesh = make_mesh(data=1, space=2, devices=jax.devices()[:2])
            >>> fno = jax.eval_shape(lambda: FNO(1, 1, modes=(4, 4), width=8, key=jax.random.key(0)))
            >>> jax.eval_shape(lambda fno, x: fno.shard(mesh).batch(x), fno, jnp.zeros((3, 1, 16, 16))).shape
            (3, 1, 16, 16)
        """
        if mesh is not None and SPACE not in mesh.axis_names:
            raise ValueError(f"FNO.shard needs a mesh with a 'space' axis (pdejax.parallel.make_mesh), got axes "
                             f"{mesh.axis_names}")
        new = eqx.tree_at(lambda m: m.spectral, self, tuple(conv.shard(mesh) for conv in self.spectral))
        return _replace_static(new, mesh=mesh)

    def _sharded(self, x, data_axis):
        """``(batch, c_in, *grid)`` → ``(batch, c_out, *grid)`` channels-last inside, grid axis 0
        sharded over ``space`` (the batch over ``data`` when ``data_axis`` is 0)."""
        dim, mesh = len(self.modes), self.mesh
        grid = x.shape[2:]
        padded = tuple(n + p for n, p in zip(grid, self.padding))
        pfft.check_space_grid(grid, mesh, "FNO input")
        pfft.check_space_grid(padded, mesh, f"FNO input padded by {self.padding}")
        if data_axis is not None:
            pfft.check_batch(x.shape[0], mesh, "FNO input batch")
        layout = NamedSharding(mesh, pfft.spec(dim + 2, dim + 1, data_axis, mesh))
        v = jax.lax.with_sharding_constraint(jnp.moveaxis(x, 1, -1), layout)  # (batch, *grid, c_in)
        if self.grid_features:
            coords = jnp.stack(jnp.meshgrid(*[jnp.arange(n, dtype=x.dtype) / n for n in grid], indexing="ij"), -1)
            v = jnp.concatenate([v, jnp.broadcast_to(coords, (*v.shape[:-1], dim))], axis=-1)
        v = self._fourier_layers(v, lambda conv, v: conv.sharded(jax.lax.with_sharding_constraint(v, layout),
                                                                 data_axis),
                                 pad=[(0, 0)] + [(0, p) for p in self.padding] + [(0, 0)],
                                 crop=(slice(None), *(slice(0, n) for n in grid)))
        return jnp.moveaxis(jax.lax.with_sharding_constraint(v, layout), -1, 1)

    def _fourier_layers(self, v, spectral, *, pad, crop):
        """``lift → Fourier layers → project`` on channels-last ``v``; ``spectral(conv, v)``
        applies one :class:`SpectralConv` in ``v``'s layout."""
        act = ACTIVATIONS[self.activation]
        for i, layer in enumerate(self.lifting):
            v = act(layer(v)) if i < len(self.lifting) - 1 else layer(v)
        if any(self.padding):
            v = jnp.pad(v, pad)
        last = len(self.spectral) - 1
        for i, (conv, skip) in enumerate(zip(self.spectral, self.skips)):
            mlp = (self.channel_mlps[i], self.gates[i]) if self.channel_mlps else None

            def layer(conv, skip, mlp, v, final=i == last):
                h = spectral(conv, v) + skip(v)
                if not final:
                    h = act(h)
                if mlp is not None:
                    (fc1, fc2), gate = mlp
                    h = fc2(act(fc1(h))) + gate * v
                    if not final:
                        h = act(h)
                return h

            v = (checkpoint(layer) if self.remat else layer)(conv, skip, mlp, v)
        if any(self.padding):
            v = v[crop]
        fc1, fc2 = self.projection
        return fc2(act(fc1(v)))


@MODELS.register("fno")
def fno(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, modes: list[int] = (16,), width: int = 64,
        n_layers: int = 4, lifting: int | None = None, projection: int = 128, channel_mlp: float | None = None,
        grid_features: bool = True, padding: list[int] | int = 0,
        activation: Literal["tanh", "sin", "gelu", "silu", "softplus"] = "gelu",
        factorization: Literal["tucker", "cp"] | None = None, rank: float = 1.0, remat: bool = False) -> FNO:
    """Fourier Neural Operator (Li et al. 2021); ``len(modes)`` grid axes; ``remat``: recompute
    each Fourier layer in the backward pass (less memory)."""
    return FNO(in_size, out_size, tuple(modes), width, n_layers, lifting=lifting, projection=projection,
               channel_mlp=channel_mlp, grid_features=grid_features,
               padding=padding if isinstance(padding, int) else tuple(padding), activation=activation,
               factorization=factorization, rank=rank, remat=remat, dtype=dtype, key=key)
