"""Benchmark: the FNO training step in pdejax against neuraloperator 2.0 (PyTorch), on CPU.

What is timed
-------------
One training step on a batch of 20 random ``(1, *grid)`` inputs and targets: forward
pass, relative L2 loss (per-sample ``||pred - y|| / ||y||``, mean over the batch),
backward pass and an Adam update. pdejax's step is ``eqx.filter_jit``-compiled once
(model and optimizer-state buffers donated; compile time excluded, reported apart),
and timed two ways:

The model is applied to the batch with ``pdejax.models.apply_batch`` (``FNO.batch``: the
batch-native path the operator objectives use); ``scan_vmap`` times the same scanned step
with ``jax.vmap(model)`` instead, to show what that path is worth.

- ``one_step_per_call``: one compiled call per step, the step as written above;
- ``scan``: ``--scan`` steps per compiled call (``lax.scan``), as ``pdejax.training.fit``
  runs them (``steps_per_call``, default 100). On CPU every call of a compiled
  function gets a fresh buffer for its intermediates (``mmap``, about 200 MB for the 1D
  1024 step) and pays the kernel's page faults on first touch: a third of the time of
  one step on this machine. Several steps per call pay that once. (So does running
  with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``, which backs those buffers with
  transparent huge pages.)

neuraloperator runs eagerly, as its users run it (``scripts/bench/peers/neuralop_fno.py``,
started as a subprocess in the same run). Each is timed in ``--repeats`` blocks; the
report gives per-step milliseconds, median and best over blocks.

Sizes: 1D with 256, 1024 and 4096 points, width 64, 4 layers, 16 Fourier modes kept;
2D on 64x64 with 12x12 modes kept (as the paper counts them: 24 x 12 coefficients),
width 32.

Like with like
--------------
neuraloperator counts modes differently: on the last (rfft) axis ``n_modes=n`` keeps
``n // 2 + 1`` modes, on other axes ``n`` frequencies centred on zero; the paper (and
pdejax) keeps ``m`` rfft modes and ``2m`` frequencies. So each size is compared twice:

(a) ``same_kept_modes``: pdejax ``modes=16`` against neuraloperator ``n_modes=30`` (both
    keep rfft modes 0..15); in 2D ``(12, 12)`` against ``(24, 22)`` (both keep 24 x 12);
(b) ``neuralop_default_modes``: neuraloperator's ``n_modes=16`` (9 kept; ``(16, 16)`` keeps
    16 x 9 in 2D) against pdejax ``modes=9`` (``(8, 9)`` in 2D).

In both, pdejax's FNO is configured as neuraloperator 2.0's default FNO (read from its
source): grid positional features, a two-layer lifting and projection of hidden width
``2 * width``, a channel MLP of expansion 0.5 with a soft-gating skip in each block, a
linear skip around each spectral convolution, GELU; the script asserts that both have
the same number of real parameters (a complex weight counts twice). Differences that
remain: pdejax's ``gelu`` is the tanh approximation, torch's the exact erf form; the
FFT normalisation differs (a constant factor absorbed by the weights).

The report also gives XLA's FLOP estimate of the compiled step (``cost_analysis``), the
achieved GFLOP/s, this CPU's float32 matmul rate measured in the same run, versions,
the CPU count and load averages (a busy machine slows both, PyTorch's spinning threads
much more: rerun when the 1-minute load is above ~0.5 per core).

With ``--threads 1`` both run on one thread pinned to the same CPU; the process CPU
time per step (reported for both) is then nearly independent of other load.

Prints one JSON object (``--out`` also writes it). Usage::

    python scripts/bench/fno.py [--quick] [--out FILE] [--no-peer] [--scan 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from pdejax.models import FNO, apply_batch

PEER_SCRIPT = Path(__file__).with_name("peers") / "neuralop_fno.py"
BATCH = 20
# neuraloperator 2.0.0 with PyTorch 2.13 on CPU, measured by someone else on this kind of
# machine (the issue): per-step milliseconds with its default n_modes=16.
ISSUE_REFERENCE_NEURALOP = {
    "1d_256_ms_per_step": 105.0,
    "1d_1024_ms_per_step": 355.0,
    "2d_64x64_ms_per_step": 662.0,
    "notes": "neuraloperator 2.0.0, PyTorch 2.13 CPU, n_modes=16 (9 rfft modes kept); not measured in this run",
}
# (name, grid, width, pdejax modes, neuraloperator n_modes)
CASES = {
    "same_kept_modes": [
        ("1d_256", (256,), 64, (16,), (30,)),
        ("1d_1024", (1024,), 64, (16,), (30,)),
        ("1d_4096", (4096,), 64, (16,), (30,)),
        ("2d_64x64", (64, 64), 32, (12, 12), (24, 22)),
    ],
    "neuralop_default_modes": [
        ("1d_256", (256,), 64, (9,), (16,)),
        ("1d_1024", (1024,), 64, (9,), (16,)),
        ("1d_4096", (4096,), 64, (9,), (16,)),
        ("2d_64x64", (64, 64), 32, (8, 9), (16, 16)),
    ],
}


def neuralop_like(modes: tuple[int, ...], width: int, *, key) -> FNO:
    """pdejax's FNO with neuraloperator 2.0's default architecture and parameter count."""
    return FNO(1, 1, modes, width, 4, lifting=2 * width, projection=2 * width, channel_mlp=0.5,
               grid_features=True, key=key)


def param_count(model) -> int:
    return sum(x.size for x in jax.tree.leaves(eqx.filter(model, eqx.is_array)))


def relative_l2(pred, y):
    """Per-sample ``||pred - y|| / ||y||``, mean over the batch."""
    axes = tuple(range(1, y.ndim))
    return jnp.mean(jnp.sqrt(jnp.sum((pred - y) ** 2, axes)) / jnp.sqrt(jnp.sum(y**2, axes)))


def make_train_step(optimizer, apply=apply_batch):
    """One Adam step on the mean relative L2 loss of a batch."""

    def step(batch, model, opt_state):
        x, y = batch

        def loss_fn(model):
            return relative_l2(apply(model, x), y)

        loss, grads = eqx.filter_value_and_grad(loss_fn)(model)
        updates, opt_state = optimizer.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    return step


def make_scanned_steps(optimizer, n: int, apply=apply_batch):
    """``n`` steps in one compiled call (``lax.scan``), as ``pdejax.training.fit`` runs them."""
    step = make_train_step(optimizer, apply)

    def steps(batch, model, opt_state):
        params, static = eqx.partition(model, eqx.is_array)

        def one(carry, _):
            model, opt_state, loss = step(batch, eqx.combine(carry[0], static), carry[1])
            return (eqx.filter(model, eqx.is_array), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(one, (params, opt_state), None, length=n)
        return eqx.combine(params, static), opt_state, losses[-1]

    return steps


def _time_calls(call, state, n_calls: int, repeats: int, steps_per_call: int):
    """Per-step wall-clock and process CPU milliseconds of ``repeats`` blocks of ``n_calls`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(n_calls):
            state = call(*state)
        state[-1].block_until_ready()
        wall.append((time.perf_counter() - start) / (n_calls * steps_per_call) * 1e3)
        cpu.append((time.process_time() - start_cpu) / (n_calls * steps_per_call) * 1e3)
    return wall, cpu, state


def time_pdejax(grid, width, modes, *, steps, repeats, scan, seed=0) -> dict:
    kx, ky, km = jax.random.split(jax.random.key(seed), 3)
    model = neuralop_like(modes, width, key=km)
    n_params = param_count(model)
    batch = (jax.random.normal(kx, (BATCH, 1, *grid)), jax.random.normal(ky, (BATCH, 1, *grid)))
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    result = {"modes": list(modes), "grid": list(grid), "width": width, "params": n_params}
    vmap = lambda model, x: jax.vmap(model)(x)  # noqa: E731
    for name, fn, per_call in [("one_step_per_call", make_train_step(optimizer), 1),
                               ("scan", make_scanned_steps(optimizer, scan), scan),
                               ("scan_vmap", make_scanned_steps(optimizer, scan, vmap), scan)]:
        jitted = eqx.filter_jit(fn, donate="all-except-first")
        start = time.perf_counter()
        compiled = jitted.lower(batch, model, opt_state).compile()
        compile_s = time.perf_counter() - start
        if per_call == 1:
            cost = compiled.compiled.cost_analysis()
            cost = cost[0] if isinstance(cost, list | tuple) else cost
            flops = float(cost.get("flops", float("nan")))
            result["xla_flops_per_step"] = flops
        call = lambda model, opt_state, loss, c=compiled: c(batch, model, opt_state)
        state = call(model, opt_state, None)  # warm-up
        state[-1].block_until_ready()
        n_calls = max(1, steps // per_call)
        per_step, cpu, state = _time_calls(call, state, n_calls, repeats, per_call)
        model, opt_state, loss = state
        best = min(per_step)
        result[name] = {"steps_per_call": per_call, "calls_per_repeat": n_calls,
                        "ms_per_step_median": statistics.median(per_step), "ms_per_step_best": best,
                        "ms_per_step_all": per_step, "cpu_ms_per_step_median": statistics.median(cpu),
                        "compile_s": compile_s,
                        "gflops_per_s_best": result["xla_flops_per_step"] / best / 1e6, "final_loss": float(loss)}
    return result


def run_peer(grid, width, n_modes, *, steps, repeats, threads=None) -> dict | None:
    cmd = [sys.executable, str(PEER_SCRIPT), "--n-modes", *map(str, n_modes), "--n-points", *map(str, grid),
           "--width", str(width), "--batch", str(BATCH), "--steps", str(steps), "--repeats", str(repeats)]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peer_available() -> bool:
    code = "import torch, neuralop.models"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(jnp.dot)
    f(a, a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        f(a, a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: two small cases, few steps")
    parser.add_argument("--no-peer", action="store_true", help="do not run neuraloperator")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=None, help="timed blocks")
    parser.add_argument("--scan", type=int, default=None, help="steps per compiled call in the scan timing")
    parser.add_argument("--threads", type=int, default=None,
                        help="1: both libraries on one thread pinned to the last CPU (less sensitive to other load)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads != 1:
            parser.error("--threads supports 1 (default: all CPUs)")
        # XLA reads its flags when the CPU backend starts, at the first computation below.
        os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    steps = args.steps or (2 if args.quick else 10)
    repeats = args.repeats or (2 if args.quick else 5)
    scan = args.scan or (2 if args.quick else 10)
    peer = not args.no_peer and peer_available()
    report = {
        "benchmark": "fno_train_step", "batch": BATCH, "n_layers": 4, "dtype": "float32",
        "jax_version": jax.__version__, "equinox_version": eqx.__version__, "optax_version": optax.__version__,
        "python": platform.python_version(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "threads": args.threads or os.cpu_count(),
        "loadavg_before": os.getloadavg(), "steps_per_repeat": steps, "repeats": repeats, "scan_steps_per_call": scan,
        "matmul_f32_gflops_2048": matmul_gflops(), "comparisons": {},
    }
    for comparison, cases in CASES.items():
        if args.quick:
            cases = [c for c in cases if c[0] in ("1d_256", "2d_64x64")][: 1 if comparison != "same_kept_modes" else 2]
        results = {}
        for name, grid, width, modes, n_modes in cases:
            ours = time_pdejax(grid, width, modes, steps=steps, repeats=repeats, scan=scan)
            theirs = (run_peer(grid, width, n_modes, steps=max(1, steps // 2), repeats=repeats, threads=args.threads)
                      if peer else None)
            entry = {"pdejax": ours, "neuraloperator": theirs}
            if theirs is not None:
                if theirs["params"] != ours["params"]:
                    raise AssertionError(f"{comparison}/{name}: parameter counts differ, pdejax {ours['params']} "
                                         f"vs neuraloperator {theirs['params']}")
                if tuple(theirs["kept_modes_per_axis"]) != tuple(2 * m for m in modes[:-1]) + (modes[-1],):
                    raise AssertionError(f"{comparison}/{name}: kept modes differ, {theirs['kept_modes_per_axis']}")
                for mode in ("one_step_per_call", "scan", "scan_vmap"):
                    entry[f"speedup_{mode}_median"] = theirs["ms_per_step_median"] / ours[mode]["ms_per_step_median"]
                    entry[f"speedup_{mode}_best"] = theirs["ms_per_step_best"] / ours[mode]["ms_per_step_best"]
            results[name] = entry
            print(json.dumps({"comparison": comparison, "case": name, "load": os.getloadavg()[0],
                              "pdejax_ms": {m: round(ours[m]["ms_per_step_median"], 1)
                                            for m in ("one_step_per_call", "scan", "scan_vmap")},
                              "neuralop_ms": theirs and round(theirs["ms_per_step_median"], 1)}),
                  file=sys.stderr, flush=True)
        report["comparisons"][comparison] = results
    report["peer"] = ({"neuraloperator_version": _peer_field("neuraloperator_version", report),
                       "torch_version": _peer_field("torch_version", report),
                       "threads": _peer_field("threads", report)} if peer else None)
    report["issue_reference_neuralop"] = ISSUE_REFERENCE_NEURALOP
    report["loadavg_after"] = os.getloadavg()
    report["summary"] = _summary(report)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return report


def _summary(report: dict) -> dict:
    """Median milliseconds per step and speedups, one line per comparison and size."""
    out = {}
    for comparison, results in report["comparisons"].items():
        for name, entry in results.items():
            ours, theirs = entry["pdejax"], entry["neuraloperator"]
            line = {"params": ours["params"], "pdejax_modes": ours["modes"],
                    "pdejax_ms_one_step_per_call": round(ours["one_step_per_call"]["ms_per_step_median"], 1),
                    "pdejax_ms_scan": round(ours["scan"]["ms_per_step_median"], 1),
                    "pdejax_ms_scan_vmap": round(ours["scan_vmap"]["ms_per_step_median"], 1)}
            if theirs is not None:
                line |= {"neuralop_n_modes": theirs["n_modes"], "neuralop_ms": round(theirs["ms_per_step_median"], 1),
                         "speedup_one_step_per_call": round(entry["speedup_one_step_per_call_median"], 2),
                         "speedup_scan_vmap": round(entry["speedup_scan_vmap_median"], 2),
                         "speedup_scan": round(entry["speedup_scan_median"], 2)}
            out[f"{comparison}/{name}"] = line
    return out


def _peer_field(field: str, report: dict):
    for results in report["comparisons"].values():
        for entry in results.values():
            if entry.get("neuraloperator"):
                return entry["neuraloperator"][field]
    return None


if __name__ == "__main__":
    main()
