"""Interrupts at any moment (issue 11, item 8), at deterministic points (``PDEJAX_FAULT``).

``fault_point(stage)`` sends this process SIGINT (or ``PDEJAX_FAULT_SIGNAL``) where
``PDEJAX_FAULT`` names the stage: what a user's Ctrl-C there would do, without timing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml

import pdejax
from pdejax.training import Interrupted
from tests.conftest import tiny_config


def _config(tmp_path, **train):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(train={"steps": 100, "checkpoint_every": 50, **train})))
    return path


@pytest.mark.parametrize("existing", [False, True], ids=["new-dir", "empty-dir"])
@pytest.mark.parametrize("stage", ["after_lock", "after_build", "after_config"])
def test_sigint_during_start_up_leaves_nothing(tmp_path, monkeypatch, stage, existing):
    run = tmp_path / "run"
    if existing:
        run.mkdir()
    monkeypatch.setenv("PDEJAX_FAULT", f"train:{stage}")
    with pytest.raises(KeyboardInterrupt):
        pdejax.train(_config(tmp_path), run_dir=run)
    assert (list(run.iterdir()) == []) if existing else not run.exists()


def test_same_run_dir_works_after_an_interrupted_start(tmp_path, monkeypatch):
    run = tmp_path / "run"
    monkeypatch.setenv("PDEJAX_FAULT", "train:after_config")
    with pytest.raises(KeyboardInterrupt):
        pdejax.train(_config(tmp_path), run_dir=run)
    monkeypatch.delenv("PDEJAX_FAULT")
    assert pdejax.train(_config(tmp_path, steps=50), run_dir=run).summary["steps"] == 50


def test_sigint_after_the_first_checkpoint_is_resumable(tmp_path, monkeypatch):
    run = tmp_path / "run"
    monkeypatch.setenv("PDEJAX_FAULT", "train:after_checkpoint:50")
    with pytest.raises(Interrupted) as err:
        pdejax.train(_config(tmp_path), run_dir=run)
    assert err.value.step == 50 and err.value.saved
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "50").is_dir()
    monkeypatch.delenv("PDEJAX_FAULT")
    run2 = pdejax.train(resume=run)
    assert run2.summary["resumed_from"] == 50 and run2.summary["steps"] == 100
    assert [json.loads(r)["step"] for r in (run / "metrics.jsonl").read_text().splitlines()] == [50, 100]


def _cli(tmp_path, *args, **fault):
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1", **fault}
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, "-m", "pdejax.cli", "train", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_repeated_sigints_end_quietly(tmp_path):
    # Three SIGINTs while the checkpoint is saved, then one more once the CLI is stopping.
    run = tmp_path / "run"
    proc = _cli(tmp_path, str(_config(tmp_path)), "--run-dir", str(run),
                PDEJAX_FAULT="train:after_checkpoint:50,stopping", PDEJAX_FAULT_REPEAT="3")
    assert proc.returncode == 128 + signal.SIGINT, proc.stderr
    assert "SIGINT received: stopped at step 50" in proc.stderr
    assert f"Continue with: pdejax train --resume {run}" in proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert (run / "checkpoints" / "50").is_dir()


def test_sigterm_before_the_first_step_removes_the_run_quietly(tmp_path):
    # SIGTERM after config.yaml is written, and two more while the run directory is removed.
    run = tmp_path / "run"
    proc = _cli(tmp_path, str(_config(tmp_path)), "--run-dir", str(run), PDEJAX_FAULT_SIGNAL="SIGTERM",
                PDEJAX_FAULT="train:after_config,train:cleanup", PDEJAX_FAULT_REPEAT="2")
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr.strip() == "pdejax: interrupted; nothing was left half-written"
    assert not run.exists()


def test_batch_feed_close_leaves_no_thread_behind():
    import threading
    import time

    import numpy as np

    from pdejax.data.batches import BatchFeed

    def slow(idx, rng):
        time.sleep(0.2)
        return {"x": np.asarray(idx)}

    feed = BatchFeed(slow, 10, 2, seed=0)
    feed.get(0, 1)  # the next call's batch is now being read
    before = set(threading.enumerate())
    feed.close()
    feed.close()
    assert not any(t.is_alive() for t in before - {threading.current_thread()} if "ThreadPool" in t.name)


def test_data_generate_interrupted_after_a_chunk_releases_its_lock_and_resumes(tmp_path, monkeypatch, capsys):
    from pdejax.cli import main
    from tests.data.conftest import read_all, tiny_heat

    cfg = tmp_path / "heat.yaml"
    cfg.write_text(yaml.safe_dump(tiny_heat()))
    args = ["data", "generate", str(cfg), "--out", str(tmp_path / "heat.h5"), "--no-progress"]
    monkeypatch.setenv("PDEJAX_FAULT", "data:chunk:0")
    assert main(args) == 128 + signal.SIGINT
    assert "finished chunks are saved" in capsys.readouterr().err
    assert read_all(tmp_path / "heat.h5")["completed"].tolist() == [1, 0, 0, 0]
    assert not (tmp_path / "heat.h5.lock").exists()
    monkeypatch.delenv("PDEJAX_FAULT")
    assert main(args) == 0
    assert "(3 computed, 1 already on disk)" in capsys.readouterr().out
