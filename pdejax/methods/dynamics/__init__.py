"""The neural-DE family (``objective.name: dynamics``): models of :mod:`pdejax.dynamics`
trained on trajectories of a system (an ODE, an SDE, or a PDE through pdejax's solvers)."""

from .build import build_dynamics as build_dynamics
from .schema import DynamicsConfig as DynamicsConfig
