"""Chebyshev–Gauss–Lobatto grids on boxes in 1D/2D/3D: derivatives, coefficients, interpolation.

The non-periodic counterpart of :class:`~pdejax.spectral.FourierGrid`, with the same
duck-typed interface (``coords``, ``sizes``, ``coordinates``, ``mesh``, ``derivative``),
so that a PDE's right-hand side is evaluated on either grid by the same code.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Bool, Float


@functools.lru_cache(maxsize=64)
def _unit_matrix(n: int, order: int) -> np.ndarray:
    """``d^order/dx^order`` on the ``n`` ascending Lobatto points of ``[-1, 1]`` (float64, read-only).

    Trefethen's ``cheb`` (Spectral Methods in MATLAB, 2000) extended to higher orders by
    Welfert's recursion (as in Weideman & Reddy's ``poldif``), which is more accurate than
    powers of ``D``. Node differences come from a trigonometric identity (no
    cancellation) and each diagonal is set so that its row sums to zero, as the
    derivative of a constant must (the "negative-sum trick").
    """
    j = np.arange(n)
    theta = np.pi * (2 * j - (n - 1)) / (2 * (n - 1))  # nodes x_j = sin(theta_j)
    dx = 2 * np.cos((theta[:, None] + theta) / 2) * np.sin((theta[:, None] - theta) / 2)
    inv_dx = 1 / (dx + np.eye(n)) - np.eye(n)
    c = np.where((j == 0) | (j == n - 1), 2.0, 1.0) * (-1.0) ** j
    ratio = np.outer(c, 1 / c)
    m = np.eye(n)
    for k in range(1, order + 1):
        m = k * inv_dx * (ratio * np.diag(m)[:, None] - m)
        np.fill_diagonal(m, -m.sum(axis=1))
    m.setflags(write=False)
    return m


def _along(m: Array, u: Array, axis: int) -> Array:
    """Apply the matrix ``m`` to ``u`` along ``axis``."""
    return jnp.moveaxis(jnp.tensordot(m, u, axes=(1, axis)), 0, axis)


def _dct1(v: Array, axis: int) -> Array:
    """``Σ''_j v_j cos(π j k / N)``, k = 0..N, along ``axis`` (halved end terms; DCT-I).

    One real FFT of the even extension ``[v_0, ..., v_N, v_{N-1}, ..., v_1]`` of length 2N,
    whose transform is real and equals twice that sum.
    """
    inner = lax.slice_in_dim(v, 1, v.shape[axis] - 1, axis=axis)
    even = jnp.concatenate([v, jnp.flip(inner, axis)], axis)
    return jnp.fft.rfft(even, axis=axis).real / 2


class ChebyshevGrid(eqx.Module):
    """Chebyshev–Gauss–Lobatto grid on the box ``∏ [lower_i, upper_i]`` (end points included).

    Along each axis the ``n = N + 1`` nodes are ``x_j = (a + b)/2 - (b - a)/2 cos(π j / N)``,
    ascending from ``a`` to ``b``. Arrays on the grid have shape ``sizes`` (``'ij'`` order);
    a field is represented by its degree-``N`` polynomial interpolant, so derivatives,
    coefficients and values between the nodes are spectrally accurate for smooth fields.
    Derivatives are dense differentiation matrices applied along each axis (cost
    ``O(n)`` per point and axis; fine up to a few hundred nodes per axis). Methods act on
    the trailing ``len(sizes)`` axes, so leading axes (fields, batch) pass through.

    Example (in float64):
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     grid = ChebyshevGrid(coords=("x",), lower=(-1.0,), upper=(1.0,), sizes=(17,))
        ...     x, = grid.mesh()
        ...     error = float(jnp.max(jnp.abs(grid.derivative(jnp.exp(x), {"x": 2}) - jnp.exp(x))))
        ...     value = float(grid.interpolate(jnp.exp(x), jnp.array([[0.3]]))[0])
        >>> error < 1e-10, round(value, 10)  # exp(0.3) = 1.3498588076
        (True, 1.3498588076)
    """

    coords: tuple[str, ...] = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    sizes: tuple[int, ...] = eqx.field(static=True)

    def __post_init__(self):
        if not len(self.coords) == len(self.lower) == len(self.upper) == len(self.sizes):
            raise ValueError("coords, lower, upper and sizes need one entry per dimension")
        if any(n < 2 for n in self.sizes) or any(b <= a for a, b in zip(self.lower, self.upper)):
            raise ValueError(f"grid sizes must be >= 2 and upper > lower, got sizes {self.sizes}, "
                             f"lower {self.lower}, upper {self.upper}")

    def _axis(self, u: Array, i: int) -> int:
        """Array axis of grid dimension ``i`` (grid axes are the trailing ones)."""
        return u.ndim - len(self.sizes) + i

    def coordinates(self, dtype=None) -> tuple[Float[Array, " n"], ...]:
        """1D node arrays, one per dimension, ascending, end points exact."""
        out = []
        for a, b, n in zip(self.lower, self.upper, self.sizes):
            x = (a + b) / 2 + (b - a) / 2 * np.sin(np.pi * (2 * np.arange(n) - (n - 1)) / (2 * (n - 1)))
            x[0], x[-1] = a, b
            out.append(jnp.asarray(x, dtype))
        return tuple(out)

    def mesh(self, dtype=None) -> tuple[Float[Array, "*sizes"], ...]:
        """Coordinate arrays of shape ``sizes``."""
        return tuple(jnp.meshgrid(*self.coordinates(dtype), indexing="ij"))

    def differentiation_matrix(self, axis: int, order: int = 1, dtype=None) -> Float[Array, "n n"]:
        """Dense ``d^order/dx^order`` along grid dimension ``axis``: ``(D @ u)_i ≈ u^{(order)}(x_i)``."""
        a, b = self.lower[axis], self.upper[axis]
        return jnp.asarray(_unit_matrix(self.sizes[axis], order) * (2 / (b - a)) ** order, dtype)

    def derivative(self, u: Float[Array, "*sizes"], orders: Mapping[str, int]) -> Float[Array, "*sizes"]:
        """``∂^{orders} u`` on the grid, e.g. ``orders={"x": 2}`` or ``{"x": 1, "y": 1}``."""
        for i, c in enumerate(self.coords):
            if orders.get(c, 0):
                u = _along(self.differentiation_matrix(i, orders[c], u.dtype), u, self._axis(u, i))
        return u

    def boundary_mask(self) -> Bool[Array, "*sizes"]:
        """True on the nodes that lie on the boundary of the box."""
        mask = np.zeros(self.sizes, bool)
        for i in range(len(self.sizes)):
            index = [slice(None)] * len(self.sizes)
            index[i] = [0, -1]
            mask[tuple(index)] = True
        return jnp.asarray(mask)

    def _signs_and_ends(self, u: Array, i: int) -> tuple[Array, Array]:
        """``(-1)^k`` and ``γ_k`` (2 at k = 0, N; else 1), shaped to broadcast along dimension ``i``."""
        n = self.sizes[i]
        shape = [1] * u.ndim
        shape[self._axis(u, i)] = n
        k = np.arange(n)
        signs = jnp.asarray((-1.0) ** k, u.dtype).reshape(shape)
        ends = jnp.asarray(np.where((k == 0) | (k == n - 1), 2.0, 1.0), u.dtype).reshape(shape)
        return signs, ends

    def to_coefficients(self, u: Float[Array, "*sizes"]) -> Float[Array, "*sizes"]:
        """Chebyshev coefficients ``c`` with ``u = Σ c_k T_k(x̂)`` per axis (``x̂`` the node mapped to [-1, 1]).

        ``T_k(x̂_j) = (-1)^k cos(π j k / N)`` on the ascending nodes, so this is one DCT-I per
        axis (an FFT of length 2N). ``T_k`` sampled on the grid maps to the unit vector ``e_k``.
        """
        for i in range(len(self.sizes)):
            ax, n = self._axis(u, i), self.sizes[i]
            signs, ends = self._signs_and_ends(u, i)
            u = signs * _dct1(u, ax) * (2 / (n - 1)) / ends
        return u

    def from_coefficients(self, c: Float[Array, "*sizes"]) -> Float[Array, "*sizes"]:
        """Values on the nodes of ``Σ c_k T_k``: the inverse of :meth:`to_coefficients`."""
        for i in range(len(self.sizes)):
            signs, ends = self._signs_and_ends(c, i)
            c = _dct1(signs * ends * c, self._axis(c, i))
        return c

    def interpolate(self, u: Float[Array, "*sizes"], points: Float[Array, "*m dim"]) -> Float[Array, "*m"]:
        """The polynomial interpolant of ``u`` at arbitrary ``points`` inside the box.

        Barycentric formula per axis (weights ``(-1)^j``, halved at the ends), which is
        numerically stable on Chebyshev points; a point on a node returns the node value.
        """
        d = len(self.sizes)
        flat = points.reshape(-1, d)
        bases = []
        for i, nodes in enumerate(self.coordinates(u.dtype)):
            n = self.sizes[i]
            w = jnp.asarray(np.where((np.arange(n) == 0) | (np.arange(n) == n - 1), 0.5, 1.0)
                            * (-1.0) ** np.arange(n), u.dtype)
            diff = flat[:, i, None] - nodes
            on_node = diff == 0
            terms = w / jnp.where(on_node, 1, diff)
            basis = terms / terms.sum(axis=1, keepdims=True)
            bases.append(jnp.where(on_node.any(axis=1, keepdims=True), on_node.astype(u.dtype), basis))
        letters = "abc"[:d]
        values = jnp.einsum(",".join("m" + a for a in letters) + f",{letters}->m", *bases, u)
        return values.reshape(points.shape[:-1])
