"""Typed experiment configs (pydantic), validated before anything is compiled.

Names (``pde.name``, ``model.name``, ``optimizer.name``, ``objective.sampler.name``)
resolve through registries; the remaining keys of those sections are the registered
constructor's keyword arguments and are checked against its signature when the
experiment is built (still before compilation).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationInfo, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Named(BaseModel):
    """A registry name plus that entry's own arguments (checked against its signature)."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PDEConfig(Named):
    """``pde.name`` from ``pdejax list``; other keys are that PDE's parameters."""


class ModelConfig(Named):
    """``model.name`` from ``pdejax list``; other keys are that model's arguments."""


class SamplerConfig(Named):
    """``objective.sampler.name``: ``uniform`` or ``rad``; other keys its arguments."""

    name: str = "uniform"


class ObjectiveConfig(Section):
    name: Literal["pinn"] = "pinn"
    constraint: Literal["hard", "soft"] = "hard"
    n_collocation: PositiveInt = 4096
    n_initial: int = Field(0, ge=0)
    n_boundary: int = Field(0, ge=0, validate_default=True)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    derivatives: Literal["auto", "jvp", "jet"] = "auto"
    weights: dict[str, float] = Field(default_factory=dict)
    causal_chunks: int = Field(0, ge=0)
    causal_tol: float = Field(1.0, ge=0)

    @field_validator("n_boundary")
    @classmethod
    def _soft_needs_points(cls, v: int, info: ValidationInfo) -> int:
        if info.data.get("constraint") == "soft" and v == 0:
            raise ValueError("a positive number of boundary points, since constraint is 'soft'")
        return v

    @field_validator("weights")
    @classmethod
    def _nonnegative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if w < 0}
        if bad:
            raise ValueError(f"non-negative weights (got {bad})")
        return v


class OptimizerConfig(Section):
    """Any optax (or ``contrib.<name>``) optimizer taking a learning rate."""

    name: str = "adam"
    learning_rate: float | dict[str, Any] = 1e-3
    args: dict[str, Any] = Field(default_factory=dict)
    clip_norm: float | None = Field(None, gt=0)


class LBFGSConfig(Section):
    """Optional L-BFGS phase after the first-order one (``steps: 0`` turns it off)."""

    steps: int = Field(0, ge=0)
    memory_size: PositiveInt = 10
    n_collocation: PositiveInt | None = None  # default: objective.n_collocation
    resample_every: int = Field(0, ge=0)  # fresh points + empty memory every so many steps; 0: never


class TrainConfig(Section):
    steps: int = Field(10000, ge=0)
    steps_per_call: PositiveInt = 100
    log_every: PositiveInt = 100
    eval_every: PositiveInt = 1000
    checkpoint_every: PositiveInt = 1000
    keep_checkpoints: PositiveInt = 3
    progress: bool = True
    plots: bool = True

    @field_validator("log_every", "eval_every", "checkpoint_every")
    @classmethod
    def _multiple(cls, v: int, info: ValidationInfo) -> int:
        k = info.data.get("steps_per_call")
        if k and v % k:
            raise ValueError(f"a multiple of steps_per_call = {k}")
        return v


class EvaluationConfig(Section):
    """Evaluation grid ``{coordinate: [min, max, n]}`` against the PDE's exact solution."""

    grid: dict[str, tuple[float, float, PositiveInt]] = Field(default_factory=dict)


class ParallelConfig(Section):
    data: int = -1  # devices along the data axis; -1 = all

    @field_validator("data")
    @classmethod
    def _count(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError("-1 (all devices) or a positive device count")
        return v


class ExperimentConfig(Section):
    """A whole experiment; ``pdejax train CONFIG key.sub=value ...``."""

    name: str = "experiment"
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    pde: PDEConfig
    model: ModelConfig
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    lbfgs: LBFGSConfig = Field(default_factory=LBFGSConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    parallel: ParallelConfig = Field(default_factory=ParallelConfig)
