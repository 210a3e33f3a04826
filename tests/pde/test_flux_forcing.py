"""Flux (conservative) and forcing terms: one definition, the same right-hand side by
autodiff, FFT and Chebyshev collocation, and solvers that use them (float64)."""

import math
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pdejax.pde import (
    PDE,
    Box,
    Fields,
    Periodic,
    burgers,
    check_consistency,
    etdrk4_stepper,
    grid_for,
    grid_rhs,
    kuramoto_sivashinsky,
    pointwise_residual,
    spectral_solve,
)
from pdejax.pde.solve import to_fourier

pytestmark = pytest.mark.usefixtures("x64")  # float64 (tests/conftest.py)


def _random_field(dim, n_fields, seed=0):
    """A smooth 2π-periodic field of a space-time point ``(x..., t)``."""
    rng = np.random.default_rng(seed)
    waves = rng.integers(-3, 4, size=(n_fields, 5, dim + 1)).astype(float)
    amps, phases = rng.normal(size=(n_fields, 5)), rng.uniform(0, 2 * math.pi, size=(n_fields, 5))
    return lambda p: jnp.sum(amps * jnp.cos(jnp.einsum("ftd,d->ft", waves, p) + phases), axis=-1)


def _points(dim, n=7, seed=1):
    return jnp.asarray(np.random.default_rng(seed).uniform(0, 2 * math.pi, size=(n, dim + 1)))


def _pde(**terms):
    box = Box(x=(0.0, 2 * math.pi), t=(0.0, 1.0))
    return PDE(name="p", fields=("u",), domain=box, boundary=Periodic(),
               initial=lambda x, p: {"u": jnp.sin(x[0])}, **terms)


def test_flux_by_the_chain_rule_equals_the_written_out_divergence():
    """d/dx of fluxes that read a derivative, the coordinate and a parameter, against the
    divergence written out by hand: the autodiff residuals agree to round-off."""
    a = lambda x: 1 + 0.5 * jnp.sin(x)
    flux = _pde(params={"c": 0.7},
                flux=lambda f, p: {"u": {"x": f.u_x**3 + a(f.x) * f.u**2 + p["c"] * f.u}})
    by_hand = _pde(params={"c": 0.7}, nonlinear=lambda f, p: {"u": 3 * f.u_x**2 * f.u_xx + 0.5 * jnp.cos(f.x) * f.u**2
                                                               + 2 * a(f.x) * f.u * f.u_x + p["c"] * f.u_x})
    fn = _random_field(1, 1)
    for point in _points(1):
        for mode in ("jvp", "jet"):
            np.testing.assert_allclose(pointwise_residual(flux, fn, point, mode),
                                       pointwise_residual(by_hand, fn, point, mode), rtol=1e-12, atol=1e-12)


def test_two_dimensional_flux_of_a_constraint_driven_velocity():
    """Vorticity transport as a divergence ∂x(ψ_y w) - ∂y(ψ_x w) equals the advective
    Jacobian (ψ is divergence-free by construction) at points, and by FFT on a grid."""
    box = Box(x=(0.0, 2 * math.pi), y=(0.0, 2 * math.pi), t=(0.0, 1.0))
    common = dict(name="ns", fields=("w", "psi"), constraints=("psi",), domain=box, boundary=Periodic(),
                  linear={"psi": {"psi_xx": 1.0, "psi_yy": 1.0, "w": 1.0}},
                  initial=lambda x, p: {"w": jnp.sin(x[0]) * jnp.cos(x[1])})
    conservative = PDE(flux=lambda f, p: {"w": {"x": -f.psi_y * f.w, "y": f.psi_x * f.w}}, **common)
    advective = PDE(nonlinear=lambda f, p: {"w": -(f.psi_y * f.w_x - f.psi_x * f.w_y)}, **common)
    fn = _random_field(2, 2)
    mixed = lambda p: fn(p).at[1].set(fn(p)[1] + jnp.sin(p[0]) * jnp.sin(p[1]))  # a non-trivial psi
    for point in _points(2):
        flux_res, adv_res = (pointwise_residual(pde, mixed, point) for pde in (conservative, advective))
        # The two differ by w·(ψ_yx - ψ_xy) = 0: equal to round-off.
        np.testing.assert_allclose(flux_res, adv_res, rtol=1e-12, atol=1e-12)
    report = check_consistency(conservative)
    assert report.ok, report


def test_second_order_field_with_a_flux_of_its_velocity():
    """u_tt = ∂x(u·u_t): the chain rule needs u_t's x-derivative (u_xt), found by name."""
    box = Box(x=(0.0, 2 * math.pi), t=(0.0, 1.0))
    flux = PDE(name="w", fields=("u",), domain=box, boundary=Periodic(), second_order=("u",),
               flux=lambda f, p: {"u": {"x": f.u * f.u_t}},
               initial=lambda x, p: {"u": jnp.sin(x[0]), "u_t": 0.0})
    by_hand = PDE(name="w", fields=("u",), domain=box, boundary=Periodic(), second_order=("u",),
                  nonlinear=lambda f, p: {"u": f.u_x * f.u_t + f.u * f.u_t_x},
                  initial=lambda x, p: {"u": jnp.sin(x[0]), "u_t": 0.0})
    fn = _random_field(1, 1, seed=3)
    for point in _points(1):
        np.testing.assert_allclose(pointwise_residual(flux, fn, point), pointwise_residual(by_hand, fn, point),
                                   rtol=1e-12, atol=1e-12)
    assert check_consistency(flux).ok


def test_conservative_and_advective_forms_agree():
    """KS and periodic Burgers: the two forms give the same grid right-hand side, and the
    same ETDRK4 trajectory from band-limited data under 2/3 dealiasing, to round-off."""
    for build in (kuramoto_sivashinsky, lambda **k: burgers(periodic=True, nu=0.05, **k)):
        cons, adv = build(form="conservative"), build(form="advective")
        grid = grid_for(cons, 48)
        x, = grid.mesh()
        u = (jnp.sin(2 * math.pi * x / grid.lengths[0]) + 0.3 * jnp.cos(6 * math.pi * x / grid.lengths[0]))[None]
        np.testing.assert_allclose(grid_rhs(cons, grid, u), grid_rhs(adv, grid, u), atol=1e-12)
        runs = [spectral_solve(p, grid, u, dt=1e-3, n_steps=200, save_every=200)[-1] for p in (cons, adv)]
        np.testing.assert_allclose(runs[0], runs[1], atol=1e-12)


def test_transforms_per_stage_follow_from_the_definition():
    """Only the spectra the terms read go back to the grid; only the terms come forward."""
    counts = lambda pde, n=16, **kw: etdrk4_stepper(pde, grid_for(pde, n), 0.1, **kw).nonlinear.transforms_per_stage
    assert counts(kuramoto_sivashinsky()) == (1, 1)
    assert counts(kuramoto_sivashinsky(form="advective")) == (2, 1)
    from pdejax.pde import gray_scott, navier_stokes_2d
    assert counts(navier_stokes_2d()) == (4, 1)  # ψ_x, ψ_y, w_x, w_y; the forcing stays in Fourier space
    assert counts(gray_scott(dim=3), 8, dealias="1/2") == (2, 2)  # u, v; the feed F stays in Fourier space
    # And in the compiled step: 8 FFTs per ETDRK4 step for KS (12 in advective form).
    for form, expected in (("conservative", 8), ("advective", 12)):
        pde = kuramoto_sivashinsky(form=form)
        grid = grid_for(pde, 32)
        step = etdrk4_stepper(pde, grid, 0.1)
        compiled = jax.jit(lambda v, t, step=step: step(v, t)).lower(jnp.zeros((1, 17), jnp.complex128), 0.0)
        text = compiled.compile().as_text()
        ffts = re.findall(r"= \w+\[([\d,]*)\]\S* fft\(.*?fft_length=\{([\d,]+)\}", text)
        transforms = sum(math.prod(int(d) for d in shape.split(",")[:-len(lengths.split(","))])
                         for shape, lengths in ffts)
        assert transforms == expected, ffts


def test_time_independent_forcing_is_transformed_once_and_exact():
    """u_t = -ν u + s sin x (heat on mode 1 with a steady source): ETDRK4 is exact for a
    constant explicit part, so the closed form is met to round-off; the forcing is held in
    Fourier space (never re-evaluated), and a time-dependent one is evaluated per stage."""
    nu, s = 0.3, 2.0
    pde = _pde(params={"nu": nu}, linear={"u": {"u_xx": "nu"}}, forcing=lambda f, p: {"u": s * jnp.sin(f.x)})
    grid = grid_for(pde, 8)
    step = etdrk4_stepper(pde, grid, 0.1)
    assert step.nonlinear.forcing_hat is not None and not step.nonlinear.time_dependent_forcing
    assert step.nonlinear.transforms_per_stage == (0, 0)
    x, = grid.mesh()
    u = spectral_solve(pde, grid, jnp.sin(x)[None], dt=0.1, n_steps=20, save_every=20)[-1, 0]
    exact = (s / nu + (1 - s / nu) * math.exp(-nu * 2.0)) * jnp.sin(x)
    np.testing.assert_allclose(u, exact, atol=1e-13)
    moving = _pde(forcing=lambda f, p: {"u": jnp.cos(f.t) * jnp.sin(f.x)})
    step = etdrk4_stepper(moving, grid, 0.1)
    assert step.nonlinear.forcing_hat is None and step.nonlinear.time_dependent_forcing
    u = spectral_solve(moving, grid, jnp.zeros((1, 8)), dt=0.01, n_steps=100, save_every=100)[-1, 0]
    np.testing.assert_allclose(u, math.sin(1.0) * jnp.sin(x), atol=1e-10)


def test_invalid_flux_and_forcing_are_refused():
    pde = _pde(forcing=lambda f, p: {"u": f.u})
    with pytest.raises(ValueError, match=r"forcing of PDE 'p' reads \['u'\]"):
        etdrk4_stepper(pde, grid_for(pde, 8), 0.1)
    with pytest.raises(ValueError, match="components along \\['y'\\].*valid: the spatial coordinates"):
        check_consistency(_pde(flux=lambda f, p: {"u": {"y": f.u}}))
    with pytest.raises(ValueError, match="unknown fields \\['v'\\]"):
        check_consistency(_pde(flux=lambda f, p: {"v": {"x": f.u}}))
    pde = _pde(flux=lambda f, p: {"u": {"x": f.u}})
    with pytest.raises(ValueError, match="has flux terms: rhs needs their divergence"):
        pde.rhs(Fields(pde.fields, pde.domain.coords, lambda k: jnp.zeros(()), {"x": 0.0, "t": 0.0}))


class _Decay(eqx.Module):
    rate: jax.Array

    def __call__(self, f):
        return {"u": -self.rate * f.u}


def test_extra_term_hook_is_integrated_and_differentiable():
    """A learned-style term ``-c u`` through the ``extra`` hook: heat plus decay is met to
    round-off, and d u(T)/dc through the ETDRK4 rollout matches the closed form."""
    nu, T = 0.2, 1.0
    pde = _pde(params={"nu": nu}, linear={"u": {"u_xx": "nu"}})
    grid = grid_for(pde, 8)
    x, = grid.mesh()

    def final(c):
        step = etdrk4_stepper(pde, grid, 0.05, extra=_Decay(c))
        from pdejax.spectral import rollout
        v = rollout(step, 20, 20)(to_fourier(grid, jnp.sin(x)[None]))[-1]
        return jnp.fft.irfft(v[0], n=8)[2]

    c = jnp.asarray(0.4)
    exact = lambda c: math.exp(-(nu + c) * T) * math.sin(float(x[2]))
    np.testing.assert_allclose(final(c), exact(0.4), atol=1e-7)  # ETDRK4 truncation (explicit decay)
    np.testing.assert_allclose(jax.grad(final)(c), -T * exact(0.4), rtol=1e-5)
    fd = (final(c + 1e-6) - final(c - 1e-6)) / 2e-6
    np.testing.assert_allclose(jax.grad(final)(c), fd, rtol=1e-7)
    with pytest.raises(ValueError, match="extra terms returned \\['v'\\]"):
        etdrk4_stepper(pde, grid, 0.1, extra=lambda f: {"v": f.u})
