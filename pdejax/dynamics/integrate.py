"""The one place diffrax is configured for :mod:`pdejax.dynamics`: solver, step-size
controller, adjoint, failure messages, the count of vector-field evaluations and the
solver-heuristic penalty.

An :class:`Integrator` is a static description (config keys ``solver``, ``controller``,
``rtol``, ``atol``, ``dt0``, ``max_steps``, ``adjoint``) validated when it is built;
:meth:`Integrator.solve_ode` and :meth:`Integrator.solve_sde` integrate one trajectory
and return an :class:`IntegratorSolution` (the states at ``ts``, the integrals that rode
along, and statistics such as ``nfe``).

Every solve goes through :class:`~pdejax.dynamics.accounting.AccountingSolver`
(exact counts of vector-field evaluations, and the local-error penalty when asked).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import lineax as lx
import optimistix as optx
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from .accounting import ERROR_ESTIMATE, AccountingSolver, evaluations

ODE_SOLVERS: dict[str, type[diffrax.AbstractSolver]] = {
    "tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5, "dopri8": diffrax.Dopri8, "bosh3": diffrax.Bosh3,
    "heun": diffrax.Heun, "midpoint": diffrax.Midpoint, "ralston": diffrax.Ralston, "euler": diffrax.Euler,
    "kvaerno5": diffrax.Kvaerno5}
SDE_SOLVERS: dict[str, type[diffrax.AbstractSolver]] = {
    "euler": diffrax.Euler,  # Euler–Maruyama (Itô)
    "milstein": diffrax.ItoMilstein, "shark": diffrax.ShARK, "sra1": diffrax.SRA1, "spark": diffrax.SPaRK}
CONTROLLERS = ("pid", "constant")
ADJOINTS = ("recursive_checkpoint", "backsolve")


class IntegratorSolution(NamedTuple):
    """What a solve returns.

    Attributes:
        ys: the state at every time of ``ts`` (``ys[0]`` is ``y0``), shape ``(times, *state)``.
        integrals: scalar integrals accumulated over ``[ts[0], ts[-1]]``: the rates the
            vector field returned (``integrands=True``) and, when asked, ``error_estimate``.
        stats: int scalars ``nfe`` (vector-field evaluations, see :func:`evaluations`),
            ``num_steps``, ``num_accepted_steps``, ``num_rejected_steps``.
    """

    ys: PyTree[Array]
    integrals: dict[str, Array]
    stats: dict[str, Array]


def _one_of(field: str, value: Any, valid) -> str:
    return f"{field} {value!r}: valid {', '.join(map(str, valid))}"


class Integrator(eqx.Module):
    """How a differential equation is integrated: the diffrax solver, step-size control,
    tolerances and adjoint. All fields are static (hashable), checked when built.

    Args:
        solver: for ``kind="ode"`` one of ``ODE_SOLVERS`` (tsit5, dopri5, dopri8, bosh3,
            heun, midpoint, ralston, euler, kvaerno5); for ``kind="sde"`` one of
            ``SDE_SOLVERS`` (euler: Euler–Maruyama, milstein: Itô Milstein, shark, sra1,
            spark; shark and sra1 need additive noise).
        controller: ``"pid"`` (adaptive steps, ``diffrax.PIDController(rtol, atol)``; the
            solver must give an error estimate) or ``"constant"`` (steps of ``dt0``).
        rtol, atol: tolerances of the adaptive controller (and the scale of the error estimate).
        dt0: the (first) step; required for ``"constant"``; ``None`` lets diffrax choose it
            for ``"pid"`` (diffrax 0.7 starts with 0.01).
        max_steps: the most steps a solve may take before it fails.
        adjoint: ``"recursive_checkpoint"`` (differentiate through the solver's operations,
            exact gradients of the discrete solve) or ``"backsolve"`` (the continuous adjoint,
            solved backwards in time; O(1) memory, ODEs only).
        kind: ``"ode"`` or ``"sde"``: which solvers are valid and which ``solve_*`` may be called.

    Example:
        >>> import jax.numpy as jnp
        >>> integrator = Integrator(solver="tsit5", rtol=1e-8, atol=1e-8)
        >>> sol = integrator.solve_ode(lambda t, y, args: -y, jnp.ones(2), jnp.linspace(0.0, 1.0, 3))
        >>> sol.ys.shape, round(float(sol.ys[-1, 0]), 6)  # exp(-1)
        ((3, 2), 0.367879)
        >>> Integrator(solver="rk99")
        Traceback (most recent call last):
        ...
        ValueError: solver 'rk99': valid tsit5, dopri5, dopri8, bosh3, heun, midpoint, ralston, euler, kvaerno5
    """

    solver: str = eqx.field(default="tsit5", static=True)
    controller: str = eqx.field(default="pid", static=True)
    rtol: float = eqx.field(default=1e-6, static=True)
    atol: float = eqx.field(default=1e-6, static=True)
    dt0: float | None = eqx.field(default=None, static=True)
    max_steps: int = eqx.field(default=4096, static=True)
    adjoint: str = eqx.field(default="recursive_checkpoint", static=True)
    kind: Literal["ode", "sde"] = eqx.field(default="ode", static=True)

    def __check_init__(self):
        if self.kind not in ("ode", "sde"):
            raise ValueError(_one_of("kind", self.kind, ("ode", "sde")))
        solvers = ODE_SOLVERS if self.kind == "ode" else SDE_SOLVERS
        if self.solver not in solvers:
            other = SDE_SOLVERS if self.kind == "ode" else ODE_SOLVERS
            hint = f" ({self.solver!r} is an {'SDE' if self.kind == 'ode' else 'ODE'} solver)" \
                if self.solver in other else ""
            raise ValueError(_one_of("solver", self.solver, solvers) + hint)
        if self.controller not in CONTROLLERS:
            raise ValueError(_one_of("controller", self.controller, CONTROLLERS))
        if self.adjoint not in ADJOINTS:
            raise ValueError(_one_of("adjoint", self.adjoint, ADJOINTS))
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} {value!r}: valid a positive number")
        if isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise ValueError(f"max_steps {self.max_steps!r}: valid an integer >= 1")
        if self.dt0 is not None and (isinstance(self.dt0, bool) or not isinstance(self.dt0, (int, float))
                                     or not self.dt0 > 0):
            raise ValueError(f"dt0 {self.dt0!r}: valid a positive number or None")
        if self.controller == "constant" and self.dt0 is None:
            raise ValueError("dt0 None: valid a positive number (controller 'constant' takes steps of dt0)")
        if self.controller == "pid" and not isinstance(solvers[self.solver](), diffrax.AbstractAdaptiveSolver):
            raise ValueError(f"controller 'pid': solver {self.solver!r} gives no error estimate; valid controller "
                             "'constant' (with dt0) or an adaptive solver")
        if self.kind == "sde" and self.adjoint == "backsolve":
            raise ValueError("adjoint 'backsolve': valid for ODEs only; valid for an SDE: recursive_checkpoint")

    # -- building blocks -------------------------------------------------------------------

    def diffrax_solver(self) -> diffrax.AbstractSolver:
        """The (unwrapped) diffrax solver; an implicit one's Newton iterations at ``rtol``/``atol``."""
        cls = (ODE_SOLVERS if self.kind == "ode" else SDE_SOLVERS)[self.solver]
        if issubclass(cls, diffrax.AbstractImplicitSolver):
            return cls(root_finder=diffrax.VeryChord(rtol=self.rtol, atol=self.atol, norm=optx.rms_norm))
        return cls()

    def step_size_controller(self, norm: Callable = optx.rms_norm) -> diffrax.AbstractStepSizeController:
        if self.controller == "constant":
            return diffrax.ConstantStepSize()
        return diffrax.PIDController(rtol=self.rtol, atol=self.atol, norm=norm)

    def brownian_motion(self, t0, t1, shape: tuple[int, ...], *, key: PRNGKeyArray,
                        dtype=None) -> diffrax.VirtualBrownianTree:
        """A Brownian motion on ``[t0, t1]`` of ``shape`` with the Lévy area the solver needs,
        resolved to ``dt0 / 10`` (or ``(t1 - t0) / 1000`` without ``dt0``)."""
        need = getattr(self.diffrax_solver(), "minimal_levy_area", diffrax.BrownianIncrement)
        levy = diffrax.BrownianIncrement
        for candidate in (diffrax.SpaceTimeLevyArea, diffrax.SpaceTimeTimeLevyArea):
            if issubclass(candidate, need) and not issubclass(diffrax.BrownianIncrement, need):
                levy = candidate
                break
        tol = self.dt0 / 10 if self.dt0 is not None else (t1 - t0) / 1000
        dtype = jnp.result_type(float) if dtype is None else dtype
        return diffrax.VirtualBrownianTree(t0, t1, tol=tol, shape=jax.ShapeDtypeStruct(shape, dtype), key=key,
                                           levy_area=levy)

    # -- solves ----------------------------------------------------------------------------

    def solve_ode(self, vector_field: Callable, y0: PyTree[Array], ts: Float[Array, " times"], args: Any = None,
                  *, integrands: bool = False, error_estimate: bool = False) -> IntegratorSolution:
        """Integrate ``dy/dt = vector_field(t, y, args)`` from ``y0`` at ``ts[0]``; the state at ``ts``.

        Args:
            vector_field: ``(t, y, args) -> dy/dt``, a pytree like ``y``; with
                ``integrands=True`` it returns ``(dy/dt, rates)`` instead, ``rates`` a dict of
                scalars whose integrals over ``[ts[0], ts[-1]]`` ride along as extra state
                components (integrated by the same solver; the step-size control looks at
                ``y`` only, so the steps are those of the plain solve).
            y0: the initial state (any pytree of float arrays; one trajectory, ``vmap`` batches).
            ts: increasing observation times, shape ``(times,)``; ``ys[0]`` is ``y0``.
            args: passed to ``vector_field``.
            error_estimate: also accumulate ``integrals["error_estimate"]``, the sum over
                accepted steps of the scaled local error estimate times the step size (see
                :class:`AccountingSolver`). Scaled by the tolerances, each step's estimate is
                O(1) under adaptive control, so the penalty is about ``(t1 - t0)`` times the
                mean scaled error whatever ``rtol``/``atol``; it grows where the field is hard
                to integrate at fixed tolerances, which is what training reduces.
                Not with ``adjoint="backsolve"`` (its gradient is that of the discrete steps).

        Raises a ValueError for a solve this integrator cannot do, and a RuntimeError (an
        ``EquinoxRuntimeError`` under jit) when the solve stops before ``ts[-1]``.
        """
        if self.kind != "ode":
            raise ValueError(f"solve_ode on an integrator of kind {self.kind!r}; valid: kind 'ode'")
        if error_estimate and self.adjoint == "backsolve":
            raise ValueError("error_estimate with adjoint 'backsolve': the penalty is a sum over the discrete "
                             "steps, which the continuous adjoint cannot differentiate; valid adjoint: "
                             "recursive_checkpoint")
        augmented = integrands or error_estimate
        if augmented:
            field = _AugmentedField(vector_field, integrands, error_estimate)
            state0 = (y0, field.initial_integrals(y0, ts, args))
        else:
            field, state0 = vector_field, y0
        return self._solve(diffrax.ODETerm(field), state0, ts, args, augmented=augmented,
                           error_estimate=error_estimate)

    def solve_sde(self, drift: Callable, diffusion: Callable, y0: Float[Array, " *state"],
                  ts: Float[Array, " times"], args: Any = None, *, key: PRNGKeyArray,
                  noise_shape: tuple[int, ...] | None = None) -> IntegratorSolution:
        """Integrate ``dy = drift(t, y, args) dt + diffusion(t, y, args) dW`` from ``y0`` at ``ts[0]``.

        Args:
            drift: ``(t, y, args) -> array of y's shape``.
            diffusion: with ``noise_shape=None`` (diagonal noise, ``W`` of ``y``'s shape), an
                array of ``y``'s shape multiplying ``dW`` elementwise; else an array of shape
                ``(*y.shape, *noise_shape)`` contracted with ``dW`` (general noise).
            y0: the initial state (one array; one trajectory, ``vmap`` batches).
            ts: increasing observation times, shape ``(times,)``.
            key: the Brownian motion's key (a ``VirtualBrownianTree``, see :meth:`brownian_motion`).
            noise_shape: the shape of ``W`` for general noise.

        ``stats["nfe"]`` counts drift evaluations (each with one of the diffusion).
        """
        if self.kind != "sde":
            raise ValueError(f"solve_sde on an integrator of kind {self.kind!r}; valid: kind 'sde'")
        if key is None:
            raise ValueError("solve_sde needs a key for its Brownian motion")
        ts = jnp.asarray(ts)
        diagonal = noise_shape is None
        shape = tuple(y0.shape) if diagonal else tuple(noise_shape)
        bm = self.brownian_motion(ts[0], ts[-1], shape, key=key, dtype=y0.dtype)
        vf = (lambda t, y, a: lx.DiagonalLinearOperator(diffusion(t, y, a))) if diagonal else diffusion
        terms = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(vf, bm))
        return self._solve(terms, y0, ts, args, augmented=False, error_estimate=False)

    def _solve(self, terms, state0, ts, args, *, augmented: bool, error_estimate: bool) -> IntegratorSolution:
        inner = self.diffrax_solver()
        if error_estimate and not isinstance(inner, diffrax.AbstractAdaptiveSolver):
            raise ValueError(f"error_estimate: solver {self.solver!r} gives no error estimate; valid an adaptive "
                             "solver such as tsit5")
        solver = AccountingSolver(inner, error_estimate, self.rtol, self.atol)
        ts = jnp.asarray(ts)
        norm = _norm_of_state if augmented else optx.rms_norm
        if self.adjoint == "backsolve":
            # The backward solve of the adjoint state uses the plain solver and norm.
            adjoint = diffrax.BacksolveAdjoint(solver=inner, stepsize_controller=self.step_size_controller())
            saveat = diffrax.SaveAt(ts=ts)
        else:
            adjoint = diffrax.RecursiveCheckpointAdjoint()
            # The integrals at t1 from the final state (not from the interpolation of the last step).
            saveat = diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=ts, fn=_state_part),
                                          diffrax.SubSaveAt(t1=True, fn=_integrals_part)]) \
                if augmented else diffrax.SaveAt(ts=ts)
        sol = diffrax.diffeqsolve(terms, solver, ts[0], ts[-1], self.dt0, state0, args=args, saveat=saveat,
                                  stepsize_controller=self.step_size_controller(norm), adjoint=adjoint,
                                  max_steps=self.max_steps, throw=False)
        if not augmented:
            ys, integrals = sol.ys, {}
        elif self.adjoint == "backsolve":
            ys, integrals = sol.ys[0], {k: v[-1] for k, v in sol.ys[1].items()}
        else:
            ys, final = sol.ys
            integrals = {k: v[-1] for k, v in final.items()}
        ys = self._raise_on_failure(sol, ys)
        stats = {name: jnp.asarray(sol.stats[name], jnp.int32)
                 for name in ("num_steps", "num_accepted_steps", "num_rejected_steps")}
        stats["nfe"] = evaluations(inner, stats["num_steps"], initial_step=self.controller == "pid"
                                   and self.dt0 is None and self.kind == "ode")
        return IntegratorSolution(ys, integrals, stats)

    def _raise_on_failure(self, sol: diffrax.Solution, ys):
        """``ys``, or one clear error when diffrax stopped early (``throw=False`` above)."""
        hint = ("try a larger max_steps, looser rtol/atol, or an implicit solver (solver 'kvaerno5') for a stiff "
                "problem" if not isinstance(self.diffrax_solver(), diffrax.AbstractImplicitSolver)
                else "try a larger max_steps or looser rtol/atol")
        message = (f"Integrator(solver={self.solver!r}, controller={self.controller!r}, rtol={self.rtol}, "
                   f"atol={self.atol}, max_steps={self.max_steps}) stopped before the final time ({{}}); {hint}")
        failed = sol.result != diffrax.RESULTS.successful
        if isinstance(failed, jax.core.Tracer):  # under an outer jit (or vmap): known only at run time
            return eqx.error_if(ys, failed, message.format("max_steps reached, step size too small or non-finite "
                                                           "values"))
        if bool(failed):
            raise RuntimeError(message.format(_result_message(sol.result)))
        return ys


def _result_message(result) -> str:
    for name in ("max_steps_reached", "dt_min_reached", "singular", "implicit_divergence",
                 "implicit_nonconvergence"):
        candidate = getattr(diffrax.RESULTS, name, None)
        if candidate is not None and bool(result == candidate):
            return name.replace("_", " ")
    return "diffrax reported an unsuccessful result"


def _state_part(t, state, args):
    return state[0]


def _integrals_part(t, state, args):
    return state[1]


def _norm_of_state(tree) -> Array:
    """The controller's norm on an augmented state ``(y, integrals)``: ``y`` only, so that the
    integrals riding along do not change the steps. Other trees (the backward adjoint state
    of ``backsolve``, the initial step-size selection on ``y``'s scale) in full."""
    if isinstance(tree, tuple) and len(tree) == 2 and isinstance(tree[1], dict):
        return optx.rms_norm(tree[0])
    return optx.rms_norm(tree)


class _AugmentedField(eqx.Module):
    """``(t, (y, integrals), args) -> (dy/dt, rates)``: integrals ride along as state."""

    vector_field: Callable
    integrands: bool = eqx.field(static=True)
    error_estimate: bool = eqx.field(static=True)

    def __call__(self, t, state, args):
        y, _ = state
        if self.integrands:
            dy, rates = self.vector_field(t, y, args)
            rates = dict(rates)
        else:
            dy, rates = self.vector_field(t, y, args), {}
        if ERROR_ESTIMATE in rates:
            raise ValueError(f"the integrand {ERROR_ESTIMATE!r} is reserved for the solver-heuristic penalty")
        if self.error_estimate:
            # Not a rate: AccountingSolver adds each accepted step's error estimate to it.
            rates[ERROR_ESTIMATE] = jnp.zeros((), _real_dtype(y))
        return dy, {k: jnp.asarray(v, _real_dtype(y)) for k, v in rates.items()}

    def initial_integrals(self, y0, ts, args) -> dict[str, Array]:
        dtype = _real_dtype(y0)
        shapes = jax.eval_shape(self, jnp.asarray(ts)[0], (y0, {}), args)[1]
        for name, shape in shapes.items():
            if shape.shape != ():
                raise ValueError(f"integrand {name!r} has shape {shape.shape}; valid: a scalar rate")
        return {name: jnp.zeros((), dtype) for name in shapes}


def _real_dtype(y) -> jnp.dtype:
    return jnp.result_type(*jtu.tree_leaves(y))
