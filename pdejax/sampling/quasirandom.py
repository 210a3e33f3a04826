"""Quasi-random points on the device: scrambled Sobol and Halton sequences.

Low-discrepancy point sets cover the domain more evenly than independent uniform
draws (a star discrepancy of ``O((log n)^d / n)`` instead of ``O(n^{-1/2})``).
Both generators are pure JAX functions of ``(n, d, key)``, so they run inside the
compiled step; with a key the sequence is randomised, a different point set per key:

- :func:`sobol_points`: Sobol' with the Joe–Kuo direction numbers (up to
  :data:`MAX_SOBOL_DIM` dimensions), randomised by Matoušek's linear matrix scramble
  plus a random digital shift (as ``scipy.stats.qmc.Sobol(scramble=True)``). The first
  ``2^m`` points of a scrambled Sobol' sequence are still a ``(t, m, d)``-net, so powers
  of two are the natural point counts.
- :func:`halton_points`: Halton with prime bases, randomised by an independent random
  permutation of the digits ``0..b-1`` at every digit position (random digit
  permutations, as ``scipy.stats.qmc.Halton(scramble=True)``).

>>> import jax
>>> pts = sobol_points(4, 2)               # unscrambled: the textbook sequence
>>> pts.tolist()
[[0.0, 0.0], [0.5, 0.5], [0.75, 0.25], [0.25, 0.75]]
>>> sobol_points(256, 3, jax.random.key(0)).shape
(256, 3)
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.errors import ConfigError
from .samplers import SAMPLERS, AbstractSampler

BITS = 32  # digits of the Sobol' integers; float64 points resolve all of them

# Joe & Kuo (2008), "Constructing Sobol sequences with better two-dimensional projections"
# (new-joe-kuo-6.21201), dimensions 2..21: (degree s, coefficients a, initial m_1..m_s).
# Dimension 1 is the van der Corput sequence (all m_k = 1).
_JOE_KUO = (
    (1, 0, (1,)), (2, 1, (1, 3)), (3, 1, (1, 3, 1)), (3, 2, (1, 1, 1)), (4, 1, (1, 1, 3, 3)),
    (4, 4, (1, 3, 5, 13)), (5, 2, (1, 1, 5, 5, 17)), (5, 4, (1, 1, 5, 5, 5)), (5, 7, (1, 1, 7, 11, 19)),
    (5, 11, (1, 1, 5, 1, 1)), (5, 13, (1, 1, 1, 3, 11)), (5, 14, (1, 3, 5, 5, 31)),
    (6, 1, (1, 3, 3, 9, 7, 49)), (6, 13, (1, 1, 1, 15, 21, 21)), (6, 16, (1, 3, 1, 13, 27, 49)),
    (6, 19, (1, 1, 1, 15, 7, 5)), (6, 22, (1, 3, 1, 15, 13, 25)), (6, 25, (1, 1, 5, 5, 19, 61)),
    (7, 1, (1, 3, 7, 11, 23, 15, 103)), (7, 4, (1, 3, 7, 13, 13, 15, 69)),
)
MAX_SOBOL_DIM = len(_JOE_KUO) + 1
PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73)
MAX_HALTON_DIM = len(PRIMES)


def sobol_directions(d: int) -> np.ndarray:
    """The direction numbers ``v[j, k] = m_{k+1} · 2^(31 - k)`` of dimensions ``0..d-1``,
    ``uint32[d, 32]`` (host constants): bit ``k`` of an index's Gray code selects ``v[:, k]``."""
    if not 1 <= d <= MAX_SOBOL_DIM:
        raise ValueError(f"Sobol' points have 1 to {MAX_SOBOL_DIM} dimensions, not {d}")
    out = np.zeros((d, BITS), np.uint32)
    for j in range(d):
        if j == 0:
            m = [1] * BITS
        else:
            s, a, m0 = _JOE_KUO[j - 1]
            m = list(m0)
            for k in range(s, BITS):  # Bratley & Fox's recurrence over the primitive polynomial
                new = m[k - s] ^ (m[k - s] << s)
                for i in range(1, s):
                    if (a >> (s - 1 - i)) & 1:
                        new ^= m[k - i] << i
                m.append(new)
        out[j] = [m[k] << (BITS - 1 - k) for k in range(BITS)]
    return out


def _to_unit(x: Array, dtype) -> Array:
    """``uint32`` fractions ``x / 2^32`` as floats in [0, 1), keeping the bits ``dtype`` holds
    exactly (24 for float32), so that no point rounds up to 1."""
    keep = min(BITS, jnp.finfo(dtype).nmant + 1)
    return (x >> (BITS - keep)).astype(dtype) * (2.0 ** -keep)


def sobol_points(n: int, d: int, key: PRNGKeyArray | None = None, *, dtype=None) -> Float[Array, "n d"]:
    """The first ``n`` points of the ``d``-dimensional Sobol' sequence in ``[0, 1)^d``.

    Args:
        n, d: number of points and dimensions (``d <= MAX_SOBOL_DIM``).
        key: ``None`` for the plain sequence (equal to ``scipy.stats.qmc.Sobol(d,
            scramble=False, bits=32)``), or a key for a random linear matrix scramble
            and digital shift of the direction numbers.
        dtype: float dtype of the points (default: JAX's default float).
    """
    return _sobol(n, d, key, jnp.dtype(jnp.zeros(()).dtype if dtype is None else dtype))


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def _sobol(n: int, d: int, key: PRNGKeyArray | None, dtype) -> Float[Array, "n d"]:
    v = jnp.asarray(sobol_directions(d))
    shift = jnp.zeros((d,), jnp.uint32)
    if key is not None:
        k_matrix, k_shift = jax.random.split(key)
        # Matoušek's scramble: digit i (from the most significant) of every direction
        # number becomes digit i plus a random combination of the digits above it, mod 2
        # (a lower-triangular binary matrix with a unit diagonal), which keeps the nets.
        lower = jnp.tril(jax.random.bernoulli(k_matrix, 0.5, (d, BITS, BITS)), -1).astype(jnp.int32)
        lower = lower + jnp.eye(BITS, dtype=jnp.int32)
        powers = jnp.left_shift(jnp.uint32(1), jnp.arange(BITS - 1, -1, -1, dtype=jnp.uint32))
        digits = ((v[..., None] & powers) != 0).astype(jnp.int32)           # (d, k, digit)
        digits = jnp.einsum("jil,jkl->jki", lower, digits) % 2
        v = jnp.sum(digits.astype(jnp.uint32) * powers, axis=-1, dtype=jnp.uint32)
        shift = jax.random.bits(k_shift, (d,), jnp.uint32)
    index = jnp.arange(n, dtype=jnp.uint32)
    gray = index ^ (index >> 1)
    use = ((gray[:, None] >> jnp.arange(BITS, dtype=jnp.uint32)) & 1) == 1    # (n, k)
    terms = jnp.where(use[:, :, None], v.T[None], jnp.uint32(0))              # (n, k, d)
    x = jax.lax.reduce(terms, jnp.uint32(0), jax.lax.bitwise_xor, (1,))
    return _to_unit(x ^ shift, dtype)


def halton_points(n: int, d: int, key: PRNGKeyArray | None = None, *, dtype=None) -> Float[Array, "n d"]:
    """The first ``n`` points of the ``d``-dimensional Halton sequence in ``[0, 1)^d``.

    Dimension ``j`` is the radical inverse of the point's index in the ``j``-th prime base.

    Args:
        n, d: number of points and dimensions (``d <= MAX_HALTON_DIM``).
        key: ``None`` for the plain sequence (``scipy.stats.qmc.Halton(d,
            scramble=False)``), or a key for random digit permutations, drawn afresh
            for every dimension and digit position (also the digits beyond the index's
            last one, so the scrambled points are not confined to a grid).
        dtype: float dtype of the points (default: JAX's default float).
    """
    if not 1 <= d <= MAX_HALTON_DIM:
        raise ValueError(f"Halton points have 1 to {MAX_HALTON_DIM} dimensions, not {d}")
    return _halton(n, d, key, jnp.dtype(jnp.zeros(()).dtype if dtype is None else dtype))


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def _halton(n: int, d: int, key: PRNGKeyArray | None, dtype) -> Float[Array, "n d"]:
    bases = PRIMES[:d]
    # Digit positions the dtype resolves in each base (the others are dropped).
    depth = [math.ceil((jnp.finfo(dtype).nmant + 1) / math.log2(b)) for b in bases]
    positions = max(depth)
    # base^i, capped where it exceeds every index (those digits are 0); host integers.
    powers = np.array([[min(b**i, 2**31 - 1) for i in range(positions)] for b in bases], np.int32)
    index = jnp.arange(n, dtype=jnp.int32)
    base = jnp.asarray(bases, jnp.int32)[:, None, None]
    digits = (index // jnp.asarray(powers)[:, :, None]) % base                       # (d, position, n)
    if key is not None:
        # A random permutation of 0..b-1 per dimension and digit position: sort uniform
        # keys, with the slots past b pushed to the end.
        width = max(bases)
        u = jax.random.uniform(key, (d, positions, width))
        u = jnp.where(jnp.arange(width) < base, u, 2.0)
        digits = jnp.take_along_axis(jnp.argsort(u, axis=-1).astype(jnp.int32), digits, axis=-1)
    scale = np.array([[float(b) ** -(i + 1) if i < k else 0.0 for i in range(positions)]
                      for b, k in zip(bases, depth)])
    x = jnp.sum(digits.astype(dtype) * jnp.asarray(scale, dtype)[:, :, None], axis=1).T
    return jnp.minimum(x, jnp.nextafter(jnp.ones((), dtype), jnp.zeros((), dtype)))


class Sobol(AbstractSampler):
    """Scrambled Sobol' points, a fresh scramble (from the step's key) at every step.

    Each step's ``n`` points are the first ``n`` of the sequence under a new random
    scramble: as even as a Sobol' net (for ``n`` a power of two, a ``(t, m, d)``-net),
    yet different at every step and seed, so the residual is not fitted at fixed points.
    """

    def sample(self, state, key, step, score, dtype):
        lo, hi = self.bounds(dtype)
        return lo + (hi - lo) * sobol_points(self.n, len(self.lower), key, dtype=dtype), state


class Halton(AbstractSampler):
    """Scrambled Halton points, fresh random digit permutations (from the step's key) at every step."""

    def sample(self, state, key, step, score, dtype):
        lo, hi = self.bounds(dtype)
        return lo + (hi - lo) * halton_points(self.n, len(self.lower), key, dtype=dtype), state


@SAMPLERS.register("sobol")
def sobol(lower, upper, n) -> Sobol:
    """Scrambled Sobol' points (quasi-random), a fresh scramble at every step; n a power of two is best."""
    if len(lower) > MAX_SOBOL_DIM:
        raise ConfigError("name", "sobol", f"a sampler for at most {MAX_SOBOL_DIM} coordinates "
                          f"(the points have {len(lower)}): halton, uniform")
    return Sobol(tuple(lower), tuple(upper), n)


@SAMPLERS.register("halton")
def halton(lower, upper, n) -> Halton:
    """Scrambled Halton points (quasi-random), fresh digit permutations at every step."""
    if len(lower) > MAX_HALTON_DIM:
        raise ConfigError("name", "halton", f"a sampler for at most {MAX_HALTON_DIM} coordinates "
                          f"(the points have {len(lower)}): uniform")
    return Halton(tuple(lower), tuple(upper), n)
