"""Neural differential equations with diffrax: neural ODEs and SDEs, latent ODEs, and hybrid
PDEs whose known terms come from a :class:`~pdejax.pde.PDE` and whose unknown terms are a
network. Each model is an :class:`AbstractDynamics` registered in :data:`DYNAMICS`
(config ``model.name``), trained by the ``dynamics`` method family."""

from .base import DYNAMICS as DYNAMICS
from .base import AbstractDynamics as AbstractDynamics
from .base import System as System
from .hybrid import HybridPDE as HybridPDE
from .integrate import Integrator as Integrator
from .integrate import IntegratorSolution as IntegratorSolution
from .latent import LatentODE as LatentODE
from .learned_term import LearnedTerm as LearnedTerm
from .neural_ode import NeuralODE as NeuralODE
from .sde import NeuralSDE as NeuralSDE
from .sde import moment_matching_loss as moment_matching_loss
from .stepper import OperatorStepper as OperatorStepper
