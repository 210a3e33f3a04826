"""PirateNet: physics-informed residual adaptive network (Wang, Sankaran, Wang & Perdikaris 2024)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .layers import FourierFeatures, RWFLinear, glorot_layers
from .mlp import ACTIVATIONS
from .pinn_nets import check_activation, check_sizes, optional_embedding

LEAST_SQUARES_MODES = (True, False, "all_times", "initial_time")
"""Values of ``least_squares_init`` (``True`` is ``"all_times"``)."""


class PirateBlock(eqx.Module):
    """One adaptive residual block of :class:`PirateNet` on ``x`` of size ``n``.

    ``f = σ(W1 x + b1)``, ``z1 = f ⊙ U + (1 - f) ⊙ V``, ``g = σ(W2 z1 + b2)``,
    ``z2 = g ⊙ U + (1 - g) ⊙ V``, ``h = σ(W3 z2 + b3)``, output ``α h + (1 - α) x``
    with a trainable scalar ``α`` initialised to 0 (the block starts as the identity).
    """

    dense1: eqx.nn.Linear
    dense2: eqx.nn.Linear
    dense3: eqx.nn.Linear
    alpha: Float[Array, ""]

    def __init__(self, dense1: eqx.nn.Linear, dense2: eqx.nn.Linear, dense3: eqx.nn.Linear):
        """From its layers ``n → width``, ``width → width``, ``width → n``; ``α = 0``."""
        self.dense1, self.dense2, self.dense3 = dense1, dense2, dense3
        self.alpha = jnp.asarray(0.0, dense1.weight.dtype)

    def __call__(self, x: Float[Array, " n"], u: Float[Array, " w"], v: Float[Array, " w"], activation: str):
        act = ACTIVATIONS[activation]
        f = act(self.dense1(x))
        z = f * u + (1 - f) * v
        g = act(self.dense2(z))
        z = g * u + (1 - g) * v
        h = act(self.dense3(z))
        return self.alpha * h + (1 - self.alpha) * x


class PirateNet(eqx.Module):
    """PirateNet (Wang, Sankaran, Wang & Perdikaris 2024) on one input vector.

    The input is embedded, ``Φ = [cos(Bx), sin(Bx)]`` with a frozen ``B ~ N(0, σ²)``
    (``n_features = 0``: ``Φ = x``); gates ``U = σ(W_u Φ + b_u)``, ``V = σ(W_v Φ + b_v)``
    feed ``n_blocks`` :class:`PirateBlock` s starting from ``Φ``; a final linear layer
    gives the output. Every block's ``α`` starts at 0, so at initialisation the network
    is a linear function of ``Φ``: that last layer can be fitted to data by least
    squares (:meth:`least_squares_init`; the PINN builder does it at the initial
    condition when constraints are soft). Periodic boundaries are embedded before the
    network by :class:`pdejax.objectives.PINNField`.

    Args:
        in_size, out_size: input and output sizes.
        width: width of the gates and of the blocks' hidden layers.
        n_blocks: number of residual blocks (3 dense layers each).
        activation: as for :class:`pdejax.models.MLP`.
        n_features, sigma: Fourier embedding (``Φ`` has ``2 * n_features`` entries).
        fit_initial_condition: whether a PINN with soft constraints fits the last layer to
            the initial condition (config key ``least_squares_init``): ``"all_times"``
            (``True``; the initial values held at times spread over the whole interval, as
            jaxpi's ``pi_init_type = "initial_condition"``), ``"initial_time"`` (at ``t0``
            only) or ``False``.
        key: PRNG key (keyword-only).

    Random weight factorisation is applied by the registered ``pirate_net`` (option ``rwf``).

    Example:
        >>> net = jax.eval_shape(lambda: PirateNet(2, 1, width=16, n_blocks=2, n_features=8, key=jax.random.key(0)))
        >>> jax.eval_shape(lambda net, x: jax.vmap(net)(x), net, jnp.zeros((5, 2))).shape
        (5, 1)
    """

    embedding: FourierFeatures | None
    encoder_u: eqx.nn.Linear
    encoder_v: eqx.nn.Linear
    blocks: tuple[PirateBlock, ...]
    output: eqx.nn.Linear
    activation: str = eqx.field(static=True)
    fit_initial_condition: str | bool = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int, width: int = 256, n_blocks: int = 3, activation: str = "tanh",
                 n_features: int = 128, sigma: float = 1.0, fit_initial_condition: str | bool = True, *,
                 key: PRNGKeyArray, dtype=None):
        check_sizes(width=width, n_blocks=n_blocks)
        check_activation(activation)
        k_emb, k_dense = jax.random.split(key)
        self.embedding, size = optional_embedding(in_size, n_features, sigma, key=k_emb, dtype=dtype)
        block = [(size, width), (width, width), (width, size)]
        sizes = [(size, width), (size, width), (size, out_size)] + block * n_blocks
        dense = glorot_layers(sizes, key=k_dense, dtype=dtype)
        self.encoder_u, self.encoder_v, self.output = dense[:3]
        self.blocks = tuple(PirateBlock(*dense[3 + 3 * i: 6 + 3 * i]) for i in range(n_blocks))
        self.activation = activation
        if fit_initial_condition not in LEAST_SQUARES_MODES:
            raise ValueError(f"fit_initial_condition = {fit_initial_condition!r}: expected one of "
                             f"{', '.join(map(repr, LEAST_SQUARES_MODES))}")
        self.fit_initial_condition = "all_times" if fit_initial_condition is True else fit_initial_condition

    def embed(self, x: Float[Array, " in"]) -> Float[Array, " n"]:
        """``Φ(x)``: the block stack's input."""
        return self.embedding(x) if self.embedding is not None else x

    def hidden(self, x: Float[Array, " in"]) -> Float[Array, " n"]:
        """What the last linear layer sees (``Φ(x)`` while every ``α`` is 0)."""
        phi = self.embed(x)
        act = ACTIVATIONS[self.activation]
        u, v = act(self.encoder_u(phi)), act(self.encoder_v(phi))
        h = phi
        for block in self.blocks:
            h = block(h, u, v, self.activation)
        return h

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        return self.output(self.hidden(x))

    def least_squares_init(self, features: Float[Array, "n in"], targets: Float[Array, "n out"]) -> PirateNet:
        """This network with its last layer (weight and bias) fitted to ``targets`` at
        ``features`` by linear least squares (``jnp.linalg.lstsq``; minimum norm when
        underdetermined); the rest of the network is unchanged.

        Args:
            features: network inputs, shape ``(n, in_size)``.
            targets: wanted outputs, shape ``(n, out_size)``.
        """
        n_out = self.output.weight.shape[0]
        if features.ndim != 2 or targets.shape != (features.shape[0], n_out):
            raise ValueError(f"least_squares_init needs features (n, in) and targets (n, {n_out}), "
                             f"got {features.shape} and {targets.shape}")
        h = jax.vmap(self.hidden)(features)
        design = jnp.concatenate([h, jnp.ones((h.shape[0], 1), h.dtype)], axis=1)
        coef = jnp.linalg.lstsq(design, targets.astype(h.dtype))[0]
        weight, bias = coef[:-1].T, coef[-1]
        if isinstance(self.output, RWFLinear):
            return eqx.tree_at(lambda m: m.output, self, self.output.with_weight(weight, bias))
        return eqx.tree_at(lambda m: (m.output.weight, m.output.bias), self, (weight, bias))
