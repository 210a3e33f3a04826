"""Plots written into a run's ``plots/`` directory: loss curves and solution fields."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

_NOT_LOSSES = {"step", "phase", "wall_s", "steps_per_s", "lr", "accepted"}


def plot_losses(history: Sequence[dict[str, Any]], path: str | Path,
                metric_keys: Sequence[str] = ("rel_l2",)) -> Path:
    """Loss terms (log scale) against step, with evaluation metrics in a second panel."""
    path = Path(path)
    steps = np.array([r["step"] for r in history])
    terms = [k for k in history[0] if k not in _NOT_LOSSES and k not in metric_keys
             and k != "max_abs_error" and not k.startswith("causal")] if history else []
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for k in terms:
        vals = np.array([r.get(k, np.nan) for r in history], float)
        axes[0].semilogy(steps, vals, label=k, lw=1.2)
    boundaries = [r["step"] for a, r in zip(history, history[1:]) if a["phase"] != r["phase"]]
    for b in boundaries:
        for ax in axes:
            ax.axvline(b, color="grey", ls=":", lw=1)
    axes[0].set(xlabel="step", ylabel="loss", title="loss terms")
    axes[0].legend(fontsize=8)
    for k in metric_keys:
        pts = [(r["step"], r[k]) for r in history if k in r]
        if pts:
            axes[1].semilogy(*zip(*pts), "o-", label=k, ms=3)
    axes[1].set(xlabel="step", title="evaluation")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_space_time(x: np.ndarray, t: np.ndarray, prediction: np.ndarray, reference: np.ndarray,
                    path: str | Path, field: str = "u") -> Path:
    """Prediction, reference and absolute error over ``(x, t)``; arrays of shape ``(nx, nt)``."""
    path = Path(path)
    err = np.abs(prediction - reference)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharey=True)
    lim = np.max(np.abs(reference))
    extent = (t.min(), t.max(), x.min(), x.max())
    for ax, data, title, kw in (
        (axes[0], prediction, f"prediction {field}", dict(cmap="RdBu_r", vmin=-lim, vmax=lim)),
        (axes[1], reference, f"reference {field}", dict(cmap="RdBu_r", vmin=-lim, vmax=lim)),
        (axes[2], err, f"|error| (max {err.max():.2e})", dict(cmap="magma")),
    ):
        im = ax.imshow(data, origin="lower", aspect="auto", extent=extent, **kw)
        ax.set(title=title, xlabel="t")
        fig.colorbar(im, ax=ax)
    axes[0].set_ylabel("x")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
