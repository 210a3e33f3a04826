"""Benchmark: one PINN training iteration on DeepXDE's Burgers set-up, in ms.

DeepXDE's example ``pinn_forward/Burgers.py``: network 2-20-20-20-1 tanh, 2540 interior
+ 80 boundary + 160 initial points (soft constraints, unit weights), Adam lr 1e-3.
pdejax runs the same sizes with fresh random points every step, ``steps_per_call``
steps per compiled call, residual derivatives by forward mode (nested jvp and Taylor
mode both reported). With ``--peer-python`` (default: /tmp/dde-venv/bin/python when it
exists) DeepXDE itself is timed in the same run by ``peers/deepxde_burgers.py``.

Prints one JSON object. Usage::

    python scripts/bench/pinn_burgers.py [--iterations 2000] [--peer-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import jax

import pdejax
from pdejax.training.loop import Start, _batch_constraint

HERE = Path(__file__).resolve().parent
DEEPXDE_SETUP = [
    "model.width=20", "model.depth=3", "model.activation=tanh",
    "objective.constraint=soft", "objective.n_collocation=2540", "objective.n_initial=160",
    "objective.n_boundary=80", "optimizer.name=adam", "optimizer.learning_rate=1e-3",
    "lbfgs.steps=0", "parallel.data=1",
]


def time_pdejax(iterations: int, steps_per_call: int, derivatives: str) -> dict:
    exp = pdejax.build(HERE.parents[1] / "configs/pinn/burgers.yaml",
                       DEEPXDE_SETUP + [f"objective.derivatives={derivatives}",
                                        f"train.steps={iterations}", f"train.steps_per_call={steps_per_call}",
                                        f"train.log_every={steps_per_call}", f"train.eval_every={steps_per_call}",
                                        f"train.checkpoint_every={steps_per_call}"])
    phase = exp.phases[0]
    start = Start(exp.objective, exp.model, exp.phases, 0, exp.mesh)
    state = start.state(0, start.params, start.batch_state, start.key, 0)
    run = jax.jit(lambda s: phase.run(exp.objective, start.static, {}, _batch_constraint(exp.mesh), s,
                                      steps_per_call), donate_argnums=0)
    t0 = time.perf_counter()
    state, per_step, _ = run(state)
    jax.block_until_ready(per_step)
    compile_s = time.perf_counter() - t0
    calls = max(1, iterations // steps_per_call)
    t0 = time.perf_counter()
    for _ in range(calls):
        state, per_step, _ = run(state)
    jax.block_until_ready(per_step)
    elapsed = time.perf_counter() - t0
    return {"ms_per_iter": 1e3 * elapsed / (calls * steps_per_call), "iterations": calls * steps_per_call,
            "first_call_s": compile_s, "final_loss": float(per_step["loss"][-1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--steps-per-call", type=int, default=100)
    default_peer = "/tmp/dde-venv/bin/python"
    ap.add_argument("--peer-python", default=default_peer if os.path.exists(default_peer) else None,
                    help="Python with deepxde installed (see peers/deepxde_burgers.py); 'none' to skip")
    args = ap.parse_args()
    out = {"benchmark": "pinn_burgers_deepxde_setup", "goal_ms_per_iter": 2.0,
           "platform": jax.devices()[0].platform, "cpu_count": os.cpu_count(),
           "jax": jax.__version__, "python": platform.python_version(), "pdejax": {}}
    for mode in ("jvp", "jet"):
        out["pdejax"][mode] = time_pdejax(args.iterations, args.steps_per_call, mode)
    best = min(out["pdejax"].values(), key=lambda r: r["ms_per_iter"])
    out["pdejax_ms_per_iter"] = best["ms_per_iter"]
    if args.peer_python and args.peer_python != "none":
        proc = subprocess.run([args.peer_python, str(HERE / "peers/deepxde_burgers.py"),
                               "--iterations", str(min(args.iterations, 1000))],
                              capture_output=True, text=True)
        if proc.returncode == 0 and proc.stdout.strip():
            peer = json.loads(proc.stdout.strip().splitlines()[-1])
            out["deepxde"] = peer
            out["speedup_vs_deepxde"] = peer["ms_per_iter"] / best["ms_per_iter"]
        else:
            out["deepxde"] = {"error": proc.stderr.strip().splitlines()[-1:] or "no output"}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())
