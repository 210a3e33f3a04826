"""Trainable PDE parameters: raw leaves → the values a PDE's ``params`` hold.

An inverse problem learns some of a PDE's parameters from data: a viscosity ``nu``, or a
coefficient *field* such as the diffusivity ``a(x)`` of ``u_t = ∂x(a(x) u_x)``. Both are
the same mechanism here: a :class:`PDEParameters` holds one trainable entry per
parameter name (arrays and networks, so an optimizer trains them like a model's
weights) and :meth:`PDEParameters.apply` returns the PDE with those entries' current
values in ``params``. Every consumer of the PDE (a PINN residual, a grid right-hand
side, a spectral stepper's explicit terms) reads the values through ``params`` as
usual, so gradients flow to the raw leaves.

A scalar is trained through a transform (``positive``: ``value = exp(raw)``, which also
treats a viscosity on a log scale; ``identity``). A field is ``transform(offset + net(z))``
with ``z`` the spatial coordinates mapped onto ``[-1, 1]`` (as ``(cos, sin)`` of their
phase on a periodic domain, so the field is periodic); the PDE's terms call it like the
function it replaces, ``p["a"](f.x)``, on a point's scalars or a grid's arrays.

A spectral solver computes the Fourier symbol of the ``linear`` terms on the host, so a
parameter trained through one must appear in ``nonlinear``, ``flux`` or ``forcing``
terms (or the solver's ``extra`` hook), not in a ``linear`` coefficient; a PINN residual
takes either.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from pdejax.pde import PDES
    >>> pde = PDES.build("burgers", {}, where="pde")
    >>> trainable = PDEParameters({"nu": ScalarParameter(0.05, "positive")})
    >>> round(float(trainable.apply(pde).params["nu"]), 6)
    0.05
    >>> grad = jax.grad(lambda t: t.apply(pde).params["nu"] ** 2)(trainable)
    >>> round(float(grad.entries["nu"].raw), 6)  # d(nu²)/d(raw) = 2 nu² with nu = exp(raw)
    0.005
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .base import PDE


class Transform(NamedTuple):
    """How a raw trainable number maps to a parameter's value: ``forward(raw)`` (traced),
    ``inverse(value)`` (a float on the host, for the initial value), ``valid`` (the values
    it can reach, for error messages)."""

    forward: Callable[[Any], Any]
    inverse: Callable[[float], float]
    valid: str


def _log(value: float) -> float:
    if not value > 0:
        raise ValueError(f"{value} is not positive")
    return math.log(value)


TRANSFORMS: dict[str, Transform] = {
    "positive": Transform(jnp.exp, _log, "a positive number"),
    "identity": Transform(lambda raw: raw, float, "a real number"),
}


def _transform(name: str) -> Transform:
    if name not in TRANSFORMS:
        raise ValueError(f"transform {name!r} is not one of {sorted(TRANSFORMS)}")
    return TRANSFORMS[name]


class AbstractParameter(eqx.Module):
    """One trainable parameter of a PDE. Subclass this."""

    @abc.abstractmethod
    def value(self) -> Any:
        """What the PDE's ``params`` hold for this parameter (a number or a callable field)."""


class ScalarParameter(AbstractParameter):
    """A trainable number, ``value = transform(raw)``.

    Args:
        init: the initial value (in the transform's range: positive for ``"positive"``).
        transform: ``"positive"`` (``exp``: trained on a log scale) or ``"identity"``.
        dtype: the raw leaf's dtype (default: JAX's default float).
    """

    raw: Float[Array, ""]
    transform: str = eqx.field(static=True)

    def __init__(self, init: float, transform: str = "positive", *, dtype: Any = None):
        self.transform = transform
        try:
            self.raw = jnp.asarray(_transform(transform).inverse(float(init)), dtype)
        except ValueError as err:
            raise ValueError(f"initial value {init}: expected {_transform(transform).valid} "
                             f"for transform {transform!r} ({err})") from None

    def value(self) -> Float[Array, ""]:
        return _transform(self.transform).forward(self.raw)


class FieldParameter(AbstractParameter):
    """A trainable coefficient field ``a(x, ...) = transform(offset + net(z))`` of the
    spatial coordinates, ``z`` their map onto ``[-1, 1]`` (``(cos πz, sin πz)`` when
    ``periodic``).

    Call it like the function it replaces in a PDE's terms: one argument per spatial
    coordinate, scalars (a PINN's point) or arrays of one shape (a grid); the result has
    that shape. ``value()`` is the field itself.

    Args:
        net: a network ``(in_size,) -> (1,)`` with ``in_size = field_in_size(dim, periodic)``.
        lower, upper: the spatial box (the PDE's ``domain.lower`` / ``domain.upper``).
        init: the field's value where ``net`` outputs zero (its trainable offset starts at
            ``transform⁻¹(init)``).
        transform: ``"positive"`` or ``"identity"``.
        periodic: whether the domain is periodic.
    """

    net: eqx.Module
    offset: Float[Array, ""]
    transform: str = eqx.field(static=True)
    lower: tuple[float, ...] = eqx.field(static=True)
    upper: tuple[float, ...] = eqx.field(static=True)
    periodic: bool = eqx.field(static=True)

    def __init__(self, net: eqx.Module, lower, upper, init: float, transform: str = "positive", *,
                 periodic: bool = False, dtype: Any = None):
        self.net, self.transform, self.periodic = net, transform, periodic
        self.lower, self.upper = tuple(map(float, lower)), tuple(map(float, upper))
        self.offset = ScalarParameter(init, transform, dtype=dtype).raw

    @staticmethod
    def field_in_size(dim: int, periodic: bool) -> int:
        """The network's input size for ``dim`` spatial coordinates."""
        return dim * (2 if periodic else 1)

    def value(self) -> FieldParameter:
        return self

    def __call__(self, *coords: Any) -> Array:
        if len(coords) != len(self.lower):
            raise ValueError(f"a coefficient field of {len(self.lower)} spatial coordinates called with "
                             f"{len(coords)} arguments")
        arrays = jnp.broadcast_arrays(*[jnp.asarray(c, self.offset.dtype) for c in coords])
        shape = arrays[0].shape
        lo, hi = jnp.asarray(self.lower, self.offset.dtype), jnp.asarray(self.upper, self.offset.dtype)
        z = 2 * (jnp.stack([a.reshape(-1) for a in arrays], axis=-1) - lo) / (hi - lo) - 1
        if self.periodic:
            z = jnp.concatenate([jnp.cos(jnp.pi * z), jnp.sin(jnp.pi * z)], axis=-1)
        raw = jax.vmap(self.net)(z).reshape(z.shape[0], -1)[:, 0]
        return _transform(self.transform).forward(self.offset + raw).reshape(shape)


class PDEParameters(eqx.Module):
    """The trainable entries of a PDE's ``params``, by name.

    Put it in the trained model (a PINN's ``PINNField(parameters=...)``, a neural DE
    next to its vector field): its arrays are trained with the model's, saved in its
    checkpoints and restored with it.

    Args:
        entries: ``{name: ScalarParameter | FieldParameter}``; each name must be a key of
            the PDE's ``params``.
    """

    entries: dict[str, AbstractParameter]

    def __init__(self, entries: Mapping[str, AbstractParameter]):
        self.entries = dict(entries)

    def values(self) -> dict[str, Any]:
        """``{name: value}``: numbers (traced under ``jit``) and callable fields."""
        return {name: p.value() for name, p in self.entries.items()}

    def scalars(self) -> dict[str, Array]:
        """The scalar entries' values (what training logs)."""
        return {name: p.value() for name, p in self.entries.items() if isinstance(p, ScalarParameter)}

    def apply(self, pde: PDE) -> PDE:
        """``pde`` with these entries' current values in its ``params``."""
        unknown = sorted(set(self.entries) - set(pde.params))
        if unknown:
            raise ValueError(f"trainable parameters {unknown} are not params of PDE {pde.name!r}: "
                             f"{sorted(pde.params)}")
        return eqx.tree_at(lambda p: p.params, pde, {**pde.params, **self.values()})
