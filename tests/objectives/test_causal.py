"""Causal weighting of the PINN residual (Wang, Sankaran & Perdikaris 2022): the formula by
hand in float64, and weights that rise, chunk after chunk, as earlier chunks' losses fall."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.objectives import PINN
from pdejax.pde import PDE, Box, Periodic


def advection() -> PDE:
    """u_t = -u_x on [0, 1) x [0, 2]: for u = f(x, t) the residual is f_t + f_x."""
    return PDE(name="advection_causal", fields=("u",), domain=Box(x=(0.0, 1.0), t=(0.0, 2.0)),
               linear={"u": {"u_x": -1.0}}, initial=lambda x, p: {"u": jnp.sin(2 * jnp.pi * x[0])},
               boundary=Periodic())


def test_residual_term_matches_a_hand_computation(x64):
    chunks, tol = 4, 0.7
    objective = PINN(advection(), causal_chunks=chunks, causal_tol=tol)
    rng = np.random.default_rng(0)
    points = np.stack([rng.uniform(0, 1, 64), rng.uniform(0, 2, 64)], axis=1)
    # u = t² x: residual u_t + u_x = 2 t x + t², growing with t.
    model = lambda p: (p[1] ** 2 * p[0])[None]  # noqa: E731
    losses, aux = objective.loss(model, {"interior": jnp.asarray(points)}, None)

    x, t = points[:, 0], points[:, 1]
    r2 = (2 * t * x + t**2) ** 2
    chunk = np.minimum((t / 2 * chunks).astype(int), chunks - 1)
    chunk_loss = np.array([r2[chunk == i].mean() for i in range(chunks)])
    weights = np.exp(-tol * np.concatenate([[0.0], np.cumsum(chunk_loss)[:-1]]))
    assert float(losses["residual"]) == pytest.approx(np.mean(weights * chunk_loss), rel=1e-12)
    assert float(aux["causal_min_weight"]) == pytest.approx(weights.min(), rel=1e-12)
    w, losses_by_chunk = objective.causal_weights(jnp.asarray(t), jnp.asarray(r2), (0.0, 2.0))
    np.testing.assert_allclose(np.asarray(w), weights, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(losses_by_chunk), chunk_loss, rtol=1e-12)
    assert float(w[0]) == 1.0  # the first chunk is never discounted


def test_weights_fall_front_to_back_and_rise_as_earlier_losses_fall(x64):
    objective = PINN(advection(), causal_chunks=5, causal_tol=2.0)
    t = jnp.linspace(0.0, 2.0, 100, endpoint=False)
    early_large = jnp.where(t < 0.8, 1.0, 0.5)  # the first chunks not yet fitted
    early_fitted = jnp.where(t < 0.8, 0.01, 0.5)  # after training has reduced them
    w_before, _ = objective.causal_weights(t, early_large, (0.0, 2.0))
    w_after, _ = objective.causal_weights(t, early_fitted, (0.0, 2.0))
    for w in (w_before, w_after):
        assert np.all(np.diff(np.asarray(w)) <= 0)  # later chunks wait for earlier ones
    assert np.all(np.asarray(w_after)[1:] > np.asarray(w_before)[1:])
    assert float(w_after[-1]) > 0.1 > float(w_before[-1])
    # No gradient flows through the weights: d(loss)/d(residual) is the weight (over the chunk count).
    grad = jax.grad(lambda r: jnp.mean(objective.causal_weights(t, r, (0.0, 2.0))[0]
                                       * objective.causal_weights(t, r, (0.0, 2.0))[1]))(early_large)
    np.testing.assert_allclose(np.asarray(grad[::20]), np.asarray(w_before) / 5 / 20, rtol=1e-12)


def test_causal_weights_use_the_model_time_window(x64):
    """A time-marching window gets its own chunks: the same points and residuals, chunked over
    [1, 2] instead of [0, 2], give other weights."""
    objective = PINN(advection(), causal_chunks=2, causal_tol=1.0)
    t = jnp.array([1.1, 1.3, 1.6, 1.9])
    r2 = jnp.array([1.0, 1.0, 3.0, 3.0])
    w_window, losses = objective.causal_weights(t, r2, (1.0, 2.0))
    np.testing.assert_allclose(np.asarray(losses), [1.0, 3.0])
    np.testing.assert_allclose(np.asarray(w_window), [1.0, np.exp(-1.0)])
    _, losses_whole = objective.causal_weights(t, r2, (0.0, 2.0))
    np.testing.assert_allclose(np.asarray(losses_whole), [0.0, 2.0])  # all in the second half
