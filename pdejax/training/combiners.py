"""Gradient combiners: how the loss terms' gradients become one update direction.

A combiner is an optax-style pair of pure functions with explicit state
(:class:`GradientCombiner`). The training step evaluates the objective's named loss
terms and

- when the combiner has ``per_term = False`` (the default, :func:`fixed`), differentiates
  the weighted sum ``Σ w_k L_k`` once and passes that gradient to ``update``;
- when ``per_term = True``, takes the gradient of every term separately (one reverse
  pass per term over a shared forward pass) and passes the dict
  ``{term: gradient}``, so the combiner can weight, project or balance them.

The logged ``loss`` is always ``Σ w_k L_k`` with ``w = weights(state)``. Add your own
with ``COMBINERS.register``; ``optimizer.combine: {name: ..., <its arguments>}`` picks one.

>>> import jax.numpy as jnp
>>> comb = grad_norm(alpha=0.5)
>>> state = comb.init(None, ("residual", "initial"))
>>> grads = {"residual": jnp.array([3.0, 4.0]), "initial": jnp.array([0.5, 0.0])}
>>> direction, state, aux = comb.update(grads, {}, state, None)
>>> print(f"{float(aux['weight/initial']):.2f}")
6.00
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from ..config.registry import Registry

Grads = Any  # a pytree like the model's arrays


class GradientCombiner(NamedTuple):
    """``(init, update, weights)`` plus whether ``update`` needs per-term gradients.

    Attributes:
        init: ``init(params, names) -> state`` with ``names`` the loss terms in order.
        update: ``update(grads, losses, state, params) -> (direction, state, aux)``;
            ``grads`` is ``{term: gradient}`` when ``per_term`` else the gradient of the
            weighted sum; ``aux`` holds scalars to log (e.g. ``weight/<term>``).
        weights: ``weights(state) -> {term: weight}``, the weights of the logged total
            (and of the loss handed to optimizers that take ``value_fn``).
        per_term: whether ``update`` needs each term's gradient.
    """

    init: Callable[[Any, tuple[str, ...]], Any]
    update: Callable[[Grads, Mapping[str, Array], Any, Any], tuple[Grads, Any, dict[str, Array]]]
    weights: Callable[[Any], dict[str, Array]]
    per_term: bool = False


COMBINERS = Registry("gradient combiner", provided={"weights"})


@COMBINERS.register("fixed")
def fixed(weights: Mapping[str, float] | None = None) -> GradientCombiner:
    """Fixed weights (objective.weights, default 1 per term): one gradient of the weighted sum."""
    base = dict(weights or {})

    def init(params, names):
        return {n: jnp.asarray(base.get(n, 1.0), jnp.zeros(()).dtype) for n in names}

    def update(grads, losses, state, params):
        return grads, state, {}

    return GradientCombiner(init, update, lambda state: state, per_term=False)


@COMBINERS.register("grad_norm")
def grad_norm(weights: Mapping[str, float] | None = None, alpha: float = 0.9,
              update_every: int = 1) -> GradientCombiner:
    """Weights balancing the terms' gradient norms (Wang, Teng & Perdikaris 2021), moving average alpha.

    Every ``update_every`` steps the target weight of term ``k`` is
    ``Σ_j |∇L_j| / |∇L_k|`` (every term then contributes a gradient of the same norm)
    and the weights follow it by an exponential moving average:
    ``λ_k ← alpha λ_k + (1 - alpha) target_k``. The direction is ``Σ_k λ_k ∇L_k``.
    Initial weights: ``objective.weights`` (default 1).
    """
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha = {alpha} must be in [0, 1)")
    if update_every < 1:
        raise ValueError(f"update_every = {update_every} must be a positive step count")
    base = dict(weights or {})

    def init(params, names):
        dtype = jnp.zeros(()).dtype
        return {"weights": {n: jnp.asarray(base.get(n, 1.0), dtype) for n in names},
                "count": jnp.zeros((), jnp.int32)}

    def update(grads, losses, state, params):
        names = list(state["weights"])
        norms = {n: optax.tree.norm(grads[n]) for n in names}
        total = sum(norms.values())
        target = {n: total / jnp.maximum(norms[n], jnp.finfo(total.dtype).tiny) for n in names}
        refresh = state["count"] % update_every == 0
        new = {n: jnp.where(refresh, alpha * state["weights"][n] + (1 - alpha) * target[n], state["weights"][n])
               for n in names}
        new = jax.lax.stop_gradient(new)
        direction = jax.tree.map(lambda *gs: sum(new[n] * g for n, g in zip(names, gs)),
                                 *(grads[n] for n in names))
        aux = {f"weight/{n}": new[n] for n in names} | {f"grad_norm/{n}": norms[n] for n in names}
        return direction, {"weights": new, "count": state["count"] + 1}, aux

    return GradientCombiner(init, update, lambda state: state["weights"], per_term=True)

