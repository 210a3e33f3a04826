"""Operators on the test set: metrics in batches, zero-shot super-resolution, rollout curves, plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ... import metrics as _metrics
from ...data.operator_views import OperatorViews
from ...models.batching import apply_batch
from ...objectives import AutoregressiveObjective, OperatorObjective
from ...objectives.operator import mean_relative_l2, unroll_batch
from ...training import AbstractEvaluator


def summary(pred: np.ndarray, true: np.ndarray, lengths: Sequence[float]) -> dict[str, float]:
    """:func:`pdejax.metrics.summarise` of the whole evaluation set (exact RMS and max over samples)."""
    out = _metrics.summarise(jnp.asarray(pred), jnp.asarray(true), lengths=tuple(lengths))
    return {k: float(v) for k, v in out.items()}


def domain_lengths(views: OperatorViews) -> tuple[float, ...]:
    """Domain lengths per axis from the coordinates (uniform spacing assumed), for fRMSE."""
    return tuple(float(len(c) * (c[1] - c[0])) if len(c) > 1 else 1.0 for c in views.coordinates())


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
        for start in range(0, len(rows), self.batch_size):
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
    ``rel_l2_final`` at the last frame; the report adds relative L2 against time."""

    def __init__(self, objective: AutoregressiveObjective, views: OperatorViews, array: str, batch_size: int):
        self.objective, self.views, self.array, self.batch_size = objective, views, array, batch_size
        n_frames = views.dataset.arrays[array].shape[1]
        history = objective.history
        self._roll = eqx.filter_jit(lambda model, trajs: unroll_batch(
            objective.step_model(model).batch, trajs[:, :history], n_frames - history))

    def errors(self, model: Any) -> tuple[dict[str, float], np.ndarray]:
        rows, history = self.views.test_rows, self.objective.history
        preds, trues = [], []
        for start in range(0, len(rows), self.batch_size):
            trajs = self.views.trajectories(self.array, rows[start:start + self.batch_size])
            preds.append(np.asarray(self._roll(model, jnp.asarray(trajs))))
            trues.append(trajs[:, history:])
        pred, true = np.concatenate(preds), np.concatenate(trues)  # (N, T, fields, *grid)
        curve = np.asarray(_metrics.rollout_errors(jnp.asarray(pred), jnp.asarray(true), time_axis=1))
        flat = lambda a: a.reshape(a.shape[0], -1, *a.shape[3:])  # noqa: E731  (T * fields channels)
        stats = summary(flat(pred), flat(true), domain_lengths(self.views))
        stats["rel_l2_final"] = float(mean_relative_l2(jnp.asarray(pred[:, -1]), jnp.asarray(true[:, -1])))
        return stats, curve

    def __call__(self, model: Any) -> dict[str, float]:
        return self.errors(model)[0]

    def report(self, model: Any, directory: Path | None = None) -> dict[str, Any]:
        _, curve = self.errors(model)
        times, history = self.views.times, self.objective.history
        t = times[history:] if times is not None else np.arange(history, history + len(curve))
        out = {"rollout_rel_l2": {"t": [float(v) for v in t], "rel_l2": [float(v) for v in curve]}}
        if directory is not None:
            from ...plots import plot_rollout_errors

            plot_rollout_errors(np.asarray(t), {"test": curve}, directory / "rollout_error.png")
        return out
