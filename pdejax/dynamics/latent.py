"""Latent ODEs for irregularly sampled time series (Chen et al. 2018; Rubanova et al. 2019).

A GRU runs backwards in time over the observations ``(t_i, y_i)`` (missing entries
masked) and produces ``q(z0) = N(mean, diag(exp(logvar)))``; a latent ODE
``dz/dt = f(z)`` carries ``z0`` to any time; a decoder maps ``z(t)`` to observation space.
Trained by the evidence lower bound (:meth:`LatentODE.elbo`).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ..config.errors import ConfigError
from .base import DYNAMICS, AbstractDynamics, System
from .integrate import Integrator
from .sde import _build_net

_LOG_2PI = math.log(2.0 * math.pi)


class LatentODE(AbstractDynamics):
    """Latent ODE with a GRU encoder run backwards over irregular, masked observations.

    One series is ``ts`` ``(times,)`` (non-decreasing; pad a short series by repeating its
    last time with an all-false mask row), ``ys`` ``(times, obs)`` and ``mask``
    ``(times, obs)`` (true: observed). ``z0`` lives at the series' first time ``ts[0]``.

    Encoder: at every time, from the last to the first, the GRU reads
    ``[y_i where observed else 0, mask_i, t_{i+1} − t_i]``; a time with no observed entry
    leaves the hidden state unchanged, so padding and missing values never reach the
    posterior (their gradient is exactly zero). A linear layer maps the final hidden state
    to the mean and log-variance of ``z0``.

    :meth:`solve` follows :class:`AbstractDynamics` for a fully observed initial state:
    it encodes ``y0`` alone at ``ts[0]`` and decodes the latent trajectory at ``ts``, so
    ``ys[0]`` is the model's reconstruction of ``y0``, not ``y0`` itself. Use
    :meth:`predict` to condition on a whole irregular series and :meth:`elbo` to train.

    Args:
        encoder: ``eqx.nn.GRUCell`` with input size ``2 * obs + 1``.
        to_posterior: linear map hidden → ``2 * latent`` (mean, log-variance).
        vector_field: network ``R^latent → R^latent`` (autonomous latent dynamics).
        decoder: network ``R^latent → R^obs``.
        integrator: an ODE solver for the latent trajectory.
        obs_std: the fixed standard deviation of the Gaussian observation model.
        kl_weight: weight of the KL term in the training objective
            (``reconstruction + kl_weight · kl``; 1 is the ELBO).

    Example:
        >>> model = DYNAMICS.build("latent_ode", {"latent_size": 2, "hidden_size": 8, "solver": "midpoint",
        ...                        "controller": "constant", "dt0": 0.5,
        ...                        "vector_field": {"name": "mlp", "width": 8, "depth": 1},
        ...                        "decoder": {"name": "mlp", "width": 8, "depth": 1}}, where="model",
        ...                        system=System(state_shape=(3,)), key=jax.random.key(0), dtype=None)
        >>> ts = jnp.array([0.0, 0.3, 1.1, 2.0])
        >>> ys, mask = jnp.ones((4, 3)), jnp.array([[1, 1, 0]] * 4, bool)
        >>> @eqx.filter_jit
        ... def predict_and_elbo(model, key):
        ...     return (model.predict(ts, ys, mask, jnp.linspace(0.0, 3.0, 7)),
        ...             model.elbo(ts, ys, mask, key=key))
        >>> predicted, terms = predict_and_elbo(model, jax.random.key(1))
        >>> predicted.shape, sorted(terms)
        ((7, 3), ['kl', 'reconstruction'])
    """

    encoder: eqx.nn.GRUCell
    to_posterior: eqx.nn.Linear
    vector_field: Any
    decoder: Any
    integrator: Integrator
    obs_std: float = eqx.field(static=True)
    kl_weight: float = eqx.field(static=True)

    def __init__(self, encoder: eqx.nn.GRUCell, to_posterior: eqx.nn.Linear, vector_field: Any, decoder: Any,
                 integrator: Integrator, obs_std: float = 0.1, kl_weight: float = 1.0):
        if not obs_std > 0:
            raise ConfigError("obs_std", obs_std, "a positive number (the observation noise std)")
        if not kl_weight >= 0:
            raise ConfigError("kl_weight", kl_weight, "a non-negative number")
        self.encoder = encoder
        self.to_posterior = to_posterior
        self.vector_field = vector_field
        self.decoder = decoder
        self.integrator = integrator
        self.obs_std = float(obs_std)
        self.kl_weight = float(kl_weight)

    @property
    def latent_size(self) -> int:
        return self.to_posterior.out_features // 2

    def encode(self, ts: Float[Array, " times"], ys: Float[Array, "times obs"],
               mask: Bool[Array, "times obs"]) -> tuple[Float[Array, " latent"], Float[Array, " latent"]]:
        """``(mean, logvar)`` of ``q(z0 | series)``, ``z0`` at ``ts[0]``."""
        mask = jnp.asarray(mask, bool)
        values = jnp.where(mask, ys, 0)  # where, not multiply: a NaN in a missing entry stays out
        gaps = jnp.append(ts[1:] - ts[:-1], 0.0).astype(values.dtype)
        inputs = jnp.concatenate([values, mask.astype(values.dtype), gaps[:, None]], axis=1)
        observed = jnp.any(mask, axis=1)

        def step(h, x):
            inp, seen = x
            return jnp.where(seen, self.encoder(inp, h), h), None

        h0 = jnp.zeros((self.encoder.hidden_size,), values.dtype)
        h, _ = jax.lax.scan(step, h0, (inputs, observed), reverse=True)
        mean, logvar = jnp.split(self.to_posterior(h), 2)
        return mean, logvar

    def latent_trajectory(self, z0: Float[Array, " latent"], t0: Float[Array, ""],
                          ts: Float[Array, " times"]) -> tuple[Float[Array, "times latent"], dict[str, Array]]:
        """``z`` at ``ts`` (non-decreasing, ``>= t0``) from ``z(t0) = z0``, and the solve's stats."""
        # The solve starts at its first time: t0 goes first, its state is dropped.
        ts = jnp.concatenate([jnp.reshape(t0, (1,)), jnp.ravel(ts)]).astype(z0.dtype)
        sol = self.integrator.solve_ode(lambda t, z, args: self.vector_field(z), z0, ts)
        return sol.ys[1:], sol.stats

    def predict(self, ts_obs: Float[Array, " times"], ys_obs: Float[Array, "times obs"],
                mask: Bool[Array, "times obs"], ts_out: Float[Array, " out_times"], *,
                key: PRNGKeyArray | None = None) -> Float[Array, "out_times obs"]:
        """Decoded prediction at ``ts_out`` (``>= ts_obs[0]``) given a series: from the
        posterior mean of ``z0`` (``key=None``) or from one posterior sample."""
        mean, logvar = self.encode(ts_obs, ys_obs, mask)
        z0 = mean if key is None else _sample(mean, logvar, key)
        zs, _ = self.latent_trajectory(z0, ts_obs[0], ts_out)
        return jax.vmap(self.decoder)(zs)

    def elbo(self, ts: Float[Array, " times"], ys: Float[Array, "times obs"], mask: Bool[Array, "times obs"],
             *, key: PRNGKeyArray) -> dict[str, Array]:
        """The two terms of the negative ELBO of one series (one posterior sample of ``z0``).

        Returns:
            ``reconstruction``: Gaussian negative log-likelihood (std ``obs_std``) summed
            over the observed entries; ``kl``: ``KL(q(z0) || N(0, I))`` in closed form.
            The training objective is ``reconstruction + kl_weight · kl``.
        """
        mask = jnp.asarray(mask, bool)
        mean, logvar = self.encode(ts, ys, mask)
        zs, _ = self.latent_trajectory(_sample(mean, logvar, key), ts[0], ts)
        return {"reconstruction": gaussian_nll(ys, jax.vmap(self.decoder)(zs), mask, self.obs_std),
                "kl": kl_standard_normal(mean, logvar)}

    def solve(self, y0: Float[Array, " obs"], ts: Float[Array, " times"], *,
              key: PRNGKeyArray | None = None) -> tuple[Float[Array, "times obs"], dict[str, Array]]:
        """Encode the single observation ``y0`` at ``ts[0]``, decode the latent trajectory at
        ``ts`` (posterior mean of ``z0``, or a sample with ``key``); ``ys[0]`` reconstructs
        ``y0``. Stats are the latent ODE solve's."""
        ts = jnp.asarray(ts, y0.dtype)
        mean, logvar = self.encode(ts[:1], y0[None], jnp.ones((1,) + y0.shape, bool))
        z0 = mean if key is None else _sample(mean, logvar, key)
        zs, stats = self.latent_trajectory(z0, ts[0], ts)
        return jax.vmap(self.decoder)(zs), stats


def _sample(mean: Array, logvar: Array, key: PRNGKeyArray) -> Array:
    return mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape, mean.dtype)


def kl_standard_normal(mean: Float[Array, " latent"], logvar: Float[Array, " latent"]) -> Float[Array, ""]:
    """``KL(N(mean, diag(exp(logvar))) || N(0, I)) = ½ Σ (exp(logvar) + mean² − 1 − logvar)``.

    Example:
        >>> float(kl_standard_normal(jnp.zeros(3), jnp.zeros(3)))
        0.0
    """
    return 0.5 * jnp.sum(jnp.exp(logvar) + mean**2 - 1.0 - logvar)


def gaussian_nll(ys: Float[Array, "times obs"], predicted: Float[Array, "times obs"],
                 mask: Bool[Array, "times obs"], std: float) -> Float[Array, ""]:
    """``−log N(ys | predicted, std²)`` summed over the entries where ``mask`` is true; the
    others (possibly NaN) contribute nothing, not even gradient.

    Example:
        >>> round(float(gaussian_nll(jnp.ones(2), jnp.ones(2), jnp.array([True, False]), 1.0)), 4)
        0.9189
    """
    z = jnp.where(mask, (ys - predicted) / std, 0.0)
    per_entry = 0.5 * z**2 + math.log(std) + 0.5 * _LOG_2PI
    return jnp.sum(jnp.where(mask, per_entry, 0.0))


@DYNAMICS.register("latent_ode")
def latent_ode(system: System, *, key: PRNGKeyArray, dtype=None, latent_size: int = 4, hidden_size: int = 32,
               vector_field: dict[str, Any] | None = None, decoder: dict[str, Any] | None = None,
               obs_std: float = 0.1, kl_weight: float = 1.0, solver: str = "tsit5", controller: str = "pid",
               dt0: float | None = None, rtol: float = 1e-3, atol: float = 1e-6, max_steps: int = 4096,
               adjoint: str = "recursive_checkpoint") -> LatentODE:
    """Latent ODE (Chen et al. 2018): GRU encoder backwards over masked irregular series, ODE in latent space."""
    if len(system.state_shape) != 1:
        raise ConfigError("system.state_shape", system.state_shape,
                          "a vector observation (obs,) for a latent_ode (flatten grid states first)")
    if latent_size < 1 or hidden_size < 1:
        raise ConfigError("latent_size" if latent_size < 1 else "hidden_size",
                          latent_size if latent_size < 1 else hidden_size, "a positive integer")
    (obs,) = system.state_shape
    k_enc, k_post, k_f, k_dec = jax.random.split(key, 4)
    encoder = eqx.nn.GRUCell(2 * obs + 1, hidden_size, key=k_enc, dtype=dtype)
    to_posterior = eqx.nn.Linear(hidden_size, 2 * latent_size, key=k_post, dtype=dtype)
    f = _build_net(vector_field, "vector_field", in_size=latent_size, out_size=latent_size, key=k_f, dtype=dtype)
    g = _build_net(decoder, "decoder", in_size=latent_size, out_size=obs, key=k_dec, dtype=dtype)
    integrator = Integrator(solver=solver, controller=controller, dt0=dt0, rtol=rtol, atol=atol,
                            max_steps=max_steps, adjoint=adjoint)
    return LatentODE(encoder, to_posterior, f, g, integrator, obs_std=obs_std, kl_weight=kl_weight)
