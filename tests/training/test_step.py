"""The public step: a custom loop matches fit, per-term gradients, combiners, optimizer hooks, loggers."""

import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import pytest

import pdejax
from pdejax.objectives import AbstractObjective
from pdejax.training import (
    AbstractLogger,
    Checkpointer,
    FixedBatch,
    GradientCombiner,
    OptaxPhase,
    fit,
    fixed,
    grad_norm,
    make_step,
)
from tests.conftest import REPO, tiny_config


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def test_custom_loop_matches_fit_bitwise():
    exp = pdejax.build(tiny_config(), ["objective.sampler.name=rad", "objective.sampler.every=100"])
    m, opt = exp.method, exp.phases[0].optimizer
    step = make_step(m.objective, opt, exp.mesh, combiner=exp.combiner, source=m.source)
    state = step.init(m.model, jax.random.PRNGKey(0))
    for _ in range(4):
        state, logs = step(state, n=50)
    assert logs["loss"].shape == (50,) and int(state.step) == 200
    ref = fit(m.model, m.objective, m.source, exp.phases, combiner=exp.combiner, seed=0, steps_per_call=50,
              progress=False)
    for a, b in zip(leaves(state.model), leaves(ref.model)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_custom_loop_script_matches_fit(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "scripts/custom_loop.py"), "--steps", "200", "--check"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bitwise identical to fit: True" in proc.stdout


def _sum_per_term(weights):
    """A per-term combiner that only re-adds the weighted gradients: must equal ``fixed``."""
    base = fixed(weights)

    def update(grads, losses, state, params):
        names = list(grads)
        return jax.tree.map(lambda *g: sum(state[n] * x for n, x in zip(names, g)), *grads.values()), state, {}

    return GradientCombiner(base.init, update, base.weights, per_term=True)


@pytest.mark.parametrize("mode", ["split", "vmap", "loop"])
def test_per_term_gradients_sum_to_the_gradient_of_the_sum(x64, mode):
    cfg = tiny_config(dtype="float64", objective={"constraint": "soft", "n_initial": 32, "n_boundary": 32,
                                                  "n_collocation": 64, "weights": {"initial": 10.0}})
    exp = pdejax.build(cfg)
    m = exp.method
    assert m.objective.loss_names == ("residual", "initial", "boundary")
    results = {}
    for name, combiner in (("sum", exp.combiner), ("terms", _sum_per_term({"initial": 10.0}))):
        step = make_step(m.objective, optax.sgd(0.1), combiner=combiner, source=m.source, term_grads=mode)
        state, logs = step(step.init(m.model, jax.random.PRNGKey(1)), n=3)
        results[name] = (state, logs)
    for a, b in zip(leaves(results["sum"][0].model), leaves(results["terms"][0].model)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(results["sum"][1]["loss"], results["terms"][1]["loss"], rtol=1e-12)


def test_grad_norm_weights_equalise_the_terms_gradient_norms():
    comb = grad_norm(alpha=0.0, weights={"b": 3.0})
    state = comb.init(None, ("a", "b", "c"))
    assert {k: float(v) for k, v in comb.weights(state).items()} == {"a": 1.0, "b": 3.0, "c": 1.0}
    grads = {"a": {"w": jnp.array([3.0, 4.0])}, "b": {"w": jnp.array([0.0, 1.0])}, "c": {"w": jnp.array([0.5, 0.0])}}
    direction, state, aux = comb.update(grads, {}, state, None)
    w = comb.weights(state)
    total = 5.0 + 1.0 + 0.5  # sum of the norms
    for name, norm in (("a", 5.0), ("b", 1.0), ("c", 0.5)):
        assert float(w[name]) == pytest.approx(total / norm) and float(w[name]) * norm == pytest.approx(total)
    np.testing.assert_allclose(direction["w"], sum(float(w[n]) * grads[n]["w"] for n in "abc"), rtol=1e-6)
    assert float(aux["grad_norm/a"]) == pytest.approx(5.0)


def test_stateful_combiner_is_checkpointed_and_resumes_bitwise(tmp_path):
    cfg = tiny_config(objective={"constraint": "soft", "n_initial": 32, "n_boundary": 32},
                      optimizer={"combine": {"name": "grad_norm", "alpha": 0.9}})
    full = pdejax.train(cfg, run_dir=tmp_path / "full", progress=False)
    assert {"weight/residual", "weight/initial", "weight/boundary"} <= set(full.summary["final"])
    assert full.summary["final"]["weight/initial"] != 1.0  # the weights moved
    pdejax.train(tiny_config(**{**cfg, "train": {**cfg["train"], "steps": 100}}), run_dir=tmp_path / "half",
                 progress=False)
    resumed = pdejax.train(cfg, resume=tmp_path / "half", progress=False)
    assert resumed.summary["resumed_from"] == 100
    for a, b in zip(leaves(full.model), leaves(resumed.model)):
        np.testing.assert_array_equal(a, b)
    for k in ("weight/residual", "weight/initial", "weight/boundary"):
        assert resumed.summary["final"][k] == full.summary["final"][k]
    # the checkpoint holds the combiner's weights
    exp = pdejax.build(cfg)
    ckpt = Checkpointer(tmp_path / "full" / "checkpoints")
    from pdejax.training.loop import Schedule

    state, _ = Schedule(exp.method.model, exp.method.objective, exp.method.source, exp.phases, exp.combiner,
                        exp.mesh, 0).restore(ckpt)
    ckpt.close()
    assert float(state.combiner_state["weights"]["initial"]) == pytest.approx(full.summary["final"]["weight/initial"])


class Bowl(AbstractObjective):
    loss_names = ("fit",)

    def loss(self, model, batch, key):
        return {"fit": jnp.sum(batch["scale"] * (model - 1.0) ** 2)}, {}


def test_optimizers_receive_value_grad_and_value_fn():
    seen = {}

    def init(params):
        return {"value": jnp.zeros(()), "again": jnp.zeros(())}

    def update(updates, state, params=None, *, value, grad, value_fn, **extra):
        seen["called"] = True
        return jax.tree.map(lambda g: -0.1 * g, grad), {"value": value, "again": value_fn(params)}

    recorder = optax.GradientTransformationExtraArgs(init, update)
    step = make_step(Bowl(), recorder, source=FixedBatch({"scale": jnp.arange(1.0, 4.0)}))
    state, logs = step(step.init(jnp.zeros(3), jax.random.PRNGKey(0)), n=1)
    assert seen["called"]
    assert float(state.opt_state["value"]) == pytest.approx(float(logs["loss"][0])) == pytest.approx(6.0)
    assert float(state.opt_state["again"]) == pytest.approx(6.0)  # value_fn at the same params and batch


def test_reduce_on_plateau_gets_the_loss():
    opt = optax.chain(optax.sgd(0.1), optax.contrib.reduce_on_plateau(patience=1, factor=0.5))
    step = make_step(Bowl(), opt, source=FixedBatch({"scale": jnp.ones(3)}))
    state, _ = step(step.init(jnp.zeros(3), jax.random.PRNGKey(0)), n=5)
    assert float(optax.tree_utils.tree_get(state.opt_state, "best_value")) < 3.0  # it saw the decreasing losses


def test_schedule_free_is_evaluated_and_returned_at_its_averaged_iterate():
    opt = optax.contrib.schedule_free_sgd(0.1)
    source = FixedBatch({"scale": jnp.ones(3)})
    step = make_step(Bowl(), opt, source=source)
    state, _ = step(step.init(jnp.zeros(3), jax.random.PRNGKey(0)), n=5)
    expected = optax.contrib.schedule_free_eval_params(state.opt_state, state.model)
    np.testing.assert_allclose(step.evaluation_model(state), expected)
    assert not np.allclose(step.evaluation_model(state), state.model)
    seen = []
    result = fit(jnp.zeros(3), Bowl(), source, [OptaxPhase(5, opt)], evaluator=lambda m: seen.append(m) or {},
                 steps_per_call=5, progress=False)
    np.testing.assert_allclose(result.model, expected)
    np.testing.assert_allclose(seen[0], expected)


def test_loggers_receive_every_record_and_are_closed():
    class Collect(AbstractLogger):
        def __init__(self):
            self.records, self.closed = [], False

        def log(self, record):
            self.records.append(record)

        def close(self):
            self.closed = True

    logger = Collect()
    fit(jnp.zeros(3), Bowl(), FixedBatch({"scale": jnp.ones(3)}), [OptaxPhase(20, optax.sgd(0.1), 0.1)],
        steps_per_call=5, log_every=10, loggers=[logger], progress=False)
    assert [r["step"] for r in logger.records] == [10, 20] and logger.closed
    assert logger.records[0]["lr"] == 0.1 and "fit" in logger.records[0]


def test_schedule_free_run_saves_and_loads_its_evaluation_iterate(tmp_path):
    cfg = tiny_config(optimizer={"name": "contrib.schedule_free_adamw", "learning_rate": 1e-2},
                      train={"steps": 100, "eval_every": 100, "checkpoint_every": 100})
    run = pdejax.train(cfg, run_dir=tmp_path / "sf", progress=False)
    loaded = pdejax.load_run(tmp_path / "sf")
    exp = pdejax.build(cfg)
    from pdejax.training.loop import Schedule

    ckpt = Checkpointer(tmp_path / "sf" / "checkpoints")
    state, _ = Schedule(exp.method.model, exp.method.objective, exp.method.source, exp.phases, exp.combiner,
                        exp.mesh, 0).restore(ckpt)
    ckpt.close()
    params = eqx.filter(state.model, eqx.is_array)
    is_sf = lambda s: isinstance(s, optax.contrib.ScheduleFreeState)  # noqa: E731
    (sf_state,) = [s for s in jax.tree.leaves(state.opt_state, is_leaf=is_sf) if is_sf(s)]
    averaged = optax.contrib.schedule_free_eval_params(sf_state, params)
    for a, b in zip(leaves(averaged), leaves(loaded.model)):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(leaves(params), leaves(loaded.model)))
    assert run.summary["rel_l2"] == pytest.approx(exp.method.evaluator(loaded.model)["rel_l2"], rel=1e-6)
