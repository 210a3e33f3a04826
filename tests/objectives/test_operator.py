"""Operator objectives through the experiment API: pairs, rollouts, physics loss, data feed."""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import pdejax
from pdejax.config import ConfigError
from pdejax.config.loading import load_config
from pdejax.data import build_generator, generate, load_data_config
from pdejax.data.batches import BatchFeed
from pdejax.models import MODELS
from pdejax.objectives.operator import Normalizer, PhysicsResidual, unroll, unroll_batch
from pdejax.pde import PDES
from tests.conftest import REPO

HEAT = {"name": "heat_ops", "seed": 0, "n_samples": 48, "chunk_size": 16, "dtype": "float32",
        "generator": {"name": "heat", "n_points": 32, "kappa": 0.01, "t_final": 1.0, "dt": 0.01,
                      "save_every": 10, "n_modes": 3, "max_wavenumber": 4}}


@pytest.fixture(scope="module")
def heat_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ops") / "heat.h5"
    generate(HEAT, path, progress=False)
    return path


def operator_config(path, **sections) -> dict:
    cfg = {
        "name": "op", "seed": 0,
        "data": {"path": str(path), "input": {"tensor": [0]}, "output": {"tensor": [-1]},
                 "n_train": 32, "n_test": 8, "batch_size": 8},
        "model": {"name": "fno", "modes": [8], "width": 16, "n_layers": 2},
        "objective": {"name": "operator"},
        "optimizer": {"name": "adam", "learning_rate": 3e-3},
        "train": {"steps": 40, "steps_per_call": 10, "log_every": 10, "eval_every": 20,
                  "checkpoint_every": 20, "progress": False, "plots": False},
        "parallel": {"data": 1},
    }
    for key, value in sections.items():
        merge = isinstance(value, dict) and key != "model"  # a model section replaces the default one
        cfg[key] = {**cfg.get(key, {}), **value} if merge else value
    return cfg


def test_batch_feed_is_a_function_of_the_step():
    data = np.arange(10)
    feed = BatchFeed(lambda idx, rng: {"i": data[idx]}, 10, 3, seed=1)
    a = feed.get(0, 6)["i"]
    assert a.shape == (6, 3)
    # one epoch = 3 steps of 3 samples: each epoch visits 9 distinct samples
    assert len(set(a[:3].ravel())) == 9 and len(set(a[3:].ravel())) == 9
    again = BatchFeed(lambda idx, rng: {"i": data[idx]}, 10, 3, seed=1)
    np.testing.assert_array_equal(again.get(4, 2)["i"], a[4:6])  # a resumed run sees the same batches
    assert not np.array_equal(BatchFeed(lambda idx, rng: {"i": data[idx]}, 10, 3, seed=2).get(0, 6)["i"], a)
    feed.close(), again.close()


def test_normalizer_statistics():
    x = np.random.default_rng(0).normal(3.0, 2.0, (64, 2, 16)).astype(np.float32)
    x[:, 1] = x[:, 1] * 10 - 5
    norm = Normalizer.fit(lambda r: x[r], np.arange(64), chunk=10)
    z = np.asarray(jax.vmap(norm.encode)(jnp.asarray(x)))
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.vmap(norm.decode)(jnp.asarray(z))), x, rtol=1e-5, atol=1e-5)


def test_physics_residual_vanishes_on_exact_heat_at_second_order():
    """The trapezoidal-in-time residual of exact heat frames falls as dt² (measured order)."""
    pde = PDES.build("heat", {"kappa": 0.005}, where="pde")
    x = np.arange(64) / 64
    k = 2 * np.pi * 3
    errs = []
    for dt in (0.04, 0.02, 0.01):
        t = dt * np.arange(4)
        frames = (np.exp(-0.005 * k**2 * t)[:, None] * np.sin(k * x)[None])[:, None].astype(np.float32)
        res = PhysicsResidual(pde, dt, 1.0).residual(jnp.asarray(frames), 0.0)
        errs.append(float(jnp.sqrt(jnp.mean(res**2))))
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(orders - 2.0) < 0.1), orders


def test_unroll_feeds_predictions_back():
    # a "model" that adds one to the last frame: the rollout of k steps ends at last + k
    step = lambda w: w.reshape(2, 1, 4)[-1] + 1  # noqa: E731  (history 2, 1 field, 4 points)
    hist = jnp.zeros((2, 1, 4)).at[1].set(5.0)
    out = unroll(step, hist, 3)
    np.testing.assert_allclose(np.asarray(out[:, 0, 0]), [6.0, 7.0, 8.0])


def test_unroll_batch_matches_vmapped_unroll():
    w = jnp.asarray(np.random.default_rng(0).normal(size=(3, 1)), jnp.float32)  # history 3 -> one field

    def step(window):  # (3 * 2 fields, 5) -> (2, 5): a fixed linear mix of the window's frames
        return jnp.tanh(jnp.einsum("h,hfx->fx", w[:, 0], window.reshape(3, 2, 5)))

    hist = jnp.asarray(np.random.default_rng(1).normal(size=(4, 5, 2, 5)), jnp.float32)  # batch 4, 5 frames
    out = unroll_batch(lambda ws: jax.vmap(step)(ws), hist, 6, keep=3)
    assert out.shape == (4, 6, 2, 5)
    np.testing.assert_allclose(np.asarray(out), np.asarray(jax.vmap(lambda h: unroll(step, h, 6, keep=3))(hist)),
                               rtol=1e-6, atol=1e-6)


def test_fno_learns_heat_operator_and_run_predicts_in_physical_units(heat_file, tmp_path):
    schedule = {"name": "cosine_decay_schedule", "init_value": 3e-3, "decay_steps": 1500}
    cfg = operator_config(heat_file, data={"normalize": "both"}, optimizer={"learning_rate": schedule},
                          train={"steps": 1500, "steps_per_call": 50, "log_every": 250, "eval_every": 500,
                                 "checkpoint_every": 500, "plots": True}, evaluation={"superresolution": [2, 1]})
    run = pdejax.train(cfg, run_dir=tmp_path / "run", progress=False)
    s = run.summary
    assert s["rel_l2"] < 0.1 and s["metrics"]["rel_l2"] == s["rel_l2"]  # heat: a linear, smooth map
    assert set(s["superresolution_rel_l2"]) == {"16", "32"}
    assert {"rmse", "nrmse", "max_error", "frmse_low", "frmse_mid", "frmse_high"} <= set(s["metrics"])
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert history[0]["data"] > history[-1]["data"]
    assert {p.name for p in (tmp_path / "run" / "plots").iterdir()} >= {"loss.png", "samples.png",
                                                                        "superresolution.png"}

    loaded = pdejax.load_run(tmp_path / "run")
    data = pdejax.data.load_dataset(heat_file)
    x, y = data.tensor[:8, :1], data.tensor[:8, -1:]  # the test set: the first n_test samples
    pred = np.asarray(jax.vmap(loaded.model)(jnp.asarray(x)))
    rel = np.linalg.norm((pred - y).reshape(8, -1), axis=1) / np.linalg.norm(y.reshape(8, -1), axis=1)
    np.testing.assert_allclose(rel.mean(), s["rel_l2"], rtol=1e-4)


def test_resume_reproduces_uninterrupted_operator_run(heat_file, tmp_path):
    cfg = operator_config(heat_file)
    full = pdejax.train(cfg, run_dir=tmp_path / "full", progress=False)
    half = operator_config(heat_file, train={"steps": 20})
    pdejax.train(half, run_dir=tmp_path / "resumed", progress=False)
    resumed = pdejax.train(cfg, resume=tmp_path / "resumed", progress=False)
    assert resumed.summary["resumed_from"] == 20
    assert resumed.summary["rel_l2"] == pytest.approx(full.summary["rel_l2"], rel=1e-6)


def test_autoregressive_with_pushforward_and_physics(heat_file, tmp_path):
    cfg = operator_config(heat_file, objective={"name": "autoregressive", "history": 2, "unroll": 3,
                                                 "pushforward": True, "physics_weight": 0.1},
                          pde={"name": "heat", "kappa": 0.01}, data={"normalize": "both"},
                          model={"name": "fno", "modes": [8], "width": 16, "n_layers": 2})
    run = pdejax.train(cfg, run_dir=tmp_path / "ar", progress=False)
    curve = run.summary["rollout_rel_l2"]
    assert len(curve["t"]) == len(curve["rel_l2"]) == 11 - 2
    assert np.all(np.isfinite(curve["rel_l2"])) and run.summary["rel_l2_final"] > 0
    assert {"data", "physics"} <= set(run.summary["final"])


@pytest.mark.parametrize("change, key", [
    ({"data": {"n_train": 100}}, "data.n_train"),
    ({"data": {"input": {"nothing": [0]}}}, "data.input.nothing"),
    ({"data": {"output": {"tensor": [11]}}}, "data.output.tensor"),
    ({"data": {"batch_size": 40}}, "data.batch_size"),
    ({"data": {"stride": {"y": 2}}}, "data.stride.y"),
    ({"model": {"name": "fno", "modes": [8, 8]}}, "model"),
    ({"objective": {"name": "operator", "physics_weight": 1.0}}, "pde"),
    ({"objective": {"name": "autoregressive", "history": 10, "unroll": 5}}, "objective.unroll"),
])
def test_bad_operator_configs_are_rejected_before_training(heat_file, change, key):
    with pytest.raises(ConfigError) as err:
        pdejax.experiment.build(operator_config(heat_file, **change))
    assert err.value.key == key, str(err.value)


def test_missing_data_file_says_how_to_make_it(tmp_path):
    with pytest.raises(ConfigError, match="data.generate"):
        pdejax.experiment.build(operator_config(tmp_path / "absent.h5"))


def test_missing_file_is_generated_from_its_data_config(tmp_path):
    (tmp_path / "heat.yaml").write_text(yaml.safe_dump(HEAT))
    cfg = operator_config(tmp_path / "made.h5", data={"generate": str(tmp_path / "heat.yaml"),
                                                      "generate_overrides": ["n_samples=40"]})
    exp = pdejax.experiment.build(cfg)
    assert (tmp_path / "made.h5").exists() and len(exp.method.evaluator.views.dataset) == 40


def test_streamed_dataset_trains_like_in_memory(heat_file, tmp_path):
    mem = pdejax.train(operator_config(heat_file), run_dir=tmp_path / "mem", progress=False)
    lazy = pdejax.train(operator_config(heat_file, data={"stream": True}), run_dir=tmp_path / "lazy", progress=False)
    assert lazy.summary["rel_l2"] == pytest.approx(mem.summary["rel_l2"], rel=1e-6)


def test_batches_are_sharded_over_four_devices_with_the_same_result(heat_file, tmp_path):
    if len(jax.devices()) < 4:
        pytest.skip("needs 4 devices (JAX_NUM_CPU_DEVICES=4, set by conftest)")
    one = pdejax.train(operator_config(heat_file), run_dir=tmp_path / "one", progress=False)
    exp = pdejax.experiment.build(operator_config(heat_file, parallel={"data": 4}))
    assert exp.mesh.shape["data"] == 4
    four = pdejax.train(operator_config(heat_file, parallel={"data": 4}), run_dir=tmp_path / "four", progress=False)
    assert four.summary["device_count"] == 4
    assert four.summary["rel_l2"] == pytest.approx(one.summary["rel_l2"], rel=1e-3)


@pytest.mark.parametrize("config", sorted((REPO / "configs/operator").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_operator_configs_validate_and_build_their_models(config):
    """Every shipped operator config is valid, its data config exists, and its model accepts
    the data's shapes (built on a stand-in sample; the real data files are large)."""
    cfg = load_config(config)
    assert cfg.objective.name in ("operator", "autoregressive") and Path(cfg.data.generate).is_file()
    if getattr(cfg.objective, "physics", "frames") != "frames":
        pytest.skip("its model runs on collocation nodes: tests/objectives/test_nsm.py checks it")
    assert Path(cfg.data.path).is_absolute()  # resolved against the data root
    data_cfg = load_data_config(cfg.data.generate, cfg.data.generate_overrides)
    with jax.enable_x64(data_cfg.generator.args.get("precision") == "float64"):  # as data.generate does
        generator = build_generator(data_cfg)
    spec = generator.arrays["tensor"]
    strides = {**data_cfg.store_stride, **{k: data_cfg.store_stride.get(k, 1) * v for k, v in cfg.data.stride.items()}}
    grid = tuple(-(-n // strides.get(a, 1)) for n, a in zip(spec.shape, spec.axes) if a not in ("t", "field"))
    n_fields = spec.shape[spec.axes.index("field")] if "field" in spec.axes else 1
    if cfg.objective.name == "autoregressive":
        c_in, c_out = cfg.objective.history * n_fields, n_fields
    else:
        c_in = sum(len(f) if f is not None else 1 for f in cfg.data.input.values())
        c_out = sum(len(f) if f is not None else 1 for f in cfg.data.output.values())
    model = MODELS.build(cfg.model.name, cfg.model.args, where="model", key=jax.random.PRNGKey(0),
                         dtype=jnp.float32, in_size=c_in, out_size=c_out)
    out = eqx.filter_eval_shape(model, jax.ShapeDtypeStruct((c_in, *grid), jnp.float32))
    assert out.shape == (c_out, *grid)


def test_relative_data_paths_resolve_against_the_data_root(heat_file, tmp_path, monkeypatch):
    monkeypatch.setenv("PDEJAX_DATA", str(heat_file.parent))
    monkeypatch.chdir(tmp_path)  # never the current directory
    cfg = load_config(operator_config(heat_file.name))
    assert cfg.data.path == str(heat_file)
    monkeypatch.setenv("PDEJAX_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(ConfigError) as err:
        pdejax.experiment.build(operator_config(heat_file.name))
    assert err.value.key == "data.path" and str(tmp_path / "elsewhere" / heat_file.name) in str(err.value)


def test_failed_generation_leaves_no_empty_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("PDEJAX_DATA", str(tmp_path / "root"))
    (tmp_path / "heat.yaml").write_text(yaml.safe_dump(HEAT))

    def fails(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pdejax.data, "generate", fails)
    with pytest.raises(OSError, match="disk full"):
        pdejax.experiment.build(operator_config("sub/made.h5", data={"generate": str(tmp_path / "heat.yaml")}))
    assert not (tmp_path / "root").exists()


def test_physics_weight_is_the_weight_applied(heat_file):
    cfg = operator_config(heat_file, objective={"name": "operator", "physics_weight": 0.25},
                          pde={"name": "heat", "kappa": 0.01},
                          data={"input": {"tensor": [0]}, "output": {"tensor": [0, 1, 2]}})
    exp = pdejax.experiment.build(cfg)
    assert {k: float(v) for k, v in exp.combiner.init(None, exp.method.objective.loss_names).items()} == {
        "data": 1.0, "physics": 0.25, "initial": 1.0}
    step = pdejax.training.make_step(exp.method.objective, exp.phases[0].optimizer, combiner=exp.combiner)
    batch = exp.method.source.get(0, 1)
    _, logs = step(step.init(exp.method.model, jax.random.PRNGKey(0)), batch, n=1)
    exp.method.source.close()
    assert float(logs["loss"][0]) == pytest.approx(float(logs["data"][0] + 0.25 * logs["physics"][0]
                                                         + logs["initial"][0]), rel=1e-6)
    with pytest.raises(ConfigError) as err:  # one key, one meaning
        pdejax.experiment.build({**cfg, "objective": {**cfg["objective"], "weights": {"physics": 2.0}}})
    assert err.value.key == "objective.weights.physics" and "physics_weight" not in err.value.key
