"""Bad input is rejected before compilation, naming the key, the value and what is valid."""

import subprocess
import sys

import pytest

from pdejax import ConfigError, build
from pdejax.config.loading import load_config
from tests.conftest import REPO, tiny_config


@pytest.mark.parametrize("override, key, words", [
    (["optimizer.lr=1e-3"], "optimizer.lr", "learning_rate"),
    (["trian.steps=3"], "trian", "train"),
    (["train.steps=many"], "train.steps", "integer"),
    (["optimizer.learning_rate=-0.1"], "optimizer.learning_rate", "positive"),
    (["optimizer.name=adamm"], "optimizer.name", "adam"),
    (["pde.name=burger"], "pde.name", "burgers"),
    (["pde.nu=0"], "pde.nu", "positive"),
    (["model.name=transformer"], "model.name", "mlp"),
    (["model.width=wide"], "model.width", "integer"),
    (["model.activation=relu6"], "model.activation", "tanh"),
    (["objective.sampler.name=sobol2"], "objective.sampler.name", "rad"),
    (["objective.sampler.name=rad", "objective.sampler.every=0"], "objective.sampler.every", ">= 1"),
    (["train.log_every=75"], "train.log_every", "multiple of steps_per_call"),
    (["dtype=float16"], "dtype", "float32"),
    (["objective.weights.inital=10"], "objective.weights.inital", "residual"),
    (["objective.constraint=soft"], "objective.n_boundary", "boundary"),
    (["parallel.data=64"], "parallel.data", "devices"),
    (["objective.n_collocation=130", "parallel.data=4"], "objective.n_collocation", "multiple"),
    (["optimizer.args.beta1=0.9"], "optimizer.args.beta1", "b1"),
    (["lbfgs.steps=100", "lbfgs.resample_every=75"], "lbfgs.resample_every", "multiple of train.steps_per_call"),
    (["optimizer.learning_rate.name=cosine_decay_schedule", "optimizer.learning_rate.init_value=1e-3"],
     "optimizer.learning_rate.decay_steps", "required"),
    (["objective.name=pin"], "objective.name", "pinn"),
    (["objective.history=3"], "objective.history", "n_collocation"),  # another family's key
    (["objective.n_collocation=0"], "objective.n_collocation", "greater than 0"),
    (["optimizer.combine.name=gradnorm"], "optimizer.combine.name", "grad_norm"),
    (["optimizer.combine.name=grad_norm", "optimizer.combine.alpha=2"], "optimizer.combine", "alpha"),
    (["optimizer.combine.name=grad_norm", "optimizer.combine.beta=2"], "optimizer.combine.beta", "alpha"),
    (["data.output={tensor:[25]}"], "override", "{tensor: [25]}"),  # flow-style YAML: a hint, not a traceback
    (["train.steps=[1,2"], "override", "YAML"),
    (["train..steps=2"], "override", "dotted key"),
])
def test_bad_config_names_key(override, key, words):
    with pytest.raises(ConfigError) as info:
        build(tiny_config(), override)
    msg = str(info.value)
    assert info.value.key == key, msg
    assert key in msg and words in msg, msg


def test_good_config_builds_everything():
    exp = build(tiny_config(), ["optimizer.name=contrib.prodigy", "optimizer.learning_rate=1.0",
                                "lbfgs.steps=10", "objective.sampler.name=rad"])
    assert [type(p).__name__ for p in exp.phases] == ["OptaxPhase", "LBFGSPhase"]
    assert exp.method.objective.loss_names == ("residual",)
    assert exp.method.evaluator.shape == (32, 10)
    assert type(exp.method.source.sampler).__name__ == "RAD" and not exp.combiner.per_term


def test_schedule_and_optax_contrib_args_are_typed():
    cfg = load_config(tiny_config(), ["optimizer.learning_rate.name=warmup_cosine_decay_schedule",
                                      "optimizer.learning_rate.init_value=0.0",
                                      "optimizer.learning_rate.peak_value=1e-3",
                                      "optimizer.learning_rate.warmup_steps=10",
                                      "optimizer.learning_rate.decay_steps=100"])
    phase = build(cfg).phases[0]
    assert phase.learning_rate(0) == 0.0  # warm-up from zero ...
    assert phase.learning_rate(10) == pytest.approx(1e-3)  # ... to the peak
    assert phase.learning_rate(100) < 1e-4  # ... and cosine decay


def test_cli_bad_config_exits_2_without_traceback_or_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "pdejax.cli", "train", str(REPO / "configs/pinn/burgers.yaml"),
                           "optimizer.learning_rate=-1", "--run-dir", str(run_dir)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "optimizer.learning_rate = -1" in proc.stderr and "positive" in proc.stderr
    assert not run_dir.exists()


def test_cli_missing_config_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pdejax.cli", "train", "nope.yaml"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "nope.yaml" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_unparsable_override_exits_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pdejax.cli", "train", "pinn/burgers.yaml",
                           "data.output={tensor:[25]}"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "data.output={tensor: [25]}" in proc.stderr


def test_cli_malformed_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("pde: {name: burgers\nmodel: [")
    proc = subprocess.run([sys.executable, "-m", "pdejax.cli", "train", str(bad)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "valid YAML" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_list_names_registries():
    proc = subprocess.run([sys.executable, "-m", "pdejax.cli", "list"], capture_output=True, text=True)
    assert proc.returncode == 0
    for name in ("burgers", "mlp", "rad", "adam", "contrib.prodigy", "cosine_decay_schedule"):
        assert name in proc.stdout
