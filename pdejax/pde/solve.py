"""Pseudo-spectral time stepping of a PDE definition on a periodic grid (ETDRK4).

The state is the ``rfftn`` of the *evolving* fields, shape ``(n_evolving, *rfft shape)``.
From the definition:

- ``L`` (the exponential part) is every linear term of a field in its own equation;
- constraint fields (``PDE.constraints``, e.g. a stream function) are solved for in
  Fourier space from their linear equation at every stage;
- everything else — nonlinear terms and linear terms coupling fields — is evaluated
  pseudo-spectrally (derivatives straight from the Fourier coefficients, products on
  the grid), dealiased by the rule ``dealias`` (default the 2/3 rule; see
  :meth:`~pdejax.spectral.FourierGrid.dealias_mask` for the modes each rule keeps), at
  the ETDRK4 stage times (terms may depend on ``f.t``).

Periodic PDEs only: a PDE with another boundary is refused with a ValueError (use
:func:`~pdejax.pde.solve_mol` on a Chebyshev grid).

Example:
    >>> from pdejax.pde import PDES, grid_for
    >>> pde = PDES.build("kuramoto_sivashinsky", {}, where="pde")
    >>> grid = grid_for(pde, 32)
    >>> traj = spectral_solve(pde, grid, initial_condition(pde, grid), dt=0.25, n_steps=8, save_every=4)
    >>> traj.shape  # the initial state and every 4th step
    (3, 1, 32)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from ..spectral import ETDRK4, FourierGrid, rollout
from ..spectral.etdrk4_block import BlockETDRK4
from .base import PDE
from .grid import require_periodic
from .second_order import block_etdrk4_stepper, first_order_system
from .spectral_terms import ExtraFn, spectral_terms, split_linear, symbol


def _default_dtype(dtype):
    return jnp.dtype(dtype if dtype is not None else jnp.zeros(()).dtype)


def _symbol(pde: PDE, grid: FourierGrid, terms: dict, dtype=None) -> np.ndarray:
    """Fourier symbol of a sum of linear terms, on the host (complex128): the ETDRK4
    coefficients are computed from it once, so the PDE's coefficients must be concrete."""
    return symbol(pde, grid, terms)


def linear_symbol(pde: PDE, grid: FourierGrid, dtype=None) -> np.ndarray:
    """Fourier symbol of each evolving field's linear terms in itself, shape
    ``(n_evolving, *rfft shape)``; real when every term is of even order."""
    if pde.second_order:
        raise ValueError(f"PDE {pde.name!r} has second_order fields {pde.second_order}: its linear part is a "
                         "2x2 block per wavenumber, not a diagonal symbol (see block_etdrk4_stepper)")
    dtype = _default_dtype(dtype)
    diagonal, _ = split_linear(pde)
    sym = np.stack([symbol(pde, grid, diagonal[f]) for f in pde.evolving])
    return np.real(sym).astype(dtype) if np.all(np.imag(sym) == 0) else sym.astype(np.result_type(dtype, 1j))


def etdrk4_stepper(pde: PDE, grid: FourierGrid, dt: float, *, dealias: str | float | bool = "2/3",
                   dtype=None, extra: ExtraFn | None = None, fft_calls: str = "auto") -> ETDRK4 | BlockETDRK4:
    """One ETDRK4 step of ``pde`` on ``grid`` in Fourier space (see the module docstring).

    The returned stepper maps ``(v̂, t)``, ``v̂`` of shape ``(n_evolving, *rfft shape)`` the
    state at time ``t``, to the state at ``t + dt``; ``jax.vmap`` batches it. Its explicit
    part ``N̂(v̂, t)`` (``stepper.nonlinear``, a :class:`~pdejax.pde.spectral_terms.SpectralTerms`:
    the nonlinear, flux and forcing terms and the linear terms coupling fields) reads ``f.t``
    at the stage times ``t, t + dt/2, t + dt/2, t + dt``. Each stage makes one batched
    inverse FFT of exactly the spectra the terms read and one batched forward FFT of the
    terms evaluated on the grid (``stepper.nonlinear.transforms_per_stage``).

    Args:
        dealias: ``"2/3"`` (default), ``"1/2"`` (cubic terms), ``"none"``, a fraction in
            ``(0, 1]``, or ``True``/``False`` for ``"2/3"``/``"none"``; applied to ``N̂``.
        extra: an extra right-hand-side term ``extra(f) -> {field: value}`` on the grid,
            evaluated with the PDE's own terms at every stage (it shares their transforms)
            and integrated at fourth order with them: the hook for a learned correction
            (see :func:`~pdejax.pde.spectral_terms.spectral_terms`).
        fft_calls: how the transforms of a stage are issued: ``"auto"`` (default),
            ``"batched"`` or ``"per_field"`` (:func:`~pdejax.pde.spectral_terms.fft_calls_for`).

    With ``second_order`` fields the state also holds their velocities ``u_t`` and each
    pair ``(u, u_t)`` is a 2×2 block of the exponential part (a
    :class:`~pdejax.spectral.BlockETDRK4`, see :func:`~pdejax.pde.block_etdrk4_stepper`).

    Raises a ValueError for a PDE that is not periodic or a bad ``dealias``.
    """
    require_periodic(pde, "etdrk4_stepper (spectral ETDRK4)")
    if pde.second_order:  # (u, u_t) as 2x2 blocks in the exponential part
        return block_etdrk4_stepper(pde, grid, dt, dealias=dealias, dtype=dtype, extra=extra, fft_calls=fft_calls)
    dtype = _default_dtype(dtype)
    explicit = spectral_terms(pde, grid, dealias=dealias, dtype=dtype, extra=extra, fft_calls=fft_calls)
    return ETDRK4(linear_symbol(pde, grid, dtype), explicit, dt, dtype=dtype)


def to_fourier(grid: FourierGrid, u: Float[Array, "fields *sizes"]) -> Complex[Array, "fields *rfft"]:
    """``rfftn`` over the grid's axes (the stepper's state from physical fields)."""
    return jnp.fft.rfftn(u, axes=grid.axes)


def from_fourier(grid: FourierGrid, v_hat: Complex[Array, "fields *rfft"]) -> Float[Array, "fields *sizes"]:
    """Physical fields from the stepper's state."""
    return jnp.fft.irfftn(v_hat, s=grid.sizes, axes=grid.axes)


def initial_condition(pde: PDE, grid: FourierGrid, dtype=None) -> Float[Array, "evolving *sizes"]:
    """The definition's initial condition on ``grid``, evolving fields only (then the
    velocities ``u_t`` of ``second_order`` fields: the state of :func:`spectral_solve`)."""
    dtype = _default_dtype(dtype)
    pde = first_order_system(pde)
    points = jnp.stack([m.ravel() for m in grid.mesh(dtype)], axis=-1)
    values = jax.vmap(pde.initial_values)(points)
    keep = [pde.fields.index(f) for f in pde.evolving]
    return values[:, keep].T.reshape((len(keep), *grid.sizes))


def check_initial_shape(u0, expected: tuple[int, ...], names: tuple[str, ...], solver: str) -> None:
    """ValueError naming the expected shape ``(n_fields, *grid.sizes)`` and the given one."""
    shape = tuple(getattr(u0, "shape", ()))
    if shape != tuple(expected):
        raise ValueError(f"{solver}: initial condition u0 has shape {shape}; expected (n_fields, *grid.sizes) = "
                         f"{tuple(expected)} for fields {names} (add the field axis with u0[None] for one field)")


def spectral_solve(pde: PDE, grid: FourierGrid, u0: Float[Array, "evolving *sizes"], dt: float, n_steps: int,
                   save_every: int = 1, *, t0: float | None = None, dealias: str | float | bool = "2/3",
                   extra: ExtraFn | None = None) -> Float[Array, "frames evolving *sizes"]:
    """Trajectory of ``pde`` from ``u0`` by ETDRK4: ``u0`` and every ``save_every``-th of
    ``n_steps`` steps, shape ``(1 + n_steps // save_every, n_evolving, *sizes)``.

    One trajectory in; ``jax.vmap`` over ``u0`` for a batch. The rollout is one
    ``lax.scan``; jit the call (or the vmapped call) for speed.

    Args:
        u0: the evolving fields at ``t0``, shape ``(n_evolving, *grid.sizes)`` (ValueError
            naming both shapes otherwise); for ``second_order`` fields ``u`` followed by
            their velocities ``u_t`` (see :func:`initial_condition`), and so the frames.
        t0: the start time (default: the start of the PDE's time interval); step ``k``
            starts at ``t0 + k·dt``, and time-dependent terms see the stage times.
        dealias: the dealiasing rule of :func:`etdrk4_stepper`.
        extra: an extra right-hand-side term on the grid (see :func:`etdrk4_stepper`).
    """
    state = first_order_system(pde).evolving  # with the velocities u_t of second-order fields
    check_initial_shape(u0, (len(state), *grid.sizes), state, "spectral_solve")
    if t0 is None:
        t0 = pde.domain.time[0] if pde.evolution else 0.0
    step = etdrk4_stepper(pde, grid, dt, dealias=dealias, dtype=u0.dtype, extra=extra)
    frames = rollout(step, n_steps, save_every)(to_fourier(grid, u0), t0)
    return jnp.concatenate([u0[None], from_fourier(grid, frames).astype(u0.dtype)])
