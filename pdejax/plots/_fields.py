"""Solution fields and errors: a space-time field against its reference, errors along a
rollout, operator samples in 1D and 2D, zero-shot super-resolution, trajectories, and a
learned term against the true one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.ticker
import numpy as np

from ._figure import plt, save_figure


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
        (axes[2], err, f"|error| (max {err.max():.2e}, rel. L2 "
                       f"{np.linalg.norm(prediction - reference) / max(np.linalg.norm(reference), 1e-300):.2e})",
         dict(cmap="magma")),
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


def _curves(x: np.ndarray, values: Any, where: str, x_name: str) -> dict[str, np.ndarray]:
    """``values`` (one array or ``{label: array}``) as float arrays, each shaped like ``x``."""
    curves = dict(values) if isinstance(values, dict) else {"": values}
    if not curves:
        raise ValueError(f"{where}: no curves to plot (an empty dict)")
    out = {}
    for label, y in curves.items():
        y = np.asarray(y, float)
        if y.shape != x.shape:
            name = f"errors[{label!r}]" if label else "errors"
            raise ValueError(f"{where}: {name} has shape {y.shape}, expected {x.shape} (one value per entry of "
                             f"{x_name})")
        out[label] = y
    return out


def plot_rollout_errors(times: np.ndarray, errors: np.ndarray | dict[str, np.ndarray], path: str | Path, *,
                        ylabel: str = "relative L2 error", title: str = "error along the rollout") -> Path:
    """Error against rollout time (log scale), one curve per model.

    Args:
        times: ``(T,)`` times (or step indices) of the frames.
        errors: ``(T,)`` errors, or ``{label: (T,) errors}`` to compare models
            (e.g. :func:`pdejax.metrics.rollout_errors`).
        path: the PNG to write.

    Example:
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> t = np.linspace(0.0, 1.0, 5)
        >>> png = plot_rollout_errors(t, {"fno": 0.01 * np.exp(t), "unet": 0.02 * np.exp(2 * t)},
        ...                           pathlib.Path(tmp.name) / "rollout.png")
        >>> png.name, png.stat().st_size > 0
        ('rollout.png', True)
        >>> tmp.cleanup()
    """
    times = np.asarray(times, float)
    if times.ndim != 1:
        raise ValueError(f"plot_rollout_errors: times has shape {times.shape}, expected (T,)")
    curves = _curves(times, errors, "plot_rollout_errors", "times")
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, y in curves.items():
        ax.semilogy(times, y, "o-", ms=3, label=label or None)
    ax.set(xlabel="t", ylabel=ylabel, title=title)
    if any(curves):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return save_figure(fig, path)


def plot_operator_samples(x_grid: np.ndarray, inputs: np.ndarray, preds: np.ndarray, trues: np.ndarray,
                          path: str | Path, *, n_samples: int = 4, input_grid: np.ndarray | None = None,
                          input_label: str = "input u", output_label: str = "output s") -> Path:
    """A few 1D operator samples, one row each: the input, prediction vs truth, the error.

    Args:
        x_grid: ``(X,)`` points of the outputs.
        inputs: ``(N, X_in)`` input functions, on ``input_grid`` (default ``x_grid``).
        preds, trues: ``(N, X)`` predicted and true outputs.
        path: the PNG to write.
        n_samples: rows to draw (the first ``n_samples`` samples).
    """
    x = np.asarray(x_grid, float)
    preds, trues, inputs = np.asarray(preds), np.asarray(trues), np.asarray(inputs)
    x_in = x if input_grid is None else np.asarray(input_grid, float)
    where = "plot_operator_samples"
    if x.ndim != 1 or x_in.ndim != 1:
        raise ValueError(f"{where}: x_grid {x.shape} and input_grid {x_in.shape} must be 1D (X,)")
    if preds.ndim != 2 or preds.shape[1] != x.size:
        raise ValueError(f"{where}: preds has shape {preds.shape}, expected (N, {x.size}) for {x.size} grid points")
    if trues.shape != preds.shape:
        raise ValueError(f"{where}: trues has shape {trues.shape}, expected preds' shape {preds.shape}")
    if inputs.ndim != 2 or inputs.shape != (preds.shape[0], x_in.size):
        raise ValueError(f"{where}: inputs has shape {inputs.shape}, expected ({preds.shape[0]}, {x_in.size}): "
                         "one input per sample on input_grid (default x_grid)")
    if n_samples < 1 or preds.shape[0] == 0:
        raise ValueError(f"{where}: nothing to draw (n_samples={n_samples}, {preds.shape[0]} samples)")
    rows = min(n_samples, preds.shape[0])
    fig, axes = plt.subplots(rows, 3, figsize=(12, 2.6 * rows), squeeze=False)
    for i in range(rows):
        err = preds[i] - trues[i]
        rel = np.linalg.norm(err) / np.linalg.norm(trues[i])
        axes[i, 0].plot(x_in, inputs[i], color="C2", lw=1.2)
        axes[i, 0].set(title=f"sample {i}: {input_label}")
        axes[i, 1].plot(x, trues[i], "k-", lw=1.5, label="truth")
        axes[i, 1].plot(x, preds[i], "C3--", lw=1.2, label="prediction")
        axes[i, 1].set(title=f"{output_label} (rel. L2 {rel:.2e})")
        axes[i, 1].legend(fontsize=7)
        axes[i, 2].plot(x, err, color="C0", lw=1.0)
        axes[i, 2].axhline(0, color="grey", lw=0.5)
        axes[i, 2].set(title=f"error (max {np.abs(err).max():.2e})")
        for ax in axes[i]:
            ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("x")
    return save_figure(fig, path)


def plot_operator_fields_2d(pred: np.ndarray, true: np.ndarray, path: str | Path, *,
                            extent: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0), field: str = "u",
                            max_rows: int = 3) -> Path:
    """Truth | prediction | error (prediction − truth) images with colorbars.

    Args:
        pred, true: ``(X, Y)`` fields of one sample, or ``(N, X, Y)`` (one row per sample, up
            to ``max_rows``); axis 0 is x, as in the datasets.
        path: the PNG to write.
        extent: ``(x_min, x_max, y_min, y_max)`` of the grid.
        field: the field's name in titles.
    """
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    if pred.shape != true.shape or pred.ndim not in (2, 3):
        raise ValueError(f"plot_operator_fields_2d: pred {pred.shape} and true {true.shape} must have the same "
                         "shape, (X, Y) or (N, X, Y)")
    if pred.ndim == 2:
        pred, true = pred[None], true[None]
    rows = min(max_rows, pred.shape[0])
    if rows < 1:
        raise ValueError(f"plot_operator_fields_2d: nothing to draw ({pred.shape[0]} samples, max_rows={max_rows})")
    fig, axes = plt.subplots(rows, 3, figsize=(13, 3.8 * rows), squeeze=False)
    for i in range(rows):
        err = pred[i] - true[i]
        lo, hi = true[i].min(), true[i].max()
        elim = np.abs(err).max() or 1.0
        rel = np.linalg.norm(err) / np.linalg.norm(true[i])
        for ax, data, title, kw in (
            (axes[i, 0], true[i], f"truth {field}", dict(cmap="viridis", vmin=lo, vmax=hi)),
            (axes[i, 1], pred[i], f"prediction (rel. L2 {rel:.2e})", dict(cmap="viridis", vmin=lo, vmax=hi)),
            (axes[i, 2], err, f"error (max {np.abs(err).max():.2e})", dict(cmap="RdBu_r", vmin=-elim, vmax=elim)),
        ):
            im = ax.imshow(data.T, origin="lower", extent=extent, aspect="auto", **kw)
            ax.set(title=title, xlabel="x", ylabel="y")
            fig.colorbar(im, ax=ax)
    return save_figure(fig, path)


def plot_superresolution(resolutions: Sequence[int] | np.ndarray, errors: np.ndarray | dict[str, np.ndarray],
                         path: str | Path, *, train_resolution: int | None = None,
                         ylabel: str = "relative L2 error") -> Path:
    """Zero-shot super-resolution: test error against evaluation resolution (log-log).

    Args:
        resolutions: ``(R,)`` grid sizes the model was evaluated at.
        errors: ``(R,)`` errors, or ``{label: (R,) errors}`` for several models.
        path: the PNG to write.
        train_resolution: marked with a dotted line (the resolution trained at).
    """
    res = np.asarray(resolutions, float)
    if res.ndim != 1 or res.size == 0 or np.any(res <= 0):
        raise ValueError(f"plot_superresolution: resolutions {np.asarray(resolutions).tolist()} must be a non-empty "
                         "1D list of positive grid sizes")
    curves = _curves(res, errors, "plot_superresolution", "resolutions")
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, y in curves.items():
        ax.loglog(res, y, "o-", ms=4, label=label or None)
    if train_resolution is not None:
        ax.axvline(train_resolution, color="grey", ls=":", lw=1, label=f"trained at {train_resolution}")
    ax.set_xticks(res, [f"{int(r)}" if r == int(r) else f"{r:g}" for r in res])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set(xlabel="resolution", ylabel=ylabel, title="zero-shot super-resolution")
    if any(curves) or train_resolution is not None:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return save_figure(fig, path)


def plot_trajectories(times: np.ndarray, prediction: np.ndarray, reference: np.ndarray, path: str | Path, *,
                      t_train: float | None = None, names: Sequence[str] | None = None) -> Path:
    """One trajectory, predicted against the reference, with the end of the training window.

    An ODE state ``(T, d)`` gives one panel per component; a 1D field ``(T, fields, nx)``
    gives the prediction, reference and error over ``(x index, t)`` for its first field.

    Example:
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> t = np.linspace(0.0, 2.0, 21)
        >>> y = np.stack([np.cos(t), -np.sin(t)], axis=1)
        >>> png = plot_trajectories(t, 1.01 * y, y, pathlib.Path(tmp.name) / "trajectory.png", t_train=1.0)
        >>> png.stat().st_size > 0
        True
        >>> tmp.cleanup()
    """
    times, prediction, reference = (np.asarray(a, float) for a in (times, prediction, reference))
    if prediction.shape != reference.shape or prediction.shape[0] != times.shape[0]:
        raise ValueError(f"plot_trajectories: prediction {prediction.shape} and reference {reference.shape} "
                         f"must share a shape (T, ...) with T = {times.shape[0]} times")
    if prediction.ndim == 3:  # (T, fields, nx): space-time pictures of the first field
        x = np.arange(prediction.shape[2])
        return plot_space_time(x, times, prediction[:, 0].T, reference[:, 0].T, path,
                               field=(names or ["u"])[0])
    prediction, reference = prediction.reshape(len(times), -1), reference.reshape(len(times), -1)
    d = prediction.shape[1]
    fig, axes = plt.subplots(1, d, figsize=(4.5 * d, 3.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.plot(times, reference[:, i], "k-", lw=1.5, label="reference")
        ax.plot(times, prediction[:, i], "C3--", lw=1.5, label="prediction")
        if t_train is not None:
            ax.axvline(t_train, color="grey", ls=":", lw=1, label="end of training window")
        ax.set(xlabel="t", title=(names[i] if names else f"y[{i}]"))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return save_figure(fig, path)


def plot_learned_term(learned: np.ndarray, true: np.ndarray, path: str | Path, *,
                      u: np.ndarray | None = None, max_points: int = 4000) -> Path:
    """A learned term against the true one at the same states: as functions of ``u`` when
    the term depends on ``u`` alone (``u`` given), else learned against true (the diagonal
    is perfect agreement).

    Example:
        >>> import tempfile, pathlib
        >>> tmp = tempfile.TemporaryDirectory()
        >>> u = np.linspace(0, 1, 50)
        >>> png = plot_learned_term(u * (1 - u) + 0.01, u * (1 - u), pathlib.Path(tmp.name) / "term.png", u=u)
        >>> png.stat().st_size > 0
        True
        >>> tmp.cleanup()
    """
    learned, true = np.ravel(learned), np.ravel(true)
    pick = np.linspace(0, learned.size - 1, min(max_points, learned.size)).astype(int)
    fig, ax = plt.subplots(figsize=(5, 4))
    rel = np.linalg.norm(learned - true) / max(np.linalg.norm(true), 1e-300)
    if u is not None:
        u = np.ravel(u)
        order = pick[np.argsort(u[pick])]
        ax.plot(u[order], true[order], "k-", lw=2, label="true")
        ax.plot(u[order], learned[order], "C3--", lw=1.5, label="learned")
        ax.set(xlabel="u", ylabel="term")
    else:
        ax.plot(true[pick], learned[pick], ".", ms=2, alpha=0.5)
        lim = [min(true.min(), learned.min()), max(true.max(), learned.max())]
        ax.plot(lim, lim, "k--", lw=1, label="learned = true")
        ax.set(xlabel="true term", ylabel="learned term")
    ax.set_title(f"learned vs true term (rel. L2 {rel:.2e})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
