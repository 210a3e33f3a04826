"""One writer per run directory and per dataset file (issue 11, item 2), in-process."""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys

import pytest
import yaml

import pdejax
from pdejax._runlock import RUN_LOCK, FileLock, holder
from pdejax.cli import main
from pdejax.config.errors import ConfigError
from tests.conftest import tiny_config
from tests.data.conftest import tiny_heat


def _fake_lock(path, pid, host=None):
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                "started": "2026-11-30T12:00:00+00:00", "command": "pdejax train x.yaml"}))


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _config(tmp_path, **train):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(train={"steps": 50, "checkpoint_every": 50, **train})))
    return path


def test_live_holder_refused_naming_it(tmp_path, live_pid, capsys):
    run = tmp_path / "run"
    run.mkdir()
    _fake_lock(run / RUN_LOCK, live_pid)  # a run starting in this directory
    assert main(["train", str(_config(tmp_path)), "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"pid {live_pid} on host {socket.gethostname()}, since 2026-11-30T12:00:00+00:00" in err
    assert "in use by another pdejax process" in err and "Traceback" not in err
    assert holder(run / RUN_LOCK)["pid"] == live_pid  # the holder's lock is untouched


def test_lock_held_in_process_refuses_a_second_writer(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with FileLock(run / RUN_LOCK, key="--run-dir"):
        with pytest.raises(ConfigError, match=f"pid {os.getpid()}"):
            pdejax.train(_config(tmp_path), run_dir=run)
        assert (run / RUN_LOCK).exists()
    assert list(run.iterdir()) == []


def test_lock_from_another_host_refused_with_advice(tmp_path):
    path = tmp_path / "out.h5.lock"
    _fake_lock(path, 1, host="elsewhere.example")
    with pytest.raises(ConfigError, match="cannot check a process on another host") as err:
        FileLock(path, key="--out").acquire()
    assert f"delete {path}" in str(err.value) and "elsewhere.example" in str(err.value)


def test_stale_lock_taken_over_released_after_a_run_and_resume_locked(tmp_path, dead_pid, live_pid, capsys):
    run = tmp_path / "run"
    run.mkdir()
    _fake_lock(run / RUN_LOCK, dead_pid)  # left by a process killed with SIGKILL
    result = pdejax.train(_config(tmp_path), run_dir=run)
    assert result.summary["steps"] == 50
    assert "taking over the stale lock" in capsys.readouterr().err
    assert not (run / RUN_LOCK).exists()
    metrics = (run / "metrics.jsonl").read_text()
    _fake_lock(run / RUN_LOCK, live_pid)  # still training: a second --resume is refused
    assert main(["train", "--resume", str(run), "train.steps=100"]) == 2
    assert f"--resume {run} is in use by another pdejax process: pid {live_pid}" in capsys.readouterr().err
    assert (run / "metrics.jsonl").read_text() == metrics and holder(run / RUN_LOCK)["pid"] == live_pid


def test_lock_released_and_new_run_removed_after_an_error(tmp_path, monkeypatch):
    train_module = importlib.import_module("pdejax.experiment.train")  # the module, not the function

    def broken(cfg):
        raise RuntimeError("build failed")

    monkeypatch.setattr(train_module, "_build", broken)
    with pytest.raises(RuntimeError, match="build failed"):
        pdejax.train(_config(tmp_path), run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_data_generate_refuses_a_locked_file_and_overwrite_keeps_it(tmp_path, capsys):
    cfg = tmp_path / "heat.yaml"
    cfg.write_text(yaml.safe_dump(tiny_heat()))
    out = tmp_path / "heat.h5"
    assert main(["data", "generate", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert not (tmp_path / "heat.h5.lock").exists()
    before = out.read_bytes()
    capsys.readouterr()
    with FileLock(tmp_path / "heat.h5.lock", key="--out"):  # another writer
        for extra in ([], ["--overwrite"]):
            assert main(["data", "generate", str(cfg), "--out", str(out), "--no-progress", *extra]) == 2
            err = capsys.readouterr().err
            assert f"--out {out} is in use by another pdejax process: pid {os.getpid()}" in err
            assert out.read_bytes() == before
    assert main(["data", "generate", str(cfg), "--out", str(out), "--no-progress", "--overwrite"]) == 0
