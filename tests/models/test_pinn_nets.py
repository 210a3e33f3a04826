"""PINN networks: Fourier features, RWF, modified MLP, PirateNet (+ least-squares init), ChebyKAN, PINNsFormer.

Numbers are compared in float64; keys use the ``rbg`` PRNG (quick to compile on CPU).
jit/vmap/grad/sharding/checkpoints are in ``test_conformance.py`` (``POINT_CASES``).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from numpy.polynomial import chebyshev

import pdejax
from pdejax.methods.pinn.least_squares import fit_initial_condition
from pdejax.models import MODELS, ChebyKAN, FourierMLP, PINNsFormer, RWFLinear, factorize_weights
from pdejax.models.kan import ChebyKANLayer
from pdejax.models.layers import glorot_layers, glorot_linear
from pdejax.models.pinnsformer import MultiheadAttention
from pdejax.objectives import PINNField
from pdejax.pde import PDES
from tests.conftest import tiny_config

SMALL = {
    "fourier_mlp": {"width": 8, "depth": 2, "n_features": 4},
    "modified_mlp": {"width": 8, "depth": 2, "rwf": {"mean": 1.0, "std": 0.1}},
    "pirate_net": {"width": 8, "n_blocks": 1, "n_features": 4},
    "kan": {"width": 4, "depth": 1, "degree": 3},
    "pinnsformer": {"d_model": 8, "n_heads": 2, "d_ff": 8, "d_hidden": 8, "n_steps": 3},
}
archs = pytest.mark.parametrize("name", sorted(SMALL))


def key(seed: int = 0):
    return jax.random.key(seed, impl="rbg")


def build(name: str, in_size: int, out_size: int, dtype=None, **args):
    return MODELS.build(name, {**SMALL[name], **args}, where="model", in_size=in_size, out_size=out_size,
                        key=key(), dtype=dtype)


@eqx.filter_jit
def batched(model, x):
    return jax.vmap(model)(x)


def uniform(shape, seed=1, low=-1.0, high=1.0):
    return jnp.asarray(np.random.default_rng(seed).uniform(low, high, shape))


@pytest.mark.parametrize("name", sorted(SMALL) + ["mlp"])
def test_output_shape_with_default_and_small_sizes(name):
    for args in ({}, SMALL.get(name, {})):  # abstractly: nothing is computed
        net = jax.eval_shape(lambda a=args: MODELS.build(name, a, where="model", in_size=3, out_size=2, key=key()))
        assert jax.eval_shape(lambda n, x: jax.vmap(n)(x), net, jnp.zeros((5, 3))).shape == (5, 2)


def test_rwf_layer_is_diag_exp_s_times_v_and_trains_s_and_v(x64):
    lin = glorot_linear(3, 4, key=key(), dtype=jnp.float64)
    rwf = RWFLinear.from_linear(lin, mean=1.0, std=0.1, key=key(1))
    s, v = np.asarray(rwf.scale), np.asarray(rwf.direction)
    assert np.std(s) > 0 and abs(np.mean(s) - 1.0) < 0.3
    np.testing.assert_allclose(np.asarray(rwf.weight), np.diag(np.exp(s)) @ v, rtol=1e-15)
    np.testing.assert_allclose(np.asarray(rwf.weight), np.asarray(lin.weight), rtol=1e-14)
    x = uniform(3)
    np.testing.assert_allclose(np.asarray(rwf(x)), np.asarray(lin(x)), rtol=1e-13)
    # chain rule through W = diag(exp(s)) V: dL/dV = diag(exp(s)) dL/dW, dL/ds_i = sum_j dL/dW_ij W_ij
    loss = lambda layer: jnp.sum(jnp.sin(layer(x)))
    g, g_lin = eqx.filter_grad(loss)(rwf), eqx.filter_grad(loss)(lin)
    dw = np.asarray(g_lin.weight)
    np.testing.assert_allclose(np.asarray(g.direction), np.exp(s)[:, None] * dw, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g.scale), np.sum(dw * np.asarray(rwf.weight), axis=1), rtol=1e-12)
    assert np.all(np.asarray(g.scale) != 0) and np.all(np.asarray(g.direction) != 0)


def test_factorize_weights_replaces_every_dense_layer_and_keeps_the_function(x64):
    net = build("modified_mlp", 3, 2, dtype=jnp.float64, rwf=None, n_features=4)
    rwf = factorize_weights(net, {"mean": 0.5, "std": 0.2}, key=key(1))
    assert [type(layer) for layer in (rwf.encoder_u, rwf.encoder_v, *rwf.layers, rwf.output)] == [RWFLinear] * 5
    np.testing.assert_array_equal(np.asarray(rwf.embedding.matrix), np.asarray(net.embedding.matrix))
    x = uniform((6, 3))
    np.testing.assert_allclose(np.asarray(batched(rwf, x)), np.asarray(batched(net, x)), rtol=1e-12)
    assert factorize_weights(net, None, key=key(1)) is net
    with pytest.raises(pdejax.ConfigError, match="rwf.std"):
        factorize_weights(net, {"std": -1.0}, key=key(1))


def test_fourier_features_get_zero_gradient_and_stay_fixed_under_optax():
    net = FourierMLP(2, 1, width=8, depth=1, n_features=4, key=key())
    x = uniform((16, 2)).astype(jnp.float32)
    opt = optax.adam(1e-2)

    @eqx.filter_jit
    def step(net):  # the standard step: gradients of the arrays, an optax update
        grads = eqx.filter_grad(lambda m: jnp.mean(jax.vmap(m)(x) ** 2))(net)
        params = eqx.filter(net, eqx.is_inexact_array)
        updates, _ = opt.update(grads, opt.init(params), params)
        return grads, eqx.apply_updates(net, updates)

    grads, new = step(net)
    assert not np.asarray(grads.embedding.matrix).any()
    np.testing.assert_array_equal(np.asarray(new.embedding.matrix), np.asarray(net.embedding.matrix))
    assert not np.array_equal(np.asarray(new.mlp.layers[0].weight), np.asarray(net.mlp.layers[0].weight))


def test_modified_mlp_gates_between_its_encoders(x64):
    net = build("modified_mlp", 3, 1, dtype=jnp.float64, rwf=None, depth=1)
    x = uniform(3)
    u, v = jnp.tanh(net.encoder_u(x)), jnp.tanh(net.encoder_v(x))
    z = jnp.tanh(net.layers[0](x))
    np.testing.assert_allclose(np.asarray(net(x)), np.asarray(net.output((1 - z) * u + z * v)), rtol=1e-14)


def test_pirate_net_starts_as_a_linear_map_of_its_embedding(x64):
    net = build("pirate_net", 3, 2, dtype=jnp.float64, n_blocks=2)  # RWF on, as by default
    assert isinstance(net.output, RWFLinear) and all(float(b.alpha) == 0 for b in net.blocks)
    x = uniform((10, 3))
    linear = batched(lambda p: net.output.weight @ net.embed(p) + net.output.bias, x)
    np.testing.assert_allclose(np.asarray(batched(net, x)), np.asarray(linear), rtol=1e-13, atol=1e-14)


def test_least_squares_init_reproduces_a_function_in_the_span(x64):
    net = build("pirate_net", 3, 2, dtype=jnp.float64, n_blocks=2)
    x, other = uniform((64, 3)), uniform((20, 3), seed=2)
    a, b = np.random.default_rng(3).standard_normal((2, 8)), np.array([0.5, -2.0])
    target = lambda p: batched(net.embed, p) @ a.T + b  # a linear map of the 8 Fourier features
    fitted = eqx.filter_jit(net.least_squares_init)(x, target(x))
    assert np.max(np.abs(np.asarray(batched(fitted, x) - target(x)))) < 1e-12
    assert np.max(np.abs(np.asarray(batched(fitted, other) - target(other)))) < 1e-12
    np.testing.assert_array_equal(np.asarray(fitted.output.scale), np.asarray(net.output.scale))  # s kept
    same = lambda m: eqx.filter((m.embedding, m.encoder_u, m.encoder_v, m.blocks), eqx.is_array)
    assert eqx.tree_equal(same(fitted), same(net))
    with pytest.raises(ValueError, match="targets"):
        net.least_squares_init(x, target(x)[:, :1])


def test_least_squares_init_fits_the_initial_condition(x64):
    pde = PDES.build("burgers", {}, where="pde")
    net, off = (MODELS.build("pirate_net", {"width": 8, "n_blocks": 1, "n_features": 32, "least_squares_init": fit},
                             where="model", in_size=2, out_size=1, key=key(), dtype=jnp.float64)
                for fit in (True, False))
    model = PINNField(net, pde, "soft")
    x = np.linspace(-1.0, 1.0, 101)[:, None]
    points = jnp.asarray(np.concatenate([x, np.zeros_like(x)], axis=1))
    error = lambda m: np.max(np.abs(np.asarray(batched(m, points))[:, 0] + np.sin(np.pi * x[:, 0])))
    fitted = fit_initial_condition(model, 256, seed=0)
    assert error(fitted) < 0.02 * error(model), (error(model), error(fitted))
    # the default ("all_times") holds the initial values over the interval; "initial_time" fits t0
    later = jnp.asarray(np.concatenate([x, np.full_like(x, 0.7)], axis=1))
    error_later = lambda m: np.max(np.abs(np.asarray(batched(m, later))[:, 0] + np.sin(np.pi * x[:, 0])))
    assert error_later(fitted) < 0.05 * error_later(model), (error_later(model), error_later(fitted))
    small = {"width": 8, "n_blocks": 1, "n_features": 32, "least_squares_init": "initial_time"}
    at_t0 = MODELS.build("pirate_net", small, where="model", in_size=2, out_size=1, key=key(), dtype=jnp.float64)
    fitted_t0 = fit_initial_condition(PINNField(at_t0, pde, "soft"), 256, seed=0)
    assert error(fitted_t0) < 0.02 * error(model), (error(model), error(fitted_t0))
    assert fit_initial_condition(PINNField(net, pde, "hard"), 256, seed=0).net is net  # built in already
    assert fit_initial_condition(PINNField(off, pde, "soft"), 256, seed=0).net is off  # least_squares_init: false


def test_chebyshev_kan_matches_numpy(x64):
    net = ChebyKAN(2, 3, width=4, depth=1, degree=3, key=key(), dtype=jnp.float64)
    net = jax.tree.map(lambda c: c * 30.0, net)  # O(1) coefficients: every term matters
    assert isinstance(net.layers[0], ChebyKANLayer) and net.layers[0].coefficients.shape == (4, 2, 4)

    def layer(c, x):  # y_j = sum_i sum_k c[j, i, k] T_k(tanh(x_i))
        return np.array([sum(chebyshev.chebval(np.tanh(x[i]), c[j, i]) for i in range(c.shape[1]))
                         for j in range(c.shape[0])])

    for x in np.asarray(uniform((3, 2), low=-3.0, high=3.0)):
        expected = layer(np.asarray(net.layers[1].coefficients), layer(np.asarray(net.layers[0].coefficients), x))
        np.testing.assert_allclose(np.asarray(net(jnp.asarray(x))), expected, rtol=1e-12, atol=1e-13)


def test_pinnsformer_pseudo_sequence_and_attention(x64):
    net = PINNsFormer(3, 2, d_model=8, n_heads=2, d_ff=8, d_hidden=8, n_steps=4, dt=0.25, key=key(),
                      dtype=jnp.float64)
    x = jnp.asarray([0.1, -0.2, 0.5])
    expected = [[0.1, -0.2, 0.5], [0.1, -0.2, 0.75], [0.1, -0.2, 1.0], [0.1, -0.2, 1.25]]
    np.testing.assert_allclose(np.asarray(net.pseudo_sequence(x)), expected, rtol=1e-15)
    seq, out = eqx.filter_jit(lambda n, x: (n.sequence_outputs(x), n(x)))(net, x)
    assert seq.shape == (4, 2)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(seq[0]))
    # attention as torch.nn.MultiheadAttention computes it, head by head in NumPy
    att = MultiheadAttention(*glorot_layers([(8, 8)] * 4, key=key(1), dtype=jnp.float64), n_heads=2)
    q, kv = np.asarray(uniform((4, 8))), np.asarray(uniform((5, 8), seed=2))
    lin = lambda layer, a: a @ np.asarray(layer.weight).T + np.asarray(layer.bias)
    Q, K, V = lin(att.query_proj, q), lin(att.key_proj, kv), lin(att.value_proj, kv)
    heads = []
    for h in (slice(0, 4), slice(4, 8)):
        logits = Q[:, h] @ K[:, h].T / 2.0
        w = np.exp(logits - logits.max(axis=1, keepdims=True))
        heads.append(w / w.sum(axis=1, keepdims=True) @ V[:, h])
    expected = lin(att.out_proj, np.concatenate(heads, axis=1))
    np.testing.assert_allclose(np.asarray(eqx.filter_jit(att)(jnp.asarray(q), jnp.asarray(kv), jnp.asarray(kv))),
                               expected,
                               rtol=1e-12, atol=1e-14)


@archs
def test_hard_constraints_compose(name, x64):
    """Burgers: u(x, t0) = u0(x) exactly; periodic Kuramoto–Sivashinsky: u(x + L, t) = u(x, t) to round-off."""
    burgers, ks = PDES.build("burgers", {}, where="pde"), PDES.build("kuramoto_sivashinsky", {}, where="pde")
    fields = {}
    for label, pde in (("burgers", burgers), ("ks", ks)):
        net = build(name, PINNField.net_in_size(pde), len(pde.fields), dtype=jnp.float64)
        fields[label] = PINNField(net, pde, "hard")
    x = uniform((9, 1))
    at_t0 = jnp.concatenate([x, jnp.zeros_like(x)], axis=1)
    lo, hi = ks.domain.point_lower[0], ks.domain.point_upper[0]
    xk = uniform((9, 1), low=lo, high=hi)
    left = jnp.concatenate([xk, jnp.full_like(xk, 0.3)], axis=1)
    right = left.at[:, 0].add(hi - lo)

    @eqx.filter_jit
    def evaluate(fields):
        return (jax.vmap(fields["burgers"])(at_t0), jax.vmap(burgers.initial_values)(x),
                jax.vmap(fields["ks"])(left), jax.vmap(fields["ks"])(right))

    u0, expected, u_left, u_right = map(np.asarray, evaluate(fields))
    np.testing.assert_array_equal(u0, expected)
    np.testing.assert_allclose(expected[:, 0], -np.sin(np.pi * np.asarray(x[:, 0])), rtol=1e-14, atol=1e-15)
    assert np.max(np.abs(u_left)) > 1e-3  # not trivially zero
    np.testing.assert_allclose(u_left, u_right, rtol=0, atol=1e-12 * max(1.0, np.max(np.abs(u_left))))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["modified_mlp", "pirate_net"])
def test_trains_through_pdejax_train(name, tmp_path):
    """A few Adam steps on periodic advection: the logged loss goes down. PirateNet trains with
    soft constraints, so the builder fits its last layer to the initial condition first. (Every
    architecture's jit / grad / checkpoint path is in the conformance suite; two end-to-end runs
    here keep the test suite's time down.)"""
    soft = name == "pirate_net"
    objective = {"constraint": "soft", "n_initial": 32, "n_boundary": 32} if soft else {}
    cfg = tiny_config(pde={"name": "advection"}, objective={"n_collocation": 64, **objective},
                      optimizer={"learning_rate": 1e-3 if soft else 1e-2},
                      train={"steps": 30, "steps_per_call": 10, "log_every": 10, "eval_every": 30,
                             "checkpoint_every": 30},
                      evaluation={"grid": {"x": [0.0, 1.0, 8], "t": [0.0, 1.0, 4]}})
    cfg["model"] = {"name": name, **SMALL[name]}  # not merged with tiny_config's mlp keys
    run = pdejax.train(cfg, run_dir=tmp_path / "run", progress=False)
    losses = [r["loss"] for r in run.history]
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert losses[-1] < losses[0], losses
    if soft:  # mean (u - u0)^2 at t0 after 10 steps: ~0.03 (without the fit ~4; mean u0^2 = 0.5)
        assert run.history[0]["initial"] < 0.1, run.history[0]
