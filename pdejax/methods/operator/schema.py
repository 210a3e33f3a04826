"""The ``objective`` sections of operator experiments (``operator``, ``autoregressive``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from ...config.schema import ObjectiveSection, Section
from .augment import AugmentConfig
from .residual_schema import Physics, ResidualConfig


class OperatorConfig(ObjectiveSection):
    """Supervised ``input → output`` pairs from ``data`` (FNO, DeepONet, U-Net...).

    ``loss``: per-sample relative L2 or MSE, in physical units; ``physics_weight`` > 0
    adds a PINO-style PDE residual on the output frames with that weight (needs a ``pde``
    section); the data term's weight is ``weights.data`` (default 1). ``physics: spectral``
    (Neural Spectral Methods) or ``grid`` (the residual on a uniform grid) trains from the
    PDE alone, on ``data.input`` only (``residual`` holds their settings; see ``nsm.py``).
    """

    name: Literal["operator"] = "operator"
    loss: Literal["rel_l2", "mse"] = "rel_l2"
    physics_weight: float = Field(0.0, ge=0)
    physics: Physics = "frames"
    residual: ResidualConfig = Field(default_factory=ResidualConfig)


class RefinerConfig(Section):
    """PDE-Refiner (Lippe et al. 2023): ``steps`` denoising steps K after the one-step
    prediction, noise standard deviations ``min_noise^(k/K)`` (in normalised units) down to
    ``min_noise``. The paper's Kuramoto–Sivashinsky setting is K = 3 and 2e-7."""

    steps: PositiveInt = 3
    min_noise: float = Field(2e-7, gt=0, lt=1)


class AutoregressiveConfig(ObjectiveSection):
    """Next-step training on trajectories from ``data``: ``history`` frames in, one out,
    ``unroll`` steps per training window (``pushforward``: gradients through the last
    only), windows starting at a ``random`` or the ``first`` frame; ``physics_weight`` > 0
    adds the PDE residual between consecutive predicted frames with that weight;
    ``refiner`` (``{steps, min_noise}``) refines each prediction by PDE-Refiner's denoising
    steps (with ``loss: mse``, ``unroll: 1``, no pushforward and no physics term)."""

    name: Literal["autoregressive"] = "autoregressive"
    loss: Literal["rel_l2", "mse"] = "rel_l2"
    physics_weight: float = Field(0.0, ge=0)
    history: PositiveInt = 10
    unroll: PositiveInt = 1
    pushforward: bool = False
    window: Literal["random", "first"] = "random"
    augment: AugmentConfig | None = None  # Lie-point-symmetry augmentation (see AugmentConfig)
    refiner: RefinerConfig | None = None
