"""Datasets: generation from the spectral solvers, HDF5 storage in PDEBench's layout, loading.

``pdejax data generate CONFIG --out FILE.h5`` or :func:`generate`; read with
:func:`load_dataset` (pdejax files and PDEBench's layouts); add generators to
:data:`GENERATORS` (see :mod:`pdejax.data.generators`).
"""

from . import antiderivative as _antiderivative  # noqa: F401  (registers antiderivative)
from . import nsm_problems as _nsm_problems  # noqa: F401  (poisson_source, reaction_diffusion, navier_stokes_nsm)
from . import recipes as _recipes  # noqa: F401  (registers the published recipes)
from . import recipes_lpsda as _recipes_lpsda  # noqa: F401  (registers kdv_lpsda)
from . import trajectories as _trajectories  # noqa: F401  (registers heat, advection)
from .config import DataConfig as DataConfig
from .config import load_data_config as load_data_config
from .dataset import Dataset as Dataset
from .dataset import LazyArray as LazyArray
from .errors import DataError as DataError
from .generate import GenerationReport as GenerationReport
from .generate import build_generator as build_generator
from .generate import generate as generate
from .generate import sample_key as sample_key
from .generators import GENERATORS as GENERATORS
from .generators import AbstractGenerator as AbstractGenerator
from .generators import ArraySpec as ArraySpec
from .loader import describe_file as describe_file
from .loader import load_dataset as load_dataset
from .trajectories import RandomFourierModes as RandomFourierModes
from .trajectories import SpectralTrajectories as SpectralTrajectories
