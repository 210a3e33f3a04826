"""LPSDA's data recipe for Korteweg–de Vries (Brandstetter, Welling & Worrall, ICML 2022).

``u_t + alpha u u_x + beta u_xxx = 0`` (theirs: ``alpha = beta = 1``) on a periodic
interval of length 128 from sums of sines, the data of their KdV symmetry-augmentation
experiments; registered as the ``kdv_lpsda`` generator.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.errors import ConfigError
from ..pde import kdv as kdv_pde
from ..spectral import FourierGrid
from .generators import GENERATORS
from .recipes import _frames
from .trajectories import Precision, SpectralTrajectories


class SineWaves(eqx.Module):
    """``Σ_j A_j sin(2π l_j (x - lower) / L + φ_j)``: ``n_waves`` sines with integer
    wavenumbers ``l_j`` uniform in ``{1..max_wavenumber}``, ``A_j ~ U(-amplitude, amplitude)``
    and ``φ_j ~ U(0, 2π)`` (LPSDA's initial conditions: 10 waves, ``l ≤ 2``, amplitude 0.5)."""

    n_waves: int = eqx.field(static=True)
    max_wavenumber: int = eqx.field(static=True)
    amplitude: float = eqx.field(static=True)

    def __call__(self, key: PRNGKeyArray, grid: FourierGrid, dtype) -> Float[Array, " n"]:
        k_a, k_p, k_l = jax.random.split(key, 3)
        a = jax.random.uniform(k_a, (self.n_waves,), dtype, -self.amplitude, self.amplitude)
        phase = jax.random.uniform(k_p, (self.n_waves,), dtype, 0.0, 2 * math.pi)
        wave = jax.random.randint(k_l, (self.n_waves,), 1, self.max_wavenumber + 1).astype(dtype)
        x = (grid.coordinates(dtype)[0] - grid.lower[0]) / grid.lengths[0]
        return jnp.sum(a[:, None] * jnp.sin(2 * math.pi * wave[:, None] * x[None] + phase[:, None]), axis=0)

    def describe(self) -> str:
        return (f"sum of {self.n_waves} sines, wavenumbers uniform in 1..{self.max_wavenumber}, "
                f"amplitudes U(-{self.amplitude}, {self.amplitude}), phases U(0, 2 pi)")


@GENERATORS.register("kdv_lpsda")
def kdv_lpsda(n_points: int = 256, length: float = 128.0, alpha: float = 1.0, beta: float = 1.0,
              t_final: float = 100.0, dt: float = 0.01, frame_dt: float = 1.0, n_waves: int = 10,
              max_wavenumber: int = 2, amplitude: float = 0.5, precision: Precision = "float32"
              ) -> SpectralTrajectories:
    """KdV u_t + alpha u u_x + beta u_xxx = 0 on a periodic [-L/2, L/2) from sums of sines
    (LPSDA's set-up: alpha = beta = 1, L = 128, 10 sines of wavenumbers 1-2)."""
    if n_waves < 1 or max_wavenumber < 1:
        raise ConfigError("n_waves" if n_waves < 1 else "max_wavenumber", min(n_waves, max_wavenumber),
                          "a positive integer")
    pde = kdv_pde(alpha=alpha, beta=beta, length=length, t_final=t_final)
    n_steps, save_every = _frames(t_final, dt, frame_dt)
    initial = SineWaves(n_waves, max_wavenumber, amplitude)
    return SpectralTrajectories(pde, n_points, dt, n_steps, save_every, initial, precision)
