"""The explicit part ``N̂(v̂, t)`` of a PDE's ETDRK4 stepper on a periodic Fourier grid.

Everything about the transforms is decided once, from the definition, when the stepper
is built (:func:`spectral_terms`), so that a stage does exactly this and nothing more:

1. one batched inverse FFT of the spectra that the terms read, each formed in Fourier space
   as a constant times the state (a derivative ``(ik)^n``, and for a constraint field such
   as a stream function its solve ``ψ̂ = -ŵ / Δ̂`` folded into that constant);
2. the pointwise terms on the grid: ``nonlinear``, a time-dependent ``forcing`` and the
   ``extra`` hook (summed per field, one array each), and each flux component;
3. one batched forward FFT of those arrays, then in Fourier space: dealiasing, ``ik`` for
   the flux components, the time-independent forcing (transformed when the stepper was
   built) and the linear terms coupling fields (constant coefficients: never on the grid).

So Burgers or Kuramoto–Sivashinsky written with the flux ``-u²/2`` cost one inverse and one
forward transform per stage (8 per ETDRK4 step); written as ``-u u_x`` they cost three
(``u`` and ``u_x`` back, the product forward: 12 per step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex

from ..spectral import FourierGrid
from .base import PDE
from .fields import DerivativeKey, Fields, RecordingFields, parse_name

ExtraFn = Callable[[Fields], Mapping[str, Any]]


def split_linear(pde: PDE) -> tuple[dict, dict]:
    """``(diagonal, explicit)``: per field, its linear terms in the exponential part (its
    terms in itself, or those named by ``pde.exponential``) and the others (terms in other
    fields, and terms in itself left explicit), evaluated in Fourier space."""
    diagonal: dict[str, dict] = {f: {} for f in pde.fields}
    coupling: dict[str, dict] = {f: {} for f in pde.fields}
    chosen = pde.exponential or {}
    for field, terms in pde.linear.items():
        for deriv, coef in terms.items():
            source = parse_name(deriv, pde.fields, pde.domain.coords)[0]
            exponential = source == field and (field not in chosen or deriv in chosen[field])
            (diagonal if exponential else coupling)[field][deriv] = coef
    return diagonal, coupling


def symbol(pde: PDE, grid: FourierGrid, terms: dict) -> np.ndarray:
    """Fourier symbol of a sum of linear terms on the host (complex128, broadcast to the
    ``rfftn`` shape): the PDE's coefficients must be concrete numbers here."""
    shape = grid.dealias_mask().shape
    sym = np.zeros(shape, np.complex128)
    for deriv, coef in terms.items():
        orders = dict(parse_name(deriv, pde.fields, pde.domain.coords)[1])
        sym = sym + float(pde.coefficient(coef)) * grid.derivative_factor(orders, np.float64)
    return sym


def _in_terms_of_state(pde: PDE, grid: FourierGrid) -> dict[str, list[tuple[int, np.ndarray | None]]]:
    """Each field's spectrum as ``Σ_i c_i v̂_i`` over the evolving fields: ``[(i, c_i)]``
    (``c_i`` None: an evolving field, itself).

    A constraint ``0 = S ĉ + Σ_j K_j v̂_j`` gives ``ĉ = -Σ_j (K_j / S) v̂_j`` where ``S ≠ 0``
    (modes with ``S = 0``, such as the mean of a stream function, are 0).
    """
    evolving = {f: i for i, f in enumerate(pde.evolving)}
    out: dict[str, list[tuple[int, np.ndarray | None]]] = {f: [(i, None)] for f, i in evolving.items()}
    if not pde.constraints:
        return out
    rec = RecordingFields(pde.fields, pde.domain.coords, {c: jnp.zeros(()) for c in pde.domain.point_names})
    explicit = set(pde.nonlinear_terms(rec)) | set(pde.flux_terms(rec)) | set(pde.forcing_terms(rec))
    if explicit & set(pde.constraints):
        raise ValueError(f"{pde.name}: constraint fields {sorted(explicit & set(pde.constraints))} have "
                         "nonlinear, flux or forcing terms; a spectral solver needs constraint equations that "
                         "are linear and unforced")
    diagonal, coupling = split_linear(pde)
    for c in pde.constraints:
        sym = symbol(pde, grid, diagonal[c])
        inverse = np.where(np.abs(sym) > 0, -1 / np.where(np.abs(sym) > 0, sym, 1), 0)
        sources: dict[int, np.ndarray] = {}
        for deriv, coef in coupling[c].items():
            src = parse_name(deriv, pde.fields, pde.domain.coords)[0]
            if src not in evolving:
                raise ValueError(f"{pde.name}: constraint {c!r} couples to constraint {src!r}; "
                                 "only couplings to evolving fields are supported")
            i = evolving[src]
            sources[i] = sources.get(i, 0) + inverse * symbol(pde, grid, {deriv: coef})
        out[c] = sorted(sources.items())
    return out


def _compact(a: np.ndarray | None, real_dtype, complex_dtype) -> Array | None:
    """A host coefficient as a device array no larger than it needs to be: a scalar when
    constant, real when its imaginary part is zero (less memory read per stage)."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.size and np.all(a == a.reshape(-1)[0]):
        a = a.reshape(-1)[0]
    if np.all(np.imag(a) == 0):
        return jnp.asarray(np.real(a), real_dtype)
    return jnp.asarray(a, complex_dtype)


def _linear_map(parts: list[tuple[int, np.ndarray | None]], factor: np.ndarray | None,
                real_dtype, complex_dtype) -> tuple[tuple[int, ...], tuple]:
    """``factor · Σ_i c_i v̂_i`` as (sources, ``(factor, c_i)`` pairs), ``None`` for a factor
    of 1. The factor (a derivative: broadcastable per axis) and ``c_i`` (e.g. a constraint
    solve, full size but often real) stay separate, so each stage reads little memory."""
    sources, coefs = [], []
    for i, c in parts:
        sources.append(i)
        coefs.append((_compact(factor, real_dtype, complex_dtype), _compact(c, real_dtype, complex_dtype)))
    return tuple(sources), tuple(coefs)


def _apply(sources: tuple[int, ...], coefs: tuple, v_hat: Array) -> Array:
    out = None
    for i, (factor, c) in zip(sources, coefs):
        term = v_hat[i] if c is None else c * v_hat[i]
        term = term if factor is None else factor * term
        out = term if out is None else out + term
    return out


class SpectralTerms(eqx.Module):
    """``N̂(v̂, t)``: the explicit part of :func:`~pdejax.pde.etdrk4_stepper` (see the
    module docstring for what a stage computes). Build it with :func:`spectral_terms`.

    A pytree: the PDE's ``params`` and the ``extra`` term's parameters are its leaves, so
    gradients flow to them through a rollout.
    """

    pde: PDE
    extra: Any
    grid: FourierGrid
    coordinates: dict[str, Array]
    forcing_hat: Array | None
    request_coefs: tuple
    coupling_coefs: tuple
    output_factors: tuple
    aligned_factors: Array | None
    self_coupling: Array | None
    requests: tuple[DerivativeKey, ...] = eqx.field(static=True)
    request_sources: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    coupling_sources: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    outputs: tuple[tuple[str, str | None], ...] = eqx.field(static=True)
    time_dependent_forcing: bool = eqx.field(static=True)
    dtype: Any = eqx.field(static=True)
    fft_calls: str = eqx.field(static=True, default="batched")

    @property
    def transforms_per_stage(self) -> tuple[int, int]:
        """``(inverse, forward)``: the single-field FFTs of one evaluation."""
        return len(self.requests), len(self.outputs)

    def grid_terms(self, v_hat: Array, t: Array | float) -> tuple[list[Array], Fields]:
        """The arrays of ``outputs`` on the grid, in order, and the fields they were computed from."""
        pde, grid = self.pde, self.grid
        values: dict[DerivativeKey, Array] = {}
        if self.requests:
            spectra = [_apply(s, c, v_hat) for s, c in zip(self.request_sources, self.request_coefs)]
            if self.fft_calls == "per_field":
                physical = [jnp.fft.irfftn(x, s=grid.sizes, axes=grid.axes) for x in spectra]
            else:
                physical = jnp.fft.irfftn(jnp.stack(spectra), s=grid.sizes, axes=grid.axes)
            values = dict(zip(self.requests, physical))
        at = dict(self.coordinates)
        if pde.evolution:
            at["t"] = jnp.asarray(t, self.dtype)
        f = Fields(pde.fields + pde.velocities, pde.domain.coords, values.__getitem__, at)
        pointwise: dict[str, Any] = {}
        parts = [pde.nonlinear_terms(f)]
        if self.time_dependent_forcing:
            parts.append(pde.forcing_terms(f))
        if self.extra is not None:
            parts.append(dict(self.extra(f)))
        for part in parts:
            for k, v in part.items():
                pointwise[k] = v if k not in pointwise else pointwise[k] + v
        flux = pde.flux_terms(f) if pde.flux is not None else {}
        zero = jnp.zeros(grid.sizes, self.dtype)
        arrays = []
        for field, coord in self.outputs:
            value = pointwise.get(field, zero) if coord is None else flux.get(field, {}).get(coord, zero)
            arrays.append(jnp.broadcast_to(value, grid.sizes).astype(self.dtype))
        return arrays, f

    def __call__(self, v_hat: Complex[Array, "evolving *rfft"], t: Array | float) -> Complex[Array, "evolving *rfft"]:
        arrays, _ = self.grid_terms(v_hat, t)
        axes = self.grid.axes
        if not arrays:
            transformed = None
        elif self.fft_calls == "per_field":
            transformed = jnp.stack([jnp.fft.rfftn(a, axes=axes) for a in arrays])
        else:
            transformed = jnp.fft.rfftn(jnp.stack(arrays), axes=axes)
        if self.aligned_factors is not None:
            # One output per evolving field, in order: one elementwise expression of the
            # whole stack, which XLA fuses into the stage arithmetic that reads it.
            out = self.aligned_factors * transformed
            if self.forcing_hat is not None:
                out = out + self.forcing_hat
            if self.self_coupling is not None:  # explicit terms of each field in itself only
                out = out + self.self_coupling * v_hat
            elif any(self.coupling_sources):
                out = out + jnp.stack([_apply(s, c, v_hat) if s else jnp.zeros_like(v_hat[j])
                                       for j, (s, c) in enumerate(zip(self.coupling_sources, self.coupling_coefs))])
            return out
        out = []
        for j, field in enumerate(self.pde.evolving):
            total = None
            for o, (name, _) in enumerate(self.outputs):
                if name == field:
                    term = self.output_factors[o] * transformed[o]
                    total = term if total is None else total + term
            if self.forcing_hat is not None:
                total = self.forcing_hat[j] if total is None else total + self.forcing_hat[j]
            if self.coupling_sources[j]:
                coupled = _apply(self.coupling_sources[j], self.coupling_coefs[j], v_hat)
                total = coupled if total is None else total + coupled
            out.append(jnp.zeros_like(v_hat[j]) if total is None else total)
        return jnp.stack(out)


FFT_CALLS = ("auto", "batched", "per_field")


def fft_calls_for(grid: FourierGrid, fft_calls: str = "auto") -> str:
    """``"batched"`` (one FFT call per stage and direction, over a leading field axis) or
    ``"per_field"`` (one call per field: independent operations that XLA's CPU runtime
    runs concurrently on several cores). ``"auto"``: per field on a CPU backend for grids
    of at least 2^15 points, where the transforms are long enough to gain from running
    side by side (measured in ``scripts/bench/spectral.py``), batched otherwise (GPUs
    prefer one batched call)."""
    if fft_calls not in FFT_CALLS:
        raise ValueError(f"fft_calls = {fft_calls!r}; valid: {', '.join(FFT_CALLS)}")
    if fft_calls != "auto":
        return fft_calls
    large = math.prod(grid.sizes) >= 2**15
    return "per_field" if large and jax.default_backend() == "cpu" else "batched"


def spectral_terms(pde: PDE, grid: FourierGrid, *, dealias: str | float | bool = "2/3", dtype=None,
                   extra: ExtraFn | None = None, fft_calls: str = "auto") -> SpectralTerms:
    """The explicit part ``N̂(v̂, t)`` of ``pde`` (first order in time) on ``grid``.

    Args:
        dealias: the rule of :meth:`~pdejax.spectral.FourierGrid.dealias_mask`, applied to
            the terms evaluated on the grid and to the forcing (not to the linear couplings).
        dtype: real dtype of the state (default: JAX's default float).
        extra: an extra right-hand-side term ``extra(f) -> {field: value}`` evaluated on the
            grid at every stage, from the same :class:`~pdejax.pde.Fields` as the PDE's own
            terms (it may read ``f.u``, ``f.u_x``, ``f.x``, ``f.t``): the hook for a learned
            correction. An ``eqx.Module`` keeps its parameters trainable.
        fft_calls: ``"auto"``, ``"batched"`` or ``"per_field"`` (see :func:`fft_calls_for`);
            the same transforms either way, only how they are issued.
    """
    if grid.coords != pde.domain.coords:
        raise ValueError(f"grid coordinates {grid.coords} differ from the PDE's {pde.domain.coords}")
    dtype = jnp.dtype(dtype if dtype is not None else jnp.zeros(()).dtype)
    complex_dtype = np.result_type(dtype, np.complex64)
    mask = grid.dealias_mask(dealias)
    names = pde.fields + pde.velocities
    coordinates = dict(zip(grid.coords, grid.mesh(dtype)))
    at = dict(coordinates)
    if pde.evolution:
        at["t"] = jnp.asarray(pde.domain.time[0], dtype)

    # One recording pass over every term finds what is read and what is produced.
    rec = RecordingFields(names, pde.domain.coords, at, dtype=dtype)
    pointwise = set(pde.nonlinear_terms(rec))
    flux = pde.flux_terms(rec)
    forcing_rec = RecordingFields(names, pde.domain.coords, at, dtype=dtype)
    forcing = pde.forcing_terms(forcing_rec)
    if forcing_rec.requested:
        raise ValueError(f"forcing of PDE {pde.name!r} reads {sorted(k for k, _ in forcing_rec.requested)}; forcing "
                         "terms are functions of the coordinates and t only: put terms that read fields in "
                         "nonlinear (or flux)")
    time_dependent = "t" in forcing_rec.coordinates_read
    if time_dependent:
        pointwise |= set(forcing)
    if extra is not None:
        extra_rec = RecordingFields(names, pde.domain.coords, at, shape=grid.sizes, dtype=dtype)
        produced = jax.eval_shape(lambda: {k: jnp.asarray(v) for k, v in dict(extra(extra_rec)).items()})
        unknown = set(produced) - set(pde.evolving)
        if unknown:
            raise ValueError(f"extra terms returned {sorted(unknown)}; valid: the evolving fields {pde.evolving}")
        pointwise |= set(produced)
        rec.requested |= extra_rec.requested
    outputs = [(f, None) for f in pde.evolving if f in pointwise]
    outputs += [(f, c) for f in pde.evolving for c in pde.domain.coords if c in flux.get(f, {})]
    output_factors = tuple(jnp.asarray(mask if c is None else mask * grid.derivative_factor({c: 1}, np.float64),
                                       complex_dtype if c is not None else dtype) for _, c in outputs)

    aligned = None
    if [f for f, _ in outputs] == list(pde.evolving):  # one output per field, in order
        # Pointwise terms only: the one dealiasing mask, broadcast over the fields.
        aligned = output_factors[0] if all(c is None for _, c in outputs) else jnp.stack(output_factors)
    state = _in_terms_of_state(pde, grid)
    requests = tuple(sorted(rec.requested))
    request_maps = tuple(
        _linear_map(state[field], None if not orders else grid.derivative_factor(dict(orders), np.float64),
                    dtype, complex_dtype) for field, orders in requests)
    _, coupling = split_linear(pde)
    coupling_maps = []
    for f in pde.evolving:
        parts: dict[int, np.ndarray] = {}
        for deriv, coef in coupling[f].items():
            src = parse_name(deriv, pde.fields, pde.domain.coords)[0]
            k = symbol(pde, grid, {deriv: coef})
            for i, c in state[src]:
                parts[i] = parts.get(i, 0) + (k if c is None else k * c)
        coupling_maps.append(_linear_map(sorted(parts.items()), None, dtype, complex_dtype))

    # Explicit linear terms of each field in itself only (e.g. a reaction -F u left out of
    # the exponential part): one multiply of the whole state, no per-field stacking.
    self_coupling = None
    if any(s for s, _ in coupling_maps) and all(s in ((), (j,)) for j, (s, _) in enumerate(coupling_maps)):
        parts = []
        for s_j, c_j in coupling_maps:
            factor, c = c_j[0] if s_j else (None, None)
            parts.append(np.asarray(1.0 if factor is None else factor) * np.asarray(0.0 if not s_j else (
                1.0 if c is None else c)))
        shape = np.broadcast_shapes(*(p.shape for p in parts))
        self_coupling = jnp.stack([jnp.broadcast_to(jnp.asarray(p), shape) for p in parts])
        self_coupling = self_coupling.reshape(self_coupling.shape + (1,) * (len(grid.sizes) - len(shape)))
    forcing_hat = None
    if forcing and not time_dependent:
        values = Fields(names, pde.domain.coords, lambda k: None, at)
        terms = pde.forcing_terms(values)
        zero = jnp.zeros(grid.sizes, dtype)
        grid_values = jnp.stack([jnp.broadcast_to(terms.get(f, zero), grid.sizes).astype(dtype) for f in pde.evolving])
        forcing_hat = jnp.fft.rfftn(grid_values, axes=grid.axes) * mask
    return SpectralTerms(pde=pde, extra=extra, grid=grid, coordinates=coordinates, forcing_hat=forcing_hat,
                         request_coefs=tuple(c for _, c in request_maps),
                         coupling_coefs=tuple(c for _, c in coupling_maps), output_factors=output_factors,
                         aligned_factors=aligned, self_coupling=self_coupling,
                         requests=requests, request_sources=tuple(s for s, _ in request_maps),
                         coupling_sources=tuple(s for s, _ in coupling_maps), outputs=tuple(outputs),
                         time_dependent_forcing=time_dependent, dtype=dtype,
                         fft_calls=fft_calls_for(grid, fft_calls))
