"""Flax networks used by the tests as users' own modules (``model: {name: flax, module: <this file>:Name}``).

Imported only by path (``pdejax.config.plugins.import_extensions``) when flax is installed.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx


class NNXMLP(nnx.Module):
    """A tanh MLP ``(in_size,) -> (out_size,)``, Glorot-normal weights as pdejax's MLP."""

    def __init__(self, in_size: int, out_size: int, *, width: int = 8, depth: int = 2, rngs: nnx.Rngs):
        init = nnx.initializers.glorot_normal()
        sizes = [in_size] + [width] * depth + [out_size]
        self.layers = nnx.List([nnx.Linear(a, b, kernel_init=init, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])])

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = jnp.tanh(layer(x))
        return self.layers[-1](x)


class NNXNormed(nnx.Module):
    """An MLP with a non-trainable running statistic (BatchNorm in inference mode)."""

    def __init__(self, in_size: int, out_size: int, *, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(in_size, 8, rngs=rngs)
        self.norm = nnx.BatchNorm(8, use_running_average=True, rngs=rngs)
        self.out = nnx.Linear(8, out_size, rngs=rngs)

    def __call__(self, x):
        return self.out(jnp.tanh(self.norm(self.hidden(x))))


class LinenMLP(nn.Module):
    """A tanh MLP in Linen; ``out_size`` is filled in by the adapter."""

    out_size: int
    width: int = 8
    depth: int = 2

    @nn.compact
    def __call__(self, x):
        for _ in range(self.depth):
            x = jnp.tanh(nn.Dense(self.width, kernel_init=nn.initializers.glorot_normal())(x))
        return nn.Dense(self.out_size)(x)


def _even(x):
    if x.shape[-1] % 2:
        raise ValueError(f"grid of {x.shape[-1]} points: these operators need an even number")


class NNXConvOperator(nnx.Module):
    """A small convolutional operator on one sample, channels first: ``(in_size, n) -> (out_size, n)``,
    circular padding (any even ``n``)."""

    def __init__(self, in_size: int, out_size: int, *, width: int = 8, rngs: nnx.Rngs):
        self.lift = nnx.Conv(in_size, width, kernel_size=(3,), padding="CIRCULAR", rngs=rngs)
        self.project = nnx.Conv(width, out_size, kernel_size=(1,), rngs=rngs)

    def __call__(self, x):
        _even(x)
        return self.project(jnp.tanh(self.lift(x.T))).T  # Flax convolutions are channels last


class LinenConvOperator(nn.Module):
    """The Linen version of :class:`NNXConvOperator` (its input shape comes from ``model.input_shape``)."""

    out_size: int
    width: int = 8

    @nn.compact
    def __call__(self, x):
        _even(x)
        y = jnp.tanh(nn.Conv(self.width, kernel_size=(3,), padding="CIRCULAR")(x.T))
        return nn.Conv(self.out_size, kernel_size=(1,))(y).T


def nnx_mlp(in_size: int, out_size: int, *, rngs: nnx.Rngs, width: int = 8) -> NNXMLP:
    """A factory function instead of a class."""
    return NNXMLP(in_size, out_size, width=width, depth=1, rngs=rngs)


def not_a_module(in_size: int, out_size: int):
    """Returns something that is not a Flax module."""
    return jax.nn.tanh
