"""The neural-DE family: trajectory systems against closed forms, the trajectory-matching
objective with multiple shooting, windows of trajectories as batches, and configs."""

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdejax
from pdejax import ConfigError, build
from pdejax.data.systems import SYSTEMS
from pdejax.dynamics import AbstractDynamics
from pdejax.methods.dynamics.batches import TrajectoryWindows
from pdejax.objectives.trajectory import TrajectoryMatching
from pdejax.pde import PDES, grid_for
from pdejax.pde.solve import spectral_solve

A = np.array([[0.0, 1.0], [-1.0, -0.2]])  # the damped oscillator, omega 1, damping 0.1


class LinearFlow(AbstractDynamics):
    """``y' = M y`` solved exactly (a matrix exponential per time): a model with no error."""

    matrix: jax.Array

    def solve(self, y0, ts, *, key=None):
        flows = jax.vmap(lambda t: jax.scipy.linalg.expm(self.matrix * (t - ts[0])))(ts)
        return flows @ y0, {"nfe": jnp.asarray(len(ts)), "kinetic": jnp.sum(y0**2)}


def test_systems_match_closed_forms_and_exact_transitions(x64):
    ts = np.linspace(0.0, 3.0, 16)
    key = jax.random.PRNGKey(3)
    oscillator = SYSTEMS.build("damped_oscillator", {}, where="d", n=5, ts=ts, key=key, pde=None)
    integrated = pdejax.data.systems._integrate(lambda y: jnp.asarray(A) @ y, oscillator.ys[:, 0], ts)
    np.testing.assert_allclose(oscillator.ys, integrated, rtol=0, atol=1e-9)  # expm against Dopri8 at tol 1e-12
    lv = SYSTEMS.build("lotka_volterra", {}, where="d", n=3, ts=ts, key=key, pde=None)
    x, y = lv.ys[..., 0], lv.ys[..., 1]  # the conserved quantity δx − γ ln x + βy − α ln y
    invariant = x - 3.0 * np.log(x) + y - 1.5 * np.log(y)
    assert np.max(np.abs(invariant - invariant[:, :1])) < 1e-9
    # Ornstein–Uhlenbeck: exact transitions, so the sample moments carry Monte-Carlo error only
    n, theta, sigma, y0 = 20000, 1.0, 0.5, 1.5
    ou = SYSTEMS.build("ornstein_uhlenbeck", {}, where="d", n=n, ts=np.array([0.0, 0.5, 2.0]), key=key, pde=None)
    for i, t in enumerate((0.5, 2.0), start=1):
        var = sigma**2 * (1 - np.exp(-2 * theta * t)) / (2 * theta)
        assert abs(ou.ys[:, i, 0].mean() - y0 * np.exp(-theta * t)) < 4 * np.sqrt(var / n)
        assert abs(ou.ys[:, i, 0].var() - var) < 4 * var * np.sqrt(2 / n)


def test_pde_trajectories_are_the_spectral_solution_restricted_to_the_grid(x64):
    pde = PDES.build("burgers", {"periodic": True, "nu": 0.05, "x_min": 0.0, "x_max": 2 * np.pi, "t_final": 0.5},
                     where="pde")
    ts = np.linspace(0.0, 0.5, 6)
    data = SYSTEMS.build("pde", {"grid": 16, "resolution": 64, "dt": 0.01, "fine_grid": 32}, where="d", n=2,
                         ts=ts, key=jax.random.PRNGKey(0), pde=pde)
    assert data.ys.shape == (2, 6, 1, 16) and data.fine.shape == (2, 6, 1, 32) and data.grid.sizes == (16,)
    # the stored frames are the solver's: the initial condition (band-limited, |k| <= 3) Fourier-
    # interpolated from 16 points to 64, solved again, restricted to the 16 points
    coarse = np.fft.rfft(data.ys[1, 0, 0])
    u0 = np.fft.irfft(np.concatenate([coarse, np.zeros(33 - coarse.size)]), 64) * 4
    frames = spectral_solve(pde, grid_for(pde, 64), jnp.asarray(u0)[None], 0.01, 50, save_every=10)
    np.testing.assert_allclose(np.asarray(frames)[:, :, ::4], data.ys[1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(frames)[:, :, ::2], data.fine[1], rtol=0, atol=1e-12)
    with pytest.raises(ConfigError, match="divisor of resolution"):
        SYSTEMS.build("pde", {"grid": 24, "resolution": 64}, where="d", n=1, ts=ts, key=jax.random.PRNGKey(0),
                      pde=pde)
    with pytest.raises(ConfigError, match="dividing the observation times"):
        SYSTEMS.build("pde", {"dt": 0.03}, where="d", n=1, ts=ts, key=jax.random.PRNGKey(0), pde=pde)


def test_trajectory_matching_is_zero_for_the_exact_model_with_any_segments(x64):
    ts = np.linspace(0.0, 2.0, 9)
    data = SYSTEMS.build("damped_oscillator", {}, where="d", n=4, ts=ts, key=jax.random.PRNGKey(1), pde=None)
    exact, wrong = LinearFlow(jnp.asarray(A)), LinearFlow(jnp.asarray(A) * 1.1)
    batch = {"ys": jnp.asarray(data.ys), "start": jnp.asarray(0)}
    for segments in (1, 2, 4, 8):
        objective = TrajectoryMatching(jnp.asarray(ts), 8, segments, scale=1.0, regularisers=("kinetic",))
        losses, aux = objective.loss(exact, batch, None)
        assert float(losses["data"]) < 1e-24
        assert float(aux["nfe"]) == segments * (8 // segments + 1)  # the segments' solves, summed
        # the kinetic statistic of every segment start, summed per trajectory, averaged over the batch
        starts = data.ys[:, ::8 // segments][:, :segments]
        assert float(losses["kinetic"]) == pytest.approx(np.mean(np.sum(starts**2, axis=(1, 2))), rel=1e-12)
    one = TrajectoryMatching(jnp.asarray(ts), 8, 1).loss(wrong, batch, None)[0]["data"]
    four = TrajectoryMatching(jnp.asarray(ts), 8, 4).loss(wrong, batch, None)[0]["data"]
    assert 0 < float(four) < float(one)  # shorter segments from the data drift less


def test_windows_are_consecutive_observations_of_distinct_trajectories():
    ys = jnp.arange(6 * 10, dtype=jnp.float32).reshape(6, 10, 1)
    source = TrajectoryWindows(ys, batch_size=4, window=3)
    batch, _ = source.draw(None, (), jax.random.PRNGKey(0), 0)
    assert batch["ys"].shape == (4, 4, 1)
    rows = np.asarray(batch["ys"][:, 0, 0]) // 10
    assert len(set(rows.tolist())) == 4
    np.testing.assert_array_equal(np.diff(np.asarray(batch["ys"][..., 0]), axis=1), 1)  # consecutive times
    assert np.all(np.asarray(batch["ys"][:, 0, 0]) % 10 == int(batch["start"]))
    with pytest.raises(ValueError, match="batch_size 7"):
        TrajectoryWindows(ys, batch_size=7, window=3)


def ode_config(**objective):
    return {
        "name": "neural_ode_tiny", "seed": 0,
        "model": {"name": "neural_ode", "vector_field": {"name": "mlp", "width": 16, "depth": 2}},
        "objective": {"name": "dynamics", "data": {"system": "damped_oscillator"}, "n_train": 16, "n_test": 4,
                      "dt_obs": 0.25, "t_train": 2.0, "batch_size": 8, **objective},
        "optimizer": {"name": "adam", "learning_rate": 3e-3},
        "train": {"steps": 60, "steps_per_call": 20, "log_every": 20, "eval_every": 60, "checkpoint_every": 60,
                  "progress": False, "plots": False},
        "parallel": {"data": 1},
    }


@pytest.mark.parametrize("objective, key, words", [
    ({"t_train": 2.1}, "objective.t_train", "multiple of objective.dt_obs"),
    ({"t_test": 1.0}, "objective.t_test", "at least t_train"),
    ({"window": 9}, "objective.window", "at most the 8 intervals"),
    ({"window": 8, "segments": 3}, "objective.segments", "a divisor"),
    ({"batch_size": 32}, "objective.batch_size", "at most objective.n_train"),
    ({"data": {"system": "lorenz63"}}, "objective.data.system", "lotka_volterra"),
    ({"data": {"system": "damped_oscillator", "omega": -1.0}}, "objective.data.omega", "positive"),
    ({"data": {"system": "pde"}}, "pde", "pde section"),
])
def test_bad_dynamics_configs_name_the_key(objective, key, words):
    with pytest.raises(ConfigError) as info:
        build(ode_config(**objective))
    assert info.value.key == key and words in str(info.value), str(info.value)


def test_exact_model_evaluates_to_zero_error_inside_and_beyond_the_window(x64):
    exp = build({**ode_config(), "dtype": "float64"})
    evaluator = exp.method.evaluator
    metrics = evaluator(LinearFlow(jnp.asarray(A)))
    assert set(metrics) >= {"rel_l2", "rel_l2_train_window", "rel_l2_extrapolation", "nfe"}
    assert metrics["rel_l2"] < 1e-12 and metrics["rel_l2_extrapolation"] < 1e-12
    drifted = evaluator(LinearFlow(jnp.asarray(A) + 0.05 * jnp.eye(2)))
    assert drifted["rel_l2_extrapolation"] > drifted["rel_l2_train_window"] > 1e-3  # errors grow with time


def test_eqx_module_is_a_pytree():  # LinearFlow's matrix is its only leaf (the test model above)
    assert len(jax.tree.leaves(eqx.filter(LinearFlow(jnp.eye(2)), eqx.is_array))) == 1


def test_neural_ode_trains_resumes_bitwise_and_shards_over_four_devices(tmp_path):
    # 40 steps in one go, and 20 + 20 through a checkpoint: the same parameters, bit for bit;
    # the same 40 steps with each batch sharded over 4 devices: the same numbers to float32 round-off.
    cfg = ode_config(**{"window": 4, "segments": 2})
    cfg["model"] = {**cfg["model"], "solver": "heun", "controller": "constant", "dt0": 0.125}  # compiles faster
    cfg["train"] = {**cfg["train"], "steps": 40, "steps_per_call": 10, "eval_every": 40, "checkpoint_every": 20}
    full = pdejax.train(cfg, run_dir=tmp_path / "full", progress=False)
    first = pdejax.train({**cfg, "train": {**cfg["train"], "steps": 20}}, run_dir=tmp_path / "half", progress=False)
    assert first.summary["final"]["data"] < 1
    resumed = pdejax.train(cfg, resume=tmp_path / "half", progress=False)
    assert resumed.summary["resumed_from"] == 20
    for a, b in zip(jax.tree.leaves(eqx.filter(full.model, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(resumed.model, eqx.is_array))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert set(full.summary) >= {"rel_l2_train_window", "rel_l2_extrapolation", "nfe"}
    if len(jax.devices()) >= 4:
        four = pdejax.train({**cfg, "parallel": {"data": 4}}, run_dir=tmp_path / "four", progress=False)
        assert four.summary["device_count"] == 4
        assert four.summary["rel_l2"] == pytest.approx(full.summary["rel_l2"], rel=1e-4)
    loaded = pdejax.load_run(tmp_path / "full")
    y = loaded.model(jnp.ones(2), jnp.linspace(0.0, 1.0, 5))
    assert y.shape == (5, 2) and np.all(np.isfinite(np.asarray(y)))


@pytest.mark.parametrize("config", sorted((Path(pdejax.__file__).parent / "configs" / "dynamics").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_dynamics_configs_build(config):
    """Every shipped config validates and builds its data, model, objective and evaluator
    (on a few trajectories; their training is the benchmark script's)."""
    overrides = ["objective.n_train=8", "objective.n_test=2", "objective.batch_size=4"]
    if "system: pde" in config.read_text():  # a cheaper reference solve: 64 points, the stored grid kept
        overrides += ["objective.data.resolution=64", "objective.data.fine_grid=null"]
    exp = build(config, overrides)
    model, batch = exp.method.model, exp.method.source.draw(None, (), jax.random.PRNGKey(0), 0)[0]
    assert batch["ys"].shape[0] == 4 and np.all(np.isfinite(np.asarray(batch["ys"])))
    assert isinstance(model, AbstractDynamics) and exp.method.objective.loss_names
