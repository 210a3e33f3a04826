"""ConFIG and M-ConFIG: conflict-free update directions (Liu et al. 2024).

ConFIG (Conflict-Free Inverse Gradients, Liu, Chu & Thuerey 2024, reference code
``tum-pbs/ConFIG``) combines the terms' gradients ``g_k`` into one direction ``g_c``
whose cosine with every ``g_k`` is the same positive number, so no term's loss rises to
first order. With ``U`` the matrix of the unit gradients ``u_k = g_k / |g_k|`` (one row
per term) and ``w`` the direction weights (``objective.weights``, default all 1: the
paper's equal weights),

    x = U⁺ w          (the least-norm solution of U x = w: u_k·x = w_k)
    g_c = (Σ_k g_k · x̂) x̂,   x̂ = x / |x|

(the pseudo-inverse solve, then the "projection length": the sum of the gradients'
projections onto the direction). With ``m`` terms everything reduces to the ``m × m``
Gram matrix ``G = U Uᵀ``: ``x = Σ_k c_k u_k`` with ``c = G⁺ w``, so the direction is one
weighted sum of the gradients, ``g_c = Σ_k a_k g_k`` (``a_k`` is logged as
``weight/<term>``). One term gives ``g_c = g``; orthogonal gradients give
``g_c = (Σ_k |g_k| / m) Σ_k u_k``. (``G⁺`` is ``jnp.linalg.pinv``'s, whose cut-off is
relative to ``G``'s largest eigenvalue, the square of ``U``'s largest singular value:
unit gradients closer than about ``sqrt(10 m eps)`` to linear dependence count as
dependent, e.g. 2e-3 in float32 for three terms.)

M-ConFIG (the paper's momentum variant, the reference code's ``PseudoMomentumOperator``)
takes one term's gradient per step, cycling through the terms, keeps a first moment
``m_k`` per term (Adam's bias correction by the term's own count), applies ConFIG to
the corrected moments and divides by the square root of a second moment estimated from
the pseudo-gradient that the ConFIG momenta imply. It returns zero until every term has
been seen once. Its direction is already an Adam-like step: use it with plain ``sgd``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from ..config.schema import COMBINER_OPTIMIZERS
from .combiners import COMBINERS, GradientCombiner, initial_weights, weighted_sum


def config_coefficients(grads: Mapping[str, Any], weights: Mapping[str, Array] | None = None) -> dict[str, Array]:
    """``{k: a_k}`` with ``Σ_k a_k g_k`` the ConFIG direction of ``grads = {k: g_k}``.

    ``weights``: the projections' target ratios ``w`` (default all 1). A zero gradient
    gets coefficient 0 (the reference code's ``nan_to_num`` of its unit vector).
    """
    names = list(grads)
    vdot = lambda a, b: sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))  # noqa: E731
    raw = jnp.stack([jnp.stack([vdot(grads[a], grads[b]) for b in names]) for a in names])
    norms = jnp.sqrt(jnp.diagonal(raw))
    tiny = jnp.finfo(raw.dtype).tiny
    inv = jnp.where(norms > 0, 1 / jnp.maximum(norms, tiny), 0)
    gram = raw * inv[:, None] * inv[None, :]  # U Uᵀ
    w = jnp.ones(len(names), raw.dtype) if weights is None else jnp.stack([jnp.asarray(weights[n], raw.dtype)
                                                                            for n in names])
    c = jnp.linalg.pinv(gram, hermitian=True) @ w  # x = Uᵀ c
    x_norm = jnp.sqrt(jnp.maximum(c @ gram @ c, tiny))
    length = jnp.sum(norms * (gram @ c)) / x_norm  # Σ_k g_k · x̂
    a = length / x_norm * c * inv
    return {n: a[i] for i, n in enumerate(names)}


def config_direction(grads: Mapping[str, Any], weights: Mapping[str, Array] | None = None) -> Any:
    """The ConFIG direction of ``grads = {term: gradient pytree}`` (see the module docstring).

    >>> import jax.numpy as jnp
    >>> d = config_direction({"a": jnp.array([3.0, 0.0]), "b": jnp.array([0.0, 0.5])})
    >>> [round(float(v), 4) for v in d]      # orthogonal: (|g_a| + |g_b|)/2 · (u_a + u_b)
    [1.75, 1.75]
    """
    return weighted_sum(config_coefficients(grads, weights), grads)


@COMBINERS.register("config")
def config(weights: Mapping[str, float] | None = None) -> GradientCombiner:
    """ConFIG (Liu et al. 2024): the direction with equal positive cosine to every term's gradient.

    ``objective.weights`` (default 1) are the direction weights of the paper's weight
    model: the projections onto the unit gradients are in their ratio. Any optimizer
    (the paper uses Adam). Logged: ``weight/<term>``, the coefficient ``a_k`` of the
    direction ``Σ_k a_k ∇L_k``, and ``cos/<term>``, its cosine with ``∇L_k``.
    """

    def init(params, names):
        return initial_weights(weights, names)

    def update(grads, losses, state, params):
        coef = jax.lax.stop_gradient(config_coefficients(grads, state))
        direction = weighted_sum(coef, grads)
        return direction, state, {f"weight/{n}": coef[n] for n in coef} | cosines(direction, grads)

    return GradientCombiner(init, update, lambda state: state, per_term=True)


def cosines(direction: Any, grads: Mapping[str, Any]) -> dict[str, Array]:
    """``cos/<term>``: the cosine between ``direction`` and each term's gradient."""
    norm = optax.tree.norm(direction)
    out = {}
    for n, g in grads.items():
        denom = jnp.maximum(norm * optax.tree.norm(g), jnp.finfo(norm.dtype).tiny)
        out[f"cos/{n}"] = optax.tree.vdot(direction, g) / denom
    return out


@COMBINERS.register("config_momentum")
def config_momentum(weights: Mapping[str, float] | None = None, b1: float = 0.9, b2: float = 0.999,
                    eps: float = 1e-8) -> GradientCombiner:
    """M-ConFIG (Liu et al. 2024): one term's gradient per step, per-term momenta, ConFIG, own 2nd moment; sgd only.

    Step ``n`` differentiates term ``n mod m`` only (one reverse pass). With ``t_k`` the
    number of steps that saw term ``k`` and ``t`` the steps since every term was seen:

        m_k ← b1 m_k + (1 - b1) g_k                          (the term seen this step)
        c   = ConFIG(m_k / (1 - b1^t_k))
        f   = c (1 - b1^t);  p = (f - b1 f_prev) / (1 - b1)   (the implied gradient)
        s   ← b2 s + (1 - b2) p²
        direction = c / (sqrt(s / (1 - b2^t)) + eps)

    and zero before every term has been seen. ``objective.weights`` are ConFIG's
    direction weights. Compose with ``optimizer.name: sgd`` (no momentum): the learning
    rate and its schedule scale this step. Logged: ``weight/<term>`` (ConFIG's
    coefficient of the term's momentum).
    """
    for name, beta in (("b1", b1), ("b2", b2)):
        if not 0 <= beta < 1:
            raise ValueError(f"{name} = {beta} must be in [0, 1)")
    if not eps > 0:
        raise ValueError(f"eps = {eps} must be positive")

    def init(params, names):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return {"weights": initial_weights(weights, names),
                "momenta": {n: zeros for n in names},
                "seen": {n: jnp.zeros((), jnp.int32) for n in names},
                "second": zeros, "implied": zeros,
                "t": jnp.zeros((), jnp.int32), "count": jnp.zeros((), jnp.int32)}

    def active(state):
        names = list(state["weights"])
        i = state["count"] % len(names)
        return {n: (i == k).astype(state["weights"][n].dtype) for k, n in enumerate(names)}

    def update(grad, losses, state, params):
        names = list(state["weights"])
        on = active(state)
        momenta = {n: jax.tree.map(lambda m, g, n=n: jnp.where(on[n] > 0, b1 * m + (1 - b1) * g, m),
                                   state["momenta"][n], grad) for n in names}
        seen = {n: state["seen"][n] + (on[n] > 0).astype(jnp.int32) for n in names}
        ready = jnp.all(jnp.stack([seen[n] > 0 for n in names]))
        t = state["t"] + ready.astype(jnp.int32)
        dtype = state["weights"][names[0]].dtype
        corrected = {n: jax.tree.map(lambda m, n=n: m / (1 - b1 ** jnp.maximum(seen[n], 1).astype(m.dtype)),
                                     momenta[n]) for n in names}
        coef = config_coefficients(corrected, state["weights"])
        combined = weighted_sum(coef, corrected)
        tf = jnp.maximum(t, 1).astype(dtype)
        implied = jax.tree.map(lambda c: c * (1 - b1**tf), combined)
        pseudo = jax.tree.map(lambda f, f0: (f - b1 * f0) / (1 - b1), implied, state["implied"])
        second = jax.tree.map(lambda s, p: b2 * s + (1 - b2) * p**2, state["second"], pseudo)
        direction = jax.tree.map(lambda c, s: c / (jnp.sqrt(s / (1 - b2**tf)) + eps), combined, second)
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ready, a, b), new, old)  # noqa: E731
        direction = jax.tree.map(lambda d: jnp.where(ready, d, jnp.zeros_like(d)), direction)
        new_state = {"weights": state["weights"], "momenta": momenta, "seen": seen,
                     "second": keep(second, state["second"]), "implied": keep(implied, state["implied"]),
                     "t": t, "count": state["count"] + 1}
        aux = {f"weight/{n}": jnp.where(ready, coef[n], 0) for n in names}
        return jax.lax.stop_gradient(direction), new_state, aux

    return GradientCombiner(init, update, lambda state: state["weights"], per_term=False, grad_weights=active)


COMBINER_OPTIMIZERS["config_momentum"] = frozenset({"sgd"})
