"""Multilayer perceptrons for PINNs: plain, and with random Fourier features."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "sin": jnp.sin,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "softplus": jax.nn.softplus,
}


class MLP(eqx.Module):
    """Fully connected network ``R^in → R^out`` on one input vector.

    Weights use Glorot-normal initialisation (the PINN standard) and zero biases.

    Args:
        in_size, out_size: input and output sizes.
        width: hidden layer width.
        depth: number of hidden layers.
        activation: one of ``tanh``, ``sin``, ``gelu``, ``silu``, ``softplus``.
        key: PRNG key (keyword-only).

    Example:
        >>> # jax.eval_shape: shapes only, nothing is initialised or compiled
        >>> net = jax.eval_shape(lambda: MLP(2, 1, width=32, depth=4, key=jax.random.key(0)))
        >>> jax.eval_shape(lambda net, x: net(x), net, jnp.zeros(2)).shape
        (1,)
        >>> jax.eval_shape(lambda net, x: jax.vmap(net)(x), net, jnp.zeros((5, 2))).shape  # one point per call
        (5, 1)
    """

    layers: tuple[eqx.nn.Linear, ...]
    activation: str = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int, width: int = 64, depth: int = 4,
                 activation: str = "tanh", *, key: PRNGKeyArray, dtype=None):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is not one of {sorted(ACTIVATIONS)}")
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
        sizes = [in_size] + [width] * depth + [out_size]
        keys = jax.random.split(key, len(sizes) - 1)
        dtype = dtype or jnp.zeros(()).dtype
        layers = []
        for k, (n_in, n_out) in zip(keys, zip(sizes[:-1], sizes[1:])):
            std = (2.0 / (n_in + n_out)) ** 0.5
            lin = eqx.nn.Linear(n_in, n_out, key=k, dtype=dtype)
            lin = eqx.tree_at(lambda m: (m.weight, m.bias), lin,
                              (std * jax.random.normal(k, (n_out, n_in), dtype), jnp.zeros((n_out,), dtype)))
            layers.append(lin)
        self.layers = tuple(layers)
        self.activation = activation

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        act = ACTIVATIONS[self.activation]
        for layer in self.layers[:-1]:
            x = act(layer(x))
        return self.layers[-1](x)
