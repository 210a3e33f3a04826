"""U-Net: shapes in 1D/2D/3D, input validation, shift equivariance with circular padding."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.config import ConfigError
from pdejax.models.registry import MODELS
from pdejax.models.unet import UNet


def prng_key(seed: int):
    return jax.random.key(seed, impl="rbg")  # cheap to compile on CPU, see test_conformance.py


def normal(shape, seed: int = 0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@eqx.filter_jit
def apply(model, x):
    return model(x)


def shape_of(model, shape):
    """Output shape by tracing only (no compilation): shape logic and input checks run."""
    return jax.eval_shape(lambda m, x: m(x), model, jax.ShapeDtypeStruct(shape, jnp.float32)).shape


# Same sizes as the U-Net cases of test_conformance.py, so a joint run compiles their initialisation once.
@pytest.fixture(scope="module")
def periodic_1d():
    return UNet(2, 3, dim=1, width=4, levels=2, padding_mode="circular", key=prng_key(0))


@pytest.fixture(scope="module")
def periodic_2d():
    return UNet(1, 2, dim=2, width=4, levels=1, padding_mode="circular", key=prng_key(0))


def test_shapes_at_any_multiple_of_the_stride(periodic_1d, periodic_2d):
    for n in (4, 8, 20):
        assert shape_of(periodic_1d, (2, n)) == (3, n)
    for grid in ((8, 8), (2, 12)):
        assert shape_of(periodic_2d, (1, *grid)) == (2, *grid)
    net3d = jax.eval_shape(lambda: UNet(1, 2, dim=3, width=2, levels=2, key=prng_key(2)))
    assert shape_of(net3d, (1, 4, 8, 12)) == (2, 4, 8, 12)
    assert [b.conv2.out_channels for b in (*net3d.encoder, net3d.bottleneck)] == [2, 4, 8]


def test_bad_inputs_and_arguments(periodic_1d, periodic_2d):
    with pytest.raises(ValueError, match="divisible by 2\\*\\*levels = 4"):
        shape_of(periodic_1d, (2, 10))
    with pytest.raises(ValueError, match="divisible"):
        shape_of(periodic_2d, (1, 8, 5))
    with pytest.raises(ValueError, match="c_in = 2"):
        shape_of(periodic_1d, (3, 8))
    with pytest.raises(ValueError, match="1 grid axes"):
        shape_of(periodic_1d, (2, 8, 8))
    with pytest.raises(ValueError, match="dim"):
        UNet(1, 1, dim=4, key=prng_key(0))
    with pytest.raises(ValueError, match="padding_mode"):
        UNet(1, 1, dim=1, padding_mode="reflect", key=prng_key(0))
    with pytest.raises(ConfigError, match="padding_mode"):
        MODELS.build("unet", {"dim": 1, "padding_mode": "reflect"}, where="model", in_size=1, out_size=1,
                     key=prng_key(0))


def shift_error(model, x, shift, axes):
    """max |model(roll(x)) - roll(model(x))|."""
    rolled_in = apply(model, jnp.roll(x, shift, axis=axes))
    return float(jnp.max(jnp.abs(rolled_in - jnp.roll(apply(model, x), shift, axis=axes))))


def test_circular_unet_commutes_with_shifts_by_the_total_stride(periodic_1d, periodic_2d):
    x = normal((2, 16), seed=3)
    for shift in (4, -8):  # multiples of 2**levels
        assert shift_error(periodic_1d, x, shift, 1) < 1e-6
    # other shifts move the down-sampling pattern: not equivariant (errors ~1e-4 here)
    assert shift_error(periodic_1d, x, 1, 1) > 1e-5
    y = normal((1, 8, 6), seed=4)
    assert shift_error(periodic_2d, y, (2, -4), (1, 2)) < 1e-6
    assert shift_error(periodic_2d, y, (1, 0), (1, 2)) > 1e-5


def test_remat_gives_the_same_gradient_with_less_memory(periodic_1d):
    """``remat=True`` recomputes each block in the backward pass: the same gradient (float32,
    up to XLA fusing the recomputation differently) from smaller compiled temporaries."""
    remat = UNet(2, 3, dim=1, width=4, levels=2, padding_mode="circular", remat=True, key=prng_key(0))
    x = normal((4, 2, 64))
    steps, grads = [], []
    for model in (periodic_1d, remat):  # the same parameters (same key)
        params, static = eqx.partition(model, eqx.is_inexact_array)
        step = jax.jit(jax.grad(lambda p, x, static=static: jnp.mean(jax.vmap(eqx.combine(p, static))(x) ** 2)))
        steps.append(step.lower(params, x).compile())
        grads.append(eqx.filter(steps[-1](params, x), eqx.is_array))
    for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1])):
        assert jnp.allclose(a, b, rtol=1e-5, atol=1e-7)
    temp = [step.memory_analysis().temp_size_in_bytes for step in steps]
    assert temp[1] < 0.9 * temp[0], temp
