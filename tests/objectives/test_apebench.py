"""The APEBench metric: per-step nRMSE of the predicted frames and its geometric mean over the first 100 steps."""

from __future__ import annotations

import math
from types import SimpleNamespace

import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.methods.operator.evaluation import RolloutEvaluator
from pdejax.metrics import apebench_summary, nrmse_per_step


def test_nrmse_per_step_closed_form(x64):
    """An offset ``c`` on ``sin x`` (RMS 1/√2) has nRMSE ``c √2``; a factor ``1 + a`` has ``a``."""
    x = jnp.linspace(0.0, 2 * jnp.pi, 64, endpoint=False)
    true = jnp.broadcast_to(jnp.sin(x), (2, 3, 1, 64))  # (batch, T, channels, x)
    offsets = jnp.array([0.1, 0.2, 0.3])[None, :, None, None]
    np.testing.assert_allclose(nrmse_per_step(true + offsets, true), [[0.1 * 2**0.5, 0.2 * 2**0.5, 0.3 * 2**0.5]] * 2,
                               rtol=1e-12)
    two_channels = jnp.concatenate([true, 2 * true], axis=2)  # the norm is over channels and space together
    np.testing.assert_allclose(nrmse_per_step(1.05 * two_channels, two_channels), 0.05, rtol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        nrmse_per_step(true, true[:, :2])
    # a rollout that diverged (inf, then nan frames) scores inf from there on, and so does its summary
    diverged = (true + offsets).at[0, 1, 0, 3].set(jnp.inf).at[0, 2].set(jnp.nan)
    per_step = nrmse_per_step(diverged, true)
    assert float(per_step[0, 0]) == pytest.approx(0.1 * 2**0.5, rel=1e-12) and np.all(np.isposinf(per_step[0, 1:]))
    assert float(apebench_summary(per_step)) == math.inf


def test_apebench_summary_closed_form(x64):
    """Mean over samples first, then the geometric mean over the first ``first`` steps."""
    per_sample = jnp.array([[0.01, 0.04, 9.0], [0.03, 0.04, 9.0]])  # means 0.02, 0.04: gmean sqrt(0.0008)
    assert float(apebench_summary(per_sample, first=2)) == pytest.approx(math.sqrt(0.02 * 0.04), rel=1e-12)
    curve = 0.01 * jnp.arange(1, 151, dtype=jnp.float64)  # 0.01 k, k = 1..150: (100!)^(1/100) / 100 over 100 steps
    expected = 0.01 * math.exp(math.lgamma(101) / 100)
    assert float(apebench_summary(curve)) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="first=0"):
        apebench_summary(curve, first=0)


def _evaluator(n_frames: int, history: int = 1) -> tuple[RolloutEvaluator, float]:
    """A rollout evaluator on 3 trajectories whose "model" predicts step k after the inputs as (1 + 0.01 k) u."""
    x = np.linspace(0.0, 2 * np.pi, 32, endpoint=False)
    trajs = np.stack([np.stack([[np.sin(x + 0.1 * t + s)] for t in range(n_frames)]) for s in range(3)])

    def roll(model, hist, n):
        k = jnp.arange(1, n + 1, dtype=hist.dtype)[None, :, None, None]
        return (1 + 0.01 * k) * jnp.asarray(trajs[:, history:history + n], hist.dtype)

    objective = SimpleNamespace(history=history, rollout=roll)
    views = SimpleNamespace(dataset=SimpleNamespace(arrays={"tensor": trajs}), test_rows=np.arange(3),
                            trajectories=lambda array, rows: trajs[rows], times=None,
                            coordinates=lambda: [x])
    evaluator = RolloutEvaluator(objective, views, "tensor", batch_size=8)
    evaluator.progress = False
    return evaluator, 0.01 * math.exp(math.lgamma(101) / 100)


def test_rollout_evaluator_reports_apebench_without_input_frames(x64):
    """With 2 input frames and 100 predicted ones the metric is the closed form of steps 1..100; had the
    (exact) input frames counted, the geometric mean would be 0."""
    evaluator, expected = _evaluator(n_frames=102, history=2)
    stats = evaluator(model=None)
    assert stats["apebench_gmean100"] == pytest.approx(expected, rel=1e-9)
    short, _ = _evaluator(n_frames=50)  # 49 predicted steps: too short for the summary
    assert "apebench_gmean100" not in short(model=None)
