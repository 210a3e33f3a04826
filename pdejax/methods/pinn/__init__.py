"""The PINN family: ``objective.name: pinn``."""

from .build import build_pinn as build_pinn
from .evaluation import ExactSolutionEvaluator as ExactSolutionEvaluator
from .evaluation import evaluation_grid as evaluation_grid
from .schema import PINNConfig as PINNConfig
