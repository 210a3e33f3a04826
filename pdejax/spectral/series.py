"""Real spectral series in coefficient space: Fourier (periodic) and Chebyshev axes, tensor products.

A function on a box is ``u = Σ_k c_k φ_k`` with one real 1D basis per axis:

- :class:`FourierSeries` on ``[a, a + L)``, ``n = 2K + 1`` functions (odd, so that every
  mode has an exact derivative): ``1, cos(k θ), ..., sin(k θ)`` for ``k = 1..K``,
  ``θ = 2π (x - a) / L``; collocation nodes ``a + L j / n``;
- :class:`ChebyshevSeries` on ``[a, b]``, ``n`` polynomials ``T_0 .. T_{n-1}`` of
  ``x̂ = (2x - a - b) / (b - a)``; collocation nodes the Chebyshev–Lobatto points, ascending.

Every operation is a small dense matrix applied along one axis, built once in float64 on
the host (constants under ``jit``): values at the nodes ↔ coefficients, values at any
points, exact derivatives in coefficient space (the Fourier symbol; the Chebyshev
recurrence ``T'_k = 2k Σ T_j / c_j``), multiplication by ``x̂`` (one degree up), resizing
(zero-padding or truncation) and the exact L² norm of the function (Parseval: a diagonal
Gram matrix for Fourier and for the Chebyshev weight ``1/√(1 - x̂²)``; the exact
Lebesgue Gram matrix of the Chebyshev polynomials otherwise). :class:`TensorBasis`
applies them to the trailing axes of an array, so leading axes (fields, batch) pass
through. These are the building blocks of the coefficient-space residual of
:mod:`pdejax.objectives.operator.spectral_residual`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


class FourierSeries(eqx.Module):
    """The real trigonometric basis on the periodic interval ``[lower, lower + length)``.

    ``size = 2K + 1`` coefficients, laid out ``[a_0, a_1..a_K, b_1..b_K]`` for
    ``a_0 + Σ a_k cos(kθ) + b_k sin(kθ)``, ``θ = 2π (x - lower) / length``.

    Example:
        >>> s = FourierSeries(0.0, 2 * math.pi, 5)
        >>> c = s.analysis() @ np.sin(s.nodes())  # sin x: b_1 = 1
        >>> np.round(c, 12).tolist(), np.round(s.derivative(1) @ c, 12).tolist()  # (sin x)' = cos x
        ([0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0])
    """

    lower: float = eqx.field(static=True)
    length: float = eqx.field(static=True)
    size: int = eqx.field(static=True)

    def __post_init__(self):
        if self.size < 1 or self.size % 2 == 0 or not self.length > 0:
            raise ValueError(f"FourierSeries needs an odd size >= 1 and a positive length, got size {self.size}, "
                             f"length {self.length} (an even grid's Nyquist mode has no exact derivative)")

    @property
    def kind(self) -> str:
        return "fourier"

    @property
    def modes(self) -> int:
        """``K``: the highest wavenumber index."""
        return self.size // 2

    def resized(self, size: int) -> FourierSeries:
        return FourierSeries(self.lower, self.length, size)

    def nodes(self) -> np.ndarray:
        """The ``size`` equispaced collocation nodes ``lower + length j / size``."""
        return self.lower + self.length * np.arange(self.size) / self.size

    def synthesis(self, points: np.ndarray) -> np.ndarray:
        """``(len(points), size)``: the basis functions at ``points`` (values = S @ c)."""
        theta = 2 * np.pi * (np.asarray(points, np.float64) - self.lower) / self.length
        k = np.arange(1, self.modes + 1)
        return np.concatenate([np.ones((len(theta), 1)), np.cos(np.outer(theta, k)), np.sin(np.outer(theta, k))], 1)

    def analysis(self, n_points: int | None = None) -> np.ndarray:
        """``(size, n)``: coefficients from values at the ``n`` equispaced nodes (default ``size``).

        The discrete Fourier projection; exact for functions of this basis when
        ``n >= size``. For an even ``n``, the grid's Nyquist mode is not in the basis and is dropped.
        """
        n = self.size if n_points is None else int(n_points)
        if n < self.size:
            raise ValueError(f"{n} equispaced points cannot determine {self.size} Fourier coefficients")
        s = FourierSeries(self.lower, self.length, self.size).synthesis(self.lower + self.length * np.arange(n) / n)
        scale = np.full(self.size, 2.0 / n)
        scale[0] = 1.0 / n
        return s.T * scale[:, None]

    def derivative(self, order: int = 1) -> np.ndarray:
        """``(size, size)``: coefficients of the ``order``-th derivative (exact)."""
        k = np.arange(1, self.modes + 1) * 2 * np.pi / self.length
        d = np.zeros((self.size, self.size))
        cos, sin = slice(1, self.modes + 1), slice(self.modes + 1, self.size)
        d[cos, sin] = np.diag(k)  # (b sin kθ)' = k b cos kθ
        d[sin, cos] = -np.diag(k)  # (a cos kθ)' = -k a sin kθ
        return np.linalg.matrix_power(d, order)

    def embedding(self, size: int) -> np.ndarray:
        """``(size, self.size)``: the same function in a basis of ``size`` functions (truncated or zero-padded)."""
        k, m = self.modes, size // 2
        e = np.zeros((size, self.size))
        e[0, 0] = 1.0
        for j in range(1, min(k, m) + 1):
            e[j, j] = e[m + j, k + j] = 1.0
        return e

    def gram(self, weighted: bool = False) -> np.ndarray:
        """``∫ φ_i φ_j dx``, diagonal (``length · [1, ½, ..., ½]``); ``weighted`` is the same."""
        g = np.full(self.size, self.length / 2)
        g[0] = self.length
        return np.diag(g)

    def measure(self, weighted: bool = False) -> float:
        """``∫ 1 dx`` = ``length``."""
        return self.length


class ChebyshevSeries(eqx.Module):
    """Chebyshev polynomials ``T_0 .. T_{size-1}`` of ``x̂ = (2x - lower - upper) / (upper - lower)``.

    Example:
        >>> s = ChebyshevSeries(0.0, 1.0, 4)
        >>> t = s.nodes()                     # Lobatto points, ascending: [0, 0.25, 0.75, 1]
        >>> c = s.analysis() @ t**2           # t² on [0, 1] is (3 T_0 + 4 T_1 + T_2) / 8
        >>> np.round(8 * c, 12).tolist(), np.round(8 * s.derivative(1) @ c, 12).tolist()  # (t²)' = 2t
        ([3.0, 4.0, 1.0, 0.0], [8.0, 8.0, 0.0, 0.0])
    """

    lower: float = eqx.field(static=True)
    upper: float = eqx.field(static=True)
    size: int = eqx.field(static=True)

    def __post_init__(self):
        if self.size < 2 or not self.upper > self.lower:
            raise ValueError(f"ChebyshevSeries needs size >= 2 and upper > lower, got size {self.size}, "
                             f"interval [{self.lower}, {self.upper}]")

    @property
    def kind(self) -> str:
        return "chebyshev"

    @property
    def length(self) -> float:
        return self.upper - self.lower

    def resized(self, size: int) -> ChebyshevSeries:
        return ChebyshevSeries(self.lower, self.upper, size)

    def _unit(self, points: np.ndarray) -> np.ndarray:
        return np.clip((2 * np.asarray(points, np.float64) - self.lower - self.upper) / self.length, -1.0, 1.0)

    def nodes(self) -> np.ndarray:
        """The ``size`` Chebyshev–Lobatto nodes, ascending, both end points included."""
        n = self.size
        x = -np.cos(np.pi * np.arange(n) / (n - 1))
        x[0], x[-1] = -1.0, 1.0
        return self.lower + (x + 1) * self.length / 2

    def synthesis(self, points: np.ndarray) -> np.ndarray:
        """``(len(points), size)``: ``T_k`` at ``points``."""
        return np.cos(np.outer(np.arccos(self._unit(points)), np.arange(self.size)))

    def analysis(self, n_points: int | None = None) -> np.ndarray:
        """``(size, size)``: coefficients of the interpolant from values at the nodes (a DCT-I)."""
        if n_points not in (None, self.size):
            raise ValueError("Chebyshev coefficients come from values at the series' own Lobatto nodes")
        n = self.size
        ends = np.where((np.arange(n) == 0) | (np.arange(n) == n - 1), 2.0, 1.0)
        return (self.synthesis(self.nodes()) / ends[:, None]).T * (2.0 / (n - 1)) / ends[:, None]

    def derivative(self, order: int = 1) -> np.ndarray:
        """``(size, size)``: coefficients of the ``order``-th derivative (exact; degree drops by ``order``)."""
        n = self.size
        j, k = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        d = np.where((j < k) & ((k - j) % 2 == 1), 2.0 * k / np.where(j == 0, 2.0, 1.0), 0.0) * (2 / self.length)
        return np.linalg.matrix_power(d, order)

    def times_unit(self) -> np.ndarray:
        """``(size + 1, size)``: coefficients of ``x̂ u`` (``x̂ T_k = (T_{k+1} + T_{|k-1|}) / 2``)."""
        m = np.zeros((self.size + 1, self.size))
        for k in range(self.size):
            m[k + 1, k] += 0.5
            m[abs(k - 1), k] += 0.5
        return m

    def embedding(self, size: int) -> np.ndarray:
        """``(size, self.size)``: zero-padding or truncation of the coefficients."""
        return np.eye(size, self.size)

    def gram(self, weighted: bool = False) -> np.ndarray:
        """``∫ T_i T_j w dx`` over ``[lower, upper]``: ``w = 1`` (exact, dense: ``∫_{-1}^{1} T_i T_j =
        1/(1-(i+j)²) + 1/(1-(i-j)²)`` for ``i + j`` even), or the Chebyshev weight
        ``w = 1/√(1 - x̂²)`` (``weighted``; diagonal ``π, π/2, ...``), times ``(upper - lower) / 2``."""
        n = self.size
        if weighted:
            g = np.full(n, np.pi / 2)
            g[0] = np.pi
            return np.diag(g) * self.length / 2
        i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        even = (i + j) % 2 == 0
        g = np.where(even, 1 / np.where(even, 1.0 - (i + j) ** 2, 1.0) + 1 / np.where(even, 1.0 - (i - j) ** 2, 1.0),
                     0.0)
        return g * self.length / 2

    def measure(self, weighted: bool = False) -> float:
        """``∫ w dx``: ``upper - lower``, or ``π (upper - lower) / 2`` with the Chebyshev weight."""
        return self.length * (np.pi / 2 if weighted else 1.0)


Series = FourierSeries | ChebyshevSeries


@functools.lru_cache(maxsize=512)
def _cached(series: Series, what: str, arg) -> np.ndarray:
    out = np.asarray(getattr(series, what)(*(() if arg is None else (arg,))), np.float64)
    out.setflags(write=False)
    return out


def along(m: np.ndarray | Array, u: Array, axis: int) -> Array:
    """``m`` (``(p, n)``) applied to ``u`` along ``axis`` (length ``n`` → ``p``), in ``u``'s dtype."""
    m = jnp.asarray(m, u.dtype)
    return jnp.moveaxis(jnp.tensordot(m, u, axes=(1, axis)), 0, axis)


class TensorBasis(eqx.Module):
    """The tensor product of one 1D series per coordinate; arrays hold its trailing axes.

    Args:
        coords: coordinate names, one per axis (e.g. ``("t", "x")``).
        series: a :class:`FourierSeries` or :class:`ChebyshevSeries` per axis.

    Example (``u = sin 2πx · cos 4πy`` on the unit torus: its Laplacian is ``-20π² u``):
        >>> b = TensorBasis(("x", "y"), (FourierSeries(0.0, 1.0, 9), FourierSeries(0.0, 1.0, 9)))
        >>> x, y = b.mesh()
        >>> c = b.to_coefficients(jnp.sin(2 * jnp.pi * x) * jnp.cos(4 * jnp.pi * y))
        >>> lap = b.derivative(c, {"x": 2}) + b.derivative(c, {"y": 2})
        >>> bool(jnp.allclose(lap, -20 * jnp.pi**2 * c, atol=1e-3))
        True
        >>> round(float(b.norm2(c)), 6)  # ∫ u² = 1/4
        0.25
    """

    coords: tuple[str, ...] = eqx.field(static=True)
    series: tuple[Series, ...] = eqx.field(static=True)

    def __post_init__(self):
        if len(self.coords) != len(self.series):
            raise ValueError(f"one series per coordinate: coords {self.coords}, {len(self.series)} series")

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(s.size for s in self.series)

    def axis(self, coord: str) -> int:
        return self.coords.index(coord)

    def _ax(self, u: Array, i: int) -> int:
        return u.ndim - len(self.series) + i

    def resized(self, sizes: Sequence[int] | Mapping[str, int]) -> TensorBasis:
        """The same axes with ``sizes`` functions each (a mapping changes only the axes it names)."""
        if isinstance(sizes, Mapping):
            sizes = [sizes.get(c, s.size) for c, s in zip(self.coords, self.series)]
        return TensorBasis(self.coords, tuple(s.resized(int(n)) for s, n in zip(self.series, sizes)))

    def coordinates(self) -> tuple[np.ndarray, ...]:
        """The collocation nodes of each axis (NumPy, float64)."""
        return tuple(s.nodes() for s in self.series)

    def mesh(self, dtype=None) -> tuple[Float[Array, "*sizes"], ...]:
        """Coordinate arrays of shape ``sizes`` at the collocation nodes."""
        return tuple(jnp.meshgrid(*[jnp.asarray(c, dtype) for c in self.coordinates()], indexing="ij"))

    def to_coefficients(self, values: Float[Array, "..."]) -> Float[Array, "..."]:
        """Coefficients of the interpolant of ``values`` at the collocation nodes."""
        for i, s in enumerate(self.series):
            values = along(_cached(s, "analysis", None), values, self._ax(values, i))
        return values

    def from_coefficients(self, coefs: Float[Array, "..."]) -> Float[Array, "..."]:
        """Values at the collocation nodes."""
        for i, s in enumerate(self.series):
            coefs = along(_cached(s, "synthesis", tuple(s.nodes())), coefs, self._ax(coefs, i))
        return coefs

    def evaluate(self, coefs: Float[Array, "..."], points: Sequence[np.ndarray]) -> Array:
        """Values on the tensor grid of 1D ``points`` (one array per axis): ``(..., *map(len, points))``."""
        for i, (s, p) in enumerate(zip(self.series, points)):
            coefs = along(_cached(s, "synthesis", tuple(np.asarray(p, np.float64).tolist())), coefs,
                          self._ax(coefs, i))
        return coefs

    def derivative(self, coefs: Float[Array, "..."], orders: Mapping[str, int]) -> Float[Array, "..."]:
        """Coefficients of ``∂^{orders} u``, e.g. ``orders={"x": 2}``: exact, in coefficient space."""
        for c, order in orders.items():
            if order:
                i = self.axis(c)
                coefs = along(_cached(self.series[i], "derivative", int(order)), coefs, self._ax(coefs, i))
        return coefs

    def embed(self, coefs: Float[Array, "..."], target: TensorBasis) -> Array:
        """The same function's coefficients in ``target`` (same axes, other sizes): padding or truncation."""
        for i, (s, t) in enumerate(zip(self.series, target.series)):
            if s.size != t.size:
                coefs = along(_cached(s, "embedding", t.size), coefs, self._ax(coefs, i))
        return coefs

    def times_unit(self, coefs: Float[Array, "..."], coord: str) -> Array:
        """Coefficients of ``x̂ u`` along Chebyshev axis ``coord`` (that axis grows by one)."""
        i = self.axis(coord)
        return along(_cached(self.series[i], "times_unit", None), coefs, self._ax(coefs, i))

    def norm2(self, coefs: Float[Array, "..."], weighted: bool = False) -> Float[Array, "..."]:
        """``∫ u² w`` over the box, exactly from the coefficients (Parseval / the Gram matrices);
        ``weighted``: the Chebyshev weight on Chebyshev axes (``w = 1`` otherwise)."""
        g = coefs
        for i, s in enumerate(self.series):
            g = along(_cached(s, "gram", bool(weighted)), g, self._ax(g, i))
        d = len(self.series)
        return jnp.sum(coefs * g, axis=tuple(range(coefs.ndim - d, coefs.ndim)))

    def measure(self, weighted: bool = False) -> float:
        """``∫ w`` over the box (the norm of the constant 1, squared)."""
        return math.prod(s.measure(weighted) for s in self.series)
