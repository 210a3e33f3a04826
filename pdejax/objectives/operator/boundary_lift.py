"""A constant Dirichlet condition built into the solution: ``u = g + b(x) v``, ``b = ∏_i (1 - x̂_i²)``.

``x̂_i`` is coordinate ``i`` mapped onto ``[-1, 1]``, so ``b`` vanishes on the whole boundary of
the box and ``u = g`` there for every ``v`` (a network's output): the condition is exact, as
the initial condition ``u = u₀ + (t - t₀) v`` of an evolution problem is. In coefficient space
``(1 - x̂²) v = v - x̂ (x̂ v)`` is two multiplications by ``x̂`` per axis
(:meth:`~pdejax.spectral.TensorBasis.times_unit`): the solution's Chebyshev basis has two more
polynomials per axis than ``v``'s. On a grid it is the pointwise product.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ...spectral import ChebyshevSeries, TensorBasis


class DirichletLift(eqx.Module):
    """``u = value + ∏_i (1 - x̂_i²) v`` along the axes ``coords`` of the box ``[lower_i, upper_i]``.

    Args:
        value: ``g``, the boundary value (``Dirichlet(value)``).
        coords: the lifted axes: the trailing axes of the arrays, in order.
        lower, upper: their intervals.

    Example (``v = 1`` on ``[0, 1]``: ``u = 1 - (2x - 1)² = 4x(1 - x)``, zero at both ends):
        >>> lift = DirichletLift(0.0, ("x",), (0.0,), (1.0,))
        >>> net = TensorBasis(("x",), (ChebyshevSeries(0.0, 1.0, 3),))
        >>> u = lift.coefficients(net, jnp.array([[1.0, 0.0, 0.0]]))  # (fields, 3) -> (fields, 5)
        >>> u.tolist(), lift.basis(net).evaluate(u, [np.array([0.0, 0.5, 1.0])]).tolist()
        ([[0.5, 0.0, -0.5, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    """

    value: float = eqx.field(static=True)
    coords: tuple[str, ...] = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)

    def __check_init__(self):
        if not len(self.coords) == len(self.lower) == len(self.upper) or not self.coords:
            raise ValueError(f"one interval per lifted axis: coords {self.coords}, lower {self.lower}, "
                             f"upper {self.upper}")

    def basis(self, net: TensorBasis) -> TensorBasis:
        """The solution's basis: ``net`` with two more Chebyshev polynomials along each lifted axis."""
        for c, lo, hi in zip(self.coords, self.lower, self.upper):
            s = net.series[net.axis(c)]
            if not isinstance(s, ChebyshevSeries) or not np.allclose((s.lower, s.upper), (lo, hi)):
                raise ValueError(f"axis {c!r}: {s!r}; the lift needs a Chebyshev series on [{lo}, {hi}]")
        return net.resized({c: net.series[net.axis(c)].size + 2 for c in self.coords})

    def coefficients(self, net: TensorBasis, v: Float[Array, "fields *sizes"]) -> Float[Array, "fields *lifted"]:
        """``u``'s coefficients in :meth:`basis` from ``v``'s in ``net`` (exact)."""
        basis = net
        for c in self.coords:
            n = basis.series[basis.axis(c)].size
            once, twice = basis.resized({c: n + 1}), basis.resized({c: n + 2})
            v = basis.embed(v, twice) - once.times_unit(basis.times_unit(v, c), c)
            basis = twice
        return v.at[(slice(None),) + (0,) * len(basis.sizes)].add(self.value)  # g T_0 ⊗ T_0 ...

    def factor(self, points: Sequence[Sequence[float]]) -> np.ndarray:
        """``b`` on the tensor grid of the 1D ``points`` of the lifted axes (host, float64)."""
        b = np.ones(())
        for p, lo, hi in zip(points, self.lower, self.upper):
            unit = (2 * np.asarray(p, np.float64) - lo - hi) / (hi - lo)
            b = b[..., None] * (1 - unit**2)
        return b

    def values(self, v: Float[Array, "..."], points: Sequence[Sequence[float]]) -> Float[Array, "..."]:
        """``u`` at ``points`` (one 1D array per lifted axis) from ``v`` there."""
        return self.value + jnp.asarray(self.factor(points), v.dtype) * v
