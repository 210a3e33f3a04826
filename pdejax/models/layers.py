"""Building blocks of the PINN networks: Glorot dense layers, random weight factorisation
(RWF) and random Fourier feature embeddings."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.errors import ConfigError


def default_float(dtype=None):
    """``dtype``, or JAX's default float dtype (float64 inside ``jax.enable_x64``)."""
    return jnp.dtype(dtype) if dtype is not None else jnp.asarray(0.0).dtype


def normal_arrays(key: PRNGKeyArray, shapes: Sequence[tuple[int, ...]], scales: Sequence[float],
                  means: Sequence[float] | None = None, dtype=None) -> list[Array]:
    """Independent ``N(mean, scale²)`` arrays of the given shapes, from one random draw.

    On CPU every new shape of a random draw compiles a kernel of its own (about 0.2 s
    each), which dominates building a small network. So the draw's length is rounded up
    to a power of two (networks share a handful of kernels) and split into pieces:
    concrete draws on the host (compiling nothing), traced ones (under ``jit`` or
    ``eval_shape``) with ``jax.numpy``.
    """
    means = means if means is not None else [0.0] * len(shapes)
    sizes = [math.prod(s) for s in shapes]
    total = sum(sizes)
    flat = jax.random.normal(key, (1 << max(total - 1, 0).bit_length(),), default_float(dtype))
    host = on_host(flat)
    xp, flat = (np, host[0]) if host is not None else (jnp, flat)
    pieces = xp.split(flat[:total], np.cumsum(sizes)[:-1].tolist())
    return [jnp.asarray(m + s * p.reshape(shape)) for p, shape, s, m in zip(pieces, shapes, scales, means)]


def on_host(*arrays) -> list[np.ndarray] | None:
    """NumPy copies of concrete arrays (host arithmetic compiles nothing); ``None`` if any is traced."""
    try:
        return [np.asarray(a) for a in arrays]
    except jax.errors.TracerArrayConversionError:
        return None


def glorot_layers(sizes: Sequence[tuple[int, int]], *, key: PRNGKeyArray, dtype=None) -> list[eqx.nn.Linear]:
    """``eqx.nn.Linear`` layers ``(n_in, n_out)`` with Glorot-normal weights
    ``N(0, 2 / (n_in + n_out))`` and zero biases (the PINN standard), from one random draw."""
    dtype = default_float(dtype)
    weights = normal_arrays(key, [(o, i) for i, o in sizes], [(2.0 / (i + o)) ** 0.5 for i, o in sizes], dtype=dtype)
    layers = []
    for (n_in, n_out), w in zip(sizes, weights):
        # built abstractly, then filled: eqx.nn.Linear's own initialisation would draw twice more
        lin = eqx.filter_eval_shape(eqx.nn.Linear, n_in, n_out, key=key, dtype=dtype)
        layers.append(eqx.tree_at(lambda m: (m.weight, m.bias), lin, (w, jnp.asarray(np.zeros(n_out, dtype)))))
    return layers


def glorot_linear(n_in: int, n_out: int, *, key: PRNGKeyArray, dtype=None) -> eqx.nn.Linear:
    """One Glorot-normal ``eqx.nn.Linear`` with zero bias (see :func:`glorot_layers`)."""
    return glorot_layers([(n_in, n_out)], key=key, dtype=dtype)[0]


class RWFLinear(eqx.Module):
    """A dense layer with random weight factorisation (Wang et al. 2022):
    ``W = diag(exp(s)) · V``, so ``y = W x + b``.

    Trained are ``s`` (one log-scale per output unit), ``V`` and ``b``; the effective
    weight is the same function class as a plain layer, but gradient descent in (s, V)
    behaves better. Build one from a plain layer with :meth:`from_linear`.

    Args:
        scale: ``s``, shape ``(out,)``.
        direction: ``V``, shape ``(out, in)``.
        bias: ``b``, shape ``(out,)``.

    Example:
        >>> lin = eqx.nn.Linear(3, 2, key=jax.random.key(0))
        >>> rwf = RWFLinear.from_linear(lin, mean=1.0, std=0.1, key=jax.random.key(1))
        >>> bool(jnp.allclose(rwf.weight, lin.weight)), rwf(jnp.ones(3)).shape
        (True, (2,))
    """

    scale: Float[Array, " out"]
    direction: Float[Array, "out in"]
    bias: Float[Array, " out"]

    def __init__(self, scale, direction, bias):
        self.scale, self.direction, self.bias = scale, direction, bias

    @classmethod
    def from_linear(cls, linear: eqx.nn.Linear, *, mean: float, std: float, key: PRNGKeyArray) -> RWFLinear:
        """Factorise ``linear``'s weight: ``s ~ N(mean, std²)``, ``V = W / exp(s)``; the
        layer computes the same function as ``linear`` did."""
        n_out = linear.weight.shape[0]
        return cls.factorize(linear, normal_arrays(key, [(n_out,)], [std], [mean], linear.weight.dtype)[0])

    @classmethod
    def factorize(cls, linear: eqx.nn.Linear, scale: Float[Array, " out"]) -> RWFLinear:
        """``linear`` as ``diag(exp(scale)) · V`` with ``V = W / exp(scale)`` (same function)."""
        weight = linear.weight
        bias = linear.bias if linear.bias is not None else jnp.zeros((weight.shape[0],), weight.dtype)
        host = on_host(weight, scale, bias)
        if host is not None:
            w, s, b = host
            return cls(jnp.asarray(s), jnp.asarray(w / np.exp(s)[:, None]), jnp.asarray(b))
        return cls(scale, weight / jnp.exp(scale)[:, None], bias)

    @property
    def weight(self) -> Float[Array, "out in"]:
        """The effective weight ``diag(exp(s)) · V``."""
        return jnp.exp(self.scale)[:, None] * self.direction

    def with_weight(self, weight: Float[Array, "out in"], bias: Float[Array, " out"]) -> RWFLinear:
        """The same layer computing ``weight @ x + bias`` (``s`` kept, ``V`` refitted)."""
        return RWFLinear(self.scale, weight / jnp.exp(self.scale)[:, None], bias)

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        return self.weight @ x + self.bias


def parse_rwf(rwf: Any) -> tuple[float, float] | None:
    """``(mean, std)`` of a config's ``rwf: {mean: 1.0, std: 0.1}`` (``None``: no RWF).

    Raises a ConfigError naming ``rwf`` for anything else (the model registry prefixes
    it with ``model.``).
    """
    if rwf is None:
        return None
    valid = "null or a mapping {mean: <number>, std: <number >= 0>}"
    if not isinstance(rwf, Mapping) or set(rwf) - {"mean", "std"}:
        raise ConfigError("rwf", rwf, valid)
    values = []
    for name, default in (("mean", 1.0), ("std", 0.1)):
        v = rwf.get(name, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or abs(v) > 50:
            raise ConfigError(f"rwf.{name}", v, "a finite number of magnitude at most 50")
        values.append(float(v))
    if values[1] < 0:
        raise ConfigError("rwf.std", values[1], "a number >= 0")
    return values[0], values[1]


def factorize_weights(model, rwf: Any, *, key: PRNGKeyArray):
    """``model`` with every ``eqx.nn.Linear`` inside replaced by an :class:`RWFLinear`
    computing the same function; ``rwf`` as in :func:`parse_rwf` (``None``: unchanged)."""
    spec = parse_rwf(rwf)
    if spec is None:
        return model
    is_linear = lambda m: isinstance(m, eqx.nn.Linear)
    linears = [m for m in jax.tree.leaves(model, is_leaf=is_linear) if is_linear(m)]
    if not linears:
        return model
    scales = iter(normal_arrays(key, [(m.weight.shape[0],) for m in linears], [spec[1]] * len(linears),
                                [spec[0]] * len(linears), linears[0].weight.dtype))
    return jax.tree.map(lambda m: RWFLinear.factorize(m, next(scales)) if is_linear(m) else m, model,
                        is_leaf=is_linear)


class FourierFeatures(eqx.Module):
    """Random Fourier features ``γ(x) = [cos(Bx), sin(Bx)]``, ``B ~ N(0, σ²)``
    (Tancik et al. 2020; Wang, Wang & Perdikaris 2021, without Tancik's 2π).

    ``B`` is **frozen**: an array of the module (saved in checkpoints) used through
    ``jax.lax.stop_gradient``, so its gradient is zero and optimizers without weight
    decay leave it unchanged (with weight decay, exclude it).

    Args:
        in_size: input size.
        n_features: rows of ``B``; the output has ``2 * n_features`` entries.
        sigma: standard deviation of ``B``'s entries (higher: higher frequencies).
        key: PRNG key (keyword-only).

    Example:
        >>> emb = FourierFeatures(2, 16, sigma=1.0, key=jax.random.key(0))
        >>> emb(jnp.zeros(2)).shape
        (32,)
    """

    matrix: Float[Array, "features in"]

    def __init__(self, in_size: int, n_features: int, sigma: float = 1.0, *, key: PRNGKeyArray, dtype=None):
        if n_features < 1 or not sigma > 0:
            raise ValueError(f"Fourier features need n_features >= 1 and sigma > 0, got {n_features}, {sigma}")
        self.matrix = normal_arrays(key, [(n_features, in_size)], [sigma], dtype=dtype)[0]

    @property
    def out_size(self) -> int:
        return 2 * self.matrix.shape[0]

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        z = jax.lax.stop_gradient(self.matrix) @ x
        return jnp.concatenate([jnp.cos(z), jnp.sin(z)])
