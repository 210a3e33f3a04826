"""What the PINN benchmark suite needs from the PINN family: evaluation references (spectral
solver, Ghia's table), boundary data fitted by the boundary term, periodic soft constraints
without a boundary term, and Reynolds-number curricula."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdejax
from pdejax import ConfigError, build
from pdejax.methods.pinn.reference import REFERENCES, LazyEvaluator, fourier_interpolate
from pdejax.objectives import PINN, PINNField
from pdejax.pde import PDES
from pdejax.pde.library.benchmarks import ghia_reference
from tests.conftest import tiny_config


def test_spectral_reference_matches_the_exact_solution_between_the_nodes(x64):
    # heat on [0, 1) with kappa 0.1: the solver's frames at the grid's times, interpolated
    # onto 33 points that are not its nodes (and t from 0.25: frames skipped), agree with exp(-κk²t) sin(kx).
    pde = PDES.build("heat", {"kappa": 0.1}, where="pde")
    grid = {"x": (0.0, 1.0, 33), "t": (0.25, 1.0, 4)}
    points, values, shape = REFERENCES.build("spectral", {"resolution": 16, "dt": 0.01}, where="evaluation.reference",
                                             pde=pde, grid=grid)()
    assert shape == (33, 4) and points.shape == (132, 2)
    assert np.allclose(points[:, 1].reshape(shape)[0], [0.25, 0.5, 0.75, 1.0])
    assert np.max(np.abs(values - pde.exact(points, pde.params))) < 1e-9


def test_fourier_interpolation_is_exact_for_band_limited_fields_in_2d():
    n, m = 16, 7
    x = np.arange(n) / n * 2.0 - 1.0  # nodes of [-1, 1)
    f = lambda x, y: np.cos(np.pi * x) * np.sin(3 * np.pi * y) + 0.5 * np.cos(7 * np.pi * y)  # noqa: E731
    samples = f(x[:, None], x[None, :])[None]  # (1, n, n)
    at = np.linspace(-1, 1, m)
    out = fourier_interpolate(samples, (-1.0, -1.0), (2.0, 2.0), [at, at])
    assert out.shape == (1, m, m) and np.allclose(out[0], f(at[:, None], at[None, :]), atol=1e-12)


def test_ghia_reference_errors_skip_unknown_values(x64):
    pde = PDES.build("lid_driven_cavity", {"reynolds": 100.0}, where="pde")
    evaluator = LazyEvaluator(pde, REFERENCES.build("ghia", {}, where="r", pde=pde, grid={}), jnp.float64)
    points, values = ghia_reference(100)
    def nearest(column, p):  # the table's value of one column at its point nearest to p
        rows = np.isfinite(values[:, column])
        d = jnp.sum((jnp.asarray(points[rows]) - p) ** 2, axis=1)
        return jnp.asarray(values[rows, column])[jnp.argmin(d)]

    exact_model = jax.jit(lambda p: jnp.stack([nearest(0, p), nearest(1, p), jnp.asarray(7.0)]))
    metrics = evaluator(exact_model)
    assert metrics["rel_l2"] < 1e-12 and set(metrics) >= {"rel_l2/u", "rel_l2/v"} and "rel_l2/p" not in metrics
    shifted = evaluator(lambda p: exact_model(p) + jnp.array([0.1, 0.0, 5.0]))
    u_known = values[np.isfinite(values[:, 0]), 0]
    assert shifted["rel_l2/u"] == pytest.approx(0.1 * np.sqrt(u_known.size) / np.linalg.norm(u_known))
    assert shifted["rel_l2/v"] == pytest.approx(0.0, abs=1e-12)  # the pressure offset is not measured


def test_boundary_data_term_vanishes_for_the_exact_solution(x64):
    pde = PDES.build("klein_gordon_forced", {}, where="pde")
    objective = PINN(pde, constraint="soft", n_initial=8, n_boundary=8)

    def exact(p):
        return (p[0] * jnp.cos(5 * jnp.pi * p[1]) + (p[0] * p[1]) ** 3)[None]

    key = jax.random.key(0)
    interior = jax.random.uniform(key, (16, 2), jnp.float64)
    boundary = jnp.stack([jnp.array([0.0, 1.0] * 4), jnp.linspace(0, 1, 8)], axis=1)
    batch = {"interior": interior, "initial": jnp.linspace(0, 1, 8)[:, None], "boundary": boundary}
    losses, _ = objective.loss(exact, batch, key)
    assert set(losses) == {"residual", "initial", "boundary"}
    assert all(float(v) < 1e-20 for v in losses.values()), losses
    losses, _ = objective.loss(lambda p: exact(p) + 0.5, batch, key)
    assert float(losses["boundary"]) == pytest.approx(0.25)
    point_terms = objective.point_residuals(batch, key)
    r = jax.vmap(lambda p: point_terms["boundary"].fn(lambda q: exact(q) + 0.5, p))(point_terms["boundary"].points)
    assert np.allclose(r, 0.5)


@pytest.mark.parametrize("pde, objective, evaluation, key, words", [
    ({"name": "burgers"}, {"constraint": "soft", "n_initial": 8}, {}, "objective.n_boundary", "periodic"),
    ({"name": "lid_driven_cavity"}, {"constraint": "hard"}, {}, "objective.constraint", "soft"),
    ({"name": "burgers"}, {}, {"reference": {"name": "spectral"}}, "evaluation.reference.name", "periodic"),
    ({"name": "allen_cahn"}, {}, {"reference": {"name": "exact"}}, "evaluation.reference.name", "closed form"),
    ({"name": "lid_driven_cavity", "reynolds": 400.0}, {"constraint": "soft", "n_boundary": 8},
     {"reference": {"name": "ghia"}}, "evaluation.reference.name", "Re = 400"),
    ({"name": "allen_cahn"}, {}, {"reference": {"name": "spectral", "resolution": 4}},
     "evaluation.reference.resolution", "8 to 65536"),
    ({"name": "allen_cahn"}, {}, {"grid": {"x": [-1, 1, 8], "t": [0.01, 1.0, 5]}, "reference": {"name": "spectral"}},
     "evaluation.reference.dt", "equally spaced"),
    ({"name": "burgers"}, {"curriculum": [{"steps": 10, "pde": {"nuu": 0.1}}]}, {},
     "objective.curriculum.0.pde.nuu", "nu"),
])
def test_bad_benchmark_settings_name_the_key(pde, objective, evaluation, key, words):
    cfg = tiny_config(pde=pde, objective=objective, evaluation=evaluation)
    if "grid" not in evaluation:
        cfg["evaluation"] = {k: v for k, v in cfg["evaluation"].items() if k != "grid"}
    with pytest.raises(ConfigError) as info:
        build(cfg)
    assert info.value.key == key and words in str(info.value), str(info.value)


def test_periodic_soft_constraints_need_no_boundary_term():
    cfg = tiny_config(pde={"name": "allen_cahn"}, objective={"constraint": "soft", "n_initial": 16},
                      evaluation={"grid": {}, "reference": {"name": "spectral", "resolution": 32, "dt": 0.01}})
    exp = build(cfg)
    assert exp.method.objective.loss_names == ("residual", "initial")
    assert isinstance(exp.method.evaluator, LazyEvaluator) and exp.method.evaluator._inner is None  # not computed yet


def test_curriculum_trains_each_stage_on_its_pde(tmp_path):
    stages = [{"steps": 50, "pde": {"nu": 0.02}}, {"steps": 50, "pde": {"nu": 0.01}}]
    cfg = tiny_config(objective={"curriculum": stages},
                      train={"steps": 50, "checkpoint_every": 50, "eval_every": 50})
    exp = build(cfg)
    assert [type(p).__name__ for p in exp.phases] == ["OptaxPhase", "StagePhase", "StagePhase"]
    assert [p.pde.params["nu"] for p in exp.phases[1:]] == [0.02, 0.01]
    run = pdejax.train(cfg, run_dir=tmp_path / "run")
    assert run.summary["steps"] == 150 and run.model.pde.params["nu"] == 0.01
    assert np.isfinite(run.summary["rel_l2"])
    assert pdejax.load_run(tmp_path / "run").model.pde.params["nu"] == 0.01  # rebuilt on the last stage's PDE


def test_time_embedding_is_periodic_in_time_and_its_frequency_trains(x64):
    pde = PDES.build("advection", {"velocity": 80.0, "length": 2 * np.pi}, where="pde")
    net = pdejax.models.MODELS.build("mlp", {"width": 8, "depth": 2}, where="model", in_size=4, out_size=1,
                                     key=jax.random.key(0), dtype=jnp.float64)
    omega = jnp.asarray(80.0)
    field = PINNField(net, pde, "soft", time_frequency=omega)
    point = jnp.array([1.3, 0.21])
    later = point.at[1].add(2 * np.pi / 80.0)  # one period of the embedding later
    assert np.allclose(field(point), field(later), rtol=0, atol=1e-13)
    assert not np.allclose(field(point), field(point.at[1].add(0.01)))
    loss = lambda f: jnp.sum(jax.vmap(f)(jnp.array([[0.1, 0.3], [2.0, 0.7]])) ** 2)  # noqa: E731
    grad = jax.grad(loss)(field)
    eps = 1e-6
    fd = (loss(eqx.tree_at(lambda f: f.time_frequency, field, omega + eps))
          - loss(eqx.tree_at(lambda f: f.time_frequency, field, omega - eps))) / (2 * eps)
    assert float(grad.time_frequency) == pytest.approx(float(fd), rel=1e-6) and float(fd) != 0
    frozen = PINNField(net, pde, "soft", time_frequency=omega, time_trainable=False)
    assert float(jax.grad(loss)(frozen).time_frequency) == 0.0


def test_time_embedding_trains_from_a_config_and_reports_its_frequency(tmp_path):
    cfg = tiny_config(pde={"name": "advection", "velocity": 1.0, "length": 6.283185307179586},
                      objective={"constraint": "soft", "n_initial": 64, "time_embedding": {"frequency": 3.0}},
                      evaluation={"grid": {"x": [0.0, 6.28, 16], "t": [0.0, 1.0, 5]}},
                      train={"steps": 50, "eval_every": 50, "checkpoint_every": 50})
    run = pdejax.train(cfg, run_dir=tmp_path / "run")
    assert run.model.net.layers[0].weight.shape[1] == 4  # (cos x, sin x, cos ωt, sin ωt)
    assert run.summary["time_frequency"] != 3.0  # trained
    assert float(pdejax.load_run(tmp_path / "run").model.time_frequency) == run.summary["time_frequency"]


@pytest.mark.parametrize("changes, key, words", [
    ({"objective": {"time_embedding": {"frequency": 3.0}, "windows": 2}}, "objective.windows", "time_embedding"),
    ({"objective": {"time_embedding": {"frequency": -1.0}}}, "objective.time_embedding.frequency", "greater than 0"),
    ({"pde": {"name": "poisson"}, "objective": {"time_embedding": {"frequency": 1.0}}},
     "objective.time_embedding", "steady"),
])
def test_bad_time_embeddings_name_the_key(changes, key, words):
    cfg = tiny_config(**changes)
    cfg["evaluation"] = {}
    with pytest.raises(ConfigError) as info:
        build(cfg)
    assert info.value.key == key and words in str(info.value), str(info.value)
