"""Benchmark: one PINN training iteration on DeepXDE's Burgers set-up, in ms; per-term gradients' cost.

DeepXDE's example ``pinn_forward/Burgers.py``: network 2-20-20-20-1 tanh, 2540 interior
+ 80 boundary + 160 initial points (soft constraints, unit weights), Adam lr 1e-3.
pdejax runs the same sizes with fresh random points every step, ``steps_per_call``
steps per compiled call, residual derivatives by forward mode (nested jvp and Taylor
mode both reported). With ``--peer-python`` (default: /tmp/dde-venv/bin/python when it
exists) DeepXDE itself is timed in the same run by ``peers/deepxde_burgers.py``.

``per_term`` times the same step (three loss terms: residual, initial, boundary) with
gradient combiners that need each term's gradient, against the summed loss
differentiated once (``fixed``): ``sum_per_term`` re-adds the per-term gradients
(pure overhead), ``grad_norm`` balances them; ``split`` / ``loop`` / ``vmap`` are the ways the
step takes the per-term gradients (``make_step(..., term_grads=...)``). ``per_term_allen_cahn``
does the same on the Allen–Cahn ``cpu`` benchmark (PirateNet, causal weighting) with 256
boundary points as a third term (``--no-allen-cahn`` skips it).

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
from pdejax.training import GradientCombiner, fixed, grad_norm, make_step

HERE = Path(__file__).resolve().parent
DEEPXDE_SETUP = [
    "model.width=20", "model.depth=3", "model.activation=tanh",
    "objective.constraint=soft", "objective.n_collocation=2540", "objective.n_initial=160",
    "objective.n_boundary=80", "optimizer.name=adam", "optimizer.learning_rate=1e-3",
    "lbfgs.steps=0", "parallel.data=1",
]


def sum_per_term() -> GradientCombiner:
    """Per-term gradients re-added with the fixed weights: the same update as ``fixed``."""
    base = fixed()

    def update(grads, losses, state, params):
        names = list(grads)
        return jax.tree.map(lambda *g: sum(state[n] * x for n, x in zip(names, g)), *grads.values()), state, {}

    return GradientCombiner(base.init, update, base.weights, per_term=True)


def make_runner(derivatives: str, steps_per_call: int, combiner: GradientCombiner | None = None,
                term_grads: str = "vmap", config: str = "pinn/burgers.yaml", overrides: list[str] | None = None):
    """A compiled ``steps_per_call``-step call on DeepXDE's set-up (or ``config`` with
    ``overrides``), and its first-call time."""
    overrides = DEEPXDE_SETUP if overrides is None else overrides
    exp = pdejax.build(config, overrides + [f"objective.derivatives={derivatives}"])
    m = exp.method
    step = make_step(m.objective, exp.phases[0].optimizer, exp.mesh, combiner=combiner or exp.combiner,
                     source=m.source, term_grads=term_grads)
    box = {"state": step.init(m.model, jax.random.PRNGKey(0))}

    def run(calls: int) -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            box["state"], logs = step(box["state"], n=steps_per_call)
        jax.block_until_ready(logs)
        box["loss"] = float(logs["loss"][-1])
        return time.perf_counter() - t0

    compile_s = run(1)
    return run, compile_s, box


# The Allen–Cahn cpu benchmark (PirateNet 3 x 64, causal weighting, 1024 collocation + 1024
# initial points) with a third loss term: 256 boundary points (periodic: u(-1) = u(1)).
ALLEN_CAHN_SETUP = ["objective.n_boundary=256"]


def per_term_table(config: str, overrides: list[str], derivatives: str, iterations: int,
                   steps_per_call: int) -> dict:
    """Step time with per-term gradients (re-added; grad-norm balancing) relative to the summed
    loss, on ``config``; both ways of taking the per-term reverse passes."""
    runners = {"fixed (summed loss, one gradient)": make_runner(derivatives, steps_per_call, fixed(), "split",
                                                                config, overrides)}
    for name, make in (("sum_per_term", sum_per_term), ("grad_norm", grad_norm)):
        for how in ("split", "loop", "vmap"):
            runners[f"{name} [{how}]"] = make_runner(derivatives, steps_per_call, make(), how, config, overrides)
    table = time_interleaved(runners, iterations, steps_per_call)
    base = table["fixed (summed loss, one gradient)"]["ms_per_iter"]
    return {"config": config, "overrides": overrides, "loss_terms": 3, "load_avg_1min": os.getloadavg()[0],
            **{k: {**v, "overhead_vs_fixed": v["ms_per_iter"] / base} for k, v in table.items()}}


def time_interleaved(runners: dict, iterations: int, steps_per_call: int, rounds: int = 3) -> dict:
    """Each runner ``rounds`` times in turn (the machine is shared: load drifts); the fastest round counts."""
    calls = max(1, iterations // (steps_per_call * rounds))
    best = {k: float("inf") for k in runners}
    for _ in range(rounds):
        for name, (run, _, _) in runners.items():
            best[name] = min(best[name], run(calls))
    return {name: {"ms_per_iter": 1e3 * best[name] / (calls * steps_per_call),
                   "iterations": rounds * calls * steps_per_call, "first_call_s": runners[name][1],
                   "final_loss": runners[name][2]["loss"]} for name in runners}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--steps-per-call", type=int, default=100)
    default_peer = "/tmp/dde-venv/bin/python"
    ap.add_argument("--peer-python", default=default_peer if os.path.exists(default_peer) else None,
                    help="Python with deepxde installed (see peers/deepxde_burgers.py); 'none' to skip")
    ap.add_argument("--allen-cahn", action=argparse.BooleanOptionalAction, default=True,
                    help="also time per-term gradients on the Allen–Cahn cpu benchmark (3 terms)")
    ap.add_argument("--allen-cahn-iterations", type=int, default=600)
    args = ap.parse_args()
    out = {"benchmark": "pinn_burgers_deepxde_setup", "goal_ms_per_iter": 2.0,
           "platform": jax.devices()[0].platform, "cpu_count": os.cpu_count(),
           "jax": jax.__version__, "python": platform.python_version(), "pdejax": {}}
    out["pdejax"] = time_interleaved({mode: make_runner(mode, args.steps_per_call) for mode in ("jvp", "jet")},
                                     args.iterations, args.steps_per_call)
    best = min(out["pdejax"].values(), key=lambda r: r["ms_per_iter"])
    out["pdejax_ms_per_iter"] = best["ms_per_iter"]
    mode = min(out["pdejax"], key=lambda k: out["pdejax"][k]["ms_per_iter"])
    runners = {"fixed (summed loss, one gradient)": make_runner(mode, args.steps_per_call)}
    for name, make in (("sum_per_term", sum_per_term), ("grad_norm", grad_norm)):
        for how in ("split", "loop", "vmap"):
            runners[f"{name} [{how}]"] = make_runner(mode, args.steps_per_call, make(), how)
    per_term = time_interleaved(runners, args.iterations, args.steps_per_call)
    base = per_term["fixed (summed loss, one gradient)"]["ms_per_iter"]
    out["per_term"] = {"loss_terms": 3, "derivatives": mode, "load_avg_1min": os.getloadavg()[0],
                       **{k: {**v, "overhead_vs_fixed": v["ms_per_iter"] / base} for k, v in per_term.items()}}
    if args.allen_cahn:
        out["per_term_allen_cahn"] = per_term_table(
            "pinn/allen_cahn_cpu.yaml", ALLEN_CAHN_SETUP, "auto", args.allen_cahn_iterations, 50)
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
