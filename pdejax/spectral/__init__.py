"""Spectral building blocks: Fourier and Chebyshev grids, ETDRK4, random fields, the Darcy solver."""

from .chebyshev import ChebyshevGrid as ChebyshevGrid
from .elliptic import DarcySolution as DarcySolution
from .elliptic import solve_darcy as solve_darcy
from .etdrk4 import ETDRK4 as ETDRK4
from .etdrk4 import rollout as rollout
from .fourier import FourierGrid as FourierGrid
from .random import MaternSpectrum as MaternSpectrum
from .random import darcy_coefficient as darcy_coefficient
from .random import fno_burgers_initial as fno_burgers_initial
from .random import fno_navier_stokes_initial as fno_navier_stokes_initial
from .random import gaussian_random_field as gaussian_random_field
from .random import neumann_random_field as neumann_random_field
