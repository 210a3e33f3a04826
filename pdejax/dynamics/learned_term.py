"""A learned right-hand-side term of a PDE: a pointwise network of local features.

:class:`LearnedTerm` evaluates one network at every grid point on the values there of
chosen fields, their spatial derivatives and coordinates (``("u", "u_x", "u_xx")``,
optionally ``"x"`` and ``"t"``), and returns one value per target field. Because it sees
only local features it is resolution-independent: the same parameters act on a grid of
64 or 128 points. It reads its inputs from a :class:`~pdejax.pde.Fields` object, so it
is the ``extra`` hook of :func:`~pdejax.pde.etdrk4_stepper` as it stands, and the method
of lines adds it to the grid right-hand side (see :mod:`pdejax.dynamics.hybrid`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from ..models import MODELS
from ..pde import PDE, Fields
from ..pde.fields import parse_name
from ..pde.second_order import first_order_system


def _valid_inputs(pde: PDE) -> str:
    """What a learned term may read, in words, for error messages."""
    system = first_order_system(pde)
    coords = pde.domain.coords
    example = f"{system.fields[0]}_{coords[0]}, {system.fields[0]}_{coords[0] * 2}"
    time = " and t" if pde.evolution else ""
    return (f"the fields {system.fields}, their spatial derivatives such as {example}, "
            f"the coordinates {coords}{time}")


def check_inputs(pde: PDE, inputs: Sequence[str]) -> tuple[str, ...]:
    """``inputs`` as a tuple, each a field, a spatial derivative of one (``"u_xx"``) or a
    coordinate (``"x"``, ``"t"``) of ``pde``; a ValueError naming the first invalid name
    and what is valid otherwise."""
    if isinstance(inputs, str) or not inputs:
        raise ValueError(f"learned term inputs = {inputs!r}: expected a non-empty list of names, e.g. "
                         f"['{pde.fields[0]}', '{pde.fields[0]}_{pde.domain.coords[0]}']; valid names: "
                         f"{_valid_inputs(pde)}")
    system = first_order_system(pde)
    coordinates = set(pde.domain.coords) | ({"t"} if pde.evolution else set())
    for name in inputs:
        if not isinstance(name, str):
            raise ValueError(f"learned term input {name!r} is not a name; valid: {_valid_inputs(pde)}")
        if name in coordinates:
            continue
        try:
            parse_name(name, system.fields, pde.domain.coords)
        except AttributeError:
            raise ValueError(f"learned term input {name!r} is not a field, derivative or coordinate of PDE "
                             f"{pde.name!r}; valid: {_valid_inputs(pde)}") from None
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"learned term inputs {list(inputs)} name a feature twice")
    return tuple(inputs)


def check_targets(pde: PDE, targets: Sequence[str] | None) -> tuple[str, ...]:
    """The fields a learned term adds to (default: every evolving field of ``pde``, with
    the velocities of ``second_order`` fields); a ValueError naming an invalid one."""
    valid = first_order_system(pde).evolving
    if targets is None:
        return tuple(f for f in valid if f not in pde.second_order)  # u_tt = ..., not u_t = u_t
    if isinstance(targets, str) or not targets:
        raise ValueError(f"learned term targets = {targets!r}: expected a non-empty list of fields of {valid}")
    for name in targets:
        if name not in valid:
            raise ValueError(f"learned term target {name!r} is not an evolving field of PDE {pde.name!r}; "
                             f"valid: {valid}")
    if len(set(targets)) != len(targets):
        raise ValueError(f"learned term targets {list(targets)} name a field twice")
    return tuple(targets)


class LearnedTerm(eqx.Module):
    """``{target: scale · net(features)[i]}`` at every point: a pointwise right-hand-side term.

    Call it with a :class:`~pdejax.pde.Fields` object (``term(f)``), the ``extra`` hook of
    :func:`~pdejax.pde.etdrk4_stepper`: the features are read from ``f`` by name, broadcast
    to a common shape (a grid's ``sizes``, or ``()`` at one point), the network runs on each
    point's feature vector (``jax.vmap``), and each output becomes an array of that shape.

    Args:
        pde: the PDE whose names ``inputs`` and ``targets`` are checked against (ValueError
            naming an unknown one and what is valid).
        inputs: the features, in order: fields, spatial derivatives of fields
            (``"u_x"``, ``"u_xx"``, ``"v_xy"``) and coordinates (``"x"``, ``"t"``).
        targets: the fields the term adds to (default: the PDE's evolving fields).
        net: a network ``(len(inputs),) -> (len(targets),)`` on one point (any registered
            model, or any ``eqx.Module``: a hand-written term for tests).
        scale: a constant factor on the outputs (e.g. small, so that the untrained term
            starts as a small perturbation of the known physics).

    Example:
        >>> from pdejax.pde import burgers, grid_for
        >>> from pdejax.pde.grid import grid_fields
        >>> pde = burgers(periodic=True)
        >>> term = learned_term(pde, {"name": "mlp", "width": 8, "depth": 1}, ["u", "u_x"],
        ...                     key=jax.random.key(0))
        >>> grid = grid_for(pde, 16)
        >>> x, = grid.mesh()
        >>> f = grid_fields(pde, grid, jnp.sin(jnp.pi * x)[None], {"x": x})
        >>> {k: v.shape for k, v in term(f).items()}  # one value per grid point
        {'u': (16,)}
    """

    net: Callable[[Array], Array]
    inputs: tuple[str, ...] = eqx.field(static=True)
    targets: tuple[str, ...] = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def __init__(self, pde: PDE, inputs: Sequence[str], targets: Sequence[str] | None = None, *,
                 net: Callable[[Array], Array], scale: float = 1.0):
        self.inputs = check_inputs(pde, inputs)
        self.targets = check_targets(pde, targets)
        self.net, self.scale = net, float(scale)

    def __call__(self, f: Fields) -> dict[str, Array]:
        values = jnp.broadcast_arrays(*[jnp.asarray(f[name]) for name in self.inputs])
        shape = values[0].shape
        features = jnp.stack([v.reshape(-1) for v in values], axis=-1)
        out = jax.vmap(self.net)(features).reshape(features.shape[0], len(self.targets))
        return {field: self.scale * out[:, i].reshape(shape) for i, field in enumerate(self.targets)}


def learned_term(pde: PDE, model: Mapping[str, Any], inputs: Sequence[str], targets: Sequence[str] | None = None,
                 *, scale: float = 1.0, key: PRNGKeyArray, dtype: Any = None,
                 where: str = "model.term") -> LearnedTerm:
    """A :class:`LearnedTerm` whose network is the registered model ``model["name"]``
    (:data:`pdejax.models.MODELS`) with the other keys of ``model`` as its arguments,
    ``in_size = len(inputs)``, ``out_size = len(targets)``. Config errors name ``where``.
    """
    inputs, targets = check_inputs(pde, inputs), check_targets(pde, targets)
    if not isinstance(model, Mapping) or "name" not in model:
        raise ValueError(f"{where} = {model!r}: expected a mapping with a model name, e.g. "
                         f"{{name: mlp, width: 32, depth: 2}}; models: {MODELS.names()}")
    args = {k: v for k, v in model.items() if k != "name"}
    net = MODELS.build(model["name"], args, where=where, in_size=len(inputs), out_size=len(targets),
                       key=key, dtype=dtype)
    return LearnedTerm(pde, inputs, targets, net=net, scale=scale)
