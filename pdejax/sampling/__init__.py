"""Collocation samplers: uniform, quasi-random (Sobol, Halton) and residual-adaptive (RAD, R3, causal R3, RAR)."""

from .collocation import CollocationSource as CollocationSource
from .quasirandom import Halton as Halton
from .quasirandom import Sobol as Sobol
from .quasirandom import halton_points as halton_points
from .quasirandom import sobol_points as sobol_points
from .r3 import R3 as R3
from .r3 import CausalR3 as CausalR3
from .rar import RAR as RAR
from .samplers import RAD as RAD
from .samplers import SAMPLERS as SAMPLERS
from .samplers import AbstractSampler as AbstractSampler
from .samplers import Uniform as Uniform
from .samplers import uniform_in_box as uniform_in_box
