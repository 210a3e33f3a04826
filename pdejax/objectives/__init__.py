"""Objectives: what a method asks of the training loop."""

from .base import AbstractObjective as AbstractObjective
from .pinn import PINN as PINN
from .pinn import PINNField as PINNField
from .pinn import evaluation_grid as evaluation_grid
