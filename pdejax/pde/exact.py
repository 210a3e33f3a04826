"""Exact reference solutions (host-side NumPy/SciPy, float64; no JAX).

These are used as ground truth for solvers and PINNs, so they are computed
on the host in float64 independent of any JAX precision/device settings.

Viscous Burgers equation
------------------------
``u_t + u u_x = nu u_xx`` on the whole real line, solved exactly by the
Cole--Hopf transform ``u = -2 nu (log phi)_x`` with ``phi`` solving the heat
equation. Writing ``Phi(y) = int_0^y u(s, 0) ds`` for the initial potential,
``s = sqrt(4 nu t)`` and substituting ``y = x - s z`` gives

    u(x, t) = [int (s z / t) exp(-Phi(x - s z) / (2 nu)) e^{-z^2} dz]
              / [int exp(-Phi(x - s z) / (2 nu)) e^{-z^2} dz],

whose ``e^{-z^2}`` weight is integrated with Gauss--Hermite quadrature.

Periodic initial data are covered automatically (the solution stays
periodic), and for initial data that are odd about ``x = ±1`` (such as
``-sin(pi x)``) the solution restricted to ``[-1, 1]`` is the solution of the
homogeneous Dirichlet problem ``u(±1, t) = 0``.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import roots_hermite

__all__ = ["DEFAULT_N_QUAD", "burgers_cole_hopf", "burgers_sine"]

# Gauss--Hermite converges fast while the Cole--Hopf factor varies slowly
# over the Gaussian, but once s = sqrt(4 nu t) is large compared with the
# length scale of the data the integrand oscillates across the nodes and the
# node count needed grows roughly like (k s)^2 (k: largest significant
# wavenumber of the initial data). Measured (error vs. a 3000-4000 node run):
#   * -sin(pi x), nu = 0.01/pi, t <= 1 (the benchmark): ~128 nodes already
#     give ~1e-13, and the published 256 x 100 grid is matched to ~4e-11
#     (the reference's own accuracy) from n = 100 on;
#   * -sin(pi x), nu in [0.001/pi, 0.3], t <= 2 (t <= 5 for nu <= 0.1):
#     512 nodes give <= 2e-10;
#   * sin(2 pi x) + 0.5 cos(4 pi x), nu = 0.1, t <= 1: 512 nodes give ~1e-12,
#     256 only ~2e-8 (t = 2 needs ~1024).
# 512 is therefore a safe default; pass a smaller n_quad for speed on large
# benchmark grids, or a larger one for long times / large nu, and check
# convergence by comparing with 2 * n_quad.
DEFAULT_N_QUAD = 512

# Upper bound on (points x nodes) held in one work array. Each chunk keeps a
# handful of float64 temporaries of this size (~8 MiB each), so memory stays
# bounded for large grids such as 8192 x 201 points.
_CHUNK_ELEMENTS = 1 << 20


@functools.lru_cache(maxsize=16)
def _hermite_rule(n_quad: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss--Hermite nodes and log-weights (cached; read-only arrays)."""
    z, w = roots_hermite(n_quad)
    # For large n the outermost weights underflow to 0 (|z| > ~27, i.e.
    # e^{-z^2} < 1e-308 relative to the central weights). Dropping them
    # avoids log(0) and is exact to double precision unless the Cole--Hopf
    # factor varies by more than e^700 across the nodes, where the rule
    # could not resolve the integrand anyway.
    keep = w > 0.0
    z = np.ascontiguousarray(z[keep], dtype=np.float64)
    log_w = np.log(w[keep]).astype(np.float64)
    z.setflags(write=False)
    log_w.setflags(write=False)
    return z, log_w


def burgers_cole_hopf(
    x: ArrayLike,
    t: ArrayLike,
    nu: float,
    potential: Callable[[np.ndarray], ArrayLike],
    initial: Callable[[np.ndarray], ArrayLike],
    *,
    n_quad: int = DEFAULT_N_QUAD,
) -> np.ndarray:
    """Exact solution of viscous Burgers on R via Cole--Hopf + Gauss--Hermite.

    Solves ``u_t + u u_x = nu u_xx`` on the real line with
    ``u(x, 0) = initial(x)``.

    Args:
      x: positions, any shape, broadcastable against ``t`` (same length unit
        as the argument of ``potential``/``initial``).
      t: times ``>= 0``, any shape, broadcastable against ``x``.
      nu: viscosity ``> 0`` (units length^2 / time).
      potential: vectorised callable ``Phi(y) = int_0^y initial(s) ds``. It is
        called on float64 arrays of shape ``(m, n_nodes)`` and must return an
        array of the same shape. An additive constant is irrelevant (it
        cancels between numerator and denominator); precision degrades like
        ``eps * |Phi| / (2 nu)``, so keep ``Phi`` O(1) near the points used.
      initial: vectorised callable ``u(y, 0)``; used for points with
        ``t == 0`` exactly, where the quadrature formula degenerates.
      n_quad: number of Gauss--Hermite nodes (see ``DEFAULT_N_QUAD``).

    Returns:
      float64 array of the broadcast shape of ``x`` and ``t``.

    Example:
      >>> import numpy as np
      >>> init = lambda y: np.sin(2 * np.pi * y)
      >>> pot = lambda y: (1.0 - np.cos(2 * np.pi * y)) / (2 * np.pi)
      >>> u = burgers_cole_hopf(np.linspace(0, 1, 5)[:, None],
      ...                       np.array([[0.0, 0.5]]), 0.1, pot, init)
      >>> u.shape
      (5, 2)
    """
    nu = float(nu)
    if not (np.isfinite(nu) and nu > 0.0):
        raise ValueError(f"nu must be a positive finite number, got {nu!r}")
    n_quad = int(n_quad)
    if n_quad < 1:
        raise ValueError(f"n_quad must be >= 1, got {n_quad}")

    xb, tb = np.broadcast_arrays(
        np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64)
    )
    shape = xb.shape
    xf = xb.ravel()
    tf = tb.ravel()
    if np.any(~(tf >= 0.0)):  # also rejects NaN
        raise ValueError("t must be >= 0 (and not NaN)")

    out = np.empty(xf.shape, dtype=np.float64)

    at_zero = tf == 0.0
    if np.any(at_zero):
        x0 = xf[at_zero]
        out[at_zero] = np.broadcast_to(
            np.asarray(initial(x0), dtype=np.float64), x0.shape
        )

    idx = np.flatnonzero(~at_zero)
    if idx.size == 0:
        return out.reshape(shape)

    z, log_w = _hermite_rule(n_quad)
    inv_two_nu = 1.0 / (2.0 * nu)
    rows = max(1, _CHUNK_ELEMENTS // z.size)
    for start in range(0, idx.size, rows):
        sel = idx[start : start + rows]
        xc = xf[sel]
        tc = tf[sel]
        s = np.sqrt(4.0 * nu * tc)
        y = xc[:, None] - s[:, None] * z[None, :]
        expo = np.asarray(potential(y), dtype=np.float64)
        if expo.shape != y.shape:
            raise ValueError(
                f"potential returned shape {expo.shape}, expected {y.shape}"
            )
        # log of (quadrature weight x Cole-Hopf factor). For nu = 0.01/pi
        # these span ~100 in size, so exp() of them directly would overflow
        # or cancel catastrophically. Subtracting the per-point maximum (the
        # log-sum-exp shift) makes every term lie in (0, 1] with the largest
        # exactly 1, so the denominator is >= 1 and nothing over/underflows
        # harmfully; the common factor exp(max) cancels in the ratio.
        expo *= -inv_two_nu
        expo += log_w
        expo -= expo.max(axis=1, keepdims=True)
        np.exp(expo, out=expo)
        # The numerator carries the signed factor z; summing the shifted
        # terms directly equals a signed log-sum-exp, and its cancellation
        # error is ~eps * (typical |x - y| / t), i.e. relative to the size of
        # u itself, not to exp(max).
        num = expo @ z
        den = expo.sum(axis=1)
        # s / t == sqrt(4 nu / t); written this way to avoid 0/0 style issues
        # for tiny t.
        out[sel] = np.sqrt(4.0 * nu / tc) * (num / den)

    return out.reshape(shape)


def _sine_initial(y: np.ndarray) -> np.ndarray:
    return -np.sin(np.pi * y)


def _sine_potential(y: np.ndarray) -> np.ndarray:
    # int_0^y -sin(pi s) ds = (cos(pi y) - 1) / pi, bounded in [-2/pi, 0].
    return (np.cos(np.pi * y) - 1.0) / np.pi


def burgers_sine(
    x: ArrayLike,
    t: ArrayLike,
    nu: float = 0.01 / np.pi,
    *,
    n_quad: int = DEFAULT_N_QUAD,
) -> np.ndarray:
    """The classic PINN benchmark: ``u(x, 0) = -sin(pi x)`` on ``[-1, 1]``.

    ``u_t + u u_x = nu u_xx`` with ``u(±1, t) = 0``. Because ``-sin(pi x)`` is
    odd about both ``x = 0`` and ``x = ±1``, the whole-line (2-periodic)
    Cole--Hopf solution vanishes at ``x = ±1`` for all ``t`` and therefore
    solves the Dirichlet problem on ``[-1, 1]``. With the default
    ``nu = 0.01 / pi`` a steep front forms at ``x = 0`` around
    ``t = 1 / pi``; this matches the widely used reference data
    (``burgers_shock.mat``, 256 x 100 grid on ``t in [0, 0.99]``) to ~4e-11.

    Args:
      x: positions (any shape, broadcastable against ``t``); values outside
        ``[-1, 1]`` give the 2-periodic extension.
      t: times ``>= 0`` (any shape, broadcastable against ``x``).
      nu: viscosity ``> 0``.
      n_quad: number of Gauss--Hermite nodes.

    Returns:
      float64 array of the broadcast shape of ``x`` and ``t``.

    Example:
      >>> import numpy as np
      >>> x = np.linspace(-1, 1, 256)[:, None]   # (256, 1)
      >>> t = np.linspace(0, 0.99, 100)[None, :]  # (1, 100)
      >>> burgers_sine(x, t).shape
      (256, 100)
    """
    return burgers_cole_hopf(
        x, t, nu, _sine_potential, _sine_initial, n_quad=n_quad
    )
