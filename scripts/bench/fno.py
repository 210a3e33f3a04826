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

Every core of the CPU (``--cpu-devices N``, default the CPU count): the scanned step is
also timed data-parallel over ``N`` CPU devices (``JAX_NUM_CPU_DEVICES=N``, a subprocess
per variant, the batch sharded over a ``("data",)`` mesh, parameters replicated, the
gradient summed by XLA), in two threadings (``DEVICE_THREADING``): ``one_thread`` (each
device's matrix products on the thread that runs the device) and ``shared_pool`` (XLA's
default). ``--check-threads`` prints the cores each set-up uses.

neuraloperator runs eagerly, as its users run it (``scripts/bench/peers/neuralop_fno.py``,
a subprocess in the same run serving one timed block per request). Each runner is timed
in ``--repeats`` rounds, interleaved: round ``r`` times one block of every runner in turn
(the order rotated each round), so that load from other processes hits all alike; the
report gives per-step milliseconds, median and best over blocks, the median of the
per-round ratios (``*_paired``) and the load averages during each case. PyTorch's
threads suffer far more than XLA's from other load (its step took 10-90x its quiet time
at a 1-minute load of 7-10 on 2 cores, pdejax's 2-5x), so a ratio measured on a busy
machine overstates pdejax's lead: read ``load_1m`` beside every ratio.

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
                                [--cpu-devices 2] [--peer-python VENV/bin/python] [--cases 1d_1024 ...]
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
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from pdejax.models import FNO, apply_batch
from pdejax.parallel import data_mesh

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


class _Runner:
    """A compiled step and its state; ``block()`` runs ``n_calls`` calls and times them."""

    def __init__(self, call, state, n_calls: int, steps_per_call: int, info: dict):
        self.call, self.state, self.n_calls, self.steps_per_call, self.info = call, state, n_calls, steps_per_call, info

    def block(self) -> dict:
        """Per-step wall-clock and process CPU milliseconds of one block."""
        start, start_cpu = time.perf_counter(), time.process_time()
        state = self.state
        for _ in range(self.n_calls):
            state = self.call(*state)
        loss = float(state[-1])
        self.state = state
        n = self.n_calls * self.steps_per_call
        return {"wall_ms": (time.perf_counter() - start) / n * 1e3,
                "cpu_ms": (time.process_time() - start_cpu) / n * 1e3, "loss": loss}

    def close(self):
        pass


def prepare_pdejax(grid, width, modes, *, steps, scan, seed=0, mesh=None,
                   modes_to_time=("one_step_per_call", "scan", "scan_vmap")) -> dict[str, _Runner]:
    """Compiled, warmed-up steps of pdejax's FNO, one runner per way of calling it.

    With ``mesh`` (axis ``data``) the batch is sharded over its devices and the model and
    optimizer state replicated: data parallelism, the gradient summed across devices by XLA.
    """
    kx, ky, km = jax.random.split(jax.random.key(seed), 3)
    model = neuralop_like(modes, width, key=km)
    n_params = param_count(model)
    batch = (jax.random.normal(kx, (BATCH, 1, *grid)), jax.random.normal(ky, (BATCH, 1, *grid)))
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    if mesh is not None:
        data, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
        batch = jax.device_put(batch, data)
        model = eqx.filter_shard(model, replicated)
        opt_state = eqx.filter_shard(opt_state, replicated)
    info = {"modes": list(modes), "grid": list(grid), "width": width, "params": n_params,
            "devices": 1 if mesh is None else mesh.size}
    vmap = lambda model, x: jax.vmap(model)(x)  # noqa: E731
    factories = {"one_step_per_call": (lambda: make_train_step(optimizer), 1),
                 "scan": (lambda: make_scanned_steps(optimizer, scan), scan),
                 "scan_vmap": (lambda: make_scanned_steps(optimizer, scan, vmap), scan)}
    runners = {}
    for name in modes_to_time:
        factory, per_call = factories[name]
        jitted = eqx.filter_jit(factory(), donate="all-except-first")
        start = time.perf_counter()
        compiled = jitted.lower(batch, model, opt_state).compile()
        compile_s = time.perf_counter() - start
        cost = compiled.compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list | tuple) else cost
        # per device under a mesh (the SPMD program); times the devices for the whole step
        flops = float(cost.get("flops", float("nan"))) * info["devices"] / per_call
        call = lambda model, opt_state, loss, c=compiled, b=batch: c(b, model, opt_state)  # noqa: E731
        state = call(model, opt_state, None)  # warm-up
        state[-1].block_until_ready()
        model, opt_state = state[0], state[1]
        # copy: the next runner must not see buffers this one donates
        model, opt_state = jax.tree.map(lambda x: x.copy() if eqx.is_array(x) else x, (model, opt_state))
        runners[name] = _Runner(call, state, max(1, steps // per_call), per_call,
                                info | {"steps_per_call": per_call, "compile_s": compile_s,
                                        "xla_flops_per_step": flops})
    return runners


class _Worker:
    """A subprocess that prints a ``ready`` JSON line, then times one block per ``block`` line."""

    def __init__(self, cmd, env=None):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            raise RuntimeError(f"worker {self.proc.args[:3]} exited: {err[-3000:]}")
        return json.loads(line)

    def block(self) -> dict:
        self.proc.stdin.write("block\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


# How the --cpu-devices subprocess runs each of its devices. XLA:CPU runs the programs of the
# devices of one process concurrently (a collective in the step would deadlock otherwise), all
# on one shared intra-op thread pool; by default each device's matrix products (Eigen, XNNPACK)
# are split over that pool too. "one_thread" turns that off, so that each device's products run
# on the thread that runs the device (measure with --check-threads: 1 device then uses about one
# core); "shared_pool" leaves XLA's default.
DEVICE_THREADING = {
    "one_thread": "--xla_cpu_multi_thread_eigen=false --xla_cpu_use_xnnpack=false",
    "shared_pool": "",
}


def cpu_devices_env(n: int, threading: str = "one_thread") -> dict:
    """Environment for a JAX process with ``n`` CPU devices, threaded as ``DEVICE_THREADING[threading]``."""
    env = dict(os.environ)
    env["JAX_NUM_CPU_DEVICES"] = str(n)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + DEVICE_THREADING[threading]).strip()
    return env


def start_devices_worker(grid, width, modes, *, n_devices, steps, scan, threading="one_thread") -> _Worker:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--grid", *map(str, grid), "--width",
           str(width), "--modes", *map(str, modes), "--steps", str(steps), "--scan", str(scan)]
    return _Worker(cmd, env=cpu_devices_env(n_devices, threading))


def start_peer(grid, width, n_modes, *, steps, python, threads=None) -> _Worker:
    cmd = [python, str(PEER_SCRIPT), "--serve", "--n-modes", *map(str, n_modes), "--n-points", *map(str, grid),
           "--width", str(width), "--batch", str(BATCH), "--steps", str(steps)]
    if threads:
        cmd += ["--threads", str(threads)]
    return _Worker(cmd)


def worker_main(args) -> None:
    """``--worker``: pdejax's scanned step data-parallel over every device of this process."""
    mesh = data_mesh()
    runner = prepare_pdejax(tuple(args.grid), args.width, tuple(args.modes), steps=args.steps, scan=args.scan,
                            mesh=mesh, modes_to_time=("scan",))["scan"]
    print(json.dumps(runner.info | {"jax_devices": [str(d) for d in jax.devices()],
                                    "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}), flush=True)
    for line in sys.stdin:
        if line.strip() == "block":
            print(json.dumps(runner.block()), flush=True)


def check_threads(n_devices_list=(1, 2), grid=(1024,), width=64, modes=(16,)) -> dict:
    """Cores used (process CPU time / wall time) by the sharded step under several environments."""
    out = {}
    for flags in dict.fromkeys([*DEVICE_THREADING.values(), "--xla_cpu_multi_thread_eigen=false"]):
        for n in n_devices_list:
            env = dict(os.environ, JAX_NUM_CPU_DEVICES=str(n), XLA_FLAGS=flags)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--grid", *map(str, grid),
                   "--width", str(width), "--modes", *map(str, modes), "--steps", "10", "--scan", "5"]
            worker = _Worker(cmd, env=env)
            blocks = [worker.block() for _ in range(3)]
            worker.close()
            wall = statistics.median(b["wall_ms"] for b in blocks)
            cpu = statistics.median(b["cpu_ms"] for b in blocks)
            out[f"devices={n} XLA_FLAGS='{flags}'"] = {"ms_per_step": round(wall, 1), "cpu_ms_per_step": round(cpu, 1),
                                                        "cores_used": round(cpu / wall, 2)}
            print(json.dumps({k: v for k, v in out.items()}), file=sys.stderr, flush=True)
    return out


def peer_available(python: str) -> bool:
    code = "import torch, neuralop.models"
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


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


def _stats(blocks: list[dict]) -> dict:
    wall = [b["wall_ms"] for b in blocks]
    return {"ms_per_step_median": statistics.median(wall), "ms_per_step_best": min(wall), "ms_per_step_all": wall,
            "cpu_ms_per_step_median": statistics.median(b["cpu_ms"] for b in blocks),
            "cores_used_median": statistics.median(b["cpu_ms"] / b["wall_ms"] for b in blocks),
            "final_loss": blocks[-1].get("loss")}


def run_case(grid, width, modes, n_modes, *, steps, repeats, scan, cpu_devices, peer_python, threads,
             device_threading=("one_thread", "shared_pool")) -> dict:
    """Every timing of one case, interleaved: round ``r`` times block ``r`` of each runner in turn."""
    runners = prepare_pdejax(grid, width, modes, steps=steps, scan=scan)
    dev_keys = {f"scan_{cpu_devices}_devices_{threading}": threading for threading in device_threading}
    try:
        if cpu_devices > 1:
            for key, threading in dev_keys.items():
                runners[key] = start_devices_worker(grid, width, modes, n_devices=cpu_devices, steps=steps,
                                                    scan=scan, threading=threading)
        if peer_python:
            runners["neuraloperator"] = start_peer(grid, width, n_modes, steps=max(1, steps // 2), python=peer_python,
                                                   threads=threads)
        load_before = os.getloadavg()
        names = list(runners)
        blocks = {name: [] for name in names}
        for r in range(repeats):
            for name in names[r % len(names):] + names[: r % len(names)]:  # rotate who goes first
                blocks[name].append(runners[name].block())
    finally:
        for runner in runners.values():
            runner.close()
    ours = {"params": runners["scan"].info["params"], "modes": list(modes), "grid": list(grid), "width": width,
            "xla_flops_per_step": runners["one_step_per_call"].info["xla_flops_per_step"]}
    for name in ("one_step_per_call", "scan", "scan_vmap"):
        ours[name] = runners[name].info | _stats(blocks[name])
        ours[name]["gflops_per_s_best"] = ours["xla_flops_per_step"] / ours[name]["ms_per_step_best"] / 1e6
    entry = {"pdejax": ours, "loadavg_during": [load_before, os.getloadavg()]}
    for key in dev_keys:
        if key in runners:
            entry.setdefault("pdejax_cpu_devices", {})[key] = runners[key].info | _stats(blocks[key])
    theirs = None
    if "neuraloperator" in runners:
        theirs = entry["neuraloperator"] = runners["neuraloperator"].info | _stats(blocks["neuraloperator"])
        if theirs["params"] != ours["params"]:
            raise AssertionError(f"{grid}: parameter counts differ, pdejax {ours['params']} "
                                 f"vs neuraloperator {theirs['params']}")
        if tuple(theirs["kept_modes_per_axis"]) != tuple(2 * m for m in modes[:-1]) + (modes[-1],):
            raise AssertionError(f"{grid}: kept modes differ, {theirs['kept_modes_per_axis']}")
        timed = {m: blocks[m] for m in ("one_step_per_call", "scan", "scan_vmap", *dev_keys) if m in blocks}
        for mode, ours_blocks in timed.items():
            mine = entry["pdejax"].get(mode) or entry["pdejax_cpu_devices"][mode]
            entry[f"speedup_{mode}_median"] = theirs["ms_per_step_median"] / mine["ms_per_step_median"]
            entry[f"speedup_{mode}_best"] = theirs["ms_per_step_best"] / mine["ms_per_step_best"]
            # ratio within each round (timed back to back), median over rounds: steadier on a busy machine
            entry[f"speedup_{mode}_paired_median"] = statistics.median(
                t["wall_ms"] / o["wall_ms"] for t, o in zip(blocks["neuraloperator"], ours_blocks, strict=True))
    return entry


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: two small cases, few steps")
    parser.add_argument("--no-peer", action="store_true", help="do not run neuraloperator")
    parser.add_argument("--peer-python", default=os.environ.get("NEURALOP_PYTHON", sys.executable),
                        help="python with torch and neuraloperator (default: $NEURALOP_PYTHON or this python)")
    parser.add_argument("--cpu-devices", type=int, default=os.cpu_count(),
                        help="also time the scanned step data-parallel over this many one-thread CPU devices "
                             "(a subprocess; 0 or 1: skip)")
    parser.add_argument("--device-threading", nargs="+", default=list(DEVICE_THREADING), choices=list(DEVICE_THREADING),
                        help="how each --cpu-devices device is threaded (each a subprocess; see DEVICE_THREADING)")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=None, help="timed blocks (rounds)")
    parser.add_argument("--scan", type=int, default=None, help="steps per compiled call in the scan timing")
    parser.add_argument("--threads", type=int, default=None,
                        help="1: both libraries on one thread pinned to the last CPU (less sensitive to other load)")
    parser.add_argument("--cases", nargs="+", default=None, help="only these cases (e.g. 1d_1024 2d_64x64)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--check-threads", action="store_true",
                        help="print the cores the 1- and 2-device step use with and without the one-thread flag")
    # internal: the --cpu-devices subprocess
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--grid", type=int, nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--modes", type=int, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args)
    if args.check_threads:
        result = {"check_threads": check_threads(), "cpu_count": os.cpu_count(), "loadavg": os.getloadavg()}
        print(json.dumps(result, indent=1))
        return result
    if args.threads is not None:
        if args.threads != 1:
            parser.error("--threads supports 1 (default: all CPUs)")
        # XLA reads its flags when the CPU backend starts, at the first computation below.
        os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
        args.cpu_devices = 0
    steps = args.steps or (2 if args.quick else 10)
    repeats = args.repeats or (2 if args.quick else 5)
    scan = args.scan or (2 if args.quick else 10)
    peer_python = None if args.no_peer or not peer_available(args.peer_python) else args.peer_python
    if not args.no_peer and peer_python is None:
        print(f"neuraloperator not importable by {args.peer_python}: timing pdejax only (see --peer-python)",
              file=sys.stderr)
    report = {
        "benchmark": "fno_train_step", "batch": BATCH, "n_layers": 4, "dtype": "float32",
        "jax_version": jax.__version__, "equinox_version": eqx.__version__, "optax_version": optax.__version__,
        "python": platform.python_version(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "threads": args.threads or os.cpu_count(), "cpu_devices": args.cpu_devices,
        "cpu_devices_xla_flags": {t: cpu_devices_env(args.cpu_devices, t)["XLA_FLAGS"] for t in args.device_threading}
        if args.cpu_devices > 1 else None,
        "loadavg_before": os.getloadavg(), "steps_per_repeat": steps, "repeats": repeats, "scan_steps_per_call": scan,
        "matmul_f32_gflops_2048": matmul_gflops(), "comparisons": {},
    }
    for comparison, cases in CASES.items():
        if args.quick:
            cases = [c for c in cases if c[0] in ("1d_256", "2d_64x64")][: 1 if comparison != "same_kept_modes" else 2]
        if args.cases:
            cases = [c for c in cases if c[0] in args.cases]
        results = {}
        for name, grid, width, modes, n_modes in cases:
            entry = run_case(grid, width, modes, n_modes, steps=steps, repeats=repeats, scan=scan,
                             cpu_devices=args.cpu_devices, peer_python=peer_python, threads=args.threads,
                             device_threading=args.device_threading)
            results[name] = entry
            line = {"comparison": comparison, "case": name, "load": os.getloadavg()[0],
                    "pdejax_ms": {m: round(entry["pdejax"][m]["ms_per_step_median"], 1)
                                  for m in ("one_step_per_call", "scan", "scan_vmap")}}
            for key, dev in entry.get("pdejax_cpu_devices", {}).items():
                line[key + "_ms"] = round(dev["ms_per_step_median"], 1)
            if "neuraloperator" in entry:
                line["neuralop_ms"] = round(entry["neuraloperator"]["ms_per_step_median"], 1)
            print(json.dumps(line), file=sys.stderr, flush=True)
        report["comparisons"][comparison] = results
    report["peer"] = ({"python": peer_python, "neuraloperator_version": _peer_field("neuraloperator_version", report),
                       "torch_version": _peer_field("torch_version", report),
                       "threads": _peer_field("threads", report)} if peer_python else None)
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
            ours, theirs = entry["pdejax"], entry.get("neuraloperator")
            line = {"params": ours["params"], "pdejax_modes": ours["modes"],
                    "pdejax_ms_one_step_per_call": round(ours["one_step_per_call"]["ms_per_step_median"], 1),
                    "pdejax_ms_scan": round(ours["scan"]["ms_per_step_median"], 1),
                    "pdejax_ms_scan_vmap": round(ours["scan_vmap"]["ms_per_step_median"], 1)}
            for key, dev in entry.get("pdejax_cpu_devices", {}).items():
                line[f"pdejax_ms_{key}"] = round(dev["ms_per_step_median"], 1)
            if theirs is not None:
                line |= {"neuralop_n_modes": theirs["n_modes"], "neuralop_ms": round(theirs["ms_per_step_median"], 1)}
                for mode in ("one_step_per_call", "scan_vmap", "scan", *entry.get("pdejax_cpu_devices", {})):
                    if f"speedup_{mode}_median" in entry:
                        line[f"speedup_{mode}"] = round(entry[f"speedup_{mode}_median"], 2)
                        line[f"speedup_{mode}_paired"] = round(entry[f"speedup_{mode}_paired_median"], 2)
            line["load_1m"] = [round(entry["loadavg_during"][0][0], 2), round(entry["loadavg_during"][1][0], 2)]
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
