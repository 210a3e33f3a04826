"""The model registry: ``model.name`` in a config → a constructor.

Constructors receive ``in_size``, ``out_size`` and ``key`` from the framework; their
other keyword arguments are the config keys under ``model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import jax
from jaxtyping import PRNGKeyArray

from ..config.registry import Registry
from . import flax as flax_adapter
from .kan import ChebyKAN
from .layers import factorize_weights
from .mlp import MLP
from .pinn_nets import FourierMLP, ModifiedMLP
from .pinnsformer import PINNsFormer
from .pirate import PirateNet

MODELS = Registry("model", provided=("in_size", "out_size", "key", "dtype"))


Activation = Literal["tanh", "sin", "gelu", "silu", "softplus"]
# ``rwf: {mean: 1.0, std: 0.1}``: random weight factorisation of every dense layer (null: none).
RWF = Mapping[str, float] | None
RWF_PAPER = {"mean": 1.0, "std": 0.1}  # read only (pydantic hands each build a copy)


def _rwf(net, rwf: RWF, key: PRNGKeyArray):
    # A key of its own: the factorised network computes what the plain one (same seed) does.
    return factorize_weights(net, rwf, key=jax.random.fold_in(key, 0x5F))


@MODELS.register("mlp")
def mlp(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, width: int = 64,
        depth: int = 4, activation: Activation = "tanh", rwf: RWF = None) -> MLP:
    """Fully connected network (Glorot-normal weights; ``rwf``: random weight factorisation)."""
    return _rwf(MLP(in_size, out_size, width, depth, activation, key=key, dtype=dtype), rwf, key)


@MODELS.register("fourier_mlp")
def fourier_mlp(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, width: int = 64, depth: int = 4,
                activation: Activation = "tanh", n_features: int = 64, sigma: float = 1.0,
                rwf: RWF = None) -> FourierMLP:
    """MLP on random Fourier features [cos(Bx), sin(Bx)], B ~ N(0, sigma^2) frozen."""
    net = FourierMLP(in_size, out_size, width, depth, activation, n_features, sigma, key=key, dtype=dtype)
    return _rwf(net, rwf, key)


@MODELS.register("modified_mlp")
def modified_mlp(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, width: int = 64, depth: int = 4,
                 activation: Activation = "tanh", n_features: int = 0, sigma: float = 1.0,
                 rwf: RWF = None) -> ModifiedMLP:
    """Modified MLP with U/V gates (Wang, Teng & Perdikaris 2021); n_features > 0: Fourier features first."""
    net = ModifiedMLP(in_size, out_size, width, depth, activation, n_features, sigma, key=key, dtype=dtype)
    return _rwf(net, rwf, key)


@MODELS.register("pirate_net")
def pirate_net(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, width: int = 256, n_blocks: int = 3,
               activation: Activation = "tanh", n_features: int = 128, sigma: float = 1.0,
               rwf: RWF = RWF_PAPER,
               least_squares_init: bool | Literal["all_times", "initial_time"] = True) -> PirateNet:
    """PirateNet (Wang et al. 2024): Fourier features, gated residual blocks with alpha = 0 at start, RWF.
    ``least_squares_init``: the last layer fitted to the initial condition held over the whole
    time interval (``true`` / ``all_times``, jaxpi's), at ``t0`` only (``initial_time``), or not."""
    net = PirateNet(in_size, out_size, width, n_blocks, activation, n_features, sigma, least_squares_init,
                    key=key, dtype=dtype)
    return _rwf(net, rwf, key)


@MODELS.register("kan")
def kan(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, width: int = 16, depth: int = 2,
        degree: int = 4) -> ChebyKAN:
    """Chebyshev Kolmogorov-Arnold network: per edge sum_k c_k T_k(tanh(x))."""
    return ChebyKAN(in_size, out_size, width, depth, degree, key=key, dtype=dtype)


@MODELS.register("pinnsformer")
def pinnsformer(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, d_model: int = 32, n_heads: int = 2,
                n_layers: int = 1, d_ff: int = 64, d_hidden: int = 64, n_steps: int = 5,
                dt: float = 1e-4) -> PINNsFormer:
    """PINNsFormer (Zhao et al. 2024): transformer on a pseudo-sequence in time (the last input is time)."""
    return PINNsFormer(in_size, out_size, d_model, n_heads, n_layers, d_ff, d_hidden, n_steps, dt,
                       key=key, dtype=dtype)


@MODELS.register("flax")
def flax(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, module: str,
         args: dict[str, Any] | None = None, input_shape: list[int] | None = None):
    """A Flax NNX or Linen module of your own: ``module: my_pkg.nets:MyNet``, ``args`` its arguments.
    ``input_shape``: one sample's shape for Linen's init (default ``(in_size,)``, one point); see
    :mod:`pdejax.models.flax`."""
    return flax_adapter.build(module, in_size, out_size, key=key, dtype=dtype, args=args, input_shape=input_shape)
