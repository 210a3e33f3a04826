"""pdejax: solve and learn partial differential equations in JAX.

The one-line API: ``pdejax.train(config)`` and ``pdejax.load_run(run_dir)``.
"""

__version__ = "0.1.0"

from . import config as config
from . import methods as methods
from . import models as models
from . import objectives as objectives
from . import parallel as parallel
from . import pde as pde
from . import sampling as sampling
from . import training as training
from .config import ConfigError as ConfigError
from .experiment import Run as Run
from .experiment import build as build
from .experiment import load_run as load_run
from .experiment import train as train
