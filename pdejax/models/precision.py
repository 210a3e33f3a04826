"""Mixed precision: a policy object (as jmp's) and a wrapper that runs a model under it.

A :class:`Policy` names three dtypes: the parameters' (kept by the optimizer), the
computation's (what the model's arithmetic runs in) and the output's (what the loss
sees). ``precision: bf16`` in a config is ``Policy(float32, bfloat16, float32)``: the
optimizer state, the parameters and the loss stay float32; the model's matrix products
and activations run in bfloat16. FFTs inside the model stay float32 (``jnp.fft`` has no
bfloat16; :class:`~pdejax.models.SpectralConv` upcasts for them).

>>> import jax, jax.numpy as jnp
>>> from pdejax.models import MLP
>>> policy = get_policy("bf16")
>>> policy
Policy(param_dtype=float32, compute_dtype=bfloat16, output_dtype=float32)
>>> net = MixedPrecision(MLP(2, 1, width=8, depth=2, key=jax.random.key(0)), policy)
>>> y = net(jnp.ones(2))                          # computed in bfloat16, returned as float32
>>> y.dtype, net.model.layers[0].weight.dtype     # parameters stay float32
(dtype('float32'), dtype('float32'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .batching import apply_batch

_NAMES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16, "float64": jnp.float64,
          "f32": jnp.float32, "bf16": jnp.bfloat16, "f16": jnp.float16, "f64": jnp.float64}


@dataclass(frozen=True)
class Policy:
    """Which dtype parameters, computation and outputs use (jmp's ``Policy``).

    Casting touches floating arrays only; integer, boolean and complex leaves (indices,
    masks, spectral weights stored as complex) pass through unchanged.
    """

    param_dtype: Any
    compute_dtype: Any
    output_dtype: Any

    def __repr__(self) -> str:
        return (f"Policy(param_dtype={jnp.dtype(self.param_dtype)}, compute_dtype={jnp.dtype(self.compute_dtype)}, "
                f"output_dtype={jnp.dtype(self.output_dtype)})")

    @property
    def is_mixed(self) -> bool:
        """Whether any cast happens (compute or output differ from the parameters' dtype)."""
        p = jnp.dtype(self.param_dtype)
        return jnp.dtype(self.compute_dtype) != p or jnp.dtype(self.output_dtype) != p

    def cast_to_param(self, tree: Any) -> Any:
        return _cast(tree, self.param_dtype)

    def cast_to_compute(self, tree: Any) -> Any:
        return _cast(tree, self.compute_dtype)

    def cast_to_output(self, tree: Any) -> Any:
        return _cast(tree, self.output_dtype)


def _cast(tree: Any, dtype: Any) -> Any:
    def leaf(x):
        if isinstance(x, jax.Array | jax.ShapeDtypeStruct) or hasattr(x, "dtype"):
            if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype != dtype:
                return jnp.asarray(x).astype(dtype)
        return x

    return jax.tree.map(leaf, tree)


def get_policy(spec: str, param_dtype: Any = jnp.float32) -> Policy:
    """A policy by name: ``"default"`` (everything in ``param_dtype``), ``"bf16"`` (compute
    in bfloat16, parameters and outputs in ``param_dtype``), or jmp's string form
    ``"params=float32,compute=bfloat16,output=float32"`` (``p``/``c``/``o`` also accepted).

    Raises:
        ValueError: an unknown name or dtype.

    >>> get_policy("params=float32,compute=bfloat16,output=float32") == get_policy("bf16")
    True
    """
    if spec == "default":
        return Policy(param_dtype, param_dtype, param_dtype)
    if spec == "bf16":
        return Policy(param_dtype, jnp.bfloat16, param_dtype)
    parts = {"params": param_dtype, "compute": param_dtype, "output": param_dtype}
    alias = {"p": "params", "param": "params", "c": "compute", "o": "output"}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, _, value = item.partition("=")
        key = alias.get(key.strip(), key.strip())
        if key not in parts or value.strip() not in _NAMES:
            raise ValueError(f"precision {spec!r}: expected 'default', 'bf16' or "
                             "'params=<dtype>,compute=<dtype>,output=<dtype>' with dtypes among "
                             f"{', '.join(sorted(set(_NAMES)))}")
        parts[key] = _NAMES[value.strip()]
    return Policy(parts["params"], parts["compute"], parts["output"])


class MixedPrecision(eqx.Module):
    """``model`` run under ``policy``: inputs and parameters cast to the compute dtype at
    each call, the output cast to the output dtype. The wrapped parameters keep their
    dtype, so gradients, optimizer states and checkpoints stay in ``param_dtype``.

    ``batch`` (the batch-native path of :func:`~pdejax.models.apply_batch`) is kept.
    """

    model: Any
    policy: Policy = eqx.field(static=True)

    def __call__(self, x: Array, *args: Any, **kwargs: Any) -> Array:
        """``model(x, ...)`` in the compute dtype; returns the output dtype."""
        model = self.policy.cast_to_compute(self.model)
        return self.policy.cast_to_output(model(self.policy.cast_to_compute(x), *args, **kwargs))

    def batch(self, x: Array) -> Array:
        """``apply_batch(model, x)`` in the compute dtype; returns the output dtype."""
        model = self.policy.cast_to_compute(self.model)
        return self.policy.cast_to_output(apply_batch(model, self.policy.cast_to_compute(x)))
