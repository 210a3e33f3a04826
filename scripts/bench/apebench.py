"""APEBench-style benchmark: autoregressive operators on pdejax's solvers, scored by the geometric mean nRMSE.

The protocol (APEBench, Koehler et al. 2024; /work/shared/REFERENCES.md): for every PDE,
training and test trajectories generated on the fly by pdejax's ETDRK4 solvers (default
160 points, 50 training trajectories × 50 steps, 30 test trajectories × 200 steps, the
test set from another data seed), a one-step operator trained with Adam (warmup-cosine
schedule, peak 1e-3, batch 20, 10k steps), and the test trajectories rolled out from
their first frame. The metric is the per-step nRMSE of the predicted frames (the input
frame is never scored: PDEBench's metric counts it, its issue #41),
:func:`pdejax.metrics.nrmse_per_step`, averaged over test trajectories and summarised by
:func:`pdejax.metrics.apebench_summary`: the geometric mean over the first 100 steps.
Every cell of the grid is trained once per ``--seeds`` (model initialisation, batch
order, augmentation and refiner draws; the data are the same) and reported as mean ± std.

The grid: PDE (``ks``: Kuramoto–Sivashinsky on [0, 64) after a burn-in of 20 time
units; ``kdv``: LPSDA's KdV; ``burgers``: FNO's viscous Burgers, ν = 0.01) × model (FNO,
U-Net) × PDE-Refiner (``objective.refiner``: 3 steps, min noise 1e-3) × Lie-point
symmetry augmentation (``objective.augment``, LPSDA's magnitudes). Writes a Markdown
table and a JSON file.

    python scripts/bench/apebench.py --quick --out apebench_quick       # 1 PDE, 2 arms, 2 seeds: a few minutes
    python scripts/bench/apebench.py --seeds 0 1 2 --out apebench       # the full grid (GPU-sized)
    python scripts/bench/apebench.py --pdes ks --models fno --refine off --augment off on --steps 2000

Never part of the test suite; ``tests/objectives/test_apebench.py`` checks the metric.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

# Per PDE: the generator (solved at its own resolution, stored at --points by striding), the
# frames dropped before the first stored one (transient), and LPSDA's augmentation magnitudes.
PDES = {
    "ks": {"generator": {"name": "kuramoto_sivashinsky", "n_points": 160, "length": 64.0, "dt": 0.05,
                         "frame_dt": 0.5, "sigma": 1.0, "precision": "float64"},
           "burn": 40, "augment": {"space_shift": 1.0, "galilean": 0.4}},
    "kdv": {"generator": {"name": "kdv_lpsda", "n_points": 320, "length": 128.0, "dt": 0.01, "frame_dt": 0.5,
                          "precision": "float64"},
            "burn": 0, "augment": {"space_shift": 1.0, "galilean": 0.4, "scaling": 0.1}},
    "burgers": {"generator": {"name": "burgers_fno", "n_points": 640, "nu": 0.01, "dt": 1e-3, "frame_dt": 0.01,
                              "precision": "float64"},
                "burn": 0, "augment": {"space_shift": 1.0, "galilean": 0.4}},
}
REFINER = {"steps": 3, "min_noise": 1e-3}
FULL = {"points": 160, "n_train": 50, "train_steps": 50, "n_test": 30, "test_steps": 200, "steps": 10_000,
        "batch_size": 20, "warmup": 500}
QUICK = {"points": 32, "n_train": 16, "train_steps": 20, "n_test": 8, "test_steps": 100, "steps": 300,
         "batch_size": 16, "warmup": 30}


def model_config(model: str, points: int) -> dict:
    if model == "fno":
        return {"name": "fno", "modes": [min(16, points // 2)], "width": 32, "n_layers": 4}
    return {"name": "unet", "dim": 1, "width": 16, "levels": 3, "padding_mode": "circular"}


def make_file(pde: str, n_samples: int, n_steps: int, points: int, seed: int, directory: Path) -> Path:
    """``n_samples`` trajectories of ``n_steps + 1`` frames (after the PDE's burn-in) at ``points`` points."""
    import h5py
    import jax

    from pdejax.data import generate

    spec = PDES[pde]
    gen = dict(spec["generator"])
    if gen["n_points"] % points:
        raise SystemExit(f"--points {points} must divide the {pde} solver's {gen['n_points']} points")
    gen["t_final"] = (spec["burn"] + n_steps) * gen["frame_dt"]
    cfg = {"name": f"apebench_{pde}", "seed": seed, "n_samples": n_samples, "chunk_size": 32, "dtype": "float32",
           "generator": gen, "store_stride": {"x": gen["n_points"] // points}}
    raw = directory / f"{pde}_{seed}_{n_samples}x{n_steps}_raw.h5"
    with jax.enable_x64(True):  # the solvers run in float64, as `pdejax data generate` does
        generate(cfg, raw, progress=False)
    path = raw.with_name(raw.name.replace("_raw", ""))
    first = spec["burn"]
    with h5py.File(raw) as src, h5py.File(path, "w") as dst:
        dst.attrs.update(dict(src.attrs))
        for name in src:
            data = src[name][()]
            if name == "tensor":
                data = data[:, first:first + n_steps + 1]
            elif name == "t-coordinate":
                data = data[first:first + n_steps + 1]
            dst.create_dataset(name, data=data)
            dst[name].attrs.update(dict(src[name].attrs))
    raw.unlink()
    return path


def train_config(path: Path, pde: str, model: str, refine: bool, augment: bool, seed: int, s: dict) -> dict:
    objective = {"name": "autoregressive", "history": 1, "loss": "mse", "window": "random"}
    if refine:
        objective["refiner"] = dict(REFINER)
    if augment:
        objective["augment"] = dict(PDES[pde]["augment"])
    return {
        "name": f"apebench_{pde}_{model}{'_refine' if refine else ''}{'_augment' if augment else ''}_{seed}",
        "seed": seed,
        # The training file holds 2 extra trajectories as the trainer's own (short) test split;
        # the APEBench numbers come from the separate long test set.
        "data": {"path": str(path), "trajectory": "tensor", "n_train": s["n_train"], "n_test": 2,
                 "batch_size": s["batch_size"], "normalize": "both"},
        "model": model_config(model, s["points"]),
        "objective": objective,
        "optimizer": {"name": "adam", "learning_rate": {
            "name": "warmup_cosine_decay_schedule", "init_value": 0.0, "peak_value": 1e-3,
            "warmup_steps": s["warmup"], "decay_steps": s["steps"]}},
        "train": {"steps": s["steps"], "steps_per_call": 50, "log_every": s["steps"], "eval_every": s["steps"],
                  "checkpoint_every": s["steps"], "progress": False, "plots": False},
        "evaluation": {"batch_size": 8},
        "parallel": {"data": 1},
    }


def test_curve(run_dir: Path, test_path: Path, first: int) -> dict:
    """Roll the trained model out over the test set; the per-step nRMSE (mean over trajectories)."""
    import equinox as eqx
    import h5py
    import jax
    import jax.numpy as jnp

    import pdejax
    from pdejax.metrics import apebench_summary, nrmse_per_step
    from pdejax.objectives.operator import rollout

    model = pdejax.load_run(run_dir).model
    with h5py.File(test_path) as f:
        trajs = jnp.asarray(f["tensor"][()])[:, :, None]  # (n_test, T + 1, field, x)
    pred = eqx.filter_jit(rollout)(model, trajs[:, :1], trajs.shape[1] - 1, key=jax.random.PRNGKey(0))
    per_step = nrmse_per_step(pred, trajs[:, 1:])  # the input frame is not scored
    curve = np.asarray(jnp.mean(per_step, axis=0))
    return {"gmean": float(apebench_summary(per_step, first)), "curve": [float(v) for v in curve],
            "nan": bool(np.any(~np.isfinite(curve)))}


def table(cells: list[dict], first: int) -> str:
    lines = [f"| PDE | model | refine | augment | gmean nRMSE (first {first} steps), mean ± std | seeds | "
             "nRMSE @1 | nRMSE @{first} | train wall s (mean) |".replace("{first}", str(first)),
             "|---|---|---|---|---|---|---|---|---|"]
    for c in cells:
        g = np.asarray(c["gmean"])
        curves = np.asarray(c["curves"])
        finite = g[np.isfinite(g)]  # a diverged rollout scores inf (nrmse_per_step): counted, not averaged
        summary = f"{finite.mean():.4g} ± {finite.std():.2g}" if len(finite) else "—"
        if len(finite) < len(g):
            first_inf = [int(np.argmax(~np.isfinite(cv))) + 1 for cv in curves if not np.all(np.isfinite(cv))]
            summary += f" ({len(g) - len(finite)} of {len(g)} diverged, from step {min(first_inf)})"
        lines.append(f"| {c['pde']} | {c['model']} | {'yes' if c['refine'] else 'no'} | "
                     f"{'yes' if c['augment'] else 'no'} | {summary} | {len(g)} | "
                     f"{curves[:, 0].mean():.3g} | {curves[:, min(first, curves.shape[1]) - 1].mean():.3g} | "
                     f"{np.mean(c['wall_s']):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="KS, FNO ± refiner, 2 seeds, 32 points, 300 steps")
    parser.add_argument("--pdes", nargs="+", choices=sorted(PDES), help="default: all (quick: ks)")
    parser.add_argument("--models", nargs="+", choices=["fno", "unet"], help="default: fno unet (quick: fno)")
    parser.add_argument("--refine", nargs="+", choices=["off", "on"], help="default: off on")
    parser.add_argument("--augment", nargs="+", choices=["off", "on"], help="default: off on (quick: off)")
    parser.add_argument("--seeds", type=int, nargs="+", help="default: 0 1 2 (quick: 0 1)")
    for key in FULL:
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, help=f"default {FULL[key]} (quick {QUICK[key]})")
    parser.add_argument("--first", type=int, default=100, help="steps in the geometric mean (APEBench: 100)")
    parser.add_argument("--out", type=Path, default=Path("apebench"), help="writes OUT.md and OUT.json")
    args = parser.parse_args()
    s = dict(QUICK if args.quick else FULL)
    s.update({k: getattr(args, k) for k in FULL if getattr(args, k) is not None})
    pdes = args.pdes or (["ks"] if args.quick else sorted(PDES))
    models = args.models or (["fno"] if args.quick else ["fno", "unet"])
    refines = [r == "on" for r in (args.refine or ["off", "on"])]
    augments = [a == "on" for a in (args.augment or (["off"] if args.quick else ["off", "on"]))]
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])
    if s["test_steps"] < args.first:
        print(f"note: {s['test_steps']} test steps < --first {args.first}: the geometric mean covers all of them")

    import jax

    import pdejax

    report = {"setting": s, "first": args.first, "refiner": REFINER, "load_before": os.getloadavg(),
              "cpu_count": os.cpu_count(), "devices": [str(d) for d in jax.devices()], "data": {}, "cells": []}
    start_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for pde in pdes:
            t = time.perf_counter()
            train_path = make_file(pde, s["n_train"] + 2, s["train_steps"], s["points"], 0, tmp)
            test_path = make_file(pde, s["n_test"], s["test_steps"], s["points"], 1, tmp)
            report["data"][pde] = {"generator": PDES[pde]["generator"], "burn_frames": PDES[pde]["burn"],
                                   "generate_s": round(time.perf_counter() - t, 1)}
            for model, refine, augment in itertools.product(models, refines, augments):
                cell = {"pde": pde, "model": model, "refine": refine, "augment": augment,
                        "gmean": [], "curves": [], "wall_s": [], "seeds": seeds}
                for seed in seeds:
                    cfg = train_config(train_path, pde, model, refine, augment, seed, s)
                    t = time.perf_counter()
                    pdejax.train(cfg, run_dir=tmp / cfg["name"], progress=False)
                    cell["wall_s"].append(round(time.perf_counter() - t, 1))
                    result = test_curve(tmp / cfg["name"], test_path, args.first)
                    cell["gmean"].append(result["gmean"])
                    cell["curves"].append(result["curve"])
                    print(f"{cfg['name']}: gmean nRMSE {result['gmean']:.4g} ({cell['wall_s'][-1]} s)", flush=True)
                report["cells"].append(cell)
                write(report, args, s, seeds, start_all, done=False)  # a partial table after every cell
    print(write(report, args, s, seeds, start_all, done=True))


def write(report: dict, args: argparse.Namespace, s: dict, seeds: list[int], start: float, *, done: bool) -> str:
    """Writes OUT.md and OUT.json (marked unfinished until ``done``); returns the Markdown."""
    report["total_s"] = round(time.perf_counter() - start, 1)
    report["load_after"] = os.getloadavg()
    report["finished"] = done
    md = table(report["cells"], args.first)
    label = "quick" if args.quick else ("full" if s == FULL else "custom sizes")
    header = (f"APEBench-style grid ({label}{'' if done else ', unfinished'}): {s['points']} points, "
              f"{s['n_train']} train × {s['train_steps']} steps, {s['n_test']} test × {s['test_steps']} steps, "
              f"Adam warmup-cosine 1e-3, batch {s['batch_size']}, {s['steps']} steps; seeds {seeds}; "
              f"total {report['total_s']} s on {report['devices']}.\n\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(header + md + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    return header + md


if __name__ == "__main__":
    main()
