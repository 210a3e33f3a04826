"""GPU readiness check: pdejax's headline workloads timed on whatever device JAX sees.

Run by ``scripts/device_check.sh`` (≤ 8 minutes on one GPU; ``--quick``: ≤ 2 minutes on a
2-core CPU, smaller sizes, to show that it works). Writes one JSON object with:

- ``devices``: ``jax.devices()``, device kind, platform, JAX version;
- ``fno_navier_stokes_full``: the training step of ``configs/operator/fno_navier_stokes_full.yaml``
  (recurrent FNO-2D, width 20, 12 x 12 modes, 10 input frames, 41-step unroll with
  gradients through every step, batch 20, AdamW), built by ``pdejax.experiment.build`` on a
  small generated data set of the same shapes (``configs/data/navier_stokes.yaml`` with a
  short horizon: 51 frames, the content does not change the speed) and run by
  ``pdejax.training.make_step`` with the config's ``steps_per_call``: steps/s, XLA's FLOP
  count of one step (``cost_analysis`` of the uncompiled step ``Step.one``), achieved
  TFLOP/s and its fraction of the device's peak (``PEAKS``), compile time, the compiled
  step's memory analysis;
- ``burgers_pinn``: ``configs/pinn/burgers.yaml``'s Adam step (4096 collocation points
  drawn on the device, MLP 4 x 32, forward-mode residual): milliseconds per iteration;
- ``etdrk4_2d_512``: ETDRK4 on 2D Navier–Stokes (Kolmogorov flow, nu = 1e-3) at 512² in
  float32, ``rollout`` of ``steps_per_call`` steps per call: steps/s;
- ``memory``: the device's ``memory_stats()`` (peak bytes in use after each part; ``None``
  on CPU, which keeps no such statistics).

Each timing: a warm-up call (compilation, reported apart), then ``--repeats`` blocks;
median and best seconds per step. Usage::

    python scripts/device_check.py [--quick] [--out FILE.json] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import pdejax
from pdejax.cli import main as pdejax_cli
from pdejax.pde.grid import grid_for
from pdejax.pde.library.two_d import navier_stokes_2d
from pdejax.pde.solve import etdrk4_stepper
from pdejax.spectral import rollout

# Dense peak TFLOP/s (no structured sparsity) from the vendors' data sheets, by a substring of
# jax's device_kind, most specific first. "fp32": plain float32 (CUDA cores); "tf32": float32
# matmuls on tensor cores, which XLA uses for float32 dots at JAX's default precision on
# Ampere and later; "bf16": tensor cores in bfloat16.
PEAKS = [
    ("H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0}),
    ("H100", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4}),  # SXM5
    ("H200", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4}),
    ("GH200", {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4}),
    ("B200", {"fp32": 80.0, "tf32": 1100.0, "bf16": 2250.0}),
    ("A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0}),
    ("L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0}),
    ("L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0}),
    ("A10", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0}),
    ("V100", {"fp32": 15.7, "fp16": 125.0}),
    ("T4", {"fp32": 8.1, "fp16": 65.0}),
    ("TPU v6", {"bf16": 918.0}),
    ("TPU v5p", {"bf16": 459.0}),
    ("TPU v5", {"bf16": 197.0}),  # v5e / v5 lite
    ("TPU v4", {"bf16": 275.0}),
]


def device_peak(kind: str) -> dict | None:
    for name, peak in PEAKS:
        if name.lower() in kind.lower():
            return {"matched": name, **peak}
    return None


def memory_stats() -> dict | None:
    stats = jax.devices()[0].memory_stats()
    if not stats:
        return None
    keys = ("peak_bytes_in_use", "bytes_in_use", "bytes_limit", "largest_alloc_size")
    return {k: int(stats[k]) for k in keys if k in stats}


def _xla(compiled):
    return getattr(compiled, "compiled", compiled)  # equinox's filter_jit wraps jax's Compiled


def memory_analysis(compiled) -> dict | None:
    compiled = _xla(compiled)
    try:
        m = compiled.memory_analysis()
    except Exception:  # not every backend implements it
        return None
    if m is None:
        return None
    names = ("argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes", "generated_code_size_in_bytes",
             "alias_size_in_bytes")
    return {n: int(getattr(m, n)) for n in names if hasattr(m, n)}


def flops_of(compiled) -> float:
    cost = _xla(compiled).cost_analysis()
    cost = cost[0] if isinstance(cost, list | tuple) else cost
    return float(cost.get("flops", float("nan"))) if cost else float("nan")


def time_blocks(call, state, *, steps_per_call: int, calls: int, repeats: int):
    """Seconds per step, per block of ``calls`` calls; the state threads through."""
    per_step = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            state = call(state)
        jax.block_until_ready(state)
        per_step.append((time.perf_counter() - start) / (calls * steps_per_call))
    return per_step, state


def summarise(per_step: list[float]) -> dict:
    med, best = statistics.median(per_step), min(per_step)
    return {"s_per_step_median": med, "s_per_step_best": best, "steps_per_s_median": 1 / med,
            "s_per_step_all": per_step}


def train_step_check(config, overrides: list[str], *, steps_per_call: int, calls: int, repeats: int) -> dict:
    """Build a config, make its first phase's step, time ``steps_per_call`` steps per call."""
    exp = pdejax.experiment.build(config, overrides)
    method, cfg = exp.method, exp.config
    out = {"config": str(config), "overrides": overrides, "dtype": cfg.dtype}
    with pdejax.experiment.precision(cfg):
        step = exp.phases[0].make_step(method.objective, method.source, exp.combiner, exp.mesh)
        state = step.init(method.model, jax.random.key(cfg.seed))
        host = method.source if step.source is None else None
        batches = step.put_batches(host.get(0, steps_per_call)) if host is not None else None
        one_batch = jax.tree.map(lambda x: x[0], batches) if batches is not None else None
        # FLOPs of one step: XLA's count of the uncompiled step compiled alone.
        one = eqx.filter_jit(step.one).lower(state, one_batch).compile()
        out["xla_flops_per_step"] = flops_of(one)
        out["params"] = sum(x.size for x in jax.tree.leaves(eqx.filter(method.model, eqx.is_array)))
        start = time.perf_counter()
        compiled = step.compile(state, batches, steps_per_call)
        out["compile_s"] = time.perf_counter() - start
        out["memory_analysis_one_step"] = memory_analysis(one)

        def call(st):
            return compiled(st, batches)[0]

        state = call(state)  # warm-up
        jax.block_until_ready(state)
        per_step, state = time_blocks(call, state, steps_per_call=steps_per_call, calls=calls, repeats=repeats)
        if host is not None:
            host.close()
    out.update(summarise(per_step))
    out["steps_per_call"] = steps_per_call
    out["tflops_per_s_best"] = out["xla_flops_per_step"] / out["s_per_step_best"] / 1e12
    return out


def navier_stokes_data(path: Path, n_samples: int, n_points: int = 64) -> dict:
    """A small Navier–Stokes trajectory file with the full config's shapes (51 frames)."""
    start = time.perf_counter()
    if not path.exists():
        pdejax_cli(["data", "generate", "data/navier_stokes.yaml", f"n_samples={n_samples}", "chunk_size=8",
                    f"generator.n_points={n_points}", "generator.t_final=5.0", "generator.frame_dt=0.1",
                    "--out", str(path), "--no-progress"])
    return {"path": str(path), "n_samples": n_samples, "generate_s": time.perf_counter() - start}


def etdrk4_check(n: int, *, steps_per_call: int, calls: int, repeats: int, dt: float = 2e-3) -> dict:
    pde = navier_stokes_2d(nu=1e-3, forcing="kolmogorov", drag=0.1, wavenumber=4, length=2 * math.pi)
    grid = grid_for(pde, n)
    step = etdrk4_stepper(pde, grid, dt, dtype=jnp.float32)
    run = rollout(step, steps_per_call, steps_per_call)
    rng = np.random.default_rng(0)  # smooth random vorticity, modes |k| <~ 8
    k = np.sqrt(sum(f**2 for f in np.meshgrid(np.fft.fftfreq(n, 1 / n), np.arange(n // 2 + 1), indexing="ij")))
    w_hat = (rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)) * np.exp(-((k / 8) ** 2)) * (k > 0)
    w = np.fft.irfft2(w_hat, s=(n, n))
    v0 = jnp.fft.rfftn(jnp.asarray(2 * w / w.std(), jnp.float32)[None], axes=grid.axes)
    final = jax.jit(lambda v: run(v)[-1], donate_argnums=0)
    start = time.perf_counter()
    compiled = final.lower(v0).compile()
    compile_s = time.perf_counter() - start
    state = compiled(v0)
    jax.block_until_ready(state)
    per_step, state = time_blocks(compiled, state, steps_per_call=steps_per_call, calls=calls, repeats=repeats)
    finite = bool(jnp.all(jnp.isfinite(state)))
    return {"grid": [n, n], "dt": dt, "dtype": "float32", "steps_per_call": steps_per_call, "compile_s": compile_s,
            "xla_flops_per_step": flops_of(compiled) / steps_per_call, "memory_analysis": memory_analysis(compiled),
            "finite": finite, **summarise(per_step)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a CPU (<= 2 minutes on 2 cores)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=Path("runs/device_check"), help="for the generated data")
    parser.add_argument("--only", nargs="+", choices=["fno", "pinn", "etdrk4"], default=["fno", "pinn", "etdrk4"])
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    dev = jax.devices()[0]
    report = {
        "benchmark": "device_check", "quick": args.quick, "jax_version": jax.__version__,
        "devices": [str(d) for d in jax.devices()], "platform": dev.platform, "device_kind": dev.device_kind,
        "device_count": jax.device_count(), "python": platform.python_version(), "host_cpus": os.cpu_count(),
        "peak_tflops": device_peak(dev.device_kind), "memory": {"start": memory_stats()},
    }
    log = lambda msg: print(f"[{time.perf_counter() - t_start:6.1f} s] {msg}", file=sys.stderr, flush=True)  # noqa: E731
    args.work.mkdir(parents=True, exist_ok=True)
    if "fno" in args.only:
        batch, n_test = (2, 2) if args.quick else (20, 4)
        data = navier_stokes_data(args.work / f"ns_64_{batch + n_test}.h5", batch + n_test)
        log(f"FNO-2D Navier-Stokes data: {data['generate_s']:.1f} s")
        overrides = [f"data.path={Path(data['path']).resolve()}", f"data.n_train={batch}", f"data.n_test={n_test}",
                     f"data.batch_size={batch}"]
        if args.quick:
            overrides += ["objective.unroll=5"]
        spc = 2 if args.quick else 10
        fno = train_step_check("operator/fno_navier_stokes_full.yaml", overrides, steps_per_call=spc,
                               calls=1 if args.quick else 5, repeats=2 if args.quick else 5)
        fno["data"] = data
        peak = report["peak_tflops"]
        if peak:
            fno["fraction_of_peak"] = {k: fno["tflops_per_s_best"] / v for k, v in peak.items() if k != "matched"}
        report["fno_navier_stokes_full"] = fno
        report["memory"]["after_fno"] = memory_stats()
        log(f"FNO: {fno['steps_per_s_median']:.2f} steps/s, {fno['tflops_per_s_best']:.3f} TFLOP/s")
    if "pinn" in args.only:
        pinn = train_step_check("pinn/burgers.yaml", [], steps_per_call=20 if args.quick else 100,
                                calls=1 if args.quick else 5, repeats=2 if args.quick else 5)
        pinn["ms_per_iteration_median"] = pinn["s_per_step_median"] * 1e3
        report["burgers_pinn"] = pinn
        report["memory"]["after_pinn"] = memory_stats()
        log(f"PINN: {pinn['ms_per_iteration_median']:.3f} ms/iteration")
    if "etdrk4" in args.only:
        n = 128 if args.quick else 512
        et = etdrk4_check(n, steps_per_call=5 if args.quick else 50, calls=1 if args.quick else 4,
                          repeats=2 if args.quick else 5)
        report[f"etdrk4_2d_{n}"] = et
        report["memory"]["after_etdrk4"] = memory_stats()
        log(f"ETDRK4 {n}^2: {et['steps_per_s_median']:.1f} steps/s")
    report["wall_s"] = time.perf_counter() - t_start
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
