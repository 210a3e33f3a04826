"""Derivatives of a network at one point by forward-mode autodiff.

A derivative ``∂^k u / ∂x^k`` along one coordinate comes from one Taylor tower: nested
``jax.jvp`` (``mode="jvp"``) or a single Taylor-mode pass (``mode="jet"``,
``jax.experimental.jet``), which costs O(k²) instead of O(2^k) and wins for k ≥ 3
(KdV, Kuramoto–Sivashinsky). Mixed derivatives nest ``jax.jvp`` along each coordinate.
Everything works on one point; ``jax.vmap`` batches it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import jax
import jax.numpy as jnp
from jax.experimental import jet
from jaxtyping import Array, Float

from .base import PDE
from .fields import DerivativeKey, Fields, RecordingFields, shifted_key

PointFn = Callable[[Float[Array, " n"]], Float[Array, " fields"]]
Mode = Literal["jvp", "jet", "auto"]


def _unit(n: int, i: int, dtype) -> Array:
    return jnp.zeros((n,), dtype).at[i].set(1)


def directional_tower(fn: PointFn, point: Float[Array, " dim"], direction: Float[Array, " dim"], order: int,
                      mode: Mode = "auto") -> list[Array]:
    """``[fn, D fn, D² fn, ..., D^order fn]`` at ``point`` along ``direction``."""
    if mode == "auto":
        mode = "jet" if order >= 3 else "jvp"
    if order == 0:
        return [fn(point)]
    if mode == "jet":
        series = [direction] + [jnp.zeros_like(direction)] * (order - 1)
        y0, ys = jet.jet(fn, (point,), (series,))
        return [y0, *ys]

    def tower(k: int) -> Callable[[Array], list[Array]]:
        if k == 0:
            return lambda p: [fn(p)]
        inner = tower(k - 1)

        def step(p):
            values, tangents = jax.jvp(inner, (p,), (direction,))
            return values + [tangents[-1]]

        return step

    return tower(order)(point)


def _mixed(fn: PointFn, point: Array, directions: list[Array]) -> Array:
    def directional(h: PointFn, d: Array) -> PointFn:
        return lambda p: jax.jvp(h, (p,), (d,))[1]

    g = fn
    for d in directions:
        g = directional(g, d)
    return g(point)


def point_derivatives(fn: PointFn, point: Float[Array, " n"], requests: Iterable[DerivativeKey],
                      fields: tuple[str, ...], names: tuple[str, ...],
                      mode: Mode = "auto") -> dict[DerivativeKey, Array]:
    """Evaluate every requested derivative of ``fn`` at ``point``.

    Args:
        fn: maps a point of shape ``(n,)`` to field values of shape ``(len(fields),)``.
        point: the point; its entries are the coordinates ``names`` in order.
        requests: derivative keys ``(field, ((coord, order), ...))``.
        fields, names: field names and point coordinate names (e.g. ``("x", "t")``).
        mode: ``"jvp"`` (nested jvp), ``"jet"`` (Taylor mode) or ``"auto"``.

    Returns:
        ``{key: scalar}`` for every request.
    """
    # Sorted, not a set: set order of strings changes between processes (hash
    # randomisation), which would change the traced program and its rounding.
    requests = sorted(set(requests) | {(f, ()) for f in fields})
    n = point.shape[0]
    fidx = {f: i for i, f in enumerate(fields)}
    out: dict[DerivativeKey, Array] = {}
    # Pure derivatives along one coordinate share one tower up to the highest order.
    pure: dict[str, int] = {}
    mixed = []
    for field, orders in requests:
        if len(orders) == 1:
            c, k = orders[0]
            pure[c] = max(pure.get(c, 0), k)
        elif len(orders) > 1:
            mixed.append((field, orders))
    value = None
    for c, k in pure.items():
        tower = directional_tower(fn, point, _unit(n, names.index(c), point.dtype), k, mode)
        value = tower[0]
        for field, orders in requests:
            if len(orders) == 1 and orders[0][0] == c:
                out[(field, orders)] = tower[orders[0][1]][fidx[field]]
    if value is None:
        value = fn(point)
    for field in fields:
        out[(field, ())] = value[fidx[field]]
    for field, orders in mixed:
        dirs = [_unit(n, names.index(c), point.dtype) for c, k in orders for _ in range(k)]
        out[(field, orders)] = _mixed(fn, point, dirs)[fidx[field]]
    return {k: out[k] for k in requests}


def flux_plan(pde: PDE, coordinates: dict[str, Array], dtype=None) -> tuple[list[DerivativeKey], list[str]]:
    """``(keys, directions)``: the derivatives the flux reads (sorted) and the coordinates
    along which it has components (in the PDE's order); empty without flux terms."""
    if pde.flux is None:
        return [], []
    rec = RecordingFields(pde.fields + pde.velocities, pde.domain.coords, coordinates, dtype=dtype or jnp.float32)
    components = pde.flux_terms(rec)
    along = sorted({c for comps in components.values() for c in comps}, key=pde.domain.coords.index)
    return sorted(rec.requested), along


def flux_divergence(pde: PDE, lookup: Callable[[DerivativeKey], Array], coordinates: dict[str, Array],
                    dtype=None) -> dict[str, Array]:
    """``∇·flux`` per field at one point by the chain rule, from derivatives already known.

    For each coordinate ``c`` along which a flux has a component, one ``jax.jvp`` of the
    flux function (cheap scalar algebra, no network pass) with the values it reads as
    primals and their derivatives along ``c`` as tangents (``lookup`` must provide both:
    request ``shifted_key(k, c)`` for each ``k`` of :meth:`PDE.flux_requests`); explicit
    dependence on the coordinate ``c`` is differentiated too.
    """
    if pde.flux is None:
        return {}
    names = pde.fields + pde.velocities
    keys, along = flux_plan(pde, coordinates, dtype)
    primal_values = [lookup(k) for k in keys]
    coords = {k: jnp.asarray(v) for k, v in coordinates.items()}
    out: dict[str, Array] = {}
    for c in along:
        def flux_along(values, coords, c=c):
            table = dict(zip(keys, values))
            terms = pde.flux_terms(Fields(names, pde.domain.coords, table.__getitem__, coords))
            return {field: comps[c] for field, comps in terms.items() if c in comps}

        tangent_values = [lookup(shifted_key(k, c, pde.domain.coords)) for k in keys]
        tangent_coords = {k: jnp.ones_like(v) if k == c else jnp.zeros_like(v) for k, v in coords.items()}
        values, tangents = jax.jvp(flux_along, (primal_values, coords), (tangent_values, tangent_coords))
        for field, d in tangents.items():
            d = jnp.broadcast_to(d, jnp.shape(values[field]))
            out[field] = d if field not in out else out[field] + d
    return out


def pointwise_residual(pde: PDE, fn: PointFn, point: Float[Array, " n"],
                       mode: Mode = "auto") -> Float[Array, " fields"]:
    """PDE residual of the field function ``fn`` at one point, shape ``(n_fields,)``.

    ``∂_t u - (L u + N(u))`` for evolution problems (``∂_tt u - ...`` for ``second_order``
    fields, whose velocity ``u_t`` the terms may read), ``L u + N(u)`` for steady ones and
    for constraint fields, with every derivative taken by forward-mode autodiff of ``fn``;
    flux terms by the chain rule (:func:`flux_divergence`), from derivatives one order
    higher along each flux direction, taken in the same Taylor towers.
    """
    names = pde.domain.point_names
    coordinates = dict(zip(names, point))
    velocity = dict(zip(pde.velocities, pde.second_order))

    def key(k: DerivativeKey) -> DerivativeKey:
        # u_t_x (a derivative of the velocity of u) is u_xt: x orders, then t.
        return (velocity[k[0]], k[1] + (("t", 1),)) if k[0] in velocity else k

    order = {f: 2 if f in pde.second_order else 1 for f in pde.evolving}
    requests = {key(k) for k in pde.requested_derivatives(coordinates, dtype=point.dtype)}
    flux_keys, along = flux_plan(pde, coordinates, point.dtype)
    for k in flux_keys:
        requests |= {key(k)} | {key(shifted_key(k, c, pde.domain.coords)) for c in along}
    if pde.evolution:
        requests |= {(f, (("t", n),)) for f, n in order.items()}
    values = point_derivatives(fn, point, requests, pde.fields, names, mode)
    lookup = lambda k: values[key(k)]
    f = Fields(pde.fields + pde.velocities, pde.domain.coords, lookup, coordinates)
    rhs = pde.rhs(f, flux_divergence(pde, lookup, coordinates, point.dtype))
    if pde.evolution:
        return jnp.stack([values[(k, (("t", order[k]),))] - rhs[k] if k in order else rhs[k]
                          for k in pde.fields])
    return jnp.stack([rhs[k] for k in pde.fields])
