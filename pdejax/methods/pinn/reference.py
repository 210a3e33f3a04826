"""Where a PINN's evaluation reference comes from (``evaluation.reference.name``).

- ``exact``: the PDE's closed form on the evaluation grid (the default when it has one).
- ``spectral``: the spectral solver (ETDRK4, float64) for a periodic evolution PDE without a
  closed form, saved at the grid's times and Fourier-interpolated onto its points.
- ``ghia``: Ghia, Ghia & Shin's (1982) centre-line velocities of the lid-driven cavity.

Each entry takes the PDE and the evaluation grid ``{coord: (min, max, n)}`` and returns a
function computing ``(points (N, d), values (N, n_fields), shape)`` when first needed (a
reference may take a minute; validating a config does not compute it). Values that a
reference does not give (``nan``) are left out of the error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...config.errors import ConfigError
from ...config.registry import Registry
from ...pde import PDE, Periodic, first_order_system, grid_for, initial_condition, spectral_solve
from ...pde.library.benchmarks import ghia_reference
from ...training import AbstractEvaluator
from .evaluation import ExactSolutionEvaluator, evaluation_grid

Reference = tuple[np.ndarray, np.ndarray, tuple[int, ...]]
REFERENCES = Registry("reference", provided=("pde", "grid"))
MAX_REFERENCE_STEPS = 1_000_000


@REFERENCES.register("exact")
def exact(pde: PDE, grid: dict) -> Callable[[], Reference]:
    """The PDE's closed-form solution on the evaluation grid."""
    if pde.exact is None:
        raise ConfigError("name", "exact", f"a reference PDE {pde.name!r} has: it has no closed form "
                          "(spectral for a periodic evolution PDE, or a table)")

    def compute() -> Reference:
        points, shape = evaluation_grid(pde, grid)
        return points, np.asarray(pde.exact(points, pde.params), np.float64), shape

    return compute


@REFERENCES.register("spectral")
def spectral(pde: PDE, grid: dict, resolution: int = 256, dt: float = 1e-3,
             dealias: str = "2/3") -> Callable[[], Reference]:
    """The spectral solver's solution (ETDRK4 in float64 on ``resolution`` points per axis,
    steps of at most ``dt``) at the evaluation grid's times, Fourier-interpolated onto its points."""
    if not isinstance(pde.boundary, Periodic) or not pde.evolution:
        raise ConfigError("name", "spectral", f"a reference for PDE {pde.name!r}: the spectral solver needs a "
                          "periodic evolution problem")
    if pde.constraints:
        raise ConfigError("name", "spectral", f"a reference for PDE {pde.name!r}: its constraint fields "
                          f"{list(pde.constraints)} are not part of the solver's state")
    if not 8 <= resolution <= 65_536:
        raise ConfigError("resolution", resolution, "8 to 65536 points per axis")
    if not dt > 0:
        raise ConfigError("dt", dt, "a positive time step")
    t0 = pde.domain.time[0]
    t_lo, t_hi, nt = grid["t"]
    frame = (t_hi - t_lo) / (nt - 1) if nt > 1 else t_hi - t0
    skip = (t_lo - t0) / frame if frame > 0 else 0.0
    if frame <= 0 or skip < -1e-9 or abs(skip - round(skip)) > 1e-6:
        raise ConfigError("dt", dt, f"a spectral reference on evaluation.grid.t = {list(grid['t'])}: the times must "
                          f"be equally spaced and start at {t0} plus a whole number of their spacing")
    substeps = max(1, math.ceil(frame / dt - 1e-9))
    n_frames = round(skip) + nt - 1
    if n_frames * substeps > MAX_REFERENCE_STEPS:
        raise ConfigError("dt", dt, f"at most {MAX_REFERENCE_STEPS} solver steps to t = {t_hi}")

    def compute() -> Reference:
        with jax.enable_x64(True):
            fourier = grid_for(pde, resolution)
            u0 = initial_condition(pde, fourier, jnp.float64)
            solve = jax.jit(lambda u: spectral_solve(pde, fourier, u, frame / substeps, n_frames * substeps,
                                                     substeps, dealias=dealias))
            trajectory = np.asarray(solve(u0))[round(skip):]  # (nt, state, *sizes)
        state = first_order_system(pde).evolving
        trajectory = trajectory[:, [state.index(f) for f in pde.fields]]
        axes = [np.linspace(*grid[c][:2], int(grid[c][2])) for c in pde.domain.coords]
        values = fourier_interpolate(trajectory, pde.domain.lower, pde.domain.lengths, axes)  # (nt, f, *m)
        points, shape = evaluation_grid(pde, grid)
        values = np.moveaxis(values, 0, -1)  # (fields, *spatial, nt): the grid's 'ij' order, t last
        return points, values.reshape(len(pde.fields), -1).T, shape

    return compute


@REFERENCES.register("ghia")
def ghia(pde: PDE, grid: dict) -> Callable[[], Reference]:
    """Ghia, Ghia & Shin (1982): u on the vertical and v on the horizontal centre line of the cavity."""
    if pde.fields != ("u", "v", "p") or pde.domain.coords != ("x", "y") or pde.evolution:
        raise ConfigError("name", "ghia", f"a reference for PDE {pde.name!r}: Ghia et al.'s tables are for the "
                          "steady cavity flow (fields u, v, p on the unit square)")
    reynolds = 1.0 / pde.params["nu"]
    try:
        points, values = ghia_reference(round(reynolds, 6))
    except ValueError as err:
        raise ConfigError("name", "ghia", f"a reference for Re = {reynolds:g} ({err})") from None
    return lambda: (points, values, (points.shape[0],))


def fourier_interpolate(values: np.ndarray, lower, lengths, axes: list[np.ndarray]) -> np.ndarray:
    """Periodic samples ``values[..., n_1, ..., n_d]`` on ``lower_i + j·length_i/n_i`` evaluated at
    the points ``axes[i]`` of each axis (trigonometric interpolation, the Nyquist mode as a
    cosine): shape ``(..., len(axes[0]), ..., len(axes[-1]))``.

    >>> x = np.arange(8) / 8 * 2 * np.pi
    >>> u = fourier_interpolate(np.sin(x) + np.cos(3 * x), [0.0], [2 * np.pi], [np.array([0.3])])
    >>> bool(np.isclose(u[0], np.sin(0.3) + np.cos(0.9)))
    True
    """
    d = len(axes)
    out = np.asarray(values, np.float64)
    for i, (lo, length, at) in enumerate(zip(lower, lengths, axes)):
        axis = out.ndim - d + i
        n = out.shape[axis]
        coeffs = np.fft.fft(out, axis=axis) / n
        k = np.fft.fftfreq(n, 1.0 / n)
        phase = 2 * np.pi * np.outer(np.asarray(at) - lo, k) / length  # (m, n)
        basis = np.exp(1j * phase)
        if n % 2 == 0:
            basis[:, n // 2] = np.cos(phase[:, n // 2])
        out = np.moveaxis(np.tensordot(basis, np.moveaxis(coeffs, axis, 0), axes=(1, 0)).real, 0, axis)
    return out


class LazyEvaluator(AbstractEvaluator):
    """An :class:`ExactSolutionEvaluator` against a reference computed on first use."""

    def __init__(self, pde: PDE, reference: Callable[[], Reference], dtype: Any):
        self.pde, self._reference, self.dtype = pde, reference, dtype
        self._inner: ExactSolutionEvaluator | None = None

    @property
    def inner(self) -> ExactSolutionEvaluator:
        if self._inner is None:
            points, values, shape = self._reference()
            self._inner = ExactSolutionEvaluator(self.pde, points, shape, self.dtype, reference=values)
        return self._inner

    def __call__(self, model: Any) -> dict[str, float]:
        return self.inner(model)

    def report(self, model: Any, directory=None) -> dict[str, Any]:
        return self.inner.report(model, directory)
