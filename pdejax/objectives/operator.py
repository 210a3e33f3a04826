"""Operator objectives: supervised (input → output) pairs, autoregressive next-step
training with unrolled rollouts, and a PINO-style physics loss on the predicted frames.

Data come from a dataset file through :class:`~pdejax.data.operator_views.OperatorViews`; the
training loop feeds batches from the host (:class:`~pdejax.data.batches.BatchFeed`)
and evaluates on the test set in batches. Models handle one sample, channels first:
``model(x: (c_in, *grid)) -> (c_out, *grid)``; they work on normalised data and the
objective maps to and from physical units (:class:`Normalizer`), so the trained model
in physical units is ``NormalizedOperator(model, input_norm, output_norm)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .. import metrics as _metrics
from ..data.batches import BatchFeed
from ..data.operator_views import OperatorViews
from ..models.batching import apply_batch
from ..pde import PDE
from ..pde.grid import grid_rhs
from ..spectral import FourierGrid
from .base import AbstractObjective, Losses


class Normalizer(eqx.Module):
    """Per-channel affine map to zero mean and unit variance (and back).

    Per channel rather than per grid point (as the FNO code does) so that a model
    trained at one resolution can be evaluated at another. Statistics are arrays of
    shape ``(channels, 1, ...)`` broadcasting against one sample ``(channels, *grid)``.
    """

    mean: Float[Array, "channels *ones"]
    std: Float[Array, "channels *ones"]

    @classmethod
    def identity(cls, channels: int, dim: int, dtype: Any = None) -> Normalizer:
        shape = (channels,) + (1,) * dim
        return cls(jnp.zeros(shape, dtype), jnp.ones(shape, dtype))

    @classmethod
    def fit(cls, read: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, dtype: Any = None,
            chunk: int = 256) -> Normalizer:
        """Statistics of ``read(rows) -> (n, channels, *grid)``, accumulated in float64 chunks."""
        total = total_sq = None
        count = 0
        for start in range(0, len(rows), chunk):
            x = np.asarray(read(rows[start:start + chunk]), np.float64)
            axes = (0, *range(2, x.ndim))
            s, s2 = x.sum(axis=axes), (x * x).sum(axis=axes)
            total, total_sq = (s, s2) if total is None else (total + s, total_sq + s2)
            count += x.size // x.shape[1]
            dim = x.ndim - 2
        mean = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
        std = np.where(std > 0, std, 1.0)
        shape = (len(mean),) + (1,) * dim
        return cls(jnp.asarray(mean.reshape(shape), dtype), jnp.asarray(std.reshape(shape), dtype))

    def encode(self, x: Float[Array, "channels *grid"]) -> Float[Array, "channels *grid"]:
        return (x - self.mean) / self.std

    def decode(self, x: Float[Array, "channels *grid"]) -> Float[Array, "channels *grid"]:
        return x * self.std + self.mean

    def repeat(self, times: int) -> Normalizer:
        """The statistics of ``times`` stacked copies of the channels (a history of frames)."""
        return Normalizer(jnp.tile(self.mean, (times,) + (1,) * (self.mean.ndim - 1)),
                          jnp.tile(self.std, (times,) + (1,) * (self.std.ndim - 1)))


class NormalizedOperator(eqx.Module):
    """A trained operator in physical units: ``decode(net(encode(x)))``, one sample.

    ``x``: ``(c_in, *grid)`` in the dataset's units → ``(c_out, *grid)``.
    """

    net: Any
    input_norm: Normalizer
    output_norm: Normalizer

    def __call__(self, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        stats = jax.lax.stop_gradient((self.input_norm, self.output_norm))
        return stats[1].decode(self.net(stats[0].encode(x)))

    def batch(self, x: Float[Array, "batch c_in *grid"]) -> Float[Array, "batch c_out *grid"]:
        """``jax.vmap(self)(x)``, through the network's batch path where it has one."""
        stats = jax.lax.stop_gradient((self.input_norm, self.output_norm))
        return stats[1].decode(apply_batch(self.net, stats[0].encode(x)))


def rollout(step: Callable[[Array], Array], history: Float[Array, "frames fields *grid"],
            n_steps: int, *, keep: int | None = None) -> Float[Array, "n_steps fields *grid"]:
    """Predict ``n_steps`` frames autoregressively from the last ``keep`` frames of ``history``.

    ``step`` maps the stacked window ``(keep * fields, *grid)`` to the next frame
    ``(fields, *grid)``; the window then drops its oldest frame and appends the prediction.
    """
    return _roll(step, history, n_steps, keep, frame_axis=0)


def rollout_batch(step: Callable[[Array], Array], history: Float[Array, "batch frames fields *grid"],
                  n_steps: int, *, keep: int | None = None) -> Float[Array, "batch n_steps fields *grid"]:
    """:func:`rollout` of a batch: ``step`` maps ``(batch, keep * fields, *grid)`` to
    ``(batch, fields, *grid)``, e.g. ``lambda w: apply_batch(model, w)``."""
    return _roll(step, history, n_steps, keep, frame_axis=1)


def _roll(step, history, n_steps: int, keep: int | None, frame_axis: int):
    keep = history.shape[frame_axis] if keep is None else keep
    window = jax.lax.slice_in_dim(history, history.shape[frame_axis] - keep, None, axis=frame_axis)
    lead = window.shape[:frame_axis]

    def one(window, _):
        new = step(window.reshape(*lead, -1, *window.shape[frame_axis + 2:]))
        rest = jax.lax.slice_in_dim(window, 1, None, axis=frame_axis)
        return jnp.concatenate([rest, jnp.expand_dims(new, frame_axis)], axis=frame_axis), new

    _, frames = jax.lax.scan(one, window, None, length=n_steps)
    return jnp.moveaxis(frames, 0, frame_axis)


class PhysicsResidual(eqx.Module):
    """PINO-style PDE residual of a sequence of frames, spatial derivatives by FFT.

    For frames ``u_k`` at times ``t_k = t_0 + k dt`` the residual of the PDE
    ``u_t = F(u)`` (``F`` from the PDE definition, :func:`~pdejax.pde.grid.grid_rhs`) is
    taken with the trapezoidal rule in time, second order in ``dt``:

        r_k = (u_{k+1} - u_k) / dt - (F(u_k) + F(u_{k+1})) / 2,

    and the loss is ``mean(r²) / scale`` with ``scale`` the mean square of the data's
    ``(u_{k+1} - u_k) / dt`` (a constant, so a trivial prediction cannot shrink it).
    Periodic PDEs only; the grid is the dataset's, checked against the PDE's domain.
    """

    pde: PDE = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    scale: float = eqx.field(static=True)

    def grid(self, shape: Sequence[int]) -> FourierGrid:
        dom = self.pde.domain
        return FourierGrid(dom.coords, dom.lower, dom.lengths, tuple(shape))

    def residual(self, frames: Float[Array, "k fields *grid"], t0: Array | float = 0.0) -> Array:
        """``r`` of shape ``(k - 1, fields, *grid)``."""
        grid = self.grid(frames.shape[2:])
        times = t0 + self.dt * jnp.arange(frames.shape[0])
        rhs = jax.vmap(lambda u, t: grid_rhs(self.pde, grid, u, t))(frames, times)
        return (frames[1:] - frames[:-1]) / self.dt - 0.5 * (rhs[1:] + rhs[:-1])

    def __call__(self, frames: Float[Array, "k fields *grid"], t0: Array | float = 0.0) -> Array:
        r = self.residual(frames, t0)
        return jnp.mean(r**2) / self.scale


def _relative_l2(pred: Array, true: Array) -> Array:
    """Per-sample relative L2 over channels and grid, mean over the batch (FNO's metric)."""
    return jnp.mean(_metrics.relative_l2(pred, true))


def _data_loss(kind: str, pred: Array, true: Array) -> Array:
    return _relative_l2(pred, true) if kind == "rel_l2" else jnp.mean((pred - true) ** 2)


def _summary(pred: np.ndarray, true: np.ndarray, lengths: Sequence[float]) -> dict[str, float]:
    """:func:`pdejax.metrics.summarise` of the whole evaluation set (exact RMS and max over samples)."""
    out = _metrics.summarise(jnp.asarray(pred), jnp.asarray(true), lengths=tuple(lengths))
    return {k: float(v) for k, v in out.items()}


def _lengths(data: OperatorViews) -> tuple[float, ...]:
    """Domain lengths per axis from the coordinates (uniform spacing assumed), for fRMSE."""
    return tuple(float(len(c) * (c[1] - c[0])) if len(c) > 1 else 1.0 for c in data.coordinates())


class OperatorObjective(AbstractObjective):
    """Supervised operator learning on ``(input, output)`` pairs of a dataset.

    Loss terms: ``data`` (per-sample relative L2 in physical units, mean over the
    batch; or ``mse``); with a physics residual also ``physics`` (on the output frames,
    which must be consecutive frames of one trajectory array) and ``initial`` (relative
    L2 of the predicted first frame against the input frame, when the output starts at
    the input's frame) — so ``objective.weights.data = 0`` trains from physics alone.

    Evaluation on the test set: ``rel_l2``, ``rmse``, ``nrmse``, ``max_error`` and the
    frequency-band errors of :mod:`pdejax.metrics`; :meth:`report` adds zero-shot
    errors at other resolutions (``superresolution`` strides).
    """

    data: OperatorViews = eqx.field(static=True)
    input_norm: Normalizer
    output_norm: Normalizer
    batch_size: int = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    loss_kind: Literal["rel_l2", "mse"] = eqx.field(static=True, default="rel_l2")
    physics: PhysicsResidual | None = None
    physics_frames: tuple[int, int] = eqx.field(static=True, default=(0, 1))  # (first output frame, fields)
    initial: bool = eqx.field(static=True, default=False)  # output frame 0 is the input's first frame
    eval_batch: int = eqx.field(static=True, default=100)
    superresolution: tuple[int, ...] = eqx.field(static=True, default=())
    _feed: BatchFeed = eqx.field(static=True, default=None)

    def __post_init__(self):
        if self._feed is None:
            data = self.data
            if not _is_lazy(data):
                x, y = data.pairs(data.train_rows)  # in memory: read once
                fetch = lambda idx, rng: {"x": x[idx], "y": y[idx]}  # noqa: E731
            else:
                rows = data.train_rows
                fetch = lambda idx, rng: dict(zip(("x", "y"), data.pairs(rows[idx])))  # noqa: E731
            self._feed = BatchFeed(fetch, len(data.train_rows), self.batch_size, self.seed)

    @property
    def feed(self) -> BatchFeed:
        return self._feed

    @property
    def loss_names(self) -> tuple[str, ...]:
        return ("data",) + (("physics",) if self.physics is not None else ()) + (("initial",) if self.initial else ())

    def physical(self, model: Any) -> NormalizedOperator:
        """``model`` in physical units, through the normalisers."""
        return NormalizedOperator(model, self.input_norm, self.output_norm)

    def predict(self, model: Any, x: Float[Array, "c_in *grid"]) -> Float[Array, "c_out *grid"]:
        """One sample in physical units through the normalisers."""
        return self.physical(model)(x)

    def loss(self, model: Any, batch: Any, key: Any) -> tuple[Losses, dict[str, Array]]:
        x, y = batch["x"], batch["y"]
        pred = apply_batch(self.physical(model), x)
        losses = {"data": _data_loss(self.loss_kind, pred, y)}
        if self.physics is not None:
            first, fields = self.physics_frames
            frames = pred.reshape(pred.shape[0], -1, fields, *pred.shape[2:])
            t0 = self.data.times[first] if self.data.times is not None else 0.0
            losses["physics"] = jnp.mean(jax.vmap(lambda f: self.physics(f, t0))(frames))
            if self.initial:
                losses["initial"] = _relative_l2(frames[:, 0], x[:, :fields])
        return losses, {}

    def evaluator(self, static: Any) -> Callable[[Any], dict[str, float]]:
        predict = jax.jit(lambda params, x: apply_batch(self.physical(eqx.combine(params, static)), x))

        def evaluate(params: Any, scale: int | None = None) -> dict[str, float]:
            preds, trues = [], []
            rows = self.data.test_rows
            for start in range(0, len(rows), self.eval_batch):
                x, y = self.data.pairs(rows[start:start + self.eval_batch], scale)
                preds.append(np.asarray(predict(params, jnp.asarray(x))))
                trues.append(y)
            return _summary(np.concatenate(preds), np.concatenate(trues), _lengths(self.data))

        return evaluate

    def report(self, model: Any, directory: Any = None) -> dict[str, Any]:
        params, static = eqx.partition(model, eqx.is_array)
        evaluate = self.evaluator(static)
        out: dict[str, Any] = {}
        if self.superresolution:
            errors = {}
            for scale in self.superresolution:
                n = "x".join(str(s) for s in self.data.grid_shape(scale))
                try:
                    errors[n] = evaluate(params, scale)["rel_l2"]
                except (ValueError, TypeError) as err:  # an architecture tied to one resolution
                    errors[n] = None
                    out.setdefault("notes", []).append(f"no zero-shot evaluation at {n}: {err}")
            out["superresolution_rel_l2"] = errors
        if directory is not None:
            _plot_samples(self, model, directory, out.get("superresolution_rel_l2"))
        return out


class AutoregressiveObjective(AbstractObjective):
    """Next-step training on trajectories with ``unroll``-step rollouts.

    A training window is ``history + unroll`` consecutive frames of one trajectory
    (starting at a random frame, or the first); the model maps the last ``history``
    frames ``(history * fields, *grid)`` to the next frame ``(fields, *grid)`` and is
    rolled out ``unroll`` steps on its own predictions. The ``data`` loss is the mean over
    the unrolled steps of the per-sample relative L2 (the FNO paper's recurrent
    training); with ``pushforward`` (Brandstetter et al. 2022) the first ``unroll - 1``
    steps run without gradient and only the last step is trained, so the model learns
    to correct its own errors at the cost of one backward step. An optional PINO-style
    ``physics`` term penalises the PDE residual between consecutive predicted frames.

    Evaluation rolls the test trajectories out from their first ``history`` frames to
    the end: ``rel_l2`` over the whole predicted space-time (the FNO paper's number),
    ``rel_l2_final`` at the last frame, and in :meth:`report` the curve of relative L2
    against rollout time.
    """

    data: OperatorViews = eqx.field(static=True)
    norm: Normalizer  # per field
    array: str = eqx.field(static=True)
    history: int = eqx.field(static=True)
    unroll: int = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)
    seed: int = eqx.field(static=True)
    pushforward: bool = eqx.field(static=True, default=False)
    window: Literal["random", "first"] = eqx.field(static=True, default="random")
    loss_kind: Literal["rel_l2", "mse"] = eqx.field(static=True, default="rel_l2")
    physics: PhysicsResidual | None = None
    eval_batch: int = eqx.field(static=True, default=50)
    _feed: BatchFeed = eqx.field(static=True, default=None)

    def __post_init__(self):
        if self._feed is None:
            data, length = self.data, self.history + self.unroll
            n_frames = data.dataset.arrays[self.array].shape[1]
            if length > n_frames:
                raise ValueError(f"history + unroll = {length} is more than the {n_frames} frames stored")
            last_start = n_frames - length
            lazy = _is_lazy(data)
            cache = None if lazy else data.trajectories(self.array, data.train_rows)

            def fetch(idx, rng):
                if self.window == "random":
                    starts = rng.integers(0, last_start + 1, len(idx))
                else:
                    starts = np.zeros(len(idx), int)
                if cache is not None:
                    return {"frames": np.stack([cache[i, s:s + length] for i, s in zip(idx, starts)]),
                            "t0": starts}
                trajs = data.trajectories(self.array, data.train_rows[idx])
                return {"frames": np.stack([trajs[j, s:s + length] for j, s in enumerate(starts)]), "t0": starts}

            self._feed = BatchFeed(fetch, len(data.train_rows), self.batch_size, self.seed)

    @property
    def feed(self) -> BatchFeed:
        return self._feed

    @property
    def loss_names(self) -> tuple[str, ...]:
        return ("data",) + (("physics",) if self.physics is not None else ())

    def step_model(self, model: Any) -> NormalizedOperator:
        """The one-step operator in physical units: ``(history * fields, *grid) -> (fields, *grid)``."""
        return NormalizedOperator(model, self.norm.repeat(self.history), self.norm)

    def loss(self, model: Any, batch: Any, key: Any) -> tuple[Losses, dict[str, Array]]:
        frames = batch["frames"]  # (B, history + unroll, fields, *grid)
        step = self.step_model(model)
        hist, target = frames[:, :self.history], frames[:, self.history:]
        if self.pushforward and self.unroll > 1:
            warm = rollout_batch(step.batch, hist, self.unroll - 1)
            start = jax.lax.stop_gradient(jnp.concatenate([hist, warm], axis=1))
            window = start[:, -self.history:]
            pred = step.batch(window.reshape(window.shape[0], -1, *window.shape[3:]))[:, None]
            target, prev = target[:, -1:], start[:, -1:]
        else:
            pred = rollout_batch(step.batch, hist, self.unroll)
            prev = hist[:, -1:]
        per_step = jnp.stack([_data_loss(self.loss_kind, pred[:, k], target[:, k]) for k in range(pred.shape[1])])
        losses = {"data": jnp.mean(per_step)}
        if self.physics is not None:
            # Residual between consecutive frames: the last known (or warm-up) frame, then the trained ones.
            seq = jnp.concatenate([prev, pred], axis=1)
            first_frame = batch["t0"] + self.history + self.unroll - pred.shape[1] - 1
            times = self.data.times
            t0 = (times[0] if times is not None else 0.0) + first_frame * self.physics.dt
            losses["physics"] = jnp.mean(jax.vmap(self.physics)(seq, t0))
        return losses, {}

    def _rollout_fn(self, static: Any) -> Callable:
        n_frames = self.data.dataset.arrays[self.array].shape[1]

        @jax.jit
        def roll(params, trajs):
            step = self.step_model(eqx.combine(params, static))
            return rollout_batch(step.batch, trajs[:, :self.history], n_frames - self.history)

        return roll

    def _errors(self, static: Any, params: Any) -> tuple[dict[str, float], np.ndarray]:
        roll = self._rollout_fn(static)
        rows = self.data.test_rows
        preds, trues = [], []
        for start in range(0, len(rows), self.eval_batch):
            trajs = self.data.trajectories(self.array, rows[start:start + self.eval_batch])
            preds.append(np.asarray(roll(params, jnp.asarray(trajs))))
            trues.append(trajs[:, self.history:])
        pred, true = np.concatenate(preds), np.concatenate(trues)  # (N, T, fields, *grid)
        curve = np.asarray(_metrics.rollout_errors(jnp.asarray(pred), jnp.asarray(true), time_axis=1))
        flat = lambda a: a.reshape(a.shape[0], -1, *a.shape[3:])  # noqa: E731  (T * fields channels)
        stats = _summary(flat(pred), flat(true), _lengths(self.data))
        stats["rel_l2_final"] = float(_relative_l2(jnp.asarray(pred[:, -1]), jnp.asarray(true[:, -1])))
        return stats, curve

    def evaluator(self, static: Any) -> Callable[[Any], dict[str, float]]:
        return lambda params: self._errors(static, params)[0]

    def report(self, model: Any, directory: Any = None) -> dict[str, Any]:
        params, static = eqx.partition(model, eqx.is_array)
        _, curve = self._errors(static, params)
        times = self.data.times
        t = (times[self.history:] if times is not None else np.arange(self.history, self.history + len(curve)))
        out = {"rollout_rel_l2": {"t": [float(v) for v in t], "rel_l2": [float(v) for v in curve]}}
        if directory is not None:
            from ..plots import plot_rollout_errors

            plot_rollout_errors(np.asarray(t), {"test": curve}, directory / "rollout_error.png")
        return out


def _is_lazy(data: OperatorViews) -> bool:
    from ..data.dataset import LazyArray

    return any(isinstance(a, LazyArray) for a in data.dataset.arrays.values())


def _plot_samples(objective: OperatorObjective, model: Any, directory: Any,
                  superresolution: dict[str, float | None] | None) -> None:
    from .. import plots

    data = objective.data
    rows = data.test_rows[:4]
    x, y = data.pairs(rows)
    predict = jax.jit(lambda x: apply_batch(objective.physical(model), x))
    pred = np.asarray(predict(jnp.asarray(x)))
    if len(data.spatial) == 1:
        plots.plot_operator_samples(data.coordinates()[0], x[:, 0], pred[:, 0], y[:, 0], directory / "samples.png",
                                    input_label="input (channel 0)", output_label="output (channel 0)")
    elif len(data.spatial) == 2:
        plots.plot_operator_fields_2d(pred[:3, 0], y[:3, 0], directory / "samples_2d.png")
    if superresolution:
        good = {k: v for k, v in superresolution.items() if v is not None}
        if good:
            plots.plot_superresolution([int(k.split("x")[0]) for k in good], list(good.values()),
                                       directory / "superresolution.png")


def physics_for(pde: PDE, data: OperatorViews, array: str, frames: Sequence[int] | None,
                where: str = "objective.physics_weight") -> PhysicsResidual:
    """A :class:`PhysicsResidual` for consecutive ``frames`` of ``array``, checked against the data.

    Raises:
        ConfigError: a non-periodic PDE, a grid that does not match the PDE's domain, or
            frames that are not consecutive.
    """
    from ..config.errors import ConfigError
    from ..pde import Periodic

    if not isinstance(pde.boundary, Periodic) or not pde.evolution:
        raise ConfigError(where, "> 0", f"a periodic time-dependent PDE; {pde.name!r} is not (spectral "
                          "derivatives need a periodic grid)")
    if frames is not None and list(frames) != list(range(frames[0], frames[0] + len(frames))):
        raise ConfigError(f"data.output.{array}", list(frames), "consecutive frames for a physics loss")
    times = data.times
    if times is None or len(times) < 2:
        raise ConfigError(where, "> 0", f"a dataset with a t-coordinate; {data.dataset.path} has none")
    dt = float(times[1] - times[0])
    for axis, coord, lo, length in zip(data.spatial, data.coordinates(), pde.domain.lower, pde.domain.lengths):
        spacing = length / len(coord)
        if not math.isclose(float(coord[1] - coord[0]), spacing, rel_tol=1e-4) or \
                not math.isclose(float(coord[0]), lo, abs_tol=1e-6 * length):
            raise ConfigError("pde", pde.name, f"a periodic domain matching the data's {axis}-coordinate "
                              f"({coord[0]:g}, {coord[1]:g}, ... {len(coord)} points)")
    sample = data.trajectories(array, data.train_rows[:min(64, len(data.train_rows))])
    scale = float(np.mean(((sample[:, 1:] - sample[:, :-1]) / dt) ** 2))
    return PhysicsResidual(pde, dt, scale)
