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
from .fields import DerivativeKey, Fields

PointFn = Callable[[Float[Array, " n"]], Float[Array, " fields"]]
Mode = Literal["jvp", "jet", "auto"]


def _unit(n: int, i: int, dtype) -> Array:
    return jnp.zeros((n,), dtype).at[i].set(1)


def directional_tower(fn: PointFn, point: Array, direction: Array, order: int,
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


def pointwise_residual(pde: PDE, fn: PointFn, point: Float[Array, " n"],
                       mode: Mode = "auto") -> Float[Array, " fields"]:
    """PDE residual of the field function ``fn`` at one point, shape ``(n_fields,)``.

    ``∂_t u - (L u + N(u))`` for evolution problems (``∂_tt u - ...`` for ``second_order``
    fields, whose velocity ``u_t`` the terms may read), ``L u + N(u)`` for steady ones and
    for constraint fields, with every derivative taken by forward-mode autodiff of ``fn``.
    """
    names = pde.domain.point_names
    coordinates = dict(zip(names, point))
    velocity = dict(zip(pde.velocities, pde.second_order))

    def key(k: DerivativeKey) -> DerivativeKey:
        # u_t_x (a derivative of the velocity of u) is u_xt: x orders, then t.
        return (velocity[k[0]], k[1] + (("t", 1),)) if k[0] in velocity else k

    order = {f: 2 if f in pde.second_order else 1 for f in pde.evolving}
    requests = {key(k) for k in pde.requested_derivatives(coordinates, dtype=point.dtype)}
    if pde.evolution:
        requests |= {(f, (("t", n),)) for f, n in order.items()}
    values = point_derivatives(fn, point, requests, pde.fields, names, mode)
    f = Fields(pde.fields + pde.velocities, pde.domain.coords, lambda k: values[key(k)], coordinates)
    rhs = pde.rhs(f)
    if pde.evolution:
        return jnp.stack([values[(k, (("t", order[k]),))] - rhs[k] if k in order else rhs[k]
                          for k in pde.fields])
    return jnp.stack([rhs[k] for k in pde.fields])
