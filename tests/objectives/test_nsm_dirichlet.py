"""Neural Spectral Methods with a Dirichlet boundary: a Chebyshev basis in space, the value built in.

Float64. The lift ``u = g + ∏(1 - x̂_i²) v`` holds on the boundary for any network output; the
coefficient-space residual of ``-Δu = s`` on ``[0, 1]²`` vanishes on a manufactured solution
and, perturbed by ``ε b T_1(x̂)``, equals a closed form; the grid (collocation) residual of the
stored reference vanishes; a short training through ``pdejax.train`` lowers the test error.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdejax
from pdejax.config import ConfigError
from pdejax.data import generate, load_dataset
from pdejax.data.nsm_problems import ChebyshevPoisson, lobatto_nodes
from pdejax.objectives.operator import GridObjective, SpectralObjective, SpectralResidual
from pdejax.objectives.operator.boundary_lift import DirichletLift
from pdejax.objectives.operator.nsm_inputs import chebyshev_inputs
from pdejax.pde import poisson_source
from pdejax.spectral import ChebyshevGrid, ChebyshevSeries, TensorBasis

pytestmark = pytest.mark.usefixtures("x64")


def cheb(n: int) -> ChebyshevSeries:
    return ChebyshevSeries(0.0, 1.0, n)


@pytest.mark.parametrize("value", [0.0, 0.7])
def test_the_lift_holds_the_boundary_value_for_any_network_output(value):
    net = TensorBasis(("x", "y"), (cheb(6), cheb(7)))
    lift = DirichletLift(value, ("x", "y"), (0.0, 0.0), (1.0, 1.0))
    v = jax.random.normal(jax.random.key(0), (2, 6, 7))  # two fields' coefficients
    basis = lift.basis(net)
    assert basis.sizes == (8, 9)
    t = np.linspace(0.0, 1.0, 11)
    ends, inside = np.array([0.0, 1.0]), np.array([0.2, 0.55])

    @jax.jit
    def values(v):
        u = lift.coefficients(net, v)
        pointwise = lift.values(net.evaluate(v, (inside, inside)), (inside, inside))  # u = g + b v
        inner = basis.evaluate(u, (inside, inside))
        return basis.evaluate(u, (ends, t)), basis.evaluate(u, (t, ends)), inner, pointwise

    on_x, on_y, inner, pointwise = values(v)
    np.testing.assert_allclose(on_x, value, atol=1e-14)
    np.testing.assert_allclose(on_y, value, atol=1e-14)
    np.testing.assert_allclose(inner, pointwise, atol=1e-14)


class Fixed(eqx.Module):
    """A "network" returning fixed values on the collocation nodes, whatever the input."""

    values: jax.Array

    def __call__(self, x):
        return self.values


def poisson_objective(weighted: bool, n: int = 5, grid: int = 9):
    pde = poisson_source(boundary="dirichlet")
    inputs = chebyshev_inputs((0.0, 0.0), (1.0, 1.0), (grid, grid), ("x", "y"), params=("source",))
    net = TensorBasis(("x", "y"), (cheb(n), cheb(n)))
    lift = DirichletLift(0.0, ("x", "y"), (0.0, 0.0), (1.0, 1.0))
    residual = SpectralResidual(pde, lift.basis(net), weighted=weighted, input_basis=inputs.space)
    points = tuple(tuple(float(v) for v in c) for c in inputs.space.coordinates())
    return SpectralObjective(residual, net, inputs, 1.0, False, points, lift), net, inputs


@pytest.mark.parametrize(("weighted", "closed_form"), [(False, 14848 / 105), (True, 136.0)])
def test_the_residual_vanishes_on_a_manufactured_solution_and_equals_a_closed_form_when_perturbed(
        weighted, closed_form):
    # u = x(1 - x) y(1 - y) = b / 16 (b = (1 - x̂²)(1 - ŷ²)), s = -Δu = 2 [x(1 - x) + y(1 - y)]. With
    # v = 1/16 + ε T_1(x̂) the residual is Δ(ε b x̂) = -8 ε x̂ (4 - x̂² - 3ŷ²), whose mean square is
    # 64 ε² E[X (4 - X - 3Y)²] (X = x̂², Y = ŷ²): 14848 ε² / 105 for the uniform measure (E x̂^2k = 1/(2k+1)),
    # 136 ε² for the Chebyshev weight (the arcsine law: E x̂², x̂⁴, x̂⁶ = 1/2, 3/8, 5/16).
    objective, net, inputs = poisson_objective(weighted)
    x, y = inputs.space.mesh()
    s = 2 * (x * (1 - x) + y * (1 - y))
    xn, _ = net.mesh()

    def loss(eps):
        model = Fixed((1 / 16 + eps * (2 * xn - 1))[None])
        return float(eqx.filter_jit(objective.loss)(model, {"x": s[None, None]}, None)[0]["physics"])

    assert loss(0.0) < 1e-26
    eps = 0.1
    assert loss(eps) == pytest.approx(closed_form * eps**2, rel=1e-12)
    u = eqx.filter_jit(objective.physical(Fixed((1 / 16 + 0 * xn)[None])))(s[None])  # on the data's nodes
    np.testing.assert_allclose(u[0], x * (1 - x) * y * (1 - y), atol=1e-15)


# -- the operator family ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dirichlet_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("nsm_dirichlet") / "poisson.h5"
    data = {"name": "p", "seed": 0, "n_samples": 40, "chunk_size": 40, "dtype": "float64",
            "generator": {"name": "poisson_dirichlet", "n_points": 9, "length_scale": 0.4, "precision": "float64"}}
    with jax.enable_x64(True):
        generate(data, path, progress=False)
    return path


def test_the_file_holds_sources_and_solutions_on_the_lobatto_nodes(dirichlet_file):
    ds = load_dataset(dirichlet_file, split=None)
    assert ds.spatial == ("x", "y") and ds.attrs["boundary"] == "dirichlet"
    for c in ("x", "y"):  # ascending, both ends included
        coord = ds.coordinates[f"{c}-coordinate"]
        np.testing.assert_allclose(coord, lobatto_nodes(9, 0.0, 1.0), atol=1e-15)
        assert coord[0] == 0.0 and coord[-1] == 1.0 and np.all(np.diff(coord) > 0)
    u, s = np.asarray(ds.arrays["tensor"])[:, 0], np.asarray(ds.arrays["source"])
    assert u.shape == s.shape == (40, 9, 9) and np.all(np.std(s, axis=(1, 2)) > 0.1)
    assert np.all(u[:, [0, -1]] == 0) and np.all(u[:, :, [0, -1]] == 0)
    grid = ChebyshevGrid(("x", "y"), (0.0, 0.0), (1.0, 1.0), (9, 9))
    lap = np.einsum("ij,njk->nik", grid.differentiation_matrix(0, 2, jnp.float64), u) \
        + np.einsum("jk,nik->nij", grid.differentiation_matrix(1, 2, jnp.float64), u)
    assert np.max(np.abs(lap + s)[:, 1:-1, 1:-1]) < 1e-10 * np.max(np.abs(s))  # -Δu = s at the interior nodes


def dirichlet_config(path, physics: str = "spectral", steps: int = 10, **objective) -> dict:
    return {
        "name": "nsm_dirichlet", "seed": 0, "dtype": "float64",
        "pde": {"name": "poisson_source", "boundary": "dirichlet"},
        "data": {"path": str(path), "input": {"source": None}, "output": {"tensor": [0]},
                 "n_test": 8, "n_train": 32, "batch_size": 8},
        "model": {"name": "fno", "modes": [3, 3], "width": 8, "n_layers": 1, "projection": 16},
        "objective": {"name": "operator", "physics": physics, "physics_weight": 1.0,
                      "residual": {"output_scale": 0.05, **objective}},
        "optimizer": {"name": "adam", "learning_rate": 1e-2},
        "train": {"steps": steps, "steps_per_call": steps, "log_every": steps, "eval_every": steps,
                  "checkpoint_every": steps, "progress": False, "plots": False, "loggers": ["jsonl"]},
        "parallel": {"data": 1},
    }


def test_the_grid_residual_of_the_reference_vanishes_at_the_interior_nodes(dirichlet_file):
    exp = pdejax.build(dirichlet_config(dirichlet_file, "grid"))
    objective = exp.method.objective
    assert isinstance(objective, GridObjective) and objective.boundary is not None
    x, y = map(jnp.asarray, exp.method.evaluator.views.pairs(np.arange(4)))
    b = jnp.asarray(objective.boundary.factor(objective.grid))
    solver = ChebyshevPoisson((0.0, 0.0), (1.0, 1.0), (9, 9))

    class Reference(eqx.Module):  # the collocation solve of its input, as v = u / b (u = b v at every node)
        def __call__(self, v):
            return (jnp.where(b > 0, solver(v[0]) / jnp.where(b > 0, b, 1.0), 0.0) / objective.output_scale)[None]

    terms, _ = eqx.filter_jit(objective.loss)(Reference(), {"x": x}, None)
    assert float(terms["physics"]) < 1e-20  # the grid loss is the collocation residual
    np.testing.assert_allclose(eqx.filter_jit(objective.physical(Reference()).batch)(x), y, atol=1e-14)


def test_a_short_nsm_training_through_pdejax_train(dirichlet_file, tmp_path):
    run = pdejax.train(dirichlet_config(dirichlet_file, steps=40), run_dir=tmp_path / "run")
    operator = run.model
    assert isinstance(operator.objective, SpectralObjective) and operator.objective.net.sizes == (7, 7)
    assert operator.objective.basis.sizes == (9, 9)  # two more polynomials per axis: the boundary factor
    # an untrained FNO's test error is ≈ 1 here (0.99-1.02 for seeds 0 and 1); 40 steps bring it to ≈ 0.3
    assert run.summary["rel_l2"] < 0.5, run.summary
    # Lobatto nodes are not equispaced: no frequency-band errors (they assume a uniform periodic grid)
    assert "rmse" in run.summary["metrics"] and not any(k.startswith("frmse") for k in run.summary["metrics"])
    x = jax.random.normal(jax.random.key(1), (2, 1, 9, 9))  # any input: u = 0 on the boundary nodes
    pred = np.asarray(eqx.filter_jit(operator.batch)(x))
    assert np.max(np.abs(pred[..., [0, -1], :])) < 1e-15 and np.max(np.abs(pred[..., [0, -1]])) < 1e-15


@pytest.mark.parametrize(("pde", "physics", "needle"), [
    ({"name": "burgers"}, "spectral", "evolution problem with a Dirichlet"),
    ({"name": "lid_driven_cavity"}, "grid", "DirichletData"),
    ({"name": "poisson_source"}, "spectral", "uniform nodes"),  # a periodic PDE on Chebyshev data
])
def test_what_the_dirichlet_routines_cannot_honour_is_refused(dirichlet_file, pde, physics, needle):
    cfg = dirichlet_config(dirichlet_file, physics)
    cfg["pde"] = pde
    with pytest.raises(ConfigError) as err:
        pdejax.build(cfg)
    assert err.value.key == "pde" and needle in str(err.value), str(err.value)
