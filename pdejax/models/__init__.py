"""Networks and neural operators, registered by name for configs (``model.name``)."""

from .mlp import ACTIVATIONS as ACTIVATIONS
from .mlp import MLP as MLP
from .registry import MODELS as MODELS
