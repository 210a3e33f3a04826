"""The ``objective`` section of a neural-DE experiment (``objective.name: dynamics``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from ...config.errors import ConfigError
from ...config.schema import ObjectiveSection


class SystemConfig(BaseModel):
    """``objective.data``: ``system`` names a registered trajectory system
    (:data:`pdejax.data.systems.SYSTEMS`: ``damped_oscillator``, ``lotka_volterra``,
    ``ornstein_uhlenbeck``, ``pde`` or yours); the other keys are its arguments."""

    model_config = ConfigDict(extra="allow")
    system: str

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DynamicsConfig(ObjectiveSection):
    """Neural ODEs / SDEs / latent ODEs / hybrid PDEs trained on trajectories.

    Data: ``n_train`` training and ``n_test`` test trajectories of ``data.system``
    (seeded by ``data_seed``), observed every ``dt_obs`` from the start time; training
    sees the times up to ``t_train``, evaluation runs the test trajectories to ``t_test``
    (default ``2 t_train``: the extrapolation beyond the training window is reported
    separately). ``noise`` adds Gaussian noise of ``noise · std(data)`` to the training
    observations.

    Loss (``loss: auto`` picks it from the model): ``trajectory`` matches predicted and
    observed states in windows of ``window`` intervals (default: the whole training
    horizon) from random starts, with ``segments`` shooting segments per window;
    ``moments`` (SDEs) matches the marginal means, variances and lagged autocovariances
    (``lags``) of ``batch_size`` model paths to those of the data ensemble; ``elbo``
    (latent ODEs) is the evidence lower bound on irregular observations (each series
    keeps a random ``observed_fraction`` of its times).

    ``regularisers`` adds the model's solve statistics (``kinetic``, ``jacobian``,
    ``error_estimate``; switch them on in the model section) as loss terms, weighted by
    ``weights.<name>``. ``known_pde`` (hybrid PDEs): the PDE whose terms the model knows,
    ``{name: ..., <its args>}``, on the same domain as the ``pde`` section that generated
    the data (default: the ``pde`` section itself, e.g. to fit its trainable parameters
    or a closure on a coarse grid).
    """

    name: Literal["dynamics"] = "dynamics"
    data: SystemConfig
    n_train: PositiveInt = 64
    n_test: PositiveInt = 16
    data_seed: int = 0
    dt_obs: PositiveFloat = 0.1
    t_train: PositiveFloat = 1.0
    t_test: PositiveFloat | None = None
    noise: float = Field(0.0, ge=0)
    loss: Literal["auto", "trajectory", "moments", "elbo"] = "auto"
    window: PositiveInt | None = None
    segments: PositiveInt = 1
    batch_size: PositiveInt = 16
    lags: list[PositiveInt] = Field(default_factory=lambda: [1, 2, 4])
    observed_fraction: float = Field(1.0, gt=0, le=1)
    regularisers: list[Literal["kinetic", "jacobian", "error_estimate"]] = Field(default_factory=list)
    known_pde: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _horizons(self) -> DynamicsConfig:
        if self.t_test is not None and self.t_test < self.t_train:
            raise ConfigError("t_test", self.t_test, f"at least t_train = {self.t_train}")
        if self.known_pde is not None and "name" not in self.known_pde:
            raise ConfigError("known_pde", self.known_pde, "a PDE section with a name: {name: heat, ...}")
        return self

    @property
    def horizon(self) -> float:
        return self.t_test if self.t_test is not None else 2 * self.t_train
