"""Trajectory data sets for neural differential equations, made on the fly in float64.

A *system* makes ``n`` trajectories observed at common times: ``ts`` ``(T,)`` and ``ys``
``(n, T, *state)``. The ODE systems have closed forms or are integrated by diffrax's
``Dopri8`` at tolerances 1e-12 (global error ~1e-9); the Ornstein–Uhlenbeck process is sampled from its
exact Gaussian transition, so the data carry no discretisation error; ``pde`` trajectories
come from pdejax's spectral solver (ETDRK4) on a fine grid, stored on a coarser one.

Register your own with ``@SYSTEMS.register("name")``: a function of the config keys
under ``objective.data`` (besides ``system``) and the ``n``, ``ts``, ``key`` (and, for a
PDE, ``pde``) the family provides, returning :class:`Trajectories`.

Example:
    >>> import numpy as np, jax
    >>> data = SYSTEMS.build("damped_oscillator", {}, where="objective.data", n=3,
    ...                      ts=np.linspace(0, 1, 5), key=jax.random.PRNGKey(0), pde=None)
    >>> data.ys.shape, data.state_shape
    ((3, 5, 2), (2,))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ..config.errors import ConfigError
from ..config.registry import Registry
from ..pde import PDE, grid_for
from .trajectories import RandomFourierModes, SpectralTrajectories

SYSTEMS = Registry("trajectory system", provided=("n", "ts", "key", "pde"))


@dataclass
class Trajectories:
    """``n`` trajectories at common times.

    Attributes:
        ts: ``(T,)`` observation times (float64).
        ys: ``(n, T, *state)`` states (float64); ``ys[:, 0]`` are the initial states.
        grid: for PDE states ``(n_fields, *sizes)``, the grid they live on (else ``None``).
        truth: what generated the data, for reports (parameter values, a description).
        fine: optional ``(n, T, *state_fine)`` the same trajectories on a finer grid
            (zero-shot evaluation at a higher resolution), with ``fine_grid``.
    """

    ts: np.ndarray
    ys: np.ndarray
    grid: Any = None
    truth: dict[str, Any] = field(default_factory=dict)
    fine: np.ndarray | None = None
    fine_grid: Any = None

    @property
    def state_shape(self) -> tuple[int, ...]:
        return tuple(self.ys.shape[2:])


def _uniform(key, n: int, low, high) -> np.ndarray:
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    u = np.asarray(jax.random.uniform(key, (n, low.size), jnp.float32), np.float64)
    return low + (high - low) * u


@SYSTEMS.register("damped_oscillator")
def damped_oscillator(n: int, ts: np.ndarray, key, pde: PDE | None, *, omega: float = 1.0, damping: float = 0.1,
                      amplitude: float = 1.0) -> Trajectories:
    """``x'' + 2ζω x' + ω² x = 0`` as ``y = (x, x')``; ``y(t) = exp(A t) y0`` exactly, ``y0``
    uniform in ``[-amplitude, amplitude]²``."""
    if omega <= 0:
        raise ConfigError("omega", omega, "a positive angular frequency")
    if damping < 0:
        raise ConfigError("damping", damping, "a damping ratio >= 0")
    a = np.array([[0.0, 1.0], [-omega**2, -2 * damping * omega]])
    y0 = _uniform(key, n, [-amplitude] * 2, [amplitude] * 2)
    flows = scipy.linalg.expm(a[None] * (np.asarray(ts, np.float64) - ts[0])[:, None, None])  # (T, 2, 2)
    ys = np.einsum("tij,nj->nti", flows, y0)
    return Trajectories(np.asarray(ts, np.float64), ys, truth={"A": a.tolist(), "omega": omega, "damping": damping})


def _integrate(vector_field, y0: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Dopri8 at rtol = atol = 1e-12 in float64: ``(n, T, d)``."""
    with jax.enable_x64(True):
        term = diffrax.ODETerm(lambda t, y, args: vector_field(y))

        def one(y):
            sol = diffrax.diffeqsolve(term, diffrax.Dopri8(), ts[0], ts[-1], None, y,
                                      saveat=diffrax.SaveAt(ts=jnp.asarray(ts)),
                                      stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-12),
                                      max_steps=1_000_000)
            return sol.ys

        return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(y0, jnp.float64)))


@SYSTEMS.register("lotka_volterra")
def lotka_volterra(n: int, ts: np.ndarray, key, pde: PDE | None, *, alpha: float = 1.5, beta: float = 1.0,
                   gamma: float = 3.0, delta: float = 1.0, low: float = 0.5, high: float = 3.0) -> Trajectories:
    """Predator–prey ``x' = αx − βxy``, ``y' = δxy − γy`` (periodic orbits), ``y0`` uniform in
    ``[low, high]²``, integrated by Dopri8 (tolerances 1e-12; global error ~1e-9)."""
    if not 0 < low < high:
        raise ConfigError("low", low, f"0 < low < high = {high} (populations are positive)")
    y0 = _uniform(key, n, [low, low], [high, high])
    ys = _integrate(lambda y: jnp.stack([alpha * y[0] - beta * y[0] * y[1], delta * y[0] * y[1] - gamma * y[1]]),
                    y0, np.asarray(ts, np.float64))
    return Trajectories(np.asarray(ts, np.float64), ys,
                        truth={"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta})


@SYSTEMS.register("ornstein_uhlenbeck")
def ornstein_uhlenbeck(n: int, ts: np.ndarray, key, pde: PDE | None, *, theta: float = 1.0, mu: float = 0.0,
                       sigma: float = 0.5, y0: float = 1.5) -> Trajectories:
    """``dy = θ(μ − y) dt + σ dW`` from ``y(t0) = y0``, sampled exactly from the Gaussian
    transition ``y(t+Δ) = μ + (y − μ) e^{−θΔ} + σ √((1 − e^{−2θΔ})/(2θ)) ξ``: ``n`` independent paths."""
    if theta <= 0 or sigma <= 0:
        name, value = ("theta", theta) if theta <= 0 else ("sigma", sigma)
        raise ConfigError(name, value, "a positive number")
    ts = np.asarray(ts, np.float64)
    xi = np.asarray(jax.random.normal(key, (n, len(ts) - 1), jnp.float32), np.float64)
    ys = np.empty((n, len(ts), 1))
    ys[:, 0, 0] = y0
    for i, dt in enumerate(np.diff(ts)):
        decay = math.exp(-theta * dt)
        std = sigma * math.sqrt((1 - decay**2) / (2 * theta))
        ys[:, i + 1, 0] = mu + (ys[:, i, 0] - mu) * decay + std * xi[:, i]
    return Trajectories(ts, ys, truth={"theta": theta, "mu": mu, "sigma": sigma})


@SYSTEMS.register("pde")
def pde_trajectories(n: int, ts: np.ndarray, key, pde: PDE | None, *, grid: int = 64, resolution: int = 256,
                     dt: float = 1e-3, n_modes: int = 5, max_wavenumber: int = 3, amplitude: float = 1.0,
                     dealias: str = "2/3", fine_grid: int | None = None) -> Trajectories:
    """Trajectories of the ``pde`` section's PDE from random smooth initial conditions
    (:class:`~pdejax.data.RandomFourierModes`), solved by ETDRK4 in float64 on ``resolution``
    points per axis with step ``dt`` and stored on ``grid`` points (every
    ``resolution / grid``-th node), plus on ``fine_grid`` points for zero-shot evaluation.

    The observation times must be multiples of ``dt`` from the PDE's start time."""
    if pde is None:
        raise ConfigError("pde", None, "a pde section (pde.name: ...) for objective.data.system = pde")
    for name, size in (("grid", grid), ("fine_grid", fine_grid)):
        if size is not None and (size < 4 or resolution % size):
            raise ConfigError(name, size, f"at least 4 and a divisor of resolution = {resolution}")
    ts = np.asarray(ts, np.float64)
    t0 = pde.domain.time[0]
    steps = (ts - t0) / dt
    if np.any(np.abs(steps - np.round(steps)) > 1e-9 * np.maximum(1, steps)) or abs(ts[0] - t0) > 1e-12:
        raise ConfigError("dt", dt, f"a step dividing the observation times from t0 = {t0}")
    steps = np.round(steps).astype(int)
    save = int(np.gcd.reduce(np.diff(steps))) if len(steps) > 1 else 1
    with jax.enable_x64(True):
        gen = SpectralTrajectories(pde, resolution, dt, int(steps[-1]), save,
                                   RandomFourierModes(n_modes, max_wavenumber, amplitude),
                                   precision="float64", dealias=dealias)
        sample = jax.jit(jax.vmap(lambda k: gen.sample(k)["tensor"]))
        full = np.asarray(sample(jax.random.split(key, n)), np.float64)  # (n, frames, *sizes[, F])
    full = full[:, steps // save]
    if len(gen.fields) == 1:
        full = full[:, :, None]  # (n, T, 1, *sizes)
    else:
        full = np.moveaxis(full, -1, 2)

    def restrict(size):
        stride = resolution // size
        index = (slice(None),) * 3 + (slice(None, None, stride),) * len(gen.grid.sizes)
        return full[index], grid_for(pde, size)

    ys, coarse = restrict(grid)
    fine, fine_g = restrict(fine_grid) if fine_grid is not None else (None, None)
    return Trajectories(ts, ys, coarse, truth={"pde": pde.name, **{k: v for k, v in pde.params.items()
                                                                   if isinstance(v, int | float)}},
                        fine=fine, fine_grid=fine_g)
