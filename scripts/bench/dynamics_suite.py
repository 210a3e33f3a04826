"""Neural-DE benchmark suite: train the ``configs/dynamics/`` benchmarks and tabulate their numbers.

Each entry runs ``pdejax train CONFIG [overrides] --run-dir OUT/<entry>`` one after another and
reads the run's ``summary.json``. The entries (``--only`` picks some):

- ``lotka_volterra``: neural ODE, error inside the training window and in extrapolation to 2x it;
- ``lotka_volterra_kinetic_<weight>`` / ``lotka_volterra_error_estimate_<weight>``: the same with
  the kinetic-energy penalty (Finlay et al. 2020) or the solver-heuristic penalty (Pal et al.
  2021) at a few weights, for the number of function evaluations (``nfe``: of a test solve to
  t = 10, and per training window in the run's ``metrics.jsonl``) against accuracy;
- ``hybrid_burgers``: known diffusion + learned advection (ETDRK4), rollout to 2x the training
  horizon, zero-shot at 128 points, the learned term against -u u_x;
- ``neural_ode_burgers`` / ``neural_ode_burgers_small``: the pure neural ODE on the same data
  (vector field 64-128-128-64, 33k parameters; and 64-4-4-64, 600, near the hybrid term's ~340);
- ``fno_stepper_burgers``: an FNO as a learned stepper (one observation interval per step) on the same data;
- ``fit_burgers_viscosity``: ν recovered through ETDRK4 from noisy trajectories (no learned term);
- ``hybrid_allen_cahn``: the learned reaction term against u - u³;
- ``closure_burgers``: a learned closure on a 4x coarser grid against the coarse solver alone;
- ``neural_sde_ou``: recovered drift and diffusion of an Ornstein–Uhlenbeck process;
- ``latent_ode``: irregularly sampled damped oscillations.

Prints a Markdown table and writes the rows to ``OUT/dynamics_suite.json``::

    python scripts/bench/dynamics_suite.py --out runs/dynamics [--only hybrid_burgers,closure_burgers]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[2] / "pdejax" / "configs" / "dynamics"

def kinetic(weight: float) -> list[str]:
    return ["model.kinetic=true", "objective.regularisers=[kinetic]", f"objective.weights.kinetic={weight}"]


def error_estimate(weight: float) -> list[str]:
    return ["model.error_estimate=true", "objective.regularisers=[error_estimate]",
            f"objective.weights.error_estimate={weight}"]


LV = ["rel_l2_train_window", "rel_l2_extrapolation", "nfe"]
ENTRIES: dict[str, tuple[str, list[str], list[str]]] = {
    # name: (config, overrides, the metrics worth a column)
    "lotka_volterra": ("neural_ode_lotka_volterra.yaml", [],
                       ["rel_l2_train_window", "rel_l2_extrapolation", "nfe"]),
    **{f"lotka_volterra_kinetic_{w:g}": ("neural_ode_lotka_volterra.yaml", kinetic(w), LV)
       for w in (1e-5, 1e-4, 1e-2)},
    **{f"lotka_volterra_error_estimate_{w:g}": ("neural_ode_lotka_volterra.yaml", error_estimate(w), LV)
       for w in (1e-3, 1e-2)},
    "hybrid_burgers": ("hybrid_burgers.yaml", [],
                       ["rel_l2_train_window", "rel_l2_extrapolation", "rel_l2_fine", "term_rel_l2",
                        "rel_l2_known_terms_only"]),
    "neural_ode_burgers": ("neural_ode_burgers.yaml", [], ["rel_l2_train_window", "rel_l2_extrapolation", "nfe"]),
    "neural_ode_burgers_small": ("neural_ode_burgers.yaml", ["model.vector_field.width=4"],
                                 ["rel_l2_train_window", "rel_l2_extrapolation", "nfe"]),
    "fit_burgers_viscosity": ("fit_burgers_viscosity.yaml", [], ["param/nu", "param_rel_error/nu", "rel_l2"]),
    "fno_stepper_burgers": ("fno_stepper_burgers.yaml", [],
                            ["rel_l2_train_window", "rel_l2_extrapolation", "rel_l2_fine"]),
    "hybrid_allen_cahn": ("hybrid_allen_cahn.yaml", [],
                          ["rel_l2_train_window", "rel_l2_extrapolation", "term_rel_l2", "rel_l2_known_terms_only"]),
    "closure_burgers": ("closure_burgers.yaml", [],
                        ["rel_l2_train_window", "rel_l2_extrapolation", "rel_l2_known_terms_only"]),
    "neural_sde_ou": ("neural_sde_ornstein_uhlenbeck.yaml", [],
                      ["drift_rel_l2", "diffusion_rel_l2", "theta", "sigma", "mean_error_extrapolation",
                       "std_error_extrapolation"]),
    "latent_ode": ("latent_ode_oscillator.yaml", [], ["rel_l2_train_window", "rel_l2_extrapolation"]),
}


def run_entry(name: str, out: Path, extra: list[str], timeout: float) -> dict:
    config, overrides, columns = ENTRIES[name]
    run_dir = out / name
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run: pdejax train refuses a directory holding another run
    cmd = [sys.executable, "-m", "pdejax.cli", "train", str(CONFIGS / config), *overrides, *extra,
           "--run-dir", str(run_dir)]
    start, load = time.time(), os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    row = {"entry": name, "config": f"configs/dynamics/{config}", "overrides": overrides + extra,
           "wall_s": round(time.time() - start, 1), "load_avg_1min_at_start": load, "columns": columns}
    summary = run_dir / "summary.json"
    if proc.returncode != 0 or not summary.exists():
        row["error"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return row
    data = json.loads(summary.read_text())
    row["metrics"] = {k: data[k] for k in columns if k in data}
    if "nfe" in columns:  # per training window, over the last logged steps (evaluation rows excluded)
        logs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        train = [r["nfe"] for r in logs if "nfe" in r and "loss" in r and not any(k.startswith("rel_l2") for k in r)]
        if train:
            row["metrics"]["nfe_train_window"] = sum(train[-5:]) / len(train[-5:])
    row["steps"] = data.get("steps")
    row["parameters"] = count_parameters(run_dir)
    return row


def count_parameters(run_dir: Path) -> int:
    """Trainable numbers of the run's model (its inexact arrays)."""
    import equinox as eqx
    import jax

    import pdejax

    model = pdejax.load_run(run_dir).model
    return int(sum(x.size for x in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))))


def table(rows: list[dict]) -> str:
    lines = ["| entry | metrics | parameters | steps | wall (s) |", "|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['entry']} | failed: {r['error'][0]} | — | — | {r['wall_s']} |")
            continue
        metrics = ", ".join(f"{k} {v:.3g}" for k, v in r["metrics"].items())
        lines.append(f"| {r['entry']} | {metrics} | {r.get('parameters', '—')} | {r['steps']} | {r['wall_s']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/dynamics"))
    ap.add_argument("--only", default=",".join(ENTRIES), help=f"comma-separated subset of {', '.join(ENTRIES)}")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an override for every run")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in ENTRIES]
    if unknown:
        ap.error(f"--only {unknown[0]!r}: valid entries are {', '.join(ENTRIES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        rows.append(run_entry(name, args.out, args.set, args.timeout))
        print(f"{name}: {rows[-1].get('metrics', rows[-1].get('error'))}", flush=True)
    (args.out / "dynamics_suite.json").write_text(json.dumps(rows, indent=2))
    print(table(rows))
    print(f"\nJSON: {args.out / 'dynamics_suite.json'}")


if __name__ == "__main__":
    main()
