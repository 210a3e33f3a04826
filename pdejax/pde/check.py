"""Consistency check: a PDE's right-hand side by autodiff at points vs by FFT on a grid.

Both evaluations use the same definition, so on a smooth band-limited periodic field
they must agree to round-off. A term that is not pointwise (a global mean, a roll, a
hand-written stencil) or a derivative name handled differently shows up as a large
discrepancy before anyone trains on it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp

from .autodiff import pointwise_residual
from .base import PDE
from .grid import box_grid, unchecked_grid_rhs
from .second_order import first_order_system


@dataclass
class ConsistencyReport:
    """Result of :func:`check_consistency`; ``ok`` when ``max_abs_diff <= tol · scale``."""

    pde: str
    grid: tuple[int, ...]
    dtype: str
    max_abs_diff: float
    scale: float
    tol: float
    ok: bool

    def as_dict(self) -> dict:
        return asdict(self)


def random_periodic_field(pde: PDE, key, modes: int = 3, dtype=jnp.float64):
    """A smooth random field ``x -> values`` (shape ``(dim,) -> (n_fields,)``), periodic on
    the PDE's box: a sum of ``modes`` random Fourier modes per axis with decaying amplitudes."""
    dom = pde.domain
    n_terms = 2 * modes
    k_wave, k_amp, k_phase = jax.random.split(key, 3)
    waves = jax.random.randint(k_wave, (len(pde.fields), n_terms, dom.dim), -modes, modes + 1)
    amps = jax.random.normal(k_amp, (len(pde.fields), n_terms), dtype) / (1 + jnp.sum(waves**2, -1))
    phases = jax.random.uniform(k_phase, (len(pde.fields), n_terms), dtype, 0, 2 * math.pi)
    lower = jnp.asarray(dom.lower, dtype)
    scale = 2 * math.pi / jnp.asarray(dom.lengths, dtype)
    mean = jax.random.normal(jax.random.fold_in(key, 1), (len(pde.fields),), dtype) * 0.1

    def field(x):
        arg = jnp.einsum("ftd,d->ft", waves.astype(dtype), scale * (x - lower)) + phases
        return mean + jnp.sum(amps * jnp.cos(arg), axis=-1)

    return field


def _moving(pde: PDE, field, t):
    """The fields of ``pde`` from a random ``field`` of its first-order system: second-order
    fields ``u + (t' - t)·u_t``, so that autodiff sees the velocity ``u_t`` at time ``t``."""
    n, dim, moving = len(pde.fields), pde.domain.dim, [pde.fields.index(f) for f in pde.second_order]

    def fn(q):
        values = field(q[:dim])
        if not moving:
            return values
        return values[:n].at[jnp.asarray(moving)].add((q[dim] - t) * values[n:])

    return fn


def check_consistency(pde: PDE, *, size: int = 32, modes: int = 3, seed: int = 0,
                      tol: float | None = None) -> ConsistencyReport:
    """Compare ``L u + N(u)`` by forward-mode autodiff and by FFT on a random periodic field.

    Runs in float64 when x64 is on, e.g. inside ``with jax.enable_x64(True):`` (default
    tolerance ``1e-9`` relative to the largest value), otherwise float32 (``1e-4``).
    """
    dtype = jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32  # the context's value too
    tol = tol if tol is not None else (1e-9 if dtype == jnp.float64 else 1e-4)
    system = first_order_system(pde)  # with the velocities u_t of second-order fields
    field = random_periodic_field(system, jax.random.PRNGKey(seed), modes, dtype)
    grid = box_grid(pde, size)  # any boundary: only the two evaluations are compared
    points = jnp.stack([m.ravel() for m in grid.mesh(dtype)], axis=-1)
    u = jax.vmap(field)(points).T.reshape((len(system.fields), *grid.sizes))
    t = None
    if pde.evolution:
        t = 0.5 * (pde.domain.time[0] + pde.domain.time[1])
        points = jnp.concatenate([points, jnp.full((points.shape[0], 1), t, dtype)], axis=1)
    # Rows of the equations of pde.fields (for a second-order u, the equation of u_t).
    rows = [system.fields.index(dict(zip(pde.second_order, pde.velocities)).get(k, k)) for k in pde.fields]
    spectral = unchecked_grid_rhs(system, grid, u, t)[jnp.asarray(rows)]
    # The field does not depend on t (a second-order u moves linearly in t, at its
    # velocity), so the evolution residual u_t - rhs (u_tt - rhs) is -rhs (constraint
    # fields have residual rhs).
    residual = jax.vmap(lambda p: pointwise_residual(pde, _moving(pde, field, t), p))(points)
    sign = jnp.asarray([-1.0 if pde.evolution and k in pde.evolving else 1.0 for k in pde.fields], dtype)
    autodiff = (residual * sign).T.reshape(spectral.shape)
    diff = float(jnp.max(jnp.abs(spectral - autodiff)))
    scale = max(float(jnp.max(jnp.abs(autodiff))), 1e-30)
    return ConsistencyReport(pde.name, grid.sizes, jnp.dtype(dtype).name, diff, scale, tol, diff <= tol * scale)
