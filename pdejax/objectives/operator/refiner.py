"""PDE-Refiner (Lippe et al., NeurIPS 2023): a one-step prediction refined by K denoising steps.

The network gets the window of previous frames, a current estimate ``ũ`` of the next
frame and the refinement step ``k = 0..K``:

- ``k = 0``: ``ũ = 0``; the network predicts the next frame ``û₀`` (the plain one-step model).
- ``k = 1..K``: noise level ``σ_k = min_noise^(k/K)`` (exponentially decreasing from 1);
  ``ũ_k = û_{k−1} + σ_k ε`` with ``ε ~ N(0, I)``; the network predicts ``ε̂`` and
  ``û_k = ũ_k − σ_k ε̂``.

Training draws ``k`` uniformly from ``{0..K}`` per sample and, for ``k > 0``, builds the
noisy estimate from the *true* next frame. The loss is the mean square error on the next
frame (``k = 0``) or on the noise (``k > 0``): both targets have unit variance in
normalised units, so every step weighs alike, and predicting ``ε`` weighs an error of
``û_k`` by ``1/σ_k²`` — low-amplitude (high-frequency) components that one MSE step
neglects count at the small noise levels. (pdearena's code uses a DDPM scheduler with
v-prediction instead, whose targets are of the same scale at every step.) Noise lives in
normalised units, so ``min_noise`` is relative to each field's standard deviation; the
loss is reported in physical units (the error times the field's std), so the ``k = 0``
term is exactly the plain one-step MSE objective.

A noise level below the network's one-step error ``e`` cannot be learnt: the best noise
estimate then has a mean square error ``e²/(σ²+e²)`` (close to 1, nothing learnt) and a
refined step keeps about that fraction of the noise it injected. The paper's ``min_noise``
(2e-7 on KS) assumes models trained to a far smaller error than a short CPU run reaches;
``scripts/bench/refiner_ks.py`` measures the loss per step ``k`` to show where that is.

How the step ``k`` reaches the network. pdearena adds a sinusoidal embedding of ``k``
to the U-Net's time embedding in every block; to wrap *any* registered operator without
touching it, :class:`RefinerNet` instead feeds ``k`` as ``K + 1`` constant one-hot input
channels next to the window and the estimate. The one-hot is a learned per-step
embedding entering at the input layer (an FNO's lifting, a U-Net's first convolution),
with no scale to choose; a single channel ``k/K`` would make the first layer's response
affine in ``k`` while the noise levels it must tell apart span orders of magnitude.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ...models.batching import apply_batch
from .normalizer import Normalizer
from .unroll import unroll_batch


def noise_levels(steps: int, min_noise: float) -> np.ndarray:
    """The noise standard deviations ``σ_k = min_noise^(k/steps)``, ``k = 0..steps`` (float64).

    ``σ_0 = 1`` is unused (step 0 predicts the frame from a zero estimate); ``σ_K = min_noise``.

    >>> noise_levels(3, 1e-6).round(12).tolist()
    [1.0, 0.01, 0.0001, 1e-06]
    """
    if steps < 1 or not 0.0 < min_noise < 1.0:
        raise ValueError(f"noise_levels: need steps >= 1 and 0 < min_noise < 1, got {steps}, {min_noise}")
    return float(min_noise) ** (np.arange(steps + 1, dtype=np.float64) / steps)


def step_channels(steps: int) -> int:
    """Input channels encoding the refinement step: a one-hot of ``k = 0..steps``."""
    return steps + 1


class RefinerNet(eqx.Module):
    """A registered operator conditioned on an estimate of the next frame and the step ``k``.

    ``net`` maps one sample ``(window + fields + steps + 1, *grid) -> (fields, *grid)``:
    the window of previous frames (``history * fields`` channels), the estimate
    (``fields``) and ``k`` one-hot (:func:`step_channels`), all normalised. Built by the
    autoregressive family around the ``model`` section when ``objective.refiner`` is set;
    checkpoints hold ``net``'s arrays as for a plain model.
    """

    net: Any
    fields: int = eqx.field(static=True)
    steps: int = eqx.field(static=True)

    def _inputs(self, window: Array, estimate: Array, k: Array, axis: int) -> Array:
        onehot = jax.nn.one_hot(k, self.steps + 1, dtype=window.dtype)  # (*k.shape, K + 1), k.shape = batch axes
        onehot = onehot.reshape(*onehot.shape, *(1,) * (window.ndim - axis - 1))
        onehot = jnp.broadcast_to(onehot, (*window.shape[:axis], self.steps + 1, *window.shape[axis + 1:]))
        return jnp.concatenate([window, estimate.astype(window.dtype), onehot], axis=axis)

    def __call__(self, window: Float[Array, "c_window *grid"], estimate: Float[Array, "fields *grid"],
                 k: Int[Array, ""] | int) -> Float[Array, "fields *grid"]:
        """One sample: the next frame (``k = 0``) or the noise in ``estimate`` (``k > 0``)."""
        return self.net(self._inputs(window, estimate, jnp.asarray(k), axis=0))

    def batch(self, window: Float[Array, "batch c_window *grid"], estimate: Float[Array, "batch fields *grid"],
              k: Int[Array, " batch"] | int) -> Float[Array, "batch fields *grid"]:
        """A batch, through the wrapped network's batch path where it has one; ``k`` per sample or one for all."""
        k = jnp.broadcast_to(jnp.asarray(k), window.shape[:1])
        return apply_batch(self.net, self._inputs(window, estimate, k, axis=1))


class Refinement(eqx.Module):
    """PDE-Refiner's schedule, training loss and refinement loop (``steps`` = K ≥ 1, ``0 < min_noise < 1``)."""

    steps: int = eqx.field(static=True)
    min_noise: float = eqx.field(static=True)

    def __check_init__(self):
        noise_levels(self.steps, self.min_noise)  # raises on bad values

    def levels(self, dtype: Any = None) -> Float[Array, " steps_plus_one"]:
        """:func:`noise_levels` as an array of ``dtype``."""
        return jnp.asarray(noise_levels(self.steps, self.min_noise), dtype)

    def draw(self, key: PRNGKeyArray, target: Float[Array, "batch fields *grid"]
             ) -> tuple[Int[Array, " batch"], Float[Array, "batch fields *grid"]]:
        """The training draw: ``k`` uniform in ``{0..K}`` per sample, and standard normal noise."""
        k_key, e_key = jax.random.split(key)
        k = jax.random.randint(k_key, target.shape[:1], 0, self.steps + 1)
        return k, jax.random.normal(e_key, target.shape, target.dtype)

    def sample_losses(self, net: RefinerNet, window: Float[Array, "batch c_window *grid"],
                      target: Float[Array, "batch fields *grid"], norm: Normalizer,
                      k: Int[Array, " batch"], noise: Float[Array, "batch fields *grid"]) -> Float[Array, " batch"]:
        """Per-sample training loss for steps ``k`` and noise ``noise`` (see :meth:`draw`).

        Args:
            net: the network.
            window: the previous frames, normalised.
            target: the true next frame in physical units.
            norm: the frame's per-field normaliser.
            k, noise: from :meth:`draw`.

        Returns:
            ``(batch,)``: ``mean((decode(û₀) − u)²)`` for ``k = 0`` (the plain one-step MSE),
            ``mean((std · (ε̂ − ε))²)`` for ``k > 0``.
        """
        shape = (-1,) + (1,) * (target.ndim - 1)
        first = (k == 0).reshape(shape)
        sigma = self.levels(target.dtype)[k].reshape(shape)
        estimate = jnp.where(first, 0.0, norm.encode(target) + sigma * noise)
        out = net.batch(window, estimate, k)
        pred = jnp.where(first, norm.decode(out), norm.std * out)
        true = jnp.where(first, target, norm.std * noise)
        return jnp.mean((pred - true) ** 2, axis=tuple(range(1, target.ndim)))

    def predict(self, net: RefinerNet, window: Float[Array, "batch c_window *grid"], key: PRNGKeyArray
                ) -> Float[Array, "batch fields *grid"]:
        """The refined next frame (normalised): ``1 + K`` network calls with fresh noise each step."""
        u = net.batch(window, jnp.zeros((window.shape[0], net.fields, *window.shape[2:]), window.dtype), 0)
        levels = self.levels(window.dtype)
        for k, key_k in zip(range(1, self.steps + 1), jax.random.split(key, self.steps)):
            noisy = u + levels[k] * jax.random.normal(key_k, u.shape, u.dtype)
            u = noisy - levels[k] * net.batch(window, noisy, k)
        return u


class RefinedOperator(eqx.Module):
    """A trained PDE-Refiner in physical units: the window of previous frames → the refined next frame.

    ``x``: ``(history * fields, *grid)`` in the dataset's units → ``(fields, *grid)``. The
    refinement adds noise drawn from ``key``; without one a fixed key is used, so a call
    is deterministic (:func:`rollout` gives every step of a rollout its own key).
    """

    net: RefinerNet
    refinement: Refinement
    input_norm: Normalizer
    output_norm: Normalizer

    def __call__(self, x: Float[Array, "c_in *grid"], *, key: PRNGKeyArray | None = None
                 ) -> Float[Array, "c_out *grid"]:
        return self.batch(x[None], key=key)[0]

    def batch(self, x: Float[Array, "batch c_in *grid"], *, key: PRNGKeyArray | None = None
              ) -> Float[Array, "batch c_out *grid"]:
        """The refined next frames of a batch (noise drawn for the whole batch from ``key``)."""
        inp, out = jax.lax.stop_gradient((self.input_norm, self.output_norm))
        key = jax.random.PRNGKey(0) if key is None else key
        return out.decode(self.refinement.predict(self.net, inp.encode(x), key))


def rollout(step: Any, history: Float[Array, "batch frames fields *grid"], n_steps: int, *,
            key: PRNGKeyArray | None = None) -> Float[Array, "batch n_steps fields *grid"]:
    """Autoregressive rollout of a batch by a one-step operator, refinement-aware.

    ``step`` maps the stacked window ``(batch, frames * fields, *grid)`` to the next frame
    (a :class:`~pdejax.objectives.operator.NormalizedOperator`, a :class:`RefinedOperator`
    or any model for :func:`~pdejax.models.apply_batch`); the window is all of
    ``history``'s frames. A :class:`RefinedOperator` gets a fresh key per step, split from
    ``key`` (default ``PRNGKey(0)``); other operators ignore ``key``. The input frames are
    not part of the result.

    >>> import jax.numpy as jnp
    >>> out = rollout(lambda w: 2 * w[-1:], jnp.ones((1, 1, 1, 4)), 3)  # (batch, frames, fields, x)
    >>> out[:, :, 0, 0].tolist()
    [[2.0, 4.0, 8.0]]
    """
    if not isinstance(step, RefinedOperator):
        return unroll_batch(lambda w: apply_batch(step, w), history, n_steps)
    key = jax.random.PRNGKey(0) if key is None else key
    lead, grid = history.shape[:1], history.shape[3:]

    def one(window, key_t):
        new = step.batch(window.reshape(*lead, -1, *grid), key=key_t)
        return jnp.concatenate([window[:, 1:], new[:, None]], axis=1), new

    _, frames = jax.lax.scan(one, history, jax.random.split(key, n_steps))
    return jnp.moveaxis(frames, 0, 1)
