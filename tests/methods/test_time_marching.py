"""Time marching: windows chain their initial conditions, finished windows stay frozen, and a
marching run trains window after window and resumes bitwise from a checkpoint in a later window."""

import shutil

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pdejax
from pdejax.methods.pinn.marching import MarchingField, freeze_earlier_windows
from pdejax.models import MLP
from pdejax.objectives import PINN, PINNField
from pdejax.pde import PDES
from tests.conftest import tiny_config


def perturbed(model: MarchingField, window: int, seed: int) -> MarchingField:
    """``model`` with the network of ``window`` moved at random (as training would)."""
    arrays, static = eqx.partition(model.nets, eqx.is_array)
    keys = iter(jax.random.split(jax.random.PRNGKey(seed), len(jax.tree.leaves(arrays))))
    arrays = jax.tree.map(lambda a: a.at[window].add(0.3 * jax.random.normal(next(keys), a.shape[1:], a.dtype)),
                          arrays)
    return MarchingField(eqx.combine(arrays, static), model.pde, model.constraint, model.times, model.active)


@pytest.mark.parametrize("constraint", ["hard", "soft"])
def test_each_window_starts_from_the_previous_window_at_its_end(x64, constraint):
    pde = PDES.build("burgers", {"nu": 0.1}, where="pde")
    net = MLP(in_size=2, out_size=1, width=8, depth=2, key=jax.random.PRNGKey(0), dtype=jnp.float64)
    first = perturbed(MarchingField.from_field(PINNField(net, pde, constraint), 3), 0, 1)  # window 0 trained
    assert first.times == (0.0, 1 / 3, 2 / 3, 1.0) and first.time_window == (0.0, 1 / 3)
    second = first.advance(1)
    np.testing.assert_array_equal(np.asarray(second.net(1).layers[0].weight),
                                  np.asarray(first.net(0).layers[0].weight))  # initialised from window 0
    second = perturbed(second, 1, 2)  # ... then trained
    x = jnp.linspace(-0.9, 0.9, 7)
    t1 = jnp.full_like(x, 1 / 3)
    at = eqx.filter_jit(lambda m, t: jax.vmap(m)(jnp.stack([x, t], axis=1))[:, 0])
    start = eqx.filter_jit(lambda m: jax.vmap(m.initial_values)(x[:, None])[:, 0])(second)
    np.testing.assert_allclose(np.asarray(start), np.asarray(at(first, t1)), rtol=0, atol=1e-14)
    if constraint == "hard":  # built in: window 1 at t1 is window 0 at t1, whatever its own network
        np.testing.assert_allclose(np.asarray(at(second, t1)), np.asarray(at(first, t1)), rtol=0, atol=1e-14)
        ends = eqx.filter_jit(jax.vmap(second))(jnp.array([[-1.0, 0.5], [1.0, 0.6]]))
        np.testing.assert_allclose(np.asarray(ends), 0.0, atol=1e-14)  # Dirichlet walls
    inside = jnp.full_like(x, 0.2)  # window 0 is read from its own network, unchanged
    np.testing.assert_array_equal(np.asarray(at(second, inside)), np.asarray(at(first, inside)))
    later = jnp.full_like(x, 0.5)
    assert float(jnp.max(jnp.abs(at(second, later) - at(first, later)))) > 1e-3


def test_finished_windows_take_no_update(x64):
    pde = PDES.build("burgers", {"nu": 0.1}, where="pde")
    net = MLP(in_size=2, out_size=1, width=8, depth=2, key=jax.random.PRNGKey(0), dtype=jnp.float64)
    model = MarchingField.from_field(PINNField(net, pde, "hard"), 2).advance(1)
    objective = PINN(pde)
    points = jnp.stack([jnp.linspace(-0.9, 0.9, 16), jnp.linspace(0.5, 1.0, 16)], axis=1)
    params, static = eqx.partition(model, eqx.is_array)

    @jax.jit
    def step(params):
        grads = jax.grad(lambda p: objective.loss(eqx.combine(p, static), {"interior": points}, None)[0]
                         ["residual"])(params)
        opt = optax.chain(optax.adamw(1e-2, weight_decay=0.5), freeze_earlier_windows(1))
        updates, _ = opt.update(grads, opt.init(params), params)
        return grads, updates

    grads, updates = step(params)
    for g, u in zip(jax.tree.leaves(grads.nets), jax.tree.leaves(updates.nets)):
        assert not np.any(np.asarray(g[0])) and not np.any(np.asarray(u[0]))  # window 0: no gradient, no decay
    assert any(np.any(np.asarray(u[1])) for u in jax.tree.leaves(updates.nets))


def test_training_view_gives_the_whole_fields_losses_and_gradients(x64):
    # soft constraints, window 2 of 3 (windows 0 and 1 trained): the local view evaluates one
    # network per point (and window 1's for the initial values) and must change nothing the loss sees.
    pde = PDES.build("allen_cahn", {}, where="pde")
    net = MLP(in_size=3, out_size=1, width=8, depth=2, key=jax.random.PRNGKey(0), dtype=jnp.float64)
    model = perturbed(MarchingField.from_field(PINNField(net, pde, "soft"), 3), 0, 1).advance(1)
    model = perturbed(perturbed(model, 1, 2).advance(2), 2, 3)
    view = model.training_view()
    assert view.local and view.time_window == model.time_window == (2 / 3, 1.0)
    key = jax.random.PRNGKey(4)
    interior = jnp.stack([jax.random.uniform(key, (32,), jnp.float64, -1, 1),
                          jnp.linspace(2 / 3, 1.0, 32)], axis=1)  # the window's ends included
    batch = {"interior": interior, "initial": jnp.linspace(-1, 1, 9)[:, None]}
    objective = PINN(pde, constraint="soft", n_initial=9, causal_chunks=4)
    params, static = eqx.partition(model, eqx.is_array)

    def total(p, view_first):
        m = eqx.combine(p, static)
        whole = MarchingField(m.nets, m.pde, m.constraint, m.times, m.active)
        target = whole.training_view() if view_first else whole
        pts = jax.vmap(target)(interior)
        starts = jax.vmap(target.initial_values)(batch["initial"])
        return jnp.sum(pts**2) + jnp.sum(starts * pts[:9]), (pts, starts)

    (v_local, (p_local, s_local)), g_local = jax.jit(jax.value_and_grad(total, has_aux=True),
                                                     static_argnums=1)(params, True)
    (v_whole, (p_whole, s_whole)), g_whole = jax.jit(jax.value_and_grad(total, has_aux=True),
                                                     static_argnums=1)(params, False)
    np.testing.assert_allclose(np.asarray(p_local), np.asarray(p_whole), rtol=0, atol=1e-14)
    np.testing.assert_allclose(np.asarray(s_local), np.asarray(s_whole), rtol=0, atol=1e-14)
    for a, b in zip(jax.tree.leaves(g_local), jax.tree.leaves(g_whole)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)
    # the PDE residual (u_t, u_xx by autodiff) through the view, as the objective reads it, is the whole field's
    whole = jnp.sqrt(jnp.sum(objective.residuals(model, interior) ** 2, axis=-1))
    np.testing.assert_allclose(np.asarray(objective.residual_norm(model, interior)), np.asarray(whole),
                               rtol=1e-12, atol=1e-13)
    outside = jnp.array([[0.3, 0.1]])  # window 0: the view is not the field there (the loss never looks)
    assert float(jnp.max(jnp.abs(jax.vmap(view)(outside) - jax.vmap(model)(outside)))) > 1e-3
    assert MarchingField.from_field(PINNField(net, pde, "hard"), 3).training_view().local is False


@pytest.mark.slow
def test_marching_run_trains_every_window_and_resumes_bitwise(tmp_path):
    cfg = tiny_config(pde={"nu": 0.1}, objective={"windows": 2, "n_collocation": 64},
                      train={"steps": 20, "steps_per_call": 10, "log_every": 10, "eval_every": 20,
                             "checkpoint_every": 10, "keep_checkpoints": 5})
    run = pdejax.train(cfg, run_dir=tmp_path / "a")
    assert [(r["step"], r["phase"]) for r in run.history] == [
        (10, "OptaxPhase"), (20, "OptaxPhase"), (30, "WindowPhase"), (40, "WindowPhase")]
    assert run.summary["steps"] == 40 and np.isfinite(run.summary["rel_l2"])  # over the whole interval
    assert run.model.active == 1
    x = jnp.linspace(-0.9, 0.9, 5)
    at_t1 = jnp.stack([x, jnp.full_like(x, 0.5)], axis=1)
    np.testing.assert_allclose(np.asarray(jax.vmap(run.model)(at_t1)),
                               np.asarray(jax.vmap(run.model.with_active(0))(at_t1)), rtol=0, atol=1e-6)

    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoints" / "40")  # as if stopped at step 30, inside window 1
    resumed = pdejax.train(resume=tmp_path / "b")
    assert resumed.summary["resumed_from"] == 30
    for a, b in zip(jax.tree.leaves(eqx.filter(run.model, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(resumed.model, eqx.is_array))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    loaded = pdejax.load_run(tmp_path / "b")
    np.testing.assert_array_equal(np.asarray(jax.vmap(loaded.model)(at_t1)), np.asarray(jax.vmap(run.model)(at_t1)))
