"""The ``objective`` section of a PINN experiment (``objective.name: pinn``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from ...config.errors import ConfigError
from ...config.schema import DataPath, Named, ObjectiveSection, Section


class SamplerConfig(Named):
    """``objective.sampler.name``: a registered sampler (``uniform``, ``sobol``, ``halton``, ``rad``,
    ``r3``, ``r3_causal``, ``rar``, or yours); other keys its arguments."""

    name: str = "uniform"


class ObservationsConfig(Section):
    """Measurements of the solution, fitted by the ``data`` loss term (inverse problems).

    Either a file, ``path`` (``.npz`` or ``.h5``/``.hdf5`` holding ``points``
    ``(n, dim + 1)`` and ``values`` ``(n, len(fields))``; relative paths are under the data
    root ``$PDEJAX_DATA``), or ``n`` generated points: from the PDE's exact solution at
    uniform random points, else from the spectral solver (periodic PDEs; a
    ``resolution``-point grid, step ``dt``) at random grid points and saved times, with
    the ``pde`` section's parameter values as the truth. ``noise`` adds Gaussian noise of
    standard deviation ``noise · std(values)`` per field (Raissi et al.'s relative noise),
    drawn with ``seed``. ``fields`` are the measured fields (default: all; the evolving
    ones for the spectral solver); ``batch_size`` observations enter each step (default:
    all of them).
    """

    path: DataPath | None = None
    n: int | None = Field(None, gt=0, le=10_000_000)
    noise: float = Field(0.0, ge=0)
    seed: int = 0
    fields: list[str] | None = None
    batch_size: PositiveInt | None = None
    resolution: int = Field(256, ge=8, le=65_536)
    dt: float = Field(1e-3, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> ObservationsConfig:
        if (self.path is None) == (self.n is None):
            raise ConfigError("path" if self.path is not None else "n", self.path if self.path is not None else None,
                              "either path (a file of points and values) or n (points to generate), not both")
        return self


class TimeEmbeddingConfig(Section):
    """``objective.time_embedding``: the network sees time as ``(cos(ω (t - t0)), sin(ω (t - t0)))``,
    ``ω = frequency`` (radians per unit time), trained with the network when ``trainable``.

    For solutions periodic (or nearly so) in time: jaxpi's advection benchmark fails without
    it (their ablation: 7.4e-1 without, 1.0e-2 with). jaxpi's ``periodicity.period`` on the
    time axis is this frequency (3π in their advection ``sota.py``).
    """

    frequency: float = Field(gt=0)
    trainable: bool = True


class CurriculumStage(Section):
    """One later stage of ``objective.curriculum``: ``steps`` steps on the PDE with the
    parameters in ``pde`` changed (e.g. ``{steps: 20000, pde: {reynolds: 400}}``)."""

    steps: PositiveInt
    pde: dict[str, Any] = Field(default_factory=dict)


class PINNConfig(ObjectiveSection):
    """PDE residuals at collocation points (Raissi et al. 2019).

    ``constraint: hard`` builds the initial and boundary conditions into the model;
    ``soft`` adds ``initial`` and ``boundary`` loss terms at ``n_initial`` /
    ``n_boundary`` points per step (``n_boundary: 0`` for a periodic PDE: the network's
    inputs make it periodic exactly, and a ``boundary`` term would be zero).
    ``derivatives``: ``jvp`` (nested forward mode), ``jet`` (Taylor mode) or ``auto``.
    ``causal_chunks`` > 0 turns on causal weighting.
    ``observations`` adds the ``data`` term (with ``pde.trainable``: an inverse problem).
    ``windows`` > 1 trains by time marching: the time interval in that many equal windows,
    one after another, each for ``train.steps`` (then ``lbfgs.steps``) steps, from the
    previous window's network and with its values at the window's start as the initial
    condition. ``time_embedding`` embeds time periodically with a (trainable) frequency
    (:class:`TimeEmbeddingConfig`). ``curriculum`` lists later stages trained after the first (the ``pde``
    section as given, ``train.steps``), each from the previous stage's network with a
    fresh optimizer: jaxpi's lid-driven cavity goes from Re = 100 to 3200 this way.
    """

    name: Literal["pinn"] = "pinn"
    constraint: Literal["hard", "soft"] = "hard"
    n_collocation: PositiveInt = 4096
    n_initial: int = Field(0, ge=0)
    n_boundary: int = Field(0, ge=0)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    derivatives: Literal["auto", "jvp", "jet"] = "auto"
    causal_chunks: int = Field(0, ge=0)
    causal_tol: float = Field(1.0, ge=0)
    observations: ObservationsConfig | None = None
    windows: int = Field(1, ge=1, le=1000)
    time_embedding: TimeEmbeddingConfig | None = None
    curriculum: list[CurriculumStage] = Field(default_factory=list)

