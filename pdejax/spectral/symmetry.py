"""Sub-grid shifts of periodic fields by the Fourier shift theorem, and the Galilean boost.

The array actions behind Lie-point-symmetry data augmentation (Brandstetter, Welling &
Worrall, ICML 2022): a periodic field sampled at ``n`` points over a period ``L`` is
moved by any real distance, not only by whole grid cells, by multiplying its Fourier
coefficients by ``e^{-i k s}``. For a band-limited field (one the grid resolves) the
result is the field ``u(x - s)`` sampled at the same points, exactly up to round-off.
The groups themselves (which PDE has which symmetry, with which coefficients) are in
:mod:`pdejax.pde.symmetries`.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def fourier_shift(u: Float[Array, "*lead n"], shift: ArrayLike, length: ArrayLike) -> Float[Array, "*lead n"]:
    """``u(x - shift)``: the periodic field ``u`` (last axis: ``n`` points over the period
    ``length``) translated by ``shift`` in ``x``-units, through the Fourier shift theorem.

    Exact for band-limited fields; a shift by whole grid cells is ``jnp.roll`` to
    round-off (the Nyquist mode included: its coefficient is multiplied by
    ``cos(k_N s)``, the grid values of the shifted interpolant). Computed in at least
    float32 and returned in ``u``'s dtype.

    Args:
        u: fields, the periodic axis last, shape ``(*lead, n)``.
        shift: distance in the units of ``length``; a scalar, or an array broadcasting
            against ``lead`` (one shift per row, e.g. per frame).
        length: the period (the domain length), a scalar (may be traced).

    Example:
        >>> x = 2 * jnp.pi * jnp.arange(16) / 16
        >>> moved = fourier_shift(jnp.sin(x), 0.3, 2 * jnp.pi)
        >>> bool(jnp.max(jnp.abs(moved - jnp.sin(x - 0.3))) < 1e-5)
        True
    """
    n = u.shape[-1]
    work = jnp.promote_types(u.dtype, jnp.float32)
    length = jnp.asarray(length, work)
    # Reduce the shift modulo the period first: e^{-iks} of a shift of many periods loses
    # the phase's precision in float32 (a boost moves late frames by ε t ≫ L).
    shift = jnp.mod(jnp.asarray(shift, work), length)
    k = (2 * math.pi) * jnp.arange(n // 2 + 1, dtype=work) / length
    phase = jnp.exp(-1j * k * shift[..., None])
    return jnp.fft.irfft(jnp.fft.rfft(u.astype(work), axis=-1) * phase, n=n, axis=-1).astype(u.dtype)


def galilean_boost(frames: Float[Array, "T *fields n"], times: Float[Array, " T"], velocity: ArrayLike,
                   length: ArrayLike, advection: float = 1.0) -> Float[Array, "T *fields n"]:
    """The Galilean boost of a trajectory of ``u_t + a u u_x = D(u)``: ``u'(x, t) = u(x - v t, t) + v / a``.

    ``D`` is any translation-invariant linear operator in ``x`` without a zeroth-order
    term (diffusion, dispersion, hyperdiffusion: Burgers, KdV, Kuramoto–Sivashinsky).
    With ``u' = u(x - vt, t) + c``: ``u'_t = u_t - v u_x`` and ``a u' u'_x = a u u_x + a c u_x``,
    so ``u'_t + a u' u'_x - D(u') = (a c - v) u_x``, which vanishes for ``c = v / a``.

    Args:
        frames: the trajectory, frame ``k`` at ``times[k]``, the periodic axis last.
        times: the frames' times, shape ``(T,)`` (absolute or from any origin: a boost
            about another origin is this one composed with a translation).
        velocity: the boost ``v`` (``x``-units per time unit).
        length: the period.
        advection: the coefficient ``a`` of ``u u_x`` (KdV's ``alpha``; 1 for Burgers and KS).
    """
    shifts = jnp.reshape(velocity * times, (-1,) + (1,) * (frames.ndim - 2))
    return (fourier_shift(frames, shifts, length) + velocity / advection).astype(frames.dtype)
