"""The one training loop shared by every method."""

from .checkpoint import Checkpointer as Checkpointer
from .loop import FitResult as FitResult
from .loop import Interrupted as Interrupted
from .loop import NonFiniteLoss as NonFiniteLoss
from .loop import fit as fit
from .optim import OPTIMIZERS as OPTIMIZERS
from .optim import SCHEDULES as SCHEDULES
from .optim import build_optimizer as build_optimizer
from .optim import build_schedule as build_schedule
from .phases import AbstractPhase as AbstractPhase
from .phases import LBFGSPhase as LBFGSPhase
from .phases import OptaxPhase as OptaxPhase
from .state import TrainState as TrainState
