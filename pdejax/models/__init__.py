"""Networks and neural operators, registered by name for configs (``model.name``)."""

from .batching import apply_batch as apply_batch
from .deeponet import DeepONet as DeepONet
from .deeponet import unit_grid as unit_grid
from .fno import FNO as FNO
from .mlp import ACTIVATIONS as ACTIVATIONS
from .mlp import MLP as MLP
from .registry import MODELS as MODELS
from .spectral_conv import SpectralConv as SpectralConv
from .unet import UNet as UNet
