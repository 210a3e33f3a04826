"""NTK weighting (Wang, Yu & Perdikaris 2022, "When and why PINNs fail to train").

The neural tangent kernel of the residual vector ``r`` (all points of all terms) is
``K = J Jᵀ`` with ``J = ∂r/∂θ``; its diagonal block of term ``k`` has the trace

    tr K_kk = Σ_{i in term k} |∂r_i/∂θ|²,

the sum over the term's points of each point's squared gradient norm (not the norm of
the term's summed gradient). :func:`ntk_trace` computes it exactly: each point's
Jacobian by one reverse pass per residual component, vmapped over the points
(``chunk`` points at a time when memory is short), then squared and summed. Every
point's gradient is materialised at once (``points × components × parameters``
numbers; ``chunk`` bounds it): cheaper than a Hutchinson estimate of the same accuracy
for PINN sizes, and exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array

from .combiners import COMBINERS, GradientCombiner, check_average, initial_weights


def ntk_trace(fn: Callable[[Any, Any], Array], params: Any, points: Any, *, chunk: int = 0) -> Array:
    """``Σ_i |∂ fn(params, points_i)/∂params|²``: the trace of the NTK block of these residuals.

    Args:
        fn: ``fn(params, point) -> residual vector`` (or scalar) at one point.
        params: a pytree of arrays.
        points: an array (or pytree of arrays) whose leading axis indexes the points.
        chunk: points per vmapped batch (``jax.lax.map``); 0 vmaps over all at once.

    >>> import jax.numpy as jnp
    >>> fn = lambda w, x: jnp.tanh(w * x)[None]
    >>> x = jnp.array([0.5, 1.0])
    >>> expected = jnp.sum((x * (1 - jnp.tanh(2.0 * x) ** 2)) ** 2)
    >>> bool(jnp.allclose(ntk_trace(fn, jnp.array(2.0), x), expected))
    True
    """

    def one(point):
        jac = jax.jacrev(fn)(params, point)
        return sum(jnp.sum(j**2) for j in jax.tree.leaves(jac))

    per_point = jax.lax.map(one, points, batch_size=chunk) if chunk else jax.vmap(one)(points)
    return jnp.sum(per_point)


@COMBINERS.register("ntk")
def ntk(weights: Mapping[str, float] | None = None, alpha: float = 0.9, update_every: int = 1000,
        chunk: int = 0) -> GradientCombiner:
    """NTK-trace balancing (Wang, Yu & Perdikaris 2022): λ_k ∝ Σ_j tr K_jj / tr K_kk every update_every steps.

    Every ``update_every`` steps (the first one included) the trace of each term's NTK
    block ``tr K_kk = Σ_{i in k} |∇_θ r_i|²`` is computed from the objective's
    per-point residuals (:func:`ntk_trace`; ``chunk`` points at a time, 0: all) and the
    weights follow ``target_k = Σ_j tr K_jj / tr K_kk`` by an exponential moving
    average ``λ_k ← alpha λ_k + (1 - alpha) target_k``. Other steps cost nothing extra:
    the direction is the gradient of ``Σ_k λ_k L_k``, one reverse pass, with the
    weights held when the step began (weights computed at step ``n`` apply from step
    ``n + 1``). Initial weights: ``objective.weights`` (default 1). Logged:
    ``weight/<term>`` and ``ntk_trace/<term>`` (the last computed trace).

    The objective must implement ``point_residuals`` (the PINN objective does);
    ``alpha = 0`` gives the paper's weights without averaging.
    """
    check_average(alpha, update_every)
    if chunk < 0:
        raise ValueError(f"chunk = {chunk} must be 0 (all points at once) or a positive point count")

    def init(params, names):
        w = initial_weights(weights, names)
        return {"weights": w, "traces": {n: jnp.zeros_like(v) for n, v in w.items()},
                "count": jnp.zeros((), jnp.int32)}

    def update(grads, losses, state, params, *, point_residuals):
        names = list(state["weights"])
        missing = [n for n in names if n not in point_residuals]
        if missing:
            raise ValueError(f"ntk weighting: point_residuals gives no residuals for the loss terms {missing}")

        def refresh(_):
            traces = {}
            for n in names:
                fn, points = point_residuals[n]
                traces[n] = ntk_trace(fn, params, points, chunk=chunk).astype(state["traces"][n].dtype)
            total = sum(traces.values())
            tiny = jnp.finfo(total.dtype).tiny
            new = {n: alpha * state["weights"][n] + (1 - alpha) * total / jnp.maximum(traces[n], tiny)
                   for n in names}
            return new, traces

        new, traces = jax.lax.cond(state["count"] % update_every == 0, refresh,
                                   lambda _: (state["weights"], state["traces"]), None)
        new, traces = jax.lax.stop_gradient((new, traces))
        aux = {f"weight/{n}": new[n] for n in names} | {f"ntk_trace/{n}": traces[n] for n in names}
        return grads, {"weights": new, "traces": traces, "count": state["count"] + 1}, aux

    return GradientCombiner(init, update, lambda state: state["weights"], per_term=False,
                            needs=frozenset({"point_residuals"}))
