"""Operator objectives: supervised pairs, autoregressive rollouts, a PINO-style physics loss.

Models handle one sample, channels first: ``model(x: (c_in, *grid)) -> (c_out, *grid)``;
they work on normalised data and the objectives map to and from physical units
(:class:`Normalizer`), so the trained model in physical units is
``NormalizedOperator(model, input_norm, output_norm)``.
"""

from .autoregressive import AutoregressiveObjective as AutoregressiveObjective
from .losses import data_loss as data_loss
from .losses import mean_relative_l2 as mean_relative_l2
from .normalizer import NormalizedOperator as NormalizedOperator
from .normalizer import Normalizer as Normalizer
from .pairs import OperatorObjective as OperatorObjective
from .physics import PhysicsResidual as PhysicsResidual
from .unroll import unroll as unroll
from .unroll import unroll_batch as unroll_batch
