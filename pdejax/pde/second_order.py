"""Second order in time: the reduction ``u_tt = L u + N`` → ``u_t = v, v_t = L u + N``.

A :class:`~pdejax.pde.PDE` declares ``second_order=("u",)`` for ``u_tt = L u + N(u, u_t)``;
the velocity is the field ``u_t`` of the first-order system, so the same right-hand side
(which reads ``f.u_t``) serves both. Grid solvers (the method of lines, the consistency
check, :func:`~pdejax.pde.grid_rhs`) work on :func:`first_order_system`; the spectral
solver keeps each pair ``(u, u_t)`` in the exponential part of ETDRK4 as a 2×2 block per
wavenumber (:func:`block_etdrk4_stepper`, :class:`~pdejax.spectral.BlockETDRK4`); a PINN
differentiates ``u`` twice in ``t`` (:func:`~pdejax.pde.pointwise_residual`) and must meet
the initial velocity too (:func:`initial_velocity_residual`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..spectral import FourierGrid
from ..spectral.etdrk4_block import BlockETDRK4
from .base import PDE, NonlinearFn
from .fields import Fields, parse_name


@dataclass(frozen=True)
class _VelocityEquations:
    """``N`` (or the flux, or the forcing) of the first-order system: the terms of a
    second-order field ``u`` go to the equation of its velocity ``u_t``. Compared by value, so equal systems are equal
    pytrees (jit caches hit)."""

    nonlinear: NonlinearFn
    renames: tuple[tuple[str, str], ...]

    def __call__(self, f: Fields, params: Mapping[str, Any]) -> dict[str, Any]:
        renames = dict(self.renames)
        return {renames.get(k, k): v for k, v in self.nonlinear(f, params).items()}


def _renamed(fn, velocity: dict[str, str]):
    return None if fn is None else _VelocityEquations(fn, tuple(velocity.items()))


def first_order_system(pde: PDE, *, block_terms: bool = True) -> PDE:
    """The first-order system of ``pde``: fields ``(*pde.fields, *pde.velocities)``, and for
    each second-order field ``u``: ``u_t' = ...`` as declared, ``u' = u_t``.

    A PDE without ``second_order`` fields is returned unchanged. The initial condition is
    the same function (it gives ``u_t`` too); the closed-form ``exact`` is dropped (it
    gives no velocities).

    Args:
        block_terms: ``False`` leaves out the linear terms inside each pair ``(u, u_t)``
            (``u' = u_t`` and the terms of ``u_t'`` in ``u`` and ``u_t``): what remains is
            the explicit part of the block ETDRK4 stepper.

    Example (Klein–Gordon ``u_tt = u_xx - u``):
        >>> import jax.numpy as jnp
        >>> from pdejax.pde import PDE, Box, Periodic
        >>> kg = PDE(name="kg", fields=("u",), domain=Box(x=(0, 1), t=(0, 1)), second_order=("u",),
        ...          linear={"u": {"u_xx": 1.0, "u": -1.0}}, boundary=Periodic(),
        ...          initial=lambda x, p: {"u": jnp.sin(2 * jnp.pi * x[0]), "u_t": 0.0})
        >>> system = first_order_system(kg)
        >>> system.fields, system.linear
        (('u', 'u_t'), {'u': {'u_t': 1.0}, 'u_t': {'u_xx': 1.0, 'u': -1.0}})
    """
    if not pde.second_order:
        return pde
    if pde.exponential is not None:
        raise ValueError(f"PDE {pde.name!r}: an exponential split with second_order fields is not supported "
                         "(the pairs (u, u_t) are the exponential part); leave exponential unset")
    velocity = dict(zip(pde.second_order, pde.velocities))
    fields = pde.fields + pde.velocities
    linear: dict[str, dict] = {}
    for field, terms in pde.linear.items():
        pair = {field, velocity.get(field)}
        kept = {d: c for d, c in terms.items()
                if block_terms or field not in velocity or parse_name(d, fields, pde.domain.coords)[0] not in pair}
        linear[velocity.get(field, field)] = kept
    if block_terms:
        for field, v in velocity.items():
            linear[field] = {v: 1.0}
    return PDE(name=pde.name, fields=fields, domain=pde.domain, params=pde.params,
               linear={f: linear[f] for f in fields if linear.get(f)}, nonlinear=_renamed(pde.nonlinear, velocity),
               flux=_renamed(pde.flux, velocity), forcing=_renamed(pde.forcing, velocity), initial=pde.initial,
               boundary=pde.boundary, constraints=pde.constraints)


def initial_velocity_residual(pde: PDE, fn, x: Float[Array, " dim"]) -> Float[Array, " second_order"]:
    """``u_t(x, t0) - u_t0(x)`` for each ``second_order`` field (one ``jax.jvp`` of ``fn``
    along ``t``): the initial condition a PINN must meet besides ``u(x, t0) = u0(x)``.

    Args:
        fn: maps a point ``[x..., t]`` of shape ``(dim + 1,)`` to the fields, ``(n_fields,)``.
        x: a spatial point, shape ``(dim,)``.

    Returns:
        shape ``(len(pde.second_order),)``.

    Example (``u_tt = u_xx`` from ``u = sin x``, ``u_t = cos x``; exact ``u = sin(x + t)``):
        >>> from pdejax.pde import PDE, Box
        >>> wave = PDE(name="wave", fields=("u",), domain=Box(x=(0, 6.3), t=(0, 1)), second_order=("u",),
        ...            linear={"u": {"u_xx": 1.0}},
        ...            initial=lambda x, p: {"u": jnp.sin(x[0]), "u_t": jnp.cos(x[0])})
        >>> exact = lambda p: jnp.sin(p[:1] + p[1])
        >>> initial_velocity_residual(wave, exact, jnp.array([0.5])).tolist()
        [0.0]
    """
    point = jnp.concatenate([x, jnp.full((1,), pde.domain.time[0], x.dtype)])
    along_t = jnp.zeros_like(point).at[-1].set(1)
    velocity = jax.jvp(fn, (point,), (along_t,))[1]
    return velocity[jnp.asarray([pde.fields.index(f) for f in pde.second_order], int)] - pde.initial_velocities(x)


def block_etdrk4_stepper(pde: PDE, grid: FourierGrid, dt: float, **options) -> BlockETDRK4:
    """ETDRK4 for a PDE with ``second_order`` fields on a periodic grid; the state is the
    ``rfftn`` of the evolving fields of :func:`first_order_system`, shape
    ``(n_evolving + n_second_order, *rfft shape)`` (e.g. ``(u, u_t)``).

    Per wavenumber the pair ``(û, û_t)`` evolves by the block ``[[0, 1], [a, b]]`` (``a``
    the symbol of the terms in ``u``, ``b`` of those in ``u_t``, e.g. damping) inside the
    exponential part, so the linear waves are integrated exactly whatever ``dt·k_max``;
    the nonlinear terms and all other couplings are explicit, at the stage times, as in
    :func:`~pdejax.pde.etdrk4_stepper` (which this calls for the explicit part; ``options``
    go to it: ``dealias``, ``dtype``).

    Example (the state of a Klein–Gordon field: ``(û, û_t)`` on 17 modes):
        >>> from pdejax.pde import PDE, Box, Periodic, grid_for
        >>> kg = PDE(name="kg", fields=("u",), domain=Box(x=(0, 1), t=(0, 1)), second_order=("u",),
        ...          linear={"u": {"u_xx": 1.0, "u": -1.0}}, boundary=Periodic(),
        ...          initial=lambda x, p: {"u": jnp.sin(2 * jnp.pi * x[0]), "u_t": 0.0})
        >>> grid = grid_for(kg, 32)
        >>> step = block_etdrk4_stepper(kg, grid, dt=0.1)
        >>> step.e.shape  # a 2x2 matrix exp(dt·M̂) per mode
        (2, 2, 17)
    """
    from .solve import _default_dtype, _symbol, etdrk4_stepper  # solve dispatches here

    dtype = _default_dtype(options.get("dtype"))
    system = first_order_system(pde)
    explicit = etdrk4_stepper(first_order_system(pde, block_terms=False), grid, dt, **options)
    state = {f: i for i, f in enumerate(system.evolving)}
    modes = grid.dealias_mask().shape  # the rfft shape
    symbol = np.zeros((len(state), len(state), *modes), np.complex128)
    for field, terms in system.linear.items():
        if field not in state:
            continue  # a constraint: eliminated inside the explicit part
        for deriv, coef in terms.items():
            source = parse_name(deriv, system.fields, system.domain.coords)[0]
            in_block = field in pde.second_order or field in pde.velocities
            if source == field or (in_block and source in (field, _partner(pde, field))):
                symbol[state[field], state[source]] += np.broadcast_to(
                    _symbol(system, grid, {deriv: coef}, dtype), symbol.shape[2:])
    return BlockETDRK4(symbol, explicit.nonlinear, dt, dtype=dtype)


def _partner(pde: PDE, field: str) -> str | None:
    """The other member of ``field``'s pair ``(u, u_t)``."""
    pairs = dict(zip(pde.second_order, pde.velocities))
    pairs |= {v: u for u, v in pairs.items()}
    return pairs.get(field)
