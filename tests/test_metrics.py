"""Error metrics: closed-form cases, batch semantics, and PDEBench's metric_func in NumPy."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax import metrics
from pdejax.metrics import (
    boundary_rmse,
    conserved_error,
    fourier_error_spectrum,
    frmse,
    max_error,
    nrmse,
    relative_l2,
    rmse,
    rollout_errors,
    summarise,
)


def _random(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def test_relative_l2_of_scaled_truth_is_eps(x64):
    true = _random((3, 2, 16, 12))
    for eps in (1e-3, 0.25):
        np.testing.assert_allclose(relative_l2((1 + eps) * true, true), eps, rtol=1e-12)


@pytest.mark.parametrize("grid", [(32,), (16, 12), (8, 6, 10)])
def test_constant_offset(x64, grid):
    true = _random((2, 3, *grid)) + 2.0
    c = -0.3
    pred = true + c
    np.testing.assert_allclose(rmse(pred, true), abs(c), rtol=1e-12)
    np.testing.assert_allclose(max_error(pred, true), abs(c), rtol=1e-12)
    np.testing.assert_allclose(boundary_rmse(pred, true), abs(c), rtol=1e-12)
    np.testing.assert_allclose(conserved_error(pred, true), c, rtol=1e-12)
    rms_true = np.sqrt(np.mean(true**2, axis=tuple(range(2, true.ndim))))
    np.testing.assert_allclose(nrmse(pred, true), abs(c) / rms_true, rtol=1e-12)
    # relative L2 over channels and grid of a sample: |c| sqrt(N) / ||true||
    norms = np.sqrt(np.sum(true**2, axis=tuple(range(1, true.ndim))))
    np.testing.assert_allclose(relative_l2(pred, true), abs(c) * np.sqrt(true[0].size) / norms, rtol=1e-12)


def test_boundary_rmse_sees_only_the_faces(x64):
    true = np.zeros((1, 1, 6, 5))
    inside = true.copy()
    inside[..., 1:-1, 1:-1] = 1.0
    assert float(boundary_rmse(inside, true)[0, 0]) == 0.0
    corner = true.copy()
    corner[..., 0, 0] = 1.0  # on two faces: counted twice out of 2·6 + 2·5
    np.testing.assert_allclose(boundary_rmse(corner, true)[0, 0], np.sqrt(2 / 22), rtol=1e-12)


def test_max_error_finds_the_spike(x64):
    true = _random((2, 2, 20))
    pred = true.copy()
    pred[1, 0, 7] += -4.0
    np.testing.assert_allclose(max_error(pred, true), [[0, 0], [4, 0]], atol=1e-12)


# --- fRMSE: a single Fourier mode lands in its band with the hand-computed size ---------
# The DFT of a cos(2π k x_j) on n points is a n / 2 at ±k, so PDEBench's bin value
# |ΔF| L / N is a L / 2 in bin k; a band's value is that divided by its number of bins:
# low [0, 4) has 4, mid [4, 12) has 8, high [12, end) has (number of bins − 12).

def _cos_mode(k, sizes, amplitude):
    xs = np.meshgrid(*(np.arange(n) / n for n in sizes), indexing="ij")
    return amplitude * np.cos(2 * np.pi * sum(ki * x for ki, x in zip(k, xs)))[None, None]


@pytest.mark.parametrize("k, band, value", [
    (6, 1, 0.5 / 8),  # mid: a L / 2 / 8
    (2, 0, 0.5 / 4),  # low
    (20, 2, 0.5 / 21),  # high: bins 12..32 of 33 (n = 64, rFFT incl. Nyquist)
    (32, 2, 1.0 / 21),  # Nyquist: (-1)^j has DFT a n, so a L
])
def test_frmse_single_mode_1d(x64, k, band, value):
    a, length = 0.7, 2.0
    err = _cos_mode((k,), (64,), a)
    true = _random(err.shape)
    bands = np.asarray(frmse(true + err, true, lengths=length))[0, 0]
    expected = np.zeros(3)
    expected[band] = a * length * value
    np.testing.assert_allclose(bands, expected, atol=1e-12)
    assert fourier_error_spectrum(true + err, true).shape == (1, 1, 33)


def test_frmse_constant_offset_is_low_band(x64):
    c = 0.3
    true = _random((1, 1, 64))
    np.testing.assert_allclose(frmse(true + c, true)[0, 0], [c / 4, 0, 0], atol=1e-12)  # DFT_0 = c n


@pytest.mark.parametrize("k, sizes, band, n_bins", [
    ((3, 4), (32, 32), 1, 8),  # |k| = 5
    ((12, 0), (32, 40), 2, 4),  # bins 12..15 of min(32, 40)//2 = 16
    ((1, 1), (32, 32), 0, 4),  # floor(√2) = 1
    ((2, 3, 6), (32, 28, 30), 1, 8),  # |k| = 7, 3D
])
def test_frmse_single_mode_nd(x64, k, sizes, band, n_bins):
    a, lengths = 1.3, (2.0, 0.5, 3.0)[:len(sizes)]
    err = _cos_mode(k, sizes, a)
    true = _random(err.shape)
    expected = np.zeros(3)
    expected[band] = a * math.prod(lengths) / 2 / n_bins
    np.testing.assert_allclose(frmse(true + err, true, lengths=lengths)[0, 0], expected, atol=1e-12)


def test_frmse_2d_ignores_mixed_sign_wave_vectors(x64):
    """PDEBench sums only 0 <= k_i < n_i/2: cos(2π(3x − 4y)) is not seen (kept as defined)."""
    err = _cos_mode((3, -4), (32, 32), 1.0)
    np.testing.assert_allclose(frmse(err, np.zeros_like(err))[0, 0], 0.0, atol=1e-12)


def test_frmse_empty_band_is_nan(x64):
    true = _random((1, 1, 16))  # 9 bins: the high band [12:] is empty, as in PDEBench
    bands = np.asarray(frmse(true + 1.0, true))[0, 0]
    assert np.isfinite(bands[:2]).all() and np.isnan(bands[2])


# --- batch semantics --------------------------------------------------------------------

def test_batch_mean_not_sum(x64):
    true = _random((2, 1, 32)) + 1.0
    eps, c = 0.1, 0.2
    pred = true.copy()
    pred[1] = (1 + eps) * true[1]
    np.testing.assert_allclose(relative_l2(pred, true), [0.0, eps], atol=1e-12)
    assert float(summarise(pred, true)["rel_l2"]) == pytest.approx(eps / 2, rel=1e-12)
    shifted = true.copy()
    shifted[1] += c
    s = summarise(shifted, true)
    assert float(s["rmse"]) == pytest.approx(c / 2, rel=1e-12)  # mean over samples
    assert float(s["brmse"]) == pytest.approx(c / 2, rel=1e-12)
    assert float(s["max_error"]) == pytest.approx(c, rel=1e-12)  # max over samples
    assert float(s["crmse"]) == pytest.approx(c / np.sqrt(2), rel=1e-12)  # RMS over samples
    assert float(s["frmse_low"]) == pytest.approx(c / np.sqrt(2) / 4, rel=1e-12)  # RMS per bin, then band mean


def test_rollout_errors(x64):
    rng = np.random.default_rng(1)
    true = rng.normal(size=(2, 5, 3, 16))  # (batch, T, channels, x)
    eps = np.array([[0.0, 0.1, 0.2, 0.3, 0.4], [0.2, 0.3, 0.0, 0.1, 0.0]])
    pred = true * (1 + eps[:, :, None, None])
    errors = rollout_errors(pred, true)
    assert errors.shape == (5,)
    np.testing.assert_allclose(errors, eps.mean(axis=0), atol=1e-12)
    channels_first = np.moveaxis(pred, 1, 2), np.moveaxis(true, 1, 2)  # (batch, channels, T, x)
    np.testing.assert_allclose(rollout_errors(*channels_first, time_axis=2), eps.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(rollout_errors(*channels_first, time_axis=-2), eps.mean(axis=0), atol=1e-12)


# --- PDEBench's metric_func, re-implemented in NumPy from pdebench/models/metrics.py ------

def pdebench_metric_func(pred, target, lengths, i_low=4, i_high=12):
    """NumPy transcription of PDEBench's ``metric_func(pred, target, if_mean=True)``.

    Inputs ``(batch, nx..., nt, nc)``; returns RMSE, nRMSE, CSV, Max, BD and F (3 bands).
    """
    p, t = np.moveaxis(pred, -1, 1), np.moveaxis(target, -1, 1)  # (b, c, x..., nt)
    nb, nc, nt = p.shape[0], p.shape[1], p.shape[-1]
    sizes = p.shape[2:-1]
    d = len(sizes)
    e = p - t
    ef, tf = e.reshape(nb, nc, -1, nt), t.reshape(nb, nc, -1, nt)
    err_mean = np.sqrt(np.mean(ef**2, axis=2))
    err_rmse = err_mean.mean(axis=0)
    err_nrmse = (err_mean / np.sqrt(np.mean(tf**2, axis=2))).mean(axis=0)
    err_csv = np.sqrt(np.mean(ef.sum(axis=2) ** 2, axis=0)) / math.prod(sizes)
    err_max = np.abs(ef).max(axis=2).max(axis=0)
    if d == 1:
        bd = (e[:, :, 0] ** 2 + e[:, :, -1] ** 2) / 2.0
    elif d == 2:
        nx, ny = sizes
        bd_x = e[:, :, 0] ** 2 + e[:, :, -1] ** 2
        bd_y = e[:, :, :, 0] ** 2 + e[:, :, :, -1] ** 2
        bd = (bd_x.sum(axis=-2) + bd_y.sum(axis=-2)) / (2 * nx + 2 * ny)
    else:  # per channel (PDEBench's 3D branch also sums over channels; nc = 1 here)
        nx, ny, nz = sizes
        bd_x = (e[:, :, 0] ** 2 + e[:, :, -1] ** 2).sum(axis=(2, 3))
        bd_y = (e[:, :, :, 0] ** 2 + e[:, :, :, -1] ** 2).sum(axis=(2, 3))
        bd_z = (e[:, :, :, :, 0] ** 2 + e[:, :, :, :, -1] ** 2).sum(axis=(2, 3))
        bd = (bd_x + bd_y + bd_z) / (2 * nx * ny + 2 * ny * nz + 2 * nz * nx)
    err_bd = np.sqrt(bd).mean(axis=0)
    space = tuple(range(2, 2 + d))
    if d == 1:
        diff = np.fft.rfft(p, axis=2) - np.fft.rfft(t, axis=2)
        spec = np.sqrt(np.mean(np.abs(diff) ** 2, axis=0)) / sizes[0] * lengths[0]
    else:
        power = np.abs(np.fft.fftn(p, axes=space) - np.fft.fftn(t, axes=space)) ** 2
        n_bins = min(n // 2 for n in sizes)
        acc = np.zeros((nb, nc, n_bins, nt))
        for idx in itertools.product(*(range(n // 2) for n in sizes)):
            it = math.floor(math.sqrt(sum(i * i for i in idx)))
            if it > n_bins - 1:
                continue
            acc[:, :, it] += power[(slice(None), slice(None), *idx)]
        spec = np.sqrt(acc.mean(axis=0)) / math.prod(sizes) * math.prod(lengths)
    err_f = np.stack([spec[:, :i_low].mean(axis=1), spec[:, i_low:i_high].mean(axis=1),
                      spec[:, i_high:].mean(axis=1)], axis=1)  # (nc, 3, nt)
    return {"rmse": err_rmse.mean(), "nrmse": err_nrmse.mean(), "crmse": err_csv.mean(),
            "max_error": err_max.mean(), "brmse": err_bd.mean(), "frmse": err_f.mean(axis=(0, 2))}


@pytest.mark.parametrize("shape, lengths", [
    ((3, 40, 4, 2), (2.0,)),  # (batch, x, t, c)
    ((2, 32, 28, 3, 2), (1.0, 0.5)),
    ((2, 28, 30, 26, 2, 1), (1.0, 2.0, 0.5)),
])
def test_matches_pdebench_metric_func(x64, shape, lengths):
    rng = np.random.default_rng(2)
    target = rng.normal(size=shape) + 0.5
    pred = target + 0.3 * rng.normal(size=shape) + 0.05
    ref = pdebench_metric_func(pred, target, lengths)
    # ours: (batch, channels * T, *grid), frames folded into channels as PDEBench averages them
    to_ours = lambda a: np.moveaxis(np.moveaxis(a, -1, 1), -1, 2).reshape(a.shape[0], -1, *a.shape[1:-2])
    ours = summarise(to_ours(pred), to_ours(target), lengths=lengths)
    for key in ("rmse", "nrmse", "crmse", "max_error", "brmse"):
        np.testing.assert_allclose(ours[key], ref[key], rtol=1e-10, err_msg=key)
    np.testing.assert_allclose([ours["frmse_low"], ours["frmse_mid"], ours["frmse_high"]], ref["frmse"], rtol=1e-10)


# --- jit, dtype, errors -------------------------------------------------------------------

def test_jit_and_float32():
    rng = np.random.default_rng(3)
    true = jnp.asarray(rng.normal(size=(4, 2, 32, 32)), jnp.float32)
    pred = true + 0.1
    eager, jitted = summarise(pred, true), jax.jit(summarise)(pred, true)
    for key, value in eager.items():
        assert value.dtype == jnp.float32 and value.shape == (), key
        np.testing.assert_allclose(jitted[key], value, rtol=1e-5)
    assert set(eager) == {"rel_l2", "rmse", "nrmse", "max_error", "crmse", "brmse",
                          "frmse_low", "frmse_mid", "frmse_high"}
    for name, fn in metrics.METRICS.items():
        assert fn(pred, true).shape[:2] in ((4,), (4, 2)), name


def test_bad_shapes_raise():
    a = jnp.zeros((2, 1, 8))
    with pytest.raises(ValueError, match=r"pred has shape \(2, 1, 8\) but true has \(2, 1, 9\)"):
        rmse(a, jnp.zeros((2, 1, 9)))
    with pytest.raises(ValueError, match="at least one spatial axis"):
        relative_l2(jnp.zeros((2, 8)), jnp.zeros((2, 8)))
    with pytest.raises(ValueError, match="lengths"):
        frmse(a, a, lengths=(1.0, 2.0))
    with pytest.raises(ValueError, match="time_axis=0"):
        rollout_errors(a, a, time_axis=0)
