"""Lie-point-symmetry augmentation on a small data set: an autoregressive FNO-1D with and without.

Kuramoto–Sivashinsky (default; ``--pde kdv`` or ``burgers`` for the others) trajectories
from pdejax's ETDRK4 generator; ``--n-train`` (64) training trajectories; the same model,
optimiser, steps and seed with ``objective.augment`` off and on (LPSDA's magnitudes:
``space_shift: 1.0, galilean: 0.4``, plus ``scaling: 0.1`` for KdV). The test error is the
relative L2 of full rollouts from the first ``history`` frames of held-out trajectories
at a few horizons (steps after the input frames, which are never counted), and the mean
over the first 20 steps, averaged over ``--seeds``. Prints one JSON object (and writes it
with ``--out``).

    python scripts/bench/augment.py --quick     # about 2 minutes on a laptop CPU
    python scripts/bench/augment.py --steps 10000 --seeds 0 1 2   # 2 arms x 3 seeds; see --help
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

AUGMENT = {  # LPSDA's magnitudes (README: KS 1.0, 0.4; KdV 1.0, 0.4, 0.1)
    "ks": {"space_shift": 1.0, "galilean": 0.4},
    "kdv": {"space_shift": 1.0, "galilean": 0.4, "scaling": 0.1},
    "burgers": {"space_shift": 1.0, "galilean": 0.4},
}


def data_config(pde: str, n_samples: int, quick: bool) -> dict:
    """The generator config: KS on [0, 64) (LPSDA's length), KdV as LPSDA, Burgers nu = 0.01 on [0, 2π)."""
    if pde == "ks":
        gen = {"name": "kuramoto_sivashinsky", "n_points": 128, "length": 64.0, "t_final": 30.0 if quick else 50.0,
               "dt": 0.05, "frame_dt": 0.5, "sigma": 1.0, "precision": "float64"}
        stride = {"x": 2}  # solved at 128 points, learned at 64
    elif pde == "kdv":
        gen = {"name": "kdv_lpsda", "n_points": 256, "length": 128.0, "t_final": 40.0 if quick else 100.0,
               "dt": 0.01, "frame_dt": 1.0, "precision": "float64"}
        stride = {"x": 2}
    else:
        gen = {"name": "burgers_fno", "n_points": 512, "nu": 0.01, "t_final": 5.0 if quick else 10.0,
               "dt": 1e-3, "frame_dt": 0.1, "precision": "float64"}
        stride = {"x": 8}
    return {"name": f"augment_{pde}", "seed": 0, "n_samples": n_samples, "chunk_size": 32, "dtype": "float32",
            "generator": gen, "store_stride": stride}


def experiment(path: Path, pde: str, args: argparse.Namespace, augment: dict | None, seed: int) -> dict:
    objective = {"name": "autoregressive", "history": args.history, "unroll": 1, "window": "random"}
    if augment:
        objective["augment"] = augment
    return {
        "name": f"augment_{pde}_{'on' if augment else 'off'}", "seed": seed,
        "data": {"path": str(path), "trajectory": "tensor", "n_train": args.n_train, "n_test": args.n_test,
                 "batch_size": args.batch_size, "normalize": "both"},
        "model": {"name": "fno", "modes": [16], "width": args.width, "n_layers": 4},
        "objective": objective,
        "optimizer": {"name": "adamw", "args": {"weight_decay": 1e-4},
                      "learning_rate": {"name": "cosine_decay_schedule", "init_value": 1e-3,
                                        "decay_steps": args.steps}},
        "train": {"steps": args.steps, "steps_per_call": 50, "log_every": max(args.steps // 4, 50),
                  "eval_every": args.steps, "checkpoint_every": args.steps, "progress": False, "plots": False},
        "evaluation": {"batch_size": 32},
        "parallel": {"data": 1},
    }


def horizons(summary: dict, steps: tuple[int, ...]) -> dict:
    curve = np.asarray(summary["rollout_rel_l2"]["rel_l2"])  # one entry per predicted frame (inputs excluded)
    out = {f"rel_l2@{k}": float(curve[k - 1]) for k in steps if k <= len(curve)}
    out["rel_l2_mean_first20"] = float(curve[:20].mean())
    nrmse = summary.get("metrics", {}).get("nrmse")  # over every predicted frame and point
    out["nrmse_all_steps"] = float(nrmse) if nrmse is not None else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pde", choices=sorted(AUGMENT), default="ks")
    parser.add_argument("--quick", action="store_true", help="fewer steps and test trajectories (~2 min)")
    parser.add_argument("--steps", type=int, default=None, help="training steps per arm (default 4000; quick 400)")
    parser.add_argument("--n-train", type=int, default=64)
    parser.add_argument("--n-test", type=int, default=None, help="default 32 (quick 16)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--history", type=int, default=1)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per arm and seed (model "
                        "initialisation, batch order, augmentation draws); the data set is the same")
    parser.add_argument("--data-dir", default=os.environ.get("PDEJAX_BENCH_DATA", tempfile.gettempdir()))
    parser.add_argument("--augment", type=json.loads, default=None,
                        help='the augmented arm\'s objective.augment as JSON (default: LPSDA\'s for --pde), '
                        'e.g. \'{"space_shift": 1.0, "galilean": 0.4}\'')
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    args.steps = args.steps or (400 if args.quick else 4000)
    args.n_test = args.n_test or (16 if args.quick else 32)

    import jax

    import pdejax
    from pdejax.data import generate

    load_before = os.getloadavg()
    n_samples = args.n_test + args.n_train  # the first n_test samples are the test set
    cfg = data_config(args.pde, n_samples, args.quick)
    tag = "quick" if args.quick else "full"
    path = Path(args.data_dir) / f"pdejax_augment_{args.pde}_{tag}_{n_samples}.h5"
    t = time.perf_counter()
    if not path.exists():
        with jax.enable_x64(True):
            generate(cfg, path, progress=False)
    data_s = time.perf_counter() - t
    result = {"pde": args.pde, "data": {"file": str(path), "generator": cfg["generator"], "store_stride":
                                        cfg["store_stride"], "n_train": args.n_train, "n_test": args.n_test,
                                        "seconds": round(data_s, 1)},
              "model": "fno modes 16, width %d, 4 layers, history %d, unroll 1" % (args.width, args.history),
              "steps": args.steps, "batch_size": args.batch_size, "seeds": args.seeds, "runs": {}}
    marks = (1, 5, 10, 20, 40)
    with tempfile.TemporaryDirectory() as runs:
        for arm, augment in (("plain", None), ("augmented", args.augment or AUGMENT[args.pde])):
            per_seed = []
            for seed in args.seeds:
                t = time.perf_counter()
                run = pdejax.train(experiment(path, args.pde, args, augment, seed), run_dir=Path(runs) / f"{arm}{seed}",
                                   progress=False)
                per_seed.append({"seed": seed, "wall_s": round(time.perf_counter() - t, 1),
                                 "final_loss": run.summary["final"]["data"], **horizons(run.summary, marks)})
            keys = [k for k in per_seed[0] if k.startswith(("rel_l2", "nrmse")) and per_seed[0][k] is not None]
            result["runs"][arm] = {"augment": augment,
                                   "mean": {k: float(np.mean([r[k] for r in per_seed])) for k in keys},
                                   "std": {k: float(np.std([r[k] for r in per_seed])) for k in keys},
                                   "per_seed": per_seed}
    plain, aug = result["runs"]["plain"]["mean"], result["runs"]["augmented"]["mean"]
    result["ratio_augmented_over_plain"] = {k: aug[k] / plain[k] for k in plain if plain[k]}
    result["loadavg"] = {"before": [round(v, 2) for v in load_before],
                         "after": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()}
    result["devices"] = [str(d) for d in jax.devices()]
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
