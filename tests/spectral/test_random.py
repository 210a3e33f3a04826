"""Gaussian random fields: Monte-Carlo variances against the KL spectrum, Darcy coefficients."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.fft

from pdejax.spectral.random import (
    MaternSpectrum,
    darcy_coefficient,
    fno_burgers_initial,
    fno_navier_stokes_initial,
    gaussian_random_field,
    neumann_random_field,
)

SAMPLES = 2000


pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def _samples(field, **kwargs):
    keys = jax.random.split(jax.random.key(0), SAMPLES)
    return np.asarray(jax.vmap(lambda k: field(k, **kwargs))(keys))


def _assert_mc_mean(samples, expected, z=5.0):
    """``mean(samples, 0) ≈ expected`` within ``z`` Monte-Carlo standard errors where ``expected > 0``."""
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    mask = np.broadcast_to(expected, mean.shape) > 0
    worst = np.max((np.abs(mean - expected) / se)[mask])
    assert worst < z, (worst, mean, expected)


@pytest.mark.parametrize("sizes, lengths, spectrum", [
    ((64,), (1.0,), MaternSpectrum(sigma=25.0, tau=5.0, alpha=2.0)),
    ((16, 24), (1.0, 2.0), MaternSpectrum(sigma=1.0, tau=3.0, alpha=2.0)),
    ((8, 8, 6), (1.0, 1.0, 1.0), MaternSpectrum(sigma=1.0, tau=2.0, alpha=1.5)),
])
def test_periodic_variances_match_kl_sum(sizes, lengths, spectrum):
    u = _samples(gaussian_random_field, sizes=sizes, lengths=lengths, spectrum=spectrum)
    volume, n = math.prod(lengths), math.prod(sizes)
    full = np.meshgrid(*[2 * np.pi * np.fft.fftfreq(s, length / s) for s, length in zip(sizes, lengths)],
                       indexing="ij")
    variance = np.asarray(spectrum(sum(k**2 for k in full)))
    variance.flat[0] = 0.0
    # Pointwise variance = Σ_k spectrum(|k|²) |e^{ik·x}/√V|², the same at every point.
    _assert_mc_mean(u**2, variance.sum() / volume)
    _assert_mc_mean((u**2).mean(tuple(range(1, u.ndim))), variance.sum() / volume)
    # Coefficients on the orthonormal modes e^{ik·x}/√V: E|c_k|² = spectrum(|k|²).
    c = math.sqrt(volume) / n * np.fft.rfftn(u, axes=tuple(range(1, u.ndim)))
    rfft_variance = variance[..., : sizes[-1] // 2 + 1]
    _assert_mc_mean(np.abs(c) ** 2, rfft_variance)
    assert np.max(np.abs(c[(slice(None),) + (0,) * len(sizes)])) < 1e-12


def test_neumann_cosine_variances_match_spectrum():
    sizes, lengths = (17, 21), (1.0, 1.5)
    spectrum = MaternSpectrum(sigma=1.0, tau=3.0, alpha=2.0)
    g = _samples(neumann_random_field, sizes=sizes, lengths=lengths, spectrum=spectrum)
    # Invert the cosine sum u_j = Σ_k b_k cos(π k j/(n−1)) with scipy's DCT-I, then divide
    # out the orthonormal eigenfunctions' factors √((2 − δ_k0)/L).
    b = g
    for axis, (n, length) in enumerate(zip(sizes, lengths), start=1):
        b = scipy.fft.idct(b, type=1, axis=axis)
        interior = np.where((np.arange(n) == 0) | (np.arange(n) == n - 1), 1.0, 2.0)
        factor = interior / np.sqrt(np.where(np.arange(n) == 0, 1.0, 2.0) / length)
        b = b * factor.reshape([-1 if i == axis else 1 for i in range(b.ndim)])
    k1, k2 = np.meshgrid(np.arange(sizes[0]), np.arange(sizes[1]), indexing="ij")
    variance = np.asarray(spectrum((np.pi * k1 / lengths[0]) ** 2 + (np.pi * k2 / lengths[1]) ** 2))
    variance[0, 0] = 0.0
    _assert_mc_mean(b**2, variance)
    assert np.max(np.abs(b[:, 0, 0])) < 1e-12


def test_darcy_coefficient_is_thresholded_and_balanced():
    key = jax.random.key(3)
    a = darcy_coefficient(key, 421, dtype=jnp.float32)
    assert a.shape == (421, 421) and a.dtype == jnp.float32
    assert set(np.unique(np.asarray(a))) == {3.0, 12.0}
    np.testing.assert_array_equal(a, darcy_coefficient(key, 421, dtype=jnp.float32))
    assert not np.array_equal(a, darcy_coefficient(jax.random.key(4), 421, dtype=jnp.float32))
    keys = jax.random.split(jax.random.key(5), 400)
    high = np.asarray(jax.vmap(lambda k: darcy_coefficient(k, 65, high=1.0, low=0.0))(keys))
    assert abs(high.mean() - 0.5) < 0.02, high.mean()  # P(g ≥ 0) = 1/2 at every node


def test_named_recipes_and_dtypes():
    key = jax.random.key(1)
    u0 = fno_burgers_initial(key, 128, dtype=jnp.float32)
    w0 = fno_navier_stokes_initial(key, 32)
    assert u0.shape == (128,) and u0.dtype == jnp.float32 and w0.shape == (32, 32) and w0.dtype == jnp.float64
    assert abs(float(u0.mean())) < 1e-5 and abs(float(w0.mean())) < 1e-12
    spectrum = MaternSpectrum(sigma=7.0**1.5, tau=7.0, alpha=2.5)
    np.testing.assert_array_equal(w0, gaussian_random_field(key, (32, 32), spectrum=spectrum))
    g = neumann_random_field(key, (9, 9), spectrum=spectrum, dtype=jnp.float32)
    assert g.dtype == jnp.float32


def test_rejects_bad_grids():
    spectrum = MaternSpectrum(sigma=1.0, tau=1.0, alpha=1.0)
    with pytest.raises(ValueError, match="lengths"):
        gaussian_random_field(jax.random.key(0), (8, 8), (1.0,), spectrum=spectrum)
    with pytest.raises(ValueError, match="sizes"):
        neumann_random_field(jax.random.key(0), (1, 8), spectrum=spectrum)
