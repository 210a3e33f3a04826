"""Multi-process data parallelism on localhost: 2 processes x 2 CPU devices (gloo) against 1 x 4.

One launch of two worker processes (``pdejax.parallel.initialize`` + ``pdejax.train``)
runs every two-process job in turn; the one-process references run in this process (four
CPU devices, see conftest). A second launch, through the CLI, is killed half-way.
"""

from __future__ import annotations

import json
import os
import shutil
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
import json, os, sys, threading, time
from pathlib import Path
from pdejax.cli import main
pid, n, port, jobs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
launch = ["--coordinator", f"localhost:{port}", "--num-processes", str(n), "--process-id", str(pid),
          "--cpu-devices", "2", "--no-progress"]
for job in jobs:
    if job.get("kill") == pid:  # die once the run has logged a step; the others must stop, not hang
        def die(metrics=Path(job["args"][job["args"].index("--run-dir") + 1]) / "metrics.jsonl"):
            while not (metrics.is_file() and metrics.read_text()):
                time.sleep(0.05)
            Path("killed_at").write_text(str(time.time()))
            os._exit(9)
        threading.Thread(target=die, daemon=True).start()
    assert main(["train", *job["args"], *launch]) == 0, job
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    # One CPU device per process unless --cpu-devices says otherwise.
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1", "XLA_FLAGS": "", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env.pop("JAX_ENABLE_X64", None)
    return env


def _launch(argv_of, cwd: Path, n: int = 2) -> list[subprocess.Popen]:
    port = _free_port()
    return [subprocess.Popen(argv_of(i, n, port), cwd=cwd, env=_env(), stdout=subprocess.PIPE,
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
    """References in this process (1 x 4 devices), then every 2 x 2 job in one launch of
    ``pdejax train`` (the CLI's ``main``, called once per job in each process), the last
    one with process 1 killed half-way."""
    tmp = tmp_path_factory.mktemp("multihost")
    data = tmp / "heat.h5"
    generate(tiny_heat(n_samples=12, chunk_size=4), data, progress=False)
    (tmp / "pinn.yaml").write_text(yaml.safe_dump(PINN))
    (tmp / "fno.yaml").write_text(yaml.safe_dump(_fno(data)))
    long = tiny_config(parallel={"data": -1}, train={"steps": 100000, "steps_per_call": 50, "log_every": 50,
                                                      "eval_every": 100000, "checkpoint_every": 100000})
    (tmp / "long.yaml").write_text(yaml.safe_dump(long))
    out = {"tmp": tmp}
    out["ref_pinn"] = pdejax.train(tmp / "pinn.yaml", run_dir=tmp / "ref_pinn").directory
    out["ref_fno"] = pdejax.train(tmp / "fno.yaml", run_dir=tmp / "ref_fno").directory
    # A checkpoint written by one process, resumed by two (no step left: the state restored is saved).
    same = _without(out["ref_pinn"], tmp / "from1_same", "model", "summary.json")
    # A short heartbeat timeout for the killed run (the first run's settings start the processes).
    jobs = [{"args": ["pinn.yaml", "--run-dir", "mh_pinn", "distributed.heartbeat_timeout=5"]},
            {"args": ["fno.yaml", "--run-dir", "mh_fno"]},
            {"args": ["--resume", "from1_same"]},
            {"args": ["long.yaml", "--run-dir", "killed"], "kill": 1}]
    procs = _launch(lambda i, n, port: [sys.executable, "-c", WORKER, str(i), str(n), str(port), json.dumps(jobs)],
                    tmp)
    try:
        _, err = procs[0].communicate(timeout=600)
        out["ended_at"] = time.time()
        procs[1].communicate(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    out.update(mh_pinn=tmp / "mh_pinn", mh_fno=tmp / "mh_fno", from1_same=same,
               returncodes=[p.returncode for p in procs], stderr=err,
               killed_at=float((tmp / "killed_at").read_text()) if (tmp / "killed_at").exists() else None)
    # Process 0 got through the runs before the last (whose other process was killed).
    assert out["returncodes"] == [WATCHDOG_EXIT, 9], err[-3000:]
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
    training continued in 1 process from the 2 processes' step 100 ends where they did (1e-6)."""
    ref, mh = runs["ref_pinn"], runs["mh_pinn"]
    # 1 -> 2: restored by two processes (no step left) and saved again: bitwise the 1-process model.
    assert _rel(_params(runs["from1_same"]), _params(ref)) == 0.0
    same = json.loads((runs["from1_same"] / "summary.json").read_text())
    assert same["resumed_from"] == 200 and same["process_count"] == 2
    # 2 -> 1: the 2-process checkpoint 200 restored here is bitwise the model they saved ...
    tmp = runs["tmp"]
    assert _rel(_params(_without(mh, tmp / "from2_same", "model")), _params(mh)) == 0.0
    # ... and training resumed here from its checkpoint 100 ends where it ended.
    run = pdejax.train(resume=_without(mh, tmp / "from2_later", "checkpoints/200", "model", "summary.json"))
    assert run.summary["resumed_from"] == 100 and run.summary["process_count"] == 1
    assert _rel(_params(run.directory), _params(mh)) <= 1e-6


@pytest.mark.slow
def test_a_dead_process_stops_the_other(runs):
    """Process 1 is killed mid-run: process 0 exits with status 75 and a one-line reason
    within the heartbeat timeout (5 s here), instead of waiting in a collective forever."""
    err = runs["stderr"]
    assert "process 1 of 2 stopped responding" in err and "--resume" in err, err[-2000:]
    assert runs["killed_at"] is not None and runs["ended_at"] - runs["killed_at"] < 20


def test_cpu_devices_is_checked():
    from pdejax.cli import main

    assert main(["train", "x.yaml", "--cpu-devices", "0"]) == 2


def test_settings_are_checked_before_anything_starts(tmp_path, capsys):
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
    # The CLI: exit 2, one line naming the option, before JAX's processes start.
    from pdejax.cli import main

    assert main(["train", "x.yaml", "--coordinator", "h:1", "--num-processes", "2", "--process-id", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--process-id = 5 is invalid: expected 0 .. 1" in err, err
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
