"""Operator objectives: supervised pairs, autoregressive rollouts, a PINO-style physics loss.

Models handle one sample, channels first: ``model(x: (c_in, *grid)) -> (c_out, *grid)``;
they work on normalised data and the objectives map to and from physical units
(:class:`Normalizer`), so the trained model in physical units is
``NormalizedOperator(model, input_norm, output_norm)``. PDE-Refiner (:mod:`.refiner`)
refines each one-step prediction by a few denoising steps; :func:`rollout` rolls out a
plain or a refined operator.
"""

from .augment import Augmentation as Augmentation
from .augment import Conditioned as Conditioned
from .autoregressive import AutoregressiveObjective as AutoregressiveObjective
from .boundary_lift import DirichletLift as DirichletLift
from .losses import data_loss as data_loss
from .losses import mean_relative_l2 as mean_relative_l2
from .normalizer import NormalizedOperator as NormalizedOperator
from .normalizer import Normalizer as Normalizer
from .nsm import GridObjective as GridObjective
from .nsm import GridOperator as GridOperator
from .nsm import OperatorInputs as OperatorInputs
from .nsm import SpectralObjective as SpectralObjective
from .nsm import SpectralOperator as SpectralOperator
from .nsm import fourier_inputs as fourier_inputs
from .nsm_inputs import chebyshev_inputs as chebyshev_inputs
from .pairs import OperatorObjective as OperatorObjective
from .physics import PhysicsResidual as PhysicsResidual
from .refiner import RefinedOperator as RefinedOperator
from .refiner import Refinement as Refinement
from .refiner import RefinerNet as RefinerNet
from .refiner import noise_levels as noise_levels
from .refiner import rollout as rollout
from .refiner import step_channels as step_channels
from .spectral_residual import SpectralResidual as SpectralResidual
from .unroll import unroll as unroll
from .unroll import unroll_batch as unroll_batch
