"""Neural Spectral Methods: coefficient-space calculus, the residual of a PDE definition, training.

Float64 throughout. The residual of an exact solution vanishes to round-off; of a perturbed
one it equals the closed-form residual's L² norm (Gauss quadrature, exact for these
integrands), because the loss is the residual function's norm by Parseval, not a grid sum.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pdejax
from pdejax.config import ConfigError
from pdejax.config.loading import load_config
from pdejax.data import generate
from pdejax.models import MODELS
from pdejax.objectives.operator import GridObjective, SpectralObjective, SpectralResidual, mean_relative_l2
from pdejax.objectives.operator.nsm import complete_on_grid
from pdejax.pde import PDE, Periodic, fisher_kpp, grid_rhs, navier_stokes_2d, poisson_source
from pdejax.spectral import ChebyshevSeries, FourierGrid, FourierSeries, TensorBasis
from tests.conftest import REPO

pytestmark = pytest.mark.usefixtures("x64")

NU, RHO = 0.05, 5.0


def gauss(n: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1) * (b - a) / 2 + a, w * (b - a) / 2


# -- coefficient-space calculus -----------------------------------------------------------------
def test_chebyshev_derivatives_products_and_norms_against_closed_forms():
    s = ChebyshevSeries(0.0, 2.0, 9)
    t = s.nodes()
    c = s.analysis() @ (t**5 - 3 * t**2 + 1)
    for order, exact in ((1, 5 * t**4 - 6 * t), (2, 20 * t**3 - 6), (3, 60 * t**2), (6, 0 * t)):
        np.testing.assert_allclose(s.synthesis(t) @ (s.derivative(order) @ c), exact, atol=1e-10)
    # multiplication by the unit coordinate t̂ = t - 1: one degree up, exact
    up = s.resized(10)
    np.testing.assert_allclose(up.synthesis(t) @ (s.times_unit() @ c), (t - 1) * (t**5 - 3 * t**2 + 1), atol=1e-11)
    # ∫ u² (Lebesgue, dense Gram matrix) and ∫ u² / sqrt(1 - t̂²) (Chebyshev weight, diagonal)
    q, w = gauss(20, 0.0, 2.0)
    u = q**5 - 3 * q**2 + 1
    assert c @ s.gram() @ c == pytest.approx(np.sum(w * u**2), rel=1e-13)
    theta, wc = np.pi * (np.arange(40) + 0.5) / 40, np.full(40, np.pi / 40)  # Gauss–Chebyshev
    tc = 1 - np.cos(theta)
    assert c @ s.gram(weighted=True) @ c == pytest.approx(np.sum(wc * (tc**5 - 3 * tc**2 + 1) ** 2), rel=1e-13)


def test_fourier_symbols_and_the_projection_from_an_even_grid():
    s = FourierSeries(0.0, 2 * math.pi, 9)
    x = s.nodes()
    c = s.analysis() @ (np.sin(3 * x) + 0.5 * np.cos(x))
    np.testing.assert_allclose(s.synthesis(x) @ (s.derivative(1) @ c), 3 * np.cos(3 * x) - 0.5 * np.sin(x), atol=1e-12)
    np.testing.assert_allclose(s.synthesis(x) @ (s.derivative(2) @ c), -9 * np.sin(3 * x) - 0.5 * np.cos(x), atol=1e-12)
    xe = 2 * math.pi * np.arange(16) / 16  # an even grid: its Nyquist mode cos(8x) is not in the basis
    np.testing.assert_allclose(s.analysis(16) @ (np.sin(3 * xe) + np.cos(8 * xe)), s.analysis() @ np.sin(3 * x),
                               atol=1e-13)
    assert c @ s.gram() @ c == pytest.approx(math.pi * (1 + 0.25), rel=1e-13)


# -- the residual of a PDE definition, in coefficient space ------------------------------------
def poisson_setup(n: int = 9):
    pde = poisson_source(length=2 * math.pi)
    basis = TensorBasis(("x", "y"), (FourierSeries(0.0, 2 * math.pi, n),) * 2)
    source = basis.resized((15, 15))
    return pde, basis, source


def test_poisson_residual_vanishes_on_the_exact_solution_and_is_exact_when_perturbed():
    pde, basis, inputs = poisson_setup()
    residual = SpectralResidual(pde, basis, input_basis=inputs)
    x, y = basis.mesh()
    xs, ys = inputs.mesh()
    s = inputs.to_coefficients(5 * jnp.sin(xs) * jnp.cos(2 * ys))  # -Δ(sin x cos 2y) = 5 sin x cos 2y
    u = jnp.sin(x) * jnp.cos(2 * y)
    assert float(residual(basis.to_coefficients(u)[None], {"source": s})) < 1e-24  # (mean square: 1e-12²)
    eps = 0.1  # u + eps cos 3x sin y: R = Δ(eps cos 3x sin y) = -10 eps cos 3x sin y, mean square 25 eps²
    r = residual.residual(basis.to_coefficients(u + eps * jnp.cos(3 * x) * jnp.sin(y))[None], {"source": s})
    assert float(residual(basis.to_coefficients(u + eps * jnp.cos(3 * x) * jnp.sin(y))[None], {"source": s})) == \
        pytest.approx(25 * eps**2, rel=1e-12)
    xr, yr = residual.residual_basis().mesh()
    np.testing.assert_allclose(residual.residual_basis().from_coefficients(r[0]),
                               -10 * eps * jnp.cos(3 * xr) * jnp.sin(yr), atol=1e-12)


def manufactured(t, x):
    """``u = 0.5 + 0.3 (1 + t²) sin 2πx`` and the forcing that makes it solve reaction–diffusion."""
    s = jnp.sin(2 * math.pi * x)
    u = 0.5 + 0.3 * (1 + t**2) * s
    u_t, u_xx = 0.6 * t * s, -0.3 * (1 + t**2) * (2 * math.pi) ** 2 * s
    return u, u_t - NU * u_xx - RHO * u * (1 - u)


def reaction_pde(forced: bool) -> PDE:
    base = fisher_kpp(diffusion=NU, rate=RHO, length=1.0, t_final=1.0)
    if not forced:
        return base
    return PDE(name="rd_manufactured", fields=("u",), domain=base.domain, params=base.params,
               linear=base.linear, nonlinear=base.nonlinear, forcing=lambda f, p: {"u": manufactured(f.t, f.x)[1]},
               initial=base.initial, boundary=Periodic())


@pytest.mark.parametrize("dealias", ["exact", "3/2"])
def test_reaction_diffusion_residual_from_the_definition(dealias):
    basis = TensorBasis(("t", "x"), (ChebyshevSeries(0.0, 1.0, 6), FourierSeries(0.0, 1.0, 7)))
    t, x = basis.mesh()
    u, _ = manufactured(t, x)
    forced = SpectralResidual(reaction_pde(True), basis, dealias)
    assert float(eqx.filter_jit(forced)(basis.to_coefficients(u)[None])) < 1e-24
    # Unforced, the residual is the manufactured forcing itself; ρ u² is represented exactly on
    # the finer grid, so its norm is exact ("exact") or its projection on the basis ("3/2").
    plain = SpectralResidual(reaction_pde(False), basis, dealias)
    r = plain.residual(basis.to_coefficients(u)[None])[0]
    target = plain.residual_basis()
    assert target.sizes == ((11, 13) if dealias == "exact" else (6, 7))
    tq, xq = target.mesh()
    exact = manufactured(tq, xq)[1]
    if dealias == "exact":
        np.testing.assert_allclose(target.from_coefficients(r), exact, atol=1e-12)
        tg, wt = gauss(12, 0.0, 1.0)
        xg = np.arange(32) / 32
        f = np.asarray(manufactured(tg[:, None], xg[None, :])[1])
        assert float(plain(basis.to_coefficients(u)[None])) == pytest.approx(np.sum(wt[:, None] * f**2) / 32,
                                                                            rel=1e-12)
    else:  # projection: the coefficients of the forcing's modes inside the basis
        fine = basis.resized((11, 13))
        np.testing.assert_allclose(r, fine.embed(fine.to_coefficients(manufactured(*fine.mesh())[1]), target),
                                   atol=1e-12)


def test_constraint_fields_are_solved_in_coefficient_space():
    pde = navier_stokes_2d(nu=1e-3, forcing="none", length=2 * math.pi, t_final=1.0)
    basis = TensorBasis(("t", "x", "y"), (ChebyshevSeries(0.0, 1.0, 3), FourierSeries(0.0, 2 * math.pi, 7),
                                          FourierSeries(0.0, 2 * math.pi, 7)))
    t, x, y = basis.mesh()
    w = (1 + t) * (jnp.sin(x) * jnp.sin(y) + jnp.cos(2 * x))
    full = SpectralResidual(pde, basis).complete(basis.to_coefficients(w)[None])
    psi = basis.from_coefficients(full[1])  # Δψ = -w: ψ = (1 + t)(sin x sin y / 2 + cos 2x / 4)
    np.testing.assert_allclose(psi, (1 + t) * (jnp.sin(x) * jnp.sin(y) / 2 + jnp.cos(2 * x) / 4), atol=1e-12)


def test_navier_stokes_residual_equals_the_grid_evaluation_of_the_definition():
    pde = navier_stokes_2d(nu=0.01, forcing="fno", t_final=1.0)  # w, and psi with Δψ = -w
    basis = TensorBasis(("t", "x", "y"), (ChebyshevSeries(0.0, 1.0, 3), FourierSeries(0.0, 1.0, 7),
                                          FourierSeries(0.0, 1.0, 7)))

    def w(t, x, y):  # several wave numbers, so that the advection term does not vanish
        a, b = 2 * math.pi * x, 2 * math.pi * y
        return (1 + t) * jnp.sin(a) * jnp.sin(b) + t**2 * jnp.cos(2 * a) + 0.5 * jnp.sin(a + 2 * b)

    def w_t(t, x, y):
        a, b = 2 * math.pi * x, 2 * math.pi * y
        return jnp.sin(a) * jnp.sin(b) + 2 * t * jnp.cos(2 * a)

    residual = SpectralResidual(pde, basis)
    r = eqx.filter_jit(residual.residual)(basis.to_coefficients(w(*basis.mesh()))[None])[0]
    target = residual.residual_basis()
    assert target.sizes == (5, 13, 13)
    tq, xq, yq = target.mesh()
    grid = FourierGrid(("x", "y"), (0.0, 0.0), (1.0, 1.0), (13, 13))  # products of 7 modes: exact on 13

    def on_grid(t, values):
        return grid_rhs(pde, grid, complete_on_grid(pde, grid, values[None]), t)[0]

    rhs = jax.jit(jax.vmap(on_grid))(tq[:, 0, 0], w(tq, xq, yq))
    np.testing.assert_allclose(target.from_coefficients(r), w_t(tq, xq, yq) - rhs, atol=1e-10)


# -- the operator family ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def poisson_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("nsm") / "poisson.h5"
    data = {"name": "p", "seed": 0, "n_samples": 40, "chunk_size": 40, "dtype": "float64",
            "generator": {"name": "poisson_source", "n_points": 16, "max_wavenumber": 3, "precision": "float64"}}
    with jax.enable_x64(True):
        generate(data, path, progress=False)
    return path


def nsm_config(path, physics: str = "spectral", **objective) -> dict:
    return {
        "name": "nsm", "seed": 0, "dtype": "float64", "pde": {"name": "poisson_source"},
        "data": {"path": str(path), "input": {"source": None}, "output": {"tensor": [0]},
                 "n_test": 8, "n_train": 32, "batch_size": 8},
        "model": {"name": "fno", "modes": [3, 3], "width": 8, "n_layers": 1, "projection": 16},
        "objective": {"name": "operator", "physics": physics, "physics_weight": 1.0,
                      "residual": {"sizes": {"x": 9, "y": 9}, "output_scale": 0.05, **objective}},
        "optimizer": {"name": "adam", "learning_rate": 1e-2},
        "train": {"steps": 10, "steps_per_call": 10, "log_every": 10, "eval_every": 10,
                  "checkpoint_every": 10, "progress": False, "plots": False},
        "parallel": {"data": 1},
    }


def test_a_short_nsm_training_lowers_the_error_against_the_spectral_reference(poisson_file):
    exp = pdejax.build(nsm_config(poisson_file))
    method, objective = exp.method, exp.method.objective
    assert isinstance(objective, SpectralObjective) and objective.loss_names == ("physics",)
    batch = method.source.get(0, 1)
    assert set(batch) == {"x"}  # inputs only: the solutions never reach the objective
    x = jnp.asarray(batch["x"][0])
    x_test, y_test = map(jnp.asarray, method.evaluator.views.pairs(method.evaluator.views.test_rows))
    optimizer = optax.adam(1e-2)

    @eqx.filter_jit
    def train(model):
        def error(m):  # the test set's relative L2 error against the spectral reference
            return mean_relative_l2(objective.physical(m).batch(x_test), y_test)

        def one(carry, _):
            model, state = carry
            loss, grads = eqx.filter_value_and_grad(lambda m: objective.loss(m, {"x": x}, None)[0]["physics"])(model)
            updates, state = optimizer.update(grads, state, eqx.filter(model, eqx.is_array))
            return (eqx.apply_updates(model, updates), state), loss

        state = optimizer.init(eqx.filter(model, eqx.is_array))
        (trained, _), losses = jax.lax.scan(one, (model, state), None, length=60)
        mean = objective.physical(trained).coefficients(x)[:, :, 0, 0]
        return error(model), error(trained), losses, mean

    before, after, losses, mean = train(method.model)
    assert float(losses[-1]) < 0.2 * float(losses[0])
    assert float(after) < 0.5 * float(before), (before, after)
    assert float(jnp.max(jnp.abs(mean))) == 0.0  # the mean is zero by construction, as the reference's


def test_the_grid_residual_of_the_reference_vanishes(poisson_file):
    exp = pdejax.build(nsm_config(poisson_file, "grid", grid={"x": 16, "y": 16}))
    objective = exp.method.objective
    assert isinstance(objective, GridObjective)
    views_x, views_y = exp.method.evaluator.views.pairs(np.arange(4))

    class Reference(eqx.Module):  # returns the stored solution for the stored source
        def __call__(self, v):
            s = v[0]
            k = 2 * math.pi * jnp.fft.fftfreq(16, 1 / 16)
            k2 = k[:, None] ** 2 + k[None, :] ** 2
            return jnp.fft.ifft2(jnp.fft.fft2(s) / jnp.where(k2 == 0, 1, k2)).real[None] / objective.output_scale

    terms, _ = objective.loss(Reference(), {"x": jnp.asarray(views_x)}, None)
    assert float(terms["physics"]) < 1e-20
    pred = objective.physical(Reference()).batch(jnp.asarray(views_x))
    np.testing.assert_allclose(pred, views_y, atol=1e-12)


@pytest.mark.parametrize(("change", "key"), [
    ({"pde": {"name": "poisson_source", "boundary": "dirichlet"}}, "pde"),  # on a uniform grid, not Chebyshev
    ({"objective": {"residual": {"sizes": {"x": 8, "y": 9}}}}, "objective.residual.sizes.x"),
    ({"objective": {"residual": {"sizes": {"t": 8}}}}, "objective.residual.sizes.t"),
    ({"objective": {"physics_weight": 0.0}}, "objective.physics_weight"),
    ({"data": {"normalize": "both"}}, "data.normalize"),
    ({"data": {"input": {"tensor": [0]}}}, "data.input.tensor"),
    ({"objective": {"weights": {"data": 1.0}}}, "objective.weights.data"),
])
def test_what_the_routines_cannot_honour_is_refused(poisson_file, change, key):
    cfg = nsm_config(poisson_file)
    for section, value in change.items():
        if section == "objective" and "residual" in value:
            cfg["objective"]["residual"] = {**cfg["objective"]["residual"], **value["residual"]}
        elif section in ("objective", "data"):
            cfg[section] = {**cfg[section], **value}
        else:
            cfg[section] = value
    with pytest.raises(ConfigError) as err:
        pdejax.build(cfg)
    assert err.value.key == key, str(err.value)


@pytest.mark.parametrize("name", ["nsm_poisson", "pino_poisson", "nsm_reaction_diffusion", "pino_reaction_diffusion",
                                  "nsm_navier_stokes", "pino_navier_stokes", "nsm_poisson_dirichlet",
                                  "pino_poisson_dirichlet"])
def test_shipped_configs_validate_and_their_models_fit_the_collocation_grid(name):
    cfg = load_config(REPO / "pdejax" / "configs" / "operator" / f"{name}.yaml")
    pair = {"nsm": "pino", "pino": "nsm"}[name.split("_")[0]] + name[name.index("_"):]
    other = load_config(REPO / "pdejax" / "configs" / "operator" / f"{pair}.yaml")
    differs = {k for k in cfg.model_dump() if cfg.model_dump()[k] != other.model_dump()[k]}
    assert differs == {"name", "objective"} and cfg.objective.model_dump(exclude={"physics"}) == \
        other.objective.model_dump(exclude={"physics"})  # the same config, one key changed
    residual = cfg.objective.residual
    axes = {"poisson": ("x", "y"), "reaction": ("t", "x"), "navier": ("t", "x", "y")}[name.split("_")[1]]
    grid = [(residual.sizes if cfg.objective.physics == "spectral" else residual.grid)[a] for a in axes]
    model = eqx.filter_eval_shape(lambda: MODELS.build(cfg.model.name, cfg.model.args, where="model", dtype=jnp.float32,
                                                       key=jax.random.PRNGKey(0), in_size=1, out_size=1))
    assert eqx.filter_eval_shape(model, jax.ShapeDtypeStruct((1, *grid), jnp.float32)).shape == (1, *grid)
