"""Every optimizer `pdejax list` shows trains through make_step (MoMo gets the loss, Sophia its objective)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.objectives import AbstractObjective
from pdejax.training import OPTIMIZERS, FixedBatch, build_optimizer, make_step

PARAMETER_FREE = ("prodigy", "dadapt", "dog", "dowg", "cocob")  # learning_rate is a multiplier: 1 is their default


class Regression(AbstractObjective):
    loss_names = ("data",)

    def loss(self, model, batch, key):
        pred = jnp.tanh(batch["x"] @ model["w"]) @ model["v"]
        return {"data": jnp.mean((pred - batch["y"]) ** 2)}, {}


X = jax.random.normal(jax.random.PRNGKey(0), (32, 3))
SOURCE = FixedBatch({"x": X, "y": jnp.sin(X.sum(axis=1, keepdims=True))})
MODEL = {"w": 0.5 * jax.random.normal(jax.random.PRNGKey(1), (3, 8)),
         "v": 0.5 * jax.random.normal(jax.random.PRNGKey(2), (8, 1))}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_listed_optimizer_trains(name):
    lr = 1.0 if any(p in name for p in PARAMETER_FREE) else 1e-2
    optimizer, _ = build_optimizer(name, lr)
    step = make_step(Regression(), optimizer, source=SOURCE)
    _, logs = step(step.init(MODEL, jax.random.PRNGKey(0)), n=20)
    loss = np.asarray(logs["loss"])
    assert np.all(np.isfinite(loss)), loss
    assert loss[-1] < loss[0], f"{name}: {loss[0]:.4f} -> {loss[-1]:.4f}"


def test_the_listed_set_includes_the_founding_papers_optimizers():
    assert {"contrib.momo", "contrib.momo_adam", "contrib.schedule_free_adamw", "contrib.schedule_free_sgd",
            "contrib.sophia"} <= set(OPTIMIZERS)
