"""The training loop: NaN guard, sharding, learning, checkpoints, early stops."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pdejax
from pdejax.objectives import AbstractObjective
from pdejax.parallel import data_mesh
from pdejax.training import (
    AbstractDeviceSource,
    Checkpointer,
    LBFGSPhase,
    NonFiniteLoss,
    OptaxPhase,
    TrainState,
    fit,
    make_step,
)
from pdejax.training.step import batch_constraint
from tests.conftest import tiny_config


class Quadratic(eqx.Module):
    w: jax.Array


class StepCounter(AbstractDeviceSource):
    """Batches that are just the step number."""

    def draw(self, model, state, key, step):
        return {"step": step}, state


class BlowsUp(AbstractObjective):
    """``|w - 1|²``, but NaN from step ``bad_step`` on."""

    bad_step: int = eqx.field(static=True)
    loss_names = ("fit",)

    def loss(self, model, batch, key):
        value = jnp.sum((model.w - 1.0) ** 2)
        return {"fit": jnp.where(batch["step"] >= self.bad_step, jnp.nan, value)}, {}


class Bowl(AbstractObjective):
    loss_names = ("fit",)

    def loss(self, model, batch, key):
        return {"fit": jnp.sum(jnp.arange(1.0, 5.0) * (model.w - 1.0) ** 2)}, {}


def test_nan_stops_run_and_keeps_last_finite_checkpoint(tmp_path):
    ckpt = Checkpointer(tmp_path / "ck", keep=3)
    model = Quadratic(jnp.zeros(4))
    with pytest.raises(NonFiniteLoss) as info:
        fit(model, BlowsUp(250), StepCounter(), [OptaxPhase(1000, optax.sgd(0.01), 0.01)], steps_per_call=50,
            checkpointer=ckpt, checkpoint_every=100, progress=False)
    assert info.value.step == 250 and info.value.term == "fit"
    assert "step 250" in str(info.value) and "'fit'" in str(info.value)
    assert ckpt.all_steps() == [100, 200]
    template = eqx.filter(make_step(BlowsUp(250), optax.sgd(0.01), source=StepCounter()).init(
        model, jax.random.PRNGKey(0)), eqx.is_array)
    state, meta = ckpt.restore(jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), template))
    assert meta["step"] == 200 and int(state.step) == 200
    assert isinstance(state, TrainState)
    # 200 SGD steps on |w-1|² with lr 0.01: w = 1 - 0.98^200, exactly as if nothing had happened.
    np.testing.assert_allclose(state.model.w, 1 - 0.98**200, rtol=1e-5)
    ckpt.close()


def test_lbfgs_phase_after_adam_converges_in_float32_and_stops_early():
    result = fit(Quadratic(jnp.zeros(4)), Bowl(), StepCounter(),
                 [OptaxPhase(100, optax.adam(1e-2), 1e-2), LBFGSPhase(400)], steps_per_call=50, progress=False)
    np.testing.assert_allclose(result.model.w, 1.0, atol=1e-5)
    # converged: the stall guard ended the phase before its 400 steps instead of producing NaNs
    assert result.steps < 500, result.steps
    assert any("LBFGSPhase made no progress" in n for n in result.notes), result.notes


def test_sharded_run_matches_single_device(tmp_path):
    assert len(jax.devices()) >= 4, "conftest should provide 4 CPU devices"
    runs = {}
    for n in (1, 4):
        # Adam only: L-BFGS line searches turn float32 round-off differences into discrete choices.
        cfg = tiny_config(parallel={"data": n}, objective={"n_collocation": 256})
        runs[n] = pdejax.train(cfg, run_dir=tmp_path / f"d{n}", progress=False)
    assert runs[1].summary["device_count"] == 1 and runs[4].summary["device_count"] == 4
    leaves1 = jax.tree.leaves(eqx.filter(runs[1].model, eqx.is_array))
    leaves4 = jax.tree.leaves(eqx.filter(runs[4].model, eqx.is_array))
    for a, b in zip(leaves1, leaves4):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert abs(runs[1].summary["rel_l2"] - runs[4].summary["rel_l2"]) < 1e-5


def test_sharded_batches_are_laid_out_on_the_data_axis():
    constrain = batch_constraint(data_mesh(4))
    out = jax.jit(lambda x: constrain({"interior": x}))(jnp.zeros((16, 2)))["interior"]
    assert len(out.sharding.device_set) == 4
    assert out.sharding.shard_shape(out.shape) == (4, 2)


def test_heat_pinn_learns_the_exact_solution(tmp_path):
    cfg = tiny_config(pde={"name": "heat", "kappa": 0.02}, model={"width": 16, "depth": 2},
                      objective={"n_collocation": 256}, evaluation={"grid": {"x": [0, 1, 33], "t": [0, 1, 11]}},
                      train={"steps": 500, "eval_every": 500, "checkpoint_every": 500},
                      optimizer={"learning_rate": 3e-3}, lbfgs={"steps": 300})
    run = pdejax.train(cfg, run_dir=tmp_path / "heat", progress=False)
    assert run.summary["rel_l2"] < 2e-3, run.summary


def test_a_logger_stops_training_with_a_checkpoint_and_an_evaluation_there(tmp_path):
    """StopTraining from a logger (early stopping, a pruned sweep trial) ends the run at that
    record's step: checkpointed, evaluated there, the reason in ``stopped`` and the notes."""
    from pdejax.training import AbstractEvaluator, FunctionLogger, StopTraining

    class Distance(AbstractEvaluator):
        def __call__(self, model):
            return {"distance": float(jnp.max(jnp.abs(model.w - 1.0)))}

    def stop_at_300(record):
        if record["step"] == 300:
            raise StopTraining("pruned by the test")

    ckpt = Checkpointer(tmp_path / "ck", keep=5)
    result = fit(Quadratic(jnp.zeros(4)), BlowsUp(10**6), StepCounter(), [OptaxPhase(1000, optax.sgd(0.01), 0.01)],
                 steps_per_call=50, log_every=100, eval_every=1000, checkpointer=ckpt, checkpoint_every=1000,
                 loggers=[FunctionLogger(stop_at_300)], evaluator=Distance(), progress=False)
    assert result.steps == 300 and result.stopped == "pruned by the test"
    assert any("stopped at step 300" in n for n in result.notes), result.notes
    assert ckpt.all_steps() == [300]
    # 300 SGD steps on |w-1|² with lr 0.01: w = 1 - 0.98^300, and the metric is evaluated at that model
    np.testing.assert_allclose(result.model.w, 1 - 0.98**300, rtol=1e-5)
    np.testing.assert_allclose(result.metrics["distance"], 0.98**300, rtol=1e-4)
    assert [r["step"] for r in result.history] == [100, 200, 300]
    ckpt.close()
