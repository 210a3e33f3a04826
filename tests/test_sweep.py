"""``pdejax sweep`` (issue 16, item 2): Optuna studies in an SQLite file shared by workers.

Two worker processes share one study of 4 trials; one is killed mid-trial and the other
fails its trial by heartbeat, runs it again and finishes the study. A grid sweep interrupted
by Ctrl-C continues from its checkpoint when run again; pruning stops a run at an evaluation;
bad input exits 2 before anything is written. The trials sweep ``seed``, which leaves the
compiled programs unchanged, so the worker processes share them through JAX's persistent
compilation cache and each trial after the first costs well under a second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pdejax.cli import main
from tests.conftest import REPO, tiny_config

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState  # noqa: E402

# 100 steps, evaluated (and checkpointed) at 50 and 100: one evaluation to prune at.
SMALL = {"train": {"steps": 100, "eval_every": 50, "checkpoint_every": 50}, "objective": {"n_collocation": 64}}


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(**SMALL)))
    return path


def _study(tmp_path: Path, name: str):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'sweeps' / name / 'study.db'}")


def _worker(args: list[str], cwd: Path, cache: Path, **env: str) -> subprocess.Popen:
    environ = {**os.environ, "JAX_NUM_CPU_DEVICES": "1", "PYTHONPATH": str(REPO),
               "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
               "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0", **env}
    environ.pop("XLA_FLAGS", None)
    return subprocess.Popen([sys.executable, "-m", "pdejax.cli", "sweep", *args], cwd=cwd, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_two_workers_share_a_study_and_finish_a_killed_workers_trial(tmp_path, config, capsys):
    args = [str(config), "--param", "seed=int(0,100000)", "--trials", "4", "--study", "two", "--heartbeat", "1",
            "--no-progress"]
    cache = tmp_path / "jax-cache"
    # One worker kills itself (SIGKILL: no clean-up at all) in its first trial, as training starts; the
    # other starts once that trial is running (started together, it might finish the study before the
    # doomed one takes a trial).
    killed = _worker(args, tmp_path, cache, PDEJAX_FAULT="train:before_first_step", PDEJAX_FAULT_SIGNAL="SIGKILL")
    alive = None
    try:
        while not (tmp_path / "sweeps" / "two" / "trial-0").exists() and killed.poll() is None:
            time.sleep(0.05)
        alive = _worker(args, tmp_path, cache)
        out_killed, _ = killed.communicate(timeout=300)
        out, _ = alive.communicate(timeout=300)
    finally:  # a failed wait leaves no worker behind
        for worker in (killed, alive):
            if worker is not None and worker.poll() is None:
                worker.kill()
    assert killed.returncode == -9, out_killed
    assert alive.returncode == 0, out

    trials = _study(tmp_path, "two").get_trials()
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 4 and states.count(TrialState.FAIL) == 1, (states, out)
    dead = next(t for t in trials if t.state == TrialState.FAIL)
    assert dead.user_attrs["host"].endswith(f":{killed.pid}")
    assert f"trial {dead.number} failed: its worker" in out and "queued to run again" in out
    again = next(t for t in trials if t.user_attrs.get("retry_of") == dead.number)
    # The same parameters; the dead run had no checkpoint yet, so the trial starts again in its own directory.
    assert again.state == TrialState.COMPLETE and again.params == dead.params and "resumed" not in again.user_attrs
    assert not (Path(dead.user_attrs["run_dir"]) / "summary.json").exists()
    for t in trials:
        if t.state == TrialState.COMPLETE:
            run = Path(t.user_attrs["run_dir"])
            assert run.parent == tmp_path / "sweeps" / "two" and (run / "summary.json").is_file()
            assert t.value == json.loads((run / "summary.json").read_text())["rel_l2"]
    assert out.count(" complete: rel_l2 = ") == 4 and "best: trial" in out

    os.chdir(tmp_path)
    assert main(["sweep", "--report", "--study", "two", "--top", "3"]) == 0
    text = capsys.readouterr().out
    best = min((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert "4 complete, 1 fail" in text and f"best: trial {best.number}, rel_l2 = {best.value:.4g}" in text
    rows = [line.split() for line in text.splitlines() if line.split()[:1] in (["1"], ["2"], ["3"], ["4"])]
    assert [r[0] for r in rows] == ["1", "2", "3"] and rows[0][1] == str(best.number)
    assert [float(r[3]) for r in rows] == sorted(float(r[3]) for r in rows)
    for plot in ("history.png", "importance.png"):
        assert (tmp_path / "sweeps" / "two" / "plots" / plot).stat().st_size > 1000


def test_an_interrupted_grid_sweep_continues(tmp_path, config, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", str(config), "--grid", "seed=1", "--study", "grid", "--no-progress"]
    monkeypatch.setenv("PDEJAX_FAULT", "train:after_checkpoint:50")  # Ctrl-C in the first trial
    assert main(argv) == 130
    monkeypatch.delenv("PDEJAX_FAULT")
    study = _study(tmp_path, "grid")
    first, queued = study.get_trials()
    assert first.state == TrialState.FAIL and first.user_attrs["failure"].startswith("interrupted")
    assert queued.state == TrialState.WAITING and queued.params == first.params
    assert "queued to run again" in capsys.readouterr().out

    assert main(argv) == 0  # continues the interrupted run from its checkpoint at step 50
    out = capsys.readouterr().out
    first, done = study.get_trials()
    assert done.state == TrialState.COMPLETE and done.params == {"seed": 1} and done.user_attrs["resumed"]
    assert done.user_attrs["run_dir"] == first.user_attrs["run_dir"]
    summary = json.loads((Path(done.user_attrs["run_dir"]) / "summary.json").read_text())
    assert summary["resumed_from"] == 50 and summary["steps"] == 100 and done.value == summary["rel_l2"]
    assert "1 finished trial (0 pruned), 1 run here" in out

    assert main(argv) == 0  # the grid is done: nothing runs
    assert "already has 1 finished trial " in capsys.readouterr().out and len(study.get_trials()) == 2


def test_pruning_ends_a_run_at_an_evaluation(tmp_path, config):
    from pdejax.experiment import sweep

    result = sweep(config, params={"seed": "int(0,9)"}, trials=1, directory=tmp_path / "pruned", echo=None,
                   pruner=optuna.pruners.ThresholdPruner(upper=0.0), progress=False)  # every rel_l2 is > 0
    (trial,) = result.study.get_trials()
    assert trial.state == TrialState.PRUNED and trial.last_step == 50 and trial.value == trial.intermediate_values[50]
    summary = json.loads((Path(trial.user_attrs["run_dir"]) / "summary.json").read_text())
    assert summary["steps"] == 50 and "pruned by the sweep" in summary["stopped"]
    assert result.storage == f"sqlite:///{tmp_path / 'pruned' / 'study.db'}"


class _FakeRun:
    def __init__(self, summary, directory):
        self.summary, self.directory = summary, directory


def test_objective_direction_and_divergence(tmp_path, monkeypatch, config):
    """Without training: the objective read from summary.json (a dotted key, maximised), a
    diverging trial recorded as pruned, a missing key refused naming the keys there are."""
    from pdejax.experiment import sweep, sweep_worker
    from pdejax.training import NonFiniteLoss

    def fake_train(config, overrides, *, run_dir, **kw):
        seed = int(next(o for o in overrides if o.startswith("seed=")).split("=")[1])
        if seed == 3:
            raise NonFiniteLoss(20, "pde", float("nan"))
        return _FakeRun({"steps": 100, "final": {"score": float(seed)}, "metrics": {}}, run_dir)

    monkeypatch.setattr(sweep_worker, "train", fake_train)
    lines = []
    result = sweep(config, grid={"seed": [1, 2, 3]}, objective="final.score", direction="maximize",
                   directory=tmp_path / "fake", echo=lines.append, progress=False)
    assert result.study.best_trial.params == {"seed": 2} and result.study.best_value == 2.0
    diverged = next(t for t in result.study.get_trials() if t.params["seed"] == 3)
    assert diverged.state == TrialState.PRUNED and "'pde' is nan" in diverged.user_attrs["failure"]
    assert any(line.startswith(f"trial {diverged.number} pruned: loss term 'pde'") for line in lines)

    from pdejax.config.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--objective = 'rel_l2'.*final\.score"):
        sweep(config, grid={"seed": [1]}, directory=tmp_path / "missing", echo=None, progress=False)
    # A study holding only failed trials takes the corrected command.
    fixed = sweep(config, grid={"seed": [1]}, objective="final.score", directory=tmp_path / "missing", echo=None,
                  progress=False)
    assert [t.state for t in fixed.study.get_trials()] == [TrialState.FAIL, TrialState.COMPLETE]


BAD = [
    (["--param", "optimizer.learning_rate=loguniform(0,1e-2)"], "--param optimizer.learning_rate", "0 < low"),
    (["--param", "model.width=int(8,2)"], "--param model.width", "int(low,high)"),
    (["--param", "model.width=normal(8,2)"], "--param model.width", "loguniform("),
    (["--param", "model.activation=choice(tanh,tanh)"], "--param model.activation", "distinct"),
    (["--param", "width"], "--param", "KEY=SPACE"),
    (["--param", "model.widht=int(2,8)"], "model.widht", "did you mean 'width'"),
    (["--param", "optimizer.learnin_rate=uniform(0,1)"], "optimizer.learnin_rate", "learning_rate"),
    (["--param", "train.steps=int(-5,10)"], "train.steps", "-5"),
    (["--grid", "optimizer.learning_rate=1e-3,,1e-4"], "--grid optimizer.learning_rate", "empty value"),
    (["--grid", "seed=1,2", "--trials", "3"], "--trials", "at most 2"),
    (["--grid", "seed=1,2", "--param", "model.width=int(2,8)"], "--grid", "not both"),
    (["--param", "seed=int(0,9)", "--direction", "max"], "--direction", "minimize or maximize"),
    (["--param", "seed=int(0,9)", "--trials", "0"], "--trials", "positive"),
    (["--param", "seed=int(0,9)", "--trials", "many"], "--trials", "whole number"),
    (["--param", "seed=int(0,9)", "--pruner", "meadian"], "--pruner", "median"),
    (["--param", "seed=int(0,9)", "--sampler", "cmaes"], "--sampler", "tpe"),
    (["--param", "seed=int(0,9)", "--storage", "nosuchdb://x/y"], "--storage", "SQLAlchemy"),
    (["--param", "seed=int(0,9)", "--storage", "sqlite://"], "--storage", "not an in-memory"),
    (["--param", "seed=int(0,9)", "--study", "a/b"], "--study", "letters, digits"),
    (["--param", "seed=int(0,9)", "seed=3"], "--param seed", "either overridden or swept"),
    ([], "--param", "at least one --param"),
]


@pytest.mark.parametrize("args, key, valid", BAD, ids=[" ".join(a)[:40] for a, _, _ in BAD])
def test_bad_input_exits_2_before_anything_is_written(tmp_path, config, monkeypatch, capsys, args, key, valid):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(config), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pdejax: error: ") and "\n" not in err, err
    assert key in err and valid in err, err
    assert not (tmp_path / "sweeps").exists()


def test_a_study_refuses_another_sweep(tmp_path, config, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("pdejax.experiment.sweep_worker.train",
                        lambda config, overrides, *, run_dir, **kw: _FakeRun({"rel_l2": 0.5}, run_dir))
    assert main(["sweep", str(config), "--grid", "seed=1", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sweep", str(config), "--grid", "seed=1,2"]) == 2
    err = capsys.readouterr().err
    assert "study 'tiny' holds another sweep: its --grid seed is [1], here [1, 2]" in err and "--study NAME" in err
    assert main(["sweep", str(config), "train.steps=50", "--grid", "seed=1"]) == 2
    assert "its train.steps is 100, here 50" in capsys.readouterr().err
    assert main(["sweep", str(config), "--grid", "seed=1", "--heartbeat", "5"]) == 2
    assert "its --heartbeat is 60, here 5" in capsys.readouterr().err
    assert main(["sweep", str(config), "--grid", "seed=1", "--direction", "maximize"]) == 2
    assert "minimize, the direction of the existing study" in capsys.readouterr().err
    assert main(["sweep", "--report", "--study", "other"]) == 2
    assert "sweeps/other/study.db does not exist" in capsys.readouterr().err
    assert main(["sweep", "--report"]) == 0  # the one study under sweeps/
    assert "1 trial: 1 complete" in capsys.readouterr().out


def test_without_optuna_the_message_says_what_to_install(tmp_path, config, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(["sweep", str(config), "--param", "seed=int(0,9)"]) == 2
    assert "pip install 'pdejax[sweep]'" in capsys.readouterr().err
