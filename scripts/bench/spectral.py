"""Benchmark: pdejax's ETDRK4 spectral stepper against exponax, on identical problems.

The problems (``spectral_problems.py``; periodic, Fourier pseudo-spectral, dealiased):

- ``ks_1d``: Kuramoto–Sivashinsky ``u_t + u u_x + u_xx + u_xxxx = 0``, L = 60, N = 256;
  ``ks_1d_4096``: the same resolution on L = 960, N = 4096; ``ks_1d_batch_64`` and
  ``ks_1d_batch_1024``: ``jax.vmap`` over 64 and 1024 translated copies of ks_1d's state.
- ``burgers_1d``: ``u_t + u u_x = 0.01 u_xx`` on ``[0, 1)``, N = 256, ``u0 = sin(2 pi x)``.
- ``kolmogorov_2d``: vorticity form of 2D Navier–Stokes on ``[0, 2 pi)²``, 128², nu = 0.01,
  drag 0.1, Kolmogorov forcing at wavenumber 4 (exponax's ``KolmogorovFlowVorticity``);
  ``kolmogorov_2d_512``: 512², nu = 1e-3.
- ``gray_scott_3d``: Gray–Scott reaction–diffusion at 64³ (1/2 dealiasing, cubic term).

Like for like: exponax in its best configuration (its conservative convection where it has
one, Fourier-space stepping), ETDRK4 (the same method as pdejax) and ETDRK2 (its default)
both measured; same grid, same band-limited initial state, same kept modes, same precision.

For each problem, all in one process and interleaved so that load hits all alike:

(a) time per step of one jitted loop of ``steps_per_call`` steps that keeps only the final
    state (pdejax ``rollout(step, n, n)``, exponax ``ex.repeat(stepper.step_fourier, n)``);
(b) the FFTs of one step, read from its compiled HLO (type, shape, lengths), each timed
    alone in a ``lax.fori_loop`` whose only glue is writing one element of the output back
    into the input (in place); ``fft_limit_ratio`` = step time / the sum of its FFTs' times;
(c) transforms per step (single-field FFTs in the HLO), for KS and Burgers also of the
    advective form ``-u u_x`` (the "before"; also timed);
(d) error against time: each solver at a sweep of dt to a final time T, relative L2 error
    against a float64 pdejax ETDRK4 reference at a small dt, and the time each needs to
    reach a target error ("speedup at equal accuracy", against exponax ETDRK4, ETDRK2 and
    the faster of the two at each target);
(e) in float64, one step of pdejax ETDRK4 against exponax ETDRK4 from the same state at
    dt, dt/2, dt/4: the check that both solve the same PDE.

Every timing is taken on two clocks, wall and this process's CPU time (steadier when other
processes load the cores); ``--clock`` picks the one of the summary (default wall), the
JSON has both and a summary for each.

Prints one JSON object (``--out`` also writes it; ``--markdown`` prints the summary tables
as Markdown instead, for the README). Usage::

    pip install --no-deps exponax==0.2.0      # the peer, in the same Python
    python scripts/bench/spectral.py [--quick] [--problems ks_1d,...] [--dtype float64]
                                     [--clock wall|cpu] [--out FILE] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import pdejax
from pdejax.pde.grid import grid_for
from pdejax.pde.solve import etdrk4_stepper, initial_condition
from pdejax.spectral import FourierGrid, rollout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from spectral_problems import PROBLEM_NAMES, Problem, build_problems, ex  # noqa: E402

TARGET_ERRORS = (1e-3, 1e-4, 1e-5)
FFT_LIMIT_GOAL = 1.25
PDEJAX = "pdejax_etdrk4"
SOLVERS = (PDEJAX, "exponax_etdrk4", "exponax_etdrk2")


def log(msg: str) -> None:
    print(f"[spectral {time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


# --- problem set-up -----------------------------------------------------------------------------


def matched_dealiasing_fraction(grid: FourierGrid, rule: str = "2/3") -> float:
    """exponax's ``dealiasing_fraction`` keeping exactly pdejax's modes for ``rule``.

    exponax keeps ``|k| <= fraction * (N//2) - 1`` per axis, pdejax ``|k| < 2/3 * (N//2)``
    for 2/3 (85 vs 84 modes at N = 256 with exponax's default): with this fraction both keep
    ``|k| <= K``.
    """
    mask = grid.dealias_mask(rule)
    kept = int(mask.reshape(-1, mask.shape[-1])[0].sum()) - 1
    return (kept + 1.5) / (grid.sizes[-1] // 2)


def band_limit(grid: FourierGrid, u: np.ndarray, rule: str = "2/3") -> np.ndarray:
    """``u`` without the modes the dealiasing drops, so that both solvers see the same state."""
    axes = tuple(range(-len(grid.sizes), 0))
    return np.fft.irfftn(np.fft.rfftn(u, axes=axes) * grid.dealias_mask(rule), s=grid.sizes, axes=axes)


def build_exponax(problem: Problem, grid: FourierGrid, dt: float, order: int, dtype):
    """The exponax stepper, built in the run's precision (its coefficients in float32 for a
    float32 run, as an exponax user gets them), with pdejax's dealiasing mask."""
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        stepper = problem.exponax_stepper(dt, order, matched_dealiasing_fraction(grid, problem.dealias))
    nonlinear = stepper._integrator._nonlinear_fun
    expected = grid.dealias_mask(problem.dealias)
    mask = np.asarray(nonlinear.dealiasing_mask).reshape(expected.shape)
    if not np.array_equal(mask, expected):
        raise RuntimeError(f"{problem.name}: exponax's dealiasing mask differs from pdejax's")
    return stepper


def solvers(problem: Problem, grid: FourierGrid, dt: float, dtype, n_steps: int,
            names=SOLVERS) -> dict[str, tuple[Callable, Callable, float]]:
    """``name -> (one_step, n_steps_final_state, sign)``: Fourier state to Fourier state,
    vmapped for a batch problem; ``sign`` maps pdejax's state to the solver's."""
    out = {}
    for name in names:
        if name.startswith("pdejax"):
            pde = problem.advective_pde if name.endswith("advective") else problem.pde
            step = etdrk4_stepper(pde, grid, dt, dealias=problem.dealias, dtype=dtype)
            run = rollout(step, n_steps, n_steps)
            one, final, sign = (lambda v, step=step: step(v, 0.0)), (lambda v, run=run: run(v)[-1]), 1.0
        elif ex is not None:
            stepper = build_exponax(problem, grid, dt, int(name[-1]), dtype)
            one = lambda v, stepper=stepper: stepper.step_fourier(v)  # (jit cannot hash a bound method)
            final, sign = ex.repeat(stepper.step_fourier, n_steps), problem.exponax_sign
        else:
            continue
        if problem.batch:
            one, final = jax.vmap(one), jax.vmap(final)
        out[name] = (one, final, sign)
    return out


def pdejax_final_state(problem: Problem, grid: FourierGrid, dt: float, n_steps: int, dtype) -> Callable:
    """``v̂0 -> v̂ after n_steps`` (Fourier state, one trajectory), one ``lax`` loop."""
    step = etdrk4_stepper(problem.pde, grid, dt, dealias=problem.dealias, dtype=dtype)
    run = rollout(step, n_steps, n_steps)
    return jax.jit(lambda v0: run(v0)[-1])


def random_field(n: int, dim: int, k0: float, seed: int = 0) -> np.ndarray:
    """A smooth random field on ``n^dim`` points, spectrum ~ exp(-(|k|/k0)²) in mode
    numbers, zero mean, unit standard deviation."""
    rng = np.random.default_rng(seed)
    freqs = [np.fft.fftfreq(n, 1 / n)] * (dim - 1) + [np.arange(n // 2 + 1)]
    k = np.sqrt(sum(f**2 for f in np.meshgrid(*freqs, indexing="ij")))
    f_hat = (rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)) * np.exp(-(k / k0) ** 2) * (k > 0)
    f = np.fft.irfftn(f_hat, s=(n,) * dim, axes=tuple(range(dim)))
    return f / f.std()


def initial_fields(problem: Problem, grid: FourierGrid) -> np.ndarray:
    """The problem's initial fields before band-limiting and warm-up, ``(fields, *sizes)``."""
    n = problem.n_points
    if problem.initial == "random_vorticity":  # smooth random vorticity, standard deviation 2
        return 2 * random_field(n, 2, 4.0)[None]
    if problem.initial == "random_1d":  # small smooth noise, grows into the chaotic state
        return 0.1 * random_field(n, 1, n / 64)[None]
    if problem.initial == "random_reaction":  # (u, v) = (1 - g/2, g/4), g a smooth random field in [0, 1]
        g = random_field(n, len(grid.sizes), 3.0)
        g = (g - g.min()) / (g.max() - g.min())
        return np.stack([1 - g / 2, g / 4])
    return np.asarray(initial_condition(problem.pde, grid, jnp.float64))


def make_initial_state(problem: Problem, grid: FourierGrid) -> np.ndarray:
    """float64 initial state of shape ``(fields, *sizes)``, band-limited (module docstring)."""
    with jax.enable_x64(True):
        u0 = band_limit(grid, initial_fields(problem, grid), problem.dealias)
        if problem.warmup_time > 0:
            n_steps = round(problem.warmup_time / problem.warmup_dt)
            run = pdejax_final_state(problem, grid, problem.warmup_dt, n_steps, jnp.float64)
            v = np.asarray(run(jnp.fft.rfftn(jnp.asarray(u0), axes=grid.axes)))
            u0 = band_limit(grid, np.fft.irfftn(v, s=grid.sizes, axes=grid.axes), problem.dealias)
    return u0


def translated_copies(u: np.ndarray, batch: int) -> np.ndarray:
    """``batch`` copies of ``u`` shifted along the last axis by ``floor(k N / batch)`` points."""
    n = u.shape[-1]
    return np.stack([np.roll(u, (k * n) // batch, axis=-1) for k in range(batch)])


# --- HLO: transforms and kernels of one step ----------------------------------------------------

FFT_OP = re.compile(r"=\s*(\w+)\[([\d,]*)\][^\s]*\s+fft\(.*?fft_type=(\w+),\s*fft_length=\{([\d,]+)\}")
REAL_OF = {"c64": "f32", "c128": "f64"}
COMPLEX_OF = {v: k for k, v in REAL_OF.items()}
DTYPES = {"f32": np.float32, "f64": np.float64, "c64": np.complex64, "c128": np.complex128}


def fft_ops(hlo: str) -> list[dict] | None:
    """The FFT instructions of a compiled HLO module: type, operand dtype and shape, lengths
    and the number of single-field transforms each makes. The operand is inferred from the
    result and ``fft_length`` (XLA does not always print operand shapes). ``None`` when the
    module names its FFTs in some other way (then nothing is claimed)."""
    ops = []
    for out_dtype, out_shape, kind, lengths in FFT_OP.findall(hlo):
        shape = [int(d) for d in out_shape.split(",") if d]
        lens = [int(d) for d in lengths.split(",")]
        batch = shape[:len(shape) - len(lens)]
        if kind == "RFFT":
            in_dtype, in_shape = REAL_OF.get(out_dtype), batch + lens
        elif kind == "IRFFT":
            in_dtype, in_shape = COMPLEX_OF.get(out_dtype), batch + lens[:-1] + [lens[-1] // 2 + 1]
        elif kind in ("FFT", "IFFT"):
            in_dtype, in_shape = out_dtype, shape
        else:
            return None
        if in_dtype is None:
            return None
        ops.append({"fft_type": kind, "operand_dtype": in_dtype, "operand_shape": in_shape, "fft_length": lens,
                    "transforms": math.prod(batch)})
    if not ops:
        return None
    return ops


def fft_key(op: dict) -> str:
    return f"{op['fft_type']} {op['operand_dtype']}[{','.join(map(str, op['operand_shape']))}] " \
           f"length {'x'.join(map(str, op['fft_length']))}"


NOT_KERNELS = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}


def entry_opcodes(text: str) -> list[str]:
    """The opcodes of the ENTRY computation's instructions (fusions count once)."""
    entry = text[text.index("ENTRY"):] if "ENTRY" in text else text
    return re.findall(r"^\s*(?:ROOT )?%\S+ = .*?[\]})] ([a-z][\w-]*)\(", entry, flags=re.M)


def kernel_counts(fn: Callable, arg) -> dict:
    """FFT calls, single-field transforms and kernels in the compiled HLO of one step:
    ``fusions`` the fused elementwise kernels, ``kernels`` every instruction that runs
    (fusions, FFTs, copies, ...; not parameters, constants, tuples or bitcasts)."""
    text = jax.jit(fn).lower(arg).compile().as_text()
    ops = fft_ops(text)
    opcodes = entry_opcodes(text)
    return {"fft_calls": len(ops) if ops is not None else None,
            "fft_transforms": sum(op["transforms"] for op in ops) if ops is not None else None,
            "fusions": opcodes.count("fusion"), "kernels": sum(op not in NOT_KERNELS for op in opcodes),
            "copies": opcodes.count("copy"), "hlo_instructions": len(opcodes), "fft_ops": ops}


def fft_loop(op: dict, iterations: int) -> tuple[Callable, jax.Array]:
    """``iterations`` runs of one FFT op in a ``lax.fori_loop``: the carry is the op's input,
    and each iteration writes one element of the output back into it (``.at[0,...].set``,
    in place), so that the loop cannot be hoisted and costs the FFT plus O(1)."""
    kind, lengths = op["fft_type"], tuple(op["fft_length"])
    dtype = DTYPES[op["operand_dtype"]]
    rng = np.random.default_rng(1)
    x = rng.normal(size=op["operand_shape"])
    if np.issubdtype(dtype, np.complexfloating):
        x = x + 1j * rng.normal(size=op["operand_shape"])
    x = jnp.asarray(x.astype(dtype))
    first = (0,) * x.ndim

    def body(_, x):
        y = jax.lax.fft(x, kind, lengths)
        value = y[first] * 1e-3
        value = value.real if not jnp.iscomplexobj(x) else value.astype(x.dtype)
        return x.at[first].set(value.astype(x.dtype))

    return jax.jit(lambda x: jax.lax.fori_loop(0, iterations, body, x)), x


def copies_in_loop(fn: Callable, arg) -> int:
    """``copy`` instructions outside the ENTRY computation (in the loop) of a compiled
    module: the FFT loops should have none (ENTRY copies the argument once per call)."""
    text = jax.jit(fn).lower(arg).compile().as_text()
    body = text[:text.index("ENTRY")] if "ENTRY" in text else text
    return len(re.findall(r" copy(?:-start)?\(", body))


# --- timing -------------------------------------------------------------------------------------


def time_calls(candidates: dict[str, tuple[Callable, object]], repeats: int,
               min_sample_s: float = 0.05) -> tuple[dict[str, dict], dict[str, object]]:
    """Seconds per call of each ``fn(arg)``, compile excluded, and each call's output.

    ``repeats`` rounds interleave the candidates (load from other processes then hits all
    alike); a sample averages enough calls to last ``min_sample_s``. Best and median, of
    the wall clock and of this process's CPU time (``time.process_time``, all threads: less
    sensitive than the wall clock to other processes competing for the cores).
    """
    calls, compile_s, outputs = {}, {}, {}
    for name, (fn, arg) in candidates.items():
        t0 = time.perf_counter()
        outputs[name] = jax.block_until_ready(fn(arg))
        compile_s[name] = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(fn(arg))
        calls[name] = max(1, math.ceil(min_sample_s / max(time.perf_counter() - t0, 1e-6)))
    samples = {name: [] for name in candidates}
    cpu = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, (fn, arg) in candidates.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(calls[name]):
                jax.block_until_ready(fn(arg))
            samples[name].append((time.perf_counter() - t0) / calls[name])
            cpu[name].append((time.process_time() - c0) / calls[name])
    stats = {name: {"best_s": min(s), "median_s": statistics.median(s), "cpu_best_s": min(cpu[name]),
                    "cpu_median_s": statistics.median(cpu[name]), "first_call_s": compile_s[name],
                    "calls_per_sample": calls[name]} for name, s in samples.items()}
    return stats, outputs


def throughput(problem: Problem, grid: FourierGrid, u0: np.ndarray, dtype, repeats: int,
               min_sample_s: float) -> dict:
    """Time per step of each solver at the reference dt, its HLO counts, and the time of the
    step's FFTs alone (all candidates interleaved in one ``time_calls``)."""
    dt, n = problem.reference_dt, problem.steps_per_call
    v = jnp.fft.rfftn(jnp.asarray(u0, dtype), axes=grid.axes)
    names = SOLVERS + (("pdejax_etdrk4_advective",) if problem.advective_pde is not None else ())
    built = solvers(problem, grid, dt, dtype, n, names)
    candidates, counts = {}, {}
    for name, (one, final, sign) in built.items():
        candidates[name] = (jax.jit(final), sign * v)
        counts[name] = kernel_counts(one, sign * v)
    # The FFT ops of every solver's step, each timed alone; as many iterations per call as
    # the step loop makes of it, so that both calls last about as long.
    fft_iterations, fft_ops_of = {}, {}
    for name, c in counts.items():
        fft_ops_of[name] = None if c["fft_ops"] is None else [fft_key(op) for op in c["fft_ops"]]
        for op in c["fft_ops"] or []:
            key = fft_key(op)
            fft_iterations[key] = (op, max(fft_iterations.get(key, (op, 0))[1], n * fft_ops_of[name].count(key)))
    fft_info = {}
    for key, (op, iterations) in fft_iterations.items():
        fn, x = fft_loop(op, iterations)
        candidates[f"fft: {key}"] = (fn, x)
        fft_info[key] = {"iterations_per_call": iterations, "copies_in_loop": copies_in_loop(fn, x)}
    times, _ = time_calls(candidates, repeats, min_sample_s)
    out = {"dt": dt, "steps_per_call": n, "repeats": repeats, "batch": problem.batch or None}
    for key, info in fft_info.items():
        t = times[f"fft: {key}"]
        for clock in ("", "cpu_"):
            info[f"{clock}us_best"] = 1e6 * t[f"{clock}best_s"] / info["iterations_per_call"]
            info[f"{clock}us_median"] = 1e6 * t[f"{clock}median_s"] / info["iterations_per_call"]
    out["fft_ops_alone"] = fft_info
    for name in built:
        t = times[name]
        row = {"us_per_step_best": 1e6 * t["best_s"] / n, "us_per_step_median": 1e6 * t["median_s"] / n,
               "cpu_us_per_step_best": 1e6 * t["cpu_best_s"] / n, "cpu_us_per_step_median": 1e6 * t["cpu_median_s"] / n,
               "steps_per_s_best": n / t["best_s"], "first_call_s": t["first_call_s"]}
        if problem.batch:
            row["trajectory_steps_per_s_best"] = problem.batch * n / t["best_s"]
        c = dict(counts[name])
        c["fft_ops"] = fft_ops_of[name]
        if problem.batch and c["fft_transforms"] is not None:
            c["fft_transforms_per_trajectory"] = c["fft_transforms"] / problem.batch
        row["kernels_per_step"] = c
        for clock in ("", "cpu_"):
            fft_us = None if fft_ops_of[name] is None else sum(fft_info[k][f"{clock}us_best"] for k in fft_ops_of[name])
            row[f"fft_alone_{clock}us_per_step"] = fft_us
            row[f"fft_limit_ratio{'_cpu' if clock else ''}"] = (None if fft_us is None
                                                                else row[f"{clock}us_per_step_best"] / fft_us)
        out[name] = row
    for name in built:
        if name != PDEJAX:
            out[f"pdejax_time_per_step_over_{name}"] = out[PDEJAX]["us_per_step_best"] / out[name]["us_per_step_best"]
            out[f"pdejax_cpu_time_per_step_over_{name}"] = (out[PDEJAX]["cpu_us_per_step_best"]
                                                            / out[name]["cpu_us_per_step_best"])
    return out


# --- float64 checks -----------------------------------------------------------------------------


def relative_l2(grid: FourierGrid, v_hat, reference: np.ndarray, background: np.ndarray | float = 0.0) -> float:
    u = np.fft.irfftn(np.asarray(v_hat, np.complex128), s=grid.sizes, axes=grid.axes)
    return float(np.linalg.norm(u - reference) / np.linalg.norm(reference - background))


def background_of(problem: Problem, grid: FourierGrid) -> np.ndarray | float:
    if problem.background is None:
        return 0.0
    return np.asarray(problem.background, np.float64).reshape((-1,) + (1,) * len(grid.sizes))


def one_step_agreement(problem: Problem, grid: FourierGrid, u0: np.ndarray, halvings: int = 2) -> dict | None:
    """pdejax ETDRK4 and exponax ETDRK4, one step in float64 from the same state at
    dt, dt/2, ..., dt/2^halvings: the relative difference (round-off where both split the PDE alike,
    the local truncation error, O(dt^5), where they split it differently)."""
    if ex is None:
        return None
    out = {"dt": [], "rel_diff": [], "observed_order": []}
    bg = background_of(problem, grid)
    with jax.enable_x64(True):
        v0 = jnp.fft.rfftn(jnp.asarray(u0), axes=grid.axes)
        for k in range(halvings + 1):
            dt = problem.reference_dt / 2**k
            step = etdrk4_stepper(problem.pde, grid, dt, dealias=problem.dealias, dtype=jnp.float64)
            ours = np.fft.irfftn(np.asarray(jax.jit(lambda v, step=step: step(v, 0.0))(v0)), s=grid.sizes,
                                 axes=grid.axes)
            s = problem.exponax_sign
            peer = build_exponax(problem, grid, dt, 4, jnp.float64)
            theirs = s * jax.jit(lambda v, peer=peer: peer.step_fourier(v))(s * v0)
            out["dt"].append(dt)
            out["rel_diff"].append(relative_l2(grid, theirs, ours, bg))
    d = out["rel_diff"]
    out["observed_order"] = [math.log2(a / b) if a > 0 and b > 0 else None for a, b in zip(d, d[1:])]
    return out


def steps_to(final_time: float, dt: float) -> int:
    n = round(final_time / dt)
    if abs(n * dt - final_time) > 1e-9 * final_time:
        raise ValueError(f"final time {final_time} is not a multiple of dt = {dt}")
    return n


def reference_solution(problem: Problem, grid: FourierGrid, u0: np.ndarray) -> tuple[np.ndarray, dict]:
    """pdejax ETDRK4 in float64 at a small dt, and how far it is from (i) itself at twice
    the dt, (ii) exponax ETDRK2 and (iii) exponax ETDRK4, in float64 (unless the problem
    skips the cross-check)."""
    dt_min = problem.reference_dt * min(problem.dt_factors)
    dt_ref = dt_min / problem.reference_dt_divisor
    T = problem.final_time
    bg = background_of(problem, grid)
    with jax.enable_x64(True):
        v0 = jnp.fft.rfftn(jnp.asarray(u0), axes=grid.axes)
        to_grid = lambda v: np.fft.irfftn(np.asarray(v), s=grid.sizes, axes=grid.axes)
        t0 = time.perf_counter()
        reference = to_grid(pdejax_final_state(problem, grid, dt_ref, steps_to(T, dt_ref), jnp.float64)(v0))
        info = {"method": "pdejax ETDRK4, float64", "dt": dt_ref, "steps": steps_to(T, dt_ref),
                "wall_s": time.perf_counter() - t0}
        coarse = pdejax_final_state(problem, grid, 2 * dt_ref, steps_to(T, 2 * dt_ref), jnp.float64)(v0)
        info["rel_diff_pdejax_etdrk4_f64_at_2dt"] = relative_l2(grid, coarse, reference, bg)
        info["estimated_reference_error"] = info["rel_diff_pdejax_etdrk4_f64_at_2dt"] / 15  # 4th order
        if ex is not None and problem.cross_check_reference:
            s = problem.exponax_sign
            for order, dt in ((2, dt_min), (4, dt_ref)):
                stepper = build_exponax(problem, grid, dt, order, jnp.float64)
                run = jax.jit(ex.repeat(stepper.step_fourier, steps_to(T, dt)))
                info[f"rel_diff_exponax_etdrk{order}_f64_at_dt_{dt:g}"] = relative_l2(grid, s * run(s * v0),
                                                                                     reference, bg)
    return reference, info


# --- accuracy against wall time -----------------------------------------------------------------


def error_sweep(problem: Problem, grid: FourierGrid, u0: np.ndarray, reference: np.ndarray, dtype,
                repeats: int) -> dict[str, list[dict]]:
    """Error at T and wall time to reach T, per solver and dt; the solvers are timed
    interleaved at each dt, and a solver leaves the sweep at its first unstable dt."""
    v0 = jnp.fft.rfftn(jnp.asarray(u0, dtype), axes=grid.axes)
    bg = background_of(problem, grid)
    runs = {name: [] for name in SOLVERS if name == PDEJAX or ex is not None}
    for factor in sorted(problem.dt_factors):
        dt = problem.reference_dt * factor
        n = steps_to(problem.final_time, dt)
        live = tuple(name for name in runs if not runs[name] or runs[name][-1]["stable"])
        built = solvers(problem, grid, dt, dtype, n, live)
        candidates = {name: (jax.jit(final), sign * v0) for name, (_, final, sign) in built.items()}
        timing, outputs = time_calls(candidates, repeats, min_sample_s=0.02)
        for name, (_, _, sign) in built.items():
            error = relative_l2(grid, sign * np.asarray(outputs[name]), reference, bg)
            stable = math.isfinite(error) and error < 1.0
            runs[name].append({"dt": dt, "steps": n, "rel_l2_error": error if math.isfinite(error) else None,
                               "wall_s": timing[name]["best_s"], "wall_s_median": timing[name]["median_s"],
                               "cpu_s": timing[name]["cpu_best_s"], "stable": stable})
    return runs


def wall_time_at(runs: list[dict], target: float, clock: str = "wall_s") -> dict | None:
    """Time (``clock``: ``wall_s`` or ``cpu_s``) to reach error ``target``: from the largest
    dt that meets it, interpolated log-log towards the next dt of the sweep when that one is
    stable but misses the target (``None`` when no run meets it)."""
    meeting = [r for r in runs if r["stable"] and r["rel_l2_error"] <= target]
    if not meeting:
        return None
    best = max(meeting, key=lambda r: r["dt"])
    out = {clock: best[clock], "cheapest_run_dt": best["dt"], "interpolated": False}
    larger = [r for r in runs if r["dt"] > best["dt"]]
    if not larger:
        out["note"] = "the sweep's largest dt meets the target: an upper bound"
        return out
    nxt = min(larger, key=lambda r: r["dt"])
    if not nxt["stable"]:
        out["note"] = f"the next dt of the sweep ({nxt['dt']:g}) is unstable: stability, not accuracy, limits dt"
        return out
    if best["rel_l2_error"] <= 0 or nxt["rel_l2_error"] <= best["rel_l2_error"]:
        out["note"] = "the next dt of the sweep is no less accurate (round-off floor): not interpolated"
        return out
    slope = (math.log(nxt[clock]) - math.log(best[clock])) / (
        math.log(nxt["rel_l2_error"]) - math.log(best["rel_l2_error"]))
    out[clock] = math.exp(math.log(best[clock]) + slope * (math.log(target) - math.log(best["rel_l2_error"])))
    out["interpolated"] = True
    return out


def equal_accuracy(runs: dict[str, list[dict]], reference_dt: float, clock: str = "wall_s") -> dict:
    """Time per solver at each target error and pdejax's speedup over each exponax solver
    and over the faster of the two ("exponax_best")."""
    targets = {f"{t:.0e}": t for t in TARGET_ERRORS}
    exponax_default = next((r for r in runs.get("exponax_etdrk2", []) if math.isclose(r["dt"], reference_dt)), None)
    if exponax_default and exponax_default["stable"]:
        targets["exponax_etdrk2_at_reference_dt"] = exponax_default["rel_l2_error"]
    out = {}
    for label, target in targets.items():
        row = {"target_rel_l2": target}
        for name, series in runs.items():
            row[name] = wall_time_at(series, target, clock)
        peers = {name: row[name] for name in runs if name != PDEJAX and row[name]}
        if peers:
            best = min(peers, key=lambda name: peers[name][clock])
            row["exponax_best"] = {"solver": best, clock: peers[best][clock]}
        ours = row.get(PDEJAX)
        if ours:
            for name in (*runs, "exponax_best"):
                if name != PDEJAX and row.get(name):
                    row[f"speedup_vs_{name}"] = row[name][clock] / ours[clock]
        out[label] = row
    return out


# --- driver -------------------------------------------------------------------------------------


def run_problem(problem: Problem, dtype, repeats: int, min_sample_s: float, shared: dict,
                quick: bool) -> dict:
    """Everything for one problem; ``shared`` caches a base problem's state and reference."""
    grid = grid_for(problem.pde, problem.n_points)
    t0 = time.perf_counter()
    key = problem.base or problem.name
    base = problem if problem.base is None else next(p for p in build_problems(quick) if p.name == problem.base)
    if key not in shared:
        log(f"{problem.name}: initial state of {key}")
        shared[key] = {"u0": make_initial_state(base, grid)}
    u0_single = shared[key]["u0"]
    u0 = translated_copies(u0_single, problem.batch) if problem.batch else u0_single
    mask = grid.dealias_mask(problem.dealias)
    out = {"equation": problem.equation, "n_points": problem.n_points, "grid": list(grid.sizes),
           "batch": problem.batch or None, "domain_length": list(grid.lengths), "dealias": problem.dealias,
           "exponax_dealiasing_fraction": matched_dealiasing_fraction(grid, problem.dealias),
           "kept_modes_per_axis": int(mask.reshape(-1, mask.shape[-1])[0].sum()),
           "warmup_time": problem.warmup_time, "fft_bound": problem.fft_bound, "notes": list(problem.notes)}
    if not problem.batch:
        log(f"{problem.name}: one-step agreement (float64)")
        out["one_step_agreement_f64"] = one_step_agreement(problem, grid, u0, 1 if quick else 2)
    log(f"{problem.name}: time per step and FFTs alone")
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        out["throughput"] = throughput(problem, grid, u0, dtype, repeats, min_sample_s)
    if "reference" not in shared[key]:
        log(f"{problem.name}: float64 reference")
        shared[key]["reference"] = reference_solution(base, grid, u0_single)
    reference, out_ref = shared[key]["reference"]
    if problem.batch:
        reference = translated_copies(reference, problem.batch)
        out_ref = {**out_ref, "note": f"{problem.base}'s reference, translated like the initial states"}
    log(f"{problem.name}: error sweep over dt = {[problem.reference_dt * f for f in sorted(problem.dt_factors)]}")
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        runs = error_sweep(problem, grid, u0, reference, dtype, problem.sweep_repeats or repeats)
    out["accuracy"] = {"final_time": problem.final_time,
                       "dt_values": [problem.reference_dt * f for f in sorted(problem.dt_factors)],
                       "reference": out_ref, "runs": runs,
                       "equal_accuracy": equal_accuracy(runs, problem.reference_dt, "wall_s"),
                       "equal_accuracy_cpu": equal_accuracy(runs, problem.reference_dt, "cpu_s")}
    out["bench_wall_s"] = time.perf_counter() - t0
    log(f"{problem.name}: done in {out['bench_wall_s']:.0f} s")
    return out


CLOCKS = {
    "wall": {"us": "us_per_step_best", "ratio": "pdejax_time_per_step_over_exponax_etdrk4",
             "fft_limit": "fft_limit_ratio", "equal_accuracy": "equal_accuracy", "time": "wall_s",
             "words": "wall-clock time"},
    "cpu": {"us": "cpu_us_per_step_best", "ratio": "pdejax_cpu_time_per_step_over_exponax_etdrk4",
            "fft_limit": "fft_limit_ratio_cpu", "equal_accuracy": "equal_accuracy_cpu", "time": "cpu_s",
            "words": "CPU time of the process (all threads; less sensitive to other processes' load)"},
}


def summary(problems: dict, clock: str = "wall") -> dict:
    """Per problem: time per step, transforms, FFT-limit ratios, equal-accuracy speedups and
    the issue's goals (met or not), all timings read on ``clock`` ("wall" or "cpu")."""
    c = CLOCKS[clock]
    out = {}
    for name, p in problems.items():
        tp = p["throughput"]
        per_traj = "fft_transforms_per_trajectory" if p["batch"] else "fft_transforms"

        def transforms(s, tp=tp, per_traj=per_traj):
            return tp[s]["kernels_per_step"].get(per_traj) if s in tp else None

        timed = [s for s in (*SOLVERS, "pdejax_etdrk4_advective") if s in tp]
        row = {"grid": "x".join(map(str, p["grid"])) + (f", batch {p['batch']}" if p["batch"] else ""),
               "clock": clock, "us_per_step": {s: tp[s][c["us"]] for s in timed},
               "pdejax_over_exponax_etdrk4_time_per_step": tp.get(c["ratio"]),
               "transforms_per_step": {"pdejax_before_advective": transforms("pdejax_etdrk4_advective"),
                                       "pdejax_after": transforms(PDEJAX),
                                       "exponax_etdrk4": transforms("exponax_etdrk4"),
                                       "exponax_etdrk2": transforms("exponax_etdrk2")},
               "fft_ops_per_step": {s: tp[s]["kernels_per_step"]["fft_calls"] for s in timed},
               "fusions_per_step": {s: tp[s]["kernels_per_step"]["fusions"] for s in timed},
               "kernels_per_step": {s: tp[s]["kernels_per_step"]["kernels"] for s in timed},
               "fft_alone_us_per_step": {s: tp[s][f"fft_alone_{'cpu_' if clock == 'cpu' else ''}us_per_step"]
                                         for s in timed},
               "fft_limit_ratio": {s: tp[s][c["fft_limit"]] for s in timed}}
        if p["batch"]:
            row["trajectory_steps_per_s"] = {s: p["batch"] * 1e6 / tp[s][c["us"]] for s in timed}
        speedups = {}
        for label, acc in p["accuracy"][c["equal_accuracy"]].items():
            speedups[label] = {k.removeprefix("speedup_vs_"): acc.get(k) for k in
                               ("speedup_vs_exponax_etdrk4", "speedup_vs_exponax_etdrk2", "speedup_vs_exponax_best")}
            speedups[label]["exponax_best_solver"] = (acc.get("exponax_best") or {}).get("solver")
        row["equal_accuracy_speedup"] = speedups
        row["goals"] = goals(p, row)
        out[name] = row
    return out


def goals(p: dict, row: dict) -> dict:
    """The issue's goals for this problem, each ``True``/``False`` (``None``: not measurable)."""
    ratio = row["pdejax_over_exponax_etdrk4_time_per_step"]
    t = row["transforms_per_step"]
    k = row["kernels_per_step"]
    fewer = None
    if t["pdejax_after"] is not None and t["exponax_etdrk4"] is not None:
        fewer = t["pdejax_after"] < t["exponax_etdrk4"] or k.get(PDEJAX, 0) < k.get("exponax_etdrk4", 0)
    needed = 1.5 if fewer else 1.0
    reached = {label: s["exponax_best"] for label, s in row["equal_accuracy_speedup"].items()
               if label in {f"{x:.0e}" for x in TARGET_ERRORS} and s["exponax_best"] is not None}
    out = {"time_per_step_at_most_exponax_etdrk4": None if ratio is None else ratio <= 1.0,
           "pdejax_needs_fewer_transforms_or_kernels_than_exponax_etdrk4": fewer,
           "equal_accuracy_speedup_needed_vs_exponax_best": needed,
           "equal_accuracy_goal_met_at_every_reached_target": (all(v >= needed for v in reached.values())
                                                               if reached else None)}
    if p["fft_bound"]:
        r = row["fft_limit_ratio"].get(PDEJAX)
        out[f"fft_limit_ratio_at_most_{FFT_LIMIT_GOAL}"] = None if r is None else r <= FFT_LIMIT_GOAL
    return out


def markdown_table(rows: dict) -> list[str]:
    """One Markdown table of a ``summary``."""
    fmt = lambda x, spec=".3g": "–" if x is None else format(x, spec)
    lines = [
        "| problem | grid | µs/step pdejax | exponax ETDRK4 | exponax ETDRK2 | pdejax / ex. ETDRK4 | "
        "transforms/step pdejax (advective → default) | exponax 4 / 2 | FFT-limit pdejax / ex. ETDRK4 | "
        "equal-accuracy speedup vs exponax best at 1e-3 / 1e-4 / 1e-5 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        us, t, fl = row["us_per_step"], row["transforms_per_step"], row["fft_limit_ratio"]
        before = "" if t["pdejax_before_advective"] is None else f"{fmt(t['pdejax_before_advective'], 'g')} → "
        sp = row["equal_accuracy_speedup"]

        def speed(label, sp=sp):
            s = sp.get(label)
            if not s or s["exponax_best"] is None:
                return "–"
            solver = {"exponax_etdrk4": "4", "exponax_etdrk2": "2"}.get(s["exponax_best_solver"], "?")
            return f"{s['exponax_best']:.2f}x ({solver})"

        lines.append(
            f"| {name} | {row['grid']} | {fmt(us.get(PDEJAX))} | {fmt(us.get('exponax_etdrk4'))} | "
            f"{fmt(us.get('exponax_etdrk2'))} | {fmt(row['pdejax_over_exponax_etdrk4_time_per_step'], '.2f')} | "
            f"{before}{fmt(t['pdejax_after'], 'g')} | {fmt(t['exponax_etdrk4'], 'g')} / "
            f"{fmt(t['exponax_etdrk2'], 'g')} | {fmt(fl.get(PDEJAX), '.2f')} / "
            f"{fmt(fl.get('exponax_etdrk4'), '.2f')} | "
            f"{' / '.join(speed(f'{x:.0e}') for x in TARGET_ERRORS)} |")
    missed = []
    for name, row in rows.items():
        g = row["goals"]
        if g.get("time_per_step_at_most_exponax_etdrk4") is False:
            ratio = row["pdejax_over_exponax_etdrk4_time_per_step"]
            missed.append(f"{name}: time per step {ratio:.3f}x exponax ETDRK4's")
        if g.get("equal_accuracy_goal_met_at_every_reached_target") is False:
            missed.append(f"{name}: equal-accuracy speedup below "
                          f"{g['equal_accuracy_speedup_needed_vs_exponax_best']:g}x at some target")
        if g.get(f"fft_limit_ratio_at_most_{FFT_LIMIT_GOAL}") is False:
            missed.append(f"{name}: FFT-limit ratio {row['fft_limit_ratio'][PDEJAX]:.2f} > {FFT_LIMIT_GOAL}")
    return lines + ["", "Goals missed: " + ("; ".join(missed) if missed else "none") + "."]


def markdown(result: dict) -> str:
    """The like-for-like tables (the run's clock, then the other one), for the README."""
    dev = result["device"]
    clock = result["clock"]
    other = next(c for c in CLOCKS if c != clock)
    lines = [
        f"pdejax ETDRK4 vs exponax {result['versions']['exponax']} (Fourier-space stepping, best form), "
        f"{result['dtype']}, {dev['platform']} ({dev['processor']}, {dev['cpu_count']} cores), "
        f"jax {result['versions']['jax']}; load average {dev['load_average_at_start'][0]:.2f} at start, "
        f"{dev['load_average_at_end'][0]:.2f} at end; all ratios from one run.",
        "", f"Timed by {CLOCKS[clock]['words']}:", "",
        *markdown_table(result["summary"]),
        "", f"The same run timed by {CLOCKS[other]['words']}:", "",
        *markdown_table(result[f"summary_{other}_clock"]),
        "",
        "Transforms: single-field FFTs in the compiled HLO of one step (per trajectory for a batch). FFT-limit: "
        "time per step / the summed time of the step's FFT ops, each timed alone in a `lax.fori_loop`. "
        "Equal-accuracy speedup: exponax's time to reach the relative L2 error / pdejax's, against the faster "
        "of exponax ETDRK4 and ETDRK2 at that target (in brackets); – where a solver never reaches it.",
    ]
    return "\n".join(lines) + "\n"


def versions() -> dict:
    import equinox
    import jaxlib

    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "equinox": equinox.__version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "pdejax": getattr(pdejax, "__version__", "unknown"),
            "exponax": getattr(ex, "__version__", None) if ex is not None else "not installed"}


NOTES = [
    "time per step: one jitted call runs steps_per_call steps in a loop that keeps only the final state "
    "(pdejax rollout(etdrk4_stepper(...), n, n) on the rfft state; exponax ex.repeat(stepper.step_fourier, n), "
    "its fastest path); compile time excluded; best (and median) over interleaved repeats",
    "kernels_per_step: FFT ops, single-field transforms and fused kernels in the compiled HLO of one step "
    "(pdejax ETDRK4 and exponax ETDRK4 make 4 evaluations of the explicit part per step, ETDRK2 2); "
    "pdejax_etdrk4_advective is the same stepper for the PDE written with -u u_x (form='advective'), the "
    "'before' of the transform count",
    "fft_ops_alone: each FFT op of the steps' HLO (type, operand, lengths) timed alone in a lax.fori_loop whose "
    "carry is its input and whose only other work is writing one element of the output back into it "
    "(.at[0,...].set, in place: copies_in_loop counts copy instructions in that compiled loop); "
    "fft_limit_ratio = time per step / sum of the step's FFT ops' times (1.0: nothing but FFTs); null where "
    "the HLO names its FFTs in a way this script does not parse",
    "accuracy: each solver advances the same band-limited u0 to final_time at each dt of the sweep (the same "
    "final-state loops); rel_l2_error is ||u - u_ref|| / ||u_ref - background|| on the grid (background: the "
    "trivial state for Gray–Scott, else 0); wall_s the best time of the jitted call (compile excluded); a "
    "sweep stops at the first dt that is unstable (non-finite or error >= 1)",
    "equal_accuracy: the wall time to reach each target error, from the largest dt that meets it, "
    "interpolated log-log towards the next dt of the sweep when that one is stable (when it is unstable, "
    "stability rather than accuracy limits dt, and the entry says so); null where no run meets the target; "
    "speedup = exponax time / pdejax time; exponax_best = the faster of exponax ETDRK4 and ETDRK2 at that target",
    "one_step_agreement_f64: pdejax ETDRK4 vs exponax ETDRK4, one step in float64 from u0 at dt, dt/2, dt/4, "
    "relative L2 difference: round-off where both put the same terms in the exponential part; for Gray–Scott "
    "(pdejax: -F u, -(F + k) v exponential; exponax: explicit) it is the local truncation error and falls at "
    "~5th order in dt (observed_order)",
    "float32: the ETDRK4 errors of both libraries stop falling near 1e-5 to 1e-6 and grow again at small dt "
    "(round-off accumulates over more steps, and the chaotic problems amplify it), so targets below that floor "
    "are unreachable in float32; --dtype float64 compares the methods' truncation errors",
    "exponax steppers are built in the run's precision (coefficients computed in float32 for float32, 16 contour "
    "points), pdejax computes its coefficients in float64 on the host and casts them",
    "goals: time per step <= exponax ETDRK4's; equal-accuracy speedup vs exponax best >= 1.5 where pdejax needs "
    "fewer transforms or fused kernels per step than exponax ETDRK4, else >= 1 (at every target both reach); "
    f"fft_limit_ratio <= {FFT_LIMIT_GOAL} on the FFT-bound problems",
    "clocks: every timing is recorded as wall-clock time (best_s, us_per_step_best, wall_s) and as the CPU time "
    "of this process over all its threads (cpu_*: time.process_time), best of the same interleaved samples; "
    "'summary' reads the --clock one (default wall), 'summary_<other>_clock' the other. When other processes "
    "load the cores the wall clock of a sample also counts the time the process waited for a core, the CPU "
    "time mostly does not, so CPU-time ratios are the steadier there; with idle cores the wall clock is the "
    "measure a user sees",
    "other processes may share this machine's cores: compare timings taken in the same run only "
    "(see load_average, also per problem: load_average_after)",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (< 3 min): fewer dt, repeats and steps")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--repeats", type=int, default=None, help="timing repeats (default 7, quick 2)")
    ap.add_argument("--problems", default=",".join(PROBLEM_NAMES), help="comma-separated subset")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                    help="the clock of the summary and its goals (the JSON has both; default wall)")
    ap.add_argument("--markdown", action="store_true",
                    help="print the summary table as Markdown instead of the JSON (write the JSON with --out)")
    args = ap.parse_args()
    repeats = args.repeats or (2 if args.quick else 7)
    dtype = jnp.float32 if args.dtype == "float32" else jnp.float64
    wanted = [w for w in args.problems.split(",") if w]
    unknown = set(wanted) - set(PROBLEM_NAMES)
    if unknown:
        ap.error(f"unknown problems {sorted(unknown)}; valid: {', '.join(PROBLEM_NAMES)}")
    problems = [p for p in build_problems(args.quick) if p.name in wanted]

    t0 = time.perf_counter()
    device = jax.devices()[0]
    out = {"benchmark": "spectral_etdrk_vs_exponax", "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
           "versions": versions(),
           "device": {"platform": device.platform, "device_kind": device.device_kind, "cpu_count": os.cpu_count(),
                      "processor": platform.processor() or platform.machine(),
                      "load_average_at_start": os.getloadavg()},
           "dtype": args.dtype, "quick": args.quick, "repeats": repeats, "problems": {}}
    shared: dict = {}
    for problem in problems:
        out["problems"][problem.name] = run_problem(problem, dtype, repeats, 0.03 if args.quick else 0.1, shared,
                                                    args.quick)
        out["problems"][problem.name]["load_average_after"] = os.getloadavg()
    out["clock"] = args.clock
    out["summary"] = summary(out["problems"], args.clock)
    other = next(c for c in CLOCKS if c != args.clock)
    out[f"summary_{other}_clock"] = summary(out["problems"], other)
    out["device"]["load_average_at_end"] = os.getloadavg()
    out["total_wall_s"] = time.perf_counter() - t0
    out["notes"] = NOTES
    text = json.dumps(out, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if args.markdown:
        print(markdown(out))
    else:
        print(text)
    log(f"total {out['total_wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
