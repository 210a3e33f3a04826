"""Benchmark: pdejax's ETDRK4 spectral stepper against exponax, on identical problems.

Three problems (periodic, Fourier pseudo-spectral, 2/3 dealiasing):

- ``ks_1d``: Kuramoto–Sivashinsky ``u_t + u u_x + u_xx + u_xxxx = 0``, L = 60, N = 256.
- ``burgers_1d``: ``u_t + u u_x = 0.01 u_xx`` on ``[0, 1)`` (exponax's Burgers domain),
  N = 256, ``u0 = sin(2 pi x)`` (a shock forms at t = 1/(2 pi)).
- ``kolmogorov_2d``: vorticity form of 2D Navier–Stokes on ``[0, 2 pi)²``, 128², nu = 0.01,
  linear drag 0.1, Kolmogorov forcing at wavenumber 4 (exponax's ``KolmogorovFlowVorticity``).

For each: (a) throughput, steps/s of one trajectory rolled out by ``lax.scan`` at
exponax's reference dt (compile excluded, best and median of interleaved repeats), and
for KS also a vmapped batch of 64; (b) error against wall time: each solver at a sweep of
dt to a fixed final time T, relative L2 error against a float64 pdejax ETDRK4 reference
at a small dt (cross-checked against exponax in float64), and the wall time each needs
to reach a target error ("speedup at equal accuracy").

Both libraries solve the same discretisation: same grid, same initial condition
(band-limited to the dealiased modes), same dealiasing mask (exponax's
``dealiasing_fraction`` is set so that it keeps exactly pdejax's modes), same precision.

Prints one JSON object (``--out`` also writes it). Usage::

    pip install --no-deps exponax==0.2.0      # the peer, in the same Python
    python scripts/bench/spectral.py [--quick] [--dtype float64] [--out FILE]
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
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

import pdejax
from pdejax.pde.grid import grid_for
from pdejax.pde.library.one_d import burgers, kuramoto_sivashinsky
from pdejax.pde.library.two_d import navier_stokes_2d
from pdejax.pde.solve import etdrk4_stepper, initial_condition
from pdejax.spectral import FourierGrid, rollout

try:
    import exponax as ex
except ImportError:  # the report then says so; pdejax is still timed
    ex = None

# exponax 0.2.0 measured by someone else on a similar 2-core CPU machine (the issue).
ISSUE_REFERENCE_EXPONAX = {
    "ks_1d": {"steps_per_s_single": 30.7e3, "trajectory_steps_per_s_batch_64": 199e3, "dt": 0.1},
    "burgers_1d": {"steps_per_s_single": 20.7e3, "dt": 1e-3},
    "kolmogorov_2d": {"steps_per_s_single": 1.0e3, "n_points": "128x128"},
    "notes": "exponax defaults (ETDRK2, float32, ex.rollout in physical space); not measured in this run",
}
TARGET_ERRORS = (1e-3, 1e-4, 1e-5)


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: the pdejax definition and the matching exponax stepper.

    ``exponax_stepper(dt, order, dealiasing_fraction)`` builds the peer; its state is
    ``exponax_sign`` times pdejax's (exponax's vorticity has the opposite sign).
    """

    name: str
    equation: str
    pde: object
    n_points: int
    reference_dt: float
    final_time: float
    dt_factors: tuple[float, ...]
    reference_dt_divisor: int
    steps_per_call: int
    exponax_stepper: Callable
    exponax_sign: float = 1.0
    warmup_time: float = 0.0
    warmup_dt: float = 0.0
    batch: int = 0
    notes: tuple[str, ...] = field(default=())


def build_problems(quick: bool) -> list[Problem]:
    ks = kuramoto_sivashinsky(length=60.0)
    bu = burgers(nu=0.01, x_min=0.0, x_max=1.0, periodic=True)
    ns = navier_stokes_2d(nu=0.01, forcing="kolmogorov", drag=0.1, wavenumber=4, length=2 * math.pi)
    return [
        Problem(
            name="ks_1d", equation="u_t + u u_x + u_xx + u_xxxx = 0, x in [0, 60)", pde=ks, n_points=256,
            reference_dt=0.1, final_time=8.0 if quick else 16.0,
            dt_factors=(1, 4) if quick else (0.125, 0.25, 0.5, 1, 2, 4, 8, 16), reference_dt_divisor=4,
            steps_per_call=500 if quick else 1000, batch=64, warmup_time=20.0 if quick else 100.0,
            warmup_dt=0.05,
            exponax_stepper=lambda dt, order, frac: ex.stepper.KuramotoSivashinskyConservative(
                1, 60.0, 256, dt, order=order, dealiasing_fraction=frac),
            notes=("u0: Kassam–Trefethen cos(2 pi x/L)(1 + sin(2 pi x/L)) advanced through the transient "
                   "(warmup_time) by pdejax ETDRK4 in float64, then band-limited; the error runs start there",
                   "exponax evaluates the convection as (u^2)_x / 2 (KuramotoSivashinskyConservative), pdejax as "
                   "u u_x: equal after 2/3 dealiasing (to round-off)",
                   "chaotic: the largest Lyapunov exponent is ~0.1 per time unit at L = 60, so T = 16 (8 with "
                   "--quick), short enough that a trajectory error is still meaningful",
                   "batch: 64 translated copies of the warmed-up state, jax.vmap over the rollout")),
        Problem(
            name="burgers_1d", equation="u_t + u u_x = 0.01 u_xx, x in [0, 1)", pde=bu, n_points=256,
            reference_dt=1e-3, final_time=0.32 if quick else 0.64,
            dt_factors=(2, 8) if quick else (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64), reference_dt_divisor=4,
            steps_per_call=500 if quick else 1000,
            exponax_stepper=lambda dt, order, frac: ex.stepper.Burgers(
                1, 1.0, 256, dt, diffusivity=0.01, order=order, dealiasing_fraction=frac),
            notes=("exponax's Burgers domain [0, 1) (domain_extent=1); u0 = sin(2 pi x), the pdejax "
                   "definition's initial condition on that interval; a shock of width ~2 nu forms at t = 1/(2 pi) "
                   "and is resolved at N = 256",
                   "exponax Burgers default is the non-conservative u u_x, as pdejax")),
        Problem(
            name="kolmogorov_2d", equation="w_t + u.grad(w) = nu lap(w) - 0.1 w - 4 cos(4 y), lap(psi) = -w, "
                                           "u = (psi_y, -psi_x), nu = 0.01, [0, 2 pi)^2",
            pde=ns, n_points=128, reference_dt=0.01, final_time=0.4 if quick else 2.4,
            dt_factors=(1, 2) if quick else (0.25, 0.5, 1, 1.5, 2, 3, 4), reference_dt_divisor=2,
            steps_per_call=50 if quick else 200, warmup_time=1.0 if quick else 10.0, warmup_dt=0.01,
            exponax_stepper=lambda dt, order, frac: ex.stepper.KolmogorovFlowVorticity(
                2, 2 * math.pi, 128, dt, diffusivity=0.01, drag=-0.1, injection_mode=4, injection_scale=-1.0,
                order=order, dealiasing_fraction=frac),
            exponax_sign=-1.0,
            notes=("exponax's vorticity convection uses u = (d_y, -d_x) lap^-1 w, the velocity of -w: its state is "
                   "-w in pdejax's (standard) convention, so it is run on -w0 with injection_scale = -1 "
                   "(same PDE; checked to 1e-14 over one step in float64); exponax's drag -0.1 is pdejax's drag 0.1",
                   "nu = 0.01 (Re = 100, exponax's suggestion for 128^2; nu = 0.001 is under-resolved at 128^2)",
                   "u0: a smooth random vorticity (seed 0) advanced warmup_time by pdejax ETDRK4 float64",
                   "T = a few time units: the flow is weakly turbulent, trajectory errors grow past that")),
    ]


# --- problem set-up -----------------------------------------------------------------------------


def matched_dealiasing_fraction(grid: FourierGrid) -> float:
    """exponax's ``dealiasing_fraction`` keeping exactly pdejax's modes.

    exponax keeps ``|k| <= fraction * (N//2) - 1`` per axis, pdejax ``|k| < 2/3 * (N//2)``
    (85 vs 84 modes at N = 256 with exponax's default): with this fraction both keep ``|k| <= K``.
    """
    mask = grid.dealias_mask()
    kept = int(mask.reshape(-1, mask.shape[-1])[0].sum()) - 1
    return (kept + 1.5) / (grid.sizes[-1] // 2)


def band_limit(grid: FourierGrid, u: np.ndarray) -> np.ndarray:
    """``u`` without the modes the dealiasing drops, so that both solvers see the same state."""
    axes = tuple(range(-len(grid.sizes), 0))
    return np.fft.irfftn(np.fft.rfftn(u, axes=axes) * grid.dealias_mask(), s=grid.sizes, axes=axes)


def pdejax_final_state(problem: Problem, grid: FourierGrid, dt: float, n_steps: int, dtype) -> Callable:
    """``v̂0 -> v̂ after n_steps`` (Fourier state), one ``lax`` loop."""
    step = etdrk4_stepper(problem.pde, grid, dt, dtype=dtype)
    run = rollout(step, n_steps, n_steps)
    return jax.jit(lambda v0: run(v0)[-1])


def exponax_final_state(problem: Problem, grid: FourierGrid, dt: float, n_steps: int, order: int, dtype) -> Callable:
    """exponax's ``repeat`` over its Fourier-space step (``step_fourier``, the fast path)."""
    stepper = build_exponax(problem, grid, dt, order, dtype)
    return jax.jit(ex.repeat(stepper.step_fourier, n_steps))


def build_exponax(problem: Problem, grid: FourierGrid, dt: float, order: int, dtype):
    """The exponax stepper, built in the run's precision (its coefficients in float32 for a
    float32 run, as an exponax user gets them), with pdejax's dealiasing mask."""
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        stepper = problem.exponax_stepper(dt, order, matched_dealiasing_fraction(grid))
    nonlinear = stepper._integrator._nonlinear_fun
    mask = np.asarray(nonlinear.dealiasing_mask).reshape(grid.dealias_mask().shape)
    if not np.array_equal(mask, grid.dealias_mask()):
        raise RuntimeError(f"{problem.name}: exponax's dealiasing mask differs from pdejax's")
    return stepper


def make_initial_state(problem: Problem, grid: FourierGrid) -> np.ndarray:
    """float64 initial state of shape ``(1, *sizes)``, band-limited (see the module docstring)."""
    with jax.enable_x64(True):
        if problem.name == "kolmogorov_2d":
            rng = np.random.default_rng(0)
            n = problem.n_points
            k = np.hypot(np.fft.fftfreq(n, 1 / n)[:, None], np.arange(n // 2 + 1)[None, :])
            w_hat = (rng.normal(size=k.shape) + 1j * rng.normal(size=k.shape)) * np.exp(-(k / 4) ** 2) * (k > 0)
            w0 = np.fft.irfft2(w_hat, s=(n, n))
            u0 = (2 * w0 / w0.std())[None]
        else:
            u0 = np.asarray(initial_condition(problem.pde, grid, jnp.float64))
        u0 = band_limit(grid, u0)
        if problem.warmup_time > 0:
            n_steps = round(problem.warmup_time / problem.warmup_dt)
            run = pdejax_final_state(problem, grid, problem.warmup_dt, n_steps, jnp.float64)
            v = np.asarray(run(jnp.fft.rfftn(jnp.asarray(u0), axes=grid.axes)))
            u0 = band_limit(grid, np.fft.irfftn(v, s=grid.sizes, axes=grid.axes))
    return u0


# --- timing -------------------------------------------------------------------------------------


def time_calls(candidates: dict[str, tuple[Callable, object]], repeats: int,
               min_sample_s: float = 0.05) -> tuple[dict[str, dict], dict[str, object]]:
    """Seconds per call of each ``fn(arg)``, compile excluded, and each call's output.

    ``repeats`` rounds interleave the candidates (load from other processes then hits all
    alike); a sample averages enough calls to last ``min_sample_s``. Best and median.
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
    for _ in range(repeats):
        for name, (fn, arg) in candidates.items():
            t0 = time.perf_counter()
            for _ in range(calls[name]):
                jax.block_until_ready(fn(arg))
            samples[name].append((time.perf_counter() - t0) / calls[name])
    stats = {name: {"best_s": min(s), "median_s": statistics.median(s), "first_call_s": compile_s[name],
                    "calls_per_sample": calls[name]} for name, s in samples.items()}
    return stats, outputs


def kernel_counts(fn: Callable, arg) -> dict:
    """FFT calls, single-field transforms and fused kernels in the compiled HLO of one step."""
    text = jax.jit(fn).lower(arg).compile().as_text()
    entry = text[text.index("ENTRY"):]
    ffts = re.findall(r"= \w+\[([\d,]*)\]\S* fft\(.*?fft_length=\{([\d,]+)\}", entry)
    transforms = sum(math.prod(int(d) for d in shape.split(",")[:-len(lengths.split(","))]) or 1
                     for shape, lengths in ffts)
    return {"fft_calls": len(ffts), "fft_transforms": transforms,
            "fusions": len(re.findall(r" fusion\(", entry)), "hlo_instructions": entry.count("\n  %")}


def throughput(problem: Problem, grid: FourierGrid, u0: np.ndarray, dtype, repeats: int,
               min_sample_s: float) -> dict:
    """Steps/s of one trajectory (and of a vmapped batch) at exponax's reference dt."""
    dt, n = problem.reference_dt, problem.steps_per_call
    axes = grid.axes
    u = jnp.asarray(u0, dtype)
    v = jnp.fft.rfftn(u, axes=axes)
    step = etdrk4_stepper(problem.pde, grid, dt, dtype=dtype)
    candidates = {"pdejax_etdrk4": (jax.jit(rollout(step, n)), v)}
    counts = {"pdejax_etdrk4": kernel_counts(lambda w: step(w, 0.0), v)}
    if ex is not None:
        s = problem.exponax_sign
        ex2, ex4 = (build_exponax(problem, grid, dt, order, dtype) for order in (2, 4))
        candidates["exponax_etdrk2_rollout"] = (jax.jit(ex.rollout(ex2, n)), s * u)
        candidates["exponax_etdrk2_fourier"] = (jax.jit(ex.rollout(ex2.step_fourier, n)), s * v)
        candidates["exponax_etdrk4_fourier"] = (jax.jit(ex.rollout(ex4.step_fourier, n)), s * v)
        counts["exponax_etdrk2_rollout"] = kernel_counts(lambda w: ex2(w), s * u)
        counts["exponax_etdrk2_fourier"] = kernel_counts(lambda w: ex2.step_fourier(w), s * v)
        counts["exponax_etdrk4_fourier"] = kernel_counts(lambda w: ex4.step_fourier(w), s * v)
    times, _ = time_calls(candidates, repeats, min_sample_s)
    out = {"dt": dt, "steps_per_call": n, "repeats": repeats}
    for name, t in times.items():
        out[name] = {"steps_per_s_best": n / t["best_s"], "steps_per_s_median": n / t["median_s"],
                     "us_per_step_best": 1e6 * t["best_s"] / n, "first_call_s": t["first_call_s"],
                     "kernels_per_step": counts[name]}
    for name in candidates:
        if name != "pdejax_etdrk4":
            out[f"speedup_vs_{name}"] = out["pdejax_etdrk4"]["steps_per_s_best"] / out[name]["steps_per_s_best"]
    if problem.batch:
        out[f"batch_{problem.batch}"] = batch_throughput(problem, grid, u0, dtype, repeats, min_sample_s)
    return out


def batch_throughput(problem: Problem, grid: FourierGrid, u0: np.ndarray, dtype, repeats: int,
                     min_sample_s: float) -> dict:
    """Trajectory-steps/s of ``problem.batch`` trajectories (translated copies of ``u0``)."""
    dt, b = problem.reference_dt, problem.batch
    n = max(50, problem.steps_per_call // 5)
    shifts = np.arange(b) * (problem.n_points // b)
    u = jnp.asarray(np.stack([np.roll(u0, int(s), axis=-1) for s in shifts]), dtype)
    v = jnp.fft.rfftn(u, axes=grid.axes)
    step = etdrk4_stepper(problem.pde, grid, dt, dtype=dtype)
    candidates = {"pdejax_etdrk4": (jax.jit(jax.vmap(rollout(step, n))), v)}
    if ex is not None:
        s = problem.exponax_sign
        ex2 = build_exponax(problem, grid, dt, 2, dtype)
        candidates["exponax_etdrk2_rollout"] = (jax.jit(jax.vmap(ex.rollout(ex2, n))), s * u)
        candidates["exponax_etdrk2_fourier"] = (jax.jit(jax.vmap(ex.rollout(ex2.step_fourier, n))), s * v)
        ex4 = build_exponax(problem, grid, dt, 4, dtype)
        candidates["exponax_etdrk4_fourier"] = (jax.jit(jax.vmap(ex.rollout(ex4.step_fourier, n))), s * v)
    times, _ = time_calls(candidates, repeats, min_sample_s)
    out = {"trajectories": b, "steps_per_call": n}
    for name, t in times.items():
        out[name] = {"trajectory_steps_per_s_best": b * n / t["best_s"],
                     "trajectory_steps_per_s_median": b * n / t["median_s"]}
    for name in candidates:
        if name != "pdejax_etdrk4":
            out[f"speedup_vs_{name}"] = (out["pdejax_etdrk4"]["trajectory_steps_per_s_best"]
                                         / out[name]["trajectory_steps_per_s_best"])
    return out


# --- accuracy against wall time -----------------------------------------------------------------


def relative_l2(grid: FourierGrid, v_hat, reference: np.ndarray) -> float:
    u = np.fft.irfftn(np.asarray(v_hat, np.complex128), s=grid.sizes, axes=grid.axes)
    return float(np.linalg.norm(u - reference) / np.linalg.norm(reference))


def steps_to(final_time: float, dt: float) -> int:
    n = round(final_time / dt)
    if abs(n * dt - final_time) > 1e-9 * final_time:
        raise ValueError(f"final time {final_time} is not a multiple of dt = {dt}")
    return n


def reference_solution(problem: Problem, grid: FourierGrid, u0: np.ndarray) -> tuple[np.ndarray, dict]:
    """pdejax ETDRK4 in float64 at a small dt, and how far it is from (i) itself at twice
    the dt, (ii) exponax ETDRK2 and (iii) exponax ETDRK4, in float64."""
    dt_min = problem.reference_dt * min(problem.dt_factors)
    dt_ref = dt_min / problem.reference_dt_divisor
    T = problem.final_time
    with jax.enable_x64(True):
        v0 = jnp.fft.rfftn(jnp.asarray(u0), axes=grid.axes)
        to_grid = lambda v: np.fft.irfftn(np.asarray(v), s=grid.sizes, axes=grid.axes)
        t0 = time.perf_counter()
        reference = to_grid(pdejax_final_state(problem, grid, dt_ref, steps_to(T, dt_ref), jnp.float64)(v0))
        info = {"method": "pdejax ETDRK4, float64", "dt": dt_ref, "steps": steps_to(T, dt_ref),
                "wall_s": time.perf_counter() - t0}
        coarse = pdejax_final_state(problem, grid, 2 * dt_ref, steps_to(T, 2 * dt_ref), jnp.float64)(v0)
        info["rel_diff_pdejax_etdrk4_f64_at_2dt"] = relative_l2(grid, coarse, reference)
        info["estimated_reference_error"] = info["rel_diff_pdejax_etdrk4_f64_at_2dt"] / 15  # 4th order
        if ex is not None:
            s = problem.exponax_sign
            for order, dt in ((2, dt_min), (4, dt_ref)):
                run = exponax_final_state(problem, grid, dt, steps_to(T, dt), order, jnp.float64)
                info[f"rel_diff_exponax_etdrk{order}_f64_at_dt_{dt:g}"] = relative_l2(grid, s * run(s * v0),
                                                                                     reference)
    return reference, info


def error_sweep(problem: Problem, grid: FourierGrid, u0: np.ndarray, reference: np.ndarray, dtype,
                repeats: int) -> dict[str, list[dict]]:
    """Error at T and wall time to reach T, per solver and dt; the solvers are timed
    interleaved at each dt, and a solver leaves the sweep at its first unstable dt."""
    v0 = jnp.fft.rfftn(jnp.asarray(u0, dtype), axes=grid.axes)
    series = {"pdejax_etdrk4": lambda dt, n: pdejax_final_state(problem, grid, dt, n, dtype)}
    if ex is not None:
        for order in (2, 4):
            series[f"exponax_etdrk{order}"] = (
                lambda dt, n, order=order: exponax_final_state(problem, grid, dt, n, order, dtype))
    sign = {name: 1.0 if name.startswith("pdejax") else problem.exponax_sign for name in series}
    runs = {name: [] for name in series}
    for factor in sorted(problem.dt_factors):
        dt = problem.reference_dt * factor
        n = steps_to(problem.final_time, dt)
        live = [name for name in series if not runs[name] or runs[name][-1]["stable"]]
        candidates = {name: (series[name](dt, n), sign[name] * v0) for name in live}
        timing, outputs = time_calls(candidates, repeats, min_sample_s=0.02)
        for name in live:
            error = relative_l2(grid, sign[name] * outputs[name], reference)
            stable = math.isfinite(error) and error < 1.0
            runs[name].append({"dt": dt, "steps": n, "rel_l2_error": error if math.isfinite(error) else None,
                               "wall_s": timing[name]["best_s"], "wall_s_median": timing[name]["median_s"],
                               "stable": stable})
    return runs


def wall_time_at(runs: list[dict], target: float) -> dict | None:
    """Wall time to reach error ``target``: from the largest dt that meets it, interpolated
    log-log towards the next dt of the sweep when that one is stable but misses the target
    (``None`` when no run meets it)."""
    meeting = [r for r in runs if r["stable"] and r["rel_l2_error"] <= target]
    if not meeting:
        return None
    best = max(meeting, key=lambda r: r["dt"])
    out = {"wall_s": best["wall_s"], "cheapest_run_dt": best["dt"], "interpolated": False}
    larger = [r for r in runs if r["dt"] > best["dt"]]
    if not larger:
        out["note"] = "the sweep's largest dt meets the target: an upper bound"
        return out
    nxt = min(larger, key=lambda r: r["dt"])
    if not nxt["stable"]:
        out["note"] = f"the next dt of the sweep ({nxt['dt']:g}) is unstable: stability, not accuracy, limits dt"
        return out
    slope = (math.log(nxt["wall_s"]) - math.log(best["wall_s"])) / (
        math.log(nxt["rel_l2_error"]) - math.log(max(best["rel_l2_error"], 1e-300)))
    out["wall_s"] = math.exp(math.log(best["wall_s"]) + slope * (math.log(target) - math.log(best["rel_l2_error"])))
    out["interpolated"] = True
    return out


def equal_accuracy(runs: dict[str, list[dict]], reference_dt: float) -> dict:
    """Wall time per solver at each target error and pdejax's speedup over each exponax solver."""
    targets = {f"{t:.0e}": t for t in TARGET_ERRORS}
    exponax_default = next((r for r in runs.get("exponax_etdrk2", []) if math.isclose(r["dt"], reference_dt)), None)
    if exponax_default and exponax_default["stable"]:
        targets["exponax_etdrk2_at_reference_dt"] = exponax_default["rel_l2_error"]
    out = {}
    for label, target in targets.items():
        row = {"target_rel_l2": target}
        for name, series in runs.items():
            row[name] = wall_time_at(series, target)
        ours = row.get("pdejax_etdrk4")
        for name in runs:
            if name != "pdejax_etdrk4" and ours and row[name]:
                row[f"speedup_vs_{name}"] = row[name]["wall_s"] / ours["wall_s"]
        out[label] = row
    return out


# --- driver -------------------------------------------------------------------------------------


def run_problem(problem: Problem, dtype, repeats: int, min_sample_s: float) -> dict:
    grid = grid_for(problem.pde, problem.n_points)
    t0 = time.perf_counter()
    u0 = make_initial_state(problem, grid)
    out = {"equation": problem.equation, "n_points": problem.n_points, "grid": list(grid.sizes),
           "domain_length": list(grid.lengths), "exponax_dealiasing_fraction": matched_dealiasing_fraction(grid),
           "kept_modes_per_axis": int(grid.dealias_mask().reshape(-1, grid.dealias_mask().shape[-1])[0].sum()),
           "warmup_time": problem.warmup_time, "notes": list(problem.notes)}
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        out["throughput"] = throughput(problem, grid, u0, dtype, repeats, min_sample_s)
    reference, out_ref = reference_solution(problem, grid, u0)
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        runs = error_sweep(problem, grid, u0, reference, dtype, repeats)
    out["accuracy"] = {"final_time": problem.final_time, "dt_values": [problem.reference_dt * f for f in
                                                                       sorted(problem.dt_factors)],
                       "reference": out_ref, "runs": runs,
                       "equal_accuracy": equal_accuracy(runs, problem.reference_dt)}
    out["bench_wall_s"] = time.perf_counter() - t0
    return out


def summary(problems: dict) -> dict:
    out = {}
    for name, p in problems.items():
        tp = p["throughput"]
        row = {"pdejax_steps_per_s": tp["pdejax_etdrk4"]["steps_per_s_best"]}
        for peer in ("exponax_etdrk2_rollout", "exponax_etdrk2_fourier", "exponax_etdrk4_fourier"):
            if peer in tp:
                row[f"{peer}_steps_per_s"] = tp[peer]["steps_per_s_best"]
        if "exponax_etdrk4_fourier" in tp:  # same method, same work: the implementations' cost
            row["pdejax_time_per_step_over_exponax_etdrk4"] = (tp["pdejax_etdrk4"]["us_per_step_best"]
                                                              / tp["exponax_etdrk4_fourier"]["us_per_step_best"])
        batch = tp.get("batch_64", {})
        for solver in ("pdejax_etdrk4", "exponax_etdrk2_rollout", "exponax_etdrk2_fourier", "exponax_etdrk4_fourier"):
            if solver in batch:
                row[f"{solver}_batch_64_trajectory_steps_per_s"] = batch[solver]["trajectory_steps_per_s_best"]
        for label, acc in p["accuracy"]["equal_accuracy"].items():
            if "speedup_vs_exponax_etdrk2" in acc:
                row[f"equal_accuracy_speedup_vs_exponax_etdrk2_at_{label}"] = acc["speedup_vs_exponax_etdrk2"]
        out[name] = row
    return out


def versions() -> dict:
    import equinox
    import jaxlib

    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "equinox": equinox.__version__,
            "numpy": np.__version__, "python": platform.python_version(),
            "pdejax": getattr(pdejax, "__version__", "unknown"),
            "exponax": getattr(ex, "__version__", None) if ex is not None else "not installed"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (< 1 min): fewer dt, repeats and steps")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--repeats", type=int, default=None, help="timing repeats (default 5, quick 2)")
    ap.add_argument("--problems", default="ks_1d,burgers_1d,kolmogorov_2d", help="comma-separated subset")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    dtype = jnp.float32 if args.dtype == "float32" else jnp.float64
    wanted = args.problems.split(",")
    problems = [p for p in build_problems(args.quick) if p.name in wanted]
    unknown = set(wanted) - {p.name for p in problems}
    if unknown:
        ap.error(f"unknown problems {sorted(unknown)}; valid: ks_1d, burgers_1d, kolmogorov_2d")

    t0 = time.perf_counter()
    device = jax.devices()[0]
    out = {"benchmark": "spectral_etdrk_vs_exponax", "versions": versions(),
           "device": {"platform": device.platform, "device_kind": device.device_kind, "cpu_count": os.cpu_count(),
                      "processor": platform.processor() or platform.machine(),
                      "load_average_at_start": os.getloadavg()},
           "dtype": args.dtype, "quick": args.quick, "repeats": repeats,
           "issue_reference_exponax": ISSUE_REFERENCE_EXPONAX, "problems": {}}
    for problem in problems:
        out["problems"][problem.name] = run_problem(problem, dtype, repeats, 0.03 if args.quick else 0.1)
    out["summary"] = summary(out["problems"])
    out["device"]["load_average_at_end"] = os.getloadavg()
    out["total_wall_s"] = time.perf_counter() - t0
    out["notes"] = [
        "throughput: one jitted call rolls out steps_per_call steps with lax.scan and returns every state "
        "(pdejax: rollout(etdrk4_stepper(...)) on the rfft state; exponax: ex.rollout(stepper) in physical space, "
        "its documented path, and ex.rollout(stepper.step_fourier) on the rfft state, its fastest); "
        "compile time excluded; best (and median) over interleaved repeats",
        "pdejax ETDRK4 makes 4 nonlinear evaluations per step, exponax's default ETDRK2 makes 2 "
        "(kernels_per_step counts the FFT calls, single-field transforms and fused kernels of one compiled step)",
        "accuracy: each solver advances the same band-limited u0 to final_time at each dt of the sweep "
        "(Fourier-space loops that keep only the final state: pdejax rollout(step, n, n), exponax "
        "ex.repeat(stepper.step_fourier, n)); rel_l2_error is ||u - u_ref|| / ||u_ref|| on the grid; "
        "wall_s the best time of the jitted call (compile excluded); a sweep stops at the first dt that is "
        "unstable (non-finite or error >= 1)",
        "equal_accuracy: the wall time to reach each target error, from the largest dt that meets it, "
        "interpolated log-log towards the next dt of the sweep when that one is stable (when it is unstable, "
        "stability rather than accuracy limits dt, and the entry says so); null where no run meets the target; "
        "speedup = exponax time / pdejax time",
        "float32: the ETDRK4 errors of both libraries stop falling near 1e-5 and grow again at small dt "
        "(round-off accumulates over more steps, and the chaotic problems amplify it), so targets below that "
        "floor are unreachable in float32; --dtype float64 compares the methods' truncation errors",
        "exponax steppers are built in the run's precision (coefficients computed in float32 for float32), "
        "pdejax computes its coefficients in float64 on the host and casts them",
        "other processes may share this machine's cores: compare timings taken in the same run only "
        "(see load_average)",
    ]
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
