"""The PINN benchmark problems of jaxpi / PirateNet, R3 and MultiAdam, in their published set-ups.

- ``kdv_jaxpi``: Korteweg–de Vries as in jaxpi (``examples/kdv``, PirateNet branch).
- ``gray_scott_jaxpi``: Gray–Scott in jaxpi's scaled units (``examples/grey_scott``).
- ``ginzburg_landau``: complex Ginzburg–Landau as two real fields (``examples/ginzburg_landau``).
- ``helmholtz``: 2D Helmholtz with a manufactured solution (Wang, Teng & Perdikaris 2021;
  the R3 paper's Helmholtz, ``a1 = 1, a2 = 4``).
- ``klein_gordon_forced``: the cubic Klein–Gordon equation with a manufactured solution
  (Wang, Teng & Perdikaris 2021; the MultiAdam paper's Klein–Gordon).
- ``lid_driven_cavity``: steady incompressible Navier–Stokes in velocity–pressure form in
  the unit square (jaxpi's ``examples/ldc``), and Ghia, Ghia & Shin's (1982) centre-line
  velocities at Re = 100 (:data:`GHIA_RE100`) as the evaluation reference.

The periodic ones have no closed form; their references come from the spectral solver
(``evaluation.reference: {name: spectral}`` in a PINN config). Allen–Cahn and advection
are in :mod:`pdejax.pde.library.one_d` (``allen_cahn``; ``advection`` with
``velocity: 80, length: 2π`` is jaxpi's).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from ...config.errors import ConfigError
from ..base import PDE
from ..conditions import Dirichlet, DirichletData, Periodic
from ..domain import Box
from .registry import PDES


@PDES.register("kdv_jaxpi")
def kdv_jaxpi(alpha: float = 1.0, beta: float = 0.022**2, t_final: float = 1.0) -> PDE:
    """Korteweg–de Vries u_t + alpha u u_x + beta u_xxx = 0 on the periodic [-1, 1), u0 = cos(πx).

    jaxpi's (PirateNet) benchmark: ``alpha = 1``, ``beta = 0.022²`` (Zabusky & Kruskal's
    set-up), ``t ∈ [0, 1]``; its reference is chebfun's ``spin`` on 512 points. The
    convection is the flux ``-alpha u²/2``. No closed form: the spectral solver is the
    reference.
    """
    if beta <= 0:
        raise ConfigError("beta", beta, "a positive dispersion coefficient")
    return PDE(
        name="kdv_jaxpi", fields=("u",), domain=Box(x=(-1.0, 1.0), t=(0.0, t_final)),
        params={"alpha": alpha, "beta": beta},
        linear={"u": {"u_xxx": "-beta"}},
        flux=lambda f, p: {"u": {"x": -p["alpha"] * f.u**2 / 2}},
        initial=lambda x, p: {"u": jnp.cos(jnp.pi * x[0])},
        boundary=Periodic(),
    )


@PDES.register("gray_scott_jaxpi")
def gray_scott_jaxpi(eps_u: float = 0.2, eps_v: float = 0.1, b_u: float = 40.0, b_v: float = 100.0,
                     c_u: float = 1000.0, c_v: float = 1000.0, t_final: float = 2.0) -> PDE:
    """Gray–Scott on the periodic square [-1, 1)² in jaxpi's scaled units (time x 1000).

        u_t = eps_u Δu + b_u (1 - u) - c_u u v²,   v_t = eps_v Δv - b_v v + c_v u v².

    jaxpi's defaults (``examples/grey_scott/data/gen_grey_scott.m``) are Pearson's
    ``Du = 2e-4, Dv = 1e-4, F = 0.04, F + k = 0.1`` with time scaled by 1000 (``t ∈ [0, 2]``
    here is ``[0, 2000]`` there). The initial condition is
    ``u = 1 - exp(-10((x + 0.05)² + (y + 0.02)²))``, ``v = exp(-10((x - 0.05)² + (y - 0.02)²))``
    (periodic up to a jump of 1e-4 at the edges, as in jaxpi's). ``u v²`` is cubic:
    dealias a spectral reference with ``"1/2"``.
    """
    for name, value in (("eps_u", eps_u), ("eps_v", eps_v)):
        if value <= 0:
            raise ConfigError(name, value, "a positive diffusion coefficient")

    def initial(x, p):
        return {"u": 1 - jnp.exp(-10 * ((x[0] + 0.05) ** 2 + (x[1] + 0.02) ** 2)),
                "v": jnp.exp(-10 * ((x[0] - 0.05) ** 2 + (x[1] - 0.02) ** 2))}

    return PDE(
        name="gray_scott_jaxpi", fields=("u", "v"), domain=Box(x=(-1.0, 1.0), y=(-1.0, 1.0), t=(0.0, t_final)),
        params={"eps_u": eps_u, "eps_v": eps_v, "b_u": b_u, "b_v": b_v, "c_u": c_u, "c_v": c_v},
        linear={"u": {"u_xx": "eps_u", "u_yy": "eps_u", "u": "-b_u"},
                "v": {"v_xx": "eps_v", "v_yy": "eps_v", "v": "-b_v"}},
        nonlinear=lambda f, p: {"u": -p["c_u"] * f.u * f.v**2, "v": p["c_v"] * f.u * f.v**2},
        forcing=lambda f, p: {"u": p["b_u"]},
        initial=initial,
        boundary=Periodic(),
    )


@PDES.register("ginzburg_landau")
def ginzburg_landau(epsilon: float = 0.004, rate: float = 10.0, beta: float = 1.5, t_final: float = 1.0) -> PDE:
    """Complex Ginzburg–Landau as two real fields on the periodic square [-1, 1)² (jaxpi's benchmark).

    ``A_t = epsilon ΔA + rate A - rate (1 + i beta) |A|² A`` as ``u = Re A``, ``v = Im A``:

        u_t = epsilon Δu + rate u - rate |A|² (u - beta v),
        v_t = epsilon Δv + rate v - rate |A|² (v + beta u).

    jaxpi's (PirateNet) benchmark (``examples/ginzburg_landau``): ``rate = 10``,
    ``epsilon = rate / 50² = 0.004``, ``beta = 1.5``, ``t ∈ [0, 1]``, from
    ``A0 = 10 (y + i x) exp(-25 (x² + y²))``. Cubic: dealias a spectral reference with
    ``"1/2"``.
    """
    if epsilon <= 0:
        raise ConfigError("epsilon", epsilon, "a positive diffusion coefficient")

    def initial(x, p):
        g = 10 * jnp.exp(-25 * (x[0] ** 2 + x[1] ** 2))
        return {"u": x[1] * g, "v": x[0] * g}

    def cubic(f, p):
        a2 = f.u**2 + f.v**2
        return {"u": -p["rate"] * a2 * (f.u - p["beta"] * f.v), "v": -p["rate"] * a2 * (f.v + p["beta"] * f.u)}

    return PDE(
        name="ginzburg_landau", fields=("u", "v"), domain=Box(x=(-1.0, 1.0), y=(-1.0, 1.0), t=(0.0, t_final)),
        params={"epsilon": epsilon, "rate": rate, "beta": beta},
        linear={"u": {"u_xx": "epsilon", "u_yy": "epsilon", "u": "rate"},
                "v": {"v_xx": "epsilon", "v_yy": "epsilon", "v": "rate"}},
        nonlinear=cubic,
        initial=initial,
        boundary=Periodic(),
    )


@PDES.register("helmholtz")
def helmholtz(a1: float = 1.0, a2: float = 4.0, k: float = 1.0) -> PDE:
    """Helmholtz Δu + k² u = q on [-1, 1]² with the manufactured solution sin(a1 πx) sin(a2 πy).

    ``u = 0`` on the boundary (Wang, Teng & Perdikaris 2021; the R3 paper's Helmholtz,
    ``a1 = 1, a2 = 4, k = 1``): ``q = (k² - (a1² + a2²) π²) u``, a forcing term. Integer
    ``a1``, ``a2`` make the boundary condition hold.
    """
    for name, value in (("a1", a1), ("a2", a2), ("k", k)):
        if not abs(value) <= 1e6:
            raise ConfigError(name, value, "a number of magnitude at most 1e6")

    def solution(x, y, xp):
        return xp.sin(a1 * xp.pi * x) * xp.sin(a2 * xp.pi * y)

    def exact(points, params):
        return solution(points[:, 0], points[:, 1], np)[:, None]

    factor = k**2 - (a1**2 + a2**2) * math.pi**2
    return PDE(
        name="helmholtz", fields=("u",), domain=Box(x=(-1.0, 1.0), y=(-1.0, 1.0)),
        params={"k2": k**2},
        linear={"u": {"u_xx": 1.0, "u_yy": 1.0, "u": "k2"}},
        forcing=lambda f, p: {"u": -factor * solution(f.x, f.y, jnp)},
        boundary=Dirichlet(0.0),
        exact=exact,
    )


def _klein_gordon_solution(x, t, xp):
    return x * xp.cos(5 * xp.pi * t) + (x * t) ** 3


@PDES.register("klein_gordon_forced")
def klein_gordon_forced(t_final: float = 1.0) -> PDE:
    """Cubic Klein–Gordon u_tt = u_xx - u³ + f on [0, 1]² with the solution x cos(5πt) + (xt)³.

    The manufactured solution of Wang, Teng & Perdikaris (2021, α = -1, β = 0, γ = 1, k = 3;
    the MultiAdam paper's Klein–Gordon): u(x, 0) = x, u_t(x, 0) = 0, and on the
    boundary the solution's values, u(0, t) = 0 and u(1, t) = cos(5πt) + t³
    (:class:`~pdejax.pde.DirichletData`: soft constraints).
    """
    def source(f, p):
        x, t = f.x, f.t
        u = _klein_gordon_solution(x, t, jnp)
        u_tt = -25 * jnp.pi**2 * x * jnp.cos(5 * jnp.pi * t) + 6 * x**3 * t
        u_xx = 6 * x * t**3
        return {"u": u_tt - u_xx + u**3}

    def exact(points, params):
        return _klein_gordon_solution(points[:, 0], points[:, 1], np)[:, None]

    return PDE(
        name="klein_gordon_forced", fields=("u",), domain=Box(x=(0.0, 1.0), t=(0.0, t_final)),
        second_order=("u",),
        linear={"u": {"u_xx": 1.0}},
        nonlinear=lambda f, p: {"u": -f.u**3},
        forcing=source,
        initial=lambda x, p: {"u": x[0], "u_t": jnp.zeros_like(x[0])},
        boundary=DirichletData(lambda point, p: {"u": _klein_gordon_solution(point[0], point[1], jnp)}),
        exact=exact,
    )


# Ghia, Ghia & Shin (1982), J. Comput. Phys. 48, 387-411: Table I (u along the vertical
# centre line x = 0.5) and Table II (v along the horizontal centre line y = 0.5), the
# Re = 100 columns, typed in as published (129 x 129 grid solution).
GHIA_RE100 = {
    "y": (1.0000, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5000, 0.4531, 0.2813, 0.1719,
          0.1016, 0.0703, 0.0625, 0.0547, 0.0000),
    "u": (1.00000, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581, -0.21090,
          -0.15662, -0.10150, -0.06434, -0.04775, -0.04192, -0.03717, 0.00000),
    "x": (1.0000, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5000, 0.2344, 0.2266, 0.1563,
          0.0938, 0.0781, 0.0703, 0.0625, 0.0000),
    "v": (0.00000, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533, 0.05454, 0.17527,
          0.17507, 0.16077, 0.12317, 0.10890, 0.10091, 0.09233, 0.00000),
}
GHIA_TABLES = {100: GHIA_RE100}
"""Ghia et al.'s centre-line tables by Reynolds number (only Re = 100 is typed in)."""


def ghia_reference(reynolds: float) -> tuple[np.ndarray, np.ndarray]:
    """Ghia et al.'s centre-line velocities as ``(points (34, 2), values (34, 3))``: ``u``
    at ``(0.5, y_i)`` and ``v`` at ``(x_i, 0.5)``, the other entries (and ``p``) ``nan``
    (not measured). ValueError for a Reynolds number without a table."""
    table = GHIA_TABLES.get(int(reynolds)) if float(reynolds).is_integer() else None
    if table is None:
        raise ValueError(f"no Ghia et al. table for Re = {reynolds:g}; typed in: {sorted(GHIA_TABLES)}")
    y, x = np.asarray(table["y"]), np.asarray(table["x"])
    points = np.concatenate([np.stack([np.full_like(y, 0.5), y], -1), np.stack([x, np.full_like(x, 0.5)], -1)])
    values = np.full((points.shape[0], 3), np.nan)
    values[: y.size, 0] = table["u"]
    values[y.size:, 1] = table["v"]
    return points, values


@PDES.register("lid_driven_cavity")
def lid_driven_cavity(reynolds: float = 100.0, lid_sharpness: float = 50.0) -> PDE:
    """Steady lid-driven cavity flow in the unit square, velocity–pressure form (jaxpi's lid).

        u u_x + v u_y + p_x = ν Δu,   u v_x + v v_y + p_y = ν Δv,   u_x + v_y = 0,

    ``ν = 1 / reynolds`` (the third row is the continuity equation, the residual of ``p``).
    The lid ``y = 1`` moves with jaxpi's smoothed profile
    ``u = 1 - cosh(s (x - 1/2)) / cosh(s/2)`` (``s = lid_sharpness = 50``), which vanishes
    at the corners; ``u = v = 0`` on the other walls, ``p`` free
    (:class:`~pdejax.pde.DirichletData`: soft constraints). Reference: Ghia et al.'s
    centre-line tables (:func:`ghia_reference`, Re = 100), whose lid is uniform — the
    smoothed lid differs only within ~0.1 of the corners.
    """
    if not reynolds >= 1e-12:
        raise ConfigError("reynolds", reynolds, "a positive Reynolds number (at least 1e-12)")
    if not lid_sharpness > 0:
        raise ConfigError("lid_sharpness", lid_sharpness, "a positive number")
    s = lid_sharpness

    def lid(point, p):
        x, y = point[0], point[1]
        a = jnp.abs(x - 0.5)
        # 1 - cosh(s a) / cosh(s/2), written without cosh: finite for any s
        top = 1 - jnp.exp(s * (a - 0.5)) * (1 + jnp.exp(-2 * s * a)) / (1 + jnp.exp(-s))
        # Points on the top edge: y = 1 up to round-off of the sampler's float32 box.
        return {"u": jnp.where(y >= 1 - 1e-6, top, 0.0), "v": jnp.zeros_like(x)}

    def convection(f, p):
        return {"u": -(f.u * f.u_x + f.v * f.u_y), "v": -(f.u * f.v_x + f.v * f.v_y)}

    return PDE(
        name="lid_driven_cavity", fields=("u", "v", "p"), domain=Box(x=(0.0, 1.0), y=(0.0, 1.0)),
        params={"nu": 1.0 / reynolds},
        linear={"u": {"u_xx": "nu", "u_yy": "nu", "p_x": -1.0},
                "v": {"v_xx": "nu", "v_yy": "nu", "p_y": -1.0},
                "p": {"u_x": 1.0, "v_y": 1.0}},
        nonlinear=convection,
        boundary=DirichletData(lid),
    )
