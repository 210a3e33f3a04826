"""Fourier Neural Operator (Li et al. 2021) and its spectral convolution, in 1D, 2D and 3D.

The FNO learns a map between functions sampled on a regular grid. Each Fourier layer
multiplies the lowest Fourier modes of its input by learned complex matrices and adds a
pointwise linear map; because the learned weights live on Fourier modes rather than
grid points, one model runs at any resolution.

Kept modes are counted as in the paper's code: ``modes=16`` keeps rfft modes ``0..15`` on
the last axis and frequencies ``-16..15`` (the corners ``weights1..weights4``) on the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .mlp import ACTIVATIONS
from .registry import MODELS

Factorization = Literal["tucker", "cp"]


def _default_dtype(dtype):
    return dtype or jnp.zeros(()).dtype


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

    Example::

        conv = SpectralConv(3, 8, (12, 12), key=jax.random.key(0))
        conv(jnp.zeros((3, 64, 48))).shape  # (8, 64, 48)
    """

    weights: tuple[Float[Array, "..."], ...]
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    modes: tuple[int, ...] = eqx.field(static=True)
    factorization: Factorization | None = eqx.field(static=True)

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
        dtype = _default_dtype(dtype)
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
        return tuple(2 * m for m in self.modes[:-1]) + (self.modes[-1],)

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
        _check_grid(grid, self.modes)
        coeffs = _mix_modes(_forward_modes(x, self.modes), self.dense_weight())
        return _inverse_modes(coeffs, grid, self.modes)

    def batch(self, x: Float[Array, "batch c_in *grid"]) -> Float[Array, "batch c_out *grid"]:
        """``jax.vmap(self)(x)``, computed on the whole batch at once (see :meth:`FNO.batch`)."""
        dim = len(self.modes)
        if x.ndim != dim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"SpectralConv.batch expects input of shape (batch, c_in={self.in_channels}, *grid) "
                             f"with {dim} grid axes, got shape {x.shape}")
        _check_grid(x.shape[2:], self.modes)
        if not _use_matmul(x.shape[2:], self.modes):
            return jax.vmap(self)(x)
        v = jnp.transpose(x, _to_reversed(dim))
        return jnp.transpose(self.reversed_layout(v), _from_reversed(dim))

    def reversed_layout(self, v: Float[Array, "*rev_grid batch c_in"]) -> Float[Array, "*rev_grid batch c_out"]:
        """The map on a batch laid out ``(n_{d-1}, ..., n_0, batch, c_in)`` (grid axes reversed).

        Used by :meth:`FNO.batch`; grids must be small enough for the matrix-product DFT.
        """
        dim = len(self.modes)
        grid = v.shape[:dim][::-1]
        z = _forward_reversed(v, grid, self.modes)
        return _inverse_reversed(_mix_reversed(z, self.dense_weight()), grid, self.modes)


class Pointwise(eqx.Module):
    """A 1x1 convolution on channels-last input: the same affine map at every grid point.

    PyTorch's ``Conv1d`` initialisation, ``U(-1/sqrt(c_in), 1/sqrt(c_in))``, as the paper.
    """

    weight: Float[Array, "c_out c_in"]
    bias: Float[Array, " c_out"] | None

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool = True, dtype=None,
                 key: PRNGKeyArray):
        dtype = _default_dtype(dtype)
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
        dtype: floating dtype of the parameters (default: JAX's default float).
        key: PRNG key (keyword-only).

    Example::

        fno = FNO(1, 1, modes=(16,), width=64, key=jax.random.key(0))
        fno(jnp.zeros((1, 1024))).shape  # (1, 1024)
        batch = jax.vmap(fno)(jnp.zeros((20, 1, 256)))  # any resolution with >= 30 points
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

    def __init__(self, in_channels: int, out_channels: int, modes: int | Sequence[int], width: int = 64,
                 n_layers: int = 4, *, dim: int | None = None, lifting: int | None = None,
                 projection: int = 128, channel_mlp: float | None = None, grid_features: bool = True,
                 padding: int | Sequence[int] = 0, activation: str = "gelu",
                 factorization: Factorization | None = None, rank: float = 1.0, dtype=None,
                 key: PRNGKeyArray):
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
            self.gates = tuple(jnp.ones((width,), _default_dtype(dtype)) for _ in range(n_layers))
        k1, k2 = jax.random.split(kp)
        self.projection = (lin(width, projection, k1), lin(projection, out_channels, k2))

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        dim = len(self.modes)
        if x.ndim != dim + 1 or x.shape[0] != self.in_channels:
            raise ValueError(f"FNO expects input of shape (c_in={self.in_channels}, *grid) with {dim} grid "
                             f"axes, got shape {x.shape}")
        grid = x.shape[1:]
        _check_grid(tuple(n + p for n, p in zip(grid, self.padding)), self.modes)
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
        _check_grid(padded, self.modes)
        if not _use_matmul(padded, self.modes):
            return jax.vmap(self)(x)
        v = jnp.transpose(x, _to_reversed(dim))  # (*reversed grid, batch, c_in)
        if self.grid_features:
            coords = jnp.meshgrid(*[jnp.arange(n, dtype=x.dtype) / n for n in grid[::-1]], indexing="ij")
            coords = jnp.stack(coords[::-1], axis=-1)[..., None, :]  # (*reversed grid, 1, dim)
            v = jnp.concatenate([v, jnp.broadcast_to(coords, (*v.shape[:-1], dim))], axis=-1)
        v = self._fourier_layers(v, lambda conv, v: conv.reversed_layout(v),
                                 pad=[(0, p) for p in self.padding[::-1]] + [(0, 0)] * 2,
                                 crop=tuple(slice(0, n) for n in grid[::-1]))
        return jnp.transpose(v, _from_reversed(dim))

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
            h = spectral(conv, v) + skip(v)
            if i < last:
                h = act(h)
            if self.channel_mlps:
                fc1, fc2 = self.channel_mlps[i]
                h = fc2(act(fc1(h))) + self.gates[i] * v
                if i < last:
                    h = act(h)
            v = h
        if any(self.padding):
            v = v[crop]
        fc1, fc2 = self.projection
        return fc2(act(fc1(v)))


def _check_grid(grid: tuple[int, ...], modes: tuple[int, ...]) -> None:
    need = tuple(2 * m for m in modes[:-1]) + (max(1, 2 * modes[-1] - 2),)
    if any(n < k for n, k in zip(grid, need)):
        raise ValueError(f"grid {grid} is too coarse for modes {modes}: the axes need at least {need} points "
                         "(2*modes on every axis but the last; on the last, n//2 + 1 >= modes rfft modes)")


# Truncated transforms. Only the kept modes are computed: as matrix products with the
# (n, 2m) DFT bases when they are small, else with FFTs. On XLA:CPU (2-core AMD
# EPYC, training step of scripts/bench/fno.py, batch 20) the products beat rfft/irfft
# (computing all n//2+1 modes, then padding them back): 10-20% less CPU time for the
# whole step in 1D at 256, 1024 and 4096 points with 16 modes; in 2D (64x64, 12x12
# modes) 20-25% less time for the spectral convolutions.
_MAX_BASIS = 2**19  # entries of one DFT basis; larger axes use the FFT


def _use_matmul(grid, modes) -> bool:
    return all(n * 2 * m <= _MAX_BASIS for n, m in zip(grid, modes))


def _contract(basis, x, axis: int):
    """Contract ``x``'s ``axis`` with ``basis``'s first axis; the new axis goes in front."""
    return jax.lax.dot_general(basis, x, (((0,), (axis,)), ((), ())))


def _forward_modes(x, modes):
    """Kept Fourier coefficients of channels-last ``x: (*grid, c)``: complex ``(*kept, c)``.

    The same numbers as ``rfftn`` (unnormalised) restricted to the kept modes, computed
    one axis at a time on the kept modes only: the last grid axis (``m`` rfft modes),
    then the others from last to first (frequencies ``0..m-1`` and ``-m..-1``). Each
    product puts its mode axis in front, so the next grid axis is always at ``d - 1``
    and the modes end up in grid order, channels last.
    """
    grid = x.shape[:-1]
    d = len(grid)
    if not _use_matmul(grid, modes):
        return _keep_corners(jnp.fft.rfftn(x, axes=tuple(range(d))), grid, modes)
    cos, sin = _real_basis(grid[-1], modes[-1])
    z = _contract(jnp.asarray(np.concatenate([cos, -sin], axis=1), x.dtype), x, d - 1)
    z = jax.lax.complex(z[: modes[-1]], z[modes[-1]:])
    for axis in range(d - 2, -1, -1):
        z = _contract(jnp.asarray(_complex_basis(grid[axis], modes[axis]), z.dtype), z, d - 1)
    return z


def _inverse_modes(z, grid, modes):
    """Inverse of :func:`_forward_modes`, zeros for the truncated modes: real ``(*grid, c)``.

    The last axis first (complex, with ``irfft``'s weights: the zero and Nyquist modes
    once, the others twice, for their mirror images), then the others from last to
    first; only the real part of the final product is formed.
    """
    d = len(grid)
    if not _use_matmul(grid, modes):
        return jnp.fft.irfftn(_embed_corners(z, grid, modes), s=grid, axes=tuple(range(d)))
    for axis in range(d - 1, -1, -1):
        n, m = grid[axis], modes[axis]
        basis = (_inverse_rfft_basis(n, m) if axis == d - 1 else _inverse_basis(n, m)).T  # (kept, n)
        if axis > 0:
            z = _contract(jnp.asarray(basis, z.dtype), z, d - 1)
        else:  # Re(basis . z) = basis.real . z.real - basis.imag . z.imag, as one real product
            both = np.concatenate([basis.real, -basis.imag])
            parts = jnp.concatenate([z.real, z.imag], axis=d - 1)
            z = _contract(jnp.asarray(both, parts.dtype), parts, d - 1)
    return z


# The same transforms on a batch laid out (n_{d-1}, ..., n_0, batch, channels), for
# FNO.batch. Complex numbers are kept as real arrays with a leading (real, imag) axis, so
# every product is a real matrix product. Grid axis d-1 (rfft) is transformed first as one
# product over the leading axis; each further axis is then the next leading axis after the
# modes already kept, a product batched over them (the bases, broadcast over those few
# modes, are small).


def _to_reversed(d: int) -> tuple[int, ...]:
    """Axis order taking ``(batch, c, n_0, ..., n_{d-1})`` to ``(n_{d-1}, ..., n_0, batch, c)``."""
    return (*range(d + 1, 1, -1), 0, 1)


def _from_reversed(d: int) -> tuple[int, ...]:
    """Inverse of :func:`_to_reversed`."""
    return (d, d + 1, *range(d - 1, -1, -1))


def _batched_product(basis, z, n_batch: int):
    """``basis (k, n)`` times ``z``'s axis ``n_batch``, batched over ``z``'s first ``n_batch`` axes."""
    if n_batch == 0:
        return (basis @ z.reshape(z.shape[0], -1)).reshape(basis.shape[0], *z.shape[1:])
    lead = tuple(range(n_batch))
    basis = jnp.broadcast_to(basis, z.shape[:n_batch] + basis.shape)
    return jax.lax.dot_general(basis, z, (((n_batch + 1,), (n_batch,)), (lead, lead)))


def _complex_product(basis: np.ndarray, z, axis: int):
    """Complex ``basis (k, n)`` times complex ``z = (2, ...)`` (real, imag) along ``z``'s ``axis``
    (``axis`` >= 1; the axes between 0 and ``axis`` are batch axes): two real products."""
    k = basis.shape[0]
    both = jnp.asarray(np.concatenate([basis.real, basis.imag]), z.dtype)  # (2k, n)
    out = _batched_product(both, z, axis)  # (2, ..., 2k, ...)
    rows = lambda a, half: jax.lax.slice_in_dim(a, half * k, (half + 1) * k, axis=axis - 1)  # noqa: E731
    real = rows(out[0], 0) - rows(out[1], 1)  # Br zr - Bi zi
    imag = rows(out[1], 0) + rows(out[0], 1)  # Br zi + Bi zr
    return jnp.stack([real, imag])


def _forward_reversed(v, grid, modes):
    """Kept coefficients of ``v: (n_{d-1}, ..., n_0, b, c)`` as ``(2, m_{d-1}, 2m_{d-2}, ..., 2m_0, b, c)``."""
    d = len(grid)
    cos, sin = _real_basis(grid[-1], modes[-1])
    z = _batched_product(jnp.asarray(np.concatenate([cos, -sin], axis=1).T, v.dtype), v, 0)
    z = z.reshape(2, modes[-1], *v.shape[1:])
    for j, axis in enumerate(range(d - 2, -1, -1), start=1):
        z = _complex_product(_complex_basis(grid[axis], modes[axis]).T, z, j + 1)
    return z


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


def _inverse_reversed(z, grid, modes):
    """Inverse of :func:`_forward_reversed` (zeros for truncated modes): real ``(n_{d-1}, ..., n_0, b, c)``."""
    d = len(grid)
    for j, axis in reversed(list(enumerate(range(d - 2, -1, -1), start=1))):
        z = _complex_product(_inverse_basis(grid[axis], modes[axis]), z, j + 1)
    n, m = grid[-1], modes[-1]
    basis = _inverse_rfft_basis(n, m)
    both = jnp.asarray(np.concatenate([basis.real, -basis.imag], axis=1), z.dtype)  # (n, 2m)
    return _batched_product(both, z.reshape(2 * m, *z.shape[2:]), 0)


def _keep_corners(xf, grid, modes):
    """``(*kept, c)`` from a channels-last ``rfftn``: low and negative frequencies."""
    xf = xf[(*[slice(None)] * (len(grid) - 1), slice(0, modes[-1]))]
    for axis, (n, m) in enumerate(zip(grid[:-1], modes[:-1])):
        xf = jnp.concatenate([jax.lax.slice_in_dim(xf, 0, m, axis=axis),
                              jax.lax.slice_in_dim(xf, n - m, n, axis=axis)], axis=axis)
    return xf


def _embed_corners(z, grid, modes):
    """Inverse of :func:`_keep_corners`: the full ``rfftn`` shape, zeros elsewhere."""
    for axis, (n, m) in enumerate(zip(grid[:-1], modes[:-1])):
        zeros = jnp.zeros(z.shape[:axis] + (n - 2 * m,) + z.shape[axis + 1:], z.dtype)
        z = jnp.concatenate([jax.lax.slice_in_dim(z, 0, m, axis=axis), zeros,
                             jax.lax.slice_in_dim(z, m, 2 * m, axis=axis)], axis=axis)
    pad = [(0, 0)] * z.ndim
    pad[len(grid) - 1] = (0, grid[-1] // 2 + 1 - modes[-1])
    return jnp.pad(z, pad)


def _real_basis(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``cos`` and ``sin`` of ``2 pi k t / n``, shapes ``(n, m)``, in float64."""
    angle = 2 * np.pi * np.outer(np.arange(n), np.arange(m)) / n
    return np.cos(angle), np.sin(angle)


def _inverse_rfft_basis(n: int, m: int) -> np.ndarray:
    """``irfft`` restricted to rfft modes ``0..m-1``, ``(n, m)``: ``Re(basis @ z)`` is the signal
    (the zero and Nyquist modes count once, the others twice, for their mirror images)."""
    freqs = np.arange(m)
    scale = np.where((freqs == 0) | (2 * freqs == n), 1.0, 2.0) / n
    return scale * np.exp(2j * np.pi * np.outer(np.arange(n), freqs) / n)


def _inverse_basis(n: int, m: int) -> np.ndarray:
    """Inverse DFT from frequencies ``0..m-1, -m..-1``, shape ``(n, 2m)``."""
    return np.exp(2j * np.pi * np.outer(np.arange(n), np.r_[0:m, -m:0]) / n) / n


def _complex_basis(n: int, m: int) -> np.ndarray:
    """``exp(-2 pi i f t / n)`` for frequencies ``f = 0..m-1, -m..-1``, shape ``(n, 2m)``."""
    freqs = np.r_[0:m, -m:0]
    return np.exp(-2j * np.pi * np.outer(np.arange(n), freqs) / n)


def _mix_modes(coeffs, weight):
    """``out[k, o] = sum_i coeffs[k, i] w[k, i, o]`` for every kept mode ``k`` (complex).

    Modes-major coefficients and weights make this one batched matrix product over
    modes; under vmap each mode is one ``(batch, c_in) @ (c_in, c_out)`` product.
    """
    kept, c_in = coeffs.shape[:-1], coeffs.shape[-1]
    w = jax.lax.complex(weight[0], weight[1]).reshape(-1, c_in, weight.shape[-1])
    out = jnp.einsum("ki,kio->ko", coeffs.reshape(-1, c_in), w)
    return out.reshape(*kept, -1)


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


@MODELS.register("fno")
def fno(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, modes: list[int] = (16,), width: int = 64,
        n_layers: int = 4, lifting: int | None = None, projection: int = 128, channel_mlp: float | None = None,
        grid_features: bool = True, padding: list[int] | int = 0,
        activation: Literal["tanh", "sin", "gelu", "silu", "softplus"] = "gelu",
        factorization: Literal["tucker", "cp"] | None = None, rank: float = 1.0) -> FNO:
    """Fourier Neural Operator (Li et al. 2021); ``len(modes)`` grid axes."""
    return FNO(in_size, out_size, tuple(modes), width, n_layers, lifting=lifting, projection=projection,
               channel_mlp=channel_mlp, grid_features=grid_features,
               padding=padding if isinstance(padding, int) else tuple(padding), activation=activation,
               factorization=factorization, rank=rank, dtype=dtype, key=key)
