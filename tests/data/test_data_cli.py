"""``pdejax data generate | info | list`` end to end in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from pdejax.cli import main
from pdejax.data import load_dataset
from tests.data.conftest import read_all, tiny_heat

TINY_OVERRIDES = ["seed=3", "n_samples=7", "chunk_size=2", "generator.n_points=32", "generator.t_final=0.1",
                  "generator.save_every=5"]


def _env() -> dict[str, str]:
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1"}
    env.pop("XLA_FLAGS", None)
    return env


def _pdejax(*args, cwd, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pdejax.cli", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _run(*args, cwd) -> tuple[int, str, str]:
    proc = _pdejax(*args, cwd=cwd)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


@pytest.fixture
def heat_yaml(tmp_path):
    path = tmp_path / "heat.yaml"
    path.write_text(yaml.safe_dump(tiny_heat()))
    return path


def test_generate_info_and_rerun(heat_yaml, tmp_path, reference, monkeypatch, capsys):
    rc, out, err = _run("data", "generate", str(heat_yaml), "--out", "heat.h5", "--no-progress", cwd=tmp_path)
    assert rc == 0, err
    assert "samples: 7 in 4 chunks (4 computed, 0 already on disk)" in out
    data = load_dataset(tmp_path / "heat.h5")
    np.testing.assert_array_equal(data.tensor, load_dataset(reference[0]).tensor)
    assert data.attrs["command"] == f"pdejax data generate {heat_yaml} --out heat.h5 --no-progress"

    monkeypatch.chdir(tmp_path)  # the rest in-process: same code path, no second JAX start-up
    assert main(["data", "info", "heat.h5"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["complete"] and info["arrays"]["tensor"]["shape"] == [7, 3, 32]
    assert info["attrs"]["config"]["generator"]["name"] == "heat" and info["coordinates"]["x-coordinate"]["size"] == 32

    assert main(["data", "generate", str(heat_yaml), "--out", "heat.h5", "--no-progress"]) == 0
    assert "(0 computed, 4 already on disk)" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["generate", "heat.yaml", "--out", "x.h5", "chunk_size=0"], "chunk_size = 0 is invalid"),
    (["generate", "heat.yaml", "--out", "x.h5", "generator.dx=0.1"], "generator.dx = 0.1 is invalid"),
    (["generate", "missing.yaml", "--out", "x.h5"], "config file = 'missing.yaml' is invalid"),
    (["generate", "heat.yaml", "--out", "heat.yaml"], "heat.yaml: exists and is not a readable HDF5 file"),
    (["info", "nothing.h5"], "nothing.h5: does not exist"),
])
def test_errors_exit_2_with_one_paragraph(heat_yaml, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["data", *args, "--no-progress"] if args[0] == "generate" else ["data", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("pdejax: error:") and err.count("\n") == 1
    assert not (tmp_path / "x.h5").exists()


def test_list(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "heat" in out and "advection" in out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_leaves_a_resumable_file(tmp_path, signum):
    cfg = tmp_path / "heat.yaml"
    cfg.write_text(yaml.safe_dump(tiny_heat(n_samples=400, chunk_size=4)))
    args = ["data", "generate", str(cfg), "--out", "heat.h5", "--no-progress"]
    proc = _pdejax(*args, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not (tmp_path / "heat.h5").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Continue with: pdejax data generate" in err and "Traceback" not in err
    partial = read_all(tmp_path / "heat.h5")["completed"]
    assert partial.sum() < partial.size

    rc, out, err = _run(*args, cwd=tmp_path)
    assert rc == 0, err
    assert f"({partial.size - partial.sum()} computed, {partial.sum()} already on disk)" in out
    assert read_all(tmp_path / "heat.h5")["completed"].all()
