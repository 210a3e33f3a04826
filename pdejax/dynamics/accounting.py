"""Exact counts of vector-field evaluations and the solver-heuristic penalty for diffrax
solves (:class:`AccountingSolver`), used by :class:`~pdejax.dynamics.integrate.Integrator`.

The wrapper evaluates the first stage of a first-same-as-last Runge–Kutta method in
``init`` rather than in the first step, so that the number of vector-field evaluations
follows from diffrax's step counts exactly (:func:`evaluations`), and, when asked,
accumulates the local error estimate of each accepted step (Pal et al. 2021).
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax.numpy as jnp
import jax.tree_util as jtu
import optimistix as optx
from jaxtyping import Array, Int

ERROR_ESTIMATE = "error_estimate"  # the key of the solver-heuristic penalty among a solve's integrals


def evaluations(solver: diffrax.AbstractSolver, num_steps: Int[Array, ""], *, initial_step: bool) -> Int[Array, ""]:
    """The number of vector-field evaluations of a solve that took ``num_steps`` steps
    (accepted and rejected) with :class:`AccountingSolver` around ``solver``.

    An explicit Runge–Kutta method with ``s`` stages evaluates ``s`` times a step; a
    first-same-as-last one (tsit5, dopri5, dopri8, bosh3) reuses its last stage as the
    next step's first, so ``s - 1`` a step, plus one evaluation in ``init`` (where
    :class:`AccountingSolver` puts it, so that a rejected first step does not repeat it).
    A rejected step costs what an accepted one does. Euler costs one a step. Choosing the
    first step (``dt0=None``) costs nothing in diffrax 0.7: its heuristic sees the
    direction-wrapped term, not an ``ODETerm``, and starts with a step of 0.01.

    Exact for the explicit ODE solvers. For an SDE, the drift evaluations: one a step for
    Euler–Maruyama and Milstein, the stages whose drift is not ignored for the stochastic
    Runge–Kutta methods. For the implicit kvaerno5 the count is a lower bound: one
    evaluation a stage, not those of its Newton iterations (diffrax does not report them).
    """
    per_step, at_init = _evaluations_per_step(solver)
    del initial_step  # diffrax 0.7 evaluates nothing to choose dt0 (see above); the tests guard this
    return (num_steps * per_step + at_init).astype(jnp.int32)


def _evaluations_per_step(solver: diffrax.AbstractSolver) -> tuple[int, int]:
    if isinstance(solver, diffrax.AbstractRungeKutta):
        tableau = solver.tableau
        if tableau.fsal:
            return tableau.num_stages - 1, 1
        return tableau.num_stages, 0
    if isinstance(solver, diffrax.AbstractSRK):
        ignore = solver.tableau.ignore_stage_f
        stages = len(solver.tableau.b_sol)
        return stages - (0 if ignore is None else int(sum(bool(i) for i in ignore))), 0
    return 1, 0  # Euler, Euler–Maruyama, Milstein


def _fsal_state(solver: diffrax.AbstractSolver, state) -> bool:
    """Whether ``state`` is diffrax's ``(first_step, f0)`` of a first-same-as-last Runge–Kutta method."""
    return (isinstance(solver, diffrax.AbstractRungeKutta) and getattr(solver.tableau, "fsal", False)
            and isinstance(state, tuple) and len(state) == 2)


class AccountingSolver(diffrax.AbstractWrappedSolver):
    """A diffrax solver wrapped to make its cost countable and its error estimate a penalty.

    **Counting.** diffrax's first-same-as-last Runge–Kutta methods evaluate their first
    stage inside the first step, and again if that step is rejected (the solver state is
    rolled back). ``init`` evaluates it instead, so every step, accepted or rejected, costs
    the same and :func:`evaluations` is exact.

    **Error-estimate penalty** (Pal et al. 2021, "Opening the Blackbox: Accelerating Neural
    Differential Equations by Regularizing Internal Solver Heuristics"), with
    ``error_estimate=True``: the state is ``(y, integrals)`` with a component
    ``integrals["error_estimate"]`` whose rate is zero. Each step calls the wrapped
    solver's step on the real state, takes its local error estimate of ``y``, scales it
    as the PID controller does, ``E = rms(err / (atol + rtol * max(|y0|, |y1|)))``, and adds
    ``E * |t1 - t0|`` to that component of the new state (the paper's ``R_E = Σ_j E_j |Δt_j|``,
    its code's ``integrator.EEst * integrator.dt``); the error it returns for the integrals is
    zero (and the controller's norm reads ``y`` only), so step-size control is unchanged.
    diffrax keeps the new state only when the controller accepts the step (a rejected
    step's state is replaced by the old one), so the component is the sum over accepted
    steps. It is a function of the network through the stages, so it is differentiable
    (through the discrete steps: ``RecursiveCheckpointAdjoint``).
    """

    solver: diffrax.AbstractSolver
    error_estimate: bool = eqx.field(default=False, static=True)
    rtol: float = eqx.field(default=1e-6, static=True)
    atol: float = eqx.field(default=1e-6, static=True)

    @property
    def term_structure(self):
        return self.solver.term_structure

    @property
    def interpolation_cls(self):  # pyright: ignore
        return self.solver.interpolation_cls

    @property
    def term_compatible_contr_kwargs(self):
        return self.solver.term_compatible_contr_kwargs

    def order(self, terms):
        return self.solver.order(terms)

    def strong_order(self, terms):
        return self.solver.strong_order(terms)

    def error_order(self, terms):
        return self.solver.error_order(terms)

    @property
    def root_finder(self):  # an implicit solver's, with its tolerances set (see Integrator.diffrax_solver)
        return self.solver.root_finder

    @property
    def root_find_max_steps(self):
        return self.solver.root_find_max_steps

    @property
    def minimal_levy_area(self):
        return getattr(self.solver, "minimal_levy_area", diffrax.BrownianIncrement)

    def init(self, terms, t0, t1, y0, args):
        state = self.solver.init(terms, t0, t1, y0, args)
        if _fsal_state(self.solver, state):
            f0 = self.solver.func(terms, t0, y0, args)
            f0 = jtu.tree_map(lambda f, s: jnp.asarray(f, s.dtype), f0, state[1])
            state = (jnp.array(False), f0)
        return state

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        y1, y_error, dense_info, solver_state, result = self.solver.step(
            terms, t0, t1, y0, args, solver_state, made_jump)
        if self.error_estimate:
            (y_start, _), (y_end, integrals) = y0, y1
            error = _scaled_error(y_error[0], y_start, y_end, self.rtol, self.atol) * jnp.abs(t1 - t0)
            integrals = {**integrals, ERROR_ESTIMATE: integrals[ERROR_ESTIMATE] + error.astype(
                integrals[ERROR_ESTIMATE].dtype)}
            y1 = (y_end, integrals)
            y_error = (y_error[0], jtu.tree_map(jnp.zeros_like, integrals))
        return y1, y_error, dense_info, solver_state, result

    def func(self, terms, t0, y0, args):
        return self.solver.func(terms, t0, y0, args)


def _scaled_error(y_error, y0, y1, rtol: float, atol: float) -> Array:
    """``rms(y_error / (atol + rtol * max(|y0|, |y1|)))``, as ``diffrax.PIDController`` scales it."""

    def scale(e, a, b):
        b = jnp.where(jnp.isnan(b).any(), a, b)
        return e / (atol + jnp.maximum(jnp.abs(a), jnp.abs(b)) * rtol)

    return optx.rms_norm(jtu.tree_map(scale, y_error, y0, y1))
