"""Method of lines: a PDE definition on a grid becomes an ODE system, integrated by diffrax.

Collocation on a grid (derivatives by :meth:`grid.derivative`, terms from the PDE
definition, see :func:`~pdejax.pde.grid_rhs`) turns ``∂_t u = L u + N(u)`` into
``du/dt = f(t, u)`` for the grid values ``u`` of shape ``(n_fields, *grid.sizes)``.
On a periodic :class:`~pdejax.spectral.FourierGrid` there is no boundary; on a
:class:`~pdejax.spectral.chebyshev.ChebyshevGrid` a :class:`Dirichlet` condition holds
the boundary nodes at its value. A steady problem ``0 = L u + N(u)`` with an affine
right-hand side is one dense linear solve of the same collocation system.
"""

from __future__ import annotations

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..spectral import FourierGrid
from ..spectral.chebyshev import ChebyshevGrid
from .base import PDE
from .conditions import Dirichlet
from .grid import grid_rhs, require_periodic
from .second_order import first_order_system
from .solve import check_initial_shape

SOLVERS = {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5, "dopri8": diffrax.Dopri8,
           "kvaerno5": diffrax.Kvaerno5}


def _holds_boundary(pde: PDE, grid: FourierGrid | ChebyshevGrid) -> bool:
    """Whether the boundary nodes of ``grid`` are fixed by the PDE's Dirichlet condition."""
    if not isinstance(grid, ChebyshevGrid):
        require_periodic(pde, "the method of lines on a FourierGrid")
        return False  # a periodic grid has no boundary: periodicity is built in
    if not isinstance(pde.boundary, Dirichlet):
        raise ValueError(f"PDE {pde.name!r} has boundary {type(pde.boundary).__name__}; a ChebyshevGrid "
                         "supports Dirichlet (use a FourierGrid for periodic problems)")
    return True


class MOLVectorField(eqx.Module):
    """``f(t, u, args)`` of the semi-discrete system; build it with :func:`mol_vector_field`.

    A pytree (not a closure), so that diffrax's jit cache hits when the same PDE and grid
    are solved again.
    """

    pde: PDE
    grid: FourierGrid | ChebyshevGrid
    holds_boundary: bool = eqx.field(static=True)

    def __call__(self, t, u: Float[Array, "fields *sizes"], args=None) -> Float[Array, "fields *sizes"]:
        du = grid_rhs(self.pde, self.grid, u, t)
        return jnp.where(self.grid.boundary_mask(), 0, du) if self.holds_boundary else du

    def impose_boundary(self, u: Float[Array, "fields *sizes"]) -> Float[Array, "fields *sizes"]:
        """``u`` with its boundary nodes set to the Dirichlet value (unchanged on periodic grids)."""
        if not self.holds_boundary:
            return u
        return jnp.where(self.grid.boundary_mask(), jnp.asarray(self.pde.boundary.value, u.dtype), u)


def mol_vector_field(pde: PDE, grid: FourierGrid | ChebyshevGrid) -> MOLVectorField:
    """The vector field ``f(t, u, args) = L u + N(u)`` of ``pde`` on ``grid``, for diffrax.

    ``u`` has shape ``(n_fields, *grid.sizes)``. On a ChebyshevGrid with a ``Dirichlet``
    condition, ``f`` is zero on the boundary nodes, so they keep their initial values:
    start from :func:`initial_fields` (or ``f.impose_boundary(u0)``) to hold them at the
    boundary value.

    Example:
        >>> from pdejax.pde import grid_for, heat
        >>> grid = grid_for(heat(), 16)
        >>> f = mol_vector_field(heat(), grid)
        >>> u0 = initial_fields(heat(), grid)
        >>> f(0.0, u0, None).shape  # du/dt on the grid, for diffrax.ODETerm(f)
        (1, 16)
    """
    if not pde.evolution:
        raise ValueError(f"PDE {pde.name!r} is steady; use solve_steady_linear, not the method of lines")
    if pde.constraints:
        raise ValueError(f"PDE {pde.name!r} has constraint fields {pde.constraints}, which the method of "
                         "lines does not eliminate; use the spectral ETDRK4 solver")
    if grid.coords != pde.domain.coords:
        raise ValueError(f"grid coordinates {grid.coords} differ from the PDE's {pde.domain.coords}")
    holds = _holds_boundary(pde, grid)
    if holds and pde.second_order and pde.boundary.value != 0:
        raise ValueError(f"PDE {pde.name!r}: second_order fields {pde.second_order} with Dirichlet value "
                         f"{pde.boundary.value}: the method of lines holds u and u_t at one value; use Dirichlet(0.0)")
    return MOLVectorField(first_order_system(pde), grid, holds)


def initial_fields(pde: PDE, grid: FourierGrid | ChebyshevGrid, dtype=None) -> Float[Array, "fields *sizes"]:
    """``pde.initial_values`` on the grid nodes, shape ``(n_fields, *grid.sizes)``.

    With ``second_order`` fields, the fields of :func:`~pdejax.pde.first_order_system`
    (then their velocities ``u_t``), the state :func:`solve_mol` integrates. Dirichlet
    boundary nodes of a ChebyshevGrid take the boundary value.
    """
    pde = first_order_system(pde)
    mesh = jnp.stack(grid.mesh(dtype), axis=-1)
    values = jax.vmap(pde.initial_values)(mesh.reshape(-1, len(grid.sizes)))
    u0 = jnp.moveaxis(values, -1, 0).reshape(len(pde.fields), *grid.sizes)
    return mol_vector_field(pde, grid).impose_boundary(u0)


def solve_mol(pde: PDE, grid: FourierGrid | ChebyshevGrid, u0: Float[Array, "fields *sizes"],
              ts: Float[Array, " times"], *, solver: str | diffrax.AbstractSolver = "tsit5",
              rtol: float = 1e-8, atol: float = 1e-8, dt0: float | None = None,
              max_steps: int = 100_000) -> Float[Array, "times fields *sizes"]:
    """Integrate ``pde`` on ``grid`` from ``u0`` at ``ts[0]``; the fields at every time of ``ts``.

    One trajectory: ``u0`` has shape ``(n_fields, *grid.sizes)`` (with ``second_order``
    fields, followed by their velocities ``u_t``: see :func:`initial_fields`); ``jax.vmap``
    over ``u0`` for a batch. Adaptive steps (PID controller, ``rtol``/``atol``); ``dt0=None`` lets
    diffrax choose the first step. ``solver`` is a diffrax solver or one of
    ``SOLVERS`` ("tsit5", "dopri5", "dopri8", explicit; "kvaerno5", implicit, for stiff
    systems such as diffusion on fine Chebyshev grids: its Newton iterations use the
    dense Jacobian, affordable for small 1D problems). Dirichlet boundary nodes of
    ``u0`` are set to the boundary value first.

    Raises a ValueError for ``u0`` not of shape ``(n_fields, *grid.sizes)``, and a
    RuntimeError of one line naming the solver (and suggesting ``solver="kvaerno5"`` for
    an explicit one) when the solve stops early, e.g. at ``max_steps`` on a stiff
    problem. Under an outer jit the failure is only known at run time: the same
    message then comes from ``eqx.error_if``, as an ``EquinoxRuntimeError`` under
    ``eqx.filter_jit`` (inside a ``JaxRuntimeError``'s text under plain ``jax.jit``).

    Example (not run by the doctests: compiling the implicit solver takes seconds):
        >>> from pdejax.pde import burgers
        >>> pde = burgers(nu=0.1)
        >>> grid = ChebyshevGrid(("x",), (-1.0,), (1.0,), (48,))
        >>> ts = jnp.linspace(0.0, 0.5, 6)
        >>> solve_mol(pde, grid, initial_fields(pde, grid), ts, solver="kvaerno5").shape  # doctest: +SKIP
        (6, 1, 48)
    """
    if isinstance(solver, str):
        if solver not in SOLVERS:
            raise ValueError(f"unknown solver {solver!r}; valid: {sorted(SOLVERS)} or a diffrax solver")
        solver = SOLVERS[solver]()
    field = mol_vector_field(pde, grid)
    check_initial_shape(u0, (len(field.pde.fields), *grid.sizes), field.pde.fields, "solve_mol")
    ts = jnp.asarray(ts, u0.dtype)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field), solver, ts[0], ts[-1], dt0, field.impose_boundary(u0),
        saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps, throw=False)
    return _raise_on_failure(sol, solver, max_steps)


def _raise_on_failure(sol: diffrax.Solution, solver: diffrax.AbstractSolver, max_steps: int) -> Array:
    """``sol.ys``, or one clear error when diffrax stopped early (``throw=False`` above)."""
    name = type(solver).__name__.lower()
    hint = ("an implicit solver handles stiff problems: try solver=\"kvaerno5\""
            if not isinstance(solver, diffrax.AbstractImplicitSolver) else "try a larger max_steps or looser rtol/atol")
    message = f"solve_mol: {name} stopped before the final time ({{}}, max_steps={max_steps}); {hint}"
    failed = sol.result != diffrax.RESULTS.successful
    if isinstance(failed, jax.core.Tracer):  # under an outer jit: known only at run time
        return eqx.error_if(sol.ys, failed, message.format("max_steps reached or step size too small"))
    if bool(failed):
        raise RuntimeError(message.format(_result_message(sol.result)))
    return sol.ys


def _result_message(result) -> str:
    """diffrax's text for a (concrete) failed result, e.g. the max_steps one."""
    for name in ("max_steps_reached", "dt_min_reached", "singular"):
        candidate = getattr(diffrax.RESULTS, name, None)
        if candidate is not None and bool(result == candidate):
            return str(candidate).split("<", 1)[-1].rstrip(">").split(".")[0]
    return "diffrax reported an unsuccessful result"


@eqx.filter_jit
def solve_steady_linear(pde: PDE, grid: ChebyshevGrid, boundary_values: float | Array | None = None,
                        *, dtype=None) -> Float[Array, "fields *sizes"]:
    """Solve the steady problem ``0 = L u + N(u)``, ``u = g`` on the boundary, by collocation.

    The right-hand side must be affine in ``u``: linear terms plus sources, e.g. Poisson
    ``0 = u_xx + u_yy + s(x, y)`` with ``nonlinear=lambda f, p: {"u": s(f.x, f.y)}``;
    variable coefficients such as ``a(x) u_x`` may also be written in ``nonlinear``. The
    dense collocation matrix ``A`` is the Jacobian of ``u ↦ L u + N(u)`` (for an affine map,
    exactly the Kronecker sum of the per-axis differentiation matrices weighted by the
    coefficients), the source is the right-hand side at ``u = 0``, and the boundary rows
    of ``A u = -source`` are replaced by ``u_i = g_i``. Dense: fine up to ~2000 unknowns.

    Args:
        boundary_values: ``g``, a scalar or an array broadcasting to ``(n_fields, *sizes)``
            (only its boundary entries are read); default the PDE's ``Dirichlet`` value.
        dtype: floating dtype of the solve (default: JAX's default float).

    Raises an ``EquinoxRuntimeError`` when the right-hand side is not affine in ``u``
    (``rhs(2p) - 2 rhs(p) + rhs(0) ≠ 0`` for a smooth probe field ``p``).

    Example (``Δu = -1`` on the square, zero on its boundary):
        >>> from pdejax.pde import PDE, Box
        >>> poisson = PDE(name="poisson", fields=("u",), domain=Box(x=(-1, 1), y=(-1, 1)),
        ...               linear={"u": {"u_xx": 1.0, "u_yy": 1.0}},
        ...               nonlinear=lambda f, p: {"u": jnp.ones_like(f.x)})
        >>> grid = ChebyshevGrid(("x", "y"), (-1.0, -1.0), (1.0, 1.0), (9, 9))
        >>> u = solve_steady_linear(poisson, grid)
        >>> u.shape, round(float(u[0, 4, 4]), 3)  # the centre: 0.2947 for the exact solution
        ((1, 9, 9), 0.295)
    """
    if pde.evolution:
        raise ValueError(f"PDE {pde.name!r} evolves in time; use solve_mol")
    if not isinstance(grid, ChebyshevGrid):
        raise ValueError(f"solve_steady_linear needs a ChebyshevGrid (with boundary nodes), got {type(grid).__name__}")
    if grid.coords != pde.domain.coords:
        raise ValueError(f"grid coordinates {grid.coords} differ from the PDE's {pde.domain.coords}")
    if boundary_values is None:
        if not isinstance(pde.boundary, Dirichlet):
            raise ValueError(f"PDE {pde.name!r} has boundary {type(pde.boundary).__name__}; "
                             "pass boundary_values or use Dirichlet")
        boundary_values = pde.boundary.value
    dtype = jnp.result_type(float) if dtype is None else dtype
    shape = (len(pde.fields), *grid.sizes)
    n = math.prod(shape)

    def rhs(u):
        return grid_rhs(pde, grid, u.reshape(shape)).ravel()

    source = rhs(jnp.zeros(n, dtype))
    matrix = jax.jacfwd(rhs)(jnp.zeros(n, dtype))
    # Doubling is exact in floating point, so for an affine rhs this vanishes to round-off.
    unit = [(2 * c - a - b) / (b - a) for c, a, b in zip(grid.mesh(dtype), grid.lower, grid.upper)]
    probe = jnp.broadcast_to(sum(jnp.cos(1.0 + i + c) for i, c in enumerate(unit)), shape).ravel()
    curvature = rhs(2 * probe) - 2 * rhs(probe) + source
    scale = jnp.max(jnp.abs(rhs(probe))) + jnp.max(jnp.abs(source))
    tol = jnp.sqrt(jnp.finfo(dtype).eps) * scale
    matrix = eqx.error_if(matrix, jnp.max(jnp.abs(curvature)) > tol,
                          f"PDE {pde.name!r}: the right-hand side is not affine in u; solve_steady_linear "
                          "solves only linear problems with sources")
    held = jnp.broadcast_to(grid.boundary_mask(), shape).ravel()
    g = jnp.broadcast_to(jnp.asarray(boundary_values, dtype), shape).ravel()
    matrix = jnp.where(held[:, None], jnp.eye(n, dtype=dtype), matrix)
    return jnp.linalg.solve(matrix, jnp.where(held, g, -source)).reshape(shape)
