"""ETDRK4 whose linear part is a small matrix per wavenumber: 1×1 and 2×2 blocks.

A second-order equation ``u_tt = a(k) u + b(k) u_t + N`` reduced to first order couples
``u`` and ``v = u_t`` linearly: per wavenumber the linear part is the block
``M = [[0, 1], [a, b]]``, with eigenvalues ``±i·sqrt(k² + m²)`` for Klein–Gordon. Keeping
the whole block in the exponential part (matrix-valued ETDRK4 coefficients) integrates
the linear wave exactly, so ``dt·k_max`` may be far beyond an explicit method's limit.

Every coefficient is ``f(Z)`` for an entire function ``f`` and ``Z = dt·M``. For a 2×2
block with eigenvalues ``c ± s`` (``c = tr Z / 2``) Cayley–Hamilton gives

    f(Z) = α I + β (Z - c I),   α = (f(c+s) + f(c-s)) / 2,   β = f[c+s, c-s],

even in ``s``, so no branch of the square root matters. Where ``|s| ≥ 1/2`` the scalar
values come from Kassam–Trefethen contour means (radius 1 around each eigenvalue);
where the eigenvalues are close (and at ``Z`` nilpotent, ``s = 0``, where the divided
difference is ``f'(c)``), ``α`` and ``β`` are one Cauchy integral on the circle of
radius 1 around ``c``. All of it in float64 / complex128 on the host.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex

from .etdrk4 import AbstractETDRK4, cast_coefficients

# The ETDRK4 (Cox–Matthews) coefficients as functions of z = dt·λ, times dt where they
# carry it; the same formulas as pdejax.spectral.ETDRK4.
_COEFFICIENTS: tuple[Callable[[np.ndarray, float], np.ndarray], ...] = (
    lambda z, h: np.exp(z),
    lambda z, h: np.exp(z / 2),
    lambda z, h: h * (np.exp(z / 2) - 1) / z,
    lambda z, h: h * (-4 - z + np.exp(z) * (4 - 3 * z + z**2)) / z**3,
    lambda z, h: h * (2 + z + np.exp(z) * (-2 + z)) / z**3,
    lambda z, h: h * (-4 - 3 * z - z**2 + np.exp(z) * (4 - z)) / z**3,
)


def _circle(points: int) -> np.ndarray:
    return np.exp(2j * np.pi * (np.arange(points) + 0.5) / points)


def _scalar(f, z: np.ndarray, h: float, points: int) -> np.ndarray:
    """``f(z)`` as the mean over the circle of radius 1 around ``z`` (Kassam–Trefethen)."""
    return np.mean(f(z[..., None] + _circle(points), h), axis=-1)


def block_coefficients(z: Complex[np.ndarray, "... 2 2"], h: float,
                       points: int = 64) -> list[Complex[np.ndarray, "... 2 2"]]:
    """The six ETDRK4 coefficient matrices ``f(Z)`` for 2×2 blocks ``Z = dt·M`` (host, complex128).

    Args:
        z: the blocks ``dt·M``, shape ``(..., 2, 2)``.
        h: the time step ``dt`` (the factor of the ``q, f1, f2, f3`` coefficients).
        points: points on each contour circle.

    Returns:
        ``[e, e2, q, f1, f2, f3]``, each of shape ``(..., 2, 2)``.

    Example (the nilpotent block of ``u_tt = 0``: ``exp(Z) = I + Z``):
        >>> z = np.array([[0.0, 0.5], [0.0, 0.0]])
        >>> np.round(block_coefficients(z, 0.5)[0].real, 12).tolist()
        [[1.0, 0.5], [0.0, 1.0]]
    """
    z = np.asarray(z, np.complex128)
    c = (z[..., 0, 0] + z[..., 1, 1]) / 2
    s = np.sqrt(c**2 - (z[..., 0, 0] * z[..., 1, 1] - z[..., 0, 1] * z[..., 1, 0]))
    close = np.abs(s) < 0.5
    s_far = np.where(close, 1.0, s)  # placeholder where the Cauchy integral takes over
    w = _circle(points)
    denominator = w**2 - np.where(close, s, 0)[..., None] ** 2  # |w| = 1 > 2|s| where used
    eye = np.eye(2)
    shifted = z - c[..., None, None] * eye
    out = []
    for f in _COEFFICIENTS:
        plus, minus = _scalar(f, c + s_far, h, points), _scalar(f, c - s_far, h, points)
        on_circle = f(c[..., None] + w, h)
        alpha = np.where(close, np.mean(on_circle * w**2 / denominator, axis=-1), (plus + minus) / 2)
        beta = np.where(close, np.mean(on_circle * w / denominator, axis=-1), (plus - minus) / (2 * s_far))
        out.append(alpha[..., None, None] * eye + beta[..., None, None] * shifted)
    return out


def _blocks(pattern: np.ndarray) -> list[tuple[int, ...]]:
    """Connected groups of state components coupled by the linear part (sizes 1 or 2)."""
    n, seen, groups = pattern.shape[0], set(), []
    for i in range(n):
        if i in seen:
            continue
        group, todo = {i}, [i]
        while todo:
            j = todo.pop()
            new = {k for k in range(n) if (pattern[j, k] or pattern[k, j]) and k not in group}
            group |= new
            todo += list(new)
        if len(group) > 2:
            raise ValueError(f"the linear part couples components {sorted(group)}; BlockETDRK4 handles "
                             "blocks of at most 2 (treat the other couplings explicitly)")
        seen |= group
        groups.append(tuple(sorted(group)))
    return groups


def matrix_coefficients(symbol: Complex[np.ndarray, "n n *modes"], dt: float,
                        points: int = 64) -> list[np.ndarray]:
    """ETDRK4 coefficients ``[e, e2, q, f1, f2, f3]`` for a linear part that is an
    ``n × n`` matrix per mode, block diagonal with blocks of size 1 or 2 (found from the
    nonzero pattern); each of shape ``(n, n, *modes)``, complex128, on the host."""
    sym = np.asarray(symbol, np.complex128)
    n, modes = sym.shape[0], sym.shape[2:]
    out = [np.zeros(sym.shape, np.complex128) for _ in _COEFFICIENTS]
    for group in _blocks(np.any(sym != 0, axis=tuple(range(2, sym.ndim))) & ~np.eye(n, dtype=bool)):
        if len(group) == 1:
            (i,) = group
            for o, f in zip(out, _COEFFICIENTS):
                o[i, i] = _scalar(f, dt * sym[i, i], dt, points)
            continue
        index = np.ix_(group, group)
        block = np.moveaxis(sym[index], (0, 1), (-2, -1)).reshape(modes + (2, 2))
        for o, c in zip(out, block_coefficients(dt * block, dt, points)):
            o[index] = np.moveaxis(c, (-2, -1), (0, 1))
    return out


class BlockETDRK4(AbstractETDRK4):
    """One ETDRK4 step ``v̂(t) -> v̂(t + dt)`` for ``v̂_t = M̂ v̂ + N̂(v̂, t)`` with ``M̂`` a
    block-diagonal matrix per mode (blocks of size 1 or 2), kept whole in the exponential part.

    Args:
        symbol: ``M̂``, shape ``(n, n, *modes)`` for a state ``v̂`` of shape ``(n, *modes)``.
        nonlinear: ``N̂(v̂, t) -> array like v̂``, evaluated at the stage times
            ``t, t + dt/2, t + dt/2, t + dt`` (dealiasing is the caller's choice).
        dt: time step.
        contour_points: points on each contour circle (see :func:`block_coefficients`).
        dtype: real dtype of the state (default: JAX's default float); the coefficients
            are computed in float64 on the host and then cast (real when ``M̂`` is real).

    One state in; ``jax.vmap`` batches. ``jax.lax.scan`` it with
    :func:`~pdejax.spectral.rollout`.

    Example (the oscillator ``u'' = -4u`` from ``u = 1, u' = 0``, 10 steps of 0.1; exact
    ``cos 2t``):
        >>> step = BlockETDRK4(jnp.array([[0.0, 1.0], [-4.0, 0.0]]), lambda v, t: 0 * v, dt=0.1)
        >>> v = step(jnp.array([1.0, 0.0]), 0.0)
        >>> bool(jnp.abs(v[0] - jnp.cos(0.2)) < 1e-6)
        True
    """

    def __init__(self, symbol: Complex[Array, "n n *modes"], nonlinear: Callable[[Array, Array], Array],
                 dt: float, contour_points: int = 64, dtype=None):
        self.dt, self.nonlinear = dt, nonlinear
        sym = np.asarray(symbol)
        if sym.ndim < 2 or sym.shape[0] != sym.shape[1]:
            raise ValueError(f"symbol must have shape (n, n, *modes), got {sym.shape}")
        coefs = matrix_coefficients(sym, dt, contour_points)
        self.e, self.e2, self.q, self.f1, self.f2, self.f3 = cast_coefficients(coefs, sym, dtype)

    def apply(self, coefficient: Array, v: Complex[Array, "n *modes"]) -> Complex[Array, "n *modes"]:
        """A matrix per mode times the state's vector per mode."""
        return jnp.einsum("ij...,j...->i...", coefficient, v)
