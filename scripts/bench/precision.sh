#!/usr/bin/env bash
# float32 vs bf16 (precision: bf16) on the FNO-2D Navier-Stokes architecture, small data set:
# 96 trajectories (76 train, 20 test), 600 steps, rollout to t = 50. Prints each run's test error.
#   bash scripts/bench/precision.sh [OUT_DIR]      (about 25 min on a 2-core CPU)
set -euo pipefail
out=${1:-runs/precision}
mkdir -p "$out"
[ -f "$out/ns_64_small.h5" ] || pdejax data generate data/navier_stokes.yaml n_samples=96 generator.dt=0.01 \
  --out "$out/ns_64_small.h5" --no-progress
for p in default bf16; do
  rm -rf "$out/run_$p"
  pdejax train operator/fno_navier_stokes.yaml data.path="$(realpath "$out/ns_64_small.h5")" \
    data.n_train=76 data.n_test=20 train.steps=600 train.eval_every=600 train.checkpoint_every=600 \
    optimizer.learning_rate.decay_steps=600 precision=$p --run-dir "$out/run_$p" --no-progress
done
python - "$out" <<'PY'
import json, sys
for p in ("default", "bf16"):
    s = json.load(open(f"{sys.argv[1]}/run_{p}/summary.json"))
    r = s["rollout_rel_l2"]["rel_l2"]
    print(json.dumps({"precision": p, "rel_l2": s["rel_l2"], "t10": r[0], "t30": r[20], "t50": r[-1],
                      "wall_s": s["wall_s"]}))
PY
