"""SOAP (pdejax.training.soap) step by step against a NumPy transcription of the authors'
reference code, its config checks, and a tiny PINN trained with ``optimizer.name: soap``
(and causal R3 points), resumed from a checkpoint bitwise."""

from __future__ import annotations

import shutil

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pdejax
from pdejax.config.errors import ConfigError
from pdejax.training import OPTIMIZERS, build_optimizer
from pdejax.training.soap import soap
from tests.conftest import tiny_config


class ReferenceSOAP:
    """``SOAP.step`` of github.com/nikhilvyas/SOAP (``soap.py``), transcribed to NumPy for a
    list of parameters (no ``merge_dims``; ``data_format`` channels-first). The learning
    rate is passed per call, as a PyTorch scheduler would set it."""

    def __init__(self, betas, shampoo_beta, eps, weight_decay, precondition_frequency, max_precond_dim,
                 precondition_1d=False, normalize_grads=False):
        self.b1, self.b2 = betas
        self.shampoo_beta = shampoo_beta if shampoo_beta >= 0 else self.b2
        self.eps, self.weight_decay = eps, weight_decay
        self.freq, self.max_dim = precondition_frequency, max_precond_dim
        self.precondition_1d, self.normalize_grads = precondition_1d, normalize_grads
        self.state: dict[int, dict] = {}

    def step(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float) -> list[np.ndarray]:
        out = []
        for i, (p, grad) in enumerate(zip(params, grads)):
            state = self.state.setdefault(i, {"step": 0})
            p = p.copy()
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(grad)
                state["exp_avg_sq"] = np.zeros_like(grad)
            if "Q" not in state:
                self.init_preconditioner(grad, state)
                self.update_preconditioner(grad, state)
                out.append(p)
                continue  # the first step only sets up the preconditioner
            grad_projected = self.project(grad, state)
            state["step"] += 1
            state["exp_avg"] = self.b1 * state["exp_avg"] + (1 - self.b1) * grad_projected
            state["exp_avg_sq"] = self.b2 * state["exp_avg_sq"] + (1 - self.b2) * grad_projected**2
            denom = np.sqrt(state["exp_avg_sq"]) + self.eps
            step_size = lr * (1 - self.b2 ** state["step"]) ** 0.5 / (1 - self.b1 ** state["step"])
            norm_grad = self.project_back(state["exp_avg"] / denom, state)
            if self.normalize_grads:
                norm_grad = norm_grad / (1e-30 + np.mean(norm_grad**2) ** 0.5)
            p = p - step_size * norm_grad
            if self.weight_decay > 0:
                p = p - lr * self.weight_decay * p
            self.update_preconditioner(grad, state)
            out.append(p)
        return out

    def init_preconditioner(self, grad, state):
        if grad.ndim == 1:
            use = self.precondition_1d and grad.shape[0] <= self.max_dim
            state["GG"] = [np.zeros((grad.shape[0],) * 2) if use else None]
        else:
            state["GG"] = [np.zeros((sh, sh)) if sh <= self.max_dim else None for sh in grad.shape]
        state["Q"] = None

    def project(self, grad, state):
        for mat in state["Q"]:
            if mat is not None:
                grad = np.tensordot(grad, mat, axes=([0], [0]))
            else:
                grad = np.transpose(grad, [*range(1, grad.ndim), 0])
        return grad

    def project_back(self, grad, state):
        for mat in state["Q"]:
            if mat is not None:
                grad = np.tensordot(grad, mat, axes=([0], [1]))
            else:
                grad = np.transpose(grad, [*range(1, grad.ndim), 0])
        return grad

    def update_preconditioner(self, grad, state):
        if state["Q"] is not None:
            state["exp_avg"] = self.project_back(state["exp_avg"], state)
        for idx, gg in enumerate(state["GG"]):
            if gg is not None:
                others = [a for a in range(grad.ndim) if a != idx]
                outer = np.tensordot(grad, grad, axes=(others, others))
                state["GG"][idx] = gg + (1 - self.shampoo_beta) * (outer - gg)  # torch's lerp_
        if state["Q"] is None:
            state["Q"] = [None if m is None else np.flip(np.linalg.eigh(m + 1e-30 * np.eye(len(m)))[1], 1)
                          for m in state["GG"]]
        if state["step"] > 0 and state["step"] % self.freq == 0:
            state["Q"] = self.orthogonal_matrix_qr(state)
        if state["step"] > 0:
            state["exp_avg"] = self.project(state["exp_avg"], state)

    def orthogonal_matrix_qr(self, state):
        exp_avg_sq, final = state["exp_avg_sq"], []
        for ind, (m, o) in enumerate(zip(state["GG"], state["Q"])):
            if m is None:
                final.append(None)
                continue
            est_eig = np.diag(o.T @ m @ o)
            sort_idx = np.argsort(est_eig)[::-1]
            exp_avg_sq = np.take(exp_avg_sq, sort_idx, axis=ind)
            final.append(np.linalg.qr(m @ o[:, sort_idx])[0])
        state["exp_avg_sq"] = exp_avg_sq
        return final


def _mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    return jnp.mean((jnp.tanh(x @ w1 + b1) @ w2 + b2 - y) ** 2)


@pytest.mark.parametrize("case", ["schedule, weight decay", "defaults, normalized"])
def test_soap_matches_the_reference_step_by_step(x64, case):
    # A 2-layer MLP regression. The eigenbases are unique only up to signs when the Kronecker
    # factors have distinct eigenvalues: square hidden weights (4 x 4, rank 4 gradients) and,
    # for the 4 x 6 output weights, max_precond_dim = 5 (only their 4-long axis is rotated)
    # keep every factor of full rank from the first step on. Biases get Adam.
    # A fresh minibatch per step: with one fixed batch the first step's gradient would be
    # diagonal in the eigenbases computed from it, its other entries rounding noise that
    # Adam divides by eps, and two implementations agree only to ~lr · 1e-16 / eps.
    keys = jax.random.split(jax.random.key(0), 6)
    data_x = jax.random.normal(keys[0], (10, 32, 4))
    data_y = jnp.sin(data_x @ jax.random.normal(keys[1], (4, 6)))
    params = [0.5 * jax.random.normal(keys[2], (4, 4)), 0.1 * jax.random.normal(keys[3], (4,)),
              0.5 * jax.random.normal(keys[4], (4, 6)), 0.1 * jax.random.normal(keys[5], (6,))]
    if case == "schedule, weight decay":
        lr = optax.exponential_decay(3e-2, transition_steps=4, decay_rate=0.5)
        kwargs = dict(b1=0.9, b2=0.99, shampoo_beta=0.8, eps=1e-8, weight_decay=0.05, precondition_frequency=3,
                      max_precond_dim=5)
        ref = ReferenceSOAP((0.9, 0.99), 0.8, 1e-8, 0.05, 3, 5)
    else:
        lr = 1e-2
        kwargs = dict(max_precond_dim=5, precondition_frequency=2, normalize_grads=True)
        ref = ReferenceSOAP((0.95, 0.95), -1, 1e-8, 0.01, 2, 5, normalize_grads=True)
    opt = soap(lr, **kwargs)
    grad = jax.jit(jax.grad(_mlp_loss))

    @jax.jit
    def step(params, state, x, y):
        updates, state = opt.update(grad(params, x, y), state, params)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    ours, theirs = params, [np.asarray(p) for p in params]
    for count, (x, y) in enumerate(zip(data_x, data_y)):
        # The rate the schedule gives for an int32 update count, as optax's own optimizers use it.
        rate = float(lr(jnp.int32(count))) if callable(lr) else lr
        theirs = ref.step(theirs, [np.asarray(g) for g in grad(theirs, x, y)], rate)
        ours, state = step(ours, state, x, y)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10, err_msg=f"step {count}")
        if count == 0:
            assert all(np.array_equal(a, b) for a, b in zip(ours, params))  # the first step only sets up
    x, y = data_x.reshape(-1, 4), data_y.reshape(-1, 6)
    assert float(_mlp_loss(ours, x, y)) < float(_mlp_loss(params, x, y))


def test_soap_is_a_registered_optimizer_with_checked_arguments():
    assert OPTIMIZERS["soap"] is soap
    opt, lr = build_optimizer("soap", {"name": "cosine_decay_schedule", "init_value": 1e-3, "decay_steps": 10},
                              {"precondition_frequency": 5, "weight_decay": 0.0})
    assert callable(lr) and isinstance(opt, optax.GradientTransformation)
    for args, key in (({"b2": 1.0}, "b2"), ({"shampoo_beta": 1.5}, "args"), ({"precondition_frequency": 0}, "args"),
                      ({"eps": 0.0}, "eps"), ({"precondition_frequncy": 5}, "precondition_frequncy")):
        with pytest.raises(ConfigError, match=f"optimizer.args.{key}|optimizer.{key}"):
            build_optimizer("soap", 1e-3, args)


def _params(run_dir):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(pdejax.load_run(run_dir).model, eqx.is_array))]


def test_soap_trains_a_tiny_pinn_and_resumes_bitwise(tmp_path):
    # With causal R3 points, so that the resume restores SOAP's eigenbases and moments and
    # the sampler's population and gate position (imitating tests/reliability/test_resume.py).
    # The population is updated at steps 0 and 20 (the first step after the resume) only, so
    # that the logged loss is mostly over the same points.
    cfg = tiny_config(optimizer={"name": "soap", "learning_rate": 1e-2, "args": {"precondition_frequency": 5}},
                      objective={"sampler": {"name": "r3_causal", "every": 20, "beta": 1.0, "beta_lr": 0.05,
                                             "beta_clip": 1.0}},
                      train={"steps": 40, "steps_per_call": 10, "log_every": 10, "eval_every": 40,
                             "checkpoint_every": 20, "keep_checkpoints": 5})
    straight = tmp_path / "straight"
    run = pdejax.train(cfg, run_dir=straight)
    losses = [r["loss"] for r in run.history if "loss" in r]
    assert len(losses) == 4 and np.all(np.diff(losses) < 0) and losses[-1] < 0.6 * losses[0], losses
    assert np.isfinite(run.summary["rel_l2"])
    resumed = tmp_path / "resumed"
    shutil.copytree(straight, resumed)
    shutil.rmtree(resumed / "checkpoints" / "40")  # as if stopped after step 20
    again = pdejax.train(None, resume=resumed)
    assert again.summary["resumed_from"] == 20 and again.summary["steps"] == 40
    for a, b in zip(_params(straight), _params(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
