"""Dealiasing rules: the modes each keeps, and agreement with an independent NumPy ETDRK4."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import PDE, Box, Periodic, grid_for, spectral_solve
from pdejax.spectral import FourierGrid, dealias_fraction


def _kept_indices(grid, rule):
    """Integer wavenumbers |n| kept along the last (rfft) axis of a 1D grid."""
    return set(np.flatnonzero(grid.dealias_mask(rule)).tolist())


@pytest.mark.parametrize("n, rule, largest", [
    (512, "2/3", 170), (512, True, 170), (48, "2/3", 15), (438, "2/3", 145), (512, "1/2", 127), (48, "1/2", 11),
    (64, 0.75, 23), (64, 1.0, 31), (63, "2/3", 20), (512, "none", 256), (48, False, 24),
])
def test_mask_keeps_exactly_the_documented_modes(n, rule, largest):
    """Documented: |n| < fraction·(N // 2) (N = 512, 2/3: |n| <= 170; 1/2: |n| <= 127); "none": all."""
    grid = FourierGrid(("x",), (0.0,), (2.0,), (n,))
    assert _kept_indices(grid, rule) == set(range(largest + 1))


def test_mask_in_two_dimensions_and_bad_rules():
    grid = FourierGrid(("x", "y"), (0.0, 0.0), (1.0, 3.0), (12, 18))
    kx = np.rint(np.abs(np.fft.fftfreq(12, 1 / 12)))[:, None]
    ky = np.arange(10)[None, :]
    np.testing.assert_array_equal(grid.dealias_mask("1/2"), (kx < 3) & (ky < 4.5))
    np.testing.assert_array_equal(grid.dealias_mask("2/3"), (kx < 4) & (ky < 6))
    for bad in ("3/4", 0.0, 1.5, "two thirds", None):
        with pytest.raises(ValueError, match="not a dealiasing rule"):
            dealias_fraction(bad)


def _numpy_etdrk4_burgers(u0, nu, dt, n_steps, keep, length):
    """Independent reference: full complex FFT, ETDRK4 with coefficients from a
    64-point full-circle contour, u_t = nu u_xx - u u_x, the product masked by ``keep``."""
    n = u0.size
    index = np.fft.fftfreq(n, 1 / n)
    k = 2 * math.pi / length * index
    ik = np.where(np.abs(index) == n // 2, 0, 1j * k)  # odd derivative: no Nyquist mode
    mask = np.ones(n, bool) if keep is None else np.abs(index) < keep * (n // 2)
    lin = -nu * k**2
    z = dt * lin[:, None] + np.exp(2j * math.pi * (np.arange(64) + 0.5) / 64)[None, :]
    e, e2 = np.exp(dt * lin), np.exp(dt * lin / 2)
    q = dt * np.mean((np.exp(z / 2) - 1) / z, axis=1)
    f1 = dt * np.mean((-4 - z + np.exp(z) * (4 - 3 * z + z**2)) / z**3, axis=1)
    f2 = dt * np.mean((2 + z + np.exp(z) * (z - 2)) / z**3, axis=1)
    f3 = dt * np.mean((-4 - 3 * z - z**2 + np.exp(z) * (4 - z)) / z**3, axis=1)

    def nonlinear(v):
        return mask * np.fft.fft(-np.real(np.fft.ifft(v)) * np.real(np.fft.ifft(ik * v)))

    v = np.fft.fft(u0)
    for _ in range(n_steps):
        nv = nonlinear(v)
        a = e2 * v + q * nv
        na = nonlinear(a)
        b = e2 * v + q * na
        nb = nonlinear(b)
        c = e2 * a + q * (2 * nb - nv)
        v = e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nonlinear(c)
    return np.real(np.fft.ifft(v))


def test_matching_cutoffs_agree_with_a_numpy_reference_to_round_off(x64):
    """Under-resolved Burgers (steepening, energy reaching the cutoff): each rule agrees with
    the reference using the same cutoff to round-off and differs visibly from the others."""
    length, nu, n, dt, steps = 2 * math.pi, 0.02, 32, 0.01, 100
    pde = PDE(name="burgers", fields=("u",), domain=Box(x=(0.0, length), t=(0.0, 1.0)), params={"nu": nu},
              linear={"u": {"u_xx": "nu"}}, nonlinear=lambda f, p: {"u": -f.u * f.u_x},
              initial=lambda x, p: {"u": jnp.sin(x[0])}, boundary=Periodic())
    grid = grid_for(pde, n)
    (x,) = grid.mesh(jnp.float64)
    u0 = np.sin(np.asarray(x)) + 0.3 * np.cos(3 * np.asarray(x))
    rules = {"2/3": 2 / 3, "1/2": 1 / 2, "none": None, 0.8: 0.8}
    ours = {r: np.asarray(jax.jit(lambda u, r=r: spectral_solve(pde, grid, u, dt, steps, steps, dealias=r))(
        jnp.asarray(u0)[None])[-1, 0]) for r in rules}
    for rule, keep in rules.items():
        reference = _numpy_etdrk4_burgers(u0, nu, dt, steps, keep, length)
        scale = np.max(np.abs(reference))
        assert np.max(np.abs(ours[rule] - reference)) <= 1e-12 * scale, rule
    assert np.max(np.abs(ours["2/3"] - ours["1/2"])) > 1e-6
    assert np.max(np.abs(ours["2/3"] - ours["none"])) > 1e-6
