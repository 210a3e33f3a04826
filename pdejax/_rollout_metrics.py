"""Metrics of rollouts, per time step: the relative L2 error against time, the Pearson
correlation and PDE-Refiner's high-correlation time, APEBench's per-step nRMSE and its
geometric-mean summary.

Re-exported by :mod:`pdejax.metrics` (import them from there); its docstring gives the
conventions. Rollouts are ``(batch, T, channels, *grid)``, predicted frames only, except
:func:`rollout_errors`, which takes the time axis as an argument.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


@eqx.filter_jit
def rollout_errors(pred: Float[Array, "batch ..."], true: Float[Array, "batch ..."], *, time_axis: int = 1
                   ) -> Float[Array, " T"]:
    """Relative L2 error per time step, averaged over samples: error against rollout time.

    Args:
        pred, true: the same shape, samples on axis 0 and time on ``time_axis`` (default 1:
            ``(batch, T, *grid)``, the datasets' ``tensor`` layout; use 2 for
            ``(batch, channels, T, *grid)``). Every other axis (channels, space) is in the norm.
        time_axis: the time axis (not 0); negative values count from the end.

    Returns:
        ``(T,)``: ``mean over samples of ||pred[:, t] − true[:, t]|| / ||true[:, t]||``.
    """
    if pred.shape != true.shape:
        raise ValueError(f"rollout_errors: pred has shape {pred.shape} but true has {true.shape}; they must match")
    if pred.ndim < 2 or not -pred.ndim <= time_axis < pred.ndim or time_axis % pred.ndim == 0:
        raise ValueError(f"rollout_errors: time_axis={time_axis} is not a non-batch axis of shape {pred.shape}")
    p = jnp.moveaxis(pred, time_axis, 1).reshape(pred.shape[0], pred.shape[time_axis], -1)
    t = jnp.moveaxis(true, time_axis, 1).reshape(p.shape)
    per_sample = jnp.sqrt(jnp.sum((p - t) ** 2, axis=-1) / jnp.sum(t**2, axis=-1))
    return jnp.mean(per_sample, axis=0)


@eqx.filter_jit
def pearson_correlation(pred: Float[Array, "batch T channels *grid"], true: Float[Array, "batch T channels *grid"]
                        ) -> Float[Array, "batch T"]:
    """Pearson correlation over space between predicted and reference frames, per sample and time.

    For every sample, frame and channel, ``corr = Σ (p − p̄)(q − q̄) / sqrt(Σ (p − p̄)² Σ (q − q̄)²)``
    over the grid points (means over the grid), then the mean over channels. A constant
    frame (zero variance) gives NaN, which :func:`high_correlation_time` counts as below
    any threshold.

    Args:
        pred, true: rollouts ``(batch, T, channels, *grid)``: the predicted frames only,
            without the input frames.

    Returns:
        ``(batch, T)``.
    """
    if pred.shape != true.shape or pred.ndim < 4:
        raise ValueError(f"pearson_correlation: pred {pred.shape} and true {true.shape} must have the same "
                         "shape (batch, T, channels, *grid) with at least one spatial axis")
    axes = tuple(range(3, pred.ndim))
    p = pred - jnp.mean(pred, axis=axes, keepdims=True)
    q = true - jnp.mean(true, axis=axes, keepdims=True)
    corr = jnp.sum(p * q, axis=axes) / jnp.sqrt(jnp.sum(p * p, axis=axes) * jnp.sum(q * q, axis=axes))
    return jnp.mean(corr, axis=2)


@eqx.filter_jit
def high_correlation_time(pred: Float[Array, "batch T channels *grid"], true: Float[Array, "batch T channels *grid"],
                          dt: float, threshold: float = 0.8) -> Float[Array, " batch"]:
    """Time until the Pearson correlation of a rollout with its reference drops below ``threshold``.

    The long-rollout metric of PDE-Refiner (Lippe et al. 2023): with frame ``i = 1, 2, ...``
    of the rollout at time ``i · dt`` after its last input frame, the time is ``n · dt``
    where ``n`` is the number of leading frames whose :func:`pearson_correlation` is at
    least ``threshold`` — the time of the last frame before the first drop (0 when the
    first predicted frame is already below). A rollout that never drops gets ``T · dt``,
    a lower bound (its true time lies beyond the reference's end). Average over samples
    for the reported number.

    Args:
        pred, true: rollouts ``(batch, T, channels, *grid)``, predicted frames only (no
            input frames), ``dt`` apart.
        dt: time between frames, in the data's units.
        threshold: the correlation level (0.8 in the paper).

    Returns:
        ``(batch,)`` times.

    Example (the correlation falls as ``cos(0.1 i)``, below 0.8 from frame 7):
        >>> x = jnp.linspace(0.0, 2 * jnp.pi, 64, endpoint=False)
        >>> angle = 0.1 * jnp.arange(1, 11)[:, None, None]
        >>> true = jnp.broadcast_to(jnp.sin(x), (10, 1, 64))[None]
        >>> pred = (jnp.cos(angle) * jnp.sin(x) + jnp.sin(angle) * jnp.cos(x))[None]
        >>> float(high_correlation_time(pred, true, dt=0.5)[0])
        3.0
    """
    above = pearson_correlation(pred, true) >= threshold  # NaN counts as below
    leading = jnp.sum(jnp.cumprod(above.astype(jnp.int32), axis=1), axis=1)
    return leading.astype(pred.dtype) * dt


@eqx.filter_jit
def nrmse_per_step(pred: Float[Array, "batch T channels *grid"], true: Float[Array, "batch T channels *grid"]
                   ) -> Float[Array, "batch T"]:
    """nRMSE of every predicted frame of a rollout, per sample: APEBench's per-step metric.

    ``sqrt(mean(e²)) / sqrt(mean(true²))`` over the channels and grid points of one frame
    (the relative L2 of that frame). Pass the predicted frames only: the input frames
    are not predictions (PDEBench's metric counts them, its issue #41, which lowers the
    error), so frame ``i`` of ``pred`` is the ``i + 1``-th step after the input.

    Args:
        pred, true: rollouts ``(batch, T, channels, *grid)``, predicted frames only.

    Returns:
        ``(batch, T)``; :func:`apebench_summary` reduces it to APEBench's number. A frame
            whose prediction is not finite (a rollout that diverged) scores ``inf``, so a
            diverged rollout's summary is ``inf``, never ``nan``.

    Example (the error grows by 1% of the field per step):
        >>> true = jnp.ones((1, 3, 1, 8))  # (batch, T, channels, x)
        >>> pred = true * (1 + 0.01 * jnp.arange(1, 4))[None, :, None, None]
        >>> [round(float(v), 4) for v in nrmse_per_step(pred, true)[0]]
        [0.01, 0.02, 0.03]
    """
    if pred.shape != true.shape or pred.ndim < 4:
        raise ValueError(f"nrmse_per_step: pred {pred.shape} and true {true.shape} must have the same "
                         "shape (batch, T, channels, *grid) with at least one spatial axis")
    axes = tuple(range(2, pred.ndim))
    value = jnp.sqrt(jnp.mean((pred - true) ** 2, axis=axes) / jnp.mean(true**2, axis=axes))
    return jnp.where(jnp.all(jnp.isfinite(pred), axis=axes), value, jnp.inf)


def apebench_summary(per_step_nrmse: Float[Array, "*batch T"], first: int = 100) -> Float[Array, ""]:
    """APEBench's summary of a rollout: the geometric mean over the first ``first`` steps of
    the per-step nRMSE averaged over samples.

    ``exp(mean_{t < first} log(mean_samples nrmse[:, t]))``. With fewer than ``first``
    steps the geometric mean covers all of them (the caller decides whether that is
    comparable; :class:`~pdejax.methods.operator.RolloutEvaluator` only reports it for
    rollouts of at least ``first`` steps). Average the result over seeds for the reported
    mean and spread.

    Args:
        per_step_nrmse: ``(T,)`` (already averaged over samples) or ``(batch, T)`` from
            :func:`nrmse_per_step` (averaged over axis 0 first).
        first: the number of leading steps summarised (APEBench: 100).

    Example (errors 0.01, 0.04 and 0.16 per step: geometric mean 0.04):
        >>> float(apebench_summary(jnp.array([[0.01, 0.04, 0.16]]), first=100))  # doctest: +ELLIPSIS
        0.04...
        >>> float(apebench_summary(jnp.array([0.01, 0.04, 0.16, 100.0]), first=3))  # doctest: +ELLIPSIS
        0.04...
    """
    curve = jnp.asarray(per_step_nrmse)
    if curve.ndim == 2:
        curve = jnp.mean(curve, axis=0)
    if curve.ndim != 1 or curve.shape[0] == 0 or first < 1:
        raise ValueError(f"apebench_summary: expected a (T,) or (batch, T) array with T > 0 and first >= 1, "
                         f"got shape {jnp.shape(per_step_nrmse)} and first={first}")
    return jnp.exp(jnp.mean(jnp.log(curve[:first])))
