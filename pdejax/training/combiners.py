"""Gradient combiners: how the loss terms' gradients become one update direction.

A combiner is an optax-style pair of pure functions with explicit state
(:class:`GradientCombiner`). The training step evaluates the objective's named loss
terms and

- when the combiner has ``per_term = False`` (the default, :func:`fixed`), differentiates
  the weighted sum ``Σ g_k L_k`` once (``g = grad_weights(state)``, by default the
  logged weights) and passes that gradient to ``update``;
- when ``per_term = True``, takes the gradient of every term separately (each term
  differentiated on its own, so a step costs about what the summed loss does; see
  ``make_step(term_grads=...)``) and passes the dict
  ``{term: gradient}``, so the combiner can weight, project or balance them.

The logged ``loss`` is always ``Σ w_k L_k`` with ``w = weights(state)``. Add your own
with ``COMBINERS.register``; ``optimizer.combine: {name: ..., <its arguments>}`` picks one.

Registered combiners (``pdejax list``):

=================  ==========================================================  =========
name               direction                                                   optimizer
=================  ==========================================================  =========
``fixed``          ``∇ Σ w_k L_k``, ``w`` = ``objective.weights``              any
``grad_norm``      ``Σ λ_k ∇L_k``, ``λ_k ∝ Σ_j |∇L_j|₂ / |∇L_k|₂`` (jaxpi)     any
``lr_annealing``   ``Σ λ_k ∇L_k``, ``λ̂_k = max|∇L_r| / mean|∇L_k|`` (2021)      any
``ntk``            ``∇ Σ λ_k L_k``, ``λ_k ∝ Σ_j tr K_jj / tr K_kk`` (2022)      any
``config``         ConFIG: equal cosine with every term (Liu et al. 2024)      any
``config_momentum`` M-ConFIG: ConFIG of per-term momenta, own 2nd moment        ``sgd``
``multiadam``      mean of per-term Adam directions (Yao et al. 2023)          ``sgd``
=================  ==========================================================  =========

``multiadam`` and ``config_momentum`` keep their own first and second moments: their
direction is already an Adam-like step, so they compose only with ``optimizer.name:
sgd`` without momentum (the learning rate and its schedule scale the step; clipping
applies). Configs asking for another optimizer are refused when validated
(:data:`pdejax.config.schema.COMBINER_OPTIMIZERS` holds that rule).

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

from ..config.errors import ConfigError
from ..config.registry import Registry

Grads = Any  # a pytree like the model's arrays


class GradientCombiner(NamedTuple):
    """``(init, update, weights)`` plus what ``update`` needs from the step.

    Attributes:
        init: ``init(params, names) -> state`` with ``names`` the loss terms in order.
        update: ``update(grads, losses, state, params, **extra) -> (direction, state, aux)``;
            ``grads`` is ``{term: gradient}`` when ``per_term`` else the gradient of the
            ``grad_weights``-weighted sum; ``aux`` holds scalars to log (``weight/<term>``);
            ``extra`` holds what ``needs`` names.
        weights: ``weights(state) -> {term: weight}``, the weights of the logged total
            (and of the loss handed to optimizers that take ``value_fn``, and to L-BFGS).
        per_term: whether ``update`` needs each term's gradient.
        grad_weights: without ``per_term``, ``grad_weights(state) -> {term: weight}``:
            the weights of the one differentiated sum (default: ``weights``). A one-hot
            weight takes one term's gradient in one reverse pass (M-ConFIG).
        needs: extra inputs of ``update``: ``"point_residuals"`` passes
            ``point_residuals={term: (fn(params, point), points)}`` (each term's residual
            at single points, :meth:`pdejax.objectives.AbstractObjective.point_residuals`),
            for combiners that take per-point gradients (NTK).
    """

    init: Callable[[Any, tuple[str, ...]], Any]
    update: Callable[..., tuple[Grads, Any, dict[str, Array]]]
    weights: Callable[[Any], dict[str, Array]]
    per_term: bool = False
    grad_weights: Callable[[Any], dict[str, Array]] | None = None
    needs: frozenset[str] = frozenset()


COMBINERS = Registry("gradient combiner", provided={"weights"})


def initial_weights(weights: Mapping[str, float] | None, names: tuple[str, ...]) -> dict[str, Array]:
    """``objective.weights`` (default 1 per term) as arrays of the default float dtype."""
    base = dict(weights or {})
    dtype = jnp.zeros(()).dtype
    return {n: jnp.asarray(base.get(n, 1.0), dtype) for n in names}


def check_average(alpha: float, update_every: int) -> None:
    """The moving-average arguments shared by the balancing combiners."""
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha = {alpha} must be in [0, 1)")
    if update_every < 1:
        raise ValueError(f"update_every = {update_every} must be a positive step count")


def weighted_sum(weights: Mapping[str, Array], grads: Mapping[str, Grads]) -> Grads:
    """``Σ_k weights[k] · grads[k]``, leaf by leaf."""
    names = list(weights)
    return jax.tree.map(lambda *gs: sum(weights[n] * g for n, g in zip(names, gs)), *(grads[n] for n in names))


@COMBINERS.register("fixed")
def fixed(weights: Mapping[str, float] | None = None) -> GradientCombiner:
    """Fixed weights (objective.weights, default 1 per term): one gradient of the weighted sum."""

    def init(params, names):
        return initial_weights(weights, names)

    def update(grads, losses, state, params):
        return grads, state, {}

    return GradientCombiner(init, update, lambda state: state, per_term=False)


@COMBINERS.register("grad_norm")
def grad_norm(weights: Mapping[str, float] | None = None, alpha: float = 0.9,
              update_every: int = 1) -> GradientCombiner:
    """Weights balancing the terms' gradient L2 norms (jaxpi's grad-norm weighting), moving average alpha.

    Every ``update_every`` steps the target weight of term ``k`` is
    ``Σ_j |∇L_j|₂ / |∇L_k|₂`` (every weighted term then has the same gradient norm; the
    number of terms times jaxpi's ``mean_j |∇L_j|₂ / |∇L_k|₂``, Wang et al. 2023, "An
    expert's guide to training PINNs") and the weights follow it by an exponential
    moving average: ``λ_k ← alpha λ_k + (1 - alpha) target_k``. The direction is
    ``Σ_k λ_k ∇L_k`` with this step's weights. Initial weights: ``objective.weights``
    (default 1). For the max/mean rule of Wang, Teng & Perdikaris (2021) see
    :func:`lr_annealing`.
    """
    check_average(alpha, update_every)

    def init(params, names):
        return {"weights": initial_weights(weights, names), "count": jnp.zeros((), jnp.int32)}

    def update(grads, losses, state, params):
        names = list(state["weights"])
        norms = {n: optax.tree.norm(grads[n]) for n in names}
        total = sum(norms.values())
        target = {n: total / jnp.maximum(norms[n], jnp.finfo(total.dtype).tiny) for n in names}
        refresh = state["count"] % update_every == 0
        new = {n: jnp.where(refresh, alpha * state["weights"][n] + (1 - alpha) * target[n], state["weights"][n])
               for n in names}
        new = jax.lax.stop_gradient(new)
        aux = {f"weight/{n}": new[n] for n in names} | {f"grad_norm/{n}": norms[n] for n in names}
        return weighted_sum(new, grads), {"weights": new, "count": state["count"] + 1}, aux

    return GradientCombiner(init, update, lambda state: state["weights"], per_term=True)


def abs_max(tree: Grads) -> Array:
    """``max_θ |g_θ|`` over every entry of every leaf."""
    return jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in jax.tree.leaves(tree)]))


def abs_mean(tree: Grads) -> Array:
    """``mean_θ |g_θ|`` over every entry of every leaf (all parameters count equally)."""
    leaves = jax.tree.leaves(tree)
    return sum(jnp.sum(jnp.abs(x)) for x in leaves) / sum(x.size for x in leaves)


@COMBINERS.register("lr_annealing")
def lr_annealing(weights: Mapping[str, float] | None = None, alpha: float = 0.9, update_every: int = 1,
                 reference: str = "residual") -> GradientCombiner:
    """Learning-rate annealing (Wang, Teng & Perdikaris 2021): max|∇L_r| / mean|∇L_k|, moving average alpha.

    Every ``update_every`` steps each term ``k`` other than ``reference`` (the PDE
    residual, whose weight stays at its initial value ``λ_r``) gets the target

        λ̂_k = λ_r · max_θ |∂L_r/∂θ| / mean_θ |∂L_k/∂θ|

    (maximum and mean over every entry of every parameter array), so that the mean
    gradient magnitude of the weighted term matches the largest one of the residual's,
    and ``λ_k ← alpha λ_k + (1 - alpha) λ̂_k`` (the authors' code: ``alpha = 0.9``). The
    direction is ``Σ_k λ_k ∇L_k`` with this step's weights; ``weight/<term>`` is logged.

    As the paper's Algorithm 1 writes it, the denominator is the unweighted term's
    gradient; the authors' TensorFlow code differentiates the already weighted term
    (``mean|λ_k ∇L_k|``) and takes the weight matrices only (biases left out).
    """
    check_average(alpha, update_every)

    def init(params, names):
        if reference not in names:
            raise ConfigError("optimizer.combine.reference", reference,
                              f"a loss term of this objective: {', '.join(names)}")
        return {"weights": initial_weights(weights, names), "count": jnp.zeros((), jnp.int32)}

    def update(grads, losses, state, params):
        old = state["weights"]
        top = old[reference] * abs_max(grads[reference])
        means = {n: abs_mean(grads[n]) for n in old}
        refresh = state["count"] % update_every == 0
        new = {}
        for n in old:
            target = top / jnp.maximum(means[n], jnp.finfo(top.dtype).tiny)
            moved = alpha * old[n] + (1 - alpha) * target
            new[n] = old[n] if n == reference else jnp.where(refresh, moved, old[n])
        new = jax.lax.stop_gradient(new)
        aux = {f"weight/{n}": new[n] for n in old} | {f"grad_mean/{n}": means[n] for n in old}
        return weighted_sum(new, grads), {"weights": new, "count": state["count"] + 1}, aux

    return GradientCombiner(init, update, lambda state: state["weights"], per_term=True)
