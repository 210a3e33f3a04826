"""Benchmark: PDE-Refiner against the same operator without refinement, on Kuramoto–Sivashinsky.

What runs
---------
A KS dataset from pdejax's generator (``kuramoto_sivashinsky``: u_t + u u_x + u_xx +
u_xxxx = 0, periodic ``[0, L)``, smooth Gaussian random initial fields, ETDRK4 in float64,
stored in float32). The first ``burn`` time units of every trajectory (the transient
from the smooth initial field to the chaotic attractor) are dropped. Then a U-Net and an
FNO are each trained twice at the same step budget, batch, optimiser and seed: plain
(one-step MSE, ``history`` = 1 previous frame) and with ``objective.refiner`` (K = 3,
``min_noise`` = 2e-7: the paper's KS setting). The test trajectories are rolled out from
their first frame to the end (the refined models with 1 + K network calls per step).

Reported per run: the one-step relative L2 error on the test frames (teacher-forced: true
previous frame in; for a refined model both the first prediction ``k = 0`` and the refined
one), for a refined model its loss at each step ``k`` on the test frames in normalised units
(``k = 0``: the one-step MSE over the field's variance; ``k > 0``: the noise MSE, where 1
means the network learnt nothing about the noise — as for every step whose noise level is
below the one-step error), the high-correlation time (mean, standard deviation over test
trajectories, the fraction of trajectories that never dropped below 0.8 — for those the
time is the rollout length, a lower bound), relative L2 and nRMSE at a few horizons
(time after the input frame; the input frame is never scored), the training wall time,
and the parameter count. The load averages of the machine go in the JSON: the timings are
only comparable under similar load.

Scale. The paper trains on 2048 KS trajectories of 256 points (L ≈ 64) for many epochs
on a GPU; this is a CPU-sized version (``--quick``: a few minutes in all; default: about
ten minutes per run on two cores), so absolute numbers are far below the paper's and
the comparison is between the two variants at this budget only.

    python scripts/bench/refiner_ks.py --quick
    python scripts/bench/refiner_ks.py --models unet fno --out refiner_ks.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import equinox as eqx
import h5py
import jax
import jax.numpy as jnp
import numpy as np

import pdejax
from pdejax import metrics
from pdejax.data import generate
from pdejax.models import apply_batch
from pdejax.objectives.operator import RefinedOperator, rollout

SETTINGS = {
    # L = 64 as in the paper; 128 points (the paper: 256); frames 0.2 apart.
    "full": {"n_points": 128, "length": 64.0, "dt": 0.05, "frame_dt": 0.2, "burn": 20.0, "horizon": 60.0,
             "n_train": 96, "n_test": 32, "batch_size": 32, "steps": 3000, "horizons": [1.0, 5.0, 10.0, 20.0, 40.0]},
    "quick": {"n_points": 64, "length": 32.0, "dt": 0.05, "frame_dt": 0.5, "burn": 10.0, "horizon": 20.0,
              "n_train": 32, "n_test": 8, "batch_size": 16, "steps": 300, "horizons": [1.0, 5.0, 10.0]},
}
MODELS = {
    "unet": {"name": "unet", "dim": 1, "width": 16, "levels": 3, "padding_mode": "circular"},
    "fno": {"name": "fno", "modes": [24], "width": 32, "n_layers": 4},
}
REFINER = {"steps": 3, "min_noise": 2e-7}


def make_data(s: dict, directory: Path, seed: int) -> tuple[Path, int]:
    """Generate the KS file and drop the burn-in frames; returns the path and the frames kept."""
    raw = directory / "ks_raw.h5"
    t_final = s["burn"] + s["horizon"]
    cfg = {"name": "ks_bench", "seed": seed, "n_samples": s["n_train"] + s["n_test"], "chunk_size": 64,
           "dtype": "float32",
           "generator": {"name": "kuramoto_sivashinsky", "n_points": s["n_points"], "length": s["length"],
                         "t_final": t_final, "dt": s["dt"], "frame_dt": s["frame_dt"], "precision": "float64"}}
    with jax.enable_x64(True):  # the solver runs in float64, as `pdejax data generate` does
        generate(cfg, raw, progress=False)
    path = directory / "ks.h5"
    with h5py.File(raw) as src, h5py.File(path, "w") as dst:
        first = int(round(s["burn"] / s["frame_dt"]))
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            data = src[name][()]
            if name == "tensor":
                data = data[:, first:]
            elif name == "t-coordinate":
                data = data[first:]
            dst.create_dataset(name, data=data)
            for key, value in src[name].attrs.items():
                dst[name].attrs[key] = value
        n_frames = dst["tensor"].shape[1]
    return path, n_frames


def config(path: Path, s: dict, model: str, refiner: bool, seed: int) -> dict:
    objective = {"name": "autoregressive", "history": 1, "loss": "mse", "window": "random"}
    if refiner:
        objective["refiner"] = dict(REFINER)
    return {
        "name": f"ks_{model}{'_refiner' if refiner else ''}", "seed": seed,
        "data": {"path": str(path), "trajectory": "tensor", "n_train": s["n_train"], "n_test": s["n_test"],
                 "batch_size": s["batch_size"], "normalize": "both"},
        "model": MODELS[model],
        "objective": objective,
        "optimizer": {"name": "adam", "learning_rate": {"name": "cosine_decay_schedule", "init_value": 1e-3,
                                                        "decay_steps": s["steps"]}},
        "train": {"steps": s["steps"], "steps_per_call": 50, "log_every": s["steps"], "eval_every": s["steps"],
                  "checkpoint_every": s["steps"], "progress": False, "plots": False},
        "evaluation": {"batch_size": s["n_test"]},
        "parallel": {"data": 1},
    }


def one_step(model, trajs: jax.Array, key: jax.Array) -> dict:
    """Teacher-forced one-step errors on every 4th test frame, and a refiner's loss per step k."""
    window, target = trajs[:, :-1:4].reshape(-1, 1, trajs.shape[-1]), trajs[:, 1::4].reshape(-1, 1, trajs.shape[-1])
    rel = lambda pred: float(jnp.mean(metrics.relative_l2(pred, target)))  # noqa: E731
    if not isinstance(model, RefinedOperator):
        return {"one_step_rel_l2": rel(eqx.filter_jit(apply_batch)(model, window))}
    net, refinement, norm = model.net, model.refinement, model.output_norm
    window_n = model.input_norm.encode(window)
    first = eqx.filter_jit(net.batch)(window_n, jnp.zeros_like(target), 0)
    out = {"one_step_rel_l2": rel(eqx.filter_jit(model.batch)(window)), "one_step_rel_l2_k0": rel(norm.decode(first))}
    losses = eqx.filter_jit(refinement.sample_losses)
    noise = jax.random.normal(key, target.shape, target.dtype)
    variance = float(jnp.mean(norm.std**2))
    out["loss_per_k_normalised"] = [float(jnp.mean(losses(net, window_n, target, norm, jnp.full(len(target), k),
                                                          noise))) / variance
                                    for k in range(refinement.steps + 1)]
    out["noise_levels"] = [float(v) for v in refinement.levels()]
    return out


def evaluate(run_dir: Path, path: Path, s: dict) -> dict:
    """Roll the loaded model out over the test set (the first n_test trajectories)."""
    loaded = pdejax.load_run(run_dir)
    with h5py.File(path) as f:
        trajs = jnp.asarray(f["tensor"][:s["n_test"]])[:, :, None]  # (n, T, field, x)
    start = time.perf_counter()
    pred = jax.block_until_ready(eqx.filter_jit(rollout)(loaded.model, trajs[:, :1], trajs.shape[1] - 1))
    rollout_s = time.perf_counter() - start
    true = trajs[:, 1:]
    rel = np.asarray(metrics.rollout_errors(pred, true))
    nrmse = np.asarray(jnp.mean(metrics.nrmse(pred.reshape(-1, *pred.shape[2:]),
                                              true.reshape(-1, *true.shape[2:])).reshape(pred.shape[:2]), axis=0))
    corr = np.asarray(metrics.pearson_correlation(pred, true))
    tau = np.asarray(metrics.high_correlation_time(pred, true, s["frame_dt"]))
    out = {"high_correlation_time": float(tau.mean()), "high_correlation_time_std": float(tau.std()),
           "high_correlation_censored": float(np.mean(np.all(corr >= 0.8, axis=1))),
           "rollout_rel_l2": float(loaded.summary["rel_l2"]), "rollout_s_with_compile": rollout_s}
    out.update(one_step(loaded.model, trajs, jax.random.PRNGKey(1)))
    for t in s["horizons"]:
        i = int(round(t / s["frame_dt"])) - 1
        if i < len(rel):
            out[f"rel_l2@{t:g}"] = float(rel[i])
            out[f"nrmse@{t:g}"] = float(nrmse[i])
    # the evaluator's own numbers, from the same key, as a cross-check
    out["summary_high_correlation_time"] = loaded.summary.get("high_correlation_time")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small dataset and budget (a few minutes)")
    parser.add_argument("--models", nargs="+", default=["unet", "fno"], choices=sorted(MODELS))
    parser.add_argument("--steps", type=int, help="training steps per run (default: the setting's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refine-steps", type=int, default=REFINER["steps"], help="K (default: the paper's 3)")
    parser.add_argument("--min-noise", type=float, default=REFINER["min_noise"],
                        help="the smallest noise level (default: the paper's KS 2e-7)")
    parser.add_argument("--no-baseline", action="store_true", help="train the refined models only")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    s = dict(SETTINGS["quick" if args.quick else "full"])
    if args.steps:
        s["steps"] = args.steps
    REFINER.update(steps=args.refine_steps, min_noise=args.min_noise)
    report = {"setting": "quick" if args.quick else "full", "data": {k: v for k, v in s.items() if k != "steps"},
              "steps": s["steps"], "refiner": REFINER, "models": {m: MODELS[m] for m in args.models},
              "load_before": os.getloadavg(), "cpu_count": os.cpu_count(), "jax": jax.__version__,
              "devices": [str(d) for d in jax.devices()], "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        path, n_frames = make_data(s, tmp, args.seed)
        report["data"]["generate_s"] = time.perf_counter() - start
        report["data"]["frames_per_trajectory"] = n_frames
        for model in args.models:
            for refiner in (True,) if args.no_baseline else (False, True):
                name = f"{model}{' + refiner' if refiner else ''}"
                cfg = config(path, s, model, refiner, args.seed)
                start = time.perf_counter()
                run = pdejax.train(cfg, run_dir=tmp / cfg["name"], progress=False)
                entry = {"train_wall_s": time.perf_counter() - start, "compile_s": run.summary.get("compile_s"),
                         "params": int(sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(
                             run.model, eqx.is_inexact_array)))),
                         "final_loss": run.summary.get("final", {}).get("data")}
                entry.update(evaluate(tmp / cfg["name"], path, s))
                entry["load_after"] = os.getloadavg()
                report["runs"][name] = entry
                print(json.dumps({name: entry}), flush=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
