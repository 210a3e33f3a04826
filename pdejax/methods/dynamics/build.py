"""Config → neural-DE experiment: trajectories of a system, a dynamics model, its objective.

Everything here runs before compilation and turns bad input into a ConfigError naming
the key: observation times that do not fit the horizons, a window that does not split
into its segments, a model that cannot take the system's states.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...config.errors import ConfigError
from ...config.registry import suggest
from ...config.schema import ExperimentConfig
from ...data.systems import SYSTEMS, Trajectories
from ...dynamics import DYNAMICS, System
from ...objectives.trajectory import LatentELBO, MomentMatching, TrajectoryMatching
from ...pde import PDES
from ..family import Context, Method, register_family
from .batches import TrajectoryWindows
from .evaluation import LatentEvaluator, SDEEvaluator, TrajectoryEvaluator
from .schema import DynamicsConfig

NOISE_SEED_OFFSET = 0x4E01  # observation noise: independent of the data's draws
MASK_SEED_OFFSET = 0x3A5C  # irregular sampling (latent ODEs): independent of both


def _count(key: str, span: float, dt: float) -> int:
    n = round(span / dt)
    if n < 1 or abs(n * dt - span) > 1e-9 * max(1.0, span):
        raise ConfigError(key, span, f"a multiple of objective.dt_obs = {dt} (got {span / dt:g} intervals)")
    return n


def observation_times(obj: DynamicsConfig, t0: float) -> tuple[np.ndarray, int]:
    """``(ts, k_train)``: the observation times up to the evaluation horizon and the index
    of the last training time."""
    k_train = _count("objective.t_train", obj.t_train, obj.dt_obs)
    k_all = _count("objective.t_test", obj.horizon, obj.dt_obs)
    return t0 + obj.dt_obs * np.arange(k_all + 1), k_train


def make_trajectories(obj: DynamicsConfig, ctx: Context, ts: np.ndarray) -> Trajectories:
    """The training and test trajectories (``n_train + n_test`` of them) of ``objective.data``."""
    where = "objective.data"
    if obj.data.system not in SYSTEMS:
        raise ConfigError(f"{where}.system", obj.data.system,
                          f"a registered trajectory system: {suggest(obj.data.system, SYSTEMS.names())}")
    try:
        return SYSTEMS.build(obj.data.system, obj.data.args, where=where, n=obj.n_train + obj.n_test, ts=ts,
                             key=jax.random.PRNGKey(obj.data_seed), pde=ctx.pde)
    except ConfigError as err:
        key = err.key if err.key.startswith(where) else f"{where}.{err.key}"
        key = "pde" if key == f"{where}.pde" else key  # the system needs the pde section
        raise ConfigError(key, err.value, err.valid) from None


def known_pde(obj: DynamicsConfig, ctx: Context):
    """The PDE whose terms a hybrid model knows: ``objective.known_pde``, else the ``pde`` section."""
    if obj.known_pde is None:
        return ctx.pde
    spec = dict(obj.known_pde)
    pde = PDES.build(spec.pop("name"), spec, where="objective.known_pde")
    if ctx.pde is not None and (pde.domain.lower, pde.domain.upper) != (ctx.pde.domain.lower, ctx.pde.domain.upper):
        raise ConfigError("objective.known_pde", obj.known_pde,
                          f"a PDE on the data's domain {ctx.pde.domain.lower}..{ctx.pde.domain.upper}; "
                          f"{pde.name!r} lives on {pde.domain.lower}..{pde.domain.upper}")
    return pde


def loss_kind(obj: DynamicsConfig, model: Any) -> str:
    if obj.loss != "auto":
        return obj.loss
    return {"NeuralSDE": "moments", "LatentODE": "elbo"}.get(type(model).__name__, "trajectory")


@register_family("dynamics", DynamicsConfig)
def build_dynamics(cfg: ExperimentConfig, ctx: Context) -> Method:
    """Neural ODE / SDE / latent ODE / hybrid PDE on trajectories of ``objective.data``."""
    obj: DynamicsConfig = cfg.objective
    if cfg.lbfgs.steps:
        raise ConfigError("lbfgs.steps", cfg.lbfgs.steps, "0: the dynamics family trains with optax optimizers")
    ctx.divisible("objective.batch_size", obj.batch_size)
    if obj.batch_size > obj.n_train:
        raise ConfigError("objective.batch_size", obj.batch_size, f"at most objective.n_train = {obj.n_train}")
    t0 = ctx.pde.domain.time[0] if ctx.pde is not None and ctx.pde.domain.time is not None else 0.0
    ts, k_train = observation_times(obj, t0)
    window = obj.window or k_train
    if window > k_train:
        raise ConfigError("objective.window", window, f"at most the {k_train} intervals of the training horizon")
    if window % obj.segments:
        raise ConfigError("objective.segments", obj.segments, f"a divisor of the window's {window} intervals")
    data = make_trajectories(obj, ctx, ts)
    train, test = data.ys[:obj.n_train, :k_train + 1], data.ys[obj.n_train:]
    if obj.noise > 0:
        noise = jax.random.normal(jax.random.PRNGKey(obj.data_seed + NOISE_SEED_OFFSET), train.shape, jnp.float32)
        train = train + obj.noise * float(np.std(train)) * np.asarray(noise, np.float64)

    system = System(data.state_shape, known_pde(obj, ctx), data.grid, obj.dt_obs)
    try:
        model = DYNAMICS.build(cfg.model.name, cfg.model.args, where="model", system=system, key=ctx.model_key,
                               dtype=jnp.dtype(ctx.dtype))
    except ValueError as err:  # a setting the model refuses once it sees the system
        raise ConfigError("model", cfg.model.name, f"settings the model accepts: {err}") from None
    kind = loss_kind(obj, model)
    needs = {"moments": "solve(y0, ts, key=...) of an SDE (neural_sde)", "elbo": "elbo(ts, ys, mask, key=...)"}
    if kind == "moments" and not hasattr(model, "drift_value") or kind == "elbo" and not hasattr(model, "elbo"):
        raise ConfigError("objective.loss", kind, f"a loss the model supports: {kind} needs {needs[kind]}; "
                          f"model {cfg.model.name!r} trains with loss: trajectory")
    if kind != "trajectory" and (obj.regularisers or obj.segments > 1):
        key = "objective.regularisers" if obj.regularisers else "objective.segments"
        raise ConfigError(key, getattr(obj, key.split(".")[1]), f"the default (regularisers and shooting "
                          f"segments belong to loss: trajectory, not {kind})")
    times = jnp.asarray(ts[:k_train + 1], ctx.dtype)
    batch_ys = jnp.asarray(train, ctx.dtype)
    eval_batch = cfg.evaluation.batch_size or 64
    if kind == "moments":
        objective = MomentMatching(times, window, obj.lags)
        source = TrajectoryWindows(batch_ys, obj.batch_size, window)
        evaluator = SDEEvaluator(ts, test, k_train, ctx.dtype, data.truth, seed=obj.data_seed)
    elif kind == "elbo":
        mask = observation_mask(obj, data.ys.shape)
        objective = LatentELBO(times, window)
        source = TrajectoryWindows(batch_ys, obj.batch_size, window, mask=jnp.asarray(mask[:obj.n_train, :k_train + 1]))
        evaluator = LatentEvaluator(ts, test, k_train, eval_batch, ctx.dtype, mask=mask[obj.n_train:])
    else:
        objective = TrajectoryMatching(times, window, obj.segments, scale=float(np.mean(train**2)),
                                       regularisers=tuple(obj.regularisers))
        source = TrajectoryWindows(batch_ys, obj.batch_size, window)
        evaluator = TrajectoryEvaluator(ts, test, k_train, eval_batch, ctx.dtype,
                                        fine=None if data.fine is None else data.fine[obj.n_train:],
                                        fine_grid=data.fine_grid, data_pde=ctx.pde if data.grid is not None else None,
                                        grid=data.grid)
    return Method(model, objective, source, evaluator)


def observation_mask(obj: DynamicsConfig, shape: tuple[int, ...]) -> np.ndarray:
    """Irregular sampling: each series keeps a random ``observed_fraction`` of its times after
    the first (every component of a kept time), seeded by ``data_seed``; ``(n, T, *state)``."""
    key = jax.random.PRNGKey(obj.data_seed + MASK_SEED_OFFSET)
    kept = np.array(jax.random.uniform(key, shape[:2]) < obj.observed_fraction)
    kept[:, 0] = True
    return np.broadcast_to(kept.reshape(shape[:2] + (1,) * (len(shape) - 2)), shape).copy()

