"""The trainable PDE parameters of a :class:`~pdejax.dynamics.hybrid.HybridPDE`: the
``trainable`` config turned into :class:`~pdejax.pde.PDEParameters`, which of them an ETDRK4
stepper reads in its exponential (linear) part, and that part's coefficients recomputed in
traced code so that gradients reach them."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from ..config.errors import ConfigError
from ..config.registry import suggest
from ..config.schema import PDEConfig
from ..models import MODELS
from ..pde import PDE, FieldParameter, PDEParameters, Periodic, ScalarParameter
from ..pde.coefficients import coefficient_value
from ..pde.fields import parse_name
from ..pde.spectral_terms import split_linear
from ..spectral import FourierGrid


def pde_parameters(pde: PDE, spec: Mapping[str, Any] | Sequence[str] | None, *, key: PRNGKeyArray,
                   dtype: Any = None, where: str = "model.trainable") -> PDEParameters | None:
    """The :class:`~pdejax.pde.PDEParameters` of a ``trainable`` config (``None`` for none):
    ``{nu: {init: 0.05, transform: positive}}`` or ``[nu]`` (start from the PDE's value), as
    ``pde.trainable`` of a PINN; a coefficient field (a callable parameter) takes a network
    ``field: {name: mlp, ...}`` and an ``init``.

    Raises:
        ConfigError: naming ``where.<name>`` and what is valid.
    """
    if not spec:
        return None
    try:
        entries_cfg = PDEConfig.model_validate({"name": pde.name, "trainable": spec}).trainable
    except ValueError as err:
        raise ConfigError(where, spec, f"a list of parameter names or a mapping {{name: {{init, transform, "
                          f"field}}}} ({str(err).splitlines()[-1].strip()})") from None
    entries = {}
    periodic = isinstance(pde.boundary, Periodic)
    for i, (name, entry) in enumerate(entries_cfg.items()):
        at = f"{where}.{name}"
        if name not in pde.params:
            valid = suggest(name, sorted(pde.params)) if pde.params else "it has none"
            raise ConfigError(at, entry.model_dump(exclude_defaults=True), f"a parameter of PDE {pde.name!r}: {valid}")
        current = pde.params[name]
        if callable(current):
            if entry.field is None or entry.init is None:
                raise ConfigError(at, entry.model_dump(exclude_defaults=True),
                                  f"a network and a start for the coefficient field {name!r}, e.g. "
                                  "{init: 1.0, field: {name: mlp, width: 16, depth: 2}}")
            in_size = FieldParameter.field_in_size(pde.domain.dim, periodic)
            net = MODELS.build(entry.field.name, entry.field.args, where=f"{at}.field",
                               key=jax.random.fold_in(key, i), dtype=dtype, in_size=in_size, out_size=1)
            entries[name] = FieldParameter(net, pde.domain.lower, pde.domain.upper, entry.init, entry.transform,
                                           periodic=periodic, dtype=dtype)
            continue
        if entry.field is not None:
            raise ConfigError(f"{at}.field", entry.field.model_dump(), f"no field: {name!r} of {pde.name!r} "
                              "is a number")
        init = float(current) if entry.init is None else entry.init
        try:
            entries[name] = ScalarParameter(init, entry.transform, dtype=dtype)
        except ValueError:
            raise ConfigError(f"{at}.init", init, f"a start in the range of transform: {entry.transform} "
                              "(a positive number for positive)") from None
    return PDEParameters(entries)


def coefficient_parameters(coef: Any) -> set[str]:
    """The names of ``params`` a linear coefficient reads (``"2*nu"`` → ``{"nu"}``)."""
    if not isinstance(coef, str):
        return set()
    return {n.id for n in ast.walk(ast.parse(coef.strip(), mode="eval")) if isinstance(n, ast.Name)}


def exponential_parameters(pde: PDE, names: Sequence[str]) -> tuple[str, ...]:
    """Which of ``names`` a spectral ETDRK4 stepper of ``pde`` reads in its exponential
    (linear) part. Those it can train (each only in the diagonal terms of a first-order
    field, whose ETDRK4 coefficients :class:`HybridPDE` recomputes in traced code) are
    returned; a ValueError naming the parameter and suggesting ``stepper: mol`` is raised
    for those it cannot (linear couplings, constraint fields, ``second_order`` fields, or
    a PDE with ``forcing``, which the stepper transforms once on the host)."""
    names = set(names)
    diagonal, coupling = split_linear(pde)
    found: set[str] = set()
    for field in pde.fields:
        for part, kind in ((diagonal[field], "diagonal"), (coupling[field], "coupling")):
            for deriv, coef in part.items():
                read = coefficient_parameters(coef) & names
                if not read:
                    continue
                name = sorted(read)[0]
                why = None
                if kind == "coupling":
                    why = f"it is a coefficient of {deriv} coupling fields in the equation of {field!r}"
                elif field in pde.constraints:
                    why = f"it is a coefficient of the constraint field {field!r}"
                elif pde.second_order:
                    why = f"PDE {pde.name!r} has second_order fields (a block exponential part)"
                elif pde.forcing is not None:
                    why = f"PDE {pde.name!r} has forcing terms, transformed once with the host values"
                if why:
                    raise ValueError(f"trainable parameter {name!r} of PDE {pde.name!r} is in a linear term "
                                     f"({deriv} in the equation of {field!r}) whose ETDRK4 coefficients are "
                                     f"computed on the host: {why}; use stepper: mol to train it")
                found |= read
    return tuple(sorted(found))


def _traced_exponential(pde: PDE, grid: FourierGrid, dt: float, dtype, contour_points: int = 32) -> tuple:
    """The six ETDRK4 coefficients ``(e, e2, q, f1, f2, f3)`` of ``pde``'s diagonal linear
    part, computed in traced code (gradients reach the coefficients' parameters) by the
    Kassam–Trefethen contour integrals of :class:`~pdejax.spectral.ETDRK4`."""
    complex_dtype = jnp.result_type(dtype, jnp.complex64)
    diagonal, _ = split_linear(pde)
    shape = grid.dealias_mask().shape
    rows, real = [], True
    for field in pde.evolving:
        sym = jnp.zeros(shape, complex_dtype)
        for deriv, coef in diagonal[field].items():
            factor = grid.derivative_factor(dict(parse_name(deriv, pde.fields, pde.domain.coords)[1]), np.float64)
            real = real and bool(np.all(np.imag(factor) == 0))
            sym = sym + coefficient_value(coef, pde.params) * jnp.asarray(factor, complex_dtype)
        rows.append(sym)
    lh = dt * jnp.stack(rows)
    if real:  # the upper half circle suffices; the coefficients are the real parts
        r = np.exp(1j * np.pi * (np.arange(1, contour_points + 1) - 0.5) / contour_points)
    else:
        r = np.exp(2j * np.pi * (np.arange(1, 2 * contour_points + 1) - 0.5) / (2 * contour_points))
    lr = lh[..., None] + jnp.asarray(r, complex_dtype)
    mean = lambda z: jnp.mean(z, axis=-1)  # noqa: E731
    coefs = [jnp.exp(lh), jnp.exp(lh / 2), dt * mean((jnp.exp(lr / 2) - 1) / lr),
             dt * mean((-4 - lr + jnp.exp(lr) * (4 - 3 * lr + lr**2)) / lr**3),
             dt * mean((2 + lr + jnp.exp(lr) * (-2 + lr)) / lr**3),
             dt * mean((-4 - 3 * lr - lr**2 + jnp.exp(lr) * (4 - lr)) / lr**3)]
    return tuple(jnp.real(c).astype(dtype) if real else c for c in coefs)
