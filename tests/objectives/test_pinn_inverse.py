"""Inverse problems: trainable PDE parameters (scalars and coefficient fields) in the PINN
residual, observations (generated and from files), config errors, and a run's summary."""

import json

import equinox as eqx
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pdejax
from pdejax import ConfigError, build
from pdejax.data.errors import DataError
from pdejax.methods.pinn.evaluation import ParameterEvaluator
from pdejax.methods.pinn.observations import generate_observations, load_observations
from pdejax.models import MLP
from pdejax.objectives import PINN, PINNField
from pdejax.pde import (
    PDES,
    FieldParameter,
    PDEParameters,
    ScalarParameter,
    grid_for,
    initial_condition,
    pointwise_residual,
    spectral_solve,
)
from tests.conftest import tiny_config


def burgers_field(nu0: float, key: int = 0) -> PINNField:
    pde = PDES.build("burgers", {}, where="pde")
    net = MLP(in_size=2, out_size=1, width=8, depth=2, key=jax.random.PRNGKey(key), dtype=jnp.float64)
    return PINNField(net, pde, "hard", PDEParameters({"nu": ScalarParameter(nu0, "positive", dtype=jnp.float64)}))


def test_residual_gradient_in_nu_matches_finite_differences(x64):
    model = burgers_field(0.05)
    objective = PINN(model.pde)
    points = jax.random.uniform(jax.random.PRNGKey(1), (16, 2), jnp.float64, jnp.array([-1.0, 0.0]), 1.0)

    @jax.jit
    def loss_and_grad(raw):
        def loss(raw):
            m = eqx.tree_at(lambda m: m.parameters.entries["nu"].raw, model, raw)
            return objective.loss(m, {"interior": points}, None)[0]["residual"]

        h = 1e-6
        return jax.grad(loss)(raw), (loss(raw + h) - loss(raw - h)) / (2 * h)

    grad, fd = loss_and_grad(model.parameters.entries["nu"].raw)
    assert abs(float(grad)) > 1e-4 and float(grad) == pytest.approx(float(fd), rel=1e-7)

    @jax.jit
    def both(model):  # the residual reads the trainable value: nu = exp(raw) = 0.05
        fixed = eqx.tree_at(lambda p: p.params, model.pde, model.pde.params | {"nu": 0.05})
        return objective.residuals(model, points[:4]), jax.vmap(lambda p: pointwise_residual(fixed, model, p))(
            points[:4])

    trained, fixed = both(model)
    np.testing.assert_allclose(np.asarray(trained), np.asarray(fixed), rtol=1e-12)


def test_positive_transform_keeps_nu_positive(x64):
    nu = ScalarParameter(1e-3, "positive", dtype=jnp.float64)
    assert float(nu.value()) == pytest.approx(1e-3, rel=1e-14)
    for _ in range(5):  # steps far larger than the value itself
        nu = eqx.tree_at(lambda p: p.raw, nu, nu.raw - 10.0 * jax.grad(lambda p: p.value() * 1e3)(nu).raw)
    assert 0 < float(nu.value()) < 1e-3
    with pytest.raises(ValueError, match="positive"):
        ScalarParameter(-0.1, "positive")
    assert float(ScalarParameter(-0.1, "identity").value()) == pytest.approx(-0.1)


def test_coefficient_field_residual_and_gradient(x64):
    """u_t - ∂x(a(x) u_x) with a(x) a network, against the same residual written out by hand."""
    pde = PDES.build("heat_coefficient", {}, where="pde")
    net = MLP(in_size=2, out_size=1, width=8, depth=2, key=jax.random.PRNGKey(2), dtype=jnp.float64)
    field = FieldParameter(net, pde.domain.lower, pde.domain.upper, 0.5, "positive", periodic=True,
                           dtype=jnp.float64)
    trainable = pde.params | {"a": field}
    physics = eqx.tree_at(lambda p: p.params, pde, trainable)
    u = lambda p: jnp.array([jnp.exp(-p[1]) * jnp.sin(p[0]) + 0.3 * jnp.cos(2 * p[0])])  # noqa: E731
    points = jnp.array([[0.4, 0.1], [2.0, 0.5], [5.5, 0.9]])

    def by_hand(p):
        flux = lambda x, t: field(x) * jax.grad(lambda y: u(jnp.stack([y, t]))[0])(x)  # noqa: E731
        return jax.grad(lambda t: u(jnp.stack([p[0], t]))[0])(p[1]) - jax.grad(flux)(p[0], p[1])

    residual = jax.jit(jax.vmap(lambda p: pointwise_residual(physics, u, p)[0]))(points)
    np.testing.assert_allclose(np.asarray(residual), np.asarray(jax.jit(jax.vmap(by_hand))(points)), rtol=1e-12)
    assert field(jnp.zeros((3, 4))).shape == (3, 4)  # a grid's arrays in, the same shape out
    assert abs(float(field(0.0)) - float(field(2 * np.pi))) < 1e-12  # periodic

    def loss(f):
        phys = eqx.tree_at(lambda p: p.params, pde, pde.params | {"a": f})
        return jnp.mean(jax.vmap(lambda p: pointwise_residual(phys, u, p))(points) ** 2)

    grads = jax.tree.leaves(eqx.filter(eqx.filter_jit(jax.grad(loss))(field), eqx.is_array))
    assert all(np.all(np.isfinite(g)) for g in grads) and max(float(jnp.abs(g).max()) for g in grads) > 1e-6


def test_gradients_reach_a_field_through_the_spectral_solver(x64):
    """The same parameters train a spectral solve (the neural-DE use): d(loss)/d(field) is finite
    and nonzero through ETDRK4."""
    pde = PDES.build("heat_coefficient", {}, where="pde")
    net = MLP(in_size=2, out_size=1, width=4, depth=1, key=jax.random.PRNGKey(0), dtype=jnp.float64)
    trainable = PDEParameters({"a": FieldParameter(net, pde.domain.lower, pde.domain.upper, 0.5, periodic=True,
                                                   dtype=jnp.float64)})
    grid = grid_for(pde, 16)
    u0 = initial_condition(pde, grid, jnp.float64)
    loss = lambda p: jnp.sum(spectral_solve(p.apply(pde), grid, u0, 0.05, 4, 4)[-1] ** 2)  # noqa: E731
    grad = eqx.filter_jit(eqx.filter_grad(loss))(trainable)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(eqx.filter(grad, eqx.is_array)))
    assert abs(float(grad.entries["a"].offset)) > 1e-3


def test_parameter_evaluator_measures_a_field(x64):
    pde = PDES.build("heat_coefficient", {"a_mean": 0.5, "a_amplitude": 0.25}, where="pde")
    net = MLP(in_size=2, out_size=1, width=4, depth=1, key=jax.random.PRNGKey(0), dtype=jnp.float64)
    net = jax.tree.map(jnp.zeros_like, net)  # outputs 0: the field is its offset, a constant 0.5
    field = FieldParameter(net, pde.domain.lower, pde.domain.upper, 0.5, "positive", periodic=True,
                           dtype=jnp.float64)
    model = PINNField(net, pde, "hard", PDEParameters({"a": field}))
    metrics = ParameterEvaluator(pde, {"a": 0.5}, None, jnp.float64)(model)
    x = np.linspace(0, 2 * np.pi, 201)
    exact = 0.5 + 0.25 * np.sin(x)
    assert metrics["param_rel_l2/a"] == pytest.approx(np.linalg.norm(0.5 - exact) / np.linalg.norm(exact), rel=1e-9)


def test_observations_are_deterministic_with_the_requested_noise():
    pde = PDES.build("burgers", {}, where="pde")
    a = generate_observations(pde, 4000, noise=0.05, seed=7)
    b = generate_observations(pde, 4000, noise=0.05, seed=7)
    c = generate_observations(pde, 4000, noise=0.05, seed=8)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)
    assert a.points.shape == (4000, 2) and a.values.shape == (4000, 1)
    lo, hi = np.array(pde.domain.point_lower), np.array(pde.domain.point_upper)
    assert np.all((a.points >= lo) & (a.points <= hi))
    np.testing.assert_allclose(a.clean, pde.exact(a.points, pde.params))
    level = np.std(a.values - a.clean) / np.std(a.clean)
    assert level == pytest.approx(0.05, rel=0.05)
    assert np.array_equal(generate_observations(pde, 10, seed=1).values, generate_observations(pde, 10, seed=1).clean)


def test_observations_from_files_are_checked(tmp_path):
    pde = PDES.build("burgers", {}, where="pde")
    good = tmp_path / "obs.npz"
    np.savez(good, points=np.array([[0.1, 0.2], [-0.5, 0.9]]), values=np.array([0.3, -0.1]))
    obs = load_observations(good, pde)
    assert obs.values.shape == (2, 1) and obs.fields == ("u",)
    with h5py.File(tmp_path / "obs.h5", "w") as f:
        f["points"], f["values"] = obs.points, obs.values
    np.testing.assert_array_equal(load_observations(tmp_path / "obs.h5", pde, noise=0.1, seed=0).clean, obs.values)
    cases = {
        "missing.npz": (None, "no such file"),
        "nopoints.npz": ({"values": np.zeros((2, 1))}, "no array 'points'"),
        "shape.npz": ({"points": np.zeros((2, 3)), "values": np.zeros((2, 1))}, "points has shape (2, 3)"),
        "nan.npz": ({"points": np.zeros((2, 2)), "values": np.array([[0.0], [np.nan]])}, "row 1 of values"),
        "outside.npz": ({"points": np.array([[0.0, 0.5], [3.0, 0.5]]), "values": np.zeros((2, 1))},
                        "point 1, [3.0, 0.5], lies outside"),
    }
    for name, (arrays, words) in cases.items():
        if arrays is not None:
            np.savez(tmp_path / name, **arrays)
        with pytest.raises(DataError) as info:
            load_observations(tmp_path / name, pde)
        assert words in str(info.value) and name in str(info.value), str(info.value)


@pytest.mark.parametrize("changes, key, words", [
    ({"pde": {"trainable": ["nuu"]}}, "pde.trainable.nuu", "did you mean 'nu'"),
    ({"pde": {"trainable": {"nu": {"init": 0.1, "field": {"name": "mlp"}}}}}, "pde.trainable.nu.field",
     "not a function of space"),
    ({"pde": {"name": "heat_coefficient", "trainable": ["a"]}}, "pde.trainable.a.field", "coefficient field"),
    ({"pde": {"trainable": {"nu": {"init": 0}}}}, "pde.trainable.nu.init", "positive"),
    ({"pde": {"trainable": {"nu": {"intt": 0.1}}}}, "pde.trainable.nu.intt", "init"),
    ({"objective": {"observations": {"noise": 0.01}}}, "objective.observations.n", "either path"),
    ({"objective": {"observations": {"n": 10, "fields": ["v"]}}}, "objective.observations.fields", "'u'"),
    ({"objective": {"windows": 2, "observations": {"n": 10}}}, "objective.windows", "observations"),
])
def test_bad_inverse_configs_name_the_key(changes, key, words):
    cfg = tiny_config()
    for section, value in changes.items():
        cfg[section] = {**cfg[section], **value}
    if cfg["pde"]["name"] == "heat_coefficient":
        del cfg["evaluation"]
    with pytest.raises(ConfigError) as info:
        build(cfg)
    assert info.value.key == key and words in str(info.value) and "\n" not in str(info.value), str(info.value)


@pytest.mark.slow
def test_nu_moves_toward_the_truth_and_lands_in_the_summary(tmp_path):
    """Burgers with nu = 0.1 (smooth enough for a tiny network to fit in 300 steps) from exact
    noise-free data, nu starting at 0.03."""
    cfg = tiny_config(pde={"nu": 0.1, "trainable": {"nu": {"init": 0.03}}},
                      objective={"observations": {"n": 256, "noise": 0.0, "seed": 3}, "weights": {"data": 10.0}},
                      optimizer={"learning_rate": 1e-2},
                      train={"steps": 300, "steps_per_call": 100, "log_every": 100, "eval_every": 300,
                             "checkpoint_every": 300})
    run = pdejax.train(cfg, run_dir=tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    row = summary["parameters"]["nu"]
    assert row["init"] == 0.03 and row["reference"] == 0.1
    assert row["value"] == pytest.approx(summary["param/nu"]) and row["rel_error"] == summary["param_rel_error/nu"]
    assert abs(np.log(row["value"] / 0.1)) < 0.5 * abs(np.log(0.03 / 0.1)), row  # (0.11 after 300 steps)
    assert all("param/nu" in r for r in run.history)  # logged during training
    assert run.summary["final"]["data"] < run.history[0]["data"]
