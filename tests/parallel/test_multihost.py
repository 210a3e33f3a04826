"""Multi-process data parallelism on localhost: 2 processes x 2 CPU devices (gloo) against 1 x 4.

One launch of two worker processes (``pdejax.parallel.initialize`` + ``pdejax.train``)
runs every two-process job in turn; the one-process references run in this process (four
CPU devices, see conftest). A second launch, through the CLI, is killed half-way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest
import yaml

import pdejax
from pdejax.config.errors import ConfigError
from pdejax.data import generate
from pdejax.data.batches import BatchFeed
from pdejax.parallel.distributed import WATCHDOG_EXIT, check_settings, detect_cluster
from tests.conftest import REPO, tiny_config
from tests.data.conftest import tiny_heat

WORKER = """
import json, sys
import pdejax
pid, n, port, jobs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
assert pdejax.parallel.initialize(f"localhost:{port}", n, pid, initialization_timeout=60, heartbeat_timeout=20)
for job in jobs:
    pdejax.train(job.get("config"), job.get("overrides", []), run_dir=job.get("run_dir"), resume=job.get("resume"))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _env(cache: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "2", "XLA_FLAGS": "", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("JAX_ENABLE_X64", None)
    if cache is not None:  # later jobs of a launch reuse the programs the first ones compiled
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    return env


def _launch(argv_of, cwd: Path, n: int = 2, cache: Path | None = None) -> list[subprocess.Popen]:
    port = _free_port()
    return [subprocess.Popen(argv_of(i, n, port), cwd=cwd, env=_env(cache), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for i in range(n)]


def _params(run_dir: Path) -> list[np.ndarray]:
    run = pdejax.load_run(run_dir)
    with jax.enable_x64(run.config.dtype == "float64"):
        return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(run.model, eqx.is_array))]


def _rel(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert [x.shape for x in a] == [y.shape for y in b] and [x.dtype for x in a] == [y.dtype for y in b]
    return max(float(np.max(np.abs(x - y)) / max(np.max(np.abs(y)), 1e-30)) for x, y in zip(a, b))


def _without(src: Path, dest: Path, *names: str) -> Path:
    """A copy of run ``src`` without some of its entries (a checkpoint, the model, the summary)."""
    shutil.copytree(src, dest)
    for name in names:
        path = dest / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return dest


PINN = tiny_config(parallel={"data": -1}, train={"checkpoint_every": 100, "keep_checkpoints": 5})


def _fno(path: Path) -> dict:
    cfg = tiny_config(data={"path": str(path), "input": {"tensor": [0]}, "output": {"tensor": [-1]},
                            "n_train": 8, "n_test": 4, "batch_size": 4, "stream": True},
                      parallel={"data": -1}, dtype="float64")
    cfg["objective"] = {"name": "operator"}
    cfg["model"] = {"name": "fno", "modes": [4], "width": 4, "n_layers": 1}
    del cfg["pde"], cfg["evaluation"]
    return cfg


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """References in this process (1 x 4 devices), then every 2 x 2 job in one launch."""
    tmp = tmp_path_factory.mktemp("multihost")
    data = tmp / "heat.h5"
    generate(tiny_heat(n_samples=12, chunk_size=4), data, progress=False)
    (tmp / "pinn.yaml").write_text(yaml.safe_dump(PINN))
    (tmp / "fno.yaml").write_text(yaml.safe_dump(_fno(data)))
    out = {"tmp": tmp}
    out["ref_pinn"] = pdejax.train(tmp / "pinn.yaml", run_dir=tmp / "ref_pinn").directory
    out["ref_fno"] = pdejax.train(tmp / "fno.yaml", run_dir=tmp / "ref_fno").directory
    # A checkpoint written by one process, resumed by two: as it is (no step left), and from step 100.
    same = _without(out["ref_pinn"], tmp / "from1_same", "model", "summary.json")
    later = _without(out["ref_pinn"], tmp / "from1_later", "checkpoints/200", "model", "summary.json")
    jobs = [{"config": str(tmp / "pinn.yaml"), "run_dir": str(tmp / "mh_pinn")},
            {"config": str(tmp / "fno.yaml"), "run_dir": str(tmp / "mh_fno")},
            {"resume": str(same)}, {"resume": str(later)}]
    t0 = time.perf_counter()
    procs = _launch(lambda i, n, port: [sys.executable, "-c", WORKER, str(i), str(n), str(port), json.dumps(jobs)],
                    tmp, cache=tmp / "compiled")
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err[-3000:]
    out.update(mh_pinn=tmp / "mh_pinn", mh_fno=tmp / "mh_fno", from1_same=same, from1_later=later,
               launch_s=time.perf_counter() - t0)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name, tol", [("pinn", 1e-6), ("fno", 1e-12)])
def test_two_processes_train_like_one(runs, name, tol):
    """Same global batches (device-drawn collocation points; HDF5 rows read per process),
    same parameters after 200 steps: float32 PINN to 1e-6, float64 FNO to 1e-12."""
    mh, ref = runs[f"mh_{name}"], runs[f"ref_{name}"]
    assert _rel(_params(mh), _params(ref)) <= tol
    summary = json.loads((mh / "summary.json").read_text())
    assert summary["process_count"] == 2 and summary["device_count"] == 4 and summary["steps"] == 200
    ref_summary = json.loads((ref / "summary.json").read_text())
    for key, value in ref_summary["metrics"].items():
        assert summary["metrics"][key] == pytest.approx(value, rel=1e3 * tol)
    # Process 0 alone wrote the run's files, each once.
    assert sorted(p.name for p in mh.iterdir()) == sorted(p.name for p in ref.iterdir())
    records = [json.loads(line) for line in (mh / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [50, 100, 150, 200]


@pytest.mark.slow
def test_checkpoints_move_between_process_counts(runs):
    """Written by 1 process, restored by 2 (and the reverse): bitwise the saved state;
    training continued from step 100 in the other layout ends where the run did (1e-6)."""
    ref, mh = runs["ref_pinn"], runs["mh_pinn"]
    # 1 -> 2: restored by two processes (no step left) and saved again: bitwise the 1-process model.
    assert _rel(_params(runs["from1_same"]), _params(ref)) == 0.0
    later = json.loads((runs["from1_later"] / "summary.json").read_text())
    assert later["resumed_from"] == 100 and later["process_count"] == 2
    assert _rel(_params(runs["from1_later"]), _params(ref)) <= 1e-6
    # 2 -> 1: the 2-process checkpoint 200 restored here is bitwise the model they saved ...
    tmp = runs["tmp"]
    assert _rel(_params(_without(mh, tmp / "from2_same", "model")), _params(mh)) == 0.0
    # ... and training resumed here from its checkpoint 100 ends where it ended.
    run = pdejax.train(resume=_without(mh, tmp / "from2_later", "checkpoints/200", "model", "summary.json"))
    assert run.summary["resumed_from"] == 100 and run.summary["process_count"] == 1
    assert _rel(_params(run.directory), _params(mh)) <= 1e-6


@pytest.mark.slow
def test_a_dead_process_stops_the_other(tmp_path):
    """Process 1 is killed mid-run: process 0 exits with status 75 and a one-line reason
    within the heartbeat timeout, instead of waiting in a collective forever."""
    cfg = tiny_config(parallel={"data": -1}, train={"steps": 100000, "steps_per_call": 50, "log_every": 50,
                                                     "eval_every": 100000, "checkpoint_every": 100000})
    (tmp_path / "long.yaml").write_text(yaml.safe_dump(cfg))

    def argv(i, n, port):
        return [sys.executable, "-m", "pdejax.cli", "train", "long.yaml", "--run-dir", "run",
                "--coordinator", f"localhost:{port}", "--num-processes", str(n), "--process-id", str(i),
                "distributed.heartbeat_timeout=3"]

    procs = _launch(argv, tmp_path)
    try:
        metrics = tmp_path / "run" / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while not (metrics.is_file() and metrics.read_text().count("\n") >= 1):
            assert time.monotonic() < deadline and procs[0].poll() is None, procs[0].communicate()[1][-2000:]
            time.sleep(0.2)
        procs[1].send_signal(signal.SIGKILL)
        t_kill = time.monotonic()
        _, err = procs[0].communicate(timeout=60)
        waited = time.monotonic() - t_kill
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert procs[0].returncode == WATCHDOG_EXIT, err[-2000:]
    assert "process 1 of 2 stopped responding" in err and "--resume" in err
    assert waited < 30


@pytest.mark.slow
def test_cpu_devices_flag_splits_the_cpu(tmp_path):
    """``--cpu-devices 4`` makes four CPU devices for the command (over the environment's 2)."""
    (tmp_path / "zero.yaml").write_text(yaml.safe_dump(tiny_config(parallel={"data": -1}, train={"steps": 0})))
    proc = subprocess.run([sys.executable, "-m", "pdejax.cli", "train", "zero.yaml", "--run-dir", "run",
                           "--cpu-devices", "4"], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["device_count"] == 4 and summary["process_count"] == 1
    proc = subprocess.run([sys.executable, "-m", "pdejax.cli", "train", "zero.yaml", "--cpu-devices", "0"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--cpu-devices = 0 is invalid" in proc.stderr, proc.stderr


def test_settings_are_checked_before_anything_starts(tmp_path):
    for args, key in (({"coordinator": "node0", "num_processes": 2, "process_id": 0}, "coordinator"),
                      ({"coordinator": "node0:99999", "num_processes": 2, "process_id": 0}, "coordinator"),
                      ({"coordinator": "node0:1234", "num_processes": 2, "process_id": 2}, "process_id"),
                      ({"coordinator": "node0:1234", "num_processes": 0, "process_id": 0}, "num_processes"),
                      ({"coordinator": "node0:1234", "num_processes": 2, "process_id": None}, "process_id")):
        with pytest.raises(ConfigError) as err:
            check_settings(**args)
        assert err.value.key == f"distributed.{key}"
    with pytest.raises(ConfigError, match="distributed.process_id = 3 is invalid"):
        pdejax.config.loading.load_config(tiny_config(distributed={"coordinator": "h:1", "num_processes": 2,
                                                                    "process_id": 3}))
    # A config naming more processes than this one has: refused before anything is written.
    with pytest.raises(ConfigError, match="distributed.num_processes = 2"):
        pdejax.train(tiny_config(distributed={"coordinator": "h:1", "num_processes": 2, "process_id": 0}),
                     run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    # The CLI: exit 2, one line naming the option, before JAX starts.
    proc = subprocess.run([sys.executable, "-m", "pdejax.cli", "train", "x.yaml", "--coordinator", "h:1",
                           "--num-processes", "2", "--process-id", "5"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--process-id = 5 is invalid: expected 0 .. 1" in proc.stderr
    slurm = {"SLURM_JOB_ID": "1", "SLURM_STEP_NODELIST": "n1", "SLURM_NTASKS": "2", "SLURM_PROCID": "0",
             "SLURM_LOCALID": "0"}
    assert detect_cluster(slurm) == "slurm" and detect_cluster({**slurm, "SLURM_NTASKS": "1"}) is None
    assert detect_cluster({"OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1", "OMPI_COMM_WORLD_SIZE": "4"}) == "ompi"
    assert detect_cluster({}) is None
    # Device-drawn points: each device draws its shard of the same global batch (any layout).
    assert jax.config.jax_threefry_partitionable


def test_host_batches_sliced_by_rows_are_the_global_batch_sliced():
    """A process's rows of a global batch (indices and per-sample draws such as window
    starts) are those rows of the whole batch: the global batch does not depend on the
    process count."""
    xs = np.arange(40.0)[:, None]

    def feed():
        return BatchFeed(lambda idx, start: {"x": xs[idx], "start": start}, len(xs), 8, seed=3,
                         draws=lambda rng, size: rng.integers(0, 100, size))

    whole, parts = feed(), [feed(), feed()]
    try:
        full = whole.get(4, 3)
        halves = [f.get(4, 3, rows=slice(4 * i, 4 * i + 4)) for i, f in enumerate(parts)]
        for key in ("x", "start"):
            np.testing.assert_array_equal(np.concatenate([h[key] for h in halves], axis=1), full[key])
    finally:
        for f in (whole, *parts):
            f.close()
