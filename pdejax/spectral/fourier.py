"""Periodic Fourier grids in 1D/2D/3D with exact spectral derivatives (real FFTs)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


def _real(dtype) -> np.dtype:
    """The real dtype to use: ``dtype`` or JAX's default float (float64 under x64)."""
    return np.dtype(dtype if dtype is not None else jnp.zeros(()).dtype)


class FourierGrid(eqx.Module):
    """Uniform periodic grid on ``∏ [lower_i, lower_i + length_i)`` (end point excluded).

    Arrays on the grid have shape ``sizes`` (``'ij'`` order). Derivatives are exact for
    band-limited fields: ``rfftn``, multiply by ``∏ (i k_j)^{order_j}``, ``irfftn``. The
    Nyquist mode is dropped from odd-order derivatives so that they stay real.

    Example:
        >>> grid = FourierGrid(coords=("x",), lower=(0.0,), lengths=(2 * jnp.pi,), sizes=(16,))
        >>> x, = grid.mesh()
        >>> du = grid.derivative(jnp.sin(x), {"x": 1})
        >>> du.shape, bool(jnp.max(jnp.abs(du - jnp.cos(x))) < 1e-5)  # cos(x) to round-off
        ((16,), True)
    """

    coords: tuple[str, ...] = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    lengths: tuple[float, ...] = eqx.field(static=True)
    sizes: tuple[int, ...] = eqx.field(static=True)

    def __post_init__(self):
        if not len(self.coords) == len(self.lower) == len(self.lengths) == len(self.sizes):
            raise ValueError("coords, lower, lengths and sizes need one entry per dimension")
        if any(n < 2 for n in self.sizes) or any(length <= 0 for length in self.lengths):
            raise ValueError(f"grid sizes must be >= 2 and lengths > 0, got {self.sizes}, {self.lengths}")

    @property
    def axes(self) -> tuple[int, ...]:
        return tuple(range(-len(self.sizes), 0))

    def coordinates(self, dtype=None) -> tuple[Float[Array, " n"], ...]:
        """1D coordinate arrays, one per dimension."""
        return tuple(a + length * jnp.arange(n, dtype=dtype) / n
                     for a, length, n in zip(self.lower, self.lengths, self.sizes))

    def mesh(self, dtype=None) -> tuple[Float[Array, "*sizes"], ...]:
        """Coordinate arrays of shape ``sizes``."""
        return tuple(jnp.meshgrid(*self.coordinates(dtype), indexing="ij"))

    def wavenumbers(self, dtype=None) -> tuple[np.ndarray, ...]:
        """Angular wavenumbers per axis, shaped to broadcast against ``rfftn`` output.

        NumPy constants (also under ``jit``), like everything derived from the grid alone.
        """
        ks = []
        d = len(self.sizes)
        for i, (length, n) in enumerate(zip(self.lengths, self.sizes)):
            k = np.arange(n // 2 + 1) if i == d - 1 else np.fft.fftfreq(n, 1.0 / n)
            shape = [1] * d
            shape[i] = k.shape[0]
            ks.append((2 * math.pi / length * k).reshape(shape).astype(_real(dtype)))
        return tuple(ks)

    def derivative_factor(self, orders: Mapping[str, int], dtype=None) -> np.ndarray:
        """``∏ (i k_j)^{order_j}`` over ``rfftn`` modes (Nyquist dropped for odd orders)."""
        factor = np.ones((), np.complex128)
        for i, (c, k) in enumerate(zip(self.coords, self.wavenumbers(np.float64))):
            o = orders.get(c, 0)
            if o == 0:
                continue
            if o % 2 == 1 and self.sizes[i] % 2 == 0:
                k = np.where(np.abs(k) == 2 * math.pi / self.lengths[i] * (self.sizes[i] // 2), 0, k)
            factor = factor * (1j * k) ** o
        return factor.astype(np.result_type(_real(dtype), np.complex64))

    def derivative(self, u: Float[Array, "*sizes"], orders: Mapping[str, int]) -> Float[Array, "*sizes"]:
        """``∂^{orders} u`` on the grid, e.g. ``orders={"x": 2}`` or ``{"x": 1, "y": 1}``."""
        if not orders or all(o == 0 for o in orders.values()):
            return u
        u_hat = jnp.fft.rfftn(u, axes=self.axes)
        factor = self.derivative_factor(orders, u.real.dtype)
        return jnp.fft.irfftn(u_hat * factor, s=self.sizes, axes=self.axes).astype(u.dtype)

    def dealias_mask(self, rule: str | float | bool = "2/3") -> np.ndarray:
        """Boolean mask over ``rfftn`` modes: the modes a dealiased product keeps.

        With integer wavenumber indices ``n_i`` (``k_i = 2π n_i / length_i``) and
        ``m_i = sizes_i // 2``, a mode is kept when ``|n_i| < fraction · m_i`` on every axis:

        - ``"2/3"`` (default; ``True`` is an alias): ``|n_i| < 2 m_i / 3``, i.e. the
          largest kept index ``K`` has ``3K < N`` for even ``N``: alias-free for quadratic
          terms (Orszag). ``N = 512`` keeps ``|n| <= 170``; ``N = 48`` keeps ``|n| <= 15``.
        - ``"1/2"``: ``|n_i| < m_i / 2`` (``4K < N``): alias-free for cubic terms.
          ``N = 512`` keeps ``|n| <= 127``.
        - a float ``fraction`` in ``(0, 1]``: ``|n_i| < fraction · m_i`` (``1.0`` drops
          only the Nyquist mode of an even axis).
        - ``"none"`` (``False`` is an alias): every mode, the Nyquist mode included.

        Example:
            >>> grid = FourierGrid(("x",), (0.0,), (1.0,), (48,))
            >>> [int(grid.dealias_mask(r).sum()) for r in ("2/3", "1/2", 0.5, "none")]
            [16, 12, 12, 25]
        """
        fraction = dealias_fraction(rule)
        shape = np.broadcast_shapes(*(k.shape for k in self.wavenumbers(np.float64)))
        mask = np.ones(shape, bool)
        if fraction is None:
            return mask
        for k, length, n in zip(self.wavenumbers(np.float64), self.lengths, self.sizes):
            index = np.rint(np.abs(k) * length / (2 * math.pi)).astype(np.int64)
            # Exact rational comparison: |n| < (p/q) m  <=>  q |n| < p m.
            mask = mask & (fraction.denominator * index < fraction.numerator * (n // 2))
        return mask


DEALIAS_RULES = {"2/3": Fraction(2, 3), "1/2": Fraction(1, 2), "none": None}


def dealias_fraction(rule: str | float | bool) -> Fraction | None:
    """The kept fraction of each axis's ``N // 2`` of a dealiasing rule (``None``: keep all).

    ``rule`` is ``"2/3"``, ``"1/2"``, ``"none"``, a float in ``(0, 1]``, or ``True`` /
    ``False`` (aliases of ``"2/3"`` / ``"none"``); see :meth:`FourierGrid.dealias_mask`.
    """
    if isinstance(rule, bool):
        return DEALIAS_RULES["2/3" if rule else "none"]
    if isinstance(rule, str) and rule in DEALIAS_RULES:
        return DEALIAS_RULES[rule]
    if isinstance(rule, (int, float, np.floating)) and 0 < float(rule) <= 1:
        return Fraction(float(rule))
    raise ValueError(f"dealias = {rule!r} is not a dealiasing rule; valid: \"2/3\" (quadratic terms), "
                     "\"1/2\" (cubic terms), \"none\", a fraction in (0, 1], or True/False "
                     "(aliases of \"2/3\"/\"none\")")
