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
    """``name``: ``pinn`` (PDE residuals at collocation points), ``operator`` (input →
    output pairs from ``data``) or ``autoregressive`` (next-step training on
    trajectories from ``data``). Keys below the first group apply to ``pinn`` only;
    ``loss``, ``physics_weight``, ``history``, ``unroll``, ``pushforward`` to the
    operator objectives."""

    name: Literal["pinn", "operator", "autoregressive"] = "pinn"
    loss: Literal["rel_l2", "mse"] = "rel_l2"
    physics_weight: float = Field(0.0, ge=0)  # PINO-style PDE residual on the output frames
    history: PositiveInt = 10  # autoregressive: input frames
    unroll: PositiveInt = 1  # autoregressive: predicted steps per training window
    pushforward: bool = False  # autoregressive: gradients through the last unrolled step only
    window: Literal["random", "first"] = "random"  # autoregressive: where training windows start
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
    """PINN: evaluation grid ``{coordinate: [min, max, n]}`` against the PDE's exact
    solution. Operators: ``superresolution`` lists extra strides of the stored grid at
    which the test set is evaluated zero-shot (e.g. ``[8, 4, 2, 1]``); ``batch_size``
    the test batch."""

    grid: dict[str, tuple[float, float, PositiveInt]] = Field(default_factory=dict)
    superresolution: list[PositiveInt] = Field(default_factory=list)
    batch_size: PositiveInt = 100


class DataConfig(Section):
    """Training data of an operator experiment, read from a dataset file.

    ``input`` / ``output`` map array names of the file to the time frames taken from
    them (``null``: the whole array, e.g. Darcy's coefficient ``nu``); every selected
    frame (and field) becomes a channel. The test set is the first ``n_test`` samples
    of the file, the training set the next ``n_train``. ``stride`` subsamples spatial
    axes (``{x: 8}``). With ``generate`` (a data config), a missing file is generated
    first, with ``generate_overrides``.
    """

    path: str
    generate: str | None = None
    generate_overrides: list[str] = Field(default_factory=list)
    input: dict[str, list[int] | None] = Field(default_factory=lambda: {"tensor": [0]})
    output: dict[str, list[int] | None] = Field(default_factory=lambda: {"tensor": [-1]})
    trajectory: str = "tensor"  # autoregressive objective: the array of trajectories
    n_train: PositiveInt = 1000
    n_test: PositiveInt = 100
    stride: dict[str, PositiveInt] = Field(default_factory=dict)
    batch_size: PositiveInt = 20
    normalize: Literal["none", "input", "output", "both"] = "none"
    stream: bool = False  # read batches from the file as training goes (larger than memory)

    @field_validator("input", "output")
    @classmethod
    def _some(cls, v: dict[str, list[int] | None]) -> dict[str, list[int] | None]:
        if not v:
            raise ValueError("at least one array, e.g. {tensor: [0]}")
        return v


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
    pde: PDEConfig | None = None  # PINNs and physics losses
    data: DataConfig | None = None  # operator objectives
    model: ModelConfig
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    lbfgs: LBFGSConfig = Field(default_factory=LBFGSConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    parallel: ParallelConfig = Field(default_factory=ParallelConfig)

