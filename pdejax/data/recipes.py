"""The published data recipes: FNO Burgers, FNO Darcy, FNO Navier–Stokes, KS, Allen–Cahn.

Each is a registered generator (``generator.name`` in ``configs/data/*.yaml``); the
arguments default to the paper's set-up, except where a note says why not.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.errors import ConfigError
from ..pde import allen_cahn as allen_cahn_pde
from ..pde import burgers as burgers_pde
from ..pde import kuramoto_sivashinsky as ks_pde
from ..pde import navier_stokes_2d
from ..pde.solve import initial_condition
from ..spectral import FourierGrid
from ..spectral.elliptic import solve_darcy
from ..spectral.random import MaternSpectrum, darcy_coefficient, gaussian_random_field
from .generators import GENERATORS, AbstractGenerator, ArraySpec
from .trajectories import Precision, SpectralTrajectories, n_steps_for


class GaussianInitial(eqx.Module):
    """Initial field from a periodic Gaussian random field ``N(0, σ² (−Δ + τ² I)^(−α))``."""

    spectrum: MaternSpectrum

    def __call__(self, key: PRNGKeyArray, grid: FourierGrid, dtype) -> Float[Array, "*sizes"]:
        return gaussian_random_field(key, grid.sizes, grid.lengths, spectrum=self.spectrum, dtype=dtype)

    def describe(self) -> str:
        s = self.spectrum
        return f"Gaussian random field N(0, {s.sigma**2:g} (-Laplacian + {s.tau**2:g} I)^-{s.alpha:g}), zero mean"


class DefinitionInitial(eqx.Module):
    """The PDE definition's own (deterministic) initial condition; the key is unused."""

    pde: Any

    def __call__(self, key: PRNGKeyArray, grid: FourierGrid, dtype) -> Float[Array, "*sizes"]:
        return initial_condition(self.pde, grid, dtype)[0]

    def describe(self) -> str:
        return f"the {self.pde.name} definition's initial condition (deterministic)"


def _frames(t_final: float, dt: float, frame_dt: float) -> tuple[int, int]:
    n_steps = n_steps_for(t_final, dt)
    save_every = round(frame_dt / dt)
    if save_every < 1 or abs(save_every * dt - frame_dt) > 1e-9 * frame_dt or n_steps % save_every:
        raise ConfigError("frame_dt", frame_dt, f"a multiple of dt = {dt} dividing t_final = {t_final}")
    return n_steps, save_every


@GENERATORS.register("burgers_fno")
def burgers_fno(n_points: int = 8192, nu: float = 0.1, t_final: float = 1.0, dt: float = 1e-4,
                frame_dt: float = 0.1, precision: Precision = "float32") -> SpectralTrajectories:
    """FNO Burgers (Li et al. 2021): u_t + u u_x = nu u_xx on the periodic unit interval,
    u0 ~ N(0, 625 (−Δ + 25 I)^−2), frames every ``frame_dt`` up to ``t_final`` (the
    operator maps frame 0 to the last). Solve at 8192 points and store coarser with
    ``store_stride: {x: 8}`` (1024) or more."""
    pde = burgers_pde(nu=nu, x_min=0.0, x_max=1.0, t_final=t_final, periodic=True)
    n_steps, save_every = _frames(t_final, dt, frame_dt)
    initial = GaussianInitial(MaternSpectrum(sigma=25.0, tau=5.0, alpha=2.0))
    return SpectralTrajectories(pde, n_points, dt, n_steps, save_every, initial, precision)


@GENERATORS.register("navier_stokes_fno")
def navier_stokes_fno(n_points: int = 64, nu: float = 1e-3, t_final: float = 50.0, dt: float = 1e-3,
                      frame_dt: float = 1.0, precision: Precision = "float32") -> SpectralTrajectories:
    """FNO Navier–Stokes: vorticity on the unit torus, forcing 0.1(sin 2π(x+y) + cos 2π(x+y)),
    w0 ~ N(0, 7³ (−Δ + 49 I)^−2.5), frames every ``frame_dt``. The paper solved at 256²
    (Crank–Nicolson, dt 1e-4) and recorded at 64²; ETDRK4 with dealiasing at ``n_points``
    = 64 is the default here for cost (set 256 with ``store_stride: {x: 4, y: 4}`` to follow it)."""
    pde = navier_stokes_2d(nu=nu, forcing="fno", t_final=t_final)
    n_steps, save_every = _frames(t_final, dt, frame_dt)
    initial = GaussianInitial(MaternSpectrum(sigma=7.0**1.5, tau=7.0, alpha=2.5))
    return SpectralTrajectories(pde, n_points, dt, n_steps, save_every, initial, precision)


@GENERATORS.register("kuramoto_sivashinsky")
def kuramoto_sivashinsky(n_points: int = 256, length: float = 60.0, t_final: float = 100.0, dt: float = 0.1,
                         frame_dt: float = 0.5, sigma: float = 1.0, precision: Precision = "float32"
                         ) -> SpectralTrajectories:
    """Kuramoto–Sivashinsky u_t + u u_x + u_xx + u_xxxx = 0 on the periodic ``[0, L)`` from
    smooth Gaussian random fields (covariance ∝ (−Δ + I)^−4, scaled to RMS ``sigma``)."""
    pde = ks_pde(length=length, t_final=t_final)
    n_steps, save_every = _frames(t_final, dt, frame_dt)
    # RMS of the field: Σ over modes of the spectrum / L; choose the prefactor for RMS sigma.
    k = 2 * math.pi * np.fft.fftfreq(n_points, 1.0 / n_points)[1:] / length
    variance = np.sum((k**2 + 1.0) ** -4.0) / length
    initial = GaussianInitial(MaternSpectrum(sigma=float(sigma / math.sqrt(variance)), tau=1.0, alpha=4.0))
    return SpectralTrajectories(pde, n_points, dt, n_steps, save_every, initial, precision)


@GENERATORS.register("allen_cahn_reference")
def allen_cahn_reference(n_points: int = 512, epsilon: float = 1e-4, rate: float = 5.0, t_final: float = 1.0,
                         dt: float = 1e-4, frame_dt: float = 0.005, precision: Precision = "float64"
                         ) -> SpectralTrajectories:
    """The Allen–Cahn PINN benchmark's reference (jaxpi: 512 points × 201 frames on
    [-1, 1) × [0, 1], u0 = x² cos(πx)); every sample is the same deterministic trajectory."""
    pde = allen_cahn_pde(epsilon=epsilon, rate=rate, t_final=t_final)
    n_steps, save_every = _frames(t_final, dt, frame_dt)
    return SpectralTrajectories(pde, n_points, dt, n_steps, save_every, DefinitionInitial(pde), precision)


class DarcyPairs(AbstractGenerator):
    """FNO Darcy pairs: coefficient ``nu`` (PDEBench's name) and solution ``tensor`` of
    ``−∇·(a∇u) = f`` on the unit square with ``u = 0`` on the boundary, on an ``n × n``
    node grid; ``a`` is the thresholded push-forward of ``N(0, (−Δ + 9 I)^−2)``."""

    n_points: int = eqx.field(static=True)
    high: float = eqx.field(static=True)
    low: float = eqx.field(static=True)
    source: float = eqx.field(static=True)
    precision: str = eqx.field(static=True)

    @property
    def arrays(self) -> dict[str, ArraySpec]:
        n, dtype = self.n_points, jnp.dtype(self.precision)
        return {"tensor": ArraySpec((1, n, n), dtype, ("t", "x", "y")), "nu": ArraySpec((n, n), dtype, ("x", "y"))}

    def coordinates(self) -> dict[str, np.ndarray]:
        x = np.linspace(0.0, 1.0, self.n_points)
        return {"x-coordinate": x, "y-coordinate": x.copy()}

    def attributes(self) -> dict[str, Any]:
        return {"pde": "darcy", "source": self.source, "coefficient": f"{self.high:g} where g >= 0, {self.low:g} "
                "where g < 0, g ~ N(0, (-Laplacian_Neumann + 9 I)^-2)", "resolution": [self.n_points] * 2,
                "solver": "second-order conservative finite differences (arithmetic face means), "
                "CG preconditioned by the fast sine-transform Poisson solver", "precision": self.precision}

    def sample(self, key: PRNGKeyArray) -> dict[str, Array]:
        a = darcy_coefficient(key, self.n_points, self.high, self.low, dtype=jnp.dtype(self.precision))
        sol = solve_darcy(a, self.source)
        # A CG failure must not pass silently into a data set: poison the sample.
        u = jnp.where(sol.converged, sol.u, jnp.nan)
        return {"tensor": u[None], "nu": a}


@GENERATORS.register("darcy_fno")
def darcy_fno(n_points: int = 421, high: float = 12.0, low: float = 3.0, source: float = 1.0,
              precision: Precision = "float32") -> DarcyPairs:
    """FNO Darcy (Li et al. 2021) at 421×421 nodes; store 85/141/211 with
    ``store_stride: {x: 5, y: 5}`` / ``{x: 3, y: 3}`` / ``{x: 2, y: 2}``."""
    if n_points < 5:
        raise ConfigError("n_points", n_points, "at least 5 nodes per side")
    if not high > 0 < low:
        raise ConfigError("low", low, "positive coefficient values")
    return DarcyPairs(n_points, high, low, source, precision)
