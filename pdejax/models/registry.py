"""The model registry: ``model.name`` in a config → a constructor.

Constructors receive ``in_size``, ``out_size`` and ``key`` from the framework; their
other keyword arguments are the config keys under ``model``.
"""

from __future__ import annotations

from typing import Literal

from jaxtyping import PRNGKeyArray

from ..config.registry import Registry
from .mlp import MLP

MODELS = Registry("model", provided=("in_size", "out_size", "key", "dtype"))


@MODELS.register("mlp")
def mlp(in_size: int, out_size: int, *, key: PRNGKeyArray, dtype=None, width: int = 64,
        depth: int = 4, activation: Literal["tanh", "sin", "gelu", "silu", "softplus"] = "tanh") -> MLP:
    """Fully connected network (Glorot-normal weights)."""
    return MLP(in_size, out_size, width, depth, activation, key=key, dtype=dtype)
