"""Spectral building blocks: Fourier and Chebyshev grids, truncated DFTs, ETDRK4, random fields, the Darcy solver."""

from .chebyshev import ChebyshevGrid as ChebyshevGrid
from .dft import check_grid as check_grid
from .dft import dft_basis as dft_basis
from .dft import fits_matmul as fits_matmul
from .dft import from_reversed_axes as from_reversed_axes
from .dft import inverse_dft_basis as inverse_dft_basis
from .dft import inverse_rfft_basis as inverse_rfft_basis
from .dft import kept_shape as kept_shape
from .dft import real_dft_basis as real_dft_basis
from .dft import to_reversed_axes as to_reversed_axes
from .dft import truncated_irfftn as truncated_irfftn
from .dft import truncated_irfftn_reversed as truncated_irfftn_reversed
from .dft import truncated_rfftn as truncated_rfftn
from .dft import truncated_rfftn_reversed as truncated_rfftn_reversed
from .elliptic import DarcySolution as DarcySolution
from .elliptic import solve_darcy as solve_darcy
from .etdrk4 import ETDRK4 as ETDRK4
from .etdrk4 import rollout as rollout
from .fourier import FourierGrid as FourierGrid
from .fourier import dealias_fraction as dealias_fraction
from .random import MaternSpectrum as MaternSpectrum
from .random import darcy_coefficient as darcy_coefficient
from .random import fno_burgers_initial as fno_burgers_initial
from .random import fno_navier_stokes_initial as fno_navier_stokes_initial
from .random import gaussian_random_field as gaussian_random_field
from .random import neumann_random_field as neumann_random_field
