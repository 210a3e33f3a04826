#!/usr/bin/env bash
# Run the `full` Allen–Cahn and KdV PINN configs side by side on one GPU for a fixed wall time
# (a lent device's minutes are few): each config's schedule is compressed to STEPS steps (the
# warm-up and decay intervals scaled by STEPS / the full budget, so the learning rate ends at
# the same fraction of its peak), the runs are stopped with SIGTERM after SECONDS (they
# checkpoint and exit), and the last evaluation in each run's metrics.jsonl is the number.
#
#   bash scripts/bench/pinn_gpu_timed.sh OUT [SECONDS=400] [STEPS=40000]
set -u
out=${1:?usage: pinn_gpu_timed.sh OUT [SECONDS] [STEPS]}; seconds=${2:-400}; steps=${3:-40000}
mkdir -p "$out"
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
scale() { python3 -c "print(max(1, round($1 * $steps / $2)))"; }
common="train.steps=$steps train.steps_per_call=500 train.log_every=500 train.eval_every=5000 train.checkpoint_every=5000"
ac="optimizer.learning_rate.warmup_steps=$(scale 5000 300000) optimizer.learning_rate.transition_steps=$(scale 5000 300000)"
kdv="optimizer.learning_rate.warmup_steps=$(scale 5000 200000) optimizer.learning_rate.transition_steps=$(scale 2000 200000)"
timeout -s TERM -k 60 "$seconds" python3 -m pdejax.cli train pinn/allen_cahn_full.yaml --no-progress \
  --run-dir "$out/allen_cahn_full" $common $ac >"$out/allen_cahn_full.log" 2>&1 &
timeout -s TERM -k 60 "$seconds" python3 -m pdejax.cli train pinn/kdv_full.yaml --no-progress \
  --run-dir "$out/kdv_full" $common $kdv >"$out/kdv_full.log" 2>&1 &
wait
for run in allen_cahn_full kdv_full; do
  python3 - "$out/$run" <<'PY'
import json, sys, pathlib
run = pathlib.Path(sys.argv[1])
rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()] if (run / "metrics.jsonl").exists() else []
evals = [r for r in rows if any(k.startswith("eval") or "rel_l2" in k for k in r)]
print(run.name, "last eval:", evals[-1] if evals else None, "rows:", len(rows))
PY
done
