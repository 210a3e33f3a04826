"""Error metrics of operator learning: the FNO paper's relative L2 and PDEBench's family.

Every function takes ``pred`` and ``true`` of the same shape ``(batch, channels, *grid)``:
samples first, then channels, then one or more spatial axes. They are pure ``jnp``
functions, compiled on first use (``eqx.filter_jit``; shapes are checked when traced;
they also work inside a caller's ``jit``), keep the input's floating dtype, and return
**per-sample** values, ``(batch,)`` or ``(batch, channels)``; :func:`summarise` reduces
a batch to the numbers a paper reports.

Definitions (``e = pred - true``; norms and means over the spatial grid of one sample
and channel unless stated otherwise). The PDEBench ones follow ``metric_func`` in
``pdebench/models/metrics.py`` of github.com/pdebench/PDEBench:

- ``relative_l2``: ``||e||_2 / ||true||_2`` over all channels and grid points of a
  sample — the FNO paper's metric, reported as the mean over samples (the original
  scripts summed over the batch; see REFERENCES.md).
- ``rmse`` (PDEBench ``err_RMSE``): ``sqrt(mean(e²))``.
- ``nrmse`` (``err_nRMSE``): ``rmse / sqrt(mean(true²))``, no epsilon (a zero field gives inf).
- ``max_error`` (``err_Max``): ``max |e|``.
- ``conserved_error`` (``err_CSV``, cRMSE): ``(Σ pred − Σ true) / N``, signed, the error in
  the grid mean (the conserved quantity of periodic problems).
- ``boundary_rmse`` (``err_BD``, bRMSE): RMS of ``e`` over the 2·d faces of the grid (index
  0 and −1 of every spatial axis); a point on several faces counts once per face
  (PDEBench's ``2 nx + 2 ny`` denominator in 2D).
- ``frmse`` (``err_F``, fRMSE): RMS error per wave-number bin, averaged over the bins of
  three bands, see :func:`fourier_error_spectrum`.

Batch reduction in :func:`summarise` is PDEBench's, per metric: the mean over samples for
rmse/nrmse/brmse (and relative L2), the RMS over samples for crmse and for each
Fourier bin of frmse (before the band average), the max over samples for max_error;
then the mean over channels. Give :func:`summarise` the whole evaluation set in one
call: PDEBench's reported numbers average its per-loader-batch values instead, which
differs slightly for crmse, frmse and max_error.

Time. PDEBench computes every metric per frame and averages over frames (each frame is
just another field). To do the same, fold the time axis into the channels,
``pred.reshape(batch, channels * T, *grid)``; relative L2 then becomes the FNO-3D
space-time error. :func:`rollout_errors` gives the error per time step, :func:`pearson_correlation` the
correlation per time step and :func:`high_correlation_time` the time until it drops below
a threshold (PDE-Refiner's long-rollout metric); :func:`nrmse_per_step` and
:func:`apebench_summary` give APEBench's (the geometric mean of the per-step nRMSE over
the first 100 steps).

Example (a prediction 10% too large everywhere):
    >>> import jax.numpy as jnp
    >>> true = jnp.ones((2, 1, 16, 16))  # (batch, channels, nx, ny)
    >>> pred = 1.1 * true
    >>> relative_l2(pred, true).shape  # one value per sample
    (2,)
    >>> report = {k: round(float(v), 4) for k, v in summarise(pred, true).items()}
    >>> sorted(report)
    ['brmse', 'crmse', 'frmse_high', 'frmse_low', 'frmse_mid', 'max_error', 'nrmse', 'rel_l2', 'rmse']
    >>> report["rel_l2"], report["rmse"], report["max_error"]
    (0.1, 0.1, 0.1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._rollout_metrics import (
    apebench_summary,
    high_correlation_time,
    nrmse_per_step,
    pearson_correlation,
    rollout_errors,
)

__all__ = [
    "PDEBENCH_LOW", "PDEBENCH_HIGH", "relative_l2", "rmse", "nrmse", "max_error", "conserved_error", "boundary_rmse",
    "fourier_error_spectrum", "frmse", "rollout_errors", "pearson_correlation", "high_correlation_time",
    "nrmse_per_step", "apebench_summary", "summarise", "METRICS",
]

PDEBENCH_LOW, PDEBENCH_HIGH = 4, 12  # iLow, iHigh of PDEBench's metric_func


def _check(pred: Array, true: Array, where: str) -> None:
    if pred.shape != true.shape:
        raise ValueError(f"{where}: pred has shape {pred.shape} but true has {true.shape}; they must match")
    if pred.ndim < 3:
        raise ValueError(f"{where}: arrays of shape {pred.shape} have {pred.ndim} axes; expected "
                         "(batch, channels, *grid) with at least one spatial axis")


def _spatial(x: Array) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


@eqx.filter_jit
def relative_l2(pred: Float[Array, "batch channels *grid"], true: Float[Array, "batch channels *grid"]
                ) -> Float[Array, " batch"]:
    """``||pred − true||₂ / ||true||₂`` per sample, over all channels and grid points.

    The FNO paper's test metric; report ``relative_l2(pred, true).mean()``, the per-sample
    mean (not the batch sum of the original scripts).
    """
    _check(pred, true, "relative_l2")
    axes = tuple(range(1, pred.ndim))
    return jnp.sqrt(jnp.sum((pred - true) ** 2, axis=axes) / jnp.sum(true**2, axis=axes))


@eqx.filter_jit
def rmse(pred: Float[Array, "batch channels *grid"], true: Float[Array, "batch channels *grid"]
         ) -> Float[Array, "batch channels"]:
    """Root-mean-square error over the grid, per sample and channel (PDEBench ``err_RMSE``)."""
    _check(pred, true, "rmse")
    return jnp.sqrt(jnp.mean((pred - true) ** 2, axis=_spatial(pred)))


@eqx.filter_jit
def nrmse(pred: Float[Array, "batch channels *grid"], true: Float[Array, "batch channels *grid"]
          ) -> Float[Array, "batch channels"]:
    """RMSE divided by the RMS of ``true``, per sample and channel (PDEBench ``err_nRMSE``)."""
    _check(pred, true, "nrmse")
    return rmse(pred, true) / jnp.sqrt(jnp.mean(true**2, axis=_spatial(true)))


@eqx.filter_jit
def max_error(pred: Float[Array, "batch channels *grid"], true: Float[Array, "batch channels *grid"]
              ) -> Float[Array, "batch channels"]:
    """``max |pred − true|`` over the grid, per sample and channel (PDEBench ``err_Max``)."""
    _check(pred, true, "max_error")
    return jnp.max(jnp.abs(pred - true), axis=_spatial(pred))


@eqx.filter_jit
def conserved_error(pred: Float[Array, "batch channels *grid"], true: Float[Array, "batch channels *grid"]
                    ) -> Float[Array, "batch channels"]:
    """Signed error of the grid mean, ``(Σ pred − Σ true) / N``, per sample and channel.

    PDEBench's ``err_CSV`` (cRMSE) is the RMS of this over the batch (:func:`summarise`).
    """
    _check(pred, true, "conserved_error")
    return jnp.mean(pred - true, axis=_spatial(pred))


@eqx.filter_jit
def boundary_rmse(pred: Float[Array, "batch channels *grid"], true: Float[Array, "batch channels *grid"]
                  ) -> Float[Array, "batch channels"]:
    """RMS error on the faces of the grid, per sample and channel (PDEBench ``err_BD``).

    Sums ``e²`` over the first and last slice along every spatial axis and divides by the
    number of face points counted the same way (``2`` in 1D, ``2 nx + 2 ny`` in 2D,
    ``2 (nx ny + ny nz + nz nx)`` in 3D). PDEBench's 3D code also sums over channels; here
    every channel has its own value (the same when there is one channel).
    """
    _check(pred, true, "boundary_rmse")
    sq = (pred - true) ** 2
    total, count = 0.0, 0
    for axis in _spatial(sq):
        first = jax.lax.index_in_dim(sq, 0, axis, keepdims=True)
        last = jax.lax.index_in_dim(sq, sq.shape[axis] - 1, axis, keepdims=True)
        total = total + jnp.sum(first + last, axis=_spatial(sq))
        count += 2 * math.prod(n for a, n in enumerate(sq.shape) if a >= 2 and a != axis)
    return jnp.sqrt(total / count)


def _bin_ids(sizes: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """PDEBench's radial bins of the non-negative wave numbers ``0 <= k_i < n_i // 2``."""
    n_bins = min(sizes) // 2
    ks = np.meshgrid(*(np.arange(n // 2) for n in sizes), indexing="ij")
    radius = np.floor(np.sqrt(sum(k.astype(np.float64) ** 2 for k in ks))).astype(np.int32)
    return np.where(radius < n_bins, radius, n_bins).reshape(-1), n_bins  # id n_bins is dropped


@eqx.filter_jit
def fourier_error_spectrum(pred: Float[Array, "batch channels *grid"], true: Float[Array, "batch channels *grid"],
                           *, lengths: float | Sequence[float] = 1.0) -> Float[Array, "batch channels bins"]:
    """RMS error amplitude per wave-number bin, per sample and channel: PDEBench's fRMSE spectrum.

    With ``ΔF`` the unnormalised DFT of ``pred − true`` over the spatial axes, ``N`` the
    number of grid points and ``L`` the product of the domain ``lengths``:

    - 1D: bin ``k`` is the rFFT coefficient ``k = 0 .. n//2`` (Nyquist included), value
      ``|ΔF_k| · L / N``. A mode ``a cos(2π k x)``, ``0 < k < n/2``, gives ``a L / 2`` in bin ``k``.
    - 2D/3D: only the wave vectors with ``0 <= k_i < n_i // 2`` on every axis count (one
      orthant, as in PDEBench's loops); ``|ΔF_k|²`` is summed into bin ``floor(|k|)`` for
      bins ``0 .. min(n) // 2 − 1``, value ``sqrt(sum) · L / N``. So ``a cos(2π k·x)`` with
      ``k`` in that orthant gives ``a L / 2`` in bin ``floor(|k|)``, while a wave vector with
      components of mixed sign (``cos(2π(3x − 4y))``) and its conjugate both lie outside
      the orthant and are not counted — a property of PDEBench's definition, kept.

    Args:
        pred, true: ``(batch, channels, *grid)``.
        lengths: the domain length per spatial axis (PDEBench's ``Lx, Ly, Lz``), or one for all.

    Returns:
        ``(batch, channels, n_bins)``: ``n // 2 + 1`` bins in 1D, ``min(n) // 2`` otherwise.
    """
    _check(pred, true, "fourier_error_spectrum")
    sizes = pred.shape[2:]
    lengths = (float(lengths),) * len(sizes) if np.ndim(lengths) == 0 else tuple(map(float, lengths))
    if len(lengths) != len(sizes):
        raise ValueError(f"fourier_error_spectrum: lengths={lengths} gives {len(lengths)} lengths for "
                         f"{len(sizes)} spatial axes (grid {sizes})")
    scale = math.prod(lengths) / math.prod(sizes)
    err_hat = jnp.fft.rfftn(pred - true, axes=_spatial(pred))
    if len(sizes) == 1:
        return jnp.abs(err_hat) * scale
    power = jnp.abs(err_hat[(..., *(slice(0, n // 2) for n in sizes))]) ** 2
    ids, n_bins = _bin_ids(sizes)
    flat = jnp.moveaxis(power.reshape(*power.shape[:2], -1), -1, 0)  # (orthant points, batch, channels)
    binned = jax.ops.segment_sum(flat, jnp.asarray(ids), num_segments=n_bins)  # out-of-range ids dropped
    return jnp.moveaxis(jnp.sqrt(binned), 0, -1) * scale


def _bands(spectrum: Array, low: int, high: int) -> Array:
    """Mean of the last axis over bins ``[:low]``, ``[low:high]``, ``[high:]``; NaN for an empty band."""
    n = spectrum.shape[-1]
    out = []
    for band in (slice(0, low), slice(low, high), slice(high, None)):
        part = spectrum[..., band]
        empty = len(range(n)[band]) == 0
        out.append(jnp.full(spectrum.shape[:-1], jnp.nan, spectrum.dtype) if empty else jnp.mean(part, axis=-1))
    return jnp.stack(out, axis=-1)


@eqx.filter_jit
def frmse(pred: Float[Array, "batch channels *grid"], true: Float[Array, "batch channels *grid"], *,
          lengths: float | Sequence[float] = 1.0, low: int = PDEBENCH_LOW, high: int = PDEBENCH_HIGH
          ) -> Float[Array, "batch channels 3"]:
    """Per-sample fRMSE in the low / mid / high bands: the mean of
    :func:`fourier_error_spectrum` over bins ``[0, low)``, ``[low, high)``, ``[high, end)``.

    PDEBench's defaults are ``low = 4``, ``high = 12`` (``iLow``, ``iHigh``). A band with no
    bins (a grid with fewer than ``high`` bins) is NaN, as in PDEBench. For one sample this
    is PDEBench's ``err_F``; for a batch PDEBench first takes the RMS over samples per bin
    (see :func:`summarise`).
    """
    return _bands(fourier_error_spectrum(pred, true, lengths=lengths), low, high)


@eqx.filter_jit
def summarise(pred: Float[Array, "batch channels *grid"], true: Float[Array, "batch channels *grid"], *,
              lengths: float | Sequence[float] = 1.0, low: int = PDEBENCH_LOW, high: int = PDEBENCH_HIGH
              ) -> dict[str, Float[Array, ""]]:
    """The reported numbers of a batch (pass the whole evaluation set), as 0-d arrays.

    Keys: ``rel_l2`` (mean over samples), and PDEBench's ``metric_func(..., if_mean=True)``
    values: ``rmse``, ``nrmse``, ``brmse`` (means over samples and channels), ``crmse``
    (RMS over samples, mean over channels), ``max_error`` (max over samples, mean over
    channels), ``frmse_low`` / ``frmse_mid`` / ``frmse_high`` (RMS over samples per bin,
    mean over the band's bins, mean over channels). ``lengths``, ``low``, ``high`` as in
    :func:`frmse`.
    """
    _check(pred, true, "summarise")
    spectrum = fourier_error_spectrum(pred, true, lengths=lengths)
    bands = jnp.mean(_bands(jnp.sqrt(jnp.mean(spectrum**2, axis=0)), low, high), axis=0)
    return {
        "rel_l2": jnp.mean(relative_l2(pred, true)),
        "rmse": jnp.mean(rmse(pred, true)),
        "nrmse": jnp.mean(nrmse(pred, true)),
        "max_error": jnp.mean(jnp.max(max_error(pred, true), axis=0)),
        "crmse": jnp.mean(jnp.sqrt(jnp.mean(conserved_error(pred, true) ** 2, axis=0))),
        "brmse": jnp.mean(boundary_rmse(pred, true)),
        "frmse_low": bands[0],
        "frmse_mid": bands[1],
        "frmse_high": bands[2],
    }


METRICS: dict[str, Callable[..., Array]] = {
    "rel_l2": relative_l2,
    "rmse": rmse,
    "nrmse": nrmse,
    "max_error": max_error,
    "crmse": conserved_error,
    "brmse": boundary_rmse,
    "frmse": frmse,
}
"""Per-sample metric functions by the name :func:`summarise` reports them under
(``frmse`` gives the three bands)."""
