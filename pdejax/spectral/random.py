"""Gaussian random fields with a given spectrum: periodic (Fourier) and zero-Neumann (cosine).

A field ``u = Σ_k c_k φ_k`` over the orthonormal eigenfunctions ``φ_k`` of ``−Δ`` on a box
has independent coefficients with ``E|c_k|² = spectrum(λ_k)``, ``λ_k`` the Laplacian
eigenvalue, so its pointwise variance is ``Σ_k spectrum(λ_k) |φ_k(x)|²`` (the KL sum,
truncated to the modes the grid resolves). One sample per call; ``jax.vmap`` over keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .fourier import FourierGrid

Spectrum = Callable[[Array], Array]  # Laplacian eigenvalue |k|² -> variance of that mode


class MaternSpectrum(eqx.Module):
    """The spectrum ``σ² (λ + τ²)^(−α)`` of the covariance ``σ² (−Δ + τ² I)^(−α)``.

    Example:
        >>> spectrum = MaternSpectrum(sigma=25.0, tau=5.0, alpha=2.0)  # 625 (−Δ + 25 I)^(−2)
        >>> float(spectrum(jnp.asarray(0.0)))  # 625 / 25**2
        1.0
    """

    sigma: float = eqx.field(static=True)
    tau: float = eqx.field(static=True)
    alpha: float = eqx.field(static=True)

    def __call__(self, eigenvalue: Array) -> Array:
        return self.sigma**2 * (eigenvalue + self.tau**2) ** (-self.alpha)


def _lengths(sizes: tuple[int, ...], lengths) -> tuple[float, ...]:
    lengths = (1.0,) * len(sizes) if lengths is None else tuple(float(s) for s in lengths)
    if len(lengths) != len(sizes) or any(s < 2 for s in sizes) or any(s <= 0 for s in lengths):
        raise ValueError(f"need sizes >= 2 and lengths > 0, one per dimension; got {sizes}, {lengths}")
    return lengths


@eqx.filter_jit
def gaussian_random_field(key: PRNGKeyArray, sizes: tuple[int, ...], lengths: tuple[float, ...] | None = None,
                          *, spectrum: Spectrum, zero_mean: bool = True, dtype=None) -> Float[Array, "*sizes"]:
    """One sample of a periodic Gaussian random field on the torus ``∏ [0, L_i)``.

    The Fourier coefficients are the real FFT of white noise (independent complex
    Gaussians with Hermitian symmetry, real at self-conjugate modes) scaled so that the
    coefficient on the orthonormal mode ``e^{ik·x}/√V`` has variance
    ``spectrum(|k|²)``, ``k`` the angular wavenumber ``2π n / L``; ``irfftn`` returns the
    field at the nodes ``x_j = j L / n``. High modes of a field sampled at a fine
    resolution and then subsampled alias; sample at the resolution the solver uses.

    Args:
        key: PRNG key.
        sizes: grid points per axis (1, 2 or 3 axes).
        lengths: box side lengths (default 1 each).
        spectrum: ``|k|² -> variance`` of each mode, e.g. :class:`MaternSpectrum`.
        zero_mean: drop the constant mode.
        dtype: float dtype of the sample (default: JAX's default float).

    Returns:
        Array of shape ``sizes``.

    Example:
        >>> keys = jax.random.split(jax.random.key(0), 3)
        >>> u = jax.vmap(lambda k: gaussian_random_field(
        ...     k, (16, 16), spectrum=MaternSpectrum(sigma=1.0, tau=3.0, alpha=2.0)))(keys)
        >>> u.shape, abs(float(u.mean())) < 1e-6  # zero mean
        ((3, 16, 16), True)
    """
    sizes = tuple(sizes)
    lengths = _lengths(sizes, lengths)
    grid = FourierGrid(coords=tuple(f"x{i}" for i in range(len(sizes))), lower=(0.0,) * len(sizes),
                       lengths=lengths, sizes=sizes)
    noise = jax.random.normal(key, sizes, dtype)
    k2 = sum(k**2 for k in grid.wavenumbers(noise.dtype))
    # E|rfftn(noise)_k|² = N and irfftn divides by N, so scaling by √(N/V · spectrum)
    # gives E|c_k|² = spectrum for c_k = √V/N · rfftn(u)_k.
    std = jnp.sqrt(spectrum(k2) * (math.prod(sizes) / math.prod(lengths)))
    if zero_mean:
        std = std.at[(0,) * len(sizes)].set(0)
    return jnp.fft.irfftn(jnp.fft.rfftn(noise) * std, s=sizes).astype(noise.dtype)


def _cosine_sum(c: Array, axis: int) -> Array:
    """``Σ_{k<n} c_k cos(π k j / (n − 1))`` at ``j = 0..n−1`` along ``axis`` (a DCT-I, by FFT)."""
    n = c.shape[axis]
    weight = jnp.full((n,), 0.5, c.dtype).at[jnp.array([0, n - 1])].set(1.0)
    c = jnp.moveaxis(c, axis, -1) * (2 * (n - 1) * weight)
    return jnp.moveaxis(jnp.fft.irfft(c, n=2 * (n - 1))[..., :n], -1, axis)


@eqx.filter_jit
def neumann_random_field(key: PRNGKeyArray, sizes: tuple[int, ...], lengths: tuple[float, ...] | None = None,
                         *, spectrum: Spectrum, zero_mean: bool = True, dtype=None) -> Float[Array, "*sizes"]:
    """One sample of a Gaussian random field on ``∏ [0, L_i]`` for the zero-Neumann Laplacian.

    Cosine expansion over the orthonormal eigenfunctions
    ``φ_k(x) = ∏_i √((2 − δ_{k_i 0}) / L_i) cos(π k_i x_i / L_i)``, ``k_i = 0..n_i − 1``, with
    eigenvalues ``λ_k = Σ_i (π k_i / L_i)²`` and independent coefficients of variance
    ``spectrum(λ_k)``; evaluated on the node grid ``x_j = j L / (n − 1)`` including both
    ends (a type-I DCT per axis).

    Args:
        key: PRNG key.
        sizes: nodes per axis (>= 2), boundary nodes included.
        lengths: box side lengths (default 1 each).
        spectrum: ``λ -> variance`` of each mode, e.g. :class:`MaternSpectrum`.
        zero_mean: drop the constant mode.
        dtype: float dtype of the sample (default: JAX's default float).

    Returns:
        Array of shape ``sizes``.

    Example:
        >>> g = neumann_random_field(jax.random.key(0), (16, 16),
        ...                          spectrum=MaternSpectrum(sigma=1.0, tau=3.0, alpha=2.0))
        >>> g.shape
        (16, 16)
    """
    sizes = tuple(sizes)
    lengths = _lengths(sizes, lengths)
    c = jax.random.normal(key, sizes, dtype)
    d = len(sizes)
    eigenvalue, norm = 0.0, 1.0
    for i, (n, length) in enumerate(zip(sizes, lengths)):
        shape = [1] * d
        shape[i] = n
        k = jnp.arange(n, dtype=c.dtype).reshape(shape)
        eigenvalue = eigenvalue + (math.pi * k / length) ** 2
        norm = norm * jnp.sqrt(jnp.where(k == 0, 1.0, 2.0) / length)
    c = c * jnp.sqrt(spectrum(eigenvalue)) * norm
    if zero_mean:
        c = c.at[(0,) * d].set(0)
    for axis in range(d):
        c = _cosine_sum(c, axis)
    return c


@eqx.filter_jit
def fno_burgers_initial(key: PRNGKeyArray, n: int, dtype=None) -> Float[Array, " n"]:
    """FNO Burgers initial condition ``u₀ ~ N(0, 625 (−Δ + 25 I)^(−2))`` on the periodic unit interval.

    ``n`` points ``x_j = j / n``; zero mean.

    >>> fno_burgers_initial(jax.random.key(0), 64).shape  # the paper's data: 8192 points
    (64,)
    """
    return gaussian_random_field(key, (n,), spectrum=MaternSpectrum(sigma=25.0, tau=5.0, alpha=2.0), dtype=dtype)


@eqx.filter_jit
def fno_navier_stokes_initial(key: PRNGKeyArray, n: int, dtype=None) -> Float[Array, "n n"]:
    """FNO Navier–Stokes vorticity ``w₀``: ``GaussianRF(2, n, alpha=2.5, tau=7)`` on the unit torus.

    The FNO code's convention ``σ = τ^{(2α − d)/2} = 7^{1.5}`` gives the covariance
    ``7³ (−Δ + 49 I)^(−2.5)``; the paper writes the prefactor as ``7^{3/2}``, but the
    released data come from the code, which this follows. Zero mean; ``n × n`` points.

    >>> fno_navier_stokes_initial(jax.random.key(0), 16).shape  # the paper's data: 256 × 256
    (16, 16)
    """
    spectrum = MaternSpectrum(sigma=7.0**1.5, tau=7.0, alpha=2.5)
    return gaussian_random_field(key, (n, n), spectrum=spectrum, dtype=dtype)


@eqx.filter_jit
def darcy_coefficient(key: PRNGKeyArray, n: int, high: float = 12.0, low: float = 3.0,
                      dtype=None) -> Float[Array, "n n"]:
    """FNO Darcy coefficient: ``high`` where ``g ≥ 0``, ``low`` where ``g < 0``.

    ``g ~ N(0, (−Δ + 9 I)^(−2))`` with the zero-Neumann Laplacian on ``[0, 1]²`` (mean mode
    zeroed), on the ``n × n`` node grid including the boundary (``n = 421`` for the FNO
    data). The FNO MATLAB generator sampled ``g`` at cell centres (an ``idct2``) and
    spline-interpolated ``a`` to the nodes; here ``g`` is evaluated at the nodes
    directly, so ``a`` takes exactly the two values. The sign of ``g`` does not depend on
    the covariance's scale, so the generator's extra factor ``τ^{2α−2}`` does not matter.

    Example:
        >>> a = jax.vmap(lambda k: darcy_coefficient(k, 16))(jax.random.split(jax.random.key(0), 2))
        >>> a.shape, sorted(set(a.ravel().tolist()))  # the paper's data: 421 × 421
        ((2, 16, 16), [3.0, 12.0])
    """
    g = neumann_random_field(key, (n, n), spectrum=MaternSpectrum(sigma=1.0, tau=3.0, alpha=2.0), dtype=dtype)
    return jnp.where(g >= 0, jnp.asarray(high, g.dtype), jnp.asarray(low, g.dtype))
