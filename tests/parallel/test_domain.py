"""Domain (spatial) parallelism: fields sharded over the ``space`` mesh axis.

Sharded results equal unsharded ones (float64 to 1e-12, float32 to 1e-5) for the
distributed FFT, the FNO (1D/2D/3D: forward and parameter gradient) and a 100-step ETDRK4
rollout, on the meshes (data, space) = (1, 4), (2, 2), (4, 1) of the four CPU devices
of ``tests/conftest.py``. The compiled steps move no whole field (no all-gather; XLA's own
partitioning of ``jnp.fft`` does all-gather), and an FNO-3D's per-device memory falls as
1/n with n space shards. Also: ``remat`` (same gradient, less memory) and bfloat16 inputs
(transforms in float32).
"""

from __future__ import annotations

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from pdejax.models import FNO, SpectralConv, apply_batch
from pdejax.objectives.operator.autoregressive import AutoregressiveObjective
from pdejax.objectives.operator.normalizer import Normalizer
from pdejax.parallel import fft as pfft
from pdejax.parallel.domain import field_batch_sharding
from pdejax.parallel.mesh import data_mesh, make_mesh
from pdejax.spectral import ETDRK4, FourierGrid, rollout

MESHES = [(1, 4), (2, 2), (4, 1)]


def key(seed: int = 0):
    return jax.random.key(seed, impl="rbg")


def build(make, seed: int = 0):
    return make(key(seed))


def is_param(x) -> bool:
    return isinstance(x, jax.Array | jax.ShapeDtypeStruct) and jnp.issubdtype(x.dtype, jnp.inexact)


def relative(a, b) -> float:
    """``|a - b| / |b|`` over all leaves of two pytrees (2-norms), on the host (no compilations)."""
    la, lb = jax.tree.leaves(eqx.filter(a, is_param)), jax.tree.leaves(eqx.filter(b, is_param))
    host = lambda x: np.asarray(x).astype(np.complex128)  # noqa: E731 (bfloat16, real or complex)
    la, lb = [host(x) for x in la], [host(y) for y in lb]
    num = sum(float(np.sum(np.abs(x - y) ** 2)) for x, y in zip(la, lb))
    den = sum(float(np.sum(np.abs(y) ** 2)) for y in lb)
    return (num / den) ** 0.5


def sharded_over(array, axis: int) -> object:
    """The mesh axis ``array``'s ``axis`` is sharded over (``None`` if replicated)."""
    spec = tuple(array.sharding.spec)
    return spec[axis] if axis < len(spec) else None


def all_gathers(hlo: str) -> list[str]:
    """The shapes gathered by every all-gather of a compiled HLO text, e.g. ``['f32[2,64,64,64]']``."""
    return re.findall(r"=\s*(\w+\[[\d,]*\])\{?[^}]*\}?\s*all-gather\(", hlo)


def loss(model, x):
    y = apply_batch(model, x)  # what the operator objectives call
    return jnp.mean((y - x[:, :1]) ** 2), y


@eqx.filter_jit
def forward_and_gradient(model, x):
    """The output and the parameter gradient, one compilation."""
    (_, y), grads = eqx.filter_value_and_grad(loss, has_aux=True)(model, x)
    return y, grads


def test_make_mesh_and_errors():
    mesh = make_mesh(space=2)
    assert dict(mesh.shape) == {"data": 2, "space": 2}
    assert dict(data_mesh().shape) == {"data": 4}
    with pytest.raises(ValueError, match=r"\(data, space\) = \(3, 2\) needs 6 devices"):
        make_mesh(3, 2)
    with pytest.raises(ValueError, match="parallel.space = 5"):
        make_mesh(space=5)


@pytest.mark.parametrize("mesh_shape", MESHES)
def test_distributed_fft_matches_numpy_without_gathering_the_field(mesh_shape, x64):
    mesh = make_mesh(*mesh_shape)
    rng = np.random.default_rng(0)
    for shape in [(4, 8, 6), (4, 8, 4, 6)]:
        dim = len(shape) - 1
        u = jax.device_put(rng.normal(size=shape), NamedSharding(mesh, pfft.spec(len(shape), dim, 0, mesh)))
        transform = jax.jit(lambda u, dim=dim: pfft.rfftn(u, mesh, dim=dim, data_axis=0))
        u_hat = transform(u)
        expected = np.fft.rfftn(np.asarray(u), axes=tuple(range(1, len(shape))))
        assert np.max(np.abs(u_hat - expected)) <= 1e-12 * np.max(np.abs(expected))
        back = jax.jit(lambda v, sizes=shape[1:]: pfft.irfftn(v, sizes, mesh, data_axis=0))(u_hat)
        assert np.max(np.abs(back - u)) <= 1e-12
        assert sharded_over(u_hat, 1) == "space" or mesh_shape[1] == 1
        hlo = transform.lower(u).compile().as_text()
        assert all_gathers(hlo) == []
        assert ("all-to-all(" in hlo) == (mesh_shape[1] > 1)


def test_xla_partitioning_of_jnp_fft_gathers_the_field_and_ours_does_not():
    mesh = make_mesh(1, 4)
    u = jax.ShapeDtypeStruct((2, 64, 64, 64), jnp.float32, sharding=NamedSharding(mesh, P(None, "space")))
    theirs = jax.jit(lambda u: jnp.fft.rfftn(u, axes=(1, 2, 3))).lower(u).compile().as_text()
    assert "f32[2,64,64,64]" in all_gathers(theirs)  # the whole batch of fields on every device
    ours = jax.jit(lambda u: pfft.rfftn(u, mesh, dim=3)).lower(u).compile().as_text()
    assert all_gathers(ours) == [] and ours.count("all-to-all(") == 2


def test_refusals():
    mesh = make_mesh(1, 4)
    with pytest.raises(ValueError, match=r"grid \(6, 8\).*multiple of 4"):
        pfft.rfftn(jnp.ones((6, 8)), mesh, dim=2)
    with pytest.raises(ValueError, match="2 or 3 grid axes"):
        pfft.rfftn(jnp.ones((8,)), mesh, dim=1)
    fno = jax.eval_shape(lambda: FNO(1, 1, (2, 2), width=4, n_layers=1, projection=4, key=key()))
    with pytest.raises(ValueError, match=r"FNO input grid \(10, 8\).*multiple of 4"):
        jax.eval_shape(lambda m, x: m.shard(mesh).batch(x), fno, jnp.zeros((2, 1, 10, 8)))
    # a batch that does not split over `data` (a last test batch) is replicated, not refused
    out = jax.eval_shape(lambda m, x: m.shard(make_mesh(2, 2)).batch(x), fno, jnp.zeros((3, 1, 8, 8)))
    assert out.shape == (3, 1, 8, 8)
    with pytest.raises(ValueError, match="batch of 3 samples .* 2 'data' devices"):
        pfft.check_batch(3, make_mesh(2, 2), "batch")
    with pytest.raises(ValueError, match="'space' axis"):
        fno.shard(data_mesh())


FNO_CASES = {1: ((3,), (16,)), 2: ((3, 2), (8, 12)), 3: ((2, 2, 2), (8, 4, 6))}


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_sharded_fno_equals_unsharded_float64(dim, x64):
    modes, grid = FNO_CASES[dim]
    fno = build(lambda k: FNO(2, 1, modes, width=4, n_layers=1, projection=4, key=k), dim)
    x = jnp.asarray(np.random.default_rng(dim).normal(size=(4, 2, *grid)))
    y, g = forward_and_gradient(fno, x)
    for mesh_shape in MESHES:
        mesh = make_mesh(*mesh_shape)
        sharded = fno.shard(mesh)
        xs = jax.device_put(x, NamedSharding(mesh, P("data", None, "space")))
        ys, gs = forward_and_gradient(sharded, xs)
        assert sharded_over(ys, 2) == "space" or mesh_shape[1] == 1
        assert relative(ys, y) <= 1e-12, mesh_shape
        assert relative(gs, g) <= 1e-12, mesh_shape
        if mesh_shape == (1, 4):  # one sample, no batch axis
            assert relative(eqx.filter_jit(lambda m, x: m(x))(sharded, xs[0]), y[0]) <= 1e-12


def test_sharded_fno_equals_unsharded_float32_with_padding_and_channel_mlp():
    fno = build(lambda k: FNO(2, 1, (2, 2, 2), width=4, n_layers=1, projection=4, padding=(4, 0, 2),
                              channel_mlp=0.5, key=k))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2, 8, 4, 6)), jnp.float32)
    y, g = forward_and_gradient(fno, x)
    mesh = make_mesh(2, 2)
    ys, gs = forward_and_gradient(fno.shard(mesh), jax.device_put(x, NamedSharding(mesh, P("data", None, "space"))))
    assert relative(ys, y) <= 1e-5 and relative(gs, g) <= 1e-5


def test_autoregressive_objective_trains_a_sharded_fno(x64):
    """The operator objectives reach the model through ``apply_batch`` (``FNO.batch``): the loss
    and gradient of a 2-step unrolled training step are those of the unsharded model."""
    fno = build(lambda k: FNO(2, 1, (2, 2), width=4, n_layers=1, projection=4, key=k))
    objective = AutoregressiveObjective(norm=Normalizer.identity(1, 2), history=2, unroll=2)
    frames = jnp.asarray(np.random.default_rng(0).normal(size=(4, 4, 1, 8, 8)))

    @eqx.filter_jit
    def step(model, frames):
        value = lambda m: objective.loss(m, {"frames": frames, "t0": jnp.zeros(4)}, None)[0]["data"]  # noqa: E731
        return eqx.filter_value_and_grad(value)(model)

    mesh = make_mesh(2, 2)
    expected = step(fno, frames)
    got = step(fno.shard(mesh), jax.device_put(frames, field_batch_sharding(mesh, 5, 2)))
    assert relative(got[0], expected[0]) <= 1e-12 and relative(got[1], expected[1]) <= 1e-12


def _burgers_2d(layout: pfft.SpaceFFT, n: int) -> ETDRK4:
    """``u_t = 0.05 Δu - (u²/2)_x - (u²/2)_y`` on [0, 2π)², 2/3-dealiased, as an ETDRK4 step."""
    grid = FourierGrid(("x", "y"), (0.0, 0.0), (2 * np.pi, 2 * np.pi), (n, n))
    kx, ky = grid.wavenumbers(np.float64)
    mask = grid.dealias_mask()

    def nonlinear(v, t):
        u = layout.irfftn(v, (n, n))
        return -0.5j * (kx + ky) * layout.rfftn(u * u) * mask

    return ETDRK4(-0.05 * (kx**2 + ky**2) * np.ones((1, 1)), nonlinear, dt=0.01)


def test_sharded_etdrk4_rollout_equals_unsharded(x64):
    n = 32
    x, y = np.meshgrid(*2 * [2 * np.pi * np.arange(n) / n], indexing="ij")
    u0 = np.stack([np.sin(x) * np.cos(y) + 0.3 * np.cos(2 * x + y + k) for k in range(4)])
    v0 = jnp.fft.rfftn(u0, axes=(1, 2))
    expected = jax.jit(jax.vmap(rollout(_burgers_2d(pfft.SpaceFFT(None, dim=2), n), 100, 50)))(v0)
    for mesh_shape in MESHES:
        mesh = make_mesh(*mesh_shape)
        layout = pfft.SpaceFFT(mesh, dim=2)
        step = _burgers_2d(layout, n).shard(layout)
        run = jax.jit(jax.vmap(rollout(step, 100, 50), spmd_axis_name="data"))
        v0s = jax.device_put(v0, NamedSharding(mesh, P("data", "space", None)))
        frames = run(v0s)
        assert frames.shape == (4, 2, n, n // 2 + 1)
        assert relative(frames, expected) <= 1e-12, mesh_shape
        assert all_gathers(run.lower(v0s).compile().as_text()) == []


def compile_step(model, x_shape, mesh, dtype=jnp.float32):
    """One forward+backward step ``(params, x) -> grads`` of ``apply_batch(model, x)``, compiled
    for a batch of ``x_shape`` sharded ``P("data", None, "space")`` (nothing is run)."""
    params, static = eqx.partition(model, is_param)
    replicated = NamedSharding(mesh, P())
    params = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated), params)
    x = jax.ShapeDtypeStruct(x_shape, dtype, sharding=NamedSharding(mesh, P("data", None, "space")))
    return jax.jit(jax.grad(lambda p, x: loss(eqx.combine(p, static), x)[0])).lower(params, x).compile()


def memory(compiled) -> tuple[int, int]:
    """Per-device bytes of a compiled step: its temporaries, and temporaries + arguments + outputs."""
    stats = compiled.memory_analysis()
    total = stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes
    return stats.temp_size_in_bytes, total - stats.alias_size_in_bytes


def test_fno3d_per_device_memory_falls_as_one_over_the_space_shards():
    fno = jax.eval_shape(lambda: FNO(1, 1, (8, 8, 8), width=8, n_layers=2, projection=16, key=key()))
    temp, total = {}, {}
    for n in (1, 2, 4):
        compiled = compile_step(fno.shard(make_mesh(1, n)), (2, 1, 64, 64, 64), make_mesh(1, n))
        (temp[n], total[n]), hlo = memory(compiled), compiled.as_text()
        assert all_gathers(hlo) == [], n  # no field (in fact nothing) is gathered
        assert hlo.count("all-to-all(") == (8 if n > 1 else 0)  # 2 per spectral conv, forward and backward
    # Activations are the whole of the temporaries: exactly 1/n up to the truncated-mode
    # buffers (< 1% here). The total adds the replicated parameters and their gradient
    # (2 x 2 MB of the 200 MB at n = 1), which do not shrink: 10% covers them at n = 4.
    for n in (2, 4):
        assert abs(temp[n] * n / temp[1] - 1) < 0.02, (n, temp)
        assert total[n] * n / total[1] < 1.10, (n, total)
    # The plain model on the same sharded input: XLA gathers whole activations.
    plain = compile_step(fno, (2, 1, 64, 64, 64), make_mesh(1, 4)).as_text()
    assert any("64,64,64" in shape for shape in all_gathers(plain))


def test_remat_gives_the_same_gradient_with_less_memory(x64):
    """FNO here; the U-Net's remat is tested in tests/models/test_unet.py."""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3, 16, 16)))
    mesh = make_mesh(1, 1, devices=jax.devices()[:1])
    models = [build(lambda k, r=remat: FNO(3, 1, (4, 4), width=8, n_layers=2, projection=8, remat=r, key=k))
              for remat in (False, True)]
    steps = [compile_step(m, x.shape, mesh, x.dtype) for m in models]
    grads = [step(eqx.filter(m, is_param), x) for step, m in zip(steps, models)]
    assert relative(grads[1], grads[0]) <= 1e-12
    temp = [memory(step)[0] for step in steps]
    assert temp[1] < 0.8 * temp[0], temp  # 0.64 at the time of writing


def test_bfloat16_fno_transforms_in_float32_and_is_close_to_float32():
    fno = build(lambda k: FNO(2, 1, (6, 6), width=16, n_layers=2, projection=16, key=k))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 2, 32, 32)), jnp.float32)
    half = jax.tree.map(lambda a: a.astype(jnp.bfloat16) if is_param(a) else a, fno)
    run = eqx.filter_jit(apply_batch)
    y32, y16 = run(fno, x), run(half, x.astype(jnp.bfloat16))
    assert y16.dtype == jnp.bfloat16
    assert relative(y16.astype(jnp.float32), y32) < 3e-2  # bfloat16: 8 bits of mantissa, 2 layers
    conv = half.spectral[0]
    v = jnp.zeros((4, 32, 32, 16), jnp.bfloat16)
    for run in (lambda c, v: c.channels_last(v[0]), lambda c, v: c.batch(jnp.moveaxis(v, -1, 1)),
                lambda c, v: c.shard(make_mesh(2, 2)).sharded(v)):
        jaxpr = jax.make_jaxpr(run)(conv, v)
        dots = [e for e in _equations(jaxpr.jaxpr) if e.primitive.name == "dot_general"]
        assert dots and all(var.aval.dtype in (jnp.float32, jnp.complex64) for e in dots for var in e.invars)
        assert jaxpr.out_avals[0].dtype == jnp.bfloat16


def _equations(jaxpr):
    for eqn in jaxpr.eqns:
        yield eqn
        for sub in jax.core.subjaxprs(eqn) if hasattr(jax.core, "subjaxprs") else _subjaxprs(eqn):
            yield from _equations(sub)


def _subjaxprs(eqn):
    for param in eqn.params.values():
        if isinstance(param, jax.extend.core.ClosedJaxpr):
            yield param.jaxpr
        elif isinstance(param, jax.extend.core.Jaxpr):
            yield param


def test_sharded_spectral_conv_is_the_plain_one(x64):
    conv = build(lambda k: SpectralConv(3, 2, (2, 3), key=k))
    v = jnp.asarray(np.random.default_rng(1).normal(size=(4, 8, 12, 3)))
    mesh = make_mesh(2, 2)
    out = jax.jit(lambda c, v: c.shard(mesh).sharded(v))(conv, v)
    assert relative(out, jax.vmap(conv.channels_last)(v)) <= 1e-12


def test_parallel_space_trains_an_operator_config_like_one_device(tmp_path, x64):
    """``parallel.space: 2`` from a config: the step shards fed fields over (data, space) and the
    FNO computes through the distributed FFT, with the numbers of a one-device run."""
    import pdejax
    from pdejax.data import generate
    from pdejax.training.step import batch_spec
    from tests.objectives.test_operator import HEAT, operator_config

    generate({**HEAT, "dtype": "float64", "n_samples": 24}, tmp_path / "heat.h5", progress=False)
    runs = {}
    for name, parallel in {"one": {"data": 1}, "split": {"data": 2, "space": 2}}.items():
        cfg = operator_config(tmp_path / "heat.h5", dtype="float64", parallel=parallel,
                              data={"n_train": 16, "n_test": 8, "batch_size": 8},
                              train={"steps": 20, "steps_per_call": 10, "eval_every": 20, "checkpoint_every": 20})
        exp = pdejax.experiment.build(cfg)
        if name == "split":
            assert dict(exp.mesh.shape) == {"data": 2, "space": 2} and exp.method.model.mesh is exp.mesh
            assert batch_spec(exp.mesh, (10, 8, 1, 32), exp.method.objective.grid_axes, lead=1) == \
                P(None, "data", None, "space")
        runs[name] = pdejax.train(cfg, run_dir=tmp_path / name, progress=False)
    a, b = ([np.asarray(x) for x in jax.tree.leaves(eqx.filter(r.model, eqx.is_array))] for r in runs.values())
    assert max(float(np.max(np.abs(x - y)) / (np.max(np.abs(x)) + 1e-300)) for x, y in zip(a, b)) < 1e-11
    assert abs(runs["one"].summary["rel_l2"] - runs["split"].summary["rel_l2"]) < 1e-11


@pytest.mark.parametrize("change, key", [
    ({"parallel": {"space": 3}}, "parallel.space"),                       # 32 points do not split in 3
    ({"parallel": {"space": 2}, "model": {"name": "unet", "dim": 1, "width": 4, "levels": 1}}, "parallel.space"),
])
def test_parallel_space_refusals(tmp_path, change, key):
    import pdejax
    from pdejax.config import ConfigError
    from pdejax.data import generate
    from tests.conftest import tiny_config
    from tests.objectives.test_operator import HEAT, operator_config

    with pytest.raises(ConfigError) as err:  # a PINN has no grid to split
        pdejax.experiment.build(tiny_config(parallel={"data": 1, "space": 2}))
    assert err.value.key == "parallel.space"
    generate({**HEAT, "n_samples": 12}, tmp_path / "heat.h5", progress=False)
    cfg = operator_config(tmp_path / "heat.h5", data={"n_train": 8, "n_test": 4, "batch_size": 4}, **change)
    cfg["parallel"] = {"data": 1, **change["parallel"]}
    with pytest.raises(ConfigError) as err:
        pdejax.experiment.build(cfg)
    assert err.value.key == key
