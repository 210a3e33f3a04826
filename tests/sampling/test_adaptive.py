"""R3, causal R3 and RAR against their definitions, with a known score function;
their configs' checks; their state through a checkpoint round trip. (A whole run with
causal R3 points resumed bitwise: tests/training/test_soap.py.)"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.config.errors import ConfigError
from pdejax.models import MODELS
from pdejax.objectives import PINN, PINNField
from pdejax.pde import PDES
from pdejax.sampling import SAMPLERS, CausalR3, CollocationSource, uniform_in_box
from pdejax.training import Checkpointer

LOWER, UPPER = (-1.0, 0.0), (1.0, 2.0)  # (x, t), t in [0, 2]
N = 64


def score(points):
    """A residual with a sharp peak at x = 0.5, growing in time."""
    return (1 + points[:, 1]) * jnp.exp(-20 * (points[:, 0] - 0.5) ** 2)


def build(name, **args):
    return SAMPLERS.build(name, args, where="objective.sampler", lower=LOWER, upper=UPPER, n=N)


def bounds():
    return jnp.asarray(LOWER), jnp.asarray(UPPER)


def test_r3_retains_above_mean_and_redraws_the_rest():
    sampler = build("r3", every=2)
    state = sampler.init(jax.random.key(0), jnp.float32)
    key = jax.random.key(1)
    sample = jax.jit(lambda state, step, key=key: sampler.sample(state, key, step, score, jnp.float32))
    points, new = sample(state, 2)
    old = np.asarray(state.points)
    keep = np.asarray(score(state.points) > jnp.mean(score(state.points)))
    assert 0 < keep.sum() < N
    np.testing.assert_array_equal(np.asarray(points)[keep], old[keep])
    np.testing.assert_array_equal(np.asarray(points)[~keep], np.asarray(uniform_in_box(key, N, *bounds()))[~keep])
    np.testing.assert_array_equal(points, new.points)
    same, _ = sample(state, 3)  # between updates the population stays
    np.testing.assert_array_equal(same, old)
    # Repeated updates accumulate points at the residual's peak.
    for step in range(0, 40, 2):
        points, state = sample(state, step, jax.random.fold_in(key, step))
    assert np.mean(np.abs(np.asarray(points)[:, 0] - 0.5) < 0.25) > 0.5


def test_causal_r3_follows_the_paper():
    sampler = build("r3_causal", alpha=5.0, beta=0.2, beta_lr=0.1, tol=2.0, beta_clip=0.5)
    state = sampler.init(jax.random.key(0), jnp.float32)
    key = jax.random.key(1)
    points, new = sampler.sample(state, key, 0, score, jnp.float32)
    t = np.asarray(state.points[:, 1])
    gate = (1 - np.tanh(5.0 * (t / 2.0 - 0.2))) / 2
    np.testing.assert_allclose(sampler.gate(state.points[:, 1], state.beta), gate, rtol=1e-5, atol=1e-7)
    gated = np.asarray(score(state.points)) * gate
    keep = gated > gated.mean()
    np.testing.assert_array_equal(np.asarray(points)[keep], np.asarray(state.points)[keep])
    np.testing.assert_array_equal(np.asarray(points)[~keep], np.asarray(uniform_in_box(key, N, *bounds()))[~keep])
    shift = min(np.exp(-2.0 * np.mean(gated**2)), 0.5)
    np.testing.assert_allclose(new.beta, 0.2 + 0.1 * shift, rtol=1e-6)
    # The loss weights are the gate at the new points and the moved gate.
    np.testing.assert_allclose(sampler.point_weights(new), (1 - np.tanh(5.0 * (np.asarray(points[:, 1]) / 2
                                                                             - new.beta))) / 2, atol=1e-6)
    # Points beyond the gate are never retained, although the residual is largest there.
    assert np.all(t[keep] / 2 < 0.2 + 0.5)
    assert score(state.points)[~keep].max() > score(state.points)[keep].min()


def test_the_causal_gate_reaches_the_pinn_loss():
    pde = PDES.build("burgers", {}, where="pde")
    sampler = SAMPLERS.build("r3_causal", {"beta": 0.3}, where="objective.sampler",
                             lower=pde.domain.point_lower, upper=pde.domain.point_upper, n=N)
    source = CollocationSource(pde, sampler, score=lambda model, pts: score(pts))
    batch, state = source.draw(None, source.init(jax.random.key(0), jnp.float32), jax.random.key(1), 0)
    np.testing.assert_array_equal(batch["interior_weight"], sampler.point_weights(state))
    # The PINN's residual term is mean((g r)²), g the gate.
    net = MODELS.build("mlp", {"width": 4, "depth": 1}, where="model", in_size=2, out_size=1, key=jax.random.key(2))
    model, objective = PINNField(net, pde, "hard"), PINN(pde)

    @eqx.filter_jit
    def both(model, batch):
        return objective.loss(model, batch, None)[0]["residual"], objective.residual_norm(model, batch["interior"])

    loss, r = both(model, batch)
    np.testing.assert_allclose(loss, jnp.mean((batch["interior_weight"] * r) ** 2), rtol=1e-5)


def test_r3_causal_refuses_a_stationary_pde():
    pde = PDES.build("poisson", {}, where="pde")
    sampler = SAMPLERS.build("r3_causal", {}, where="objective.sampler", lower=pde.domain.point_lower,
                             upper=pde.domain.point_upper, n=N)
    assert isinstance(sampler, CausalR3)
    with pytest.raises(ConfigError, match="objective.sampler.name.*stationary"):
        CollocationSource(pde, sampler)


def test_rar_adds_the_top_candidates_up_to_its_capacity():
    sampler = build("rar", every=5, k=8, m=256, start=N, capacity=N + 12)
    state = sampler.init(jax.random.key(0), jnp.float32)
    assert int(state.count) == N and state.points.shape == (N + 12, 2)
    key = jax.random.key(1)
    sample = jax.jit(lambda state, step: sampler.sample(state, key, step, score, jnp.float32))
    batch, same = sample(state, 0)  # no refinement at step 0: the batch is the start set
    assert int(same.count) == N
    np.testing.assert_array_equal(np.sort(np.asarray(batch), axis=0), np.sort(np.asarray(state.points[:N]), axis=0))
    batch, grown = sample(state, 5)
    assert int(grown.count) == N + 8
    candidates = uniform_in_box(jax.random.split(key)[0], 256, *bounds())
    best = np.argsort(-np.asarray(score(candidates)))[:8]
    np.testing.assert_array_equal(grown.points[N:N + 8], np.asarray(candidates)[best])
    np.testing.assert_array_equal(grown.points[:N], state.points[:N])
    # The batch: n distinct points of the set, never a slot not yet filled.
    rows = {tuple(p) for p in np.asarray(batch)}
    assert len(rows) == N and rows <= {tuple(p) for p in np.asarray(grown.points[:N + 8])}
    _, full = sample(grown, 10)
    assert int(full.count) == N + 12  # only 4 of the next 8 fit
    np.testing.assert_array_equal(sample(full, 15)[1].points, full.points)


@pytest.mark.parametrize(("name", "args", "key"), [
    ("r3", {"every": 0}, "every"),
    ("r3_causal", {"alpha": 0.0}, "alpha"),
    ("r3_causal", {"tol": -1.0}, "tol"),
    ("rar", {"start": N - 1}, "start"),
    ("rar", {"start": 2 * N, "capacity": N}, "capacity"),
    ("rar", {"k": 10, "m": 5}, "m"),
    ("rar", {"k": 0}, "k"),
])
def test_bad_arguments_are_config_errors(name, args, key):
    with pytest.raises(ConfigError, match=f"objective.sampler.{key} "):
        build(name, **args)


@pytest.mark.parametrize("name", ["r3_causal", "rar"])  # the stateful ones (R3's state is causal R3's points)
def test_state_through_a_checkpoint_continues_exactly(name, tmp_path):
    sampler = build(name, **({"every": 2, "k": 4, "m": 64} if name == "rar" else {}))
    sample = jax.jit(lambda state, step: sampler.sample(state, jax.random.fold_in(jax.random.key(7), step), step,
                                                        score, jnp.float32))

    def run(state, steps):
        out = []
        for step in steps:
            points, state = sample(state, step)
            out.append(np.asarray(points))
        return state, out

    state, first = run(sampler.init(jax.random.key(0), jnp.float32), range(3))
    _, straight = run(state, range(3, 6))
    checkpoints = Checkpointer(tmp_path / "ck")
    checkpoints.save(3, {"batch_state": state}, {})
    restored, _ = checkpoints.restore({"batch_state": state})
    checkpoints.close()
    _, resumed = run(restored["batch_state"], range(3, 6))
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], straight[-1])
