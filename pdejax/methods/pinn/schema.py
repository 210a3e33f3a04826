"""The ``objective`` section of a PINN experiment (``objective.name: pinn``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, ValidationInfo, field_validator

from ...config.schema import Named, ObjectiveSection


class SamplerConfig(Named):
    """``objective.sampler.name``: a registered sampler (``uniform``, ``sobol``, ``halton``, ``rad``,
    ``r3``, ``r3_causal``, ``rar``, or yours); other keys its arguments."""

    name: str = "uniform"


class PINNConfig(ObjectiveSection):
    """PDE residuals at collocation points (Raissi et al. 2019).

    ``constraint: hard`` builds the initial and boundary conditions into the model;
    ``soft`` adds ``initial`` and ``boundary`` loss terms at ``n_initial`` /
    ``n_boundary`` points per step. ``derivatives``: ``jvp`` (nested forward mode),
    ``jet`` (Taylor mode) or ``auto``. ``causal_chunks`` > 0 turns on causal weighting.
    """

    name: Literal["pinn"] = "pinn"
    constraint: Literal["hard", "soft"] = "hard"
    n_collocation: PositiveInt = 4096
    n_initial: int = Field(0, ge=0)
    n_boundary: int = Field(0, ge=0, validate_default=True)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    derivatives: Literal["auto", "jvp", "jet"] = "auto"
    causal_chunks: int = Field(0, ge=0)
    causal_tol: float = Field(1.0, ge=0)

    @field_validator("n_boundary")
    @classmethod
    def _soft_needs_points(cls, v: int, info: ValidationInfo) -> int:
        if info.data.get("constraint") == "soft" and v == 0:
            raise ValueError("a positive number of boundary points, since constraint is 'soft'")
        return v
