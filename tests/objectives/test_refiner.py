"""PDE-Refiner: the noise schedule, its loss, the refinement loop, the correlation time, configs, a run."""

from __future__ import annotations

import math

import equinox as eqx
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdejax
from pdejax.config import ConfigError
from pdejax.data import generate
from pdejax.metrics import high_correlation_time, pearson_correlation
from pdejax.objectives.operator import (
    AutoregressiveObjective,
    Normalizer,
    RefinedOperator,
    Refinement,
    RefinerNet,
    noise_levels,
    rollout,
    step_channels,
)

KS = {"name": "ks_tiny", "seed": 0, "n_samples": 24, "chunk_size": 24, "dtype": "float32",
      "generator": {"name": "kuramoto_sivashinsky", "n_points": 32, "length": 22.0, "t_final": 6.0,
                    "dt": 0.05, "frame_dt": 0.5, "precision": "float64"}}


@pytest.fixture(scope="module")
def ks_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("refiner") / "ks.h5"
    with jax.enable_x64(True):  # the solver runs in float64, as `pdejax data generate` does
        generate(KS, path, progress=False)
    return path


def refiner_config(path, **objective) -> dict:
    return {
        "name": "refiner", "seed": 0,
        "data": {"path": str(path), "trajectory": "tensor", "n_train": 16, "n_test": 8, "batch_size": 8,
                 "normalize": "both"},
        "model": {"name": "fno", "modes": [8], "width": 8, "n_layers": 2, "projection": 16},
        "objective": {"name": "autoregressive", "history": 1, "loss": "mse", "refiner": {"steps": 2, "min_noise": 1e-3},
                      **objective},
        "optimizer": {"name": "adam", "learning_rate": 3e-3},
        "train": {"steps": 10, "steps_per_call": 10, "log_every": 10, "eval_every": 10, "checkpoint_every": 10,
                  "progress": False, "plots": False},
        "parallel": {"data": 1},
    }


class Pointwise(eqx.Module):
    """A small one-sample network: a pointwise two-layer map over channels."""

    w1: jax.Array
    w2: jax.Array

    def __init__(self, c_in, c_out, key):
        k1, k2 = jax.random.split(key)
        self.w1 = jax.random.normal(k1, (8, c_in), jnp.float64) / c_in**0.5
        self.w2 = jax.random.normal(k2, (c_out, 8), jnp.float64) / 8**0.5

    def __call__(self, x):
        return jnp.einsum("oh,h...->o...", self.w2, jnp.tanh(jnp.einsum("hc,c...->h...", self.w1, x)))


class Oracle(eqx.Module):
    """A network that knows the true next frame ``u = a · (last frame)``: at ``k = 0`` it
    predicts ``u + offset`` (a wrong one-step prediction), at ``k > 0`` the exact noise
    ``(estimate − u) / σ_k`` of its estimate: a perfect noise predictor."""

    a: float
    offset: float
    levels: np.ndarray
    history: int
    fields: int

    def __call__(self, x):
        window, rest = x[:self.history * self.fields], x[self.history * self.fields:]
        estimate, onehot = rest[:self.fields], rest[self.fields:]
        k = jnp.argmax(onehot[(slice(None),) + (0,) * (x.ndim - 1)])
        u = self.a * window[-self.fields:]
        sigma = jnp.asarray(self.levels)[k]
        return jnp.where(k == 0, u + self.offset, (estimate - u) / sigma)


def test_noise_schedule_is_exponential_from_one_to_min_noise(x64):
    for steps, floor in [(1, 0.5), (3, 2e-7), (8, 1e-4)]:
        levels = noise_levels(steps, floor)
        np.testing.assert_allclose(levels, [floor ** (k / steps) for k in range(steps + 1)], rtol=1e-14)
        assert levels[0] == 1.0 and levels[-1] == pytest.approx(floor, rel=1e-14)
        np.testing.assert_allclose(levels[1:] / levels[:-1], floor ** (1 / steps), rtol=1e-12)  # constant ratio
    np.testing.assert_allclose(Refinement(3, 2e-7).levels(jnp.float64), noise_levels(3, 2e-7), rtol=1e-15)
    for steps, floor in [(0, 1e-3), (2, 0.0), (2, 1.0)]:
        with pytest.raises(ValueError):
            Refinement(steps, floor)


def test_step_zero_loss_is_the_plain_one_step_mse(x64):
    """With every sample at k = 0 the refiner's loss is the plain objective's MSE (physical
    units, through the same normaliser) of the network fed a zero estimate."""
    history, fields, grid, batch = 2, 2, 16, 5
    rng = np.random.default_rng(0)
    frames = jnp.asarray(rng.normal(size=(batch, history + 1, fields, grid)) * 3.0 + 1.0)
    norm = Normalizer(jnp.asarray([[0.5], [-1.0]]), jnp.asarray([[2.0], [0.5]]))
    refinement = Refinement(3, 1e-4)
    net = RefinerNet(Pointwise(history * fields + fields + step_channels(3), fields, jax.random.PRNGKey(0)),
                     fields, 3)
    refined = AutoregressiveObjective(norm, history, 1, loss_kind="mse", refiner=refinement)
    window = norm.repeat(history).encode(frames[:, :history].reshape(batch, -1, grid))
    k = jnp.zeros(batch, int)
    noise = jnp.asarray(rng.normal(size=(batch, fields, grid)))
    per_sample = eqx.filter_jit(refinement.sample_losses)(net, window, frames[:, history], norm, k, noise)

    first_step = lambda w: net(w, jnp.zeros((fields, grid)), 0)  # noqa: E731  (a plain one-step model)
    plain = AutoregressiveObjective(norm, history, 1, loss_kind="mse")
    expected = jax.jit(lambda f: plain.loss(first_step, {"frames": f}, None)[0]["data"])(frames)
    np.testing.assert_allclose(jnp.mean(per_sample), expected, rtol=1e-12)
    # a drawn mix of steps gives a finite, differentiable loss
    value, grads = eqx.filter_jit(eqx.filter_value_and_grad(
        lambda m: refined.loss(m, {"frames": frames}, jax.random.PRNGKey(1))[0]["data"]))(net)
    assert np.isfinite(float(value)) and all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))


def test_perfect_noise_predictor_recovers_the_target(x64):
    """Refinement with an exact noise predictor returns the true frame whatever the
    one-step error, for every noise draw; its training loss is zero at every k > 0."""
    history, fields, grid, steps = 2, 1, 24, 3
    refinement = Refinement(steps, 1e-6)
    oracle = Oracle(0.9, 0.3, noise_levels(steps, 1e-6), history, fields)
    net = RefinerNet(oracle, fields, steps)
    rng = np.random.default_rng(1)
    window = jnp.asarray(rng.normal(size=(4, history * fields, grid)))
    truth = 0.9 * window[:, -fields:]
    predict = eqx.filter_jit(refinement.predict)
    for seed in range(3):
        refined = predict(net, window, jax.random.PRNGKey(seed))
        np.testing.assert_allclose(refined, truth, atol=1e-13)
    one_step = eqx.filter_jit(net.batch)(window, jnp.zeros_like(truth), 0)
    np.testing.assert_allclose(one_step - truth, 0.3, rtol=1e-12)  # what refinement corrected

    norm = Normalizer.identity(fields, 1, jnp.float64)
    k = jnp.asarray([0, 1, 2, 3])
    noise = jnp.asarray(rng.normal(size=truth.shape))
    losses = eqx.filter_jit(refinement.sample_losses)(net, window, truth, norm, k, noise)
    np.testing.assert_allclose(losses, [0.09, 0.0, 0.0, 0.0], atol=1e-12)

    # in physical units, through normalisers (the oracle is exact in normalised units)
    stats = Normalizer(jnp.asarray([[2.0]]), jnp.asarray([[0.5]]))
    physical = RefinedOperator(net, refinement, stats.repeat(history), stats)
    x = stats.repeat(history).decode(window)
    np.testing.assert_allclose(eqx.filter_jit(physical)(x[0]), stats.decode(truth)[0], atol=1e-12)


def test_refined_rollout_feeds_refined_frames_back(x64):
    history, fields, grid = 1, 1, 8
    net = RefinerNet(Oracle(0.5, 0.1, noise_levels(2, 1e-3), history, fields), fields, 2)
    op = RefinedOperator(net, Refinement(2, 1e-3), Normalizer.identity(history * fields, 1, jnp.float64),
                         Normalizer.identity(fields, 1, jnp.float64))
    start = jnp.ones((3, history, fields, grid))
    out = eqx.filter_jit(rollout)(op, start, 4, key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(out[:, :, 0, 0], np.broadcast_to(0.5 ** np.arange(1, 5), (3, 4)), rtol=1e-12)


def _rotating(omegas, n_frames, grid=64, channels=1):
    """Frames whose Pearson correlation with the reference is exactly ``cos(ω i)``, i = 1..T:
    ``cos(ω i) sin x + sin(ω i) cos x`` against ``sin x`` (orthogonal, zero mean, equal norm)."""
    x = np.linspace(0.0, 2 * np.pi, grid, endpoint=False)
    angle = np.asarray(omegas)[:, None] * np.arange(1, n_frames + 1)[None, :]  # (batch, T)
    pred = np.cos(angle)[..., None] * np.sin(x) + np.sin(angle)[..., None] * np.cos(x)
    true = np.broadcast_to(np.sin(x), pred.shape)
    return (np.repeat(pred[:, :, None], channels, axis=2), np.repeat(true[:, :, None], channels, axis=2))


def test_high_correlation_time_has_the_closed_form_crossing(x64):
    omegas, n_frames, dt = np.asarray([0.05, 0.13, 0.3, 0.7]), 40, 0.25
    pred, true = _rotating(omegas, n_frames, channels=2)
    corr = pearson_correlation(jnp.asarray(pred), jnp.asarray(true))
    np.testing.assert_allclose(corr, np.cos(omegas[:, None] * np.arange(1, n_frames + 1)), atol=1e-12)
    # the correlation first drops below 0.8 at frame floor(arccos(0.8) / ω) + 1
    expected = np.floor(np.arccos(0.8) / omegas) * dt
    np.testing.assert_allclose(high_correlation_time(jnp.asarray(pred), jnp.asarray(true), dt), expected, rtol=1e-12)
    assert list(expected) == [12 * dt, 4 * dt, 2 * dt, 0.0]
    # threshold 0.5: arccos(0.5) = π/3
    np.testing.assert_allclose(high_correlation_time(jnp.asarray(pred), jnp.asarray(true), dt, threshold=0.5),
                               np.floor(math.pi / 3 / omegas) * dt, rtol=1e-12)
    # never below: the whole rollout (a lower bound); a constant prediction (NaN correlation): 0
    pred_ok, true_ok = _rotating([0.01], 10)
    assert float(high_correlation_time(jnp.asarray(pred_ok), jnp.asarray(true_ok), dt)[0]) == 10 * dt
    flat = jnp.zeros_like(jnp.asarray(true_ok))
    assert float(high_correlation_time(flat, jnp.asarray(true_ok), dt)[0]) == 0.0


@pytest.mark.parametrize("objective, key", [
    ({"unroll": 2}, "objective.unroll"),
    ({"pushforward": True}, "objective.pushforward"),
    ({"physics_weight": 0.1}, "objective.physics_weight"),
    ({"loss": "rel_l2"}, "objective.loss"),
    ({"refiner": {"steps": 0}}, "objective.refiner.steps"),
    ({"refiner": {"min_noise": 1.0}}, "objective.refiner.min_noise"),
    ({"refiner": {"min_noise": 0.0}}, "objective.refiner.min_noise"),
    ({"refiner": {"sigma": 0.1}}, "objective.refiner.sigma"),
])
def test_refiner_combinations_it_does_not_honour_are_refused(tmp_path, objective, key):
    with pytest.raises(ConfigError) as err:
        pdejax.experiment.build(refiner_config(tmp_path / "never_read.h5", **objective))
    assert err.value.key == key, str(err.value)


def test_refiner_trains_end_to_end_and_loads_as_a_refined_operator(ks_file, tmp_path):
    run = pdejax.train(refiner_config(ks_file), run_dir=tmp_path / "run", progress=False)
    summary = run.summary
    n_frames = 13  # t = 0, 0.5, ..., 6
    assert len(summary["rollout_correlation"]["t"]) == n_frames - 1  # the input frame is not scored
    assert summary["rollout_correlation"]["t"][0] == pytest.approx(0.5)
    assert 0.0 <= summary["high_correlation_time"] <= 6.0 and summary["high_correlation_time_std"] >= 0.0
    assert 0.0 <= summary["high_correlation_censored"] <= 1.0 and np.isfinite(summary["rel_l2"])

    loaded = pdejax.load_run(tmp_path / "run")
    assert isinstance(loaded.model, RefinedOperator) and loaded.model.refinement == Refinement(2, 1e-3)
    with h5py.File(ks_file) as f:  # the test set: the first n_test trajectories, (n, t, x) -> (n, t, field, x)
        trajs = jnp.asarray(f["tensor"][:8])[:, :, None]
    pred = eqx.filter_jit(rollout)(loaded.model, trajs[:, :1], n_frames - 1)  # the evaluator's key: PRNGKey(0)
    tau = high_correlation_time(pred, trajs[:, 1:], 0.5)
    assert float(jnp.mean(tau)) == pytest.approx(summary["high_correlation_time"], abs=1e-6)
