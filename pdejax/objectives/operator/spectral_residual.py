"""A PDE's residual in coefficient space (Neural Spectral Methods, Du et al. 2024).

For a solution given by its coefficients ``c`` in a :class:`~pdejax.spectral.TensorBasis`
(Fourier on periodic axes, Chebyshev on the time axis or a Dirichlet one), the residual
``R = u_t - (L u + N(u) + forcing + ∇·flux)`` (or ``L u + N(u) + ...`` for a steady
problem) of the same :class:`~pdejax.pde.PDE` definition that PINNs and the spectral
solvers use is computed as coefficients, never as a grid loss:

- the time derivative and the linear terms ``L``: exact multiplications by the
  coefficient-space derivative matrices (the Fourier symbol, the Chebyshev recurrence);
- ``N``, the forcing and the fluxes: the derivatives they read are synthesised on a
  finer collocation grid, the terms evaluated there, transformed back (fluxes then
  differentiated in coefficient space). ``dealias="exact"`` uses ``2n - 1`` points per axis
  and keeps every coefficient: the product of two series of ``n`` terms is exact, so for
  quadratic terms ``R`` is the residual function itself; ``"3/2"`` is Orszag's rule:
  ``⌈3n/2⌉`` points, truncated back to ``n`` coefficients (the residual projected on the
  solution's basis, alias-free for quadratic terms);
- constraint fields (a stream function: ``0 = Δψ + w``) are solved for in coefficient space
  when their terms in themselves are diagonal there (even derivatives along Fourier axes).

The loss is ``‖R‖² / ∫ w``: the exact mean square of the residual function over the
space(-time) box (Parseval; the Gram matrix of the Chebyshev polynomials, or their
weight ``1/√(1 - t̂²)`` with ``weighted=True``, as the paper's sum of squared coefficients).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ...pde import PDE, Periodic
from ...pde.fields import Fields, RecordingFields, parse_name
from ...spectral import ChebyshevSeries, FourierSeries, TensorBasis

DEALIAS = ("exact", "3/2")


def _finer(series, dealias: str) -> int:
    n = series.size
    m = 2 * n - 1 if dealias == "exact" else math.ceil(3 * n / 2)
    return m + 1 if isinstance(series, FourierSeries) and m % 2 == 0 else m


class SpectralResidual(eqx.Module):
    """The residual of ``pde`` for solutions in ``basis``, as coefficients; ``__call__`` is the loss.

    Args:
        pde: the definition (periodic along Fourier axes; no ``second_order`` fields).
        basis: the solution's basis: ``("t", *space)`` for an evolution problem (time
            first), the spatial coordinates for a steady one.
        dealias: ``"exact"`` or ``"3/2"`` (see the module docstring).
        weighted: the Chebyshev weight in the norm along Chebyshev axes.
        input_basis: the spatial basis of the input fields (``inputs`` of :meth:`residual`),
            which replace PDE parameters of the same names (e.g. a source); ``None``: no inputs.

    Raises:
        ValueError: a definition the coefficient-space residual cannot express (naming why).
    """

    pde: PDE
    basis: TensorBasis = eqx.field(static=True)
    dealias: str = eqx.field(static=True, default="exact")
    weighted: bool = eqx.field(static=True, default=False)
    input_basis: TensorBasis | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        pde, basis = self.pde, self.basis
        space = pde.domain.coords
        expected = (("t",) if pde.evolution else ()) + space
        if basis.coords != expected:
            raise ValueError(f"basis coordinates {basis.coords}; {pde.name!r} needs {expected} (time first)")
        if pde.second_order:
            raise ValueError(f"{pde.name!r} has second_order fields {pde.second_order}: not supported here")
        if self.dealias not in DEALIAS:
            raise ValueError(f"dealias {self.dealias!r}; valid: {', '.join(DEALIAS)}")
        for c, s in zip(basis.coords, basis.series):
            if c == "t" and not isinstance(s, ChebyshevSeries):
                raise ValueError("the time axis needs a Chebyshev series (a Fourier one would make u periodic in t)")
            if c != "t" and isinstance(s, FourierSeries) != isinstance(pde.boundary, Periodic):
                kind = "fourier" if isinstance(pde.boundary, Periodic) else "chebyshev"
                raise ValueError(f"axis {c!r} has a {s.kind} series; {pde.name!r} has boundary "
                                 f"{type(pde.boundary).__name__}: {kind}")
        if self.input_basis is not None and self.input_basis.coords != space:
            raise ValueError(f"input basis coordinates {self.input_basis.coords}; expected {space}")
        self._constraint_symbols()  # raises for constraints it cannot solve

    # -- structure -------------------------------------------------------------------------
    @property
    def space_time(self) -> bool:
        return self.pde.evolution

    def _explicit_terms(self) -> bool:
        pde = self.pde
        return pde.nonlinear is not None or pde.flux is not None or pde.forcing is not None

    def quadrature_basis(self) -> TensorBasis | None:
        """The finer basis on whose nodes ``N``, the forcing and the fluxes are evaluated
        (``None`` for a purely linear definition)."""
        if not self._explicit_terms():
            return None
        nonlinear = self.pde.nonlinear is not None or self.pde.flux is not None
        sizes = [_finer(s, self.dealias) if nonlinear else s.size for s in self.basis.series]
        if self.input_basis is not None:  # inputs such as a source: no fewer points than they have
            for c, s in zip(self.input_basis.coords, self.input_basis.series):
                i = self.basis.axis(c)
                sizes[i] = max(sizes[i], s.size)
        return self.basis.resized(sizes)

    def residual_basis(self) -> TensorBasis:
        """The basis of the residual's coefficients."""
        quad = self.quadrature_basis()
        return quad if quad is not None and self.dealias == "exact" else self.basis

    def _orders(self, deriv: str) -> tuple[str, dict[str, int]]:
        field, orders = parse_name(deriv, self.pde.fields, self.pde.domain.coords)
        return field, dict(orders)

    def _constraint_symbols(self) -> dict[str, np.ndarray]:
        """Per constraint field, the diagonal of its terms in itself in ``basis`` (constant along ``t``)."""
        pde, out = self.pde, {}
        if not pde.constraints:
            return out
        coords = {c: jnp.zeros(()) for c in pde.domain.point_names}
        rec = RecordingFields(pde.fields, pde.domain.coords, coords)
        explicit = set(pde.nonlinear_terms(rec)) | set(pde.flux_terms(rec)) | set(pde.forcing_terms(rec))
        for field in pde.constraints:
            if field in explicit:
                raise ValueError(f"constraint field {field!r} of {pde.name!r} has nonlinear, flux or forcing "
                                 "terms; only linear constraints are solved in coefficient space")
            diag = np.zeros(self.basis.sizes)
            for deriv, coef in pde.linear.get(field, {}).items():
                source, orders = self._orders(deriv)
                if source != field:
                    continue
                term = np.ones(self.basis.sizes) * float(pde.coefficient(coef))
                for c, o in orders.items():
                    i = self.basis.axis(c)
                    d = self.basis.series[i].derivative(o)
                    if not np.allclose(d, np.diag(np.diag(d))):
                        raise ValueError(f"constraint field {field!r}: the term {deriv} is not diagonal in the "
                                         f"{self.basis.series[i].kind} basis along {c!r} (even derivatives "
                                         "along Fourier axes are)")
                    shape = [1] * len(self.basis.sizes)
                    shape[i] = -1
                    term = term * np.diag(d).reshape(shape)
                diag = diag + term
            out[field] = diag
        return out

    # -- evaluation ------------------------------------------------------------------------
    def complete(self, coefs: Float[Array, "evolving *sizes"]) -> Float[Array, "fields *sizes"]:
        """All fields' coefficients from the evolving ones: constraint fields solved for
        (their modes where the symbol vanishes, such as a stream function's mean, are 0)."""
        pde = self.pde
        if not pde.constraints:
            return coefs
        evolving = {f: coefs[i] for i, f in enumerate(pde.evolving)}
        out = dict(evolving)
        for field, diag in self._constraint_symbols().items():
            rhs = jnp.zeros_like(coefs[0])
            for deriv, coef in pde.linear.get(field, {}).items():
                source, orders = self._orders(deriv)
                if source != field:
                    if source not in evolving:
                        raise ValueError(f"constraint {field!r} reads constraint {source!r}: not supported")
                    rhs = rhs + pde.coefficient(coef) * self.basis.derivative(evolving[source], orders)
            inverse = np.where(diag != 0, -1.0 / np.where(diag != 0, diag, 1.0), 0.0)
            out[field] = rhs * jnp.asarray(inverse, coefs.dtype)
        return jnp.stack([out[f] for f in pde.fields])

    def _with_inputs(self, quad: TensorBasis, inputs: Mapping[str, Array] | None, dtype) -> PDE:
        if not inputs:
            return self.pde
        unknown = sorted(set(inputs) - set(self.pde.params))
        if unknown or self.input_basis is None:
            raise ValueError(f"inputs {unknown or sorted(inputs)} are not parameters of {self.pde.name!r} "
                             f"({sorted(self.pde.params)}) or no input_basis was given")
        space = [quad.coordinates()[quad.axis(c)] for c in self.input_basis.coords]
        values = {}
        for name, c in inputs.items():
            v = self.input_basis.evaluate(c.astype(dtype), space)
            values[name] = v[None] if self.space_time else v  # constant in time
        return eqx.tree_at(lambda p: p.params, self.pde, {**self.pde.params, **values})

    def residual(self, coefs: Float[Array, "evolving *sizes"],
                 inputs: Mapping[str, Array] | None = None) -> Float[Array, "evolving *rsizes"]:
        """Residual coefficients in :meth:`residual_basis`, one row per evolving field:
        ``u_t - (L u + N)`` (evolution) or ``L u + N`` (steady).

        Args:
            coefs: coefficients of the evolving fields in ``basis``.
            inputs: ``{parameter: coefficients in input_basis}`` (a source field...).
        """
        pde, basis = self.pde, self.basis
        full = self.complete(coefs)
        index = {f: i for i, f in enumerate(pde.fields)}
        quad, target = self.quadrature_basis(), self.residual_basis()
        dtype = coefs.dtype
        rows = []
        explicit: dict[str, Array] = {}
        if quad is not None:
            explicit = self._explicit(full, quad, target, inputs, index)
        for field in pde.evolving:
            r = jnp.zeros(basis.sizes, dtype)
            if self.space_time:
                r = basis.derivative(full[index[field]], {"t": 1})
            for deriv, coef in pde.linear.get(field, {}).items():
                source, orders = self._orders(deriv)
                r = r - pde.coefficient(coef) * basis.derivative(full[index[source]], orders)
            r = basis.embed(r, target)
            if field in explicit:
                r = r - explicit[field]
            rows.append(r if self.space_time else -r)  # steady: R = L u + N (0 = L u + N)
        return jnp.stack(rows)

    def _explicit(self, full: Array, quad: TensorBasis, target: TensorBasis, inputs, index) -> dict[str, Array]:
        """``N + forcing + ∇·flux`` per field as coefficients in ``target`` (from ``quad``'s nodes)."""
        pde_i = self._with_inputs(quad, inputs, full.dtype)
        space = self.pde.domain.coords

        def lookup(key):
            field, orders = key
            return quad.from_coefficients(self.basis.embed(self.basis.derivative(full[index[field]], dict(orders)),
                                                           quad))

        coordinates = dict(zip(quad.coords, quad.mesh(full.dtype)))
        f = Fields(pde_i.fields, space, lookup, coordinates)
        out: dict[str, Array] = {}
        for part in (pde_i.nonlinear_terms(f), pde_i.forcing_terms(f)):
            for k, v in part.items():
                v = jnp.broadcast_to(jnp.asarray(v, full.dtype), quad.sizes)
                out[k] = v if k not in out else out[k] + v
        coefs = {k: quad.embed(quad.to_coefficients(v), target) for k, v in out.items()}
        for field, components in pde_i.flux_terms(f).items():
            for c, flux in components.items():
                flux = jnp.broadcast_to(jnp.asarray(flux, full.dtype), quad.sizes)
                d = quad.embed(quad.derivative(quad.to_coefficients(flux), {c: 1}), target)
                coefs[field] = d if field not in coefs else coefs[field] + d
        return coefs

    def __call__(self, coefs: Float[Array, "evolving *sizes"], inputs: Mapping[str, Array] | None = None
                 ) -> Float[Array, ""]:
        """``Σ_fields ‖R‖² / ∫ w``: the exact mean square of the residual function."""
        target = self.residual_basis()
        r = self.residual(coefs, inputs)
        return jnp.sum(target.norm2(r, self.weighted)) / target.measure(self.weighted)
