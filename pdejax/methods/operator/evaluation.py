"""Operators on the test set: metrics in batches, zero-shot super-resolution, rollout curves, plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ... import metrics as _metrics
from ..._progress import batch_starts
from ...data.operator_views import OperatorViews
from ...models.batching import apply_batch
from ...objectives import AutoregressiveObjective, OperatorObjective
from ...objectives.operator import mean_relative_l2
from ...training import AbstractEvaluator


def summary(pred: np.ndarray, true: np.ndarray, lengths: Sequence[float] | None) -> dict[str, float]:
    """:func:`pdejax.metrics.summarise` of the whole evaluation set (exact RMS and max over samples).

    ``lengths`` ``None`` (a grid that is not uniform, such as Chebyshev–Lobatto nodes): the
    frequency-band errors, which assume equispaced samples of a periodic field, are left out."""
    out = _metrics.summarise(jnp.asarray(pred), jnp.asarray(true), lengths=tuple(lengths or (1.0,) * (pred.ndim - 2)))
    return {k: float(v) for k, v in out.items() if lengths is not None or not k.startswith("frmse")}


def domain_lengths(views: OperatorViews) -> tuple[float, ...] | None:
    """Domain lengths per axis of a uniform grid (``n · Δx``), for fRMSE; ``None`` when an axis is
    not uniformly spaced (Chebyshev–Lobatto nodes)."""
    out = []
    for c in views.coordinates():
        c = np.asarray(c, np.float64)
        if len(c) > 2 and not np.allclose(np.diff(c), c[1] - c[0], rtol=1e-6, atol=0):
            return None
        out.append(float(len(c) * (c[1] - c[0])) if len(c) > 1 else 1.0)
    return tuple(out)


class PairEvaluator(AbstractEvaluator):
    """Test-set errors of a supervised operator: ``rel_l2``, ``rmse``, ``nrmse``, ``max_error``
    and PDEBench's frequency-band errors; the report adds zero-shot errors at the
    ``superresolution`` strides and sample plots."""

    def __init__(self, objective: OperatorObjective, views: OperatorViews, batch_size: int,
                 superresolution: Sequence[int] = ()):
        self.objective, self.views, self.batch_size = objective, views, batch_size
        self.superresolution = tuple(superresolution)
        self._predict = eqx.filter_jit(lambda model, x: apply_batch(objective.physical(model), x))

    def __call__(self, model: Any, scale: int | None = None) -> dict[str, float]:
        preds, trues = [], []
        rows = self.views.test_rows
        desc = "evaluate" if scale is None else f"evaluate x{scale}"
        for start in batch_starts(len(rows), self.batch_size, progress=self.progress, desc=desc):
            x, y = self.views.pairs(rows[start:start + self.batch_size], scale)
            preds.append(np.asarray(self._predict(model, jnp.asarray(x))))
            trues.append(y)
        return summary(np.concatenate(preds), np.concatenate(trues), domain_lengths(self.views))

    def report(self, model: Any, directory: Path | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.superresolution:
            errors = {}
            for scale in self.superresolution:
                n = "x".join(str(s) for s in self.views.grid_shape(scale))
                try:
                    errors[n] = self(model, scale)["rel_l2"]
                except (ValueError, TypeError) as err:  # an architecture tied to one resolution
                    errors[n] = None
                    out.setdefault("notes", []).append(f"no zero-shot evaluation at {n}: {err}")
            out["superresolution_rel_l2"] = errors
        if directory is not None:
            self._plot(model, directory, out.get("superresolution_rel_l2"))
        return out

    def _plot(self, model: Any, directory: Path, superresolution: dict[str, float | None] | None) -> None:
        from ... import plots

        views = self.views
        x, y = views.pairs(views.test_rows[:4])
        pred = np.asarray(self._predict(model, jnp.asarray(x)))
        if len(views.spatial) == 1:
            plots.plot_operator_samples(views.coordinates()[0], x[:, 0], pred[:, 0], y[:, 0],
                                        directory / "samples.png", input_label="input (channel 0)",
                                        output_label="output (channel 0)")
        elif len(views.spatial) == 2:
            plots.plot_operator_fields_2d(pred[:3, 0], y[:3, 0], directory / "samples_2d.png")
        good = {k: v for k, v in (superresolution or {}).items() if v is not None}
        if good:
            plots.plot_superresolution([int(k.split("x")[0]) for k in good], list(good.values()),
                                       directory / "superresolution.png")


class RolloutEvaluator(AbstractEvaluator):
    """Test trajectories rolled out from their first ``history`` frames to the end:
    ``rel_l2`` over the whole predicted space-time (the FNO paper's number),
    ``rel_l2_final`` at the last frame, PDEBench's metrics, and the high-correlation time
    (PDE-Refiner's long-rollout metric: per trajectory, the time until the Pearson
    correlation with the reference drops below ``correlation_threshold``; mean, standard
    deviation over trajectories, and the fraction still above it at the end, for which the
    time is a lower bound), and, when the test rollout has at least ``apebench_steps``
    (100) predicted frames, ``apebench_gmean100``: APEBench's geometric mean over those
    steps of the per-step nRMSE. The input frames are in no metric. The report adds relative L2
    and the mean correlation against time. Refined operators (PDE-Refiner) roll out with
    a fixed key, so every evaluation sees the same noise."""

    correlation_threshold = 0.8
    apebench_steps = 100

    def __init__(self, objective: AutoregressiveObjective, views: OperatorViews, array: str, batch_size: int):
        self.objective, self.views, self.array, self.batch_size = objective, views, array, batch_size
        n_frames = views.dataset.arrays[array].shape[1]
        history = objective.history
        self._roll = eqx.filter_jit(lambda model, trajs: objective.rollout(
            model, trajs[:, :history], n_frames - history))

    def _times(self, n: int) -> tuple[np.ndarray, float]:
        """The predicted frames' times (step indices without a t-coordinate) and the frame spacing."""
        times, history = self.views.times, self.objective.history
        if times is None or len(times) < 2:
            return np.arange(history, history + n, dtype=float), 1.0
        return np.asarray(times[history:history + n], float), float(times[1] - times[0])

    def errors(self, model: Any) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """``(metrics, curves)``; ``curves``: ``rel_l2`` and ``correlation`` (means over
        trajectories) per predicted frame."""
        rows, history = self.views.test_rows, self.objective.history
        preds, trues = [], []
        for start in batch_starts(len(rows), self.batch_size, progress=self.progress, desc="roll out"):
            trajs = self.views.trajectories(self.array, rows[start:start + self.batch_size])
            preds.append(np.asarray(self._roll(model, jnp.asarray(trajs))))
            trues.append(trajs[:, history:])
        pred, true = np.concatenate(preds), np.concatenate(trues)  # (N, T, fields, *grid)
        curve = np.asarray(_metrics.rollout_errors(jnp.asarray(pred), jnp.asarray(true), time_axis=1))
        flat = lambda a: a.reshape(a.shape[0], -1, *a.shape[3:])  # noqa: E731  (T * fields channels)
        stats = summary(flat(pred), flat(true), domain_lengths(self.views))
        stats["rel_l2_final"] = float(mean_relative_l2(jnp.asarray(pred[:, -1]), jnp.asarray(true[:, -1])))
        corr = np.asarray(_metrics.pearson_correlation(jnp.asarray(pred), jnp.asarray(true)))
        _, dt = self._times(pred.shape[1])
        tau = np.asarray(_metrics.high_correlation_time(jnp.asarray(pred), jnp.asarray(true), dt,
                                                        self.correlation_threshold))
        stats["high_correlation_time"] = float(np.mean(tau))
        stats["high_correlation_time_std"] = float(np.std(tau))
        stats["high_correlation_censored"] = float(np.mean(np.all(corr >= self.correlation_threshold, axis=1)))
        if pred.shape[1] >= self.apebench_steps:  # APEBench's summary needs that many predicted steps
            per_step = _metrics.nrmse_per_step(jnp.asarray(pred), jnp.asarray(true))
            stats[f"apebench_gmean{self.apebench_steps}"] = float(
                _metrics.apebench_summary(per_step, self.apebench_steps))
        return stats, {"rel_l2": curve, "correlation": np.mean(corr, axis=0)}

    def __call__(self, model: Any) -> dict[str, float]:
        return self.errors(model)[0]

    def report(self, model: Any, directory: Path | None = None) -> dict[str, Any]:
        _, curves = self.errors(model)
        t, _ = self._times(len(curves["rel_l2"]))
        times = [float(v) for v in t]
        out = {"rollout_rel_l2": {"t": times, "rel_l2": [float(v) for v in curves["rel_l2"]]},
               "rollout_correlation": {"t": times, "correlation": [float(v) for v in curves["correlation"]]}}
        if directory is not None:
            from ...plots import plot_rollout_errors

            plot_rollout_errors(np.asarray(t), {"test": curves["rel_l2"]}, directory / "rollout_error.png")
            _plot_correlation(t, curves["correlation"], self.correlation_threshold,
                              directory / "rollout_correlation.png")
        return out


def _plot_correlation(t: np.ndarray, corr: np.ndarray, threshold: float, path: Path) -> None:
    """Mean Pearson correlation against rollout time, with the high-correlation threshold."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(t, corr, "o-", ms=3, label="test (mean over trajectories)")
    ax.axhline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.set(xlabel="t", ylabel="Pearson correlation", title="correlation along the rollout", ylim=(-0.1, 1.05))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
