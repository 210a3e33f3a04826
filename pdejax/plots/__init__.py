"""Plots written into a run's ``plots/`` directory: loss curves and solution fields."""

from ._fields import (
    plot_learned_term,
    plot_operator_fields_2d,
    plot_operator_samples,
    plot_rollout_errors,
    plot_space_time,
    plot_superresolution,
    plot_trajectories,
)
from ._history import plot_comparison, plot_losses, plot_metric, record_keys

__all__ = [
    "record_keys", "plot_losses", "plot_metric", "plot_comparison", "plot_space_time", "plot_rollout_errors",
    "plot_operator_samples", "plot_operator_fields_2d", "plot_superresolution", "plot_trajectories",
    "plot_learned_term",
]
