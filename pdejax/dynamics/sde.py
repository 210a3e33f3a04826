"""Neural stochastic differential equations, ``dy = μ(t, y) dt + σ(t, y) dW`` (Itô), and the
moment-matching objective they are trained with.

:class:`NeuralSDE` draws one sample path per PRNG key (``jax.vmap`` over keys gives an
ensemble); :func:`moment_matching_loss` compares an ensemble of model paths with an
ensemble of data paths through their per-time means, variances and lag autocovariances.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..config.errors import ConfigError
from ..models.registry import MODELS
from .base import DYNAMICS, AbstractDynamics, System
from .integrate import SDE_SOLVERS, Integrator

Noise = Literal["diagonal", "scalar", "additive"]
NOISES = ("diagonal", "scalar", "additive")
# Solvers whose tableau assumes σ independent of y (diffrax does not check it).
_ADDITIVE_ONLY = ("shark", "sra1")
_DEFAULT_NET = {"name": "mlp", "width": 32, "depth": 2}


class NeuralSDE(AbstractDynamics):
    """An Itô SDE ``dy = μ(t, y) dt + σ(t, y) dW`` with neural drift μ and diffusion σ.

    The state is integrated flattened (``n = prod(state_shape)`` components); both networks
    read ``[t, y_1 … y_n]`` and return ``n`` values (an ``additive`` diffusion reads ``[t]``
    only). The diffusion is made positive by softplus. Noise types:

    - ``diagonal``: ``n`` independent Brownian motions, ``dy_i = μ_i dt + σ_i(t, y) dW_i``;
    - ``scalar``: one Brownian motion shared by all components, ``dy = μ dt + σ(t, y) dW``;
    - ``additive``: diagonal with ``σ(t)`` independent of ``y`` (what ShARK and SRA1 assume).

    Both diagonal and scalar noise are commutative, so Milstein keeps strong order 1.
    Stratonovich solvers (``shark``, ``sra1``, ``spark``) integrate the Itô SDE through its
    Stratonovich drift ``μ − ½ (∂σ/∂y) σ`` (diagonal noise: ``μ_i − ½ σ_i ∂σ_i/∂y_i``, an
    ``n``-column forward Jacobian per drift evaluation — meant for small states).

    Args:
        drift: network ``R^{n+1} → R^n`` (input ``[t, y]``).
        diffusion: network ``R^{n+1} → R^n`` (``R^1 → R^n`` for additive noise); the
            diffusion is ``softplus`` of its output.
        integrator: the solver; an SDE solver (``euler``, ``milstein``, ``shark``, ``sra1``,
            ``spark``).
        state_shape: shape of one state.
        noise: ``diagonal``, ``scalar`` or ``additive``.

    The Brownian motion is the integrator's ``diffrax.VirtualBrownianTree`` (tolerance
    ``dt0 / 10``), drawn from the key given to :meth:`solve`.

    Example:
        >>> sde = DYNAMICS.build("neural_sde", {"dt0": 0.1, "drift": {"name": "mlp", "width": 8, "depth": 1},
        ...                      "diffusion": {"name": "mlp", "width": 8, "depth": 1}}, where="model",
        ...                      system=System(state_shape=(2,)), key=jax.random.key(0), dtype=None)
        >>> ensemble = eqx.filter_jit(jax.vmap(lambda m, k: m.solve(jnp.ones(2), jnp.linspace(0.0, 1.0, 5), key=k),
        ...                                     in_axes=(None, 0)))
        >>> ys, stats = ensemble(sde, jax.random.split(jax.random.key(1), 3))  # an ensemble of 3 paths
        >>> ys.shape, stats["nfe"].tolist()
        ((3, 5, 2), [10, 10, 10])
    """

    drift: Callable[[Array], Array]
    diffusion: Callable[[Array], Array]
    integrator: Integrator
    state_shape: tuple[int, ...] = eqx.field(static=True)
    noise: str = eqx.field(static=True)

    def __init__(self, drift: Callable[[Array], Array], diffusion: Callable[[Array], Array],
                 integrator: Integrator, state_shape: Sequence[int], noise: Noise = "diagonal"):
        if noise not in NOISES:
            raise ConfigError("noise", noise, f"one of {', '.join(NOISES)}")
        if integrator.kind != "sde" or integrator.solver not in SDE_SOLVERS:
            raise ConfigError("solver", integrator.solver,
                              "an SDE solver for a neural_sde (an Integrator of kind 'sde'): one of "
                              f"{', '.join(SDE_SOLVERS)} (ODE solvers integrate no Brownian motion)")
        if integrator.solver in _ADDITIVE_ONLY and noise != "additive":
            raise ConfigError("solver", integrator.solver,
                              f"a solver for {noise} noise: euler, milstein or spark ({integrator.solver} "
                              "assumes additive noise, σ independent of y: set noise: additive)")
        self.drift = drift
        self.diffusion = diffusion
        self.integrator = integrator
        self.state_shape = tuple(int(s) for s in state_shape)
        self.noise = noise

    @property
    def size(self) -> int:
        """``n``: the number of state components."""
        return math.prod(self.state_shape)

    def drift_value(self, t: Float[Array, ""], y: Float[Array, " n"]) -> Float[Array, " n"]:
        """``μ(t, y)`` of the flattened state ``y``."""
        return self.drift(jnp.concatenate([jnp.reshape(t, (1,)).astype(y.dtype), y]))

    def diffusion_value(self, t: Float[Array, ""], y: Float[Array, " n"]) -> Float[Array, " n"]:
        """``σ(t, y) > 0`` of the flattened state ``y`` (one value per component; for
        scalar noise the column multiplying the single Brownian increment)."""
        t = jnp.reshape(t, (1,)).astype(y.dtype)
        x = t if self.noise == "additive" else jnp.concatenate([t, y])
        return jax.nn.softplus(self.diffusion(x))

    def brownian_motion(self, ts: Float[Array, " times"], key: PRNGKeyArray) -> dfx.VirtualBrownianTree:
        """The Brownian motion :meth:`solve` draws with ``key`` on ``[ts[0], ts[-1]]`` (shape
        ``(n,)``, ``()`` for scalar noise; the integrator's tolerance ``dt0 / 10`` and the Lévy
        area its solver needs). ``bm.evaluate(ts[0], t)`` reads the ``W(t)`` a path was driven by."""
        ts = jnp.asarray(ts)
        return self.integrator.brownian_motion(ts[0], ts[-1], self._noise_shape, key=key, dtype=ts.dtype)

    @property
    def _noise_shape(self) -> tuple[int, ...]:
        return () if self.noise == "scalar" else (self.size,)

    @property
    def _stratonovich(self) -> bool:
        return isinstance(self.integrator.diffrax_solver(), dfx.AbstractStratonovichSolver)

    def _stratonovich_drift(self, t: Float[Array, ""], y: Float[Array, " n"]) -> Float[Array, " n"]:
        """``μ − ½ (∂σ/∂y) σ``: the drift of the Stratonovich SDE with the same solutions."""
        if self.noise == "additive":
            return self.drift_value(t, y)
        sigma, tangent = jax.jvp(lambda z: self.diffusion_value(t, z), (y,), (self.diffusion_value(t, y),))
        if self.noise == "scalar":
            correction = tangent  # (∂g/∂y) g with one Brownian motion
        else:  # σ_i ∂σ_i/∂y_i: the Jacobian's diagonal
            jac = jax.jacfwd(lambda z: self.diffusion_value(t, z))(y)
            correction = sigma * jnp.diagonal(jac)
        return self.drift_value(t, y) - 0.5 * correction

    def solve(self, y0: Float[Array, " *state"], ts: Float[Array, " times"], *,
              key: PRNGKeyArray | None = None) -> tuple[Float[Array, "times *state"], dict[str, Array]]:
        """One sample path at ``ts`` (``ys[0] = y0``) driven by the Brownian motion of ``key``,
        and ``stats`` with ``nfe`` (drift evaluations; each comes with one of σ).

        Args:
            y0: initial state, shape ``state_shape``.
            ts: increasing observation times, shape ``(times,)``.
            key: PRNG key of the Brownian motion (required); split it per path.
        """
        if key is None:
            raise ValueError("NeuralSDE.solve needs key=...: it drives the Brownian motion of the sample "
                             "path (jax.vmap over jax.random.split(key, n_paths) draws an ensemble)")
        if y0.shape != self.state_shape:
            raise ValueError(f"NeuralSDE.solve: y0 has shape {y0.shape}, expected state_shape {self.state_shape}")
        ts = jnp.asarray(ts, y0.dtype)
        drift = self._stratonovich_drift if self._stratonovich else self.drift_value
        sol = self.integrator.solve_sde(lambda t, y, args: drift(t, y),
                                        lambda t, y, args: self.diffusion_value(t, y), y0.reshape(-1), ts,
                                        key=key, noise_shape=() if self.noise == "scalar" else None)
        return sol.ys.reshape(ts.shape + self.state_shape), {"nfe": sol.stats["nfe"]}


@DYNAMICS.register("neural_sde")
def neural_sde(system: System, *, key: PRNGKeyArray, dtype=None, drift: dict[str, Any] | None = None,
               diffusion: dict[str, Any] | None = None, noise: Noise = "diagonal",
               solver: str = "euler", controller: str = "constant", dt0: float | None = None,
               rtol: float = 1e-3, atol: float = 1e-6, max_steps: int = 4096) -> NeuralSDE:
    """Neural SDE dy = μ(t, y) dt + σ(t, y) dW (Itô), fixed-step euler/milstein/shark/sra1/spark."""
    n = math.prod(system.state_shape)
    dt0 = dt0 if dt0 is not None else system.dt
    if dt0 is None:
        raise ConfigError("dt0", None, "a positive step for the fixed-step SDE solver (the observation "
                          "times are not uniform, so there is no default)")
    if noise not in NOISES:  # before the networks are built
        raise ConfigError("noise", noise, f"one of {', '.join(NOISES)}")
    integrator = Integrator(solver=solver, controller=controller, dt0=dt0, rtol=rtol, atol=atol,
                            max_steps=max_steps, kind="sde")
    k_drift, k_diffusion = jax.random.split(key)
    drift_net = _build_net(drift, "drift", in_size=n + 1, out_size=n, key=k_drift, dtype=dtype)
    diffusion_in = 1 if noise == "additive" else n + 1
    diffusion_net = _build_net(diffusion, "diffusion", in_size=diffusion_in, out_size=n, key=k_diffusion,
                               dtype=dtype)
    return NeuralSDE(drift_net, diffusion_net, integrator, system.state_shape, noise=noise)


def _build_net(cfg: Mapping[str, Any] | None, field: str, **provided: Any) -> Any:
    cfg = dict(_DEFAULT_NET if cfg is None else cfg)
    name = cfg.pop("name", None)
    if name is None:
        raise ConfigError(f"{field}.name", None, f"a registered model: {', '.join(MODELS.names())}")
    return MODELS.build(name, cfg, where=field, **provided)


def moment_matching_loss(model_paths: Float[Array, "paths times *state"],
                         data_paths: Float[Array, "data_paths times *state"],
                         lags: Sequence[int] = (1, 2, 4)) -> dict[str, Array]:
    """Distance between the second-order statistics of two path ensembles.

    Compares, at every time and for every state component, the ensemble means, the
    variances and the lag autocovariances ``Cov(y_t, y_{t+k})`` (``k`` in ``lags``; lags not
    shorter than the series are skipped). Each term is a mean squared difference
    normalised by the data's mean variance ``s`` (means by ``s``, second moments by
    ``s²``), so the terms are dimensionless and comparable; the objective sums them.
    Variances and covariances are unbiased (``n − 1``), so ensembles of different sizes
    compare fairly; every term vanishes for identical ensembles.

    Why this objective: a neural SDE has no tractable likelihood for its paths, but its
    sample paths are differentiable functions of the parameters given the Brownian
    motion, so any statistic of a simulated ensemble has an unbiased pathwise
    (reparameterisation) gradient through the solver. Matching moments is the method of
    moments on paths: for a Gaussian process such as Ornstein–Uhlenbeck the mean,
    variance and autocovariance functions determine the law completely, so the minimiser
    is the true process (``θ`` from the decay of mean and autocovariance, ``σ`` from the
    variance level); for a general diffusion the short-lag increments carry the drift
    (mean of ``y_{t+h} − y_t``) and the diffusion (their variance ``≈ σ² h``). Its limits:
    only second-order structure is constrained — skewness, heavy tails or multimodality
    of a nonlinear SDE are not (use a latent-SDE ELBO or a signature/MMD objective for
    those), and the estimate is noisy for small ensembles (its bias is ``O(1/paths)``).

    Args:
        model_paths: ``(paths, times, *state)`` simulated paths (differentiable).
        data_paths: ``(data_paths, times, *state)`` observed paths on the same times.
        lags: autocovariance lags in time steps.

    Returns:
        ``{"mean", "variance", "autocovariance"}``: non-negative scalars.

    Example:
        >>> data = jax.random.normal(jax.random.key(0), (64, 10, 2))
        >>> {k: float(v) for k, v in moment_matching_loss(data, data).items()}
        {'mean': 0.0, 'variance': 0.0, 'autocovariance': 0.0}
        >>> float(moment_matching_loss(2.0 * data, data)["variance"]) > 1.0
        True
    """
    if model_paths.shape[1:] != data_paths.shape[1:]:
        raise ValueError(f"moment_matching_loss: model paths {model_paths.shape} and data paths "
                         f"{data_paths.shape} differ in (times, *state)")
    if model_paths.shape[0] < 2 or data_paths.shape[0] < 2:
        raise ValueError("moment_matching_loss needs at least 2 paths in each ensemble")
    n_times = model_paths.shape[1]
    model = model_paths.reshape(model_paths.shape[:2] + (-1,))
    data = data_paths.reshape(data_paths.shape[:2] + (-1,))
    m_model, m_data = jnp.mean(model, 0), jnp.mean(data, 0)
    c_model, c_data = model - m_model, data - m_data
    v_model = jnp.sum(c_model**2, 0) / (model.shape[0] - 1)
    v_data = jnp.sum(c_data**2, 0) / (data.shape[0] - 1)
    scale = jax.lax.stop_gradient(jnp.mean(v_data)) + jnp.finfo(data.dtype).tiny

    def autocov(c: Array, k: int) -> Array:
        return jnp.sum(c[:, :-k] * c[:, k:], 0) / (c.shape[0] - 1)

    used = [k for k in lags if 0 < k < n_times]
    if used:
        autocovariance = jnp.mean(jnp.stack([jnp.mean((autocov(c_model, k) - autocov(c_data, k)) ** 2)
                                             for k in used])) / scale**2
    else:
        autocovariance = jnp.zeros((), data.dtype)
    return {"mean": jnp.mean((m_model - m_data) ** 2) / scale,
            "variance": jnp.mean((v_model - v_data) ** 2) / scale**2,
            "autocovariance": autocovariance}
