"""Physics-informed initialisation: the network's last layer fitted to the initial condition."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from ...objectives import PINNField

MIN_POINTS = 1024
SEED_OFFSET = 0x15C  # the fit's points: independent of the model's and the batches' keys


def fit_initial_condition(model: PINNField, n_points: int, seed: int) -> PINNField:
    """``model`` with its network's last layer fitted to the initial condition by least squares.

    Applies when the network has ``least_squares_init(features, targets)`` (and does not
    turn it off with ``fit_initial_condition = False``, config key
    ``model.least_squares_init``), the PDE evolves in time and the constraints are soft
    (hard constraints build the initial condition in already). Otherwise ``model`` is
    returned unchanged.

    The points are ``max(n_points, 1024)`` uniform spatial points, drawn from ``seed``, each
    at a uniform random time of the domain's interval (the network's
    ``fit_initial_condition = "all_times"``, the default: the initial values held in time,
    jaxpi's ``pi_init_type = "initial_condition"``) or at ``t0`` (``"initial_time"``); they
    pass through :meth:`PINNField.features`, so the network sees them exactly as in
    training. Fields without an initial condition (constraints) keep their current values
    as targets.
    """
    net, pde = model.net, model.pde
    fit = getattr(net, "least_squares_init", None)
    mode = getattr(net, "fit_initial_condition", True)
    if not callable(fit) or not mode or not pde.evolution or model.constraint != "soft":
        return model
    return _fit(model, jax.random.PRNGKey(seed), max(n_points, MIN_POINTS), mode in (True, "all_times"))


@eqx.filter_jit  # one compilation instead of one per operation
def _fit(model: PINNField, key, n: int, all_times: bool):
    net, pde = model.net, model.pde
    dtype = next(x.dtype for x in jax.tree.leaves(eqx.filter(net, eqx.is_inexact_array)))
    dim = pde.domain.dim
    lower, upper = (jnp.asarray(bound[:dim], dtype) for bound in (pde.domain.point_lower, pde.domain.point_upper))
    x = jax.random.uniform(jax.random.fold_in(key, SEED_OFFSET), (n, dim), dtype, lower, upper)
    t0, t1 = pde.domain.time
    t = (jax.random.uniform(jax.random.fold_in(key, SEED_OFFSET + 1), (n, 1), dtype, t0, t1) if all_times
         else jnp.full((n, 1), t0, dtype))
    points = jnp.concatenate([x, t], axis=1)
    features = jax.vmap(model.features)(points)
    evolving = jnp.asarray([k in pde.evolving for k in pde.fields])
    # the objective's initial target (with trainable PDE parameters: their current values)
    targets = jnp.where(evolving, jax.vmap(model.initial_values)(x), jax.vmap(net)(features))
    return eqx.tree_at(lambda m: m.net, model, net.least_squares_init(features, targets))
