"""The Fourier Neural Operator: shapes, the paper's mode truncation, a direct DFT check, resolution."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdejax.spectral.dft as dft_module
from pdejax.models import FNO, MODELS, SpectralConv


def n_params(model) -> int:
    """Real parameters (concrete or abstract, from ``jax.eval_shape``)."""
    is_param = lambda x: isinstance(x, jax.Array | jax.ShapeDtypeStruct)
    return sum(x.size for x in jax.tree.leaves(eqx.filter(model, is_param)))


def key(seed: int = 0):
    # rbg keys: on CPU, XLA compiles threefry slowly for every new parameter shape.
    return jax.random.key(seed, impl="rbg")


@eqx.filter_jit
def build(make, seed: int = 0):
    """``make(key)`` compiled once instead of one dispatch per parameter."""
    return make(key(seed))


@eqx.filter_jit
def apply(model, x):
    return model(x)


def plane_wave(grid, freq, dtype=np.float32):
    """``cos(2 pi k . x)`` on the unit grid ``x_i = j / n_i``, shape ``(1, *grid)``."""
    axes = np.meshgrid(*[np.arange(n) / n for n in grid], indexing="ij")
    phase = sum(k * x for k, x in zip(freq, axes))
    return jnp.asarray(np.cos(2 * np.pi * phase)[None], dtype)


@pytest.mark.parametrize("modes, grid", [((4,), (16,)), ((3, 2), (8, 6)), ((2, 2, 3), (4, 6, 8))])
def test_shapes(modes, grid):
    conv = build(lambda k: SpectralConv(3, 5, modes, key=k))
    assert apply(conv, jnp.ones((3, *grid))).shape == (5, *grid)
    fno = build(lambda k: FNO(2, 3, modes, width=6, n_layers=1, projection=8, key=k))
    batch = apply(jax.vmap(fno), jnp.ones((4, 2, *grid)))
    assert batch.shape == (4, 3, *grid)


def test_int_modes_with_dim():
    fno = jax.eval_shape(lambda: FNO(1, 1, 3, width=4, n_layers=1, projection=4, dim=2, key=key()))
    assert fno.modes == (3, 3)
    assert fno.spectral[0].kept_shape == (6, 3)


def test_truncation_1d():
    """``modes=m`` keeps rfft modes ``0..m-1``: mode ``m`` gives zero output, ``m-1`` does not."""
    conv = build(lambda k: SpectralConv(1, 2, (5,), key=k))
    kept = apply(conv, plane_wave((32,), (4,)))
    dropped = apply(conv, plane_wave((32,), (5,)))
    assert float(jnp.abs(kept).max()) > 1e-3
    np.testing.assert_allclose(dropped, 0.0, atol=1e-6)


def test_truncation_2d_corners():
    """On the first axis ``m`` keeps frequencies ``-m..m-1`` (the paper's weights1/weights2 corners)."""
    conv = build(lambda k: SpectralConv(1, 2, (3, 4), key=k))
    grid = (16, 12)
    # cos(2 pi (k0 x + k1 y)) with k1 > 0 is the single rfft coefficient (k0, k1).
    for k0, k1, kept in [(2, 3, True), (-3, 3, True), (3, 1, False), (-4, 1, False), (1, 4, False)]:
        out = apply(conv, plane_wave(grid, (k0, k1)))
        if kept:
            assert float(jnp.abs(out).max()) > 1e-3, (k0, k1)
        else:
            np.testing.assert_allclose(out, 0.0, atol=1e-6, err_msg=str((k0, k1)))


def direct_spectral_conv(x, weight, modes):
    """The truncated Fourier multiplication written out with a full-spectrum numpy FFT.

    ``y(n) = Re(sum_k c_k Y_k exp(2 pi i k.n / N)) / N`` over the kept modes ``k`` (frequencies
    ``-m..m-1`` on all axes but the last, ``0..m-1`` there), ``Y_k = X_k @ W_k``, with ``c_k = 1``
    where the last frequency is 0 and 2 elsewhere (its conjugate mirror), as ``irfftn`` does.
    """
    grid = x.shape[1:]
    spectrum = np.fft.fftn(x, axes=tuple(range(1, x.ndim)))
    w = weight[0] + 1j * weight[1]  # (*kept, c_in, c_out)
    freqs = [np.r_[0:m, -m:0] for m in modes[:-1]] + [np.arange(modes[-1])]
    y = np.zeros((w.shape[-1], *grid))
    coords = np.meshgrid(*[np.arange(n) for n in grid], indexing="ij")
    for idx in np.ndindex(*[len(f) for f in freqs]):
        k = [f[i] for f, i in zip(freqs, idx)]
        coeff = spectrum[(slice(None), *k)] @ w[idx]  # (c_out,)
        wave = np.exp(2j * np.pi * sum(kj * cj / n for kj, cj, n in zip(k, coords, grid)))
        scale = 1.0 if k[-1] == 0 else 2.0
        y += scale * np.real(coeff[:, *[None] * len(grid)] * wave) / np.prod(grid)
    return y


@pytest.mark.parametrize("transform", ["matmul", "fft"])
@pytest.mark.parametrize("modes, grid", [((5,), (12,)), ((2, 3), (6, 7)), ((1, 2, 2), (4, 5, 5))])
def test_matches_direct_computation_float64(modes, grid, transform, monkeypatch):
    """Both ways of computing the kept modes: DFT matrices (small axes) and FFTs (large ones)."""
    if transform == "fft":
        monkeypatch.setattr(dft_module, "_MAX_BASIS", 0)
    with jax.enable_x64(True):
        conv = build(lambda k: SpectralConv(2, 3, modes, dtype=jnp.float64, key=k), 1)
        x = jnp.asarray(np.random.default_rng(2).normal(size=(2, *grid)))
        assert ("fft" in str(jax.make_jaxpr(conv)(x))) == (transform == "fft")
        out = eqx.filter_jit(lambda m, x: m(x))(conv, x)  # a fresh trace: the transform is chosen when tracing
        assert out.dtype == jnp.float64
        expected = direct_spectral_conv(np.asarray(x), np.asarray(conv.dense_weight()), modes)
        np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-10, atol=1e-12)


def band_limited(grid, modes, seed):
    """Random real field with only the kept modes, sampled on ``grid``."""
    rng = np.random.default_rng(seed)
    freqs = [np.r_[0:m, -m:0] for m in modes[:-1]] + [np.arange(modes[-1])]
    coords = np.meshgrid(*[np.arange(n) / n for n in grid], indexing="ij")
    u = np.zeros((2, *grid))
    for k in np.ndindex(*[len(f) for f in freqs]):
        freq = [f[i] for f, i in zip(freqs, k)]
        amp = rng.normal(size=(2, 1)) + 1j * rng.normal(size=(2, 1))
        u += np.real(amp.reshape(2, *[1] * len(grid)) * np.exp(2j * np.pi * sum(f * c for f, c in zip(freq, coords))))
    return u


@pytest.mark.parametrize("modes, coarse", [((6,), (32,)), ((3, 4), (16, 12))])
def test_spectral_conv_is_resolution_invariant(modes, coarse):
    """A band-limited input sampled on a grid twice as fine gives the same function."""
    conv = build(lambda k: SpectralConv(2, 3, modes, key=k), 3)
    fine = tuple(2 * n for n in coarse)
    on_coarse = apply(conv, jnp.asarray(band_limited(coarse, modes, 0), jnp.float32))
    on_fine = apply(conv, jnp.asarray(band_limited(fine, modes, 0), jnp.float32))
    shared = on_fine[(slice(None), *[slice(None, None, 2)] * len(coarse))]
    scale = float(jnp.abs(on_coarse).max())
    np.testing.assert_allclose(np.asarray(shared), np.asarray(on_coarse), atol=1e-5 * scale)


def test_fno_runs_at_other_resolutions():
    fno = build(lambda k: FNO(1, 2, (4, 3), width=6, n_layers=2, projection=8, padding=2, key=k))
    for grid in [(16, 24), (9, 7)]:
        out = apply(fno, jnp.ones((1, *grid)))
        assert out.shape == (2, *grid)
        assert bool(jnp.all(jnp.isfinite(out)))


@pytest.mark.parametrize("factorization", ["cp", "tucker"])
def test_factorised_weights(factorization):
    dense = jax.eval_shape(lambda: SpectralConv(16, 16, (8, 8), key=key()))
    low = build(lambda k: SpectralConv(16, 16, (8, 8), factorization=factorization, rank=0.1, key=k))
    ratio = n_params(low) / n_params(dense)
    assert 0.05 < ratio <= 0.1
    assert low.dense_weight().shape == dense.weights[0].shape
    x = jnp.ones((16, 20, 20))
    loss, grads = eqx.filter_jit(jax.value_and_grad(lambda m: jnp.sum(m(x) ** 2)))(low)
    assert float(loss) > 0
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_float64_and_grad():
    with jax.enable_x64(True):
        fno = build(lambda k: FNO(1, 1, (4,), width=8, n_layers=1, lifting=8, projection=8, channel_mlp=0.5,
                                  dtype=jnp.float64, key=k))
        x = jnp.linspace(0.0, 1.0, 16)[None]
        loss, grads = eqx.filter_jit(eqx.filter_value_and_grad(lambda m: jnp.mean(m(x) ** 2)))(fno)
        assert loss.dtype == jnp.float64
        assert all(g.dtype == jnp.float64 and bool(jnp.all(jnp.isfinite(g)))
                   for g in jax.tree.leaves(eqx.filter(grads, eqx.is_array)))


def test_neuraloperator_architecture_has_its_parameter_count():
    """With neuraloperator 2.0's defaults, parameter counts equal theirs (complex counted twice).

    Numbers from ``neuralop.models.FNO(n_modes, 1, 1, hidden_channels)`` 2.0.0: ``n_modes=(30,)``
    keeps 16 rfft modes (our ``modes=16``), ``(24, 22)`` keeps 24 x 12 (our ``(12, 12)``).
    """
    def count(modes, width):
        return n_params(jax.eval_shape(lambda: FNO(1, 1, modes, width, lifting=2 * width, projection=2 * width,
                                                   channel_mlp=0.5, key=key())))

    assert count((16,), 64) == 575041
    assert count((9,), 64) == 345665
    assert count((12, 12), 32) == 2372449
    assert count((8, 9), 32) == 1192801


def test_paper_defaults():
    fno = jax.eval_shape(lambda: FNO(1, 1, (16,), key=key()))
    assert len(fno.lifting) == 1 and fno.channel_mlps == () and fno.gates == ()
    assert fno.projection[0].weight.shape == (128, 64)
    assert fno.spectral[0].dense_weight().shape == (2, 16, 64, 64)


def test_registry_builds_fno():
    model = jax.eval_shape(lambda: MODELS.build("fno", {"modes": [4, 4], "width": 8, "channel_mlp": 0.5},
                                                where="model", in_size=2, out_size=1, key=key(), dtype=None))
    assert isinstance(model, FNO) and model.modes == (4, 4) and len(model.channel_mlps) == 4


def test_errors():
    # Shapes are checked while tracing: abstract inputs are enough.
    fno = jax.eval_shape(lambda: FNO(2, 1, (4, 4), width=4, n_layers=1, projection=4, key=key()))
    with pytest.raises(ValueError, match=r"c_in=2"):
        jax.eval_shape(fno, jax.ShapeDtypeStruct((3, 10, 10), jnp.float32))
    with pytest.raises(ValueError, match="2 grid axes"):
        jax.eval_shape(fno, jax.ShapeDtypeStruct((2, 10), jnp.float32))
    with pytest.raises(ValueError, match="too coarse"):
        jax.eval_shape(fno, jax.ShapeDtypeStruct((2, 6, 10), jnp.float32))
    conv = jax.eval_shape(lambda: SpectralConv(2, 2, (4,), key=key()))
    with pytest.raises(ValueError, match=r"c_in=2"):
        jax.eval_shape(conv, jax.ShapeDtypeStruct((1, 16), jnp.float32))
    with pytest.raises(ValueError, match="too coarse"):
        jax.eval_shape(conv, jax.ShapeDtypeStruct((2, 5), jnp.float32))
    with pytest.raises(ValueError, match="modes"):
        SpectralConv(2, 2, (0,), key=key())
    with pytest.raises(ValueError, match="factorization"):
        SpectralConv(2, 2, (4,), factorization="tt", key=key())
    with pytest.raises(ValueError, match="dim=2"):
        FNO(1, 1, (4,), dim=2, key=key())
    with pytest.raises(ValueError, match="activation"):
        FNO(1, 1, (4,), activation="relu6", key=key())


@pytest.mark.parametrize("modes, grid, padding, factorization", [
    ((5,), (24,), 0, None), ((5,), (20,), 4, "cp"), ((2, 3), (8, 7), 0, None), ((2, 3), (8, 7), (2, 1), "tucker"),
    ((1, 2, 2), (4, 5, 6), 0, None)])
def test_batch_path_matches_vmap_float64(modes, grid, padding, factorization):
    """``FNO.batch`` / ``SpectralConv.batch`` (grid axes reversed, batch inside) compute the
    same values and parameter gradients as ``jax.vmap`` of the one-sample call."""
    with jax.enable_x64(True):
        fno = build(lambda k: FNO(2, 3, modes, width=6, n_layers=2, lifting=8, channel_mlp=0.5, padding=padding,
                                  factorization=factorization, rank=0.5, dtype=jnp.float64, key=k), 4)
        x = jnp.asarray(np.random.default_rng(5).normal(size=(3, 2, *grid)))
        v = jnp.asarray(np.random.default_rng(6).normal(size=(3, 6, *grid)))

        @eqx.filter_jit  # one compilation for both paths (op by op, each small op compiles on its own)
        def both(fno, x, v):
            loss = lambda apply: lambda m: jnp.sum(jnp.sin(apply(m, x)))  # noqa: E731
            conv = fno.spectral[0]
            return ((fno.batch(x), jax.vmap(fno)(x)),
                    (jax.grad(loss(lambda m, x: m.batch(x)))(fno), jax.grad(loss(lambda m, x: jax.vmap(m)(x)))(fno)),
                    (conv.batch(v), jax.vmap(conv)(v)))

        (y_batch, y_vmap), (g_batch, g_vmap), (c_batch, c_vmap) = both(fno, x, v)
        np.testing.assert_allclose(np.asarray(y_batch), np.asarray(y_vmap), rtol=1e-12, atol=1e-13)
        for a, b in zip(jax.tree.leaves(g_batch), jax.tree.leaves(g_vmap)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(c_batch), np.asarray(c_vmap), rtol=1e-12, atol=1e-13)


def test_batch_path_falls_back_to_vmap_on_large_grids(monkeypatch):
    monkeypatch.setattr(dft_module, "_MAX_BASIS", 0)
    fno = build(lambda k: FNO(1, 1, (4,), width=4, n_layers=1, projection=4, key=k), 1)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 1, 16)), jnp.float32)
    assert "fft" in str(jax.make_jaxpr(fno.batch)(x))
    np.testing.assert_allclose(np.asarray(fno.batch(x)), np.asarray(jax.vmap(fno)(x)), rtol=1e-6, atol=1e-6)


def test_batch_errors():
    fno = jax.eval_shape(lambda: FNO(2, 1, (4, 4), width=4, n_layers=1, projection=4, key=key()))
    with pytest.raises(ValueError, match=r"FNO.batch expects input of shape \(batch, c_in=2, \*grid\)"):
        jax.eval_shape(fno.batch, jax.ShapeDtypeStruct((2, 10, 10), jnp.float32))
    with pytest.raises(ValueError, match="too coarse"):
        jax.eval_shape(fno.batch, jax.ShapeDtypeStruct((3, 2, 6, 10), jnp.float32))
    conv = jax.eval_shape(lambda: SpectralConv(2, 2, (4,), key=key()))
    with pytest.raises(ValueError, match=r"SpectralConv.batch expects"):
        jax.eval_shape(conv.batch, jax.ShapeDtypeStruct((2, 16), jnp.float32))
