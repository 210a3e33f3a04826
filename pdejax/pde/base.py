"""The PDE definition: written once, evaluated by autodiff at points or by FFT on grids."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp

from .coefficients import Coefficient, check_coefficient, coefficient_value
from .conditions import AbstractBoundary, Dirichlet
from .domain import Box
from .fields import DerivativeKey, Fields, RecordingFields, parse_name

NonlinearFn = Callable[[Fields, Mapping[str, Any]], Mapping[str, Any]]
FluxFn = Callable[[Fields, Mapping[str, Any]], Mapping[str, Mapping[str, Any]]]


class PDE(eqx.Module):
    """A semilinear PDE ``∂_t u = L u + N(u)`` (or ``0 = L u + N(u)`` without time, or
    ``∂_tt u = L u + N(u)`` for ``second_order`` fields), where
    ``N(u) = nonlinear(u) + ∇·flux(u) + forcing(x, t)``.

    ``L`` is a sum of constant-coefficient derivative terms, given as data so that a
    spectral solver can turn it into a Fourier symbol; ``N`` is plain JAX code reading
    values and derivatives by name from a :class:`~pdejax.pde.Fields` object, so that a
    PINN evaluates it by forward-mode autodiff at single points and a spectral solver
    by FFT on a whole grid.

    Args:
        name: identifier used in configs and run summaries.
        fields: names of the unknown fields, e.g. ``("u",)``.
        domain: the space(-time) box.
        params: named scalar parameters, referenced by coefficients and ``nonlinear``.
        linear: ``{field: {derivative: coefficient}}``, e.g. ``{"u": {"u_xx": "nu"}}``; a
            coefficient is a number or an arithmetic expression of ``params``
            (``"r - 1"``, ``"-(F + k)"``, ``"2*nu"``, ``"nu**2"``; see
            :mod:`pdejax.pde.coefficients`), the same value for every solver.
        nonlinear: ``nonlinear(f, params) -> {field: value}``, e.g.
            ``lambda f, p: {"u": -f.u * f.u_x}``; fields left out contribute zero.
        flux: terms in conservative form, ``flux(f, params) -> {field: {coord: F}}``
            meaning ``∂_coord F`` in the equation of ``field``, e.g. Burgers'
            ``-u u_x = ∂x(-u²/2)`` as ``lambda f, p: {"u": {"x": -f.u**2 / 2}}``. The
            spectral solver transforms ``F`` and differentiates it in Fourier space (one
            inverse and one forward transform per stage for ``u u_x``, instead of two
            inverse ones for ``u`` and ``u_x``); a PINN differentiates ``F`` by the chain
            rule from the derivatives it already has; the method of lines differentiates
            ``F`` on its grid.
        forcing: terms that depend on the coordinates and time only,
            ``forcing(f, params) -> {field: value}`` reading ``f.x``, ``f.t``... (reading a
            field raises a ValueError). A spectral solver transforms a forcing that does
            not read ``f.t`` once, when the stepper is built, so it never leaves Fourier
            space; one that reads ``f.t`` is evaluated at the stage times.
        initial: ``initial(x, params) -> {field: value}`` at one spatial point ``x`` of
            shape ``(dim,)``; required for evolution problems (with ``u_t`` too for a
            ``second_order`` field ``u``).
        boundary: a boundary condition (``Dirichlet``, ``Periodic``).
        second_order: fields second order in time: for ``u`` in it, the equation of ``u``
            reads ``u_tt = L u + N(u)``, the terms may read the velocity ``f.u_t`` (and its
            spatial derivatives ``f.u_t_x``), and ``initial`` gives ``u_t`` as well as ``u``.
            The solvers reduce the problem to first order in time
            (:func:`~pdejax.pde.first_order_system`: fields ``u`` and ``u_t``); a PINN
            uses ``u_tt`` by autodiff.
        constraints: fields without a time derivative in an evolution problem: their
            equation reads ``0 = L u + N(u)`` (e.g. the stream function ``psi`` with
            ``0 = psi_xx + psi_yy + w`` in 2D Navier–Stokes). A spectral solver eliminates
            them (their equation must be linear, with a diagonal symbol in the field
            itself); a PINN learns them as extra outputs. Initial conditions are not
            given for them.
        exponential: the split of an exponential integrator (ETDRK4), as Dedalus puts its
            implicit/explicit split in the equation: ``{field: [terms]}`` names the linear
            terms of ``field`` in itself that the exponential part integrates exactly; its
            other linear terms are explicit (still in Fourier space, never transformed).
            Fields not listed keep every term in themselves in the exponential part (the
            default for all fields). E.g. Gray–Scott's non-stiff reaction ``-F u`` is more
            accurate explicit, its diffusion exponential: ``{"u": ["u_xx"], "v": ["v_xx"]}``.
            Other solvers ignore it.
        exact: optional closed-form solution on the host,
            ``exact(points, params) -> values`` with points ``(N, dim + 1)`` and values
            ``(N, len(fields))`` (NumPy, float64); used as the evaluation reference.

    Example:
        >>> import jax.numpy as jnp
        >>> from pdejax.pde import Box, Dirichlet
        >>> burgers = PDE(
        ...     name="burgers", fields=("u",), domain=Box(x=(-1, 1), t=(0, 1)),
        ...     params={"nu": 0.01 / jnp.pi},
        ...     linear={"u": {"u_xx": "nu"}},
        ...     nonlinear=lambda f, p: {"u": -f.u * f.u_x},
        ...     initial=lambda x, p: {"u": -jnp.sin(jnp.pi * x[0])},
        ...     boundary=Dirichlet(0.0),
        ... )
        >>> burgers.evolving, burgers.domain.point_names
        (('u',), ('x', 't'))
        >>> burgers.initial_values(jnp.array([0.5, 0.0])).tolist()  # u0 at x = 0.5
        [-1.0]
    """

    name: str = eqx.field(static=True)
    fields: tuple[str, ...] = eqx.field(static=True)
    domain: Box = eqx.field(static=True)
    params: dict[str, Any]
    linear_spec: tuple[tuple[str, tuple[tuple[str, Coefficient], ...]], ...] = eqx.field(static=True)
    nonlinear: NonlinearFn | None = eqx.field(static=True)
    flux: FluxFn | None = eqx.field(static=True)
    forcing: NonlinearFn | None = eqx.field(static=True)
    initial: Callable[..., Mapping[str, Any]] | None = eqx.field(static=True)
    boundary: AbstractBoundary = eqx.field(static=True)
    constraints: tuple[str, ...] = eqx.field(static=True)
    second_order: tuple[str, ...] = eqx.field(static=True)
    exponential_spec: tuple[tuple[str, tuple[str, ...]], ...] | None = eqx.field(static=True)
    exact: Callable[..., Any] | None = eqx.field(static=True)

    def __init__(self, *, name: str, fields: tuple[str, ...], domain: Box,
                 params: Mapping[str, Any] | None = None,
                 linear: Mapping[str, Mapping[str, Coefficient]] | None = None,
                 nonlinear: NonlinearFn | None = None,
                 flux: FluxFn | None = None,
                 forcing: NonlinearFn | None = None,
                 initial: Callable[..., Mapping[str, Any]] | None = None,
                 boundary: AbstractBoundary = Dirichlet(0.0),
                 constraints: tuple[str, ...] = (),
                 second_order: tuple[str, ...] = (),
                 exponential: Mapping[str, Sequence[str]] | None = None,
                 exact: Callable[..., Any] | None = None):
        self.name, self.fields, self.domain = name, tuple(fields), domain
        self.second_order = tuple(second_order)
        self._check_second_order(tuple(constraints))
        self.params = dict(params or {})
        linear = dict(linear or {})
        for field, terms in linear.items():
            if field not in self.fields:
                raise ValueError(f"linear term for unknown field {field!r}; fields are {self.fields}")
            for deriv, coef in terms.items():
                parse_name(deriv, self.fields + self.velocities, domain.coords)  # raises on a bad name
                check_coefficient(coef, self.params, f" of {deriv} in the equation of {field!r} (PDE {name!r})")
        self.linear_spec = tuple((f, tuple(t.items())) for f, t in linear.items())
        if domain.time is not None and initial is None:
            raise ValueError(f"PDE {name!r} evolves in time and needs an initial condition")
        self.nonlinear, self.initial, self.boundary, self.exact = nonlinear, initial, boundary, exact
        self.flux, self.forcing = flux, forcing
        self.constraints = tuple(constraints)
        unknown = [c for c in self.constraints if c not in self.fields]
        if unknown:
            raise ValueError(f"constraints {unknown} are not fields of {name!r}; fields are {self.fields}")
        if not self.evolving:
            raise ValueError(f"PDE {name!r}: every field is a constraint; leave constraints empty for steady problems")
        self.exponential_spec = None if exponential is None else self._check_exponential(exponential, linear)

    def _check_exponential(self, exponential, linear) -> tuple[tuple[str, tuple[str, ...]], ...]:
        out = []
        for field, terms in exponential.items():
            if field not in self.evolving or field in self.second_order:
                raise ValueError(f"exponential names {field!r}; valid: evolving fields first order in time "
                                 f"{tuple(f for f in self.evolving if f not in self.second_order)} of {self.name!r}")
            if isinstance(terms, str):
                raise ValueError(f"exponential[{field!r}] = {terms!r}; expected a list of term names like [{terms!r}]")
            own = [d for d in linear.get(field, {}) if parse_name(d, self.fields + self.velocities,
                                                                self.domain.coords)[0] == field]
            wrong = [d for d in terms if d not in own]
            if wrong:
                raise ValueError(f"exponential[{field!r}] names {wrong}; valid: the linear terms of {field!r} in "
                                 f"itself, {own}")
            out.append((field, tuple(terms)))
        return tuple(out)

    @property
    def exponential(self) -> dict[str, tuple[str, ...]] | None:
        """The exponential split (see the class docstring), or ``None`` for the default."""
        return None if self.exponential_spec is None else dict(self.exponential_spec)

    def _check_second_order(self, constraints: tuple[str, ...]) -> None:
        wrong = [f for f in self.second_order if f not in self.fields or f in constraints]
        if wrong:
            raise ValueError(f"second_order {wrong} of {self.name!r} must be evolving fields of {self.fields} "
                             f"(not constraints {constraints})")
        if self.second_order and self.domain.time is None:
            raise ValueError(f"PDE {self.name!r} declares second_order={self.second_order} but its domain has "
                             "no time interval; give the Box a t=(t0, t1)")
        clash = [v for v in self.velocities if v in self.fields]
        if clash:
            raise ValueError(f"{clash} name the velocities of second_order fields of {self.name!r}; "
                             f"rename those fields of {self.fields}")

    @property
    def velocities(self) -> tuple[str, ...]:
        """Names of the velocities ``u_t`` of the ``second_order`` fields (empty if none)."""
        return tuple(f"{f}_t" for f in self.second_order)

    @property
    def evolution(self) -> bool:
        """True for ``∂_t u = ...`` problems (the domain has a time interval)."""
        return self.domain.time is not None

    @property
    def evolving(self) -> tuple[str, ...]:
        """Fields with a time derivative (all fields of a steady problem)."""
        return tuple(f for f in self.fields if f not in self.constraints)

    @property
    def linear(self) -> dict[str, dict[str, Coefficient]]:
        return {f: dict(t) for f, t in self.linear_spec}

    def coefficient(self, coef: Coefficient) -> Any:
        """The value of a linear coefficient: a number, or an expression of ``params``."""
        return coefficient_value(coef, self.params)

    def linear_terms(self, f: Fields) -> dict[str, Any]:
        """``L u`` per field (fields without linear terms are absent)."""
        out: dict[str, Any] = {}
        for field, terms in self.linear_spec:
            for deriv, coef in terms:
                term = self.coefficient(coef) * f[deriv]
                out[field] = term if field not in out else out[field] + term
        return out

    def nonlinear_terms(self, f: Fields) -> dict[str, Any]:
        """``N(u)`` per field (fields left out by ``nonlinear`` are absent)."""
        if self.nonlinear is None:
            return {}
        out = dict(self.nonlinear(f, self.params))
        unknown = set(out) - set(self.fields)
        if unknown:
            raise ValueError(f"nonlinear terms of {self.name!r} returned unknown fields {sorted(unknown)}")
        return out

    def flux_terms(self, f: Fields) -> dict[str, dict[str, Any]]:
        """The fluxes ``{field: {coord: F}}`` (``∂_coord F`` in the equation of ``field``)."""
        if self.flux is None:
            return {}
        out = {k: dict(v) for k, v in self.flux(f, self.params).items()}
        unknown = set(out) - set(self.fields)
        if unknown:
            raise ValueError(f"flux terms of {self.name!r} returned unknown fields {sorted(unknown)}; "
                             f"fields are {self.fields}")
        for field, components in out.items():
            wrong = set(components) - set(self.domain.coords)
            if wrong:
                raise ValueError(f"flux of {field!r} in {self.name!r} has components along {sorted(wrong)}; "
                                 f"valid: the spatial coordinates {self.domain.coords}")
        return out

    def forcing_terms(self, f: Fields) -> dict[str, Any]:
        """The forcing per field (functions of the coordinates and ``t`` only)."""
        if self.forcing is None:
            return {}
        out = dict(self.forcing(f, self.params))
        unknown = set(out) - set(self.fields)
        if unknown:
            raise ValueError(f"forcing terms of {self.name!r} returned unknown fields {sorted(unknown)}")
        return out

    def rhs(self, f: Fields, divergence: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``L u + N(u)`` for every field (zero where a field has no terms).

        ``divergence`` is ``∇·flux`` per field, computed by the caller's derivative
        provider (autodiff, FFT or a Chebyshev grid: see :func:`~pdejax.pde.grid_rhs` and
        :func:`~pdejax.pde.pointwise_residual`); required when the PDE has ``flux`` terms.
        """
        if self.flux is not None and divergence is None:
            raise ValueError(f"PDE {self.name!r} has flux terms: rhs needs their divergence "
                             "(use pdejax.pde.grid_rhs or pointwise_residual, which compute it)")
        parts = (self.linear_terms(f), self.nonlinear_terms(f), self.forcing_terms(f), dict(divergence or {}))
        zero = f[self.fields[0]] * 0
        out = {}
        for k in self.fields:
            present = [p[k] for p in parts if k in p]
            out[k] = sum(present[1:], present[0]) if present else zero
        return out

    def initial_values(self, x: Any) -> Any:
        """Initial fields at spatial point ``x`` (shape ``(dim,)``) → shape ``(n_fields,)``;
        zero for constraint fields."""
        values = self.initial(x, self.params)
        missing = [k for k in self.evolving + self.velocities if k not in values]
        if missing:
            raise ValueError(f"initial condition of {self.name!r} gives no value for {missing}")
        return jnp.stack([jnp.asarray(values[k] if k in self.evolving else 0, x.dtype) * jnp.ones((), x.dtype)
                          for k in self.fields])

    def initial_velocities(self, x: Any) -> Any:
        """Initial velocities ``u_t`` of the ``second_order`` fields at spatial point ``x``
        (shape ``(dim,)``) → shape ``(len(second_order),)``."""
        if not self.velocities:
            return jnp.zeros((0,), x.dtype)
        values = self.initial(x, self.params)
        return jnp.stack([jnp.asarray(values[v], x.dtype) * jnp.ones((), x.dtype) for v in self.velocities])

    def requested_derivatives(self, coordinates: Mapping[str, Any], dtype=jnp.float32) -> set[DerivativeKey]:
        """Every derivative that ``L``, ``nonlinear`` and ``forcing`` read (not ``flux``: see
        :meth:`flux_requests`), found by one recording pass."""
        rec = RecordingFields(self.fields + self.velocities, self.domain.coords, coordinates, dtype=dtype)
        self.linear_terms(rec)
        self.nonlinear_terms(rec)
        self.forcing_terms(rec)
        return rec.requested | {(k, ()) for k in self.fields}

    def flux_requests(self, coordinates: Mapping[str, Any], dtype=jnp.float32) -> set[DerivativeKey]:
        """Every derivative that ``flux`` reads (empty without flux terms)."""
        rec = RecordingFields(self.fields + self.velocities, self.domain.coords, coordinates, dtype=dtype)
        self.flux_terms(rec)
        return rec.requested
