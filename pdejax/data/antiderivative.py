"""The DeepONet antiderivative benchmark (Lu et al. 2021): ``u ↦ s``, ``s(x) = ∫₀ˣ u(t) dt``.

Input functions ``u`` are draws of the zero-mean Gaussian random field on ``[0, 1]``
with the RBF (squared-exponential) covariance ``k(x, x') = exp(−(x − x')² / (2 l²))``,
``l = 0.2`` (sklearn's ``RBF`` kernel, as in DeepONet's ``spaces.GRF``), seen at 100
equispaced sensors ``linspace(0, 1, 100)``; the output ``s`` is stored at the same points.

How the field is sampled. Each ``u`` is a continuous function, the truncated
Karhunen–Loève expansion ``u(x) = Σᵢ √μᵢ zᵢ φᵢ(x)``, ``zᵢ ~ N(0, 1)``: the eigenpairs of
the covariance operator come from the Nyström method on ``n_quadrature`` Gauss–Legendre
nodes (computed once, in float64 NumPy, when the generator is built), and eigenvalues
below ``1e-12`` of the largest are dropped (17 modes remain at ``l = 0.2``). Each
``φᵢ`` is a combination of Gaussians ``k(·, y_j)``, so its antiderivative is exact in
closed form (``erf``): ``s`` is the exact integral of the sampled ``u``, not a quadrature.
A sample is then two small matrix–vector products, ``u = U z`` and ``s = S z``.

Measured accuracy (float64, ``l = 0.2``, 64 nodes): the covariance of the sampled
field differs from ``k`` by at most 1.3e-11 on a 1001-point grid (stored as the
``covariance_error`` attribute; a build whose error exceeds 1e-6 is refused and asks
for more nodes); ``s`` agrees with a composite Simpson rule on 19 801 points of the same
``u`` to 3e-12 in max norm (``|s|`` up to ~0.4), the roundoff of that check
(``tests/data/test_antiderivative.py``). Stored in float32, the pairs carry float32 rounding.

Stored arrays (axis names as in :mod:`pdejax.data.generators`): ``u`` ``(X,)`` with
axes ``("x",)``, and ``tensor`` = ``s`` ``(1, X)`` with axes ``("t", "x")`` — one frame,
like Darcy's solution; ``x-coordinate`` holds the sensors. Read back with
``load_dataset(path).arrays["u"]`` ``[N, X]`` and ``.tensor`` ``[N, 1, X]``.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray
from scipy.special import erf

from ..config.errors import ConfigError
from .generators import GENERATORS, AbstractGenerator, ArraySpec
from .trajectories import Precision

EIGENVALUE_CUTOFF = 1e-12  # modes with mu_i < cutoff * mu_0 are dropped
MAX_COVARIANCE_ERROR = 1e-6


def rbf_grf_basis(x: np.ndarray, length_scale: float, n_quadrature: int = 64
                  ) -> tuple[Float[np.ndarray, "points rank"], Float[np.ndarray, "points rank"]]:
    """Karhunen–Loève modes of the RBF Gaussian random field on ``[0, 1]`` and their antiderivatives.

    ``u(x) = U @ z`` is a draw of the zero-mean field with covariance
    ``exp(−(x − x')² / (2 l²))`` when ``z ~ N(0, I)``, and ``s(x) = S @ z = ∫₀ˣ u`` exactly.

    Args:
        x: points in ``[0, 1]`` (any, also off the quadrature nodes).
        length_scale: ``l``.
        n_quadrature: Gauss–Legendre nodes of the Nyström discretisation.

    Returns:
        ``(U, S)``, both ``(len(x), rank)`` float64: column ``i`` is ``√μᵢ φᵢ`` and its
        antiderivative from 0.
    """
    x = np.asarray(x, np.float64)
    nodes, weights = np.polynomial.legendre.leggauss(n_quadrature)
    y, w = (nodes + 1.0) / 2.0, weights / 2.0
    root_w = np.sqrt(w)
    mu, v = np.linalg.eigh(root_w[:, None] * _rbf(y[:, None], y[None], length_scale) * root_w[None])
    keep = mu > EIGENVALUE_CUTOFF * mu[-1]
    mu, v = mu[keep][::-1], v[:, keep][:, ::-1]
    # Nystrom: phi_i(x) = sum_j w_j k(x, y_j) phi_i(y_j) / mu_i with phi_i(y_j) = v_ji / sqrt(w_j).
    coef = root_w[:, None] * v / np.sqrt(mu)  # sqrt(mu_i) phi_i(x) = k(x, Y) @ coef[:, i]
    a = math.sqrt(2.0) * length_scale
    integral = length_scale * math.sqrt(math.pi / 2.0) * (erf((x[:, None] - y[None]) / a) + erf(y[None] / a))
    return _rbf(x[:, None], y[None], length_scale) @ coef, integral @ coef


def _rbf(x: np.ndarray, y: np.ndarray, length_scale: float) -> np.ndarray:
    return np.exp(-((x - y) ** 2) / (2.0 * length_scale**2))


class AntiderivativePairs(AbstractGenerator):
    """Pairs ``(u, s = ∫₀ˣ u)`` with ``u`` from the RBF Gaussian random field (see the module docstring).

    Build with :func:`antiderivative` (the registered ``antiderivative`` generator).

    Attributes:
        u_modes, s_modes: ``(X, rank)`` float64 matrices, ``u = u_modes @ z``, ``s = s_modes @ z``.
    """

    u_modes: np.ndarray
    s_modes: np.ndarray
    length_scale: float = eqx.field(static=True)
    n_quadrature: int = eqx.field(static=True)
    covariance_error: float = eqx.field(static=True)
    precision: str = eqx.field(static=True)

    def __init__(self, n_sensors: int, length_scale: float, n_quadrature: int, precision: Precision = "float32"):
        if precision == "float64" and not jax.config.read("jax_enable_x64"):  # reads jax.enable_x64 too
            raise ConfigError("precision", precision, "float32, or float64 inside "
                              "`with jax.enable_x64(True):` (pdejax data generate does this)")
        check = np.linspace(0.0, 1.0, 1001)
        u_check, _ = rbf_grf_basis(check, length_scale, n_quadrature)
        error = float(np.max(np.abs(u_check @ u_check.T - _rbf(check[:, None], check[None], length_scale))))
        if not error <= MAX_COVARIANCE_ERROR:
            raise ConfigError("n_quadrature", n_quadrature, f"more Gauss-Legendre nodes for length_scale = "
                              f"{length_scale}: the sampled covariance is off by {error:.1e} (at most "
                              f"{MAX_COVARIANCE_ERROR:g} is accepted)")
        self.u_modes, self.s_modes = rbf_grf_basis(self.sensors_for(n_sensors), length_scale, n_quadrature)
        self.length_scale, self.n_quadrature, self.covariance_error = length_scale, n_quadrature, error
        self.precision = precision

    @staticmethod
    def sensors_for(n_sensors: int) -> np.ndarray:
        """DeepONet's sensors, ``linspace(0, 1, n_sensors)``."""
        return np.linspace(0.0, 1.0, n_sensors)

    @property
    def rank(self) -> int:
        return self.u_modes.shape[1]

    @property
    def arrays(self) -> dict[str, ArraySpec]:
        n, dtype = self.u_modes.shape[0], jnp.dtype(self.precision)
        return {"tensor": ArraySpec((1, n), dtype, ("t", "x")), "u": ArraySpec((n,), dtype, ("x",))}

    def coordinates(self) -> dict[str, np.ndarray]:
        return {"x-coordinate": self.sensors_for(self.u_modes.shape[0])}

    def attributes(self) -> dict[str, Any]:
        return {"pde": "antiderivative", "operator": "s(x) = integral_0^x u(t) dt (s(0) = 0)",
                "input_function": "u ~ Gaussian random field on [0, 1], zero mean, covariance "
                f"exp(-(x - x')^2 / (2 * {self.length_scale:g}^2)) (DeepONet, Lu et al. 2021)",
                "length_scale": self.length_scale, "sensors": "linspace(0, 1, n_sensors); u and s at the sensors",
                "solver": f"Karhunen-Loeve expansion, Nystrom on {self.n_quadrature} Gauss-Legendre nodes, "
                f"eigenvalues below {EIGENVALUE_CUTOFF:g} x the largest dropped ({self.rank} modes); "
                "antiderivative of every mode in closed form (erf)",
                "rank": self.rank, "covariance_error": self.covariance_error, "precision": self.precision}

    def from_coefficients(self, z: Float[Array, " rank"]) -> dict[str, Array]:
        """The sample with Karhunen–Loève coefficients ``z``: ``{"u": (X,), "tensor": (1, X)}``."""
        highest = jax.lax.Precision.HIGHEST  # no reduced-precision matmul on accelerators
        u = jnp.matmul(jnp.asarray(self.u_modes, z.dtype), z, precision=highest)
        s = jnp.matmul(jnp.asarray(self.s_modes, z.dtype), z, precision=highest)
        return {"u": u, "tensor": s[None]}

    def sample(self, key: PRNGKeyArray) -> dict[str, Array]:
        return self.from_coefficients(jax.random.normal(key, (self.rank,), jnp.dtype(self.precision)))


@GENERATORS.register("antiderivative")
def antiderivative(n_sensors: int = 100, length_scale: float = 0.2, n_quadrature: int = 64,
                   precision: Precision = "float32") -> AntiderivativePairs:
    """DeepONet antiderivative: u ~ GRF(RBF, length_scale) on [0, 1] at n_sensors points, s = ∫₀ˣ u (exact)."""
    if n_sensors < 2:
        raise ConfigError("n_sensors", n_sensors, "at least 2 sensors")
    if not length_scale > 0:
        raise ConfigError("length_scale", length_scale, "a positive length scale")
    if n_quadrature < 8:
        raise ConfigError("n_quadrature", n_quadrature, "at least 8 Gauss-Legendre nodes")
    return AntiderivativePairs(n_sensors, length_scale, n_quadrature, precision)
