"""PINNsFormer: a transformer on pseudo-sequences of points (Zhao, Ding & Prakash, ICLR 2024)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .layers import default_float, glorot_layers
from .pinn_nets import check_sizes


class WaveAct(eqx.Module):
    """The Wavelet activation ``ω1 sin(x) + ω2 cos(x)`` with trainable scalars ``ω1 = ω2 = 1`` at first."""

    w1: Float[Array, ""]
    w2: Float[Array, ""]

    def __init__(self, dtype=None):
        self.w1 = self.w2 = jnp.asarray(1.0, default_float(dtype))

    def __call__(self, x: Array) -> Array:
        return self.w1 * jnp.sin(x) + self.w2 * jnp.cos(x)


class WaveMLP(eqx.Module):
    """``Linear → WaveAct → Linear → WaveAct → Linear`` on one vector (the paper's feed-forward and output head)."""

    layers: tuple[eqx.nn.Linear, eqx.nn.Linear, eqx.nn.Linear]
    acts: tuple[WaveAct, WaveAct]

    def __init__(self, first: eqx.nn.Linear, second: eqx.nn.Linear, third: eqx.nn.Linear):
        self.layers = (first, second, third)
        self.acts = (WaveAct(first.weight.dtype), WaveAct(first.weight.dtype))

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        x = self.acts[0](self.layers[0](x))
        x = self.acts[1](self.layers[1](x))
        return self.layers[2](x)


class MultiheadAttention(eqx.Module):
    """Multi-head scaled dot-product attention as ``torch.nn.MultiheadAttention`` computes it
    (biased input and output projections, no dropout), on sequences ``(k, d)``."""

    query_proj: eqx.nn.Linear
    key_proj: eqx.nn.Linear
    value_proj: eqx.nn.Linear
    out_proj: eqx.nn.Linear
    n_heads: int = eqx.field(static=True)

    def __init__(self, query_proj: eqx.nn.Linear, key_proj: eqx.nn.Linear, value_proj: eqx.nn.Linear,
                 out_proj: eqx.nn.Linear, n_heads: int):
        """From its four ``d → d`` projections; ``n_heads`` divides ``d``."""
        self.query_proj, self.key_proj, self.value_proj, self.out_proj = query_proj, key_proj, value_proj, out_proj
        self.n_heads = n_heads

    def __call__(self, q: Float[Array, "k d"], k: Float[Array, "m d"], v: Float[Array, "m d"]) -> Float[Array, "k d"]:
        def heads(layer, x):  # (len, d) -> (heads, len, d / heads)
            y = jax.vmap(layer)(x)
            return y.reshape(y.shape[0], self.n_heads, -1).transpose(1, 0, 2)

        qh, kh, vh = heads(self.query_proj, q), heads(self.key_proj, k), heads(self.value_proj, v)
        logits = qh @ kh.transpose(0, 2, 1) / jnp.sqrt(jnp.asarray(qh.shape[-1], qh.dtype))
        out = jax.nn.softmax(logits, axis=-1) @ vh
        return jax.vmap(self.out_proj)(out.transpose(1, 0, 2).reshape(q.shape[0], -1))


class AttentionBlock(eqx.Module):
    """An encoder (self-attention) or decoder (cross-attention to ``context``) layer on a
    sequence ``(k, d_model)``: ``x ← x + Attn(WaveAct(x), c, c)``, ``x ← x + FF(WaveAct(x))``,
    with ``c = WaveAct(x)`` (encoder) or ``c = context`` (decoder)."""

    attention: MultiheadAttention
    feed_forward: WaveMLP
    act_attention: WaveAct
    act_feed_forward: WaveAct

    def __init__(self, attention: MultiheadAttention, feed_forward: WaveMLP):
        self.attention, self.feed_forward = attention, feed_forward
        dtype = attention.out_proj.weight.dtype
        self.act_attention, self.act_feed_forward = WaveAct(dtype), WaveAct(dtype)

    def __call__(self, x: Float[Array, "k d"], context: Float[Array, "k d"] | None = None) -> Float[Array, "k d"]:
        y = self.act_attention(x)
        kv = y if context is None else context
        x = x + self.attention(y, kv, kv)
        return x + jax.vmap(self.feed_forward)(self.act_feed_forward(x))


class PINNsFormer(eqx.Module):
    """PINNsFormer (Zhao, Ding & Prakash 2024) on one input point.

    **The last input is time.** A point ``(x, t)`` becomes the pseudo-sequence
    ``[(x, t), (x, t + Δt), ..., (x, t + (k-1)Δt)]`` (:meth:`pseudo_sequence`); each
    element is embedded linearly into ``d_model``; an encoder (self-attention) and a
    decoder (cross-attention to the encoder's output), each ``n_layers`` deep and
    closed by a Wavelet activation, and a Wavelet MLP head give a prediction per
    element; the first element's is the output. Inside a PINN the network sees the
    time mapped onto ``[-1, 1]`` (:class:`pdejax.objectives.PINNField` passes it
    last), so ``Δt`` is in those units; for a PDE without time the last spatial
    coordinate plays its part. Dense layers start Glorot-normal with zero biases.

    Args:
        in_size, out_size: input (time last) and output sizes.
        d_model: embedding size; n_heads: attention heads (divides ``d_model``).
        n_layers: encoder and decoder layers; d_ff: feed-forward width;
        d_hidden: width of the output head.
        n_steps: pseudo-sequence length ``k``; dt: its step ``Δt``.
        key: PRNG key (keyword-only).

    Example:
        >>> net = jax.eval_shape(lambda: PINNsFormer(2, 1, key=jax.random.key(0)))
        >>> jax.eval_shape(lambda net, x: jax.vmap(net)(x), net, jnp.zeros((5, 2))).shape
        (5, 1)
    """

    embedding: eqx.nn.Linear
    encoder: tuple[AttentionBlock, ...]
    encoder_act: WaveAct
    decoder: tuple[AttentionBlock, ...]
    decoder_act: WaveAct
    head: WaveMLP
    n_steps: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)

    def __init__(self, in_size: int, out_size: int, d_model: int = 32, n_heads: int = 2, n_layers: int = 1,
                 d_ff: int = 64, d_hidden: int = 64, n_steps: int = 5, dt: float = 1e-4, *, key: PRNGKeyArray,
                 dtype=None):
        check_sizes(in_size=in_size, d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=d_ff,
                    d_hidden=d_hidden, n_steps=n_steps)
        if d_model % n_heads:
            raise ValueError(f"n_heads = {n_heads} must divide d_model = {d_model}")
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive number, got {dt}")
        block = [(d_model, d_model)] * 4 + [(d_model, d_ff), (d_ff, d_ff), (d_ff, d_model)]
        sizes = [(in_size, d_model), (d_model, d_hidden), (d_hidden, d_hidden), (d_hidden, out_size)]
        dense = iter(glorot_layers(sizes + block * (2 * n_layers), key=key, dtype=dtype))
        take = lambda n: [next(dense) for _ in range(n)]
        self.embedding, *head = take(4)
        self.head = WaveMLP(*head)
        blocks = [AttentionBlock(MultiheadAttention(*take(4), n_heads), WaveMLP(*take(3))) for _ in range(2 * n_layers)]
        self.encoder, self.decoder = tuple(blocks[:n_layers]), tuple(blocks[n_layers:])
        self.encoder_act, self.decoder_act = WaveAct(dtype), WaveAct(dtype)
        self.n_steps, self.dt = n_steps, float(dt)

    def pseudo_sequence(self, x: Float[Array, " in"]) -> Float[Array, "k in"]:
        """``[x, x + Δt e_t, ..., x + (k-1) Δt e_t]`` with ``e_t`` the last (time) axis."""
        shifts = self.dt * jnp.arange(self.n_steps, dtype=x.dtype)
        return jnp.tile(x, (self.n_steps, 1)).at[:, -1].add(shifts)

    def sequence_outputs(self, x: Float[Array, " in"]) -> Float[Array, "k out"]:
        """The prediction at every element of the pseudo-sequence of ``x``."""
        src = jax.vmap(self.embedding)(self.pseudo_sequence(x))
        enc = src
        for layer in self.encoder:
            enc = layer(enc)
        enc = self.encoder_act(enc)
        dec = src
        for layer in self.decoder:
            dec = layer(dec, enc)
        return jax.vmap(self.head)(self.decoder_act(dec))

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        return self.sequence_outputs(x)[0]
