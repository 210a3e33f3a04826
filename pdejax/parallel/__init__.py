"""Meshes and sharding helpers."""

from .distributed import broadcast as broadcast
from .distributed import detect_cluster as detect_cluster
from .distributed import host_value as host_value
from .distributed import initialize as initialize
from .distributed import is_main_process as is_main_process
from .distributed import is_multiprocess as is_multiprocess
from .distributed import local_copy as local_copy
from .mesh import data_mesh as data_mesh
