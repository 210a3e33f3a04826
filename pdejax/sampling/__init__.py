"""Collocation samplers: uniform and residual-adaptive (RAD)."""

from .collocation import CollocationSource as CollocationSource
from .samplers import RAD as RAD
from .samplers import SAMPLERS as SAMPLERS
from .samplers import AbstractSampler as AbstractSampler
from .samplers import Uniform as Uniform
from .samplers import uniform_in_box as uniform_in_box
