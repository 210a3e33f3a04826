"""Resume integrity (issue 11, items 1 and 3): a refused or failed resume changes
nothing in the run directory, and a damaged newest checkpoint falls back to the
newest readable one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest
import yaml

from pdejax.cli import main
from pdejax.experiment import load_run, train
from tests.conftest import tiny_config

STEPS, EVERY = 200, 100  # checkpoints at 100 and 200


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("base") / "run"
    train(tiny_config(train={"steps": STEPS, "checkpoint_every": EVERY}), run_dir=directory)
    return directory


@pytest.fixture
def run_dir(base_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(base_run, copy)
    return copy


def _snapshot(directory: Path) -> dict[str, bytes]:
    """Every file of a run directory (but the lock file), by relative path."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def _params(model) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(model, eqx.is_array))]


def _resume(run_dir: Path, *args: str) -> int:
    return main(["train", "--resume", str(run_dir), "--no-progress", *args])


REFUSED = {
    "model.width=16": "model.width",
    "optimizer.name=sgd": "optimizer.name",
    "optimizer.learning_rate=0.01": "optimizer.learning_rate",
    "dtype=float64": "dtype",
    "seed=1": "seed",
    "objective.n_collocation=64": "objective.n_collocation",
    "lbfgs.steps=10": "lbfgs.steps",
}


def test_refused_overrides_change_nothing_and_a_plain_resume_still_works(run_dir, tmp_path, capsys):
    before = _snapshot(run_dir)
    for override, key in REFUSED.items():
        assert _resume(run_dir, override) == 2, override
        err = capsys.readouterr().err
        assert key in err and "cannot change" in err and "--run-dir" in err and "Traceback" not in err, err
        assert _snapshot(run_dir) == before, override
    other = tmp_path / "other.yaml"  # a different config file is held to the same rule
    other.write_text(yaml.safe_dump(tiny_config(model={"depth": 3})))
    assert main(["train", str(other), "--resume", str(run_dir), "--no-progress"]) == 2
    assert "model.depth" in capsys.readouterr().err
    assert _snapshot(run_dir) == before
    # The run is intact: a plain resume (nothing left to train) finishes from step 200.
    assert _resume(run_dir) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"] == STEPS and summary["steps"] == STEPS


def test_more_steps_are_accepted_and_recorded_once_started(run_dir):
    run = train(None, ["train.steps=300", "train.log_every=100"], resume=run_dir)
    assert run.summary["resumed_from"] == STEPS and run.summary["steps"] == 300
    stored = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert stored["train"]["steps"] == 300 and stored["train"]["log_every"] == 100
    steps = [r["step"] for r in run.history]
    assert steps == sorted(steps) and steps[-1] == 300 and steps.count(STEPS) == 1


def _damage(step_dir: Path, how: str) -> None:
    state = step_dir / "state"
    data = [p for p in state.rglob("*") if p.is_file() and p.parent.name == "d"]
    if how == "meta missing":
        shutil.rmtree(step_dir / "meta")
    elif how == "manifest missing":
        for p in state.rglob("manifest.ocdbt"):
            p.unlink()
    elif how == "metadata missing":
        (state / "_METADATA").unlink()
    elif how == "data emptied":
        for p in data:
            p.write_bytes(b"")
    elif how == "data truncated":
        for p in data:
            p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif how == "all emptied":
        for p in step_dir.rglob("*"):
            if p.is_file():
                p.write_bytes(b"")
    else:
        raise ValueError(how)


@pytest.mark.parametrize("how", ["meta missing", "manifest missing", "metadata missing", "data emptied",
                                 "data truncated"])
def test_damaged_newest_checkpoint_falls_back_to_the_previous_one(base_run, run_dir, how, capsys):
    _damage(run_dir / "checkpoints" / str(STEPS), how)
    assert _resume(run_dir) == 0
    err = capsys.readouterr().err
    assert f"checkpoint {STEPS} skipped" in err and "Traceback" not in err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"] == EVERY and summary["steps"] == STEPS
    assert any(n.startswith(f"checkpoint {STEPS} skipped:") for n in summary["notes"])
    # The damaged checkpoint is kept aside, and the step was saved again.
    assert (run_dir / "checkpoints.damaged" / str(STEPS)).is_dir()
    assert (run_dir / "checkpoints" / str(STEPS)).is_dir()
    # Batches are a function of (seed, step): the rerun stretch reproduces the original.
    for a, b in zip(_params(load_run(run_dir).model), _params(load_run(base_run).model), strict=True):
        np.testing.assert_array_equal(a, b)
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history] == [50, 100, 150, 200]


def test_no_readable_checkpoint_is_refused_and_changes_nothing(run_dir, capsys):
    _damage(run_dir / "checkpoints" / str(EVERY), "data emptied")
    _damage(run_dir / "checkpoints" / str(STEPS), "all emptied")
    before = _snapshot(run_dir)
    assert _resume(run_dir, "train.steps=400") == 2
    err = capsys.readouterr().err
    assert str(run_dir / "checkpoints") in err and "Traceback" not in err, err
    assert _snapshot(run_dir) == before  # steps: 400 is not left behind
    assert not (run_dir / "checkpoints.damaged").exists()


def test_missing_checkpoints_refused_unless_restart(run_dir, capsys):
    shutil.rmtree(run_dir / "checkpoints")
    old_metrics = (run_dir / "metrics.jsonl").read_bytes()
    before = _snapshot(run_dir)
    assert _resume(run_dir) == 2
    err = capsys.readouterr().err
    assert "no checkpoint to resume from" in err and "--restart" in err
    assert _snapshot(run_dir) == before
    (run_dir / "checkpoints").mkdir()  # empty is the same as missing
    assert _resume(run_dir) == 2
    assert _resume(run_dir, "--restart", "train.steps=100") == 0
    kept = list(run_dir.glob("metrics.*.jsonl"))
    assert len(kept) == 1 and kept[0].read_bytes() == old_metrics
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"] is None and summary["steps"] == 100


def test_restart_of_a_run_with_checkpoints_is_refused(run_dir, capsys):
    before = _snapshot(run_dir)
    assert _resume(run_dir, "--restart") == 2
    assert "--restart" in capsys.readouterr().err
    assert _snapshot(run_dir) == before
