"""Method families as plug-ins: each registers its config schema and a builder.

A family (PINN, neural operator, neural DE, one of yours) is a sub-package that calls
:func:`register_family` once: its ``objective`` config section (a pydantic model whose
``name`` is ``Literal[<family>]``) and a builder turning the validated config into a
:class:`Method`: the model, the objective, the batch source and the evaluator. The
experiment layer looks the family up by name and never branches on it; the built-in
families register exactly like this (see the example in :mod:`pdejax.methods`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from ..config.errors import ConfigError
from ..config.registry import suggest
from ..config.schema import ExperimentConfig, ObjectiveSection, register_objective
from ..models import MODELS
from ..models.precision import MixedPrecision, Policy, get_policy
from ..objectives import AbstractObjective
from ..pde import PDE
from ..training import AbstractEvaluator, AbstractPhase

MODEL_SEED_OFFSET = 1_000_003  # the model's initial key is PRNGKey(seed + offset): independent of the batches'


@dataclass
class Method:
    """What a family's builder returns: everything the loop needs, built and checked.

    Attributes:
        model: the model to train (an Equinox module).
        objective: its named loss terms.
        source: a device batch source (``pdejax.training.AbstractDeviceSource``) or a host
            one (``get(step, n)`` / ``close()``, e.g. ``pdejax.data.BatchFeed``).
        evaluator: metrics during training and the final report (optional).
        phases: phases after the first-order one (e.g. an L-BFGS phase).
        physical: the trained model → the model users call (e.g. with normalisers);
            what ``model/`` stores and ``pdejax.load_run`` returns.
        weights: the family's default loss weights from its own config keys (e.g. the
            operator family's ``physics_weight``); ``objective.weights`` may not set
            them again.
    """

    model: Any
    objective: AbstractObjective
    source: Any
    evaluator: AbstractEvaluator | None = None
    phases: list[AbstractPhase] = field(default_factory=list)
    physical: Callable[[Any], Any] = lambda model: model
    weights: dict[str, float] = field(default_factory=dict)


@dataclass
class Context:
    """What every builder gets besides the config: the PDE, the mesh, the dtype, a model key.

    Attributes:
        pde: ``pde`` section built (``None`` without one).
        mesh: the device mesh (``mesh.shape["data"]`` devices share a batch).
        dtype: the run's float dtype (the parameters').
        seed: the run's seed.
        policy: the mixed-precision policy (``precision`` key); :meth:`build_model`
            applies it. Default: everything in ``dtype``.
    """

    pde: PDE | None
    mesh: Mesh
    dtype: Any
    seed: int
    policy: Policy | None = None

    @property
    def n_devices(self) -> int:
        return self.mesh.shape["data"]

    @property
    def space_devices(self) -> int:
        """Devices sharing each sample's grid (``parallel.space``; 1 without domain parallelism)."""
        return int(dict(self.mesh.shape).get("space", 1))

    @property
    def model_key(self) -> jax.Array:
        return jax.random.PRNGKey(self.seed + MODEL_SEED_OFFSET)

    def require_pde(self, why: str) -> PDE:
        if self.pde is None:
            raise ConfigError("pde", None, f"a PDE section (pde.name: ...) {why}")
        return self.pde

    def build_model(self, cfg: ExperimentConfig, in_size: int, out_size: int) -> Any:
        """The ``model`` section's model with the run's key and dtype, run under the
        precision policy (:class:`~pdejax.models.precision.MixedPrecision`) when it is mixed."""
        model = MODELS.build(cfg.model.name, cfg.model.args, where="model", key=self.model_key,
                             dtype=jnp.dtype(self.dtype), in_size=in_size, out_size=out_size)
        if self.space_devices > 1:
            if not callable(getattr(model, "shard", None)):
                raise ConfigError("parallel.space", self.space_devices, f"1 for model {cfg.model.name!r}: only "
                                  "models with a shard(mesh) method (fno) can split a sample's grid over devices")
            model = model.shard(self.mesh)
        policy = self.policy or get_policy("default", jnp.dtype(self.dtype))
        return MixedPrecision(model, policy) if policy.is_mixed else model

    def divisible(self, key: str, n: int) -> None:
        """Refuse a batch count ``n`` that does not split over the devices."""
        if n % self.n_devices:
            raise ConfigError(key, n, f"a multiple of the {self.n_devices} devices on the data axis")


Builder = Callable[[ExperimentConfig, Context], Method]


@dataclass(frozen=True)
class Family:
    """A registered method family: its ``objective.name``, the pydantic ``schema`` of its
    ``objective`` section, its ``build(cfg, ctx) -> Method`` and the ``precision``
    settings it honours (made by :func:`register_family`)."""

    name: str
    schema: type[ObjectiveSection]
    build: Builder
    precisions: tuple[str, ...] = ("default",)
    domain_parallel: bool = False


FAMILIES: dict[str, Family] = {}


def register_family(name: str, schema: type[ObjectiveSection], *,
                    precisions: tuple[str, ...] = ("default",),
                    domain_parallel: bool = False) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(cfg, ctx) -> Method`` as family ``name``,
    configured by ``objective.name: <name>`` and validated by ``schema``.

    ``precisions``: the ``precision`` settings the family honours; a family that builds
    its model with :meth:`Context.build_model` and feeds the loss only the model's
    outputs can add ``"bf16"``. Others are refused before anything is built.
    ``domain_parallel``: the family honours ``parallel.space > 1`` (its batches are fields
    whose grids split over the ``space`` mesh axis, its objective says how many grid axes
    they have: ``AbstractObjective.grid_axes``); otherwise such a config is refused.
    """

    def add(build: Builder) -> Builder:
        if name in FAMILIES and FAMILIES[name].build is not build:
            raise ValueError(f"method family {name!r} is already registered")
        register_objective(name, schema)
        FAMILIES[name] = Family(name, schema, build, tuple(precisions), domain_parallel)
        return build

    return add


def get_family(name: str) -> Family:
    """The family registered as ``name``; a ConfigError on ``objective.name`` (with the
    registered names) if there is none."""
    if name not in FAMILIES:
        raise ConfigError("objective.name", name, f"a registered method family: {suggest(name, sorted(FAMILIES))}")
    return FAMILIES[name]
