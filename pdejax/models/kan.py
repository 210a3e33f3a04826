"""Kolmogorov–Arnold networks with a Chebyshev basis (ChebyKAN)."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .layers import normal_arrays
from .pinn_nets import check_sizes


def chebyshev_basis(t: Float[Array, " n"], degree: int) -> Float[Array, "n degree_plus_1"]:
    """``T_0(t), ..., T_degree(t)`` for each entry of ``t`` by the three-term recurrence
    ``T_k = 2 t T_{k-1} - T_{k-2}`` (smooth derivatives everywhere, unlike ``cos(k arccos t)``)."""
    basis = [jnp.ones_like(t), t]
    for _ in range(2, degree + 1):
        basis.append(2 * t * basis[-1] - basis[-2])
    return jnp.stack(basis[: degree + 1], axis=-1)


class ChebyKANLayer(eqx.Module):
    """One KAN layer: each edge ``i → j`` carries a learnable function
    ``φ_ji(x) = Σ_k c_jik T_k(tanh(x))`` and ``y_j = Σ_i φ_ji(x_i)``.

    ``tanh`` maps inputs onto ``(-1, 1)``, where the Chebyshev polynomials live;
    ``T_0 = 1`` plays the role of a bias. Coefficients start as
    ``N(0, 1 / (in · (degree + 1)))`` (as in the ChebyKAN reference code).

    Args:
        coefficients: ``c``, shape ``(out, in, degree + 1)``.
    """

    coefficients: Float[Array, "out in degree_plus_1"]

    def __init__(self, coefficients: Float[Array, "out in degree_plus_1"]):
        self.coefficients = coefficients

    @property
    def degree(self) -> int:
        return self.coefficients.shape[-1] - 1

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        basis = chebyshev_basis(jnp.tanh(x), self.degree)
        return jnp.einsum("ik,jik->j", basis, self.coefficients)


class ChebyKAN(eqx.Module):
    """A Chebyshev Kolmogorov–Arnold network ``R^in → R^out`` on one input vector:
    ``depth`` hidden :class:`ChebyKANLayer` s of ``width`` units, then one to ``out``.

    Args:
        in_size, out_size: input and output sizes.
        width: hidden width.
        depth: number of hidden layers (``depth + 1`` KAN layers in all).
        degree: Chebyshev degree of every edge function.
        key: PRNG key (keyword-only).

    Example:
        >>> import jax
        >>> net = jax.eval_shape(lambda: ChebyKAN(2, 1, width=8, depth=2, degree=4, key=jax.random.key(0)))
        >>> jax.eval_shape(lambda net, x: jax.vmap(net)(x), net, jnp.zeros((5, 2))).shape
        (5, 1)
    """

    layers: tuple[ChebyKANLayer, ...]

    def __init__(self, in_size: int, out_size: int, width: int = 16, depth: int = 2, degree: int = 4, *,
                 key: PRNGKeyArray, dtype=None):
        check_sizes(width=width, depth=depth, degree=degree)
        if degree > 100:  # the recurrence is unrolled; such degrees only lose accuracy
            raise ValueError(f"degree must be at most 100, got {degree}")
        sizes = [in_size] + [width] * depth + [out_size]
        shapes = [(b, a, degree + 1) for a, b in zip(sizes[:-1], sizes[1:])]
        coefficients = normal_arrays(key, shapes, [1.0 / (a * (degree + 1)) for a in sizes[:-1]], dtype=dtype)
        self.layers = tuple(ChebyKANLayer(c) for c in coefficients)

    def __call__(self, x: Float[Array, " in"]) -> Float[Array, " out"]:
        for layer in self.layers:
            x = layer(x)
        return x
