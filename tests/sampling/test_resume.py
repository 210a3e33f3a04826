"""A run with causal R3 points resumed from a checkpoint reproduces the uninterrupted
run bitwise (the sampler's population and gate position are in the checkpoint)."""

import shutil

import equinox as eqx
import jax
import numpy as np

from pdejax.experiment import load_run, train
from tests.conftest import tiny_config

CONFIG = tiny_config(
    objective={"n_collocation": 64, "sampler": {"name": "r3_causal", "beta_lr": 0.05, "beta_clip": 1.0}},
    train={"steps": 8, "steps_per_call": 2, "log_every": 2, "eval_every": 8, "checkpoint_every": 4,
           "keep_checkpoints": 5},
)


def _params(run_dir):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(load_run(run_dir).model, eqx.is_array))]


def test_resumed_run_reproduces_the_uninterrupted_one(tmp_path):
    straight = tmp_path / "straight"
    train(CONFIG, run_dir=straight)
    resumed = tmp_path / "resumed"
    shutil.copytree(straight, resumed)
    shutil.rmtree(resumed / "checkpoints" / "8")  # as if stopped after step 4
    run = train(None, resume=resumed)
    assert run.summary["resumed_from"] == 4 and run.summary["steps"] == 8
    for a, b in zip(_params(straight), _params(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
