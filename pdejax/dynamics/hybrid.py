"""Hybrid PDEs: the known terms of a PDE plus a learned term, trained through the solver.

``u_t = L u + N(u) + g_θ(u, u_x, ...)``: :class:`HybridPDE` integrates the known terms of a
:class:`~pdejax.pde.PDE` (its ``linear``, ``nonlinear``, ``flux`` and ``forcing``) together
with a :class:`~pdejax.dynamics.learned_term.LearnedTerm` on the PDE's grid, and may train
some of the PDE's own parameters with it (``trainable``: a viscosity, a reaction rate, a
coefficient field). Two time steppers:

- ``"etdrk4"`` (periodic :class:`~pdejax.spectral.FourierGrid`): fixed steps ``dt``; the
  learned term enters the explicit part ``N̂`` through the stepper's ``extra`` hook, at
  the four stage times, dealiased with the PDE's own terms (fourth order in time). A
  trainable parameter of a ``linear`` term (the exponential part) is supported where that
  term is a field's own (diagonal) term: the ETDRK4 coefficients are then recomputed in
  traced code from the traced symbol (the same contour integrals as on the host).
- ``"mol"`` (method of lines on a Fourier or Chebyshev grid): the grid right-hand side
  ``L u + N(u)`` plus the learned term, both evaluated from one
  :class:`~pdejax.pde.Fields` object, integrated by diffrax with adaptive steps. Every
  parameter may be trained, linear coefficients included.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.errors import ConfigError
from ..pde import PDE, PDEParameters, etdrk4_stepper
from ..pde.grid import grid_divergence, grid_fields
from ..pde.mol import mol_vector_field
from ..pde.second_order import first_order_system
from ..pde.solve import check_initial_shape, from_fourier, to_fourier
from ..spectral import FourierGrid, rollout
from ..spectral.chebyshev import ChebyshevGrid
from .base import DYNAMICS, AbstractDynamics, System
from .hybrid_parameters import _traced_exponential
from .hybrid_parameters import coefficient_parameters as coefficient_parameters
from .hybrid_parameters import exponential_parameters as exponential_parameters
from .hybrid_parameters import pde_parameters as pde_parameters
from .integrate import Integrator
from .learned_term import LearnedTerm, check_inputs, check_targets, learned_term

STEPPERS = ("etdrk4", "mol")
STAGES_PER_STEP = 4  # right-hand-side evaluations of one ETDRK4 step
DEFAULT_TERM = {"name": "mlp", "width": 32, "depth": 2, "activation": "tanh"}


class HybridVectorField(eqx.Module):
    """``f(t, u, args) = L u + N(u) + term(u)`` on a grid, for diffrax (the method of lines).

    The PDE's terms and the learned term read one :class:`~pdejax.pde.Fields` object, so a
    derivative both use is computed once. On a Chebyshev grid with a Dirichlet condition
    the boundary rows are zero (the boundary nodes keep their values).
    """

    pde: PDE
    grid: FourierGrid | ChebyshevGrid
    term: LearnedTerm | None
    holds_boundary: bool = eqx.field(static=True)

    def __call__(self, t, u: Float[Array, "fields *sizes"], args=None) -> Float[Array, "fields *sizes"]:
        pde, grid = self.pde, self.grid
        coordinates = dict(zip(grid.coords, grid.mesh(u.dtype)))
        coordinates["t"] = jnp.asarray(t, u.dtype)
        f = grid_fields(pde, grid, u, coordinates)
        rhs = dict(pde.rhs(f, grid_divergence(pde, grid, f)))
        if self.term is not None:
            for field, value in self.term(f).items():
                rhs[field] = rhs[field] + value
        du = jnp.stack([jnp.broadcast_to(rhs[k], grid.sizes).astype(u.dtype) for k in pde.fields])
        return jnp.where(grid.boundary_mask(), 0, du) if self.holds_boundary else du


class HybridPDE(AbstractDynamics):
    """``u_t = L u + N(u) + term(u)`` on a grid: a PDE's known terms plus a learned term.

    One trajectory per :meth:`solve`; ``jax.vmap`` batches. The state is the grid values
    of the evolving fields, shape ``(n_fields, *grid.sizes)`` (with ``second_order``
    fields, followed by their velocities ``u_t``).

    Args:
        pde: the known physics (its ``params`` hold the values of the trainable ones'
            starting points and of the fixed ones).
        grid: a :class:`~pdejax.spectral.FourierGrid` (both steppers) or a
            :class:`~pdejax.spectral.chebyshev.ChebyshevGrid` (``"mol"``).
        term: the learned term (``None``: none; then only ``parameters`` are trained).
        parameters: trainable entries of ``pde.params`` (applied inside :meth:`solve`).
        stepper: ``"etdrk4"`` or ``"mol"`` (see the module docstring).
        dt: the ETDRK4 step (ignored by ``"mol"``).
        observation_dt: the spacing of the observation times when they are uniform: the
            ETDRK4 path assumes it when ``ts`` is traced (under ``jit``), and then checks
            it at run time (``eqx.error_if``); it must be a whole number of steps ``dt``.
        dealias: the ETDRK4 dealiasing rule (``"2/3"``, ``"1/2"``, ``"none"``, a fraction).
        integrator: the diffrax solve of ``"mol"`` (default ``Integrator()``: tsit5, adaptive).

    Example (Burgers' viscosity known, its advection learned, 4 ETDRK4 steps per frame):
        >>> from pdejax.pde import grid_for, heat, initial_condition
        >>> pde = heat(kappa=0.1, length=2.0)
        >>> grid = grid_for(pde, 32)
        >>> term = learned_term(pde, {"name": "mlp", "width": 8, "depth": 1}, ["u", "u_x"],
        ...                     key=jax.random.key(0), scale=0.1)
        >>> model = HybridPDE(pde, grid, term=term, dt=0.025, observation_dt=0.1)
        >>> ys, stats = model.solve(initial_condition(pde, grid), jnp.linspace(0.0, 0.3, 4))
        >>> ys.shape, int(stats["nfe"])  # 3 frames of 4 steps of 4 stages
        ((4, 1, 32), 48)
    """

    pde: PDE
    grid: FourierGrid | ChebyshevGrid
    term: LearnedTerm | None
    parameters: PDEParameters | None
    stepper: str = eqx.field(static=True)
    dt: float | None = eqx.field(static=True)
    observation_dt: float | None = eqx.field(static=True)
    dealias: Any = eqx.field(static=True)
    host_values: tuple[tuple[str, float], ...] = eqx.field(static=True)
    integrator: Integrator | None
    holds_boundary: bool = eqx.field(static=True)

    def __init__(self, pde: PDE, grid: FourierGrid | ChebyshevGrid, *, term: LearnedTerm | None = None,
                 parameters: PDEParameters | None = None, stepper: str = "etdrk4", dt: float | None = None,
                 observation_dt: float | None = None, dealias: str | float | bool = "2/3",
                 integrator: Integrator | None = None):
        if stepper not in STEPPERS:
            raise ValueError(f"stepper = {stepper!r}; valid: {', '.join(STEPPERS)}")
        if not pde.evolution:
            raise ValueError(f"PDE {pde.name!r} is steady; a hybrid PDE evolves in time")
        if grid.coords != pde.domain.coords:
            raise ValueError(f"grid coordinates {grid.coords} differ from the PDE's {pde.domain.coords}")
        if parameters is not None:
            parameters.apply(pde)  # ValueError naming names that are not params of the PDE
        if term is not None:  # a term built for another PDE: its names must be this one's
            check_inputs(pde, term.inputs)
            check_targets(pde, term.targets)
        self.pde, self.grid, self.term, self.parameters = pde, grid, term, parameters
        self.stepper, self.dealias = stepper, dealias
        self.observation_dt = None if observation_dt is None else float(observation_dt)
        self.host_values, self.integrator, self.holds_boundary = (), None, False
        trained = tuple(parameters.entries) if parameters is not None else ()
        if stepper == "etdrk4":
            if not isinstance(grid, FourierGrid):
                raise ValueError(f"stepper etdrk4 needs a periodic FourierGrid, got {type(grid).__name__}; "
                                 "use stepper: mol on a ChebyshevGrid")
            if dt is None or not dt > 0:
                raise ValueError(f"stepper etdrk4: dt = {dt!r}; expected a positive time step")
            self.dt = float(dt)
            if self.observation_dt is not None:
                self._steps_per(self.observation_dt, "observation_dt")
            linear = exponential_parameters(pde, trained)
            self.host_values = tuple((n, float(pde.params[n])) for n in linear)
            # Build once here, so that a bad PDE, dealias rule or term fails at construction.
            etdrk4_stepper(pde, grid, self.dt, dealias=dealias, extra=term)
        else:
            self.dt = None
            self.holds_boundary = mol_vector_field(pde, grid).holds_boundary  # validates PDE and grid
            self.integrator = Integrator() if integrator is None else integrator
            if self.integrator.kind != "ode":
                raise ValueError(f"stepper mol needs an ODE integrator, got kind {self.integrator.kind!r}")

    def on_grid(self, grid: FourierGrid | ChebyshevGrid) -> HybridPDE:
        """The same model (learned term, parameters, stepper and step) on another grid of the
        same domain: the term is pointwise in local features, so it carries over unchanged
        (zero-shot evaluation at another resolution)."""
        return HybridPDE(self.pde, grid, term=self.term, parameters=self.parameters, stepper=self.stepper,
                         dt=self.dt, observation_dt=self.observation_dt, dealias=self.dealias,
                         integrator=self.integrator)

    def without_term(self) -> HybridPDE:
        """The known terms alone (with the trained parameters): the baseline a learned
        closure is measured against."""
        return HybridPDE(self.pde, self.grid, term=None, parameters=self.parameters, stepper=self.stepper,
                         dt=self.dt, observation_dt=self.observation_dt, dealias=self.dealias,
                         integrator=self.integrator)

    def term_values(self, u: Float[Array, "fields *sizes"], t: float = 0.0) -> Float[Array, "fields *sizes"]:
        """The learned term on the grid state ``u`` at time ``t``, one row per state field
        (zero for fields the term does not target); zeros without a term."""
        if self.term is None:
            return jnp.zeros_like(u)
        pde = first_order_system(self.applied_pde())
        coordinates = dict(zip(self.grid.coords, self.grid.mesh(u.dtype)))
        coordinates["t"] = jnp.asarray(t, u.dtype)
        values = self.term(grid_fields(pde, self.grid, u, coordinates))
        return jnp.stack([jnp.broadcast_to(values[k], self.grid.sizes).astype(u.dtype) if k in values
                          else jnp.zeros(self.grid.sizes, u.dtype) for k in pde.fields])

    @property
    def state_fields(self) -> tuple[str, ...]:
        """The fields of the state, in order (a ``second_order`` field's velocity after the fields)."""
        return first_order_system(self.pde).evolving

    def applied_pde(self) -> PDE:
        """The PDE with the current values of the trainable parameters."""
        return self.pde if self.parameters is None else self.parameters.apply(self.pde)

    def _steps_per(self, interval: float, what: str) -> int:
        ratio = interval / self.dt
        steps = round(ratio)
        if steps < 1 or abs(ratio - steps) > 1e-6 * max(1, steps):
            raise ValueError(f"{what} = {interval!r} is not a whole number of ETDRK4 steps dt = {self.dt!r}; "
                             "choose dt = observation spacing / substeps")
        return steps

    def solve(self, y0: Float[Array, "fields *sizes"], ts: Float[Array, " times"], *,
              key: PRNGKeyArray | None = None) -> tuple[Float[Array, "times fields *sizes"], dict[str, Array]]:
        """``(ys, stats)``: the state at every time of ``ts`` (``ys[0] = y0``), shape
        ``(len(ts), n_fields, *grid.sizes)``, and ``stats["nfe"]``, the right-hand-side
        evaluations (ETDRK4: 4 per step; the method of lines: diffrax's steps times the
        solver's stages).

        ``ts`` must increase; with ``"etdrk4"`` each ``ts[i] - ts[0]`` must be a whole
        number of steps ``dt`` (checked when ``ts`` is concrete: a ValueError naming the
        time; when it is traced, ``ts`` must be uniform with spacing ``observation_dt``,
        checked at run time). ``key`` is unused (deterministic).
        """
        check_initial_shape(y0, (len(self.state_fields), *self.grid.sizes), self.state_fields, "HybridPDE.solve")
        if jnp.ndim(ts) != 1 or jnp.shape(ts)[0] < 1:
            raise ValueError(f"HybridPDE.solve: ts has shape {jnp.shape(ts)}; expected (times,) with times >= 1")
        pde = self.applied_pde()
        if self.stepper == "etdrk4":
            return self._solve_etdrk4(pde, y0, ts)
        return self._solve_mol(pde, y0, ts)

    def _observation_steps(self, ts) -> tuple[int, ...] | None:
        """ETDRK4 steps between consecutive times of a concrete ``ts`` (ValueError naming a
        time that is not a whole number of steps after ``ts[0]``); ``None`` when traced."""
        if isinstance(ts, jax.core.Tracer):
            if self.observation_dt is None:
                raise ValueError("HybridPDE.solve (etdrk4) with traced ts needs observation_dt (the uniform "
                                 "spacing of ts; a model built from a System takes system.dt)")
            return None
        times = np.asarray(ts, np.float64)
        ratio = (times - times[0]) / self.dt
        whole = np.rint(ratio)
        bad = np.flatnonzero(np.abs(ratio - whole) > 1e-6 * np.maximum(1, whole))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"HybridPDE.solve: ts[{i}] = {float(times[i])!r} is not ts[0] + a whole number of ETDRK4 "
                             f"steps dt = {self.dt!r} (ts[{i}] - ts[0] = {ratio[i]:.6g} dt); valid: ts[0] + k dt")
        gaps = np.diff(whole).astype(int)
        if np.any(gaps < 1):
            i = int(np.flatnonzero(gaps < 1)[0]) + 1
            raise ValueError(f"HybridPDE.solve: ts must increase by at least one step dt = {self.dt!r}; "
                             f"ts[{i}] = {float(times[i])!r} follows ts[{i - 1}] = {float(times[i - 1])!r}")
        return tuple(int(g) for g in gaps)

    def etdrk4(self, pde: PDE, dtype) -> Any:
        """The ETDRK4 step of ``pde`` (the PDE with current parameter values) and the learned
        term, ``step(v̂, t) -> v̂(t + dt)`` in Fourier space."""
        linear = dict(self.host_values)
        host = pde if not linear else eqx.tree_at(lambda p: p.params, pde, {**pde.params, **linear})
        step = etdrk4_stepper(host, self.grid, self.dt, dealias=self.dealias, dtype=dtype, extra=self.term)
        if linear:  # the traced parameters: in the explicit terms, and exponential coefficients from them
            step = eqx.tree_at(lambda s: s.nonlinear.pde, step, pde)
            coefs = _traced_exponential(pde, self.grid, self.dt, dtype)
            step = eqx.tree_at(lambda s: (s.e, s.e2, s.q, s.f1, s.f2, s.f3), step, coefs)
        return step

    def _solve_etdrk4(self, pde: PDE, y0: Array, ts) -> tuple[Array, dict[str, Array]]:
        steps = self._observation_steps(ts)
        n = jnp.shape(ts)[0] - 1
        if n == 0:
            return y0[None], {"nfe": jnp.asarray(0)}
        step = self.etdrk4(pde, y0.dtype)
        t0 = jnp.asarray(ts, y0.dtype)[0]
        v0 = to_fourier(self.grid, y0)
        if steps is None:
            every = self._steps_per(self.observation_dt, "observation_dt")
            total = n * every
            frames = rollout(step, total, every)(v0, t0)
            spacing = jnp.diff(jnp.asarray(ts, y0.dtype))
            tol = 1e-6 * self.observation_dt + 8 * jnp.finfo(y0.dtype).eps * jnp.max(jnp.abs(jnp.asarray(ts)))
            frames = eqx.error_if(frames, jnp.any(jnp.abs(spacing - self.observation_dt) > tol),
                                  f"HybridPDE.solve (etdrk4): traced ts must be uniform with spacing "
                                  f"observation_dt = {self.observation_dt}")
        else:
            every = math.gcd(*steps)
            total = sum(steps)
            frames = rollout(step, total, every)(v0, t0)
            if any(s != every for s in steps):
                frames = frames[np.cumsum(steps) // every - 1]
        ys = jnp.concatenate([y0[None], from_fourier(self.grid, frames).astype(y0.dtype)])
        return ys, {"nfe": jnp.asarray(STAGES_PER_STEP * total)}

    def vector_field(self, pde: PDE | None = None) -> HybridVectorField:
        """The method-of-lines vector field of ``pde`` (default: :meth:`applied_pde`) plus the term."""
        pde = self.applied_pde() if pde is None else pde
        return HybridVectorField(first_order_system(pde), self.grid, self.term, self.holds_boundary)

    def _solve_mol(self, pde: PDE, y0: Array, ts) -> tuple[Array, dict[str, Array]]:
        field = self.vector_field(pde)
        ts = jnp.asarray(ts, y0.dtype)
        if self.holds_boundary:
            y0 = mol_vector_field(pde, self.grid).impose_boundary(y0)
        sol = self.integrator.solve_ode(field, y0, ts)
        return sol.ys, {"nfe": sol.stats["nfe"]}


@DYNAMICS.register("hybrid_pde")
def hybrid_pde(system: System, *, key: PRNGKeyArray, dtype: Any = None, term: dict | None = DEFAULT_TERM,
               inputs: list[str] | None = None, targets: list[str] | None = None, scale: float = 1.0,
               stepper: str = "etdrk4", substeps: int = 1, dt: float | None = None, dealias: str | float = "2/3",
               trainable: dict | list | None = None, solver: str = "tsit5", controller: str = "pid",
               rtol: float = 1e-6, atol: float = 1e-6, dt0: float | None = None, max_steps: int = 4096,
               adjoint: str = "recursive_checkpoint") -> HybridPDE:
    """A PDE's known terms plus a learned pointwise term (``term: null``: parameters only).

    ``term``: a registered model ``{name: mlp, width, depth, ...}`` applied at every grid
    point to ``inputs`` (default ``[u, u_x]`` for the first field and coordinate), one
    output per field of ``targets`` (default the evolving fields), times ``scale``.
    ``stepper``: ``etdrk4`` (``dt``, default ``system.dt / substeps``) or ``mol`` (diffrax
    through :class:`~pdejax.dynamics.integrate.Integrator`: ``solver``, ``controller``,
    ``rtol``, ``atol``, ``dt0``, ``max_steps``, ``adjoint``). ``trainable``: PDE parameters
    trained with the term, as ``pde.trainable`` (``[nu]`` or ``{nu: {init: 0.05}}``).
    """
    if system.pde is None or system.grid is None:
        raise ConfigError("model.name", "hybrid_pde", "a system with a PDE and its grid (a pde data set)")
    pde, grid = system.pde, system.grid
    state = (len(first_order_system(pde).evolving), *grid.sizes)
    if tuple(system.state_shape) != state:
        raise ConfigError("model.name", "hybrid_pde", f"data whose state is the PDE's fields on its grid, "
                          f"{state} for {first_order_system(pde).evolving}; the data's is {tuple(system.state_shape)}")
    dtype = jnp.dtype(dtype) if dtype is not None else None
    term_key, field_key = jax.random.split(key)
    if not isinstance(substeps, int) or substeps < 1:
        raise ConfigError("model.substeps", substeps, "a positive whole number of ETDRK4 steps per observation")
    if stepper == "etdrk4" and dt is None:
        if system.dt is None:
            raise ConfigError("model.dt", None, "the ETDRK4 step (the observation times are not uniform, so "
                              "there is no system.dt to divide by substeps)")
        dt = system.dt / substeps
    if inputs is None:
        inputs = [pde.fields[0], f"{pde.fields[0]}_{pde.domain.coords[0]}"]
    learned = None
    if term is not None:
        try:
            learned = learned_term(pde, term, inputs, targets, scale=scale, key=term_key, dtype=dtype)
        except ConfigError:
            raise
        except ValueError as err:
            raise ConfigError("model.inputs", inputs, str(err)) from None
    parameters = pde_parameters(pde, trainable, key=field_key, dtype=dtype)
    integrator = None
    if stepper == "mol":
        try:
            integrator = Integrator(solver=solver, controller=controller, rtol=rtol, atol=atol, dt0=dt0,
                                    max_steps=max_steps, adjoint=adjoint)
        except ValueError as err:
            raise ConfigError("model", {"solver": solver, "controller": controller, "adjoint": adjoint},
                              str(err)) from None
    try:
        return HybridPDE(pde, grid, term=learned, parameters=parameters, stepper=stepper, dt=dt,
                         observation_dt=system.dt, dealias=dealias, integrator=integrator)
    except ConfigError:
        raise
    except ValueError as err:
        raise ConfigError("model", {"stepper": stepper, "trainable": trainable}, str(err)) from None
