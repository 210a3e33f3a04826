"""Truncated discrete Fourier transforms: only the lowest modes, as matrix products.

A Fourier neural operator keeps a few low modes per grid axis and throws the rest away.
Computing only those modes is cheaper than a full FFT on the grids it is trained on:
each axis is one product with a small ``(n, 2m)`` DFT basis. Modes are counted as in the
FNO paper's code: ``modes=(m_0, ..., m_{d-1})`` keeps rfft modes ``0..m_{d-1}-1`` on the
last grid axis and frequencies ``0..m-1, -m..-1`` on every other axis, so the kept block
has shape :func:`kept_shape` ``= (2 m_0, ..., 2 m_{d-2}, m_{d-1})``.

Two layouts:

- one sample, channels last: :func:`truncated_rfftn` ``(*grid, c) → (*kept, c)`` complex
  and :func:`truncated_irfftn` back (what ``SpectralConv`` uses under ``vmap``);
- a batch with the grid axes reversed and the batch inside,
  ``(n_{d-1}, ..., n_0, batch, c)`` (see :func:`to_reversed_axes`):
  :func:`truncated_rfftn_reversed` and :func:`truncated_irfftn_reversed`, complex numbers
  as a leading ``(real, imag)`` axis so every product is real (``FNO.batch``).

Axes whose basis would be too large (:func:`fits_matmul`) fall back to ``rfftn``/``irfftn``
in the one-sample layout; the reversed layout requires small bases.

Example:
    >>> import jax.numpy as jnp, numpy as np
    >>> x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 6, 2)), jnp.float32)  # (*grid, c)
    >>> z = truncated_rfftn(x, (2, 3))
    >>> z.shape, z.dtype
    ((4, 3, 2), dtype('complex64'))
    >>> full = np.fft.rfftn(np.asarray(x), axes=(0, 1))
    >>> bool(np.allclose(z[:2], full[:2, :3], atol=1e-4))  # frequencies 0, 1 on axis 0
    True
    >>> truncated_irfftn(z, (8, 6), (2, 3)).shape
    (8, 6, 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

# Only the kept modes are computed: as matrix products with the (n, 2m) DFT bases when
# they are small, else with FFTs. On XLA:CPU (2-core AMD EPYC, training step of
# scripts/bench/fno.py, batch 20) the products beat rfft/irfft (computing all n//2+1
# modes, then padding them back): 10-20% less CPU time for the whole step in 1D at 256,
# 1024 and 4096 points with 16 modes; in 2D (64x64, 12x12 modes) 20-25% less time for the
# spectral convolutions.
_MAX_BASIS = 2**19  # entries of one DFT basis; larger axes use the FFT


def kept_shape(modes: Sequence[int]) -> tuple[int, ...]:
    """Kept Fourier modes per axis: ``2m`` on every axis but the last, ``m`` there.

    >>> kept_shape((12, 12))
    (24, 12)
    """
    return tuple(2 * m for m in modes[:-1]) + (modes[-1],)


def check_grid(grid: Sequence[int], modes: Sequence[int]) -> None:
    """Raise a ValueError if ``grid`` has too few points per axis to hold ``modes``.

    >>> check_grid((16,), (10,))
    Traceback (most recent call last):
    ...
    ValueError: grid (16,) is too coarse for modes (10,): the axes need at least (18,) points ...
    """
    grid, modes = tuple(grid), tuple(modes)
    need = tuple(2 * m for m in modes[:-1]) + (max(1, 2 * modes[-1] - 2),)
    if any(n < k for n, k in zip(grid, need)):
        raise ValueError(f"grid {grid} is too coarse for modes {modes}: the axes need at least {need} points "
                         "(2*modes on every axis but the last; on the last, n//2 + 1 >= modes rfft modes)")


def fits_matmul(grid: Sequence[int], modes: Sequence[int]) -> bool:
    """Whether every axis's DFT basis is small enough for the matrix-product transforms.

    >>> fits_matmul((1024,), (16,)), fits_matmul((2**20,), (16,))
    (True, False)
    """
    return all(n * 2 * m <= _MAX_BASIS for n, m in zip(grid, modes))


def real_dft_basis(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """``cos`` and ``sin`` of ``2 pi k t / n``, shapes ``(n, m)``, in float64.

    ``x @ (cos - i sin)`` is the rfft of a real ``x`` restricted to modes ``0..m-1``.

    >>> cos, sin = real_dft_basis(4, 2)
    >>> cos.shape, np.round(sin[:, 1], 12).tolist()
    ((4, 2), [0.0, 1.0, 0.0, -1.0])
    """
    angle = 2 * np.pi * np.outer(np.arange(n), np.arange(m)) / n
    return np.cos(angle), np.sin(angle)


def dft_basis(n: int, m: int) -> np.ndarray:
    """``exp(-2 pi i f t / n)`` for frequencies ``f = 0..m-1, -m..-1``, shape ``(n, 2m)``.

    >>> x = np.arange(6.0)
    >>> bool(np.allclose(x @ dft_basis(6, 2), np.fft.fft(x)[[0, 1, 4, 5]]))
    True
    """
    freqs = np.r_[0:m, -m:0]
    return np.exp(-2j * np.pi * np.outer(np.arange(n), freqs) / n)


def inverse_dft_basis(n: int, m: int) -> np.ndarray:
    """Inverse DFT from frequencies ``0..m-1, -m..-1``, shape ``(n, 2m)``.

    >>> bool(np.allclose(inverse_dft_basis(6, 3) @ dft_basis(6, 3).T @ np.arange(6.0), np.arange(6.0)))
    True
    """
    return np.exp(2j * np.pi * np.outer(np.arange(n), np.r_[0:m, -m:0]) / n) / n


def inverse_rfft_basis(n: int, m: int) -> np.ndarray:
    """``irfft`` restricted to rfft modes ``0..m-1``, ``(n, m)``: ``Re(basis @ z)`` is the signal
    (the zero and Nyquist modes count once, the others twice, for their mirror images).

    >>> z = np.fft.rfft(np.cos(2 * np.pi * np.arange(8) / 8))[:3]
    >>> np.round((inverse_rfft_basis(8, 3) @ z).real, 6).tolist()[:3]
    [1.0, 0.707107, 0.0]
    """
    freqs = np.arange(m)
    scale = np.where((freqs == 0) | (2 * freqs == n), 1.0, 2.0) / n
    return scale * np.exp(2j * np.pi * np.outer(np.arange(n), freqs) / n)


def _contract(basis, x, axis: int):
    """Contract ``x``'s ``axis`` with ``basis``'s first axis; the new axis goes in front."""
    return jax.lax.dot_general(basis, x, (((0,), (axis,)), ((), ())))


def truncated_rfftn(x: Float[Array, "*grid c"], modes: Sequence[int]) -> Complex[Array, "*kept c"]:
    """Kept Fourier coefficients of channels-last ``x: (*grid, c)``: complex ``(*kept, c)``.

    The same numbers as ``rfftn`` (unnormalised) restricted to the kept modes, computed
    one axis at a time on the kept modes only: the last grid axis (``m`` rfft modes),
    then the others from last to first (frequencies ``0..m-1`` and ``-m..-1``). Each
    product puts its mode axis in front, so the next grid axis is always at ``d - 1``
    and the modes end up in grid order, channels last.

    >>> z = truncated_rfftn(jnp.ones((8, 1)), (3,))  # a constant: only mode 0
    >>> z.shape, np.round(np.abs(z).ravel(), 5).tolist()
    ((3, 1), [8.0, 0.0, 0.0])
    """
    grid = x.shape[:-1]
    d = len(grid)
    if not fits_matmul(grid, modes):
        return _keep_corners(jnp.fft.rfftn(x, axes=tuple(range(d))), grid, modes)
    cos, sin = real_dft_basis(grid[-1], modes[-1])
    z = _contract(jnp.asarray(np.concatenate([cos, -sin], axis=1), x.dtype), x, d - 1)
    z = jax.lax.complex(z[: modes[-1]], z[modes[-1]:])
    for axis in range(d - 2, -1, -1):
        z = _contract(jnp.asarray(dft_basis(grid[axis], modes[axis]), z.dtype), z, d - 1)
    return z


def truncated_irfftn(z: Complex[Array, "*kept c"], grid: Sequence[int],
                     modes: Sequence[int]) -> Float[Array, "*grid c"]:
    """Inverse of :func:`truncated_rfftn`, zeros for the truncated modes: real ``(*grid, c)``.

    The last axis first (complex, with ``irfft``'s weights: the zero and Nyquist modes
    once, the others twice, for their mirror images), then the others from last to
    first; only the real part of the final product is formed.

    >>> truncated_irfftn(truncated_rfftn(jnp.ones((8, 1)), (3,)), (8,), (3,)).ravel().tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    d = len(grid)
    if not fits_matmul(grid, modes):
        return jnp.fft.irfftn(_embed_corners(z, grid, modes), s=grid, axes=tuple(range(d)))
    for axis in range(d - 1, -1, -1):
        n, m = grid[axis], modes[axis]
        basis = (inverse_rfft_basis(n, m) if axis == d - 1 else inverse_dft_basis(n, m)).T  # (kept, n)
        if axis > 0:
            z = _contract(jnp.asarray(basis, z.dtype), z, d - 1)
        else:  # Re(basis . z) = basis.real . z.real - basis.imag . z.imag, as one real product
            both = np.concatenate([basis.real, -basis.imag])
            parts = jnp.concatenate([z.real, z.imag], axis=d - 1)
            z = _contract(jnp.asarray(both, parts.dtype), parts, d - 1)
    return z


def _keep_corners(xf, grid, modes):
    """``(*kept, c)`` from a channels-last ``rfftn``: low and negative frequencies."""
    xf = xf[(*[slice(None)] * (len(grid) - 1), slice(0, modes[-1]))]
    for axis, (n, m) in enumerate(zip(grid[:-1], modes[:-1])):
        xf = jnp.concatenate([jax.lax.slice_in_dim(xf, 0, m, axis=axis),
                              jax.lax.slice_in_dim(xf, n - m, n, axis=axis)], axis=axis)
    return xf


def _embed_corners(z, grid, modes):
    """Inverse of :func:`_keep_corners`: the full ``rfftn`` shape, zeros elsewhere."""
    for axis, (n, m) in enumerate(zip(grid[:-1], modes[:-1])):
        zeros = jnp.zeros(z.shape[:axis] + (n - 2 * m,) + z.shape[axis + 1:], z.dtype)
        z = jnp.concatenate([jax.lax.slice_in_dim(z, 0, m, axis=axis), zeros,
                             jax.lax.slice_in_dim(z, m, 2 * m, axis=axis)], axis=axis)
    pad = [(0, 0)] * z.ndim
    pad[len(grid) - 1] = (0, grid[-1] // 2 + 1 - modes[-1])
    return jnp.pad(z, pad)


# The same transforms on a batch laid out (n_{d-1}, ..., n_0, batch, channels), for
# FNO.batch. Complex numbers are kept as real arrays with a leading (real, imag) axis, so
# every product is a real matrix product. Grid axis d-1 (rfft) is transformed first as one
# product over the leading axis; each further axis is then the next leading axis after the
# modes already kept, a product batched over them (the bases, broadcast over those few
# modes, are small).


def to_reversed_axes(d: int) -> tuple[int, ...]:
    """Axis order taking ``(batch, c, n_0, ..., n_{d-1})`` to ``(n_{d-1}, ..., n_0, batch, c)``.

    >>> to_reversed_axes(2), from_reversed_axes(2)
    ((3, 2, 0, 1), (2, 3, 1, 0))
    """
    return (*range(d + 1, 1, -1), 0, 1)


def from_reversed_axes(d: int) -> tuple[int, ...]:
    """Inverse of :func:`to_reversed_axes`."""
    return (d, d + 1, *range(d - 1, -1, -1))


def _batched_product(basis, z, n_batch: int):
    """``basis (k, n)`` times ``z``'s axis ``n_batch``, batched over ``z``'s first ``n_batch`` axes."""
    if n_batch == 0:
        return (basis @ z.reshape(z.shape[0], -1)).reshape(basis.shape[0], *z.shape[1:])
    lead = tuple(range(n_batch))
    basis = jnp.broadcast_to(basis, z.shape[:n_batch] + basis.shape)
    return jax.lax.dot_general(basis, z, (((n_batch + 1,), (n_batch,)), (lead, lead)))


def _complex_product(basis: np.ndarray, z, axis: int):
    """Complex ``basis (k, n)`` times complex ``z = (2, ...)`` (real, imag) along ``z``'s ``axis``
    (``axis`` >= 1; the axes between 0 and ``axis`` are batch axes): two real products."""
    k = basis.shape[0]
    both = jnp.asarray(np.concatenate([basis.real, basis.imag]), z.dtype)  # (2k, n)
    out = _batched_product(both, z, axis)  # (2, ..., 2k, ...)
    rows = lambda a, half: jax.lax.slice_in_dim(a, half * k, (half + 1) * k, axis=axis - 1)  # noqa: E731
    real = rows(out[0], 0) - rows(out[1], 1)  # Br zr - Bi zi
    imag = rows(out[1], 0) + rows(out[0], 1)  # Br zi + Bi zr
    return jnp.stack([real, imag])


def truncated_rfftn_reversed(v: Float[Array, "*rev_grid b c"], grid: Sequence[int],
                             modes: Sequence[int]) -> Float[Array, "2 *rev_kept b c"]:
    """Kept coefficients of ``v: (n_{d-1}, ..., n_0, b, c)`` as ``(2, m_{d-1}, 2m_{d-2}, ..., 2m_0, b, c)``.

    ``grid`` is ``(n_0, ..., n_{d-1})`` in the usual order; the leading axis of the result
    holds the real and imaginary parts. The bases must fit (:func:`fits_matmul`).

    >>> v = jnp.ones((6, 8, 3, 2))  # (n_1, n_0, batch, c) for the grid (8, 6)
    >>> truncated_rfftn_reversed(v, (8, 6), (2, 3)).shape
    (2, 3, 4, 3, 2)
    """
    d = len(grid)
    cos, sin = real_dft_basis(grid[-1], modes[-1])
    z = _batched_product(jnp.asarray(np.concatenate([cos, -sin], axis=1).T, v.dtype), v, 0)
    z = z.reshape(2, modes[-1], *v.shape[1:])
    for j, axis in enumerate(range(d - 2, -1, -1), start=1):
        z = _complex_product(dft_basis(grid[axis], modes[axis]).T, z, j + 1)
    return z


def truncated_irfftn_reversed(z: Float[Array, "2 *rev_kept b c"], grid: Sequence[int],
                              modes: Sequence[int]) -> Float[Array, "*rev_grid b c"]:
    """Inverse of :func:`truncated_rfftn_reversed` (zeros for truncated modes): real
    ``(n_{d-1}, ..., n_0, b, c)``.

    >>> v = jnp.ones((6, 8, 3, 2))
    >>> back = truncated_irfftn_reversed(truncated_rfftn_reversed(v, (8, 6), (2, 3)), (8, 6), (2, 3))
    >>> back.shape, bool(jnp.allclose(back, v, atol=1e-6))
    ((6, 8, 3, 2), True)
    """
    d = len(grid)
    for j, axis in reversed(list(enumerate(range(d - 2, -1, -1), start=1))):
        z = _complex_product(inverse_dft_basis(grid[axis], modes[axis]), z, j + 1)
    n, m = grid[-1], modes[-1]
    basis = inverse_rfft_basis(n, m)
    both = jnp.asarray(np.concatenate([basis.real, -basis.imag], axis=1), z.dtype)  # (n, 2m)
    return _batched_product(both, z.reshape(2 * m, *z.shape[2:]), 0)
