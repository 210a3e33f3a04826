"""PINN ablation on Allen–Cahn at the cpu budget: what each method adds, one row per variant.

Every row is a set of config overrides on ``configs/pinn/allen_cahn_cpu.yaml`` (trained with
``pdejax train``, one run directory per row): a plain MLP, then Fourier features, random
weight factorisation, grad-norm balancing and causal weighting added one at a time (jaxpi's
ablation ladder), then PirateNet in place of the MLP, R3 sampling, and three replacements:
ConFIG or MultiAdam for grad-norm, SOAP for Adam. The table gives the relative L2 error
against the spectral reference and the wall time; the JSON holds each row's overrides.

    python scripts/bench/pinn_ablation.py                       # all rows, 20000 steps each
    python scripts/bench/pinn_ablation.py --steps 2000 --rows plain,pirate
    python scripts/bench/pinn_ablation.py --dry-run             # validate every row
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "pdejax" / "configs" / "pinn" / "allen_cahn_cpu.yaml"

# The base config trains PirateNet + RWF + NTK + causal weighting; each row states the
# sections it changes in full (a mapping replaces the section's mapping), so rows do not
# depend on each other.
MLP = {"name": "mlp", "width": 64, "depth": 4, "activation": "tanh"}
FOURIER = {"name": "fourier_mlp", "width": 64, "depth": 4, "activation": "tanh", "n_features": 64, "sigma": 2.0}
RWF = {"mean": 1.0, "std": 0.1}
PIRATE = {"name": "pirate_net", "width": 64, "n_blocks": 3, "n_features": 64, "sigma": 2.0, "activation": "tanh",
          "rwf": RWF}
FIXED = {"name": "fixed"}
GRAD_NORM = {"name": "grad_norm", "alpha": 0.9, "update_every": 1000}
NO_CAUSAL = {"objective.causal_chunks": 0}
R3 = {"objective.sampler": {"name": "r3", "every": 1}}

ROWS: list[tuple[str, str, dict]] = [
    ("plain", "plain MLP", {"model": MLP, "optimizer.combine": FIXED, **NO_CAUSAL}),
    ("fourier", "+ Fourier features", {"model": FOURIER, "optimizer.combine": FIXED, **NO_CAUSAL}),
    ("rwf", "+ RWF", {"model": {**FOURIER, "rwf": RWF}, "optimizer.combine": FIXED, **NO_CAUSAL}),
    ("grad_norm", "+ grad-norm balancing", {"model": {**FOURIER, "rwf": RWF}, "optimizer.combine": GRAD_NORM,
                                            **NO_CAUSAL}),
    ("causal", "+ causal weighting", {"model": {**FOURIER, "rwf": RWF}, "optimizer.combine": GRAD_NORM}),
    ("pirate", "PirateNet", {"model": PIRATE, "optimizer.combine": GRAD_NORM}),
    ("r3", "+ R3", {"model": PIRATE, "optimizer.combine": GRAD_NORM, **R3}),
    ("config", "+ ConFIG (for grad-norm)", {"model": PIRATE, "optimizer.combine": {"name": "config"}, **R3}),
    ("multiadam", "+ MultiAdam (for grad-norm; SGD scales its step)",
     {"model": PIRATE, "optimizer.name": "sgd", "optimizer.combine": {"name": "multiadam", "b1": 0.99, "b2": 0.99},
      **R3}),
    ("soap", "SOAP instead of Adam", {"model": PIRATE, "optimizer.name": "soap", "optimizer.args":
                                      {"precondition_frequency": 10, "weight_decay": 0.0},
                                      "optimizer.combine": GRAD_NORM, **R3}),
]


def row_config(overrides: dict) -> dict:
    """The base config with the row's sections replaced (a dict: the section's whole mapping)."""
    import yaml

    cfg = yaml.safe_load(CONFIG.read_text())
    for key, value in overrides.items():
        *path, last = key.split(".")
        section = cfg
        for part in path:
            section = section.setdefault(part, {})
        section[last] = value
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="all", help=f"comma-separated subset of {', '.join(r[0] for r in ROWS)}")
    parser.add_argument("--steps", type=int, help="train.steps of every row (default: the config's 20000)")
    parser.add_argument("--out", default="runs/pinn-ablation", help="a run directory per row goes here")
    parser.add_argument("--json", help="where the JSON rows go (default OUT/ablation.json)")
    parser.add_argument("--dry-run", action="store_true", help="validate and build every row; train nothing")
    args = parser.parse_args(argv)

    import yaml

    names = [r[0] for r in ROWS] if args.rows == "all" else [n.strip() for n in args.rows.split(",") if n.strip()]
    unknown = [n for n in names if n not in {r[0] for r in ROWS}]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(r[0] for r in ROWS)}")
    extra = [f"train.steps={args.steps}"] if args.steps is not None else []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, failed = [], 0
    for key, label, overrides in (r for r in ROWS if r[0] in names):
        cfg = row_config(overrides)
        cfg["name"] = f"allen_cahn_ablation_{key}"
        config_path = out / f"{key}.yaml"
        config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        if args.dry_run:
            import pdejax

            try:
                pdejax.build(config_path, extra)
                print(f"ok     {key:10s} {label}")
            except Exception as err:  # noqa: BLE001  (reported per row)
                failed += 1
                print(f"FAILED {key:10s} {label}\n       {type(err).__name__}: {err}")
            continue
        run_dir = out / key
        if run_dir.exists():
            shutil.rmtree(run_dir)
        exe = shutil.which("pdejax")
        cmd = [exe] if exe else [sys.executable, "-c", "import sys; from pdejax.cli import main; sys.exit(main())"]
        cmd += ["train", str(config_path), *extra, "--run-dir", str(run_dir), "--no-progress"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        row = {"row": key, "variant": label, "overrides": overrides, "config": str(config_path),
               "returncode": proc.returncode, "elapsed_s": time.perf_counter() - start}
        summary = run_dir / "summary.json"
        if summary.is_file():
            s = json.loads(summary.read_text())
            row.update(rel_l2=s.get("rel_l2"), wall_s=s.get("wall_s"), steps=s.get("steps"))
        else:
            failed += 1
            row["error"] = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        results.append(row)
        print(f"{key}: rel_l2 {row.get('rel_l2')}, {row.get('wall_s')} s" + (f", FAILED: {row['error']}"
              if "error" in row else ""), file=sys.stderr, flush=True)
    if args.dry_run:
        return 1 if failed else 0

    lines = [f"Allen–Cahn ablation (`{CONFIG.name}`" + (f", {args.steps} steps" if args.steps else "") + ")", "",
             "| variant | relative L2 | wall time (s) | steps |", "|---|---|---|---|"]
    for r in results:
        rel = f"{r['rel_l2']:.3e}" if isinstance(r.get("rel_l2"), (int, float)) else f"failed ({r['returncode']})"
        wall = f"{r['wall_s']:.0f}" if isinstance(r.get("wall_s"), (int, float)) else "—"
        lines.append(f"| {r['variant']} | {rel} | {wall} | {r.get('steps', '—')} |")
    print("\n".join(lines))
    json_path = Path(args.json) if args.json else out / "ablation.json"
    json_path.write_text(json.dumps({"base": str(CONFIG), "steps": args.steps, "rows": results}, indent=2) + "\n")
    print(f"\nJSON: {json_path}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
