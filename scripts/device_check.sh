#!/usr/bin/env bash
# GPU readiness check (issue 15, point 6): pdejax's FNO-2D Navier–Stokes `full` step (steps/s,
# TFLOP/s against the device's peak), the Burgers PINN (time per iteration), ETDRK4 2D 512²
# (steps/s), peak memory and jax.devices(), as one JSON file. About 3-5 minutes on one GPU
# (hard limit 8 minutes); `--quick` runs small sizes on a CPU in under 2 minutes.
#
#   scripts/device_check.sh [--quick] [--out FILE.json]
#
# Default output: $OUT/device_check.json when $OUT is set (the device tool), otherwise
# runs/device_check/device_check.json. Runs from the repository root, importing pdejax from
# this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out="${OUT:-runs/device_check}/device_check.json"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
limit=480
case " ${args[*]-} " in *" --quick "*) limit=120 ;; esac
# No XLA preallocation of 75% of GPU memory: peak_bytes_in_use then measures what pdejax uses.
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
python -c "import jax; print('jax', jax.__version__, jax.devices())" >&2
timeout --signal=INT "$limit" python scripts/device_check.py --out "$out" --work "$(dirname "$out")" ${args[@]+"${args[@]}"} >/dev/null
echo "wrote $out" >&2
