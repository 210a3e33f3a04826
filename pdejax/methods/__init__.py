"""Method families as plug-ins (PINN, neural operators, and yours).

A family registers its ``objective`` config schema and a builder returning a
:class:`Method`; see :mod:`pdejax.methods.family`. Importing this package registers the
built-in families, exactly as a user's module registers its own:

>>> from typing import Literal
>>> from pdejax.config.schema import ObjectiveSection
>>> class ToyConfig(ObjectiveSection):
...     name: Literal["toy"] = "toy"
>>> @register_family("toy", ToyConfig)
... def build_toy(cfg, ctx):
...     ...
>>> "toy" in FAMILIES
True
"""

from . import dynamics as dynamics
from . import operator as operator
from . import pinn as pinn
from .family import FAMILIES as FAMILIES
from .family import Context as Context
from .family import Family as Family
from .family import Method as Method
from .family import get_family as get_family
from .family import register_family as register_family
