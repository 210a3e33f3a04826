"""Losses on trajectories for neural differential equations: trajectory matching (with
multiple shooting), moment matching for SDEs, the latent ODE's evidence lower bound.

Each model is a :class:`pdejax.dynamics.AbstractDynamics` (``solve(y0, ts, *, key) ->
(ys, stats)``). A batch holds observed trajectories ``{"ys": (B, W + 1, *state),
"start": ()}``: ``W + 1`` consecutive observations from index ``start`` of the
objective's times ``ts`` (a random window of a long trajectory), so the times stay
out of the batch and only the trajectories are sharded over the ``data`` axis.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .base import AbstractObjective, Losses

REGULARISERS = ("kinetic", "jacobian", "error_estimate")


def window_times(ts: Float[Array, " T"], start: Any, length: int) -> Float[Array, " length"]:
    """``ts[start : start + length]`` with a traced ``start``."""
    return jax.lax.dynamic_slice_in_dim(ts, start, length)


class TrajectoryMatching(AbstractObjective):
    """Fit a model's trajectories to observed ones at the observation times.

    The ``data`` term is the mean squared error over every predicted observation, divided
    by ``scale`` (the data's mean square: a relative error, whatever the units). With
    ``segments = S > 1`` the window of ``W`` intervals is split into ``S`` segments of
    ``W / S`` intervals, each integrated from the *observed* state at its start (multiple
    shooting with the shooting nodes pinned to the data): a long trajectory is then
    never integrated in one piece, so gradients stay bounded early in training, while
    the loss still asks every segment to land on the next observations. Set ``S = 1``
    once the model is good, to train on long rollouts.

    Regularisers listed in ``regularisers`` (``kinetic``, ``jacobian``,
    ``error_estimate``) are the model's solve statistics of the same names, averaged
    over the batch, each its own loss term (weighted by ``objective.weights``). The mean
    number of vector-field evaluations is logged as ``nfe``.

    Args:
        ts: ``(T,)`` the observation times of the training trajectories.
        window: ``W``, intervals per training window (``W + 1`` observations).
        segments: ``S``, shooting segments per window (``W % S == 0``).
        scale: the data's mean square.
        regularisers: the solve statistics added as loss terms.
    """

    ts: Float[Array, " T"]
    window: int = eqx.field(static=True)
    segments: int = eqx.field(static=True)
    scale: float = eqx.field(static=True)
    regularisers: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, ts, window: int, segments: int = 1, scale: float = 1.0, regularisers=()):
        if window < 1 or window >= len(ts):
            raise ValueError(f"window {window}: between 1 and {len(ts) - 1} intervals of the {len(ts)} times")
        if segments < 1 or window % segments:
            raise ValueError(f"segments {segments}: a divisor of the window's {window} intervals")
        unknown = sorted(set(regularisers) - set(REGULARISERS))
        if unknown:
            raise ValueError(f"regulariser {unknown[0]!r}; valid: {', '.join(REGULARISERS)}")
        self.ts, self.window, self.segments = jnp.asarray(ts), window, segments
        self.scale, self.regularisers = float(scale), tuple(regularisers)

    @property
    def loss_names(self) -> tuple[str, ...]:
        return ("data", *self.regularisers)

    def predict(self, model, ys: Float[Array, "B W1 *state"], ts: Float[Array, " W1"], key) -> tuple[Array, dict]:
        """``(predictions, stats)``: each trajectory's segments from their observed starts,
        predictions ``(B, W + 1, *state)`` (the segments' first states are the data's)."""
        n, per = ys.shape[0], self.window // self.segments
        keys = None if key is None else jax.random.split(key, n)
        if self.segments == 1:  # the times shared by the batch (unbatched in the solver's loop: faster)
            if keys is None:
                return jax.vmap(lambda y0: model.solve(y0, ts))(ys[:, 0])
            return jax.vmap(lambda y0, k: model.solve(y0, ts, key=k))(ys[:, 0], keys)
        seg_ts = jnp.stack([ts[k * per:(k + 1) * per + 1] for k in range(self.segments)])  # (S, per + 1)
        starts = ys[:, ::per][:, :self.segments]  # (B, S, *state)
        if keys is None:
            solve = lambda y0, t: model.solve(y0, t)  # noqa: E731
            paths, stats = jax.vmap(jax.vmap(solve, in_axes=(0, 0)), in_axes=(0, None))(starts, seg_ts)
        else:
            keys = jax.vmap(lambda k: jax.random.split(k, self.segments))(keys)  # (B, S)
            solve = lambda y0, t, k: model.solve(y0, t, key=k)  # noqa: E731
            paths, stats = jax.vmap(jax.vmap(solve, in_axes=(0, 0, 0)), in_axes=(0, None, 0))(starts, seg_ts, keys)
        # (B, S, per + 1, *state) → (B, W + 1, *state): each segment's end is the next one's start
        body = paths[:, :, :-1].reshape(n, self.window, *ys.shape[2:])
        pred = jnp.concatenate([body, paths[:, -1, -1:]], axis=1)
        return pred, jax.tree.map(lambda s: jnp.sum(s, axis=1), stats)  # per trajectory: summed over segments

    def loss(self, model, batch, key) -> tuple[Losses, dict[str, Array]]:
        ys = batch["ys"]
        ts = window_times(self.ts, batch["start"], self.window + 1)
        pred, stats = self.predict(model, ys, ts, key)
        losses = {"data": jnp.mean((pred - ys) ** 2) / self.scale}
        for name in self.regularisers:
            if name not in stats:
                raise ValueError(f"objective regulariser {name!r}: the model's solve does not report it "
                                 f"(it reports {sorted(stats)}); switch it on in the model section")
            losses[name] = jnp.mean(stats[name])
        aux = {"nfe": jax.lax.stop_gradient(jnp.mean(stats["nfe"].astype(ys.dtype)))} if "nfe" in stats else {}
        return losses, aux


class MomentMatching(AbstractObjective):
    """An SDE's ensemble statistics against the data's: ``batch_size`` model paths from the
    observed initial states (one Brownian motion each, from the step's key) and the batch's
    observed paths, compared by :func:`pdejax.dynamics.sde.moment_matching_loss`: terms
    ``mean``, ``variance`` and ``autocovariance`` (at ``lags`` observation intervals).

    Why this objective: the paths are differentiable in the parameters for a fixed
    Brownian motion, so ensemble statistics have unbiased pathwise gradients through the
    solver; for a Gaussian process (Ornstein–Uhlenbeck) the mean, variance and
    autocovariances determine the law, so the fit identifies drift and diffusion. It does
    not constrain higher moments (skewness, several modes), and the statistics of finite
    ensembles carry O(1/paths) bias; see the function's docstring.
    """

    ts: Float[Array, " T"]
    window: int = eqx.field(static=True)
    lags: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, ts, window: int, lags=(1, 2, 4)):
        self.ts, self.window, self.lags = jnp.asarray(ts), window, tuple(int(k) for k in lags)

    @property
    def loss_names(self) -> tuple[str, ...]:
        return ("mean", "variance", "autocovariance")

    def loss(self, model, batch, key) -> tuple[Losses, dict[str, Array]]:
        from ..dynamics.sde import moment_matching_loss

        ys = batch["ys"]
        ts = window_times(self.ts, batch["start"], self.window + 1)
        keys = jax.random.split(key, ys.shape[0])
        paths, stats = jax.vmap(lambda y0, k: model.solve(y0, ts, key=k))(ys[:, 0], keys)
        terms = moment_matching_loss(paths, ys, self.lags)
        aux = {"nfe": jax.lax.stop_gradient(jnp.mean(stats["nfe"].astype(ys.dtype)))} if "nfe" in stats else {}
        return {k: terms[k] for k in self.loss_names}, aux


class LatentELBO(AbstractObjective):
    """The negative evidence lower bound of a latent ODE on irregularly observed series: per
    series ``reconstruction`` (Gaussian negative log-likelihood of the observed entries,
    ``batch["mask"]``) and ``kl`` (``KL(q(z0) || N(0, I))`` times the model's ``kl_weight``),
    averaged over the batch, one posterior sample each (from the step's key)."""

    ts: Float[Array, " T"]
    window: int = eqx.field(static=True)

    def __init__(self, ts, window: int):
        self.ts, self.window = jnp.asarray(ts), window

    @property
    def loss_names(self) -> tuple[str, ...]:
        return ("reconstruction", "kl")

    def loss(self, model, batch, key) -> tuple[Losses, dict[str, Array]]:
        ys, mask = batch["ys"], batch["mask"]
        ts = window_times(self.ts, batch["start"], self.window + 1)
        keys = jax.random.split(key, ys.shape[0])
        terms = jax.vmap(lambda y, m, k: model.elbo(ts, y, m, key=k))(ys, mask, keys)
        return {"reconstruction": jnp.mean(terms["reconstruction"]),
                "kl": getattr(model, "kl_weight", 1.0) * jnp.mean(terms["kl"])}, {}
