"""The problems of ``spectral.py``: each a pdejax PDE and the matching exponax stepper.

Kept apart from the driver so that the definitions (grids, time steps, sweeps, notes) read
as one table. exponax is configured as its best for each problem: its conservative
convection where it has one (KS, Burgers: one inverse and one forward transform per stage),
ETDRK4 and ETDRK2 both timed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from pdejax.pde.library.one_d import burgers, kuramoto_sivashinsky
from pdejax.pde.library.reaction import gray_scott
from pdejax.pde.library.two_d import navier_stokes_2d

try:
    import exponax as ex
except ImportError:  # the report then says so; pdejax is still timed
    ex = None


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: the pdejax definition and the matching exponax stepper.

    ``exponax_stepper(dt, order, dealiasing_fraction)`` builds the peer; its state is
    ``exponax_sign`` times pdejax's (exponax's vorticity has the opposite sign).
    ``advective_pde`` is the same PDE with its convection written ``-u u_x`` (the "before"
    of the transform counts), ``None`` where there is no other form. A problem with
    ``batch > 0`` advances ``batch`` translated copies of problem ``base``'s initial state
    (``jax.vmap``) and shares its float64 reference (translated alike).
    """

    name: str
    equation: str
    pde: object
    n_points: int
    reference_dt: float
    final_time: float
    dt_factors: tuple[float, ...]
    reference_dt_divisor: int
    steps_per_call: int
    exponax_stepper: Callable
    exponax_sign: float = 1.0
    dealias: str = "2/3"
    advective_pde: object = None
    initial: str = "definition"  # or "random_vorticity", "random_1d", "random_reaction"
    warmup_time: float = 0.0
    warmup_dt: float = 0.0
    batch: int = 0
    base: str | None = None
    background: tuple[float, ...] | None = None  # per field, subtracted before the relative error
    fft_bound: bool = False
    cross_check_reference: bool = True
    sweep_repeats: int | None = None
    notes: tuple[str, ...] = field(default=())


PROBLEM_NAMES = ("ks_1d", "burgers_1d", "kolmogorov_2d", "ks_1d_4096", "kolmogorov_2d_512", "gray_scott_3d",
                 "ks_1d_batch_64", "ks_1d_batch_1024")


def _ks(length: float, n: int):
    return lambda dt, order, frac: ex.stepper.KuramotoSivashinskyConservative(
        1, length, n, dt, order=order, dealiasing_fraction=frac)


def _kolmogorov(n: int, nu: float):
    return lambda dt, order, frac: ex.stepper.KolmogorovFlowVorticity(
        2, 2 * math.pi, n, dt, diffusivity=nu, drag=-0.1, injection_mode=4, injection_scale=-1.0,
        order=order, dealiasing_fraction=frac)


KS_NOTES = (
    "u0: Kassam–Trefethen cos(2 pi x/L)(1 + sin(2 pi x/L)) advanced through the transient (warmup_time) by "
    "pdejax ETDRK4 in float64, then band-limited; the error runs start there",
    "pdejax: the flux -u^2/2 (the default form, one inverse and one forward transform per stage); exponax: "
    "KuramotoSivashinskyConservative (its (u^2)_x / 2, the same two transforms); the advective -u u_x "
    "(form='advective', three transforms per stage) is the 'before' of the transform counts and is timed too",
    "chaotic: the largest Lyapunov exponent is ~0.1 per time unit, so T = 16 (8 with --quick), short enough "
    "that a trajectory error is still meaningful",
)


def build_problems(quick: bool) -> list[Problem]:
    ks = kuramoto_sivashinsky(length=60.0)
    ks_adv = kuramoto_sivashinsky(length=60.0, form="advective")
    ks_batch = dict(
        equation="u_t + u u_x + u_xx + u_xxxx = 0, x in [0, 60), N = 256, translated copies of ks_1d's u0",
        pde=ks, advective_pde=ks_adv, n_points=256, reference_dt=0.1, final_time=8.0 if quick else 16.0,
        reference_dt_divisor=4, exponax_stepper=_ks(60.0, 256), base="ks_1d", sweep_repeats=2)
    nu_512 = 1e-3
    problems = [
        Problem(
            name="ks_1d", equation="u_t + u u_x + u_xx + u_xxxx = 0, x in [0, 60)", pde=ks, advective_pde=ks_adv,
            n_points=256, reference_dt=0.1, final_time=8.0 if quick else 16.0,
            dt_factors=(1, 4) if quick else (0.125, 0.25, 0.5, 1, 2, 4, 8, 16), reference_dt_divisor=4,
            steps_per_call=500 if quick else 1000, warmup_time=20.0 if quick else 100.0, warmup_dt=0.05,
            exponax_stepper=_ks(60.0, 256), notes=KS_NOTES),
        Problem(
            name="burgers_1d", equation="u_t + u u_x = 0.01 u_xx, x in [0, 1)",
            pde=burgers(nu=0.01, x_min=0.0, x_max=1.0, periodic=True),
            advective_pde=burgers(nu=0.01, x_min=0.0, x_max=1.0, periodic=True, form="advective"),
            n_points=256, reference_dt=1e-3, final_time=0.32 if quick else 0.64,
            dt_factors=(2, 8) if quick else (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64), reference_dt_divisor=4,
            steps_per_call=500 if quick else 1000,
            exponax_stepper=lambda dt, order, frac: ex.stepper.Burgers(
                1, 1.0, 256, dt, diffusivity=0.01, conservative=True, order=order, dealiasing_fraction=frac),
            notes=("exponax's Burgers domain [0, 1) (domain_extent=1); u0 = sin(2 pi x), the pdejax definition's "
                   "initial condition on that interval; a shock of width ~2 nu forms at t = 1/(2 pi) and is "
                   "resolved at N = 256",
                   "pdejax: the flux -u^2/2 (default); exponax: Burgers(conservative=True), its faster form "
                   "(the default u u_x costs three transforms per stage); the two forms are equal after 2/3 "
                   "dealiasing, to round-off")),
        Problem(
            name="kolmogorov_2d", equation="w_t + u.grad(w) = nu lap(w) - 0.1 w - 4 cos(4 y), lap(psi) = -w, "
                                           "u = (psi_y, -psi_x), nu = 0.01, [0, 2 pi)^2",
            pde=navier_stokes_2d(nu=0.01, forcing="kolmogorov", drag=0.1, wavenumber=4, length=2 * math.pi),
            n_points=128, reference_dt=0.01, final_time=0.4 if quick else 2.4,
            dt_factors=(1, 2) if quick else (0.25, 0.5, 1, 1.5, 2, 3, 4), reference_dt_divisor=2,
            steps_per_call=50 if quick else 200, initial="random_vorticity", warmup_time=1.0 if quick else 10.0,
            warmup_dt=0.01, exponax_stepper=_kolmogorov(128, 0.01), exponax_sign=-1.0,
            notes=("exponax's vorticity convection uses u = (d_y, -d_x) lap^-1 w, the velocity of -w: its state "
                   "is -w in pdejax's (standard) convention, so it is run on -w0 with injection_scale = -1 "
                   "(same PDE: see one_step_agreement); exponax's drag -0.1 is pdejax's drag 0.1",
                   "nu = 0.01 (Re = 100, exponax's suggestion for 128^2)",
                   "u0: a smooth random vorticity (seed 0) advanced warmup_time by pdejax ETDRK4 float64",
                   "T = a few time units: the flow is weakly turbulent, trajectory errors grow past that")),
        Problem(
            name="ks_1d_4096", equation="u_t + u u_x + u_xx + u_xxxx = 0, x in [0, 960), N = 4096 "
                                        "(the grid spacing of ks_1d)",
            pde=kuramoto_sivashinsky(length=960.0), advective_pde=kuramoto_sivashinsky(length=960.0, form="advective"),
            n_points=4096, reference_dt=0.1, final_time=8.0 if quick else 16.0,
            dt_factors=(1, 4) if quick else (0.125, 0.25, 0.5, 1, 2, 4, 8, 16), reference_dt_divisor=4,
            steps_per_call=200 if quick else 500, initial="random_1d", warmup_time=40.0 if quick else 100.0,
            warmup_dt=0.05, exponax_stepper=_ks(960.0, 4096), fft_bound=True, sweep_repeats=3,
            notes=("L = 60 * 16 = 960 with N = 256 * 16 keeps ks_1d's grid spacing",
                   "u0: smooth random noise (seed 0, amplitude 0.1, modes |m| <~ 64) advanced warmup_time by pdejax "
                   "ETDRK4 in float64 into the chaotic state (the definition's u0, one period of a cosine on "
                   "[0, 960), would grow far too slowly), then band-limited",
                   KS_NOTES[1])),
        Problem(
            name="kolmogorov_2d_512",
            equation=f"as kolmogorov_2d with nu = {nu_512:g} (Re = 1000), 512^2",
            pde=navier_stokes_2d(nu=nu_512, forcing="kolmogorov", drag=0.1, wavenumber=4, length=2 * math.pi),
            n_points=512, reference_dt=2e-3, final_time=0.024 if quick else 0.48,
            dt_factors=(1, 2) if quick else (1, 1.5, 2, 3, 4), reference_dt_divisor=2,
            steps_per_call=4 if quick else 20, initial="random_vorticity", warmup_time=0.04 if quick else 1.0,
            warmup_dt=4e-3, exponax_stepper=_kolmogorov(512, nu_512), exponax_sign=-1.0, fft_bound=True,
            cross_check_reference=False, sweep_repeats=3,
            notes=("nu = 1e-3 (Re = 1000) at 512^2 with 2/3 dealiasing (kept |k| <= 170): after the warm-up the "
                   "enstrophy beyond |k| = 100 is ~1e-9 of the total, resolved",
                   "u0: as kolmogorov_2d's (on 512^2), advanced warmup_time by pdejax ETDRK4 float64; max |u| ~ 2.4, "
                   "so dt = 2e-3 is a CFL number of ~0.4; ETDRK4 is stable to dt = 6e-3 (CFL ~1.2, the sweep's 8e-3 "
                   "blows up), ETDRK2 to 2e-3: stability, not accuracy, limits dt here in float32",
                   "a short final time and five dt values keep the sweep to a few minutes on 2 cores; the reference "
                   "is checked against itself at 2 dt, the exponax float64 cross-check over T is skipped here "
                   "(one_step_agreement checks the PDE)")),
        Problem(
            name="gray_scott_3d",
            equation="u_t = 2e-5 lap(u) + 0.04 (1 - u) - u v^2, v_t = 1e-5 lap(v) - 0.1 v + u v^2, [0, 2.5)^3",
            pde=gray_scott(dim=3, length=2.5, diffusivity_u=2e-5, diffusivity_v=1e-5, feed=0.04, kill=0.06,
                           width=0.1),
            n_points=64, reference_dt=1.0, final_time=4.0 if quick else 64.0,
            dt_factors=(1, 2) if quick else (0.5, 1, 2, 4, 8, 16), reference_dt_divisor=4, dealias="1/2",
            steps_per_call=4 if quick else 20, initial="random_reaction", background=(1.0, 0.0),
            exponax_stepper=lambda dt, order, frac: ex.stepper.reaction.GrayScott(
                3, 2.5, 64, dt, diffusivity_1=2e-5, diffusivity_2=1e-5, feed_rate=0.04, kill_rate=0.06, order=order,
                dealiasing_fraction=frac),
            fft_bound=True, cross_check_reference=False, sweep_repeats=3,
            notes=("pdejax.pde.library.gray_scott(dim=3) against exponax.stepper.reaction.GrayScott; both dealias "
                   "with the 1/2 rule (cubic term), same kept modes (|k| <= 15 per axis)",
                   "pdejax's definition puts -F u and -(F + k) v in the exponential part (F a constant forcing), "
                   "exponax in the nonlinear part: the same PDE split differently, so one step agrees to the "
                   "truncation error, not to round-off (one_step_agreement: the float64 difference falls at ~5th "
                   "order in dt), and the two ETDRK4 have different error constants",
                   "u0: (u, v) = (1 - g/2, g/4) with g a smooth random field in [0, 1] (seed 0, modes |k| <~ 3), "
                   "band-limited; errors are relative to the deviation from the trivial state (u, v) = (1, 0), "
                   "which changes by ~75% of its norm over T = 64",
                   "not stiff at 64^3 (Du k_max^2 dt ~ 0.1 at dt = 1): dt is limited by the reaction (rates ~0.1-0.3)",
                   "the reference is checked against itself at 2 dt; the exponax float64 cross-check over T is "
                   "skipped here")),
        Problem(name="ks_1d_batch_64", batch=64, dt_factors=(1, 4) if quick else (0.25, 0.5, 1, 2, 4, 8),
                steps_per_call=100 if quick else 200, **ks_batch,
                notes=("64 translated copies of ks_1d's warmed-up state, jax.vmap over the solvers' loops; the "
                       "error runs share ks_1d's reference (translated)",)),
        Problem(name="ks_1d_batch_1024", batch=1024, dt_factors=(1, 4) if quick else (0.25, 0.5, 1, 2, 4, 8),
                steps_per_call=10 if quick else 40, **ks_batch,
                notes=("1024 copies of ks_1d's warmed-up state translated by floor(k/4) grid points "
                       "(k = 0..1023; four copies per shift), jax.vmap over the solvers' loops; the error runs share "
                       "ks_1d's reference (translated)",)),
    ]
    return problems
