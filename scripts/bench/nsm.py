"""Benchmark: Neural Spectral Methods against the grid (PINO) residual, from the PDE alone.

For each problem, the shipped config pair ``operator/nsm_<problem>.yaml`` /
``operator/pino_<problem>.yaml`` — the same FNO (same parameter count), data, optimizer,
batch and number of steps; only ``objective.physics`` differs (``spectral`` / ``grid``) —
is trained with ``pdejax.train`` on the inputs only, then evaluated against the spectral
reference of the test set:

- ``poisson``: ``-Δu = s`` on the unit torus, sources from the periodic-kernel Gaussian
  process (the paper's), exact Fourier solutions at 64²; NSM on 31² Fourier nodes, the grid
  residual (FFT) on 64²;
- ``reaction_diffusion``: ``u_t = ν u_xx + ρ u(1 - u)``, ν = 0.01, ρ = 5, ETDRK4 reference,
  65 frames × 64 points; NSM on 16 Chebyshev × 63 Fourier nodes, the grid residual
  (trapezoidal in time, FFT in x) on the 65 × 64 frames;
- ``poisson_dirichlet``: ``-Δu = s`` on ``[0, 1]²`` with ``u = 0`` on the boundary, sources from
  a squared-exponential Gaussian random field (ℓ = 0.2) and Chebyshev-collocation references on
  the 33² Chebyshev–Lobatto nodes; NSM on 31² Chebyshev nodes with the boundary built in
  (``u = (1 - x̂²)(1 - ŷ²) v``: 33² coefficients), the grid residual by collocation matrices on
  the 33² nodes (interior nodes);
- ``navier_stokes``: forced 2D vorticity (the FNO forcing, ν = 2e-3), initial vorticity → the
  space-time vorticity, ETDRK4 reference; smaller than the shipped configs unless
  ``--full-size`` (see ``CPU_SIZES``): NSM on 8 Chebyshev times × 15² Fourier nodes with the
  stream function solved in coefficient space, the grid residual on 11 frames × 32².

Reported per run: the test relative L2 error (mean over samples), the final loss, the
median wall-clock milliseconds per training step over the logged intervals (several steps
per compiled call, as ``fit`` trains; the first interval, with compilation, is left out),
the CPU seconds of the whole run, the compile time and the load averages before and
after (other processes share the CPU: compare runs made under similar load). Prints one
JSON object. ``--quick`` is a smoke run (small data, 150 steps, width 16).

Usage::

    python scripts/bench/nsm.py --quick
    python scripts/bench/nsm.py --steps 2000 --out nsm.json
    python scripts/bench/nsm.py --problems poisson_dirichlet --steps 500
    python scripts/bench/nsm.py --problems navier_stokes --steps 500 --n-train 96 --n-test 32 --width 16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import jax

import pdejax

PROBLEMS = ("poisson", "reaction_diffusion", "poisson_dirichlet", "navier_stokes")
# The shipped Navier-Stokes pair is GPU-sized (64², t in [0, 50], 18 x 31 x 31 nodes, width 32 x 5
# layers); on a CPU it is run smaller: 32², t in [0, 5], 10 frames, 8 Chebyshev times x 15 x 15
# Fourier nodes (the grid residual on the 11 frames x 32²), FNO modes (4, 6, 6).
CPU_SIZES = {"navier_stokes": [
    "pde.t_final=5.0", "data.generate_overrides=[n_samples={n},generator.n_points=32,generator.t_final=5.0,"
    "generator.n_frames=10]", "objective.residual.sizes={{t: 8, x: 15, y: 15}}",
    "objective.residual.grid={{t: 11, x: 32, y: 32}}", "model.modes=[4,6,6]", "model.n_layers=4"]}


def run_one(problem: str, physics: str, args: argparse.Namespace, data_dir: Path, run_root: Path) -> dict:
    config = f"operator/{'nsm' if physics == 'spectral' else 'pino'}_{problem}.yaml"
    n_samples = args.n_test + args.n_train
    overrides = [
        f"data.path={data_dir / f'nsm_{problem}_{n_samples}.h5'}",
        f"data.generate_overrides=[n_samples={n_samples}]",
        f"data.n_test={args.n_test}", f"data.n_train={args.n_train}", f"data.batch_size={args.batch_size}",
        f"train.steps={args.steps}", f"train.log_every={args.log_every}", f"train.eval_every={args.steps}",
        f"train.checkpoint_every={args.steps}", "train.progress=false", "train.plots=false",
        "train.loggers=[jsonl]", f"optimizer.learning_rate.transition_steps={args.steps}",
        f"model.width={args.width}", "parallel.data=1", f"seed={args.seed}",
    ]
    if problem in CPU_SIZES and not args.full_size:
        overrides = [o for o in overrides if not o.startswith("data.generate_overrides")]
        overrides += [o.format(n=n_samples) for o in CPU_SIZES[problem]]
        overrides[0] = f"data.path={data_dir / f'nsm_{problem}_cpu_{n_samples}.h5'}"
    load_before = os.getloadavg()
    cpu = time.process_time()
    run = pdejax.train(config, overrides, run_dir=run_root / f"{problem}_{physics}")
    cpu = time.process_time() - cpu
    records = [r for r in run.history if "steps_per_s" in r]
    ms = [1000.0 / r["steps_per_s"] for r in records[1:]] or [1000.0 / r["steps_per_s"] for r in records]
    summary = run.summary
    params = sum(x.size for x in jax.tree.leaves(run.model.model) if hasattr(x, "size"))
    return {"problem": problem, "physics": physics, "config": config, "steps": summary["steps"],
            "rel_l2": summary["rel_l2"], "final_loss": summary["final"].get("physics"),
            "ms_per_step_median": statistics.median(ms), "ms_per_step_min": min(ms),
            "wall_s": summary["wall_s"], "compile_s": summary["compile_s"], "cpu_s": cpu, "parameters": int(params),
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small data, 150 steps, width 16")
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated: " + ",".join(PROBLEMS))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-train", type=int, default=512)
    parser.add_argument("--n-test", type=int, default=128)
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None, help="where the data files are made (kept)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--full-size", action="store_true", help="navier_stokes at the shipped (GPU) sizes")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.width, args.n_train, args.n_test, args.log_every = 150, 16, 48, 16, 50
        args.batch_size = min(args.batch_size, 8)
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / "pdejax_bench_nsm"
    data_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as runs:
        for problem in args.problems.split(","):
            if problem not in PROBLEMS:
                raise SystemExit(f"--problems: {problem!r} is not one of {', '.join(PROBLEMS)}")
            for physics in ("spectral", "grid"):
                results.append(run_one(problem, physics, args, data_dir, Path(runs)))
                print(json.dumps(results[-1]), flush=True)
    out = {"benchmark": "nsm", "quick": args.quick, "steps": args.steps, "width": args.width,
           "batch_size": args.batch_size, "n_train": args.n_train, "n_test": args.n_test,
           "platform": platform.platform(), "cpus": os.cpu_count(), "jax": jax.__version__, "results": results}
    text = json.dumps(out, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
