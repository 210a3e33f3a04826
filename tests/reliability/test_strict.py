"""Strict types and ranges, non-finite configs and data (issue 11, items 5 and 6), in-process."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import pdejax
from pdejax.cli import main
from pdejax.config.errors import ConfigError
from pdejax.data import DataError, generate
from tests.conftest import tiny_config
from tests.data.conftest import tiny_heat

SCHEDULE = "optimizer.learning_rate={name: exponential_decay, init_value: %s, transition_steps: 10, decay_rate: 0.5}"


@pytest.mark.parametrize("overrides, key, valid", [
    (["model.width=true"], "model.width", "not a boolean"),
    (["train.steps=true"], "train.steps", "not a boolean"),
    (["seed=false"], "seed", "not a boolean"),
    (["objective.n_collocation=true"], "objective.n_collocation", "not a boolean"),
    (["objective.weights.pde=true"], "objective.weights.pde", "not a boolean"),
    (["evaluation.grid.x=[true, 1, 3]"], "evaluation.grid.x.0", "not a boolean"),
    (["optimizer.learning_rate=true"], "optimizer.learning_rate", "not a boolean"),
    (["optimizer.args.b1=true"], "optimizer.args.b1", "not a boolean"),
    (["optimizer.args.b1=abc"], "optimizer.args.b1", "number"),
    (["optimizer.args.b1=1.5"], "optimizer.args.b1", "[0, 1)"),
    (["optimizer.args.b2=1"], "optimizer.args.b2", "[0, 1)"),
    (["optimizer.args.eps=0"], "optimizer.args.eps", "positive"),
    (["optimizer.name=adamw", "optimizer.args.weight_decay=-1"], "optimizer.args.weight_decay", "non-negative"),
    (["optimizer.name=adamw", "optimizer.args.weight_decay=abc"], "optimizer.args.weight_decay", "non-negative"),
    (["optimizer.name=sgd", "optimizer.args.momentum=1.0"], "optimizer.args.momentum", "[0, 1)"),
    (["optimizer.learning_rate=.nan"], "optimizer.learning_rate", "finite"),
    (["optimizer.learning_rate=-.inf"], "optimizer.learning_rate", "finite"),
    (["optimizer.learning_rate=[1, 2]"], "optimizer.learning_rate", "number"),
    (["optimizer.clip_norm=nan"], "optimizer.clip_norm", "finite"),
    (["pde.nu=.inf"], "pde.nu", "finite"),
    (["pde.nu=nan"], "pde.nu", "finite"),  # the string 'nan', which pydantic would parse as a float
    ([SCHEDULE % ".nan"], "optimizer.learning_rate.init_value", "finite"),
])
def test_bad_numbers_are_config_errors_naming_the_key(overrides, key, valid):
    with pytest.raises(ConfigError) as err:
        pdejax.experiment.build(tiny_config(), overrides)
    message = str(err.value)
    assert message.startswith(f"{key} = ") and valid in message and "\n" not in message, message


@pytest.mark.parametrize("overrides", [
    ["optimizer.learning_rate=1"],  # an int where a float is expected
    ["model.width='8'"],  # a numeric string (command lines) still parses as a count
    ["optimizer.args.b1=0"],
    ["optimizer.name=sgd", "optimizer.args.momentum=null"],
    ["train.progress=true"],
    [SCHEDULE % "0.01"],
])
def test_good_numbers_still_build(overrides):
    exp = pdejax.experiment.build(tiny_config(), overrides)
    assert exp.method.model is not None


def test_refused_config_exits_2_before_creating_the_run_directory(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "pinn/burgers.yaml", "--run-dir", str(run_dir), "optimizer.args.b1=abc"]) == 2
    assert "optimizer.args.b1" in capsys.readouterr().err
    assert not run_dir.exists()
    for refused in ("pde.nu=.nan", "pde.nu=-1"):  # at validation; when the PDE is built
        with pytest.raises(ConfigError, match="pde.nu"):
            pdejax.train(tiny_config(), [refused], run_dir=run_dir)
        assert not run_dir.exists()


# -- non-finite data -------------------------------------------------------------------
@pytest.fixture(scope="module")
def heat_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("strict") / "heat.h5"
    generate(tiny_heat(), path, progress=False)
    return path


def _poisoned(heat_file, tmp_path, sample: int, value: float):
    path = tmp_path / "poisoned.h5"
    path.write_bytes(heat_file.read_bytes())
    with h5py.File(path, "r+") as f:
        f["tensor"][sample, -1, 3] = value
    return path


def _operator(path, **data):
    cfg = tiny_config(data={"path": str(path), "input": {"tensor": [0]}, "output": {"tensor": [-1]},
                            "n_train": 4, "n_test": 2, "batch_size": 2, **data},
                      )
    cfg["objective"] = {"name": "operator"}
    cfg.pop("pde")
    cfg.pop("evaluation")
    cfg["model"] = {"name": "fno", "modes": [4], "width": 4, "n_layers": 1}
    return cfg


@pytest.mark.parametrize("value, stream", [(np.nan, False), (np.inf, True)])
def test_non_finite_samples_are_refused_naming_file_array_and_sample(heat_file, tmp_path, value, stream):
    path = _poisoned(heat_file, tmp_path, 4, value)
    with pytest.raises(DataError) as err:
        pdejax.experiment.build(_operator(path, stream=stream))
    message = str(err.value)
    assert str(path) in message and "'tensor'" in message and "sample 4 (a training sample)" in message, message
    assert ("nan" if np.isnan(value) else "inf") in message and "\n" not in message
    # Samples outside the ones used do not matter.
    pdejax.experiment.build(_operator(path, n_train=2))


def test_non_finite_evaluation_metric_exits_3(tmp_path, monkeypatch, capsys):
    class FakeRun:
        directory = tmp_path
        summary = {"steps": 1, "wall_s": 0.0, "compile_s": 0.0, "metrics": {"rel_l2": float("nan")}}

    monkeypatch.setattr(pdejax.experiment, "train", lambda *a, **k: FakeRun())
    assert main(["train", "pinn/burgers.yaml", "--run-dir", str(tmp_path / "r")]) == 3
    err = capsys.readouterr().err.strip()
    assert "rel_l2" in err and "nan" in err and "\n" not in err
