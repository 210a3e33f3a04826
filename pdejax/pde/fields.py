"""Named access to field values and derivatives: ``f.u``, ``f.u_x``, ``f.u_xy``, ``f.x``.

The same :class:`Fields` object is built by every derivative provider (autodiff at a
point, FFT on a grid), so a PDE's terms are written once and evaluated either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp

# (field name, sorted tuple of (coordinate, order)) identifies one derivative.
DerivativeKey = tuple[str, tuple[tuple[str, int], ...]]


def parse_name(name: str, fields: tuple[str, ...], coords: tuple[str, ...]) -> DerivativeKey:
    """``"u_xxy"`` → ``("u", (("x", 2), ("y", 1)))``; a plain field name has no orders."""
    if name in fields:
        return name, ()
    head, sep, tail = name.rpartition("_")
    if sep and head in fields and tail and all(c in coords for c in tail):
        return head, tuple((c, tail.count(c)) for c in coords if c in tail)
    if sep and head in fields and tail and "t" in tail and "t" not in coords and f"{head}_t" in fields:
        raise AttributeError(
            f"{name!r}: {head} is second order in time ({head}_tt = L {head} + N is its equation); the "
            f"right-hand side reads {head}, its velocity {head}_t and their spatial derivatives "
            f"({head}_{coords[0]}, {head}_t_{coords[0]}), not {name}")
    if sep and head in fields and tail and "t" in tail and "t" not in coords:
        raise AttributeError(
            f"{name!r}: a time derivative is not a term of the right-hand side (the equation of "
            f"{head!r} is {head}_t = L {head} + N); for {head}_tt = L {head} + N declare "
            f"second_order=({head!r},) in the PDE, then read the velocity as {head}_t and its spatial "
            f"derivatives as {head}_t_{coords[0]}")
    raise AttributeError(
        f"{name!r} is not a field or derivative here: fields are {fields}, derivatives are "
        f"written like {fields[0]}_{coords[0]}{coords[0]} (coordinates {coords})")


class Fields:
    """Values, derivatives and coordinates looked up by name.

    Args:
        fields: field names of the PDE.
        coords: spatial coordinate names.
        lookup: ``lookup(key) -> array`` computes one derivative (see ``parse_name``).
        coordinates: values of the coordinates (``x``, ``t``...) for source terms.
    """

    def __init__(self, fields: tuple[str, ...], coords: tuple[str, ...],
                 lookup: Callable[[DerivativeKey], Any], coordinates: Mapping[str, Any]):
        self._fields, self._coords = fields, coords
        self._lookup, self._coordinates = lookup, dict(coordinates)
        self._cache: dict[DerivativeKey, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._coordinates:
            return self._coordinates[name]
        key = parse_name(name, self._fields, self._coords)
        if key not in self._cache:
            self._cache[key] = self._lookup(key)
        return self._cache[key]

    __getitem__ = __getattr__


class RecordingFields(Fields):
    """Stand-in that records which derivatives a term function asks for.

    Returns zeros of ``shape``; used once at trace time so that the real provider can
    compute all requested derivatives together (one Taylor tower per direction).
    """

    def __init__(self, fields, coords, coordinates, shape=(), dtype=jnp.float32):
        self.requested: set[DerivativeKey] = set()
        self.coordinates_read: set[str] = set()  # e.g. {"t"}: a term that depends on time

        def record(key: DerivativeKey):
            self.requested.add(key)
            return jnp.zeros(shape, dtype)

        super().__init__(fields, coords, record, coordinates)

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("_") and name in self._coordinates:
            self.coordinates_read.add(name)
        return super().__getattr__(name)

    __getitem__ = __getattr__


def shifted_key(key: DerivativeKey, coord: str, coords: tuple[str, ...]) -> DerivativeKey:
    """The derivative ``key`` once more along ``coord``: ``("u", (("x", 1),))`` along ``"y"``
    is ``("u", (("x", 1), ("y", 1)))`` (orders listed in the order of ``coords``)."""
    field, orders = key
    counts = dict(orders)
    counts[coord] = counts.get(coord, 0) + 1
    ordered = [c for c in coords if c in counts] + [c for c in counts if c not in coords]
    return field, tuple((c, counts[c]) for c in ordered)
