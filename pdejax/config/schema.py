"""Typed experiment configs (pydantic), validated before anything is compiled.

The shared sections live here; the ``objective`` section belongs to the method family
named by ``objective.name``: each family registers its own pydantic model
(:func:`register_objective`, done for you by ``pdejax.methods.register_family``), and
the experiment schema is the discriminated union of the registered models, so each
family validates only its own keys.

Names (``pde.name``, ``model.name``, ``optimizer.name``, ``optimizer.combine.name``)
resolve through registries; the remaining keys of those sections are the registered
constructor's keyword arguments and are checked against its signature when the
experiment is built (still before compilation).

Paths: fields typed :data:`ConfigPath` resolve against the config file's directory
(or the shipped configs), :data:`DataPath` against the data root (``$PDEJAX_DATA``);
a validated config holds absolute paths.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import ConfigError
from .launch import check_distributed_settings
from .paths import resolve_config_relative, resolve_data_path
from .strict import bool_for_number, first_non_finite
from .tracking import DEFAULT_LOGGERS, Loggers, MLflowConfig


def _config_path(value: str | None, info: ValidationInfo) -> str | None:
    if value is None or not isinstance(info.context, dict) or "config_dir" not in info.context:
        return value
    return str(resolve_config_relative(value, info.context["config_dir"]))


def _data_path(value: str | None, info: ValidationInfo) -> str | None:
    if value is None or not isinstance(info.context, dict) or not info.context.get("resolve_data", False):
        return value
    return str(resolve_data_path(value))


ConfigPath = Annotated[str, AfterValidator(_config_path)]
"""A path relative to the config file's directory (or a shipped config)."""
DataPath = Annotated[str, AfterValidator(_data_path)]
"""A data file: relative paths resolve against the data root (``$PDEJAX_DATA``)."""


class Section(BaseModel):
    """A config section: unknown keys, booleans where numbers belong and nan/inf are refused."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_number(cls, data: Any) -> Any:
        # pydantic's lax mode reads `true` as 1 where an int is expected: not a count.
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                where = bool_for_number(field.annotation, value) if field is not None else None
                if where is not None:
                    raise ConfigError(".".join((name, *where)), True, "a number, not a boolean")
        return data


class Named(BaseModel):
    """A registry name plus that entry's own arguments (checked against its signature)."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class FieldNetConfig(Named):
    """The network of a trainable coefficient field: ``name`` and arguments as in ``model``."""


class TrainableParameterConfig(Section):
    """One trainable PDE parameter (an inverse problem): ``init`` its initial value
    (default: the ``pde`` section's value; required for a field), ``transform`` how it is
    trained (``positive``: as its logarithm; ``identity``), ``field`` a network of the
    spatial coordinates for a coefficient field such as ``a(x)``."""

    init: float | None = None
    transform: Literal["positive", "identity"] = "positive"
    field: FieldNetConfig | None = None

    @model_validator(mode="after")
    def _init_in_range(self) -> TrainableParameterConfig:
        if self.transform == "positive" and self.init is not None and not self.init > 0:
            raise ConfigError("init", self.init, "a positive number with transform: positive "
                              "(or transform: identity)")
        return self


class PDEConfig(Named):
    """``pde.name`` from ``pdejax list``; other keys are that PDE's parameters, except
    ``trainable``: the parameters learnt from data, ``{nu: {init: 0.05, transform:
    positive}}`` or the list ``[nu]`` (positive, starting from the value given here)."""

    trainable: dict[str, TrainableParameterConfig] = Field(default_factory=dict)

    @field_validator("trainable", mode="before")
    @classmethod
    def _list_form(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            names = [n for n in v if not isinstance(n, str) or not n]
            if names:
                raise ConfigError(str(v.index(names[0])), names[0], "a parameter name")
            twice = sorted({n for n in v if v.count(n) > 1})
            if twice:
                raise ConfigError(twice[0], v, "each parameter named once")
            return {n: {} for n in v}
        if not isinstance(v, dict):
            raise ConfigError("", v, "a list of parameter names, [nu], or a mapping {nu: {init: 0.05}}")
        for k, e in v.items():
            if e is not None and not isinstance(e, dict):
                raise ConfigError(str(k), e, "a mapping of init, transform, field (or nothing)")
        return {k: {} if e is None else e for k, e in v.items()}


class ModelConfig(Named):
    """``model.name`` from ``pdejax list``; other keys are that model's arguments."""


class CombinerConfig(Named):
    """``optimizer.combine.name``: ``fixed`` (``objective.weights``), ``grad_norm``,
    ``lr_annealing``, ``ntk``, ``config``, ``config_momentum``, ``multiadam`` or your own;
    other keys its arguments."""

    name: str = "fixed"


COMBINER_OPTIMIZERS: dict[str, frozenset[str]] = {}
"""Combiners that keep their own moment estimates → the ``optimizer.name`` values they
compose with (``multiadam``, ``config_momentum``: ``sgd``, without momentum). Filled
where such a combiner is registered; a config pairing it with another optimizer is
refused when validated."""


class ObjectiveSection(Section):
    """The base of every family's ``objective`` section: ``name`` selects the family,
    ``weights`` the fixed weight of each loss term (default 1), which the default
    gradient combiner uses and adaptive combiners start from."""

    name: str
    weights: dict[str, float] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _nonnegative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: w for k, w in v.items() if w < 0}
        if bad:
            raise ValueError(f"non-negative weights (got {bad})")
        return v


class OptimizerConfig(Section):
    """Any optax (or ``contrib.<name>``) optimizer taking a learning rate, and how the
    loss terms' gradients are combined before it (``combine``)."""

    name: str = "adam"
    learning_rate: float | dict[str, Any] = 1e-3
    args: dict[str, Any] = Field(default_factory=dict)
    clip_norm: float | None = Field(None, gt=0)
    combine: CombinerConfig = Field(default_factory=CombinerConfig)

    @model_validator(mode="after")
    def _combiner_composes(self) -> OptimizerConfig:
        allowed = COMBINER_OPTIMIZERS.get(self.combine.name)
        if allowed is None:
            return self
        why = (f"with optimizer.combine.name = {self.combine.name!r}, which keeps its own moment estimates "
               "(the optimizer only scales its step by the learning rate and schedule)")
        if self.name not in allowed:
            raise ConfigError("name", self.name, f"{' or '.join(sorted(allowed))} {why}")
        if self.args.get("momentum") or self.args.get("nesterov"):
            key = "momentum" if self.args.get("momentum") else "nesterov"
            raise ConfigError(f"args.{key}", self.args[key], f"no {key} {why}")
        return self


class LBFGSConfig(Section):
    """Optional L-BFGS phase after the first-order one (``steps: 0`` turns it off)."""

    steps: int = Field(0, ge=0)
    memory_size: PositiveInt = 10
    n_collocation: PositiveInt | None = None  # default: objective.n_collocation
    resample_every: int = Field(0, ge=0)  # fresh points + empty memory every so many steps; 0: never


class TrainConfig(Section):
    """How long to train; how to log (``loggers``: see ``pdejax.config.tracking``), evaluate, checkpoint, plot."""

    steps: int = Field(10000, ge=0)
    steps_per_call: PositiveInt = 100
    log_every: PositiveInt = 100
    eval_every: PositiveInt = 1000
    checkpoint_every: PositiveInt = 1000
    keep_checkpoints: PositiveInt = 3
    progress: bool = True
    plots: bool = True
    loggers: Loggers = Field(default_factory=lambda: list(DEFAULT_LOGGERS))
    mlflow: MLflowConfig = Field(default_factory=MLflowConfig)

    @field_validator("log_every", "eval_every", "checkpoint_every")
    @classmethod
    def _multiple(cls, v: int, info: ValidationInfo) -> int:
        k = info.data.get("steps_per_call")
        if k and v % k:
            raise ValueError(f"a multiple of steps_per_call = {k}")
        return v


class ReferenceConfig(Named):
    """``evaluation.reference.name``: ``exact``, ``spectral`` (``resolution``, ``dt``,
    ``dealias``) or ``ghia`` (see ``pdejax.methods.pinn.reference``); other keys its arguments."""

    name: str = "exact"


class EvaluationConfig(Section):
    """PINN: evaluation grid ``{coordinate: [min, max, n]}`` against a reference:
    ``reference`` (default: the PDE's exact solution). Operators: ``superresolution`` lists
    extra strides of the stored grid at which the test set is evaluated zero-shot (e.g.
    ``[8, 4, 2, 1]``); ``batch_size`` the test batch."""

    grid: dict[str, tuple[float, float, PositiveInt]] = Field(default_factory=dict)
    reference: ReferenceConfig | None = None
    superresolution: list[PositiveInt] = Field(default_factory=list)
    batch_size: PositiveInt = 100


class DataConfig(Section):
    """Training data of an operator experiment, read from a dataset file.

    ``path`` is relative to the data root (``$PDEJAX_DATA``, see ``pdejax.config.paths``).
    ``input`` / ``output`` map array names of the file to the time frames taken from
    them (``null``: the whole array, e.g. Darcy's coefficient ``nu``); every selected
    frame (and field) becomes a channel. The test set is the first ``n_test`` samples
    of the file, the training set the next ``n_train``. ``stride`` subsamples spatial
    axes (``{x: 8}``). With ``generate`` (a data config, relative to this config file),
    a missing file is generated first, with ``generate_overrides``.
    """

    path: DataPath
    generate: ConfigPath | None = None
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
    data: int = -1  # devices along the data axis; -1 = all (all left over by space)
    space: int = 1  # devices sharing each sample's grid (domain parallelism: FNO); 1 = none

    @field_validator("data")
    @classmethod
    def _count(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError("-1 (all devices) or a positive device count")
        return v

    @field_validator("space")
    @classmethod
    def _space(cls, v: int) -> int:
        if v < 1:
            raise ValueError("a positive device count (1: no domain parallelism)")
        return v


class DistributedConfig(Section):
    """A multi-process run (read by ``pdejax train`` before JAX starts; the library itself
    never starts one): ``coordinator`` (``HOST:PORT`` of process 0), ``num_processes`` and
    ``process_id`` (this process's index, usually a per-process override
    ``distributed.process_id=1``), all three or none. None under SLURM or Open MPI: detected.
    ``heartbeat_timeout``: seconds after which a silent process counts as dead (the others
    exit with an error); ``initialization_timeout``: seconds to wait for every process.
    Not recorded in a run's ``config.yaml`` (it describes the launch, not the run)."""

    coordinator: str | None = None
    num_processes: PositiveInt | None = None
    process_id: int | None = Field(None, ge=0)
    initialization_timeout: PositiveInt = 300
    heartbeat_timeout: PositiveInt = 60

    @model_validator(mode="after")
    def _consistent(self) -> DistributedConfig:
        check_distributed_settings(self.coordinator, self.num_processes, self.process_id,
                       keys={"coordinator": "coordinator", "num_processes": "num_processes",
                             "process_id": "process_id"})
        return self


class ExperimentConfig(Section):
    """A whole experiment; ``pdejax train CONFIG key.sub=value ...``.

    ``objective`` is validated by the schema of the family it names; validate configs
    with :func:`pdejax.config.loading.validate` (or ``experiment_schema()``), which
    knows every registered family.
    """

    name: str = "experiment"
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    # Mixed precision: "bf16" computes the model in bfloat16 with float32 parameters, optimizer
    # state and loss (pdejax.models.precision); only for families that declare it.
    precision: Literal["default", "bf16"] = "default"
    imports: list[str] = Field(default_factory=list)  # modules / .py files registering user extensions
    pde: PDEConfig | None = None  # PINNs and physics losses
    data: DataConfig | None = None  # operator objectives
    model: ModelConfig
    objective: ObjectiveSection
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    lbfgs: LBFGSConfig = Field(default_factory=LBFGSConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    parallel: ParallelConfig = Field(default_factory=ParallelConfig)
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)

    @model_validator(mode="after")
    def _mixed_needs_float32(self) -> ExperimentConfig:
        if self.precision != "default" and self.dtype != "float32":
            raise ConfigError("precision", self.precision, f"'default' with dtype {self.dtype} (mixed precision "
                              "keeps float32 parameters; set dtype: float32)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _finite(cls, data: Any) -> Any:
        # Every section, registered constructors' arguments included: nan or inf is never a setting.
        found = first_non_finite(data)
        if found is not None:
            raise ConfigError(".".join(found[0]), found[1], "a finite number")
        return data


OBJECTIVES: dict[str, type[ObjectiveSection]] = {}
DEFAULT_OBJECTIVE = "pinn"
_schemas: dict[tuple, type[ExperimentConfig]] = {}


def register_objective(name: str, schema: type[ObjectiveSection]) -> None:
    """Make ``objective.name: <name>`` valid, validated by ``schema`` (an
    :class:`ObjectiveSection` subclass whose ``name`` is ``Literal[<name>]``)."""
    if not (isinstance(schema, type) and issubclass(schema, ObjectiveSection)):
        raise TypeError(f"the schema of objective {name!r} must subclass pdejax.config.schema.ObjectiveSection")
    field = schema.model_fields.get("name")
    if field is None or getattr(field.annotation, "__args__", None) != (name,):
        raise TypeError(f"{schema.__name__}.name must be typed Literal[{name!r}] (it selects the family)")
    if name in OBJECTIVES and OBJECTIVES[name] is not schema:
        raise ValueError(f"objective {name!r} is already registered")
    OBJECTIVES[name] = schema


def experiment_schema() -> type[ExperimentConfig]:
    """:class:`ExperimentConfig` whose ``objective`` is the union of the registered families."""
    key = tuple(sorted(OBJECTIVES.items()))
    if key not in _schemas:
        members = tuple(OBJECTIVES[n] for n in sorted(OBJECTIVES))
        if not members:
            raise RuntimeError("no method family is registered (import pdejax.methods)")
        union = members[0] if len(members) == 1 else Annotated[Union[members], Field(discriminator="name")]  # noqa: UP007
        _schemas[key] = pydantic.create_model("ExperimentConfig", __base__=ExperimentConfig,
                                              objective=(union, ...))
    return _schemas[key]


def objective_schema(name: str) -> type[ObjectiveSection] | None:
    return OBJECTIVES.get(name)
