"""Domains: an axis-aligned box in space, optionally times an interval in time."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class Box(eqx.Module):
    """Axis-aligned box ``∏ [lower_i, upper_i]`` in space, times ``[t0, t1]`` if ``time``.

    Coordinate names are single letters (``x``, ``y``, ``z``) so that derivative names
    like ``u_xy`` read unambiguously. A *point* is the array of spatial coordinates
    followed by the time: shape ``(dim + 1,)`` for evolution problems, ``(dim,)`` for
    steady ones.

    Example:
        >>> import jax.numpy as jnp
        >>> box = Box(x=(-1.0, 1.0), t=(0.0, 1.0))
        >>> box.point_names, box.dim
        (('x', 't'), 1)
        >>> box.to_unit(jnp.array([0.0, 0.25])).tolist()  # onto [-1, 1]^2, as networks see points
        [0.0, -0.5]
    """

    coords: tuple[str, ...] = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    time: tuple[float, float] | None = eqx.field(static=True)

    def __init__(self, t: tuple[float, float] | None = None, **intervals: tuple[float, float]):
        if not intervals:
            raise ValueError("Box needs at least one spatial interval, e.g. Box(x=(0, 1))")
        for name, (a, b) in intervals.items():
            if len(name) != 1 or name == "t":
                raise ValueError(f"spatial coordinate names are single letters other than 't', got {name!r}")
            if not b > a:
                raise ValueError(f"interval {name}=({a}, {b}) must have upper > lower")
        if t is not None and not t[1] > t[0]:
            raise ValueError(f"time interval t=({t[0]}, {t[1]}) must have t1 > t0")
        self.coords = tuple(intervals)
        self.lower = tuple(float(a) for a, _ in intervals.values())
        self.upper = tuple(float(b) for _, b in intervals.values())
        self.time = None if t is None else (float(t[0]), float(t[1]))

    @property
    def dim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.coords)

    @property
    def point_names(self) -> tuple[str, ...]:
        """Names of the entries of a point: spatial coordinates, then ``t`` if timed."""
        return self.coords + (("t",) if self.time is not None else ())

    @property
    def point_lower(self) -> tuple[float, ...]:
        return self.lower + ((self.time[0],) if self.time is not None else ())

    @property
    def point_upper(self) -> tuple[float, ...]:
        return self.upper + ((self.time[1],) if self.time is not None else ())

    @property
    def lengths(self) -> tuple[float, ...]:
        return tuple(b - a for a, b in zip(self.lower, self.upper))

    def to_unit(self, point: Float[Array, " n"]) -> Float[Array, " n"]:
        """Affine map of a point onto ``[-1, 1]^n`` (what networks see)."""
        lo = jnp.asarray(self.point_lower, point.dtype)
        hi = jnp.asarray(self.point_upper, point.dtype)
        return 2 * (point - lo) / (hi - lo) - 1

    def grid(self, **sizes: int) -> dict[str, Float[Array, " n"]]:
        """Uniform 1D coordinate arrays including both end points, e.g. ``grid(x=256, t=100)``."""
        bounds = dict(zip(self.point_names, zip(self.point_lower, self.point_upper)))
        return {k: jnp.linspace(*bounds[k], n) for k, n in sizes.items()}
