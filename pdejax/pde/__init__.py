"""PDE definitions, written once and evaluated by autodiff (points) or FFT (grids)."""

from .autodiff import directional_tower as directional_tower
from .autodiff import point_derivatives as point_derivatives
from .autodiff import pointwise_residual as pointwise_residual
from .base import PDE as PDE
from .check import ConsistencyReport as ConsistencyReport
from .check import check_consistency as check_consistency
from .conditions import AbstractBoundary as AbstractBoundary
from .conditions import Dirichlet as Dirichlet
from .conditions import Periodic as Periodic
from .domain import Box as Box
from .fields import Fields as Fields
from .grid import grid_for as grid_for
from .grid import grid_rhs as grid_rhs
from .library import PDES as PDES
from .library import advection as advection
from .library import burgers as burgers
from .library import heat as heat
