"""Spectral building blocks: periodic Fourier grids, spectral derivatives, ETDRK4."""

from .chebyshev import ChebyshevGrid as ChebyshevGrid
from .etdrk4 import ETDRK4 as ETDRK4
from .etdrk4 import rollout as rollout
from .fourier import FourierGrid as FourierGrid
