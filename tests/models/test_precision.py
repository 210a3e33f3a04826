"""Mixed precision: the policy, the wrapper, and ``precision: bf16`` in configs."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdejax
from pdejax.config import ConfigError
from pdejax.models import MLP
from pdejax.models.precision import MixedPrecision, Policy, get_policy
from tests.conftest import tiny_config


def test_policy_names_and_refusals():
    assert get_policy("bf16") == Policy(jnp.float32, jnp.bfloat16, jnp.float32)
    assert get_policy("c=bf16, p=f32, o=f32") == get_policy("bf16")
    assert not get_policy("default").is_mixed and get_policy("bf16").is_mixed
    with pytest.raises(ValueError, match="compute=<dtype>"):
        get_policy("compute=int8")
    tree = {"w": jnp.ones(2), "i": jnp.arange(2), "z": jnp.ones(2, jnp.complex64)}
    cast = get_policy("bf16").cast_to_compute(tree)
    assert (cast["w"].dtype, cast["i"].dtype, cast["z"].dtype) == (jnp.bfloat16, tree["i"].dtype, jnp.complex64)


def _dot_dtypes(jaxpr) -> set:
    found = set()
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            found.add(eqn.invars[0].aval.dtype)
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", None)
            if inner is not None:
                found |= _dot_dtypes(getattr(inner, "jaxpr", inner))
    return found


def test_wrapper_computes_in_bf16_and_keeps_float32_parameters_and_gradients():
    net = MLP(3, 2, width=32, depth=3, key=jax.random.key(0))
    mixed = MixedPrecision(net, get_policy("bf16"))
    x = jax.random.normal(jax.random.key(1), (3,))

    def loss(model):
        return jnp.sum(model(x) ** 2)

    grads = eqx.filter_grad(loss)(mixed)
    assert {g.dtype for g in jax.tree.leaves(grads)} == {jnp.dtype(jnp.float32)}
    assert mixed(x).dtype == jnp.float32
    # the matrix products run in bfloat16, forward and backward
    jaxpr = jax.make_jaxpr(lambda m: eqx.filter_grad(loss)(m))(mixed).jaxpr
    assert _dot_dtypes(jaxpr) == {jnp.dtype(jnp.bfloat16)}
    # ... and agree with float32 to bfloat16's precision (8 significand bits)
    full = net(x)
    scale = float(jnp.abs(full).max())
    np.testing.assert_allclose(np.asarray(mixed(x)), np.asarray(full), rtol=0.05, atol=0.02 * scale)


@pytest.mark.parametrize("change, key", [
    ({"precision": "bf16"}, "precision"),                                  # a PINN: derivatives in bf16
    ({"precision": "bf16", "dtype": "float64"}, "precision"),
    ({"precision": "fp8"}, "precision"),
])
def test_precision_is_refused_where_it_cannot_be_honoured(change, key):
    with pytest.raises(ConfigError) as err:
        pdejax.experiment.build(tiny_config(**change))
    assert err.value.key == key


def test_bf16_operator_run_keeps_float32_state_and_learns_like_float32(tmp_path):
    from pdejax.data import generate
    from tests.objectives.test_operator import HEAT, operator_config

    generate(HEAT, tmp_path / "heat.h5", progress=False)
    runs = {}
    for precision in ("default", "bf16"):
        cfg = operator_config(tmp_path / "heat.h5", precision=precision, data={"normalize": "both"},
                              train={"steps": 200, "steps_per_call": 50, "log_every": 50, "eval_every": 200,
                                     "checkpoint_every": 200})
        runs[precision] = pdejax.train(cfg, run_dir=tmp_path / precision, progress=False)
    mixed = runs["bf16"]
    state_dtypes = {x.dtype for x in jax.tree.leaves(eqx.filter(mixed.model, eqx.is_inexact_array))}
    assert state_dtypes <= {jnp.dtype(jnp.float32), jnp.dtype(jnp.complex64)}
    full, half = runs["default"].summary["rel_l2"], mixed.summary["rel_l2"]
    assert full < 0.8 and half < 0.8  # both learn (an untrained FNO is at about 1)
    assert abs(half - full) < 0.1 * full, (full, half)  # measured: 0.660 (float32), 0.649 (bf16)
