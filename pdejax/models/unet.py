"""U-Net baseline for fields on 1D, 2D and 3D grids (Ronneberger et al. 2015, as in PDEArena/PDEBench)."""

from __future__ import annotations

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .registry import MODELS
from .remat import checkpoint

_PADDING_MODES = {"zeros": "ZEROS", "circular": "CIRCULAR"}


class _ConvBlock(eqx.Module):
    """Two 3-point convolutions, each followed by GELU; the grid size is kept."""

    conv1: eqx.nn.Conv
    conv2: eqx.nn.Conv

    def __init__(self, dim: int, c_in: int, c_out: int, padding_mode: str, *, key: PRNGKeyArray, dtype):
        k1, k2 = jax.random.split(key)
        mode = _PADDING_MODES[padding_mode]
        self.conv1 = eqx.nn.Conv(dim, c_in, c_out, 3, padding=1, padding_mode=mode, dtype=dtype, key=k1)
        self.conv2 = eqx.nn.Conv(dim, c_out, c_out, 3, padding=1, padding_mode=mode, dtype=dtype, key=k2)

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        return jax.nn.gelu(self.conv2(jax.nn.gelu(self.conv1(x))))


class UNet(eqx.Module):
    """U-Net on one field ``(c_in, *grid)`` → ``(c_out, *grid)``, for ``dim`` = 1, 2 or 3.

    Level ``i`` (``i = 0..levels-1``) has ``width * 2**i`` channels: a block of two
    convolutions + GELU, then a stride-2 convolution with kernel 2 halves the grid. The
    bottleneck has ``width * 2**levels`` channels. On the way up, a stride-2 transposed
    convolution with kernel 2 doubles the grid, the level's encoder output is
    concatenated (skip connection), and another block follows; a 1x1 convolution maps
    to ``c_out``. Each grid size must be divisible by ``2**levels``; any such size works
    with the same weights.

    With ``padding_mode="circular"`` (periodic fields) the network commutes with
    circular shifts by multiples of ``2**levels`` points: down- and upsampling use no
    padding and the 3-point convolutions wrap around.

    Args:
        in_channels, out_channels: channels ``c_in`` and ``c_out``.
        dim: number of spatial dimensions (1, 2 or 3).
        width: channels of the first level.
        levels: number of down/up-sampling steps.
        padding_mode: ``"zeros"`` (non-periodic) or ``"circular"`` (periodic).
        remat: recompute each convolution block in the backward pass instead of keeping
            its activations (:func:`pdejax.models.remat.checkpoint`): less memory, about one
            more forward pass; reverse-mode derivatives only.
        key: PRNG key (keyword-only).
        dtype: parameter dtype (default: JAX's default float).

    Example:
        >>> # jax.eval_shape: shapes only, nothing is initialised or compiled
        >>> net = jax.eval_shape(lambda: UNet(1, 1, dim=2, width=16, levels=3, key=jax.random.key(0)))
        >>> jax.eval_shape(lambda net, x: net(x), net, jnp.zeros((1, 64, 64))).shape
        (1, 64, 64)
    """

    encoder: tuple[_ConvBlock, ...]
    down: tuple[eqx.nn.Conv, ...]
    bottleneck: _ConvBlock
    up: tuple[eqx.nn.ConvTranspose, ...]
    decoder: tuple[_ConvBlock, ...]
    head: eqx.nn.Conv
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    levels: int = eqx.field(static=True)
    padding_mode: str = eqx.field(static=True)
    remat: bool = eqx.field(static=True)

    def __init__(self, in_channels: int, out_channels: int, dim: int, width: int = 32, levels: int = 3,
                 padding_mode: Literal["zeros", "circular"] = "zeros", *, remat: bool = False, key: PRNGKeyArray,
                 dtype=None):
        if dim not in (1, 2, 3):
            raise ValueError(f"dim must be 1, 2 or 3, got {dim}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode {padding_mode!r} is not one of {sorted(_PADDING_MODES)}")
        if in_channels < 1 or out_channels < 1 or width < 1 or levels < 0:
            raise ValueError(f"need in_channels, out_channels, width >= 1 and levels >= 0, got {in_channels}, "
                             f"{out_channels}, {width}, {levels}")
        dtype = dtype or jnp.zeros(()).dtype
        widths = [width * 2**i for i in range(levels + 1)]
        keys = iter(jax.random.split(key, 4 * levels + 2))
        encoder, down, up, decoder = [], [], [], []
        c_prev = in_channels
        for i in range(levels):
            encoder.append(_ConvBlock(dim, c_prev, widths[i], padding_mode, key=next(keys), dtype=dtype))
            down.append(eqx.nn.Conv(dim, widths[i], widths[i], 2, stride=2, dtype=dtype, key=next(keys)))
            up.append(eqx.nn.ConvTranspose(dim, widths[i + 1], widths[i], 2, stride=2, dtype=dtype, key=next(keys)))
            decoder.append(_ConvBlock(dim, 2 * widths[i], widths[i], padding_mode, key=next(keys), dtype=dtype))
            c_prev = widths[i]
        self.encoder, self.down = tuple(encoder), tuple(down)
        self.up, self.decoder = tuple(up), tuple(decoder)
        self.bottleneck = _ConvBlock(dim, c_prev, widths[levels], padding_mode, key=next(keys), dtype=dtype)
        self.head = eqx.nn.Conv(dim, widths[0], out_channels, 1, dtype=dtype, key=next(keys))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.dim, self.levels, self.padding_mode = dim, levels, padding_mode
        self.remat = bool(remat)

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        """The output fields on the input's grid, ``(c_out, *grid)``."""
        self._check_input(x)
        run = _run_checkpointed if self.remat else _run
        skips = []
        for block, down in zip(self.encoder, self.down):
            x = run(block, x)
            skips.append(x)
            x = down(x)
        x = run(self.bottleneck, x)
        for i in reversed(range(self.levels)):
            x = run(self.decoder[i], jnp.concatenate([self.up[i](x), skips[i]], axis=0))
        return self.head(x)

    def _check_input(self, x: Array) -> None:
        if x.ndim != self.dim + 1 or x.shape[0] != self.in_channels:
            raise ValueError(f"UNet input must have shape (c_in, *grid) with c_in = {self.in_channels} and "
                             f"{self.dim} grid axes, got {x.shape}")
        stride = 2**self.levels
        if any(n % stride for n in x.shape[1:]):
            raise ValueError(f"UNet grid {x.shape[1:]} must be divisible by 2**levels = {stride} on every axis "
                             f"(levels = {self.levels})")


def _run(block: _ConvBlock, x: Array) -> Array:
    return block(x)


_run_checkpointed = checkpoint(_run)


@MODELS.register("unet")
def unet(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, dim: int, width: int = 32,
         levels: int = 3, padding_mode: Literal["zeros", "circular"] = "zeros", remat: bool = False) -> UNet:
    """U-Net (conv blocks, stride-2 down/up-sampling, skip connections) for 1D/2D/3D fields; ``remat``:
    recompute each block in the backward pass (less memory)."""
    return UNet(in_size, out_size, dim, width, levels, padding_mode, remat=remat, key=key, dtype=dtype)
