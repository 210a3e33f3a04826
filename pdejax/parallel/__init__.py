"""Meshes (``data`` and ``space`` axes), the distributed FFT of domain parallelism, and
multi-process start-up (``jax.distributed``)."""

from .distributed import broadcast as broadcast
from .distributed import detect_cluster as detect_cluster
from .distributed import host_value as host_value
from .distributed import initialize as initialize
from .distributed import is_main_process as is_main_process
from .distributed import is_multiprocess as is_multiprocess
from .distributed import local_copy as local_copy
from .domain import field_batch_sharding as field_batch_sharding
from .fft import SpaceFFT as SpaceFFT
from .fft import check_space_grid as check_space_grid
from .fft import irfftn as irfftn
from .fft import rfftn as rfftn
from .mesh import DATA as DATA
from .mesh import SPACE as SPACE
from .mesh import axis_size as axis_size
from .mesh import data_mesh as data_mesh
from .mesh import make_mesh as make_mesh
