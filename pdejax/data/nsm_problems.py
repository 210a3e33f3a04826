"""The Neural Spectral Methods problems (Du et al. 2024): inputs and spectral references.

Operators trained from the PDE alone see only the inputs (a source, an initial
condition); the reference solutions stored here are for evaluation. The inputs are
Gaussian random fields with the paper's periodic kernel
``k(x, y) = ∏_i exp(-sin²(π (x_i - y_i) / L) / (2 ℓ²))``, whose Fourier coefficients are
independent with variances ``∏_i e^{-a} I_{k_i}(a)``, ``a = 1 / (4 ℓ²)`` (modified Bessel
functions), sampled exactly in Fourier space and truncated to ``|k_i| <= max_wavenumber``
(the paper interpolates samples on a 16² grid for Poisson, so ``|k| <= 8``; on its 64-point
grid for reaction–diffusion, where modes beyond 16 have standard deviations below 1e-4 of
the largest).

The Dirichlet Poisson problem (``poisson_dirichlet``) lives on the Chebyshev–Lobatto nodes of
each axis instead: sources from a squared-exponential Gaussian random field sampled at the
nodes (:class:`SquaredExponentialField`), references from a Chebyshev collocation solve
(:class:`ChebyshevPoisson`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.errors import ConfigError
from ..pde import fisher_kpp, grid_for, navier_stokes_2d, poisson_source
from ..pde.spectral_terms import symbol
from ..spectral import ChebyshevSeries, FourierGrid
from .generators import GENERATORS, AbstractGenerator, ArraySpec
from .trajectories import Precision, SpectralTrajectories


class PeriodicKernelField(eqx.Module):
    """A Gaussian random field with the periodic kernel of length scale ``length_scale``
    (relative to the period), Fourier modes ``|k_i| <= max_wavenumber``, times ``scale``.

    ``normalize``: map each sample affinely onto ``[0, 1]`` by its grid minimum and maximum
    (the paper's reaction–diffusion initial conditions); ``zero_mean``: drop the mean mode.
    """

    length_scale: float = eqx.field(static=True)
    max_wavenumber: int = eqx.field(static=True)
    scale: float = eqx.field(static=True, default=1.0)
    zero_mean: bool = eqx.field(static=True, default=False)
    normalize: bool = eqx.field(static=True, default=False)

    def std(self, grid: FourierGrid) -> np.ndarray:
        """Standard deviation of each ``rfftn`` coefficient of white noise's transform (host, float64)."""
        a = 1.0 / (4 * self.length_scale**2)
        std = np.ones(())
        for k, length in zip(grid.wavenumbers(np.float64), grid.lengths):
            index = np.rint(np.abs(k) * length / (2 * math.pi))
            variance = np.where(index <= self.max_wavenumber, scipy.special.ive(index, a), 0.0)
            std = std * np.sqrt(variance)
        if self.zero_mean:
            std = std.copy()
            std.flat[0] = 0.0
        # E|rfftn(noise)_k|² = N and irfftn divides by N: coefficient variance = λ_k.
        return std * math.sqrt(math.prod(grid.sizes)) * self.scale

    def __call__(self, key: PRNGKeyArray, grid: FourierGrid, dtype) -> Float[Array, "*sizes"]:
        noise = jax.random.normal(key, grid.sizes, dtype)
        u = jnp.fft.irfftn(jnp.fft.rfftn(noise) * jnp.asarray(self.std(grid), dtype), s=grid.sizes).astype(dtype)
        if self.normalize:
            u = (u - jnp.min(u)) / (jnp.max(u) - jnp.min(u))
        return u

    def describe(self) -> str:
        out = (f"Gaussian random field, periodic kernel exp(-sin^2(pi d) / (2 * {self.length_scale:g}^2)) per axis, "
               f"modes |k| <= {self.max_wavenumber}")
        out += ", zero mean" if self.zero_mean else ""
        return out + (", mapped onto [0, 1] by its minimum and maximum" if self.normalize else "")


class PoissonSourcePairs(AbstractGenerator):
    """Sources ``source`` and solutions ``tensor`` of ``-Δu = s`` on the periodic box.

    The solution is the exact spectral solve from the PDE definition's Fourier symbol,
    ``û = -ŝ / σ(k)`` (``σ`` the symbol of ``Δ``), with zero mean; the source is band-limited
    below the grid's Nyquist mode, so the stored solution is exact to round-off.
    """

    n_points: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    length: float = eqx.field(static=True)
    field: PeriodicKernelField
    precision: str = eqx.field(static=True)

    @property
    def grid(self) -> FourierGrid:
        return grid_for(poisson_source(self.dim, self.length), self.n_points)

    @property
    def arrays(self) -> dict[str, ArraySpec]:
        g, dtype = self.grid, jnp.dtype(self.precision)
        return {"tensor": ArraySpec((1, *g.sizes), dtype, ("t", *g.coords)),
                "source": ArraySpec(g.sizes, dtype, g.coords)}

    def coordinates(self) -> dict[str, np.ndarray]:
        g = self.grid
        return {f"{c}-coordinate": lo + length * np.arange(n) / n
                for c, lo, length, n in zip(g.coords, g.lower, g.lengths, g.sizes)}

    def attributes(self) -> dict[str, Any]:
        return {"pde": "poisson_source", "boundary": "periodic", "length": self.length,
                "source": self.field.describe(), "solver": "exact Fourier solve from the PDE's symbol, zero mean",
                "resolution": list(self.grid.sizes), "precision": self.precision}

    def sample(self, key: PRNGKeyArray) -> dict[str, Array]:
        dtype, g = jnp.dtype(self.precision), self.grid
        pde = poisson_source(self.dim, self.length)
        s = self.field(key, g, dtype)
        sym = symbol(pde, g, pde.linear["u"])  # Δ → -|k|²
        inverse = np.where(sym != 0, -1.0 / np.where(sym != 0, sym, 1.0), 0.0)  # 0 = Δu + s
        u = jnp.fft.irfftn(jnp.fft.rfftn(s) * jnp.asarray(inverse.real, dtype), s=g.sizes).astype(dtype)
        return {"tensor": u[None], "source": s}


@GENERATORS.register("poisson_source")
def poisson_source_pairs(n_points: int = 64, dim: int = 2, length: float = 1.0, length_scale: float = 0.2,
                         max_wavenumber: int = 8, scale: float = 1.0, precision: Precision = "float32"
                         ) -> PoissonSourcePairs:
    """Periodic Poisson ``-Δu = s`` (the NSM paper's): zero-mean sources from the periodic
    kernel (``length_scale`` 0.2, ``|k| <= 8``), exact spectral solutions, ``n_points`` per axis."""
    if not 2 * max_wavenumber < n_points:
        raise ConfigError("max_wavenumber", max_wavenumber, f"below n_points / 2 = {n_points / 2} (band-limited "
                          "on the grid)")
    if not length_scale > 0:
        raise ConfigError("length_scale", length_scale, "a positive length scale")
    if precision == "float64" and not jax.config.read("jax_enable_x64"):  # reads jax.enable_x64 too
        raise ConfigError("precision", precision, "float32, or float64 inside `with jax.enable_x64(True):` "
                          "(pdejax data generate does this)")
    field = PeriodicKernelField(length_scale, max_wavenumber, scale, zero_mean=True)
    return PoissonSourcePairs(n_points, dim, length, field, precision)


@GENERATORS.register("reaction_diffusion")
def reaction_diffusion(n_points: int = 128, nu: float = 0.01, rho: float = 5.0, t_final: float = 1.0,
                       n_frames: int = 64, steps_per_frame: int = 16, length_scale: float = 0.2,
                       max_wavenumber: int = 16, precision: Precision = "float32") -> SpectralTrajectories:
    """Reaction–diffusion ``u_t = ν u_xx + ρ u (1 - u)`` on the periodic unit interval (the NSM
    paper's; pdejax's ``fisher_kpp``) by ETDRK4, ``n_frames + 1`` frames over ``[0, t_final]``,
    initial conditions from the periodic kernel mapped onto ``[0, 1]``."""
    if n_frames < 1 or steps_per_frame < 1:
        raise ConfigError("n_frames", n_frames, "positive n_frames and steps_per_frame")
    if not 2 * max_wavenumber < n_points:
        raise ConfigError("max_wavenumber", max_wavenumber, f"below n_points / 2 = {n_points / 2}")
    pde = fisher_kpp(diffusion=nu, rate=rho, length=1.0, t_final=t_final)
    initial = PeriodicKernelField(length_scale, max_wavenumber, normalize=True)
    dt = t_final / (n_frames * steps_per_frame)
    return SpectralTrajectories(pde, n_points, dt, n_frames * steps_per_frame, steps_per_frame, initial, precision)


@GENERATORS.register("navier_stokes_nsm")
def navier_stokes_nsm(n_points: int = 64, nu: float = 2e-3, t_final: float = 50.0, n_frames: int = 50,
                      steps_per_frame: int = 100, length_scale: float = 0.8, max_wavenumber: int = 8,
                      precision: Precision = "float32") -> SpectralTrajectories:
    """Forced 2D Navier–Stokes vorticity on the unit torus (the NSM paper's forced flow): the FNO
    forcing ``0.1 (sin 2π(x+y) + cos 2π(x+y))``, ν = 2e-3, ``t ∈ [0, 50]``, zero-mean initial
    vorticity from the periodic kernel (length scale 0.8), ETDRK4 with 2/3 dealiasing."""
    if n_frames < 1 or steps_per_frame < 1:
        raise ConfigError("n_frames", n_frames, "positive n_frames and steps_per_frame")
    if not 2 * max_wavenumber < n_points:
        raise ConfigError("max_wavenumber", max_wavenumber, f"below n_points / 2 = {n_points / 2}")
    pde = navier_stokes_2d(nu=nu, forcing="fno", t_final=t_final)
    initial = PeriodicKernelField(length_scale, max_wavenumber, zero_mean=True)
    dt = t_final / (n_frames * steps_per_frame)
    return SpectralTrajectories(pde, n_points, dt, n_frames * steps_per_frame, steps_per_frame, initial, precision)


def lobatto_nodes(n: int, lower: float, upper: float) -> np.ndarray:
    """The ``n`` Chebyshev–Lobatto nodes of ``[lower, upper]``, ascending, both ends included (float64)."""
    return ChebyshevSeries(float(lower), float(upper), int(n)).nodes()


class SquaredExponentialField(eqx.Module):
    """A Gaussian random field with the kernel ``scale² exp(-|x - y|² / (2 ℓ²))``, sampled
    exactly at the nodes of a tensor grid (any nodes: here the Chebyshev–Lobatto ones).

    The kernel is a product over axes, so the covariance at the nodes is the Kronecker
    product of the 1D ones ``K_i``; a sample is ``(⊗_i K_i^{1/2}) z`` with ``z`` white noise,
    ``K_i^{1/2}`` the symmetric square root (eigenvalues that round-off made negative set to 0).
    The field is analytic, so its interpolant at Chebyshev nodes converges exponentially
    (at ``ℓ = 0.2`` on ``[0, 1]``, 33 nodes resolve it to ~1e-8 of its size).
    """

    length_scale: float = eqx.field(static=True)
    scale: float = eqx.field(static=True, default=1.0)

    def roots(self, points: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``K_i^{1/2}`` per axis (host, float64)."""
        out = []
        for p in points:
            p = np.asarray(p, np.float64)
            lam, q = np.linalg.eigh(np.exp(-((p[:, None] - p[None, :]) ** 2) / (2 * self.length_scale**2)))
            out.append((q * np.sqrt(np.clip(lam, 0.0, None))) @ q.T)
        return out

    def __call__(self, key: PRNGKeyArray, points: Sequence[np.ndarray], dtype) -> Float[Array, "*sizes"]:
        """One sample on the tensor grid of the 1D ``points``: shape ``tuple(map(len, points))``."""
        u = jax.random.normal(key, tuple(len(p) for p in points), dtype)
        for i, root in enumerate(self.roots(points)):
            u = jnp.moveaxis(jnp.tensordot(jnp.asarray(root, dtype), u, axes=(1, i)), 0, i)
        return u * self.scale

    def describe(self) -> str:
        return (f"Gaussian random field, kernel {self.scale:g}^2 exp(-|x - y|^2 / (2 * {self.length_scale:g}^2)), "
                "sampled at the nodes")


class ChebyshevPoisson(eqx.Module):
    """``-Δu = s`` on the box ``∏ [lower_i, upper_i]`` with ``u = 0`` on its boundary, by
    Chebyshev collocation at the Lobatto nodes: ``-Δu = s`` at the interior nodes, ``u = 0``
    at the boundary ones.

    The interior Laplacian is ``Σ_i D_i`` (``D_i`` the second-derivative collocation matrix of
    axis ``i`` restricted to the interior nodes, acting along that axis: the Kronecker sum).
    It is solved by diagonalising each ``D_i = V_i Λ_i V_i⁻¹`` once on the host in float64
    (real, negative eigenvalues; ``V_i`` well conditioned) — the same solution as the dense
    Kronecker system, in ``O(n^{d+1})``. Spectrally accurate for smooth solutions; a source
    that does not vanish at a corner of the box gives the exact solution a weak corner
    singularity (``r² log r``), and the accuracy becomes algebraic (about 1e-6 relative
    at 33 nodes per axis for the ``poisson_dirichlet`` sources, 33 against 65 nodes).

    Example (``u = sin πx sin πy`` on the unit square, ``s = 2π² u``):
        >>> import jax
        >>> with jax.enable_x64(True):
        ...     solver = ChebyshevPoisson((0.0, 0.0), (1.0, 1.0), (17, 17))
        ...     x, y = np.meshgrid(*solver.nodes(), indexing="ij")
        ...     u = np.sin(np.pi * x) * np.sin(np.pi * y)
        ...     error = float(jnp.max(jnp.abs(solver(jnp.asarray(2 * np.pi**2 * u)) - u)))
        >>> error < 1e-10
        True
    """

    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    sizes: tuple[int, ...] = eqx.field(static=True)

    def __post_init__(self):
        if not len(self.lower) == len(self.upper) == len(self.sizes) or any(n < 3 for n in self.sizes):
            raise ValueError(f"one interval and at least 3 nodes per axis, got lower {self.lower}, upper "
                             f"{self.upper}, sizes {self.sizes}")

    def nodes(self) -> tuple[np.ndarray, ...]:
        """The Lobatto nodes of each axis, ascending (float64)."""
        return tuple(lobatto_nodes(n, a, b) for a, b, n in zip(self.lower, self.upper, self.sizes))

    def eigensystems(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(Λ_i, V_i, V_i⁻¹)`` per axis of the interior second-derivative matrix (host, float64)."""
        out = []
        for a, b, n in zip(self.lower, self.upper, self.sizes):
            s = ChebyshevSeries(float(a), float(b), int(n))
            d2 = (s.synthesis(s.nodes()) @ s.derivative(2) @ s.analysis())[1:-1, 1:-1]
            lam, v = np.linalg.eig(d2)
            if np.max(np.abs(lam.imag)) > 1e-8 * np.max(np.abs(lam)) or np.max(lam.real) >= 0:
                raise ValueError(f"the collocation Laplacian at {n} nodes lost its real negative spectrum")
            out.append((lam.real, v.real, np.linalg.inv(v.real)))
        return out

    def __call__(self, s: Float[Array, "*sizes"]) -> Float[Array, "*sizes"]:
        """The solution at the nodes (zero on the boundary ones), in ``s``'s dtype."""
        systems = self.eigensystems()
        dtype, d = s.dtype, len(self.sizes)
        f = s[(slice(1, -1),) * d]
        for i, (_, _, inv) in enumerate(systems):
            f = jnp.moveaxis(jnp.tensordot(jnp.asarray(inv, dtype), f, axes=(1, i)), 0, i)
        total = sum(lam.reshape([-1 if j == i else 1 for j in range(d)]) for i, (lam, _, _) in enumerate(systems))
        f = f * jnp.asarray(-1.0 / total, dtype)  # Σ_i D_i u = -s
        for i, (_, v, _) in enumerate(systems):
            f = jnp.moveaxis(jnp.tensordot(jnp.asarray(v, dtype), f, axes=(1, i)), 0, i)
        return jnp.pad(f, 1)


class DirichletPoissonPairs(AbstractGenerator):
    """Sources ``source`` and solutions ``tensor`` of ``-Δu = s`` on ``[0, L]^dim``, ``u = 0`` on
    the boundary, both at the Chebyshev–Lobatto nodes of each axis (:class:`ChebyshevPoisson`)."""

    n_points: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    length: float = eqx.field(static=True)
    field: SquaredExponentialField
    precision: str = eqx.field(static=True)

    @property
    def coords(self) -> tuple[str, ...]:
        return tuple("xyz"[:self.dim])

    @property
    def solver(self) -> ChebyshevPoisson:
        return ChebyshevPoisson((0.0,) * self.dim, (self.length,) * self.dim, (self.n_points,) * self.dim)

    @property
    def arrays(self) -> dict[str, ArraySpec]:
        sizes, dtype = (self.n_points,) * self.dim, jnp.dtype(self.precision)
        return {"tensor": ArraySpec((1, *sizes), dtype, ("t", *self.coords)),
                "source": ArraySpec(sizes, dtype, self.coords)}

    def coordinates(self) -> dict[str, np.ndarray]:
        return {f"{c}-coordinate": x for c, x in zip(self.coords, self.solver.nodes())}

    def attributes(self) -> dict[str, Any]:
        return {"pde": "poisson_source", "boundary": "dirichlet", "grid": "chebyshev_lobatto",
                "length": self.length, "source": self.field.describe(),
                "solver": "Chebyshev collocation at the Lobatto nodes (diagonalised Kronecker Laplacian), u = 0 "
                          "on the boundary", "resolution": [self.n_points] * self.dim, "precision": self.precision}

    def sample(self, key: PRNGKeyArray) -> dict[str, Array]:
        dtype, solver = jnp.dtype(self.precision), self.solver
        s = self.field(key, solver.nodes(), dtype)
        return {"tensor": solver(s)[None], "source": s}


@GENERATORS.register("poisson_dirichlet")
def poisson_dirichlet(n_points: int = 33, dim: int = 2, length: float = 1.0, length_scale: float = 0.2,
                      scale: float = 1.0, precision: Precision = "float32") -> DirichletPoissonPairs:
    """Dirichlet Poisson ``-Δu = s`` on ``[0, L]^dim``, ``u = 0`` on the boundary (pdejax's
    ``poisson_source`` with ``boundary: dirichlet``), at ``n_points`` Chebyshev–Lobatto nodes per
    axis: squared-exponential Gaussian-random-field sources (``length_scale`` in the units of
    ``x``), Chebyshev-collocation solutions."""
    if not 3 <= n_points <= 129:
        raise ConfigError("n_points", n_points, "3 to 129 Chebyshev–Lobatto nodes per axis")
    if dim not in (1, 2, 3):
        raise ConfigError("dim", dim, "1, 2 or 3")
    if not length > 0 or not length_scale > 0:
        raise ConfigError("length_scale" if length > 0 else "length", length_scale if length > 0 else length,
                          "a positive length")
    if precision == "float64" and not jax.config.read("jax_enable_x64"):
        raise ConfigError("precision", precision, "float32, or float64 inside `with jax.enable_x64(True):` "
                          "(pdejax data generate does this)")
    return DirichletPoissonPairs(n_points, dim, float(length), SquaredExponentialField(length_scale, scale), precision)
