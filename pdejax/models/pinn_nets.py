"""Pointwise PINN networks beyond the plain MLP: Fourier-feature MLP and modified (gated) MLP."""

from __future__ import annotations

import equinox as eqx
import jax
from jaxtyping import Array, Float, PRNGKeyArray

from .layers import FourierFeatures, glorot_layers
from .mlp import ACTIVATIONS, MLP


def optional_embedding(in_size: int, n_features: int, sigma: float, *, key: PRNGKeyArray,
                       dtype=None) -> tuple[FourierFeatures | None, int]:
    """A Fourier feature embedding of ``n_features`` (``None`` for 0) and the size the
    next layer sees."""
    if n_features < 0:
        raise ValueError(f"n_features must be >= 0 (0: no Fourier embedding), got {n_features}")
    if not n_features:
        return None, in_size
    embedding = FourierFeatures(in_size, n_features, sigma, key=key, dtype=dtype)
    return embedding, embedding.out_size


def check_sizes(**sizes: int) -> None:
    """A ValueError naming every size below 1."""
    bad = {k: v for k, v in sizes.items() if v < 1}
    if bad:
        raise ValueError("sizes must be >= 1, got " + ", ".join(f"{k}={v}" for k, v in bad.items()))


def check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation {activation!r} is not one of {sorted(ACTIVATIONS)}")


class FourierMLP(eqx.Module):
    """An MLP on random Fourier features: ``x ↦ MLP([cos(Bx), sin(Bx)])``, ``B ~ N(0, σ²)``.

    Fourier features let a network fit high frequencies that a plain MLP learns very
    slowly (spectral bias; Tancik et al. 2020, Wang, Wang & Perdikaris 2021). ``B`` is
    frozen (see :class:`pdejax.models.FourierFeatures`).

    Args:
        in_size, out_size: input and output sizes.
        width, depth, activation: as for :class:`pdejax.models.MLP`.
        n_features: rows of ``B`` (the MLP sees ``2 * n_features`` inputs).
        sigma: standard deviation of ``B``.
        key: PRNG key (keyword-only).

    Example:
        >>> import jax.numpy as jnp
        >>> net = jax.eval_shape(lambda: FourierMLP(2, 1, width=16, depth=2, n_features=8, key=jax.random.key(0)))
        >>> jax.eval_shape(lambda net, x: jax.vmap(net)(x), net, jnp.zeros((5, 2))).shape
        (5, 1)
    """

    embedding: FourierFeatures
    mlp: MLP

    def __init__(self, in_size: int, out_size: int, width: int = 64, depth: int = 4, activation: str = "tanh",
                 n_features: int = 64, sigma: float = 1.0, *, key: PRNGKeyArray, dtype=None):
        check_sizes(width=width, depth=depth, n_features=n_features)
        k_emb, k_mlp = jax.random.split(key)
        self.embedding = FourierFeatures(in_size, n_features, sigma, key=k_emb, dtype=dtype)
        # MLP's own Glorot-normal initialisation, drawn at once (see pdejax.models.layers.normal_arrays)
        mlp = eqx.filter_eval_shape(MLP, self.embedding.out_size, out_size, width, depth, activation, key=k_mlp,
                                    dtype=dtype)
        sizes = [(layer.in_features, layer.out_features) for layer in mlp.layers]
        self.mlp = eqx.tree_at(lambda m: m.layers, mlp, tuple(glorot_layers(sizes, key=k_mlp, dtype=dtype)))

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        return self.mlp(self.embedding(x))


class ModifiedMLP(eqx.Module):
    """The modified MLP of Wang, Teng & Perdikaris (2021): two encoders gate every layer.

    ``U = σ(W_u x + b_u)``, ``V = σ(W_v x + b_v)``, ``H = x``; for each of ``depth``
    layers ``Z = σ(W_k H + b_k)``, ``H ← (1 - Z) ⊙ U + Z ⊙ V``; the output is
    ``W H + b``. With ``n_features > 0`` the input first goes through random Fourier
    features (``x ← [cos(Bx), sin(Bx)]``, ``B`` frozen).

    Args:
        in_size, out_size: input and output sizes.
        width: hidden width (also that of ``U`` and ``V``).
        depth: number of gated hidden layers.
        activation: as for :class:`pdejax.models.MLP`.
        n_features, sigma: Fourier embedding (``n_features = 0``: none).
        key: PRNG key (keyword-only).

    Example:
        >>> import jax.numpy as jnp
        >>> net = jax.eval_shape(lambda: ModifiedMLP(3, 2, width=16, depth=3, key=jax.random.key(0)))
        >>> jax.eval_shape(lambda net, x: net(x), net, jnp.zeros(3)).shape
        (2,)
    """

    embedding: FourierFeatures | None
    encoder_u: eqx.nn.Linear
    encoder_v: eqx.nn.Linear
    layers: tuple[eqx.nn.Linear, ...]
    output: eqx.nn.Linear
    activation: str = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int, width: int = 64, depth: int = 4, activation: str = "tanh",
                 n_features: int = 0, sigma: float = 1.0, *, key: PRNGKeyArray, dtype=None):
        check_sizes(width=width, depth=depth)
        check_activation(activation)
        k_emb, k_dense = jax.random.split(key)
        self.embedding, n_in = optional_embedding(in_size, n_features, sigma, key=k_emb, dtype=dtype)
        sizes = [(n_in, width), (n_in, width), (width, out_size)] + [(n_in if i == 0 else width, width)
                                                                     for i in range(depth)]
        dense = glorot_layers(sizes, key=k_dense, dtype=dtype)
        self.encoder_u, self.encoder_v, self.output = dense[:3]
        self.layers = tuple(dense[3:])
        self.activation = activation

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        act = ACTIVATIONS[self.activation]
        if self.embedding is not None:
            x = self.embedding(x)
        u, v = act(self.encoder_u(x)), act(self.encoder_v(x))
        h = x
        for layer in self.layers:
            z = act(layer(h))
            h = (1 - z) * u + z * v
        return self.output(h)
