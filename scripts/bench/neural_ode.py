"""Benchmark: a neural ODE training step in pdejax against the same model written directly with
diffrax + equinox + optax, and the hybrid Burgers step with ETDRK4 against the method of lines.

``neural_ode``: ``configs/dynamics/neural_ode_lotka_volterra.yaml`` (MLP 2x64 softplus vector
field, Tsit5, PID rtol = atol = 1e-5, recursive checkpointing, 16 trajectories x 21
observations per step, Adam with clipping) through pdejax's compiled step, and the same
computation hand-written below with no pdejax import in its code path (the data are
pdejax's, generated beforehand and passed in as an array). Both scan ``steps_per_call``
steps per compiled call and draw their windows on the device. ``overhead`` is pdejax's time
over the hand-written one (goal: at most 1.05).

``hybrid``: ``configs/dynamics/hybrid_burgers.yaml`` with ``model.stepper=etdrk4`` (fixed
steps, the learned term inside the exponential integrator's nonlinear part) and
``model.stepper=mol`` (Tsit5, adaptive), per training step.

Timing is interleaved (the machine is shared; the fastest of ``rounds`` rounds counts) and
the 1-minute load average is reported. Prints one JSON object::

    python scripts/bench/neural_ode.py [--iterations 600] [--steps-per-call 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import optax

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def pdejax_runner(config: str, overrides: list[str], steps_per_call: int):
    import pdejax
    from pdejax.training import make_step

    exp = pdejax.build(os.path.join(ROOT, "configs", config), overrides)
    m = exp.method
    step = make_step(m.objective, exp.phases[0].optimizer, exp.mesh, combiner=exp.combiner, source=m.source)
    box = {"state": step.init(m.model, jax.random.PRNGKey(0))}

    def run(calls: int) -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            box["state"], logs = step(box["state"], n=steps_per_call)
        jax.block_until_ready(logs)
        box["loss"] = float(logs["loss"][-1])
        if "nfe" in logs:
            box["nfe"] = float(jnp.mean(logs["nfe"]))
        return time.perf_counter() - t0

    return run, run(1), box, exp


def plain_runner(ys, ts, scale: float, steps_per_call: int, weights: list, *, width=64, depth=2, batch=16,
                 window=20, lr=3e-3, rtol=1e-5, atol=1e-5, max_steps=4096):
    """The same training step with diffrax + equinox + optax only, from the same initial weights
    (``weights``: ``[(W, b), ...]`` per layer, plain arrays), so that both learn similar vector
    fields and take similar adaptive steps."""
    key = jax.random.PRNGKey(1)
    net = eqx.nn.MLP(2, 2, width, depth, activation=jax.nn.softplus, key=key)
    net = eqx.tree_at(lambda m: [x for layer in m.layers for x in (layer.weight, layer.bias)], net,
                      [jnp.asarray(a) for pair in weights for a in pair])
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
    params, static = eqx.partition(net, eqx.is_array)
    opt_state = optimizer.init(params)

    def solve(net, y0, t):
        sol = diffrax.diffeqsolve(diffrax.ODETerm(lambda s, y, args: net(y)), diffrax.Tsit5(), t[0], t[-1], None, y0,
                                  saveat=diffrax.SaveAt(ts=t), max_steps=max_steps,
                                  stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
                                  adjoint=diffrax.RecursiveCheckpointAdjoint())
        return sol.ys, sol.stats["num_steps"]

    def loss(params, batch, t):
        net = eqx.combine(params, static)
        pred, steps = jax.vmap(lambda y0: solve(net, y0, t))(batch[:, 0])
        return jnp.mean((pred - batch) ** 2) / scale, jnp.mean(steps.astype(jnp.float32))

    def one(carry, key):
        params, opt_state = carry
        k_rows, k_start = jax.random.split(key)
        rows = jax.random.choice(k_rows, ys.shape[0], (batch,), replace=False)
        start = jax.random.randint(k_start, (), 0, ys.shape[1] - window)
        data = jax.lax.dynamic_slice_in_dim(ys[rows], start, window + 1, axis=1)
        t = jax.lax.dynamic_slice_in_dim(ts, start, window + 1)
        (value, steps), grads = jax.value_and_grad(loss, has_aux=True)(params, data, t)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), (value, steps)

    @eqx.filter_jit(donate="all")
    def many(params, opt_state, key):
        (params, opt_state), values = jax.lax.scan(one, (params, opt_state), jax.random.split(key, steps_per_call))
        return params, opt_state, values

    box = {"carry": (params, opt_state), "key": jax.random.PRNGKey(2)}

    def run(calls: int) -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            box["key"], k = jax.random.split(box["key"])
            params, opt_state, values = many(*box["carry"], k)
            box["carry"] = (params, opt_state)
        jax.block_until_ready(values)
        box["loss"] = float(values[0][-1])
        box["nfe"] = 6 * float(jnp.mean(values[1])) + 2  # tsit5: 6 a step (FSAL) + the first-step heuristic's
        return time.perf_counter() - t0

    return run, run(1), box


def interleaved(runners: dict, calls: int, steps_per_call: int, rounds: int) -> dict:
    best = {k: float("inf") for k in runners}
    for _ in range(rounds):
        for name, (run, *_rest) in runners.items():
            best[name] = min(best[name], run(calls))
    return {k: {"ms_per_step": 1e3 * best[k] / (calls * steps_per_call), "first_call_s": runners[k][1],
                "final_loss": runners[k][2]["loss"], "nfe_per_trajectory": runners[k][2].get("nfe")}
            for k in runners}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=600)
    ap.add_argument("--steps-per-call", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hybrid-iterations", type=int, default=100)
    args = ap.parse_args()
    spc = args.steps_per_call
    out = {"benchmark": "neural_ode", "platform": jax.devices()[0].platform, "cpu_count": os.cpu_count(),
           "jax": jax.__version__, "diffrax": diffrax.__version__, "python": platform.python_version()}
    config = "dynamics/neural_ode_lotka_volterra.yaml"
    overrides = [f"train.steps_per_call={spc}", "optimizer.learning_rate=3e-3"]
    ours = pdejax_runner(config, overrides, spc)
    exp = ours[3]
    source, objective = exp.method.source, exp.method.objective
    net = exp.method.model.net
    weights = [(jnp.asarray(layer.weight), jnp.asarray(layer.bias)) for layer in net.layers]
    plain = plain_runner(source.ys, objective.ts, objective.scale, spc, weights)
    calls = max(1, args.iterations // (spc * args.rounds))
    out["load_avg_1min_before"] = os.getloadavg()[0]
    table = interleaved({"pdejax": ours, "diffrax+equinox": plain}, calls, spc, args.rounds)
    per_eval = {k: v["ms_per_step"] / v["nfe_per_trajectory"] for k, v in table.items() if v["nfe_per_trajectory"]}
    out["neural_ode"] = {**table, "overhead": table["pdejax"]["ms_per_step"] / table["diffrax+equinox"]["ms_per_step"],
                         "overhead_per_evaluation": per_eval["pdejax"] / per_eval["diffrax+equinox"]
                         if len(per_eval) == 2 else None,
                         "goal_overhead": 1.05, "config": config, "steps": args.iterations}
    hybrid = {name: pdejax_runner("dynamics/hybrid_burgers.yaml", [f"model.stepper={name}", "train.steps_per_call=10"]
                                  + (["model.rtol=1e-5", "model.atol=1e-5"] if name == "mol" else []), 10)
              for name in ("etdrk4", "mol")}
    out["hybrid_burgers"] = interleaved(hybrid, max(1, args.hybrid_iterations // (10 * args.rounds)), 10, args.rounds)
    out["hybrid_burgers"]["mol_over_etdrk4"] = (out["hybrid_burgers"]["mol"]["ms_per_step"]
                                                / out["hybrid_burgers"]["etdrk4"]["ms_per_step"])
    out["load_avg_1min_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
