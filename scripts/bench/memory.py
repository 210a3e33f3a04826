"""Benchmark: compiled per-device memory of FNO training steps (domain parallelism, remat, bf16).

Nothing is run: every figure is XLA's buffer assignment for the compiled step
(``compiled.memory_analysis()``), deterministic for a given JAX/XLA version and device
kind, so the numbers are comparable between machines of one kind and between runs.
Per device: ``temp`` (the step's intermediates: activations kept for the backward pass
and the backward pass's own buffers), ``arguments`` and ``outputs`` (parameters, batch,
gradients), and ``total = temp + arguments + outputs - aliased``.

Two tables, printed as one JSON object:

1. ``fno3d_space_shards``: FNO-3D on a batch of 2 fields of 64³ points (width 8, 8³
   modes, 2 Fourier layers), one forward+backward step, on meshes ``(data, space) =
   (1, n)`` for n = 1, 2, 4: the model is ``FNO.shard(mesh)`` and the batch is sharded
   ``P("data", None, "space")``. ``all_gathers`` counts the all-gathers in the compiled
   step (none: the spectral convolutions transpose truncated modes with all-to-alls).
2. ``navier_stokes_full``: the FNO-2D of ``configs/operator/fno_navier_stokes_full.yaml``
   (its model arguments, batch 20, 64x64, 10 input frames, the whole 41-step rollout
   trained with gradients through every step: the autoregressive objective's loss), with
   and without ``remat``, in float32 and in bf16 (``MixedPrecision`` with the ``bf16``
   policy: float32 parameters and loss, bfloat16 activations, float32 FFTs).

Run on CPU it needs four devices, which it asks for before JAX starts
(``JAX_NUM_CPU_DEVICES=4``, only when not set already):

    python scripts/bench/memory.py            # JSON on stdout
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")

import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import yaml  # noqa: E402
from jax.sharding import NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from pdejax.models import FNO, MODELS  # noqa: E402
from pdejax.models.precision import MixedPrecision, get_policy  # noqa: E402
from pdejax.objectives.operator.autoregressive import AutoregressiveObjective  # noqa: E402
from pdejax.objectives.operator.normalizer import Normalizer  # noqa: E402
from pdejax.parallel.mesh import make_mesh  # noqa: E402

MiB = 2**20
NS_CONFIG = Path(__file__).resolve().parents[2] / "pdejax" / "configs" / "operator" / "fno_navier_stokes_full.yaml"


def is_param(x) -> bool:
    return isinstance(x, jax.Array | jax.ShapeDtypeStruct) and jnp.issubdtype(x.dtype, jnp.inexact)


def abstract(tree, sharding):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), tree)


def report(compiled, seconds: float) -> dict:
    stats = compiled.memory_analysis()
    total = (stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes
             - stats.alias_size_in_bytes)
    hlo = compiled.as_text()
    return {"temp_mib": round(stats.temp_size_in_bytes / MiB, 2),
            "arguments_mib": round(stats.argument_size_in_bytes / MiB, 2),
            "outputs_mib": round(stats.output_size_in_bytes / MiB, 2),
            "total_mib": round(total / MiB, 2),
            "all_gathers": hlo.count(" all-gather("), "all_to_alls": hlo.count(" all-to-all("),
            "compile_s": round(seconds, 2)}


def fno3d_space_shards() -> list[dict]:
    fno = jax.eval_shape(lambda: FNO(1, 1, (8, 8, 8), width=8, n_layers=2, projection=16, key=jax.random.key(0)))
    rows = []
    for n in (1, 2, 4):
        if n > len(jax.devices()):
            break
        mesh = make_mesh(1, n)
        params, static = eqx.partition(fno.shard(mesh), is_param)
        x = jax.ShapeDtypeStruct((2, 1, 64, 64, 64), jnp.float32,
                                 sharding=NamedSharding(mesh, P("data", None, "space")))

        def loss(p, x, static=static):
            return jnp.mean((eqx.combine(p, static).batch(x) - x) ** 2)

        start = time.perf_counter()
        compiled = jax.jit(jax.grad(loss)).lower(abstract(params, NamedSharding(mesh, P())), x).compile()
        rows.append({"space": n, **report(compiled, time.perf_counter() - start)})
    for row in rows:
        row["total_vs_1_over_n"] = round(row["total_mib"] * row["space"] / rows[0]["total_mib"], 3)
    return rows


def navier_stokes_full() -> list[dict]:
    config = yaml.safe_load(NS_CONFIG.read_text())
    args = {k: v for k, v in config["model"].items() if k != "name"}
    history, unroll = config["objective"]["history"], config["objective"]["unroll"]
    batch, grid = config["data"]["batch_size"], (64, 64)
    frames = jax.ShapeDtypeStruct((batch, history + unroll, 1, *grid), jnp.float32)
    objective = AutoregressiveObjective(norm=Normalizer.identity(1, 2, jnp.float32), history=history, unroll=unroll,
                                        loss_kind=config["objective"]["loss"])
    rows = []
    for precision in ("float32", "bf16"):
        for remat in (False, True):
            net = jax.eval_shape(lambda remat=remat: MODELS.build(
                "fno", {**args, "remat": remat}, where="model", in_size=history, out_size=1,
                key=jax.random.key(0), dtype=jnp.float32))
            model = net if precision == "float32" else MixedPrecision(net, get_policy("bf16"))
            params, static = eqx.partition(model, is_param)

            def loss(p, frames, static=static):
                losses, _ = objective.loss(eqx.combine(p, static), {"frames": frames, "t0": jnp.zeros(batch)}, None)
                return losses["data"]

            start = time.perf_counter()
            compiled = jax.jit(jax.grad(loss)).lower(params, frames).compile()
            rows.append({"precision": precision, "remat": remat, **report(compiled, time.perf_counter() - start)})
    return rows


def main() -> None:
    out = {"devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
           "fno3d_space_shards": fno3d_space_shards(), "navier_stokes_full": navier_stokes_full()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
