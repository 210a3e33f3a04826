"""PINN benchmark suite: train the benchmark configs and compare with the published numbers.

Each problem has a ``cpu`` config (at most 30 minutes on a 2-core CPU) and a ``full`` config
(the published GPU budget of the paper it is compared with), under ``configs/pinn/``. The
suite runs ``pdejax train CONFIG --run-dir RUN`` for each problem asked for, one after
another, reads each run's ``summary.json`` and prints a Markdown table (problem, relative L2,
wall time, steps, config, published anchor, ratio to the anchor); the same rows go to a JSON
file.

    python scripts/bench/pinn_suite.py --problems allen_cahn,kdv --budget cpu
    python scripts/bench/pinn_suite.py --budget full --out runs/suite-full      # every problem
    python scripts/bench/pinn_suite.py --dry-run --budget all                    # validate every config
    python scripts/bench/pinn_suite.py --problems kdv --steps 200 --set train.eval_every=100

``--dry-run`` validates each config and builds everything it names (network, PDE, sampler,
optimizer, combiner, evaluation reference: not computed), without training. ``--steps N`` sets
``train.steps`` (and ``lbfgs.steps`` where there is an L-BFGS phase; per window for time
marching) and ``--set`` adds overrides to every run (shorter runs for a look; the table then
says so).
The anchors are the papers' relative L2 errors at their full budgets; a cpu-budget ratio
says how far the small run is from them, not that the methods differ.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[2] / "pdejax" / "configs" / "pinn"

# name: configs per budget, the published anchor (relative L2 at the full budget) and where it is from.
PROBLEMS: dict[str, dict] = {
    "allen_cahn": {"cpu": "allen_cahn_cpu.yaml", "full": "allen_cahn_full.yaml", "anchor": 2.24e-5,
                   "source": "PirateNet (jaxpi pirate README; jaxpi sota 5.37e-5)"},
    "advection": {"cpu": "advection_cpu.yaml", "full": "advection_full.yaml", "anchor": 6.88e-4,
                  "source": "jaxpi README"},
    "kdv": {"cpu": "kdv_cpu.yaml", "full": "kdv_full.yaml", "anchor": 4.27e-4, "source": "PirateNet README"},
    "gray_scott": {"cpu": "gray_scott_cpu.yaml", "full": "gray_scott_full.yaml", "anchor": 3.61e-3,
                   "source": "PirateNet README"},
    "ginzburg_landau": {"cpu": "ginzburg_landau_cpu.yaml", "full": "ginzburg_landau_full.yaml", "anchor": 1.49e-2,
                        "source": "PirateNet README"},
    "helmholtz": {"cpu": "helmholtz_cpu.yaml", "full": "helmholtz_full.yaml", "anchor": 2.67e-2,
                  "source": "R3 paper (arXiv 2207.02338)"},
    "klein_gordon": {"cpu": "klein_gordon_cpu.yaml", "full": "klein_gordon_full.yaml", "anchor": 2.28e-2,
                     "source": "MultiAdam paper (arXiv 2306.02816)"},
    "ldc": {"cpu": "ldc_cpu.yaml", "full": "ldc_full.yaml", "anchor": 4.21e-2,
            "source": "PirateNet README (Re 3200, |velocity| on jaxpi's grid)",
            # cpu: Re = 100 against Ghia's centre lines; full: no Re = 3200 reference in pdejax
            "comparable": {"cpu": False, "full": False}},
    "burgers_inverse": {"cpu": "burgers_inverse.yaml", "full": "burgers_inverse_full.yaml", "anchor": None,
                        "source": "Raissi et al. 2019 (ν recovered; no relative L2 anchor)", "parameter": "nu"},
    "heat_coefficient_inverse": {"cpu": "heat_coefficient_inverse.yaml", "full": "heat_coefficient_inverse_full.yaml",
                                 "anchor": None, "source": "pdejax's own (a(x) recovered)", "parameter": "a"},
}


def pdejax_command() -> list[str]:
    """``pdejax`` (the installed script) or the same CLI through this interpreter."""
    exe = shutil.which("pdejax")
    return [exe] if exe else [sys.executable, "-c", "import sys; from pdejax.cli import main; sys.exit(main())"]


def overrides_for(args: argparse.Namespace, config: Path) -> list[str]:
    """``--set`` and ``--steps`` (``train.steps``, and ``lbfgs.steps`` where the config has an
    L-BFGS phase) as overrides of ``config``."""
    import yaml

    extra = list(args.set or [])
    if args.steps is not None:
        extra.append(f"train.steps={args.steps}")
        if (yaml.safe_load(config.read_text()).get("lbfgs") or {}).get("steps"):
            extra.append(f"lbfgs.steps={args.steps}")
    return extra


def validate(config: Path, overrides: list[str]) -> str | None:
    """``None`` if the config (with ``overrides``) validates and builds, else the error."""
    import pdejax

    try:
        pdejax.build(config, overrides)
    except Exception as err:  # noqa: BLE001  (reported per config, the suite goes on)
        return f"{type(err).__name__}: {err}"
    return None


def run_one(name: str, config: Path, run_dir: Path, overrides: list[str], timeout: float | None) -> dict:
    """Train ``config`` into ``run_dir`` with the CLI; the row of the table."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cmd = [*pdejax_command(), "train", str(config), *overrides, "--run-dir", str(run_dir), "--no-progress"]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        rc, tail = proc.returncode, (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    except subprocess.TimeoutExpired:
        rc, tail = "timeout", [f"stopped after {timeout} s"]
    row = {"problem": name, "config": str(config.relative_to(CONFIGS.parents[1])), "run_dir": str(run_dir),
           "command": " ".join(cmd), "returncode": rc, "elapsed_s": time.perf_counter() - start}
    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        row.update(rel_l2=summary.get("rel_l2"), wall_s=summary.get("wall_s"), steps=summary.get("steps"),
                   compile_s=summary.get("compile_s"),
                   metrics={k: v for k, v in summary.get("metrics", {}).items() if isinstance(v, (int, float))},
                   notes=summary.get("notes", []))
        params = summary.get("parameters") or {}
        row["parameters"] = {k: {kk: vv for kk, vv in v.items() if kk in ("value", "reference", "rel_error",
                                                                           "rel_l2")}
                             for k, v in params.items()}
    else:
        row["error"] = " | ".join(tail)
    return row


def with_anchor(row: dict, spec: dict, budget: str) -> dict:
    anchor = spec.get("anchor")
    comparable = spec.get("comparable", {}).get(budget, True)
    rel = row.get("rel_l2")
    row["anchor"], row["anchor_source"] = anchor, spec["source"]
    row["ratio"] = rel / anchor if (anchor and comparable and isinstance(rel, (int, float))
                                    and math.isfinite(rel)) else None
    if anchor and not comparable:
        row["ratio_note"] = "different metric or Reynolds number: no ratio"
    return row


def fmt(x, spec: str = ".3g") -> str:
    return "—" if x is None else (format(x, spec) if isinstance(x, (int, float)) else str(x))


def markdown(rows: list[dict], budget: str, overrides: list[str]) -> str:
    lines = [f"PINN suite, budget `{budget}`" + (f", overrides `{' '.join(overrides)}`" if overrides else ""), "",
             "| problem | relative L2 | wall time (s) | steps | config | published anchor | ratio to anchor |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        rel = fmt(r.get("rel_l2"), ".3e") if "error" not in r else f"failed ({r['returncode']})"
        for name, p in (r.get("parameters") or {}).items():
            err = p.get("rel_error", p.get("rel_l2"))
            if err is not None:
                rel += f"; {name} error {err:.2e}"
        anchor = f"{r['anchor']:.3g} ({r['anchor_source']})" if r.get("anchor") else f"— ({r['anchor_source']})"
        ratio = fmt(r.get("ratio"), ".3g") if r.get("ratio") is not None else r.get("ratio_note", "—")
        lines.append(f"| {r['problem']} | {rel} | {fmt(r.get('wall_s'), '.0f')} | {fmt(r.get('steps'), 'd')} | "
                     f"`{r['config']}` | {anchor} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", default="all",
                        help=f"comma-separated subset of {', '.join(PROBLEMS)} (default all)")
    parser.add_argument("--budget", default="cpu", choices=["cpu", "full", "all"],
                        help="cpu: <= 30 min each on 2 CPU cores; full: the published GPU budget; all (--dry-run)")
    parser.add_argument("--out", default="runs/pinn-suite", help="a run directory per problem goes here")
    parser.add_argument("--json", help="where the JSON rows go (default OUT/suite-<budget>.json)")
    parser.add_argument("--steps", type=int, help="override train.steps (a shorter look)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="an override for every run (repeatable)")
    parser.add_argument("--timeout", type=float, help="seconds per run before it is stopped")
    parser.add_argument("--dry-run", action="store_true", help="validate and build every config; train nothing")
    args = parser.parse_args(argv)

    names = list(PROBLEMS) if args.problems == "all" else [p.strip() for p in args.problems.split(",") if p.strip()]
    unknown = [n for n in names if n not in PROBLEMS]
    if unknown:
        parser.error(f"unknown problems {unknown}; known: {', '.join(PROBLEMS)}")
    budgets = ["cpu", "full"] if args.budget == "all" else [args.budget]
    if args.budget == "all" and not args.dry_run:
        parser.error("--budget all is for --dry-run; train one budget at a time")

    if args.dry_run:
        failed = 0
        for budget in budgets:
            for name in names:
                config = CONFIGS / PROBLEMS[name][budget]
                error = validate(config, overrides_for(args, config))
                failed += error is not None
                print(f"{'ok    ' if error is None else 'FAILED'} {budget:4s} {name:26s} {config.name}"
                      + ("" if error is None else f"\n       {error}"))
        return 1 if failed else 0

    budget = budgets[0]
    out = Path(args.out)
    rows = []
    for name in names:
        spec = PROBLEMS[name]
        config = CONFIGS / spec[budget]
        row = run_one(name, config, out / f"{name}-{budget}", overrides_for(args, config), args.timeout)
        rows.append(with_anchor(row, spec, budget))
        print(f"{name}: rel_l2 {fmt(row.get('rel_l2'), '.3e')}, {fmt(row.get('wall_s'), '.0f')} s"
              + (f", FAILED: {row['error']}" if "error" in row else ""), file=sys.stderr, flush=True)
    overrides = list(args.set or []) + ([f"train.steps={args.steps} (and lbfgs.steps)"] if args.steps else [])
    table = markdown(rows, budget, overrides)
    print(table)
    json_path = Path(args.json) if args.json else out / f"suite-{budget}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"budget": budget, "overrides": overrides, "rows": rows}, indent=2) + "\n")
    print(f"\nJSON: {json_path}", file=sys.stderr)
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
