"""Plots: each writes a non-empty PNG, and a shape that does not fit is a ValueError saying why."""

import numpy as np
import pytest

from pdejax.plots import (
    plot_losses,
    plot_operator_fields_2d,
    plot_operator_samples,
    plot_rollout_errors,
    plot_space_time,
    plot_superresolution,
)

PNG = b"\x89PNG"


def _is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:4] == PNG


def test_existing_plots_still_work(tmp_path):
    history = [{"step": s, "phase": "adam", "loss": 1.0 / (s + 1), "rel_l2": 0.5 / (s + 1)} for s in range(0, 50, 10)]
    assert _is_png(plot_losses(history, tmp_path / "losses.png"))
    x, t = np.linspace(0, 1, 16), np.linspace(0, 1, 8)
    field = np.sin(np.pi * x)[:, None] * np.exp(-t)[None]
    assert _is_png(plot_space_time(x, t, field, field + 0.01, tmp_path / "st.png"))


def test_plot_rollout_errors(tmp_path):
    times = np.arange(10) * 0.1
    assert _is_png(plot_rollout_errors(times, 1e-3 * np.exp(times), tmp_path / "one.png"))
    path = plot_rollout_errors(times, {"FNO": 1e-3 * np.exp(times), "U-Net": 2e-3 * np.exp(times)},
                               tmp_path / "sub" / "two.png")
    assert _is_png(path)
    with pytest.raises(ValueError, match=r"errors\['U-Net'\] has shape \(9,\), expected \(10,\)"):
        plot_rollout_errors(times, {"FNO": np.ones(10), "U-Net": np.ones(9)}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"times has shape \(2, 5\)"):
        plot_rollout_errors(times.reshape(2, 5), np.ones(10), tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_plot_operator_samples(tmp_path):
    x = np.linspace(0, 1, 50)
    u = np.stack([np.cos(k * x) for k in range(1, 6)])
    s = np.stack([np.sin(k * x) / k for k in range(1, 6)])
    assert _is_png(plot_operator_samples(x, u, s + 0.01, s, tmp_path / "samples.png", n_samples=3))
    x_in = np.linspace(0, 1, 20)
    assert _is_png(plot_operator_samples(x, u[:, ::2][:, :20], s, s, tmp_path / "grid.png", input_grid=x_in))
    with pytest.raises(ValueError, match=r"preds has shape \(5, 49\), expected \(N, 50\)"):
        plot_operator_samples(x, u, s[:, 1:], s, tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"trues has shape \(4, 50\)"):
        plot_operator_samples(x, u, s, s[:4], tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"inputs has shape \(5, 40\), expected \(5, 50\)"):
        plot_operator_samples(x, u[:, :40], s, s, tmp_path / "bad.png")


def test_plot_operator_fields_2d(tmp_path):
    x, y = np.meshgrid(np.linspace(0, 1, 24), np.linspace(0, 2, 16), indexing="ij")
    true = np.sin(np.pi * x) * np.cos(np.pi * y)
    assert _is_png(plot_operator_fields_2d(true + 0.01 * x, true, tmp_path / "one.png", extent=(0, 1, 0, 2)))
    batch = np.stack([true, 2 * true, 3 * true, 4 * true])
    assert _is_png(plot_operator_fields_2d(batch * 1.01, batch, tmp_path / "rows.png", max_rows=2))
    with pytest.raises(ValueError, match=r"pred \(24, 16\) and true \(24, 15\) must have the same shape"):
        plot_operator_fields_2d(true, true[:, 1:], tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"\(X, Y\) or \(N, X, Y\)"):
        plot_operator_fields_2d(true[0], true[0], tmp_path / "bad.png")


def test_plot_superresolution(tmp_path):
    res = [256, 512, 1024, 2048]
    errors = {"FNO": [0.015, 0.0158, 0.016, 0.0146], "DeepONet": [0.03, 0.05, 0.09, 0.2]}
    assert _is_png(plot_superresolution(res, errors, tmp_path / "sr.png", train_resolution=256))
    assert _is_png(plot_superresolution(res, np.array(errors["FNO"]), tmp_path / "one.png"))
    with pytest.raises(ValueError, match=r"errors\['FNO'\] has shape \(3,\), expected \(4,\)"):
        plot_superresolution(res, {"FNO": [0.1, 0.2, 0.3]}, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="positive grid sizes"):
        plot_superresolution([0, 256], [0.1, 0.2], tmp_path / "bad.png")
