"""Recompute a block in the backward pass instead of storing its activations (``remat``).

``jax.checkpoint`` marks the recomputation with an optimisation barrier so that XLA does
not merge it back into the forward pass (common-subexpression elimination). XLA:CPU
drops the barriers before that merge, so there ``jax.checkpoint`` saves no memory at all
(the training step of an FNO-2D compiles to the same buffers with and without it).
:func:`checkpoint` instead makes the recomputation depend on the incoming gradient: its
inputs get a zero that XLA cannot prove to be zero (``0``, or ``NaN`` when the gradient's
first entry is ``NaN`` — in which case the result was ``NaN`` anyway), so the backward
pass's copy of the block can never be merged with the forward one, on any backend. The
gradients are bitwise those without recomputation.

Reverse mode only (``jax.grad``, ``jax.vjp``); forward-mode derivatives of a
checkpointed block raise JAX's custom-VJP error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp

F = TypeVar("F", bound=Callable)


def checkpoint(fn: F) -> F:
    """``fn`` whose activations are recomputed in the backward pass; only its floating-point
    inputs (arrays anywhere in its pytree arguments) are stored.

    Example:
        >>> f = checkpoint(lambda w, x: jnp.tanh(x @ w))
        >>> w, x = jnp.ones((3, 3)), jnp.ones((2, 3))
        >>> bool(jnp.allclose(jax.grad(lambda w: f(w, x).sum())(w),
        ...                   jax.grad(lambda w: jnp.tanh(x @ w).sum())(w)))
        True
    """

    @functools.wraps(fn)
    def wrapped(*args):
        dynamic, static = eqx.partition(args, eqx.is_inexact_array)

        def run(dynamic):
            return fn(*eqx.combine(dynamic, static))

        @jax.custom_vjp
        def call(dynamic):
            return run(dynamic)

        def forward(dynamic):
            return run(dynamic), dynamic

        def backward(dynamic, cotangent):
            probe = jax.tree.leaves(cotangent)[0]
            probe = probe[(0,) * probe.ndim]
            tie = jnp.where(jnp.isnan(probe), probe, jnp.zeros_like(probe))
            dynamic = jax.tree.map(lambda a: a + tie.astype(a.dtype), dynamic)
            return jax.vjp(run, dynamic)[1](cotangent)

        call.defvjp(forward, backward)
        return call(dynamic)

    return wrapped
