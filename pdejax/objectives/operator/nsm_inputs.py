"""How an operator's input channels, stored on the data grid, enter a PDE in coefficient space.

The data grid is either uniform and periodic (``x_j = lower + L j / n``: a Fourier basis, the
largest odd one it holds) or the Chebyshev–Lobatto nodes of each axis (a Dirichlet problem:
the Chebyshev basis of as many polynomials as nodes). Either way the inputs' coefficients
are an exact interpolation or projection of the stored values.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...spectral import ChebyshevSeries, FourierSeries, TensorBasis


class OperatorInputs(eqx.Module):
    """How an operator's input channels, on the data grid, enter a PDE.

    Args:
        space: a :class:`TensorBasis` over the spatial coordinates: Fourier series of odd sizes of
            at most the grid's points (a uniform periodic grid; its own Nyquist mode is dropped),
            or Chebyshev series of exactly the grid's points (Chebyshev–Lobatto nodes).
        grid: points per spatial axis of the data grid.
        initial: how many leading channels are the initial condition (the evolving
            fields), 0 for a steady problem.
        params: the PDE parameters the other channels replace, in order.

    Example (a source stored on 5 Chebyshev–Lobatto nodes of ``[0, 1]``: ``x² = (3 T_0 + 4 T_1 + T_2) / 8``):
        >>> inputs = chebyshev_inputs((0.0,), (1.0,), (5,), ("x",), params=("source",))
        >>> x = inputs.space.coordinates()[0]
        >>> (8 * inputs.coefficients(jnp.asarray(x**2)[None])).round(5).tolist()
        [[3.0, 4.0, 1.0, 0.0, 0.0]]
    """

    space: TensorBasis = eqx.field(static=True)
    grid: tuple[int, ...] = eqx.field(static=True)
    initial: int = eqx.field(static=True, default=0)
    params: tuple[str, ...] = eqx.field(static=True, default=())

    @property
    def channels(self) -> int:
        return self.initial + len(self.params)

    def coefficients(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_in *modes"]:
        """The inputs' coefficients in ``space``: the exact discrete Fourier projection, or the
        Chebyshev interpolant through the Lobatto nodes (a DCT-I)."""
        for i, (s, n) in enumerate(zip(self.space.series, self.grid)):
            x = jnp.moveaxis(jnp.tensordot(jnp.asarray(s.analysis(n), x.dtype), x, axes=(1, 1 + i)), 0, 1 + i)
        return x

    def named(self, coefs: Float[Array, "c_in *modes"]) -> dict[str, Array]:
        """``{parameter: its coefficients}`` for the parameter channels."""
        return {p: coefs[self.initial + j] for j, p in enumerate(self.params)}


def fourier_inputs(lower: Sequence[float], lengths: Sequence[float], grid: Sequence[int], coords: Sequence[str],
                   initial: int = 0, params: Sequence[str] = ()) -> OperatorInputs:
    """:class:`OperatorInputs` for data on the uniform periodic ``grid`` (the largest odd basis it holds)."""
    series = tuple(FourierSeries(float(a), float(L), n if n % 2 else n - 1) for a, L, n in zip(lower, lengths, grid))
    return OperatorInputs(TensorBasis(tuple(coords), series), tuple(int(n) for n in grid), initial, tuple(params))


def chebyshev_inputs(lower: Sequence[float], upper: Sequence[float], grid: Sequence[int], coords: Sequence[str],
                     initial: int = 0, params: Sequence[str] = ()) -> OperatorInputs:
    """:class:`OperatorInputs` for data on the Chebyshev–Lobatto nodes of ``∏ [lower_i, upper_i]``,
    ``grid[i]`` nodes per axis (the interpolating polynomial: as many Chebyshev coefficients)."""
    series = tuple(ChebyshevSeries(float(a), float(b), int(n)) for a, b, n in zip(lower, upper, grid))
    return OperatorInputs(TensorBasis(tuple(coords), series), tuple(int(n) for n in grid), initial, tuple(params))
