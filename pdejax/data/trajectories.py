"""Trajectories of periodic PDEs from random smooth initial conditions (ETDRK4).

``SpectralTrajectories`` turns any PDE of the library that lives on a periodic box into
a generator; the registered ``heat`` and ``advection`` generators are thin wrappers
that also serve as templates for new ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.errors import ConfigError
from ..pde import PDE, PDES, first_order_system, grid_for
from ..pde.solve import etdrk4_stepper, from_fourier, to_fourier
from ..spectral import ETDRK4, BlockETDRK4, FourierGrid, dealias_fraction, rollout
from .generators import FIELD_AXIS, GENERATORS, TIME_AXIS, AbstractGenerator, ArraySpec

Precision = Literal["float32", "float64"]


class RandomFourierModes(eqx.Module):
    """A random smooth periodic field: ``Σ_j a_j sin(2π k_j·(x - lower)/L + φ_j)``.

    ``n_modes`` terms with integer wave vectors ``k_j`` uniform in
    ``{-max_wavenumber..max_wavenumber}^d``, amplitudes ``a_j`` uniform in
    ``[-amplitude, amplitude]`` and phases ``φ_j`` uniform in ``[0, 2π)``.
    """

    n_modes: int = eqx.field(static=True)
    max_wavenumber: int = eqx.field(static=True)
    amplitude: float = eqx.field(static=True)

    def __call__(self, key: PRNGKeyArray, grid: FourierGrid, dtype) -> Float[Array, "*sizes"]:
        k_key, a_key, p_key = jax.random.split(key, 3)
        d = len(grid.sizes)
        k = jax.random.randint(k_key, (self.n_modes, d), -self.max_wavenumber, self.max_wavenumber + 1)
        a = jax.random.uniform(a_key, (self.n_modes,), dtype, -self.amplitude, self.amplitude)
        phase = jax.random.uniform(p_key, (self.n_modes,), dtype, 0.0, 2 * math.pi)
        scaled = [(m - lo) / length for m, lo, length in zip(grid.mesh(dtype), grid.lower, grid.lengths)]
        arg = sum(2 * math.pi * k[:, i, None].astype(dtype) * scaled[i].reshape(-1)[None] for i in range(d))
        return jnp.sum(a[:, None] * jnp.sin(arg + phase[:, None]), axis=0).reshape(grid.sizes)

    def describe(self) -> str:
        return (f"sum of {self.n_modes} sines, integer wave vectors |k_i| <= {self.max_wavenumber}, "
                f"amplitudes U(-{self.amplitude}, {self.amplitude}), phases U(0, 2 pi)")


class SpectralTrajectories(AbstractGenerator):
    """Trajectories of a periodic PDE by ETDRK4 from random initial conditions.

    ``tensor`` is ``(T, *sizes)`` for one field (``(T, *sizes, n_fields)`` for several),
    frames ``t0, t0 + save_every·dt, ...``, the initial condition first, so
    ``T = 1 + n_steps // save_every``.

    Args:
        pde: a PDE on a periodic box, evolving in time.
        n_points: grid points per spatial axis (an int, or one per axis).
        dt: time step.
        n_steps: steps per trajectory (a multiple of ``save_every``).
        save_every: steps between stored frames.
        initial: ``initial(key, grid, dtype) -> (*sizes)`` one field's initial condition,
            drawn independently per evolving field (and per velocity ``u_t`` of a
            ``second_order`` field, which is stored as a field too).
        precision: dtype of the solver.
        dealias: dealiasing rule of the nonlinear terms: ``"2/3"`` (default), ``"1/2"``
            (cubic terms), ``"none"`` or a fraction in ``(0, 1]`` (see
            :meth:`~pdejax.spectral.FourierGrid.dealias_mask`).
    """

    pde: PDE
    grid: FourierGrid
    stepper: ETDRK4 | BlockETDRK4
    n_steps: int = eqx.field(static=True)
    save_every: int = eqx.field(static=True)
    initial: Callable[..., Array] = eqx.field(static=True)
    precision: str = eqx.field(static=True)
    dealias: str | float = eqx.field(static=True)

    def __init__(self, pde: PDE, n_points: int | tuple[int, ...], dt: float, n_steps: int, save_every: int,
                 initial: Callable[..., Array], precision: Precision = "float32", dealias: str | float = "2/3"):
        if not pde.evolution:
            raise ValueError(f"PDE {pde.name!r} has no time axis; trajectories need an evolution problem")
        if n_steps % save_every:
            raise ConfigError("save_every", save_every, f"a divisor of the number of steps {n_steps}")
        if precision == "float64" and not jax.config.read("jax_enable_x64"):  # reads jax.enable_x64 too
            raise ConfigError("precision", precision, "float32, or float64 inside "
                              "`with jax.enable_x64(True):` (pdejax data generate does this)")
        try:
            dealias_fraction(dealias)
        except ValueError as err:
            raise ConfigError("dealias", dealias, '"2/3", "1/2", "none" or a fraction in (0, 1]') from err
        self.pde, self.grid = pde, grid_for(pde, n_points)
        self.stepper = etdrk4_stepper(pde, self.grid, dt, dtype=jnp.dtype(precision), dealias=dealias)
        self.dealias = dealias
        self.n_steps, self.save_every, self.initial, self.precision = n_steps, save_every, initial, precision

    @property
    def fields(self) -> tuple[str, ...]:
        """The stored fields: the evolving ones, then the velocities ``u_t`` of ``second_order`` fields."""
        return tuple(first_order_system(self.pde).evolving)

    @property
    def n_frames(self) -> int:
        return 1 + self.n_steps // self.save_every

    @property
    def arrays(self) -> dict[str, ArraySpec]:
        axes = (TIME_AXIS, *self.grid.coords) + ((FIELD_AXIS,) if len(self.fields) > 1 else ())
        shape = (self.n_frames, *self.grid.sizes) + ((len(self.fields),) if len(self.fields) > 1 else ())
        return {"tensor": ArraySpec(shape, jnp.dtype(self.precision), axes)}

    def coordinates(self) -> dict[str, np.ndarray]:
        g = self.grid  # in float64 on the host, whatever JAX's default precision
        coords = {f"{c}-coordinate": lo + length * np.arange(n) / n
                  for c, lo, length, n in zip(g.coords, g.lower, g.lengths, g.sizes)}
        t0 = self.pde.domain.time[0]
        coords["t-coordinate"] = t0 + self.stepper.dt * self.save_every * np.arange(self.n_frames)
        return coords

    def attributes(self) -> dict[str, Any]:
        describe = getattr(self.initial, "describe", None)
        return {"pde": self.pde.name, **{k: float(v) for k, v in self.pde.params.items()},
                "fields": list(self.fields), "solver": f"etdrk4 (pseudo-spectral, {self.dealias} dealiasing)",
                "dt": self.stepper.dt, "n_steps": self.n_steps, "save_every": self.save_every,
                "resolution": list(self.grid.sizes), "precision": self.precision,
                "initial_condition": describe() if describe else repr(self.initial)}

    def sample(self, key: PRNGKeyArray) -> dict[str, Array]:
        dtype = jnp.dtype(self.precision)
        u0 = jnp.stack([self.initial(k, self.grid, dtype) for k in jax.random.split(key, len(self.fields))])
        t0 = self.pde.domain.time[0]
        frames = rollout(self.stepper, self.n_steps, self.save_every)(to_fourier(self.grid, u0), t0)
        traj = jnp.concatenate([u0[None], from_fourier(self.grid, frames).astype(dtype)])  # (T, F, *sizes)
        return {"tensor": traj[:, 0] if len(self.fields) == 1 else jnp.moveaxis(traj, 1, -1)}


def n_steps_for(t_final: float, dt: float) -> int:
    """``t_final / dt`` as an int; ConfigError naming ``dt`` if it does not divide."""
    n = round(t_final / dt)
    if n < 1 or abs(n * dt - t_final) > 1e-9 * max(1.0, t_final):
        raise ConfigError("dt", dt, f"a positive step dividing t_final = {t_final} (t_final/dt = {t_final / dt:g})")
    return n


def _periodic_trajectories(pde_name: str, pde_args: dict[str, Any], *, n_points: int, t_final: float, dt: float,
                           save_every: int, n_modes: int, max_wavenumber: int, amplitude: float,
                           precision: Precision) -> SpectralTrajectories:
    if n_points < 4:
        raise ConfigError("n_points", n_points, "at least 4 grid points")
    # Called directly (not PDES.build): a ConfigError("kappa", ...) from the PDE is then
    # reported by GENERATORS.build as generator.kappa.
    pde = PDES.get(pde_name, where="generator")(**pde_args, t_final=t_final)
    initial = RandomFourierModes(n_modes, max_wavenumber, amplitude)
    return SpectralTrajectories(pde, n_points, dt, n_steps_for(t_final, dt), save_every, initial, precision)


@GENERATORS.register("heat")
def heat(n_points: int = 128, kappa: float = 0.01, length: float = 1.0, t_final: float = 1.0, dt: float = 0.01,
         save_every: int = 10, n_modes: int = 4, max_wavenumber: int = 8, amplitude: float = 1.0,
         precision: Precision = "float32") -> SpectralTrajectories:
    """Heat u_t = kappa u_xx on a periodic interval from random Fourier-mode initial conditions (ETDRK4)."""
    return _periodic_trajectories("heat", {"kappa": kappa, "length": length}, n_points=n_points, t_final=t_final,
                                  dt=dt, save_every=save_every, n_modes=n_modes, max_wavenumber=max_wavenumber,
                                  amplitude=amplitude, precision=precision)


@GENERATORS.register("advection")
def advection(n_points: int = 128, velocity: float = 1.0, length: float = 1.0, t_final: float = 1.0,
              dt: float = 0.01, save_every: int = 10, n_modes: int = 4, max_wavenumber: int = 8,
              amplitude: float = 1.0, precision: Precision = "float32") -> SpectralTrajectories:
    """Advection u_t + c u_x = 0 on a periodic interval from random Fourier-mode initial conditions (ETDRK4)."""
    return _periodic_trajectories("advection", {"velocity": velocity, "length": length}, n_points=n_points,
                                  t_final=t_final, dt=dt, save_every=save_every, n_modes=n_modes,
                                  max_wavenumber=max_wavenumber, amplitude=amplitude, precision=precision)
