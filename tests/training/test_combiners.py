"""Gradient combiners: ConFIG's closed forms, NTK traces against explicit Jacobians,
balancing on a two-scale toy problem, MultiAdam against optax.adam, M-ConFIG against the
reference algorithm, composition rules, and tiny PINN runs through ``pdejax.train``."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import pdejax
from pdejax import ConfigError
from pdejax.cli import main
from pdejax.objectives import AbstractObjective, PointResidual
from pdejax.training import (
    FixedBatch,
    config,
    config_direction,
    config_momentum,
    grad_norm,
    lr_annealing,
    make_step,
    multiadam,
    ntk,
    ntk_trace,
)
from tests.conftest import tiny_config

direction_of = jax.jit(config_direction)


def flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


def reference_config(grads, weights=None):
    """ConFIG as the reference code computes it: U⁺ w, then the projection length."""
    g = np.stack([flat(x) for x in grads])
    units = g / np.linalg.norm(g, axis=1, keepdims=True)
    x = np.linalg.pinv(units) @ (np.ones(len(g)) if weights is None else np.asarray(weights))
    unit = x / np.linalg.norm(x)
    return np.sum(g @ unit) * unit


def cos(a, b):
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


# -- ConFIG ----------------------------------------------------------------------------
def test_config_closed_forms(x64):
    g = {"a": jnp.array([3.0, -1.0, 2.0])}
    np.testing.assert_allclose(direction_of(g), g["a"], rtol=1e-14)  # one term: the gradient
    ortho = {"a": jnp.array([3.0, 0.0, 0.0]), "b": jnp.array([0.0, 0.5, 0.0]), "c": jnp.array([0.0, 0.0, 2.0])}
    mean_norm = (3.0 + 0.5 + 2.0) / 3  # orthogonal: the normalised sum, scaled by the mean norm
    np.testing.assert_allclose(direction_of(ortho), mean_norm * np.ones(3), rtol=1e-14)
    twice = {"a": g["a"], "b": 2 * g["a"]}  # parallel gradients (a singular Gram matrix): the projections' sum
    np.testing.assert_allclose(direction_of(twice), 3 * g["a"], rtol=1e-12)


def test_config_has_equal_positive_cosines_and_matches_the_reference(x64):
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    grads = {n: {"w": jax.random.normal(k, (2, 3)), "b": jax.random.normal(k, (4,)) + 1.0}
             for n, k in zip("abc", keys)}
    grads["c"] = jax.tree.map(lambda x: -3 * x, grads["a"])  # a conflict the plain sum would not resolve
    grads["c"]["b"] = grads["c"]["b"] + 0.5
    d = flat(direction_of(grads))
    cosines = [cos(d, flat(grads[n])) for n in "abc"]
    assert min(cosines) > 0
    np.testing.assert_allclose(cosines, cosines[0], rtol=1e-10)
    np.testing.assert_allclose(d, reference_config([grads[n] for n in "abc"]), rtol=1e-10)
    plain = sum(flat(grads[n]) for n in "abc")
    assert min(cos(plain, flat(grads[n])) for n in "abc") < 0  # the sum conflicts with a term
    weighted = flat(direction_of(grads, {"a": 1.0, "b": 2.0, "c": 3.0}))
    np.testing.assert_allclose([cos(weighted, flat(grads[n])) / cos(weighted, flat(grads["a"])) for n in "abc"],
                               [1.0, 2.0, 3.0], rtol=1e-10)
    np.testing.assert_allclose(weighted, reference_config([grads[n] for n in "abc"], [1, 2, 3]), rtol=1e-10)
    # as a combiner: same direction, its coefficients and cosines logged
    comb = config()
    direction, _, aux = jax.jit(comb.update)(grads, {}, comb.init(None, ("a", "b", "c")), None)
    np.testing.assert_allclose(flat(direction), d, rtol=1e-12)
    np.testing.assert_allclose(sum(float(aux[f"weight/{n}"]) * flat(grads[n]) for n in "abc"), d, rtol=1e-10)
    np.testing.assert_allclose([float(aux[f"cos/{n}"]) for n in "abc"], cosines, rtol=1e-10)


def reference_m_config(grad_seq, n_terms, b1, b2, eps=1e-8):
    """The reference code's PseudoMomentumOperator, one term's gradient per step, in numpy."""
    m = [np.zeros_like(grad_seq[0]) for _ in range(n_terms)]
    seen, t, s, fake_m, out = [0] * n_terms, 0, np.zeros_like(grad_seq[0]), np.zeros_like(grad_seq[0]), []
    for step, g in enumerate(grad_seq):
        i = step % n_terms
        seen[i] += 1
        m[i] = b1 * m[i] + (1 - b1) * g
        if 0 in seen:
            out.append(np.zeros_like(g))
            continue
        t += 1
        final = reference_config([m[k] / (1 - b1 ** seen[k]) for k in range(n_terms)])
        new_fake = final * (1 - b1**t)
        fake_grad = (new_fake - b1 * fake_m) / (1 - b1)
        fake_m = new_fake
        s = b2 * s + (1 - b2) * fake_grad**2
        out.append(final / (np.sqrt(s / (1 - b2**t)) + eps))
    return out


def test_config_momentum_follows_the_reference_algorithm(x64):
    names = ("a", "b", "c")
    comb = config_momentum(b1=0.8, b2=0.9)
    keys = jax.random.split(jax.random.PRNGKey(1), 8)
    grads = [np.asarray(jax.random.normal(k, (5,))) + np.arange(5.0) for k in keys]
    params = jnp.zeros(5)
    state = comb.init(params, names)
    update, grad_weights = jax.jit(comb.update), jax.jit(comb.grad_weights)
    got = []
    for step, g in enumerate(grads):
        one_hot = grad_weights(state)
        assert [float(one_hot[n]) for n in names] == [float(step % 3 == k) for k in range(3)]
        direction, state, aux = update(jnp.asarray(g), {}, state, params)
        got.append(np.asarray(direction))
    expected = reference_m_config(grads, 3, 0.8, 0.9)
    assert not got[1].any() and got[2].any()  # zero until every term was seen
    np.testing.assert_allclose(np.stack(got), np.stack(expected), rtol=1e-10, atol=1e-14)


# -- MultiAdam -------------------------------------------------------------------------
def test_multiadam_is_the_mean_of_independent_adams(x64):
    names = ("a", "b")
    params = {"w": jnp.zeros((2, 2)), "b": jnp.zeros(3)}
    comb = multiadam(b1=0.9, b2=0.99, eps=1e-8)
    state = comb.init(params, names)
    adams = {n: optax.adam(1.0, b1=0.9, b2=0.99, eps=1e-8) for n in names}
    adam_states = {n: adams[n].init(params) for n in names}
    update = jax.jit(comb.update)
    keys = jax.random.split(jax.random.PRNGKey(2), 10)
    scale = {"a": 1e3, "b": 1e-3}  # scale-invariance: very different scales
    for i in range(5):
        grads = {n: {"w": scale[n] * jax.random.normal(keys[2 * i + j], (2, 2)),
                     "b": scale[n] * jax.random.normal(keys[2 * i + j], (3,))} for j, n in enumerate(names)}
        direction, state, aux = update(grads, {}, state, params)
        expected = []
        for n in names:
            step, adam_states[n] = adams[n].update(grads[n], adam_states[n], params)
            expected.append(-flat(step))  # adam's update is -lr · direction
        np.testing.assert_allclose(flat(direction), np.mean(expected, axis=0), rtol=1e-12, atol=1e-15)
    assert float(aux["weight/a"]) == 0.5


# -- NTK -------------------------------------------------------------------------------
def test_ntk_trace_equals_the_explicit_jacobian(x64):
    mlp = eqx.nn.MLP(2, 2, 5, 2, activation=jnp.tanh, key=jax.random.PRNGKey(3))
    params, static = eqx.partition(mlp, eqx.is_array)
    flat_params, unravel = ravel_pytree(params)

    def residual(p, x):  # two components, one with a derivative (as a PDE residual has)
        f = eqx.combine(p, static)
        u, du = jax.jvp(f, (x,), (jnp.array([1.0, 0.0]),))
        return jnp.stack([du[0] - u[1] ** 2, u[0]])

    points = jax.random.uniform(jax.random.PRNGKey(4), (7, 2))
    stacked = lambda p: jax.vmap(lambda x: residual(p, x))(points).ravel()  # noqa: E731
    jac = jax.jit(jax.jacrev(lambda q: stacked(unravel(q))))(flat_params)
    assert jac.shape == (14, flat_params.size)  # (N·m, P): every point's every component
    explicit = np.trace(np.asarray(jac) @ np.asarray(jac).T)
    traces = jax.jit(lambda p: (ntk_trace(residual, p, points), ntk_trace(residual, p, points, chunk=3)))(params)
    assert float(traces[0]) == pytest.approx(explicit, rel=1e-12)
    assert float(traces[1]) == pytest.approx(explicit, rel=1e-12)
    summed = np.sum(np.asarray(jax.jit(jax.grad(lambda p: jnp.sum(stacked(unravel(p)))))(flat_params)) ** 2)
    assert summed != pytest.approx(explicit, rel=1e-3)  # not the norm of the summed gradient


class TwoScales(AbstractObjective):
    """Two least-squares terms 10⁸ apart in scale, with per-point residuals."""

    loss_names = ("big", "small")

    def point_residuals(self, batch, key):
        return {"big": PointResidual(lambda w, x: 100.0 * (jnp.dot(w, x) - 1.0)[None], batch["x"]),
                "small": PointResidual(lambda w, x: 0.01 * jnp.tanh(jnp.dot(w, x) - 0.5)[None], batch["x"][:3])}

    def loss(self, model, batch, key):
        return {n: jnp.mean(jnp.sum(jax.vmap(lambda x, r=r: r.fn(model, x))(r.points) ** 2, axis=-1))
                for n, r in self.point_residuals(batch, key).items()}, {}


@pytest.mark.parametrize("name", ["grad_norm", "lr_annealing", "ntk"])
def test_weights_move_towards_balance_on_a_two_scale_problem(x64, name):
    obj, source = TwoScales(), FixedBatch({"x": jax.random.normal(jax.random.PRNGKey(5), (6, 3))})
    w0 = jnp.array([0.3, -0.2, 0.5])
    batch = source.draw(None, None, None, None)[0]
    grads = {n: jax.grad(lambda w, n=n: obj.loss(w, batch, None)[0][n])(w0) for n in obj.loss_names}
    traces = {n: float(ntk_trace(r.fn, w0, r.points)) for n, r in obj.point_residuals(batch, None).items()}
    # each method's imbalance: the ratio its weights drive to one
    stat = {"grad_norm": {n: float(jnp.linalg.norm(g)) for n, g in grads.items()},
            "lr_annealing": {"big": float(jnp.max(jnp.abs(grads["big"]))),
                             "small": float(jnp.mean(jnp.abs(grads["small"])))},
            "ntk": traces}[name]
    build = {"grad_norm": grad_norm, "lr_annealing": lr_annealing, "ntk": ntk}[name]
    for alpha in (0.0, 0.5):
        kwargs = {"reference": "big"} if name == "lr_annealing" else {"update_every": 1} if name == "ntk" else {}
        step = make_step(obj, optax.sgd(0.0), combiner=build(alpha=alpha, **kwargs), source=source)
        _, logs = step(step.init(w0, jax.random.PRNGKey(0)), n=4)
        imbalance = np.abs(np.log(logs["weight/big"] * stat["big"] / (logs["weight/small"] * stat["small"])))
        assert imbalance[0] < np.log(stat["big"] / stat["small"])  # from 1:1 weights: the raw imbalance
        if alpha == 0:
            np.testing.assert_allclose(imbalance, 0, atol=1e-9)  # balanced at once
        else:
            assert np.all(np.diff(imbalance) < 0) and imbalance[-1] < 0.3 * imbalance[0]


def test_ntk_updates_every_n_steps_with_the_step_s_traces(x64):
    obj, source = TwoScales(), FixedBatch({"x": jax.random.normal(jax.random.PRNGKey(5), (6, 3))})
    step = make_step(obj, optax.sgd(1e-6), combiner=ntk(alpha=0.5, update_every=2), source=source)
    w0 = jnp.array([0.3, -0.2, 0.5])
    _, logs = step(step.init(w0, jax.random.PRNGKey(0)), n=5)
    w = logs["weight/small"]
    assert w[0] != 1.0 and w[1] == w[0] and w[2] != w[1] and w[3] == w[2] and w[4] != w[3]
    batch = source.draw(None, None, None, None)[0]
    expected = float(ntk_trace(obj.point_residuals(batch, None)["small"].fn, w0, batch["x"][:3]))
    assert float(logs["ntk_trace/small"][0]) == pytest.approx(expected, rel=1e-12)
    assert float(logs["weight/small"][0]) == pytest.approx(
        0.5 + 0.5 * (expected + float(logs["ntk_trace/big"][0])) / expected, rel=1e-12)


def test_lr_annealing_formula():
    comb = lr_annealing(alpha=0.0, reference="a", weights={"a": 2.0})
    state = comb.init(None, ("a", "b"))
    grads = {"a": {"w": jnp.array([3.0, -4.0])}, "b": {"w": jnp.array([0.5, 0.0])}}
    direction, state, aux = comb.update(grads, {}, state, None)
    assert float(aux["weight/a"]) == 2.0  # the reference keeps its weight
    assert float(aux["weight/b"]) == pytest.approx(2.0 * 4.0 / 0.25)  # λ_r max|∇L_r| / mean|∇L_b|
    np.testing.assert_allclose(direction["w"], 2.0 * grads["a"]["w"] + 32.0 * grads["b"]["w"], rtol=1e-6)


@pytest.mark.parametrize("pde, extra", [
    ({"name": "burgers"}, {}),  # Dirichlet
    ({"name": "klein_gordon"}, {}),  # periodic, second order in time
    ({"name": "heat", "trainable": {"kappa": {"init": 0.37}}}, {"observations": {"n": 8}}),  # trained kappa, data
])
def test_pinn_point_residuals_give_its_loss_terms(x64, pde, extra):
    cfg = tiny_config(dtype="float64", pde=pde, model={"width": 4, "depth": 1},
                      objective={"constraint": "soft", "n_initial": 8, "n_boundary": 8, "n_collocation": 16, **extra},
                      evaluation={"grid": {"x": [0.0, 1.0, 4], "t": [0.0, 0.99, 3]}})
    m = pdejax.build(cfg).method

    @jax.jit
    def both(model, key):
        batch, _ = m.source.draw(model, m.source.init(key, jnp.float64), key, jnp.int32(0))
        residuals = {name: jax.vmap(lambda x, fn=fn: fn(model, x))(points)
                     for name, (fn, points) in m.objective.point_residuals(batch, key).items()}
        return m.objective.loss(model, batch, key)[0], residuals

    losses, residuals = both(m.model, jax.random.PRNGKey(0))
    assert set(residuals) == set(losses) == {"residual", "initial", "boundary"} | ({"data"} if extra else set())
    for name, r in residuals.items():
        assert float(jnp.mean(jnp.sum(r**2, axis=-1))) == pytest.approx(float(losses[name]), rel=1e-12), name


# -- composition rules -----------------------------------------------------------------
@pytest.mark.parametrize("override, key", [
    (["optimizer.combine.name=multiadam"], "optimizer.name"),
    (["optimizer.combine.name=config_momentum", "optimizer.name=adamw"], "optimizer.name"),
    (["optimizer.combine.name=multiadam", "optimizer.name=sgd", "optimizer.args.momentum=0.9"],
     "optimizer.args.momentum"),
    (["optimizer.combine.name=config_momentum", "optimizer.combine.b1=1.0", "optimizer.name=sgd"],
     "optimizer.combine"),
    (["optimizer.combine.name=ntk", "optimizer.combine.update_every=0"], "optimizer.combine"),
])
def test_invalid_compositions_are_refused_at_config_time(override, key):
    with pytest.raises(ConfigError) as info:
        pdejax.build(tiny_config(), override)
    assert info.value.key == key, str(info.value)
    assert "\n" not in str(info.value)


def test_cli_refuses_multiadam_with_adam_before_compiling(tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = main(["train", "pinn/burgers.yaml", "optimizer.combine.name=multiadam", "--run-dir", str(run_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "optimizer.name" in err and "sgd" in err and "Traceback" not in err
    assert not run_dir.exists()


def test_refused_without_per_point_residuals_or_a_reference_term():
    class Plain(AbstractObjective):
        loss_names = ("fit",)

        def loss(self, model, batch, key):
            return {"fit": jnp.sum(model**2)}, {}

    with pytest.raises(ConfigError, match="point_residuals"):
        make_step(Plain(), optax.sgd(0.1), combiner=ntk())
    with pytest.raises(ConfigError) as info:
        lr_annealing().init(None, ("fit",))
    assert info.value.key == "optimizer.combine.reference"


# -- end to end ------------------------------------------------------------------------
def tiny_run(name: str, steps: int = 4, **args) -> dict:
    optimizer = {"combine": {"name": name, **args}}
    if name in ("multiadam", "config_momentum"):
        optimizer |= {"name": "sgd", "learning_rate": 1e-3}
    return tiny_config(objective={"constraint": "soft", "n_initial": 8, "n_boundary": 8, "n_collocation": 16},
                       model={"width": 4, "depth": 1}, optimizer=optimizer,
                       train={"steps": steps, "steps_per_call": 2, "log_every": 2, "eval_every": 4,
                              "checkpoint_every": 4},  # and at the end
                       evaluation={"grid": {"x": [-1.0, 1.0, 4], "t": [0.0, 0.99, 3]}})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``trained(name) -> (run, run_dir)``: one tiny run per combiner, shared by the tests below."""
    runs = {}

    def get(name):
        if name not in runs:
            directory = tmp_path_factory.mktemp(name) / "run"
            args = {"update_every": 2} if name == "ntk" else {}
            runs[name] = pdejax.train(tiny_run(name, **args), run_dir=directory, progress=False), directory
        return runs[name]

    return get


@pytest.mark.parametrize("name", ["lr_annealing", "ntk", "config", "config_momentum", "multiadam"])
def test_tiny_pinn_trains_and_logs_weights(trained, name):
    run, directory = trained(name)
    records = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        weights = [r[f"weight/{t}"] for t in ("residual", "initial", "boundary")]
        assert all(np.isfinite(weights)) and np.isfinite(r["loss"])
    assert records[-1]["weight/initial"] != 0.0  # M-ConFIG too: every term seen by step 4
    assert np.isfinite(run.summary["rel_l2"])


def test_combiner_moments_are_checkpointed_and_resume_bitwise(trained, tmp_path):
    full, _ = trained("config_momentum")  # per-term momenta, counters and the cycling term
    pdejax.train(tiny_run("config_momentum", steps=2), run_dir=tmp_path / "half", progress=False)
    resumed = pdejax.train(tiny_run("config_momentum"), resume=tmp_path / "half", progress=False)
    assert resumed.summary["resumed_from"] == 2
    for a, b in zip(jax.tree.leaves(eqx.filter(full.model, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(resumed.model, eqx.is_array))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert resumed.summary["final"] == full.summary["final"]
