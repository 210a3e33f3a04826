"""Whole runs through the CLI: artifacts, kill -9 + resume (bitwise), SIGTERM, load_run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import pdejax
from tests.conftest import tiny_config

pytestmark = pytest.mark.slow

# Adam then L-BFGS with adaptive (RAD) points, so a resume must restore the sampler
# state and the L-BFGS phase state, not just the parameters.
RESUMABLE = tiny_config(
    objective={"n_collocation": 128, "sampler": {"name": "rad", "every": 200}},
    train={"steps": 1200, "steps_per_call": 50, "log_every": 50, "eval_every": 400,
           "checkpoint_every": 100, "keep_checkpoints": 20, "progress": False, "plots": True},
    lbfgs={"steps": 400, "resample_every": 200},  # the resumed stretch crosses a resampling
)


def _cli(*args, cwd, env_extra=None, **kw):
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1", **(env_extra or {})}
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen([sys.executable, "-m", "pdejax.cli", "train", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _write_config(tmp_path: Path) -> Path:
    path = tmp_path / "resumable.yaml"
    path.write_text(yaml.safe_dump(RESUMABLE))
    return path


def _steps(run_dir: Path) -> list[int]:
    ck = run_dir / "checkpoints"
    return sorted(int(p.name) for p in ck.iterdir() if p.name.isdigit()) if ck.exists() else []


def _params(run_dir: Path):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(pdejax.load_run(run_dir).model, eqx.is_array))]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """An uninterrupted run of RESUMABLE through the CLI."""
    tmp = tmp_path_factory.mktemp("ref")
    cfg = _write_config(tmp)
    proc = _cli(str(cfg), "--run-dir", str(tmp / "run"), cwd=tmp)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return tmp / "run", out


def test_cli_run_leaves_complete_run_directory(reference_run):
    run_dir, out = reference_run
    assert "rel_l2" in out
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "plots/loss.png", "plots/solution_u.png"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] <= 1600 and summary["device_count"] == 1 and summary["compile_s"] > 0
    assert 0 < summary["rel_l2"] < 1.0
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records]
    assert steps == sorted(steps) and steps[0] == 50
    assert {"loss", "residual", "lr", "wall_s", "steps_per_s"} <= set(records[0])
    assert any("rel_l2" in r for r in records)
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert resolved["lbfgs"]["steps"] == 400 and resolved["optimizer"]["name"] == "adam"
    assert _steps(run_dir)  # checkpoints exist


def test_load_run_gives_physical_model(reference_run):
    run_dir, _ = reference_run
    run = pdejax.load_run(run_dir)
    assert run.config.pde.name == "burgers"
    u = run.model(jnp.array([0.5, 0.0]))
    assert u.shape == (1,)
    np.testing.assert_allclose(u, -np.sin(np.pi * 0.5), rtol=1e-6)  # hard initial condition
    batch = jax.vmap(run.model)(jnp.array([[-1.0, 0.3], [1.0, 0.7]]))
    assert batch.shape == (2, 1) and np.allclose(batch, 0, atol=1e-6)  # hard boundary condition
    assert run.summary["rel_l2"] == json.loads((run_dir / "summary.json").read_text())["rel_l2"]


def test_sigkill_then_resume_is_bitwise_identical(reference_run, tmp_path):
    ref_dir, _ = reference_run
    cfg = _write_config(tmp_path)
    run_dir = tmp_path / "killed"
    proc = _cli(str(cfg), "--run-dir", str(run_dir), cwd=tmp_path)
    deadline = time.time() + 300
    while not any(s >= 1300 for s in _steps(run_dir)):  # inside the L-BFGS phase
        assert proc.poll() is None, "run finished before it could be killed"
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "summary.json").exists()
    resumed = _cli("--resume", str(run_dir), cwd=tmp_path)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed_from"] >= 1300
    for a, b in zip(_params(ref_dir), _params(run_dir), strict=True):
        assert np.array_equal(a, b)
    ref_records = (ref_dir / "metrics.jsonl").read_text().splitlines()
    new_records = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["loss"] for r in ref_records] == [json.loads(r)["loss"] for r in new_records]


def test_sigterm_saves_checkpoint_and_exits_cleanly(tmp_path):
    cfg = _write_config(tmp_path)
    run_dir = tmp_path / "term"
    proc = _cli(str(cfg), "--run-dir", str(run_dir), cwd=tmp_path)
    while not _steps(run_dir):
        assert proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM" in err and "--resume" in err and "Traceback" not in err
    assert not (run_dir / "summary.json").exists()
    last = _steps(run_dir)[-1]
    assert last % 50 == 0 and last >= 100
