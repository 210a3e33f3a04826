"""ETDRK4 (Cox–Matthews) with Kassam–Trefethen contour-integral coefficients.

For semilinear problems ``u_t = L u + N(u, t)`` with ``L`` diagonal in Fourier space.
The stepper works in Fourier space on one state (``rfftn`` layout); ``jax.vmap``
batches. The explicit part ``N`` is evaluated at the stage times of the scheme
(``t``, ``t + dt/2``, ``t + dt/2``, ``t + dt``), so forcing that depends on time keeps
fourth order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec
from jax.typing import ArrayLike
from jaxtyping import Array, Inexact

if TYPE_CHECKING:
    from ..parallel.fft import SpaceFFT


class AbstractETDRK4(eqx.Module):
    """The four Cox–Matthews stages, shared by :class:`ETDRK4` (diagonal linear part) and
    :class:`~pdejax.spectral.BlockETDRK4` (2×2 blocks per mode). Subclass this: set the
    fields in ``__init__`` and say how a coefficient acts on a state in :meth:`apply`."""

    dt: float = eqx.field(static=True)
    nonlinear: Callable[[Array, Array], Array]  # a pytree (its parameters are leaves) or a function
    e: Array
    e2: Array
    q: Array
    f1: Array
    f2: Array
    f3: Array

    def apply(self, coefficient: Array, v: Array) -> Array:
        """``coefficient`` acting on the state ``v`` (a product per mode)."""
        return coefficient * v

    def __call__(self, v: Array, t: Array | float) -> Array:
        """The state a time ``dt`` after ``v``, which is the state at time ``t``."""
        n, half, mul = self.nonlinear, t + self.dt / 2, self.apply
        nv = n(v, t)
        a = mul(self.e2, v) + mul(self.q, nv)
        na = n(a, half)
        b = mul(self.e2, v) + mul(self.q, na)
        nb = n(b, half)
        c = mul(self.e2, a) + mul(self.q, 2 * nb - nv)
        nc = n(c, t + self.dt)
        return mul(self.e, v) + mul(self.f1, nv) + 2 * mul(self.f2, na + nb) + mul(self.f3, nc)


def cast_coefficients(coefs: list[np.ndarray], symbol: np.ndarray, dtype=None) -> list[Array]:
    """Host float64/complex128 coefficients as device arrays of the state's precision:
    real for a real symbol (the contour means' imaginary parts are round-off), else complex."""
    real = jnp.dtype(dtype if dtype is not None else jnp.zeros(()).dtype)
    if np.isrealobj(symbol) or bool(np.all(np.imag(symbol) == 0)):
        return [jnp.asarray(np.real(c), real) for c in coefs]
    return [jnp.asarray(c, jnp.result_type(real, 1j)) for c in coefs]


class ETDRK4(AbstractETDRK4):
    """One ETDRK4 step of size ``dt`` for ``û_t = L̂ û + N̂(û, t)``: ``step(v̂, t) -> v̂(t + dt)``.

    ``N̂`` is evaluated at the Cox–Matthews stage times ``t, t + dt/2, t + dt/2, t + dt``.
    It is the stable hook for every explicit right-hand-side term: a term added to
    ``N̂`` (a forcing, or a learned correction) is integrated at fourth order with the rest.

    Args:
        symbol: the linear operator's Fourier symbol ``L̂``, complex, shape of ``û``.
        nonlinear: ``N̂(û, t) -> array like û``, ``t`` a scalar time (dealiasing is the
            caller's choice).
        dt: time step.
        contour_points: points on the Kassam–Trefethen contour (radius 1 around ``dt·L̂``);
            32 gives double-precision coefficients even where ``dt·L̂ → 0``.
        dtype: real dtype of the state (default: JAX's default float); the coefficients
            are computed in float64 on the host and then cast.

    Domain parallelism: for a state whose first grid axis is sharded over a mesh's
    ``space`` axis, write ``nonlinear`` with the transforms of a
    :class:`~pdejax.parallel.fft.SpaceFFT` (distributed FFTs; the spectrum keeps the
    physical layout, grid axis 0 over ``space``) and use ``step.shard(fft)``: the
    coefficients are placed in that layout and the state is kept in it. A batch of
    states is ``jax.vmap(step, spmd_axis_name="data")`` (``"data"`` keeps it sharded).

    Example (``û_t = -û + cos t`` for one mode, from 0 to 1 in 10 steps):
        >>> step = ETDRK4(jnp.array([-1.0]), lambda v, t: jnp.cos(t) * jnp.ones_like(v), dt=0.1)
        >>> v = rollout(step, 10, 10)(jnp.array([0.0]))[-1]
        >>> exact = (jnp.cos(1.0) + jnp.sin(1.0) - jnp.exp(-1.0)) / 2
        >>> bool(jnp.abs(v[0] - exact) < 1e-5)
        True
    """

    layout: SpaceFFT | None = eqx.field(static=True)

    def __init__(self, symbol: Inexact[ArrayLike, "*modes"], nonlinear: Callable[[Array, Array], Array], dt: float,
                 contour_points: int = 32, dtype=None):
        self.dt, self.nonlinear, self.layout = dt, nonlinear, None
        # Coefficients in float64 on the host, whatever the state's precision: the
        # contour means are exact there, and a float32 run only rounds the results.
        sym = np.asarray(symbol)
        real_symbol = np.isrealobj(sym) or bool(np.all(np.imag(sym) == 0))
        lh = dt * sym.astype(np.complex128)
        # A real symbol needs only the upper half circle (the coefficients are the real
        # parts); a complex one (dispersion, e.g. KdV) needs the whole circle.
        if real_symbol:
            r = np.exp(1j * np.pi * (np.arange(1, contour_points + 1) - 0.5) / contour_points)
        else:
            r = np.exp(2j * np.pi * (np.arange(1, 2 * contour_points + 1) - 0.5) / (2 * contour_points))
        lr = lh[..., None] + r
        mean = lambda z: np.mean(z, axis=-1)
        coefs = [np.exp(lh), np.exp(lh / 2), dt * mean((np.exp(lr / 2) - 1) / lr),
                 dt * mean((-4 - lr + np.exp(lr) * (4 - 3 * lr + lr**2)) / lr**3),
                 dt * mean((2 + lr + np.exp(lr) * (-2 + lr)) / lr**3),
                 dt * mean((-4 - 3 * lr - lr**2 + np.exp(lr) * (4 - lr)) / lr**3)]
        self.e, self.e2, self.q, self.f1, self.f2, self.f3 = cast_coefficients(coefs, sym, dtype)

    def shard(self, layout: SpaceFFT | None) -> ETDRK4:
        """This stepper for states in ``layout`` (a :class:`~pdejax.parallel.fft.SpaceFFT`: grid
        axis 0 sharded over its mesh's ``space`` axis); the coefficients are placed to match.
        ``None`` undoes it.

        Example (one ``space`` device: the layout of a sharded run on a single device):
            >>> from pdejax.parallel.fft import SpaceFFT
            >>> from pdejax.parallel.mesh import make_mesh
            >>> fft = SpaceFFT(make_mesh(data=1, space=1, devices=jax.devices()[:1]), dim=2)
            >>> step = ETDRK4(-jnp.ones((8, 5)), lambda v, t: 0 * v, dt=0.1).shard(fft)
            >>> step.e.sharding.spec
            P('space', None)
        """
        new = _copy_with(self, layout=layout)
        if layout is None or layout.mesh is None:
            return new
        names = ("e", "e2", "q", "f1", "f2", "f3")
        placed = [jax.device_put(getattr(self, n), _coefficient_sharding(layout, getattr(self, n))) for n in names]
        return eqx.tree_at(lambda s: tuple(getattr(s, n) for n in names), new, tuple(placed))

    def __call__(self, v: Array, t: Array | float) -> Array:
        if self.layout is None or self.layout.mesh is None:
            return super().__call__(v, t)
        # Constraints, not only placed arrays: a stepper closed over by a jitted function
        # turns its coefficients into constants, which carry no sharding.
        keep = jax.lax.with_sharding_constraint
        names = ("e", "e2", "q", "f1", "f2", "f3")
        coefs = tuple(keep(getattr(self, n), _coefficient_sharding(self.layout, getattr(self, n))) for n in names)
        step = eqx.tree_at(lambda s: tuple(getattr(s, n) for n in names), self, coefs)
        state = NamedSharding(self.layout.mesh, _spec(self.layout, v.ndim))
        return keep(AbstractETDRK4.__call__(step, keep(v, state), t), state)


def _copy_with(module, **fields):
    """A copy of ``module`` with static fields replaced (the leaves are shared)."""
    new = copy.copy(module)
    for name, value in fields.items():
        object.__setattr__(new, name, value)
    return new


def _spec(layout, ndim: int) -> PartitionSpec:
    axes = [None] * ndim
    axes[ndim - layout.dim] = "space"
    return PartitionSpec(*axes)


def _coefficient_sharding(layout, c: Array) -> NamedSharding:
    """Grid axis 0 of a coefficient over ``space`` (replicated where it broadcasts: size 1 or absent)."""
    if c.ndim < layout.dim or c.shape[c.ndim - layout.dim] == 1:
        return NamedSharding(layout.mesh, PartitionSpec())
    return NamedSharding(layout.mesh, _spec(layout, c.ndim))


def rollout(step: Callable[[Array, Array], Array], n_steps: int, save_every: int = 1, *,
            dt: float | None = None) -> Callable[..., Array]:
    """A function ``(v0, t0=0.0) -> frames`` stepping ``n_steps`` times via ``lax.scan``.

    ``step(v, t)`` advances the state at time ``t`` by ``dt`` (default ``step.dt``, as an
    :class:`ETDRK4` has). Step ``k`` starts at ``t0 + k·dt`` computed from the integer
    ``k`` (no drift from summing ``dt``). The frames are the states after steps
    ``save_every, 2·save_every, ..., n_steps``: shape ``(n_steps // save_every, *v0.shape)``.
    """
    if n_steps % save_every:
        raise ValueError(f"n_steps = {n_steps} must be a multiple of save_every = {save_every}")
    dt = getattr(step, "dt", None) if dt is None else dt
    if dt is None:
        raise ValueError("rollout needs the time step: pass dt=, or a step with a .dt attribute (ETDRK4)")

    def run(v0, t0=0.0):
        real = jnp.zeros((), v0.dtype).real.dtype
        t0 = jnp.asarray(t0, real)

        def outer(v, frame):
            def inner(i, w):
                return step(w, t0 + (frame * save_every + i).astype(real) * jnp.asarray(dt, real))

            v = jax.lax.fori_loop(0, save_every, inner, v)
            return v, v

        return jax.lax.scan(outer, v0, jnp.arange(n_steps // save_every))[1]

    return run
