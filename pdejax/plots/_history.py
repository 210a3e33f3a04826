"""Training curves from a run's ``metrics.jsonl`` records: the loss terms and evaluation
metrics of one run, one logged value, several runs side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._figure import plt, save_figure

_NOT_LOSSES = {"step", "phase", "wall_s", "steps_per_s", "lr", "accepted"}


def record_keys(history: Sequence[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """``(loss terms, evaluation metrics)``: the numeric keys of ``metrics.jsonl`` records.

    A record lists the loss terms before ``wall_s`` and the evaluation metrics after
    ``steps_per_s`` (and the learning rate), in the order the training loop writes them;
    each list is in first-logged order.

    Example:
        >>> record_keys([{"step": 50, "phase": "OptaxPhase", "loss": 1.0, "residual": 1.0,
        ...               "wall_s": 1.0, "steps_per_s": 9.0, "lr": 1e-3, "rel_l2": 0.5}])
        (['loss', 'residual'], ['rel_l2'])
    """
    terms: dict[str, None] = {}
    metrics: dict[str, None] = {}
    for record in history:
        after = False
        for key, value in record.items():
            if key == "steps_per_s":
                after = True
            if key in _NOT_LOSSES or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            (metrics if after or key == "max_abs_error" else terms)[key] = None
    return [k for k in terms if k not in metrics], list(metrics)


def plot_losses(history: Sequence[dict[str, Any]], path: str | Path,
                metric_keys: Sequence[str] = ("rel_l2",)) -> Path:
    """Loss terms (log scale) against step, with evaluation metrics in a second panel.

    Args:
        history: the records of ``metrics.jsonl``.
        path: the PNG to write.
        metric_keys: the evaluation metrics drawn in the second panel (the others are
            left out of both panels).
    """
    path = Path(path)
    steps = np.array([r["step"] for r in history])
    terms, evaluation = record_keys(history)
    terms = [k for k in terms if k not in metric_keys and not k.startswith("causal")]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for k in terms:
        vals = np.array([r.get(k, np.nan) for r in history], float)
        axes[0].semilogy(steps, vals, label=k, lw=1.2)
    boundaries = [r["step"] for a, r in zip(history, history[1:]) if a["phase"] != r["phase"]]
    for b in boundaries:
        for ax in axes:
            ax.axvline(b, color="grey", ls=":", lw=1)
    axes[0].set(xlabel="step", ylabel="loss", title="loss terms")
    if terms:
        axes[0].legend(fontsize=8)
    drawn = False
    for k in metric_keys:
        pts = _points(history, k)
        if pts:
            axes[1].semilogy(*zip(*pts), "o-", label=k, ms=3)
            drawn = True
    axes[1].set(xlabel="step", title="evaluation")
    if drawn:
        axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _points(history: Sequence[dict[str, Any]], key: str) -> list[tuple[float, float]]:
    """``(step, value)`` of each record that logged ``key`` (a number)."""
    return [(r["step"], float(r[key])) for r in history
            if isinstance(r.get(key), int | float) and not isinstance(r.get(key), bool)]


def plot_metric(history: Sequence[dict[str, Any]], key: str, path: str | Path) -> Path:
    """One logged value against step: an evaluation metric (``rel_l2``), a loss term, ``lr``.

    Log scale when every value is positive. ``ValueError`` when no record logged ``key``.

    Example (``pdejax plot RUN_DIR --metric rel_l2`` does this)::

        history = [{"step": s, "phase": "OptaxPhase", "loss": 1 / s, "rel_l2": 2 / s} for s in (10, 20, 30)]
        plot_metric(history, "rel_l2", "plots/metric_rel_l2.png")
    """
    pts = _points(history, key)
    if not pts:
        raise ValueError(f"plot_metric: no record logged {key!r}")
    steps, values = map(np.asarray, zip(*pts))
    fig, ax = plt.subplots(figsize=(6, 4))
    (ax.semilogy if np.all(values > 0) else ax.plot)(steps, values, "o-", ms=3, lw=1.2)
    ax.set(xlabel="step", ylabel=key, title=f"{key} (last {values[-1]:.3e} at step {steps[-1]:g})")
    ax.grid(alpha=0.3, which="both")
    return save_figure(fig, path)


def plot_comparison(histories: dict[str, Sequence[dict[str, Any]]], path: str | Path, *,
                    metric_keys: Sequence[str] = ("rel_l2",), loss_key: str = "loss") -> Path:
    """Several runs on one figure: each run's loss, and its evaluation metrics, against step.

    One colour per run (its label in the legend), one line style per metric; log scales.

    Args:
        histories: ``{label: records of metrics.jsonl}``, one entry per run.
        path: the PNG to write.
        metric_keys: the evaluation metrics of the second panel.
        loss_key: the loss drawn in the first panel (the total, ``loss``).

    Example (``pdejax compare`` draws this from the runs' ``metrics.jsonl``)::

        runs = {f"lr={lr}": [{"step": s, "phase": "OptaxPhase", "loss": lr / s, "rel_l2": 0.1 / s}
                             for s in (10, 20, 30)] for lr in (1e-3, 1e-2)}
        plot_comparison(runs, "compare.png")
    """
    if not histories:
        raise ValueError("plot_comparison: no runs to draw (an empty dict)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    styles = ("o-", "s--", "^:", "d-.")
    drawn = False
    for i, (label, history) in enumerate(histories.items()):
        color = f"C{i % 10}"
        pts = _points(history, loss_key)
        if pts:
            axes[0].semilogy(*zip(*pts), "-", color=color, lw=1.3, label=label)
        for j, key in enumerate(metric_keys):
            pts = _points(history, key)
            if pts:
                name = label if len(metric_keys) == 1 else f"{label}: {key}"
                axes[1].semilogy(*zip(*pts), styles[j % len(styles)], color=color, ms=3, lw=1.2, label=name)
                drawn = True
    axes[0].set(xlabel="step", ylabel=loss_key, title=loss_key)
    axes[1].set(xlabel="step", title="evaluation: " + ", ".join(metric_keys) if metric_keys else "evaluation")
    axes[0].legend(fontsize=8)
    if drawn:
        axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
    return save_figure(fig, path)
