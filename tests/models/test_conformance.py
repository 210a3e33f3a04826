"""One suite every registered operator model passes: jit, vmap, grad, sharding, checkpoints, resolution, x64.

An operator maps one sample ``(c_in, *grid)`` to ``(c_out, *grid)``. To add a model, add
a ``Case`` to ``CASES`` (small sizes: each check should take about a second).

Compilation dominates the run time of these small models, so: keys use the ``rbg`` PRNG
(XLA on CPU compiles threefry slowly for every new shape), inputs come from NumPy, checks
on results run in NumPy, and models are applied through shared jitted functions.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import pdejax.models.deeponet  # noqa: F401  (registers "deeponet")
import pdejax.models.fno  # noqa: F401  (registers "fno")
import pdejax.models.unet  # noqa: F401  (registers "unet")
from pdejax import models
from pdejax.models.deeponet import DeepONet, unit_grid
from pdejax.models.registry import MODELS
from pdejax.training import Checkpointer

# Registered models that are not operators on grids: pointwise networks for PINNs, each
# with a PointCase below (a point's features (in,) -> (out,)).
FLAX_NETS = Path(__file__).with_name("flax_nets.py")  # users' Flax networks (model name "flax")
NOT_OPERATORS = {"mlp", "fourier_mlp", "modified_mlp", "pirate_net", "kan", "pinnsformer", "flax"}


@dataclasses.dataclass(frozen=True)
class Case:
    """A small operator model and what it promises.

    ``other_grid``: a different resolution the same weights accept (None: none);
    ``bad_grid``: a grid the model must refuse with a ValueError;
    ``frozen``: parameter paths whose gradient is zero by design.
    """

    id: str
    name: str
    args: dict[str, Any]
    c_in: int
    c_out: int
    grid: tuple[int, ...]
    other_grid: tuple[int, ...] | None
    bad_grid: tuple[int, ...]
    frozen: tuple[str, ...] = ()
    build: Callable[..., eqx.Module] | None = None  # default: MODELS.build(name, args, ...)

    def make(self, key=None, dtype=None) -> eqx.Module:
        key = prng_key(0) if key is None else key
        if self.build is not None:
            return self.build(self, key=key, dtype=dtype)
        return MODELS.build(self.name, self.args, where="model", in_size=self.c_in, out_size=self.c_out,
                            key=key, dtype=dtype)

    def inputs(self, batch: int | None = None, grid=None, seed: int = 1):
        shape = (self.c_in, *(grid or self.grid))
        return normal(shape if batch is None else (batch, *shape), seed)


def normal(shape, seed: int):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def prng_key(seed: int):
    return jax.random.key(seed, impl="rbg")


def _pod_deeponet(case: Case, *, key, dtype) -> DeepONet:
    outputs = normal((12, case.c_out, *case.grid), seed=7)
    return DeepONet.with_pod(case.c_in, outputs, n_modes=4, width=16, depth=2, key=key, dtype=dtype)


CASES = [
    Case("deeponet-1d", "deeponet", {"grid": [16], "width": 16, "depth": 2, "p": 8}, 2, 3, (16,),
         other_grid=None, bad_grid=(20,)),
    Case("deeponet-2d", "deeponet", {"grid": [8, 6], "width": 16, "depth": 1, "p": 8}, 1, 2, (8, 6),
         other_grid=None, bad_grid=(8, 8)),
    Case("deeponet-pod-1d", "deeponet", {}, 1, 2, (16,), other_grid=None, bad_grid=(32,),
         frozen=(".pod_basis", ".pod_mean"), build=_pod_deeponet),
    Case("unet-1d-circular", "unet", {"dim": 1, "width": 4, "levels": 2, "padding_mode": "circular"}, 2, 3, (16,),
         other_grid=(12,), bad_grid=(10,)),
    Case("unet-2d", "unet", {"dim": 2, "width": 4, "levels": 1}, 1, 2, (8, 6), other_grid=(4, 10), bad_grid=(8, 5)),
    Case("fno-1d", "fno", {"modes": [4], "width": 8, "n_layers": 2, "projection": 16}, 2, 1, (16,),
         other_grid=(40,), bad_grid=(4,)),
    Case("fno-2d", "fno", {"modes": [3, 3], "width": 6, "n_layers": 1, "projection": 8}, 1, 2, (8, 8),
         other_grid=(12, 16), bad_grid=(4, 8)),
    # users' Flax operators through the adapter (pdejax/models/flax.py); input_shape: one sample's shape
    Case("flax-nnx-conv-1d", "flax", {"module": f"{FLAX_NETS}:NNXConvOperator", "input_shape": [2, 16]}, 2, 3, (16,),
         other_grid=(12,), bad_grid=(9,)),
    Case("flax-linen-conv-1d", "flax", {"module": f"{FLAX_NETS}:LinenConvOperator", "input_shape": [2, 16]}, 2, 3,
         (16,), other_grid=(12,), bad_grid=(9,)),
]
_NEEDS_FLAX = pytest.mark.skipif(importlib.util.find_spec("flax") is None,
                                 reason="flax is not installed (pip install 'pdejax[flax]')")


def _flax_marked(cases_):
    return [pytest.param(c, marks=_NEEDS_FLAX) if c.name == "flax" else c for c in cases_]


cases = pytest.mark.parametrize("case", _flax_marked(CASES), ids=[c.id for c in CASES])
_cache: dict[str, eqx.Module] = {}


def model_of(case: Case) -> eqx.Module:
    if case.id not in _cache:
        _cache[case.id] = case.make(prng_key(0))
    return _cache[case.id]


@eqx.filter_jit
def apply(model, x):
    return model(x)


@eqx.filter_jit
def apply_batch(model, xs):
    return jax.vmap(model)(xs)


def assert_close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def test_every_registered_operator_has_a_case():
    covered = {c.name for c in CASES} | NOT_OPERATORS
    missing = sorted(set(MODELS.names()) - covered)
    assert not missing, f"registered models {missing} need a Case in tests/models/test_conformance.py " \
                        "(or, if they are not operators, an entry in NOT_OPERATORS)"


@cases
def test_registered_build(case):
    model = model_of(case)
    assert case.name in MODELS
    assert apply(model, case.inputs()).shape == (case.c_out, *case.grid)


@cases
def test_jit_matches_eager(case):
    model, x = model_of(case), case.inputs()
    assert_close(apply(model, x), model(x))


@cases
def test_vmap_matches_loop(case):
    model, xs = model_of(case), case.inputs(batch=4)
    batched = apply_batch(model, xs)
    assert batched.shape == (4, case.c_out, *case.grid)
    assert_close(batched, jnp.stack([apply(model, x) for x in xs]))


@cases
def test_apply_batch_matches_vmap(case):
    """``pdejax.models.apply_batch`` (a model's own batch path where it has one, else vmap)
    equals the model applied to one sample at a time."""
    model, xs = model_of(case), case.inputs(batch=3)
    out = eqx.filter_jit(models.apply_batch)(model, xs)
    assert_close(out, jnp.stack([apply(model, x) for x in xs]))


@cases
def test_grad_is_finite_and_reaches_every_parameter(case):
    model, x = model_of(case), case.inputs()
    target = normal((case.c_out, *case.grid), seed=3)
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.mean((m(x) - target) ** 2)))(model)
    leaves = [(jax.tree_util.keystr(path), np.asarray(g)) for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]]
    assert leaves
    assert all(np.isfinite(g).all() for _, g in leaves)
    zero = sorted(path for path, g in leaves if not g.any())
    assert zero == sorted(case.frozen)


@cases
def test_sharded_batch_matches_unsharded(case):
    if len(jax.devices()) < 4:
        pytest.skip("needs 4 devices (tests/conftest.py simulates them on CPU)")
    mesh = Mesh(np.array(jax.devices()[:4]), ("data",))
    model, xs = model_of(case), case.inputs(batch=4)
    expected = apply_batch(model, xs)
    replicated = eqx.filter_shard(model, NamedSharding(mesh, P()))
    sharded_xs = jax.device_put(xs, NamedSharding(mesh, P("data")))
    for out in (apply_batch(replicated, sharded_xs), eqx.filter_jit(models.apply_batch)(replicated, sharded_xs)):
        assert out.sharding.is_equivalent_to(NamedSharding(mesh, P("data")), out.ndim)
        assert_close(out, expected)


@cases
def test_checkpoint_round_trip(case, tmp_path):
    model, x = model_of(case), case.inputs()
    params, static = eqx.partition(model, eqx.is_array)
    ckpt = Checkpointer(tmp_path / "ckpt", keep=1)
    ckpt.save(5, params, {"model": case.name})
    # the target is abstract (shapes and dtypes only), as when resuming in a new process
    target = jax.eval_shape(lambda: eqx.partition(case.make(prng_key(99)), eqx.is_array)[0])
    restored, meta = ckpt.restore(target)
    ckpt.close()
    assert meta == {"model": case.name}
    assert_close(apply(eqx.combine(restored, static), x), apply(model, x), tol=0)


@cases
def test_resolution(case):
    model = model_of(case)
    if case.other_grid is not None:
        assert apply(model, case.inputs(grid=case.other_grid)).shape == (case.c_out, *case.other_grid)
    with pytest.raises(ValueError):
        apply(model, case.inputs(grid=case.bad_grid))
    if isinstance(model, DeepONet):  # point queries instead of a new grid
        x = case.inputs()
        if model.trunk is None:
            with pytest.raises(ValueError, match="POD"):
                model.query(x, jnp.zeros((3, len(case.grid))))
        else:
            y = jax.random.uniform(prng_key(4), (5, len(case.grid)))
            assert model.query(x, y).shape == (case.c_out, 5)
            on_grid = model.query(x, unit_grid(case.grid)).reshape(case.c_out, *case.grid)
            assert_close(on_grid, model(x))


@cases
def test_float64(case):
    # Construction is checked abstractly (eval_shape runs all of __init__ but computes
    # nothing); the forward pass runs on the float32 parameters converted to float64.
    model, x = model_of(case), case.inputs()
    with jax.enable_x64(True):
        abstract = jax.eval_shape(lambda: case.make(dtype=jnp.float64))
        dtypes = {a.dtype for a in jax.tree.leaves(abstract) if isinstance(a, jax.ShapeDtypeStruct)}
        assert dtypes == {np.dtype("float64")}
        model64 = jax.tree.map(lambda a: jnp.asarray(np.asarray(a, np.float64)) if eqx.is_array(a) else a, model)
        out = apply(model64, jnp.asarray(np.asarray(x, np.float64)))
        assert out.dtype == jnp.float64
    assert_close(out, apply(model, x), tol=1e-4)


# ---- pointwise PINN networks: one point's features (in,) -> (out,) ----


@dataclasses.dataclass(frozen=True)
class PointCase:
    """A small pointwise network; ``frozen``: parameter paths whose gradient is zero by design."""

    id: str
    name: str
    args: dict[str, Any]
    in_size: int = 3
    out_size: int = 2
    frozen: tuple[str, ...] = ()
    build: Callable[..., eqx.Module] | None = None

    def make(self, key=None, dtype=None) -> eqx.Module:
        key = prng_key(0) if key is None else key
        net = MODELS.build(self.name, self.args, where="model", in_size=self.in_size, out_size=self.out_size,
                           key=key, dtype=dtype)
        return net if self.build is None else self.build(net)

    def inputs(self, batch: int | None = None, seed: int = 1):
        return normal((self.in_size,) if batch is None else (batch, self.in_size), seed)


def _open_gates(net):
    """A PirateNet as after some training: every block's alpha != 0, so every weight gets a gradient
    (at initialisation alpha = 0 and only alpha and the last layer do)."""
    return eqx.tree_at(lambda m: [b.alpha for b in m.blocks], net,
                       [jnp.asarray(0.3 + 0.1 * i, b.alpha.dtype) for i, b in enumerate(net.blocks)])


B = ".embedding.matrix"  # random Fourier features: frozen
POINT_CASES = [
    PointCase("mlp-rwf", "mlp", {"width": 8, "depth": 2, "rwf": {"mean": 1.0, "std": 0.1}}),
    PointCase("fourier-mlp", "fourier_mlp", {"width": 8, "depth": 2, "n_features": 4}, frozen=(B,)),
    PointCase("modified-mlp-rwf", "modified_mlp", {"width": 8, "depth": 2, "n_features": 4, "rwf": {}},
              frozen=(B,)),
    PointCase("pirate-net", "pirate_net", {"width": 8, "n_blocks": 2, "n_features": 4}, frozen=(B,),
              build=_open_gates),
    PointCase("kan", "kan", {"width": 4, "depth": 1, "degree": 3}),
    PointCase("pinnsformer", "pinnsformer", {"d_model": 8, "n_heads": 2, "d_ff": 8, "d_hidden": 8, "n_steps": 3}),
    # users' Flax networks through the adapter (pdejax/models/flax.py): NNX, NNX with a
    # non-trainable batch statistic (no gradient by design), Linen
    PointCase("flax-nnx", "flax", {"module": f"{FLAX_NETS}:NNXMLP", "args": {"width": 8, "depth": 2}}),
    PointCase("flax-nnx-state", "flax", {"module": f"{FLAX_NETS}:NNXNormed"},
              frozen=(".state['norm']['mean']", ".state['norm']['var']")),
    PointCase("flax-linen", "flax", {"module": f"{FLAX_NETS}:LinenMLP", "args": {"width": 8}}),
]
point_cases = pytest.mark.parametrize("case", _flax_marked(POINT_CASES), ids=[c.id for c in POINT_CASES])


def point_model_of(case: PointCase) -> eqx.Module:
    if case.id not in _cache:
        _cache[case.id] = case.make(prng_key(0))
    return _cache[case.id]


def test_every_pointwise_network_has_a_case():
    assert NOT_OPERATORS == {c.name for c in POINT_CASES}


@point_cases
def test_point_jit_and_vmap(case):
    # jit (one point) against jit + vmap (a batch); no eager run: op by op, it compiles every operation
    model, x, xs = point_model_of(case), case.inputs(), case.inputs(batch=4)
    assert apply(model, x).shape == (case.out_size,)
    batched = apply_batch(model, xs)
    assert batched.shape == (4, case.out_size)
    assert_close(batched, np.stack([np.asarray(apply(model, p)) for p in xs]))


@point_cases
def test_point_grad_is_finite_and_reaches_every_parameter(case):
    model, xs = point_model_of(case), case.inputs(batch=4)
    target = normal((4, case.out_size), seed=3)
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: jnp.mean((jax.vmap(m)(xs) - target) ** 2)))(model)
    leaves = [(jax.tree_util.keystr(path), np.asarray(g)) for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]]
    assert leaves and all(np.isfinite(g).all() for _, g in leaves)
    zero = sorted(path for path, g in leaves if not g.any())
    assert zero == sorted(case.frozen)


@point_cases
def test_point_sharded_batch_matches_unsharded(case):
    if len(jax.devices()) < 4:
        pytest.skip("needs 4 devices (tests/conftest.py simulates them on CPU)")
    mesh = Mesh(np.array(jax.devices()[:4]), ("data",))
    model, xs = point_model_of(case), case.inputs(batch=8)
    replicated = eqx.filter_shard(model, NamedSharding(mesh, P()))
    out = apply_batch(replicated, jax.device_put(xs, NamedSharding(mesh, P("data"))))
    assert out.sharding.is_equivalent_to(NamedSharding(mesh, P("data")), out.ndim)
    assert_close(out, apply_batch(model, xs))


@point_cases
def test_point_checkpoint_round_trip(case, tmp_path):
    model, xs = point_model_of(case), case.inputs(batch=4)
    params, static = eqx.partition(model, eqx.is_array)
    ckpt = Checkpointer(tmp_path / "ckpt", keep=1)
    ckpt.save(5, params, {"model": case.name})
    target = jax.eval_shape(lambda: eqx.partition(case.make(prng_key(99)), eqx.is_array)[0])
    restored, meta = ckpt.restore(target)
    ckpt.close()
    assert meta == {"model": case.name}
    assert_close(apply_batch(eqx.combine(restored, static), xs), apply_batch(model, xs), tol=0)


@point_cases
def test_point_float64(case):
    model, xs = point_model_of(case), case.inputs(batch=4)
    with jax.enable_x64(True):
        abstract = jax.eval_shape(lambda: case.make(dtype=jnp.float64))
        dtypes = {a.dtype for a in jax.tree.leaves(abstract) if isinstance(a, jax.ShapeDtypeStruct)}
        assert dtypes == {np.dtype("float64")}
        model64 = jax.tree.map(lambda a: jnp.asarray(np.asarray(a, np.float64)) if eqx.is_array(a) else a, model)
        out = apply_batch(model64, jnp.asarray(np.asarray(xs, np.float64)))
        assert out.dtype == jnp.float64
    assert_close(out, apply_batch(model, xs), tol=1e-4)
