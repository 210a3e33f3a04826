"""``objective.residual``: how an operator learns from the PDE alone (``objective.physics``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from ...config.schema import Section

Physics = Literal["frames", "grid", "spectral"]


class ResidualConfig(Section):
    """Settings of ``objective.physics: spectral`` (Neural Spectral Methods) and ``grid``.

    ``sizes``: for ``spectral``, basis functions (= the model's collocation points) per
    axis: Fourier on periodic axes (odd numbers), Chebyshev along ``t``; default: the
    largest odd number the data grid holds per spatial axis, 16 in time. ``grid``: for
    ``grid``, the training grid per axis (uniform; ``t`` frames include both ends);
    default: the dataset's grid and frames. ``dealias``: ``exact`` (products on ``2n - 1``
    points, every coefficient kept: the residual function itself for quadratic terms) or
    ``3/2`` (Orszag's rule, truncated to ``n``). ``norm``: ``l2`` (the exact mean square of
    the residual) or ``chebyshev`` (with the Chebyshev weight in time, the paper's sum of
    squared coefficients). ``output_scale`` multiplies the model's output (the paper: 1e-3).
    """

    sizes: dict[str, PositiveInt] = Field(default_factory=dict)
    grid: dict[str, PositiveInt] = Field(default_factory=dict)
    dealias: Literal["exact", "3/2"] = "exact"
    norm: Literal["l2", "chebyshev"] = "l2"
    output_scale: float = Field(1.0, gt=0)
