"""The stored config reproduces the run (issue 11, item 4): every shipped config and
every learning-rate schedule survives save → load → validate unchanged, and training
from a run's own ``config.yaml`` reproduces the run bitwise."""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest
import yaml

from pdejax.config.loading import load_config, to_yaml
from pdejax.experiment import load_run, train
from pdejax.training import SCHEDULES
from pdejax.training.optim import build_schedule
from tests.conftest import REPO, tiny_config

# Experiment configs (configs/data/ holds `pdejax data generate` configs, not experiments).
SHIPPED = sorted(p for p in (REPO / "pdejax" / "configs").rglob("*.yaml") if p.parent.name != "data")

# Typical arguments of every schedule pdejax offers; a new one must be added here.
SCHEDULE_ARGS = {
    "constant_schedule": {"value": 1e-3},
    "cosine_decay_schedule": {"init_value": 1e-3, "decay_steps": 100, "alpha": 0.1},
    "cosine_onecycle_schedule": {"transition_steps": 100, "peak_value": 1e-3},
    "exponential_decay": {"init_value": 1e-3, "transition_steps": 10, "decay_rate": 0.9, "staircase": True},
    "linear_onecycle_schedule": {"transition_steps": 100, "peak_value": 1e-3},
    "linear_schedule": {"init_value": 1e-3, "end_value": 1e-5, "transition_steps": 100},
    "piecewise_constant_schedule": {"init_value": 1e-3, "boundaries_and_scales": {10: 0.5, 50: 0.1}},
    "piecewise_interpolate_schedule": {"interpolate_type": "cosine", "init_value": 1e-3,
                                       "boundaries_and_scales": {10: 0.5, 50: 0.1}},
    "polynomial_schedule": {"init_value": 1e-3, "end_value": 1e-5, "power": 2, "transition_steps": 100},
    "sgdr_schedule": {"cosine_kwargs": [{"init_value": 1e-4, "peak_value": 1e-3, "warmup_steps": 10,
                                         "decay_steps": 50, "end_value": 1e-5}] * 2},
    "warmup_constant_schedule": {"init_value": 0.0, "peak_value": 1e-3, "warmup_steps": 10},
    "warmup_cosine_decay_schedule": {"init_value": 0.0, "peak_value": 1e-3, "warmup_steps": 10,
                                     "decay_steps": 100},
    "warmup_exponential_decay_schedule": {"init_value": 0.0, "peak_value": 1e-3, "warmup_steps": 10,
                                          "transition_steps": 10, "decay_rate": 0.9},
}


def _round_trip(cfg, tmp_path: Path):
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    return load_config(path)


def test_shipped_configs_are_found():
    assert len(SHIPPED) >= 5 and any("operator" in str(p) for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_shipped_config_round_trips(path, tmp_path):
    cfg = load_config(path)
    again = _round_trip(cfg, tmp_path)
    assert again == cfg
    assert to_yaml(again) == to_yaml(cfg)


def test_every_schedule_has_typical_arguments():
    assert sorted(SCHEDULE_ARGS) == sorted(SCHEDULES)


@pytest.mark.parametrize("name", sorted(SCHEDULE_ARGS))
def test_schedule_round_trips(name, tmp_path):
    spec = {"name": name, **SCHEDULE_ARGS[name]}
    cfg = load_config(tiny_config(optimizer={"learning_rate": spec}))
    again = _round_trip(cfg, tmp_path)
    assert again == cfg and again.optimizer.learning_rate == spec
    where = "optimizer.learning_rate"
    original, restored = build_schedule(spec, where=where), build_schedule(again.optimizer.learning_rate, where=where)
    steps = np.arange(0, 120, 7)
    np.testing.assert_array_equal(jax.vmap(original)(steps), jax.vmap(restored)(steps))


def _params(model) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(model, eqx.is_array))]


def test_training_from_the_stored_config_reproduces_the_run(tmp_path):
    schedule = {"name": "piecewise_constant_schedule", "init_value": 1e-2, "boundaries_and_scales": {50: 0.5}}
    first = train(tiny_config(optimizer={"learning_rate": schedule}, train={"steps": 100}), run_dir=tmp_path / "a")
    stored = yaml.safe_load((first.directory / "config.yaml").read_text())
    assert stored["optimizer"]["learning_rate"]["boundaries_and_scales"] == {50: 0.5}
    second = train(first.directory / "config.yaml", run_dir=tmp_path / "b")
    assert second.config == first.config
    for a, b in zip(_params(load_run(first.directory).model), _params(load_run(second.directory).model),
                    strict=True):
        np.testing.assert_array_equal(a, b)

    def losses(run):
        return [{k: v for k, v in json.loads(line).items() if k not in ("wall_s", "steps_per_s")}
                for line in (run.directory / "metrics.jsonl").read_text().splitlines()]

    assert losses(second) == losses(first)
    assert [r["lr"] for r in losses(first)] == pytest.approx([5e-3, 5e-3])  # the boundary applied


def test_quoted_step_boundaries_from_older_configs_still_build():
    from pdejax.training import build_schedule

    schedule = build_schedule({"name": "piecewise_constant_schedule", "init_value": 1e-3,
                               "boundaries_and_scales": {"10": 0.5}}, where="optimizer.learning_rate")
    assert float(schedule(9)) == pytest.approx(1e-3) and float(schedule(10)) == pytest.approx(5e-4)
