"""Objectives: the named loss terms of each method (losses only)."""

from .base import AbstractObjective as AbstractObjective
from .base import Losses as Losses
from .base import PointResidual as PointResidual
from .operator import AutoregressiveObjective as AutoregressiveObjective
from .operator import NormalizedOperator as NormalizedOperator
from .operator import Normalizer as Normalizer
from .operator import OperatorObjective as OperatorObjective
from .operator import PhysicsResidual as PhysicsResidual
from .pinn import PINN as PINN
from .pinn import PINNField as PINNField
