"""Networks and neural operators, registered by name for configs (``model.name``)."""

from .batching import apply_batch as apply_batch
from .deeponet import DeepONet as DeepONet
from .deeponet import unit_grid as unit_grid
from .flax import LinenModel as LinenModel
from .flax import NNXModel as NNXModel
from .flax import from_linen as from_linen
from .flax import from_nnx as from_nnx
from .fno import FNO as FNO
from .kan import ChebyKAN as ChebyKAN
from .layers import FourierFeatures as FourierFeatures
from .layers import RWFLinear as RWFLinear
from .layers import factorize_weights as factorize_weights
from .mlp import ACTIVATIONS as ACTIVATIONS
from .mlp import MLP as MLP
from .pinn_nets import FourierMLP as FourierMLP
from .pinn_nets import ModifiedMLP as ModifiedMLP
from .pinnsformer import PINNsFormer as PINNsFormer
from .pirate import PirateNet as PirateNet
from .registry import MODELS as MODELS
from .spectral_conv import SpectralConv as SpectralConv
from .unet import UNet as UNet
