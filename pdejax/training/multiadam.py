"""MultiAdam (Yao et al., ICML 2023): one Adam per loss term, directions averaged.

"MultiAdam: Parameter-wise Scale-invariant Optimizer for Multiscale Training of
Physics-informed Neural Networks". Each term ``k`` keeps its own Adam moments of its own
gradient, so each term's direction is invariant to the term's scale; the update is
their (weighted) mean:

    m_k ← b1 m_k + (1 - b1) g_k,   v_k ← b2 v_k + (1 - b2) g_k²
    d_k = m̂_k / (sqrt(v̂_k) + eps)          (bias-corrected, as optax.adam)
    direction = (1/M) Σ_k w_k d_k

with ``M`` terms and ``w_k`` = ``objective.weights`` (default 1: the plain mean, the
paper's equal group weights). The paper's defaults are ``b1 = b2 = 0.99``. The moments
live in the combiner state, so the optimizer must not estimate moments again: compose
with ``optimizer.name: sgd`` (no momentum), whose learning rate (and schedule) scales
the step.
"""

from __future__ import annotations

from collections.abc import Mapping

import optax

from ..config.schema import COMBINER_OPTIMIZERS
from .combiners import COMBINERS, GradientCombiner, initial_weights, weighted_sum


@COMBINERS.register("multiadam")
def multiadam(weights: Mapping[str, float] | None = None, b1: float = 0.99, b2: float = 0.99,
              eps: float = 1e-8) -> GradientCombiner:
    """MultiAdam (Yao et al. 2023): the mean of per-term Adam directions; optimizer.name must be sgd.

    See :mod:`pdejax.training.multiadam` for the formulas. Logged: ``weight/<term>``,
    the factor ``w_k / M`` of the term's Adam direction.
    """
    for name, beta in (("b1", b1), ("b2", b2)):
        if not 0 <= beta < 1:
            raise ValueError(f"{name} = {beta} must be in [0, 1)")
    if not eps > 0:
        raise ValueError(f"eps = {eps} must be positive")
    adam = optax.scale_by_adam(b1=b1, b2=b2, eps=eps)

    def init(params, names):
        return {"weights": initial_weights(weights, names), "adam": {n: adam.init(params) for n in names}}

    def update(grads, losses, state, params):
        names = list(state["weights"])
        directions, moments = {}, {}
        for n in names:
            directions[n], moments[n] = adam.update(grads[n], state["adam"][n], params)
        factors = {n: state["weights"][n] / len(names) for n in names}
        aux = {f"weight/{n}": factors[n] for n in names}
        return weighted_sum(factors, directions), {"weights": state["weights"], "adam": moments}, aux

    return GradientCombiner(init, update, lambda state: state["weights"], per_term=True)


COMBINER_OPTIMIZERS["multiadam"] = frozenset({"sgd"})
