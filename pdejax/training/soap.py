"""SOAP: Adam in the eigenbasis of Shampoo's preconditioner (Vyas et al., 2024), for optax.

For a parameter with gradient ``G`` (an ``m × n`` matrix, say), SOAP keeps Shampoo's
Kronecker factors ``L ← β_s L + (1 - β_s) G Gᵀ`` and ``R ← β_s R + (1 - β_s) Gᵀ G``
and their eigenbases ``Q_L``, ``Q_R``, and runs Adam on the rotated gradient
``G' = Q_Lᵀ G Q_R``; the Adam direction ``M' / (√V' + ε)`` is rotated back,
``Q_L (·) Q_Rᵀ``. The eigenbases are refreshed every ``precondition_frequency`` steps
by one power iteration and a QR decomposition (``Q ← qr(L Q)``, columns sorted by
estimated eigenvalue, the second moment permuted alike). Tensors of any rank get one
factor per axis; an axis longer than ``max_precond_dim`` (and a 1-D parameter, unless
``precondition_1d``) is left unrotated, so a vector or a huge embedding gets plain Adam.

This follows the authors' reference implementation (github.com/nikhilvyas/SOAP,
``soap.py``) step for step: the first update only initialises the factors and their
eigenbases (``eigh``) and leaves the parameters unchanged; Adam's first moment is kept
in the rotated basis and carried over to each new basis; bias correction as Adam's;
decoupled weight decay ``p ← p - lr · wd · p`` applied after the step. Not included:
the reference's ``merge_dims`` and ``data_format`` options (ranks above 2 are
preconditioned axis by axis). Complex parameters get plain Adam on ``|g|²``.

>>> import jax, jax.numpy as jnp
>>> opt = soap(1e-2, precondition_frequency=2)
>>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
>>> state = opt.init(params)
>>> [None if q is None else q.shape for q in state.bases[1]]     # w's axes; b is a vector: Adam
[(3, 3), (2, 2)]
>>> update = jax.jit(opt.update)
>>> grads = {"w": jnp.arange(6.0).reshape(3, 2), "b": jnp.ones(2)}
>>> updates, state = update(grads, state, params)     # the first step only sets up the bases
>>> float(jnp.abs(updates["w"]).max())
0.0
>>> updates, state = update(grads, state, params)
>>> updates["w"].shape
(3, 2)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Int

Factors = tuple[Array | None, ...]  # one (d, d) matrix per axis, None where not preconditioned


class SoapState(NamedTuple):
    """SOAP's state; per parameter leaf (lists in ``jax.tree.leaves`` order): Adam's moments
    in the rotated basis, Shampoo's factors per axis and their eigenbases."""

    count: Int[Array, ""]
    exp_avg: list[Array]
    exp_avg_sq: list[Array]
    factors: list[Factors]
    bases: list[Factors]


def _preconditioned_axes(x: Any, max_precond_dim: int, precondition_1d: bool) -> tuple[bool, ...]:
    if jnp.iscomplexobj(x) or (x.ndim == 1 and not precondition_1d):
        return (False,) * x.ndim
    return tuple(d <= max_precond_dim for d in x.shape)


def _project(x: Array, bases: Factors) -> Array:
    """``x`` in the eigenbases: ``x ×_i Q_iᵀ`` along every preconditioned axis ``i``."""
    for i, q in enumerate(bases):
        if q is not None:
            x = jnp.moveaxis(jnp.tensordot(x, q, axes=([i], [0])), -1, i)
    return x


def _project_back(x: Array, bases: Factors) -> Array:
    """Back from the eigenbases: ``x ×_i Q_i`` along every preconditioned axis ``i``."""
    for i, q in enumerate(bases):
        if q is not None:
            x = jnp.moveaxis(jnp.tensordot(x, q, axes=([i], [1])), -1, i)
    return x


def _update_factors(g: Array, factors: Factors, shampoo_beta: float) -> Factors:
    out = []
    for i, f in enumerate(factors):
        if f is None:
            out.append(None)
            continue
        others = [a for a in range(g.ndim) if a != i]
        outer = jnp.tensordot(g, g, axes=(others, others))  # G_(i) G_(i)ᵀ
        out.append(shampoo_beta * f + (1 - shampoo_beta) * outer)
    return tuple(out)


def _eigenbases(factors: Factors) -> Factors:
    """Eigenvectors, by decreasing eigenvalue, of every factor (the first step's bases)."""
    return tuple(None if f is None else jnp.linalg.eigh(f)[1][:, ::-1] for f in factors)


def _refresh(factors: Factors, bases: Factors, exp_avg_sq: Array) -> tuple[Factors, Array]:
    """One power iteration and QR per factor, columns sorted by the estimated eigenvalues
    ``diag(Qᵀ F Q)``; the second moment's axes are permuted to the new column order."""
    new = []
    for i, (f, q) in enumerate(zip(factors, bases)):
        if f is None:
            new.append(None)
            continue
        order = jnp.argsort(-jnp.einsum("ij,ik,kj->j", q, f, q))
        exp_avg_sq = jnp.take(exp_avg_sq, order, axis=i)
        new.append(jnp.linalg.qr(f @ q[:, order])[0])
    return tuple(new), exp_avg_sq


def soap(learning_rate: optax.ScalarOrSchedule, b1: float = 0.95, b2: float = 0.95,
         shampoo_beta: float | None = None, eps: float = 1e-8, weight_decay: float = 0.01,
         precondition_frequency: int = 10, max_precond_dim: int = 10000, precondition_1d: bool = False,
         normalize_grads: bool = False) -> optax.GradientTransformation:
    """SOAP (ShampoO with Adam in the Preconditioner's eigenbasis), as an optax transformation.

    Args:
        learning_rate: a number or an optax schedule (of the number of updates so far).
        b1, b2: Adam's decay rates, in the rotated basis (the reference's defaults: 0.95).
        shampoo_beta: decay of Shampoo's factors ``L``, ``R`` (default: ``b2``).
        eps: added to Adam's ``√V'``.
        weight_decay: decoupled weight decay, ``p ← p (1 - lr · weight_decay)`` after each
            step (the reference's default 0.01); needs ``params`` in ``update``.
        precondition_frequency: refresh the eigenbases every so many steps.
        max_precond_dim: axes longer than this are not rotated (their factor would be too big).
        precondition_1d: also rotate 1-D parameters (a full ``d × d`` factor), off by default.
        normalize_grads: scale each parameter's update to unit root-mean-square.

    Returns:
        An ``optax.GradientTransformation`` whose state is a :class:`SoapState`.
    """
    shampoo_beta = b2 if shampoo_beta is None else shampoo_beta
    for name, value in (("b1", b1), ("b2", b2), ("shampoo_beta", shampoo_beta)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} = {value}: expected a decay rate in [0, 1)")
    if precondition_frequency < 1 or max_precond_dim < 1:
        raise ValueError(f"precondition_frequency = {precondition_frequency}, max_precond_dim = "
                         f"{max_precond_dim}: expected positive integers")

    def init(params) -> SoapState:
        leaves = jax.tree.leaves(params)
        factors = []
        for p in leaves:
            axes = _preconditioned_axes(p, max_precond_dim, precondition_1d)
            factors.append(tuple(jnp.zeros((d, d), p.dtype) if use else None for d, use in zip(p.shape, axes)))
        bases = [tuple(None if f is None else jnp.eye(f.shape[0], dtype=f.dtype) for f in fs) for fs in factors]
        return SoapState(jnp.zeros((), jnp.int32), [jnp.zeros_like(p) for p in leaves],
                         [jnp.zeros(p.shape, jnp.real(p).dtype) for p in leaves], factors, bases)

    def first(grads, state: SoapState):
        """Factors from the first gradient and their eigenbases; no step."""
        factors = [_update_factors(g, f, shampoo_beta) for g, f in zip(grads, state.factors)]
        return [jnp.zeros_like(g) for g in grads], state._replace(
            count=state.count + 1, factors=factors, bases=[_eigenbases(f) for f in factors])

    def later(grads, state: SoapState, params, lr):
        t = state.count  # steps taken so far, counting this one (the first call took none)
        refresh = t % precondition_frequency == 0
        updates, exp_avg, exp_avg_sq, factors, bases = [], [], [], [], []
        for i, g in enumerate(grads):
            q = state.bases[i]
            g_rot = _project(g, q)
            m = b1 * state.exp_avg[i] + (1 - b1) * g_rot
            v = b2 * state.exp_avg_sq[i] + (1 - b2) * jnp.real(g_rot * jnp.conj(g_rot))
            tf = t.astype(v.dtype)
            step_size = lr * jnp.sqrt(1 - b2**tf) / (1 - b1**tf)
            direction = _project_back(m / (jnp.sqrt(v) + eps), q)
            if normalize_grads:
                direction = direction / (1e-30 + jnp.sqrt(jnp.mean(jnp.abs(direction) ** 2)))
            u = -step_size * direction
            if weight_decay:
                u = u - lr * weight_decay * (params[i] + u)
            f = _update_factors(g, state.factors[i], shampoo_beta)

            def new_basis(m, v, f=f, q=q):  # carry Adam's moments over to the refreshed basis
                q_new, v = _refresh(f, q, v)
                return _project(_project_back(m, q), q_new), v, q_new

            m, v, q = jax.lax.cond(refresh, new_basis, lambda m, v, q=q: (m, v, q), m, v)
            updates.append(u.astype(g.dtype))
            exp_avg.append(m)
            exp_avg_sq.append(v)
            factors.append(f)
            bases.append(q)
        return updates, SoapState(t + 1, exp_avg, exp_avg_sq, factors, bases)

    def update(updates, state: SoapState, params=None):
        if weight_decay and params is None:
            raise ValueError("soap with weight_decay needs params in update()")
        grads, treedef = jax.tree.flatten(updates)
        params_leaves = jax.tree.leaves(params) if params is not None else [None] * len(grads)
        lr = learning_rate(state.count) if callable(learning_rate) else learning_rate
        out, state = jax.lax.cond(state.count == 0, lambda s: first(grads, s),
                                  lambda s: later(grads, s, params_leaves, lr), state)
        return jax.tree.unflatten(treedef, out), state

    return optax.GradientTransformation(init, update)
